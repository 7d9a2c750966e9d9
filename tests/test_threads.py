"""The embedded engine's thread count follows the cores other work leaves free."""

from __future__ import annotations

from pathlib import Path

import pytest

from value_inertia.evaluation.backends import threads
from value_inertia.evaluation.backends.threads import EngineThreads, OtherLoad, threads_for


@pytest.mark.parametrize(
    ("cores", "other", "expected"),
    [
        (2, 0.0, 2),  # idle: both cores
        (2, 0.2, 2),  # a little background work: still both
        (2, 0.3, 1),  # more than a quarter core taken: one
        (2, 1.0, 1),  # one core busy (2 threads would fall below 1: see the module)
        (2, 5.0, 1),  # overloaded: never below one
        (8, 2.9, 5),
        (1, 0.0, 1),
    ],
)
def test_threads_for(cores: int, other: float, expected: int) -> None:
    assert threads_for(cores, other) == expected


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _stat(path: Path, busy_ticks: int, idle_ticks: int) -> None:
    # cpu user nice system idle iowait irq softirq steal
    path.write_text(f"cpu  {busy_ticks} 0 0 {idle_ticks} 0 0 0 0 0 0\ncpu0 1 2 3 4\n")


def test_other_load_is_all_busy_cpu_minus_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stat, clock, own = tmp_path / "stat", Clock(), [10.0]
    monkeypatch.setattr(threads, "PROC_STAT", stat)
    monkeypatch.setattr(threads.time, "monotonic", clock)
    monkeypatch.setattr(threads, "_own_seconds", lambda: own[0])
    monkeypatch.setattr(threads.os, "sysconf", lambda name: 100)
    _stat(stat, 1000, 5000)
    load = OtherLoad()
    # 2 s later: all CPUs were busy 3.0 s (300 ticks), this process 1.0 s of them
    clock.now += 2.0
    own[0] += 1.0
    _stat(stat, 1300, 5100)
    assert load.read() == pytest.approx(1.0)  # (3.0 - 1.0) / 2 s = one core busy elsewhere


def test_engine_threads_adapt_during_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    readings = iter([0.0, 1.0, 1.0, 0.1])
    monkeypatch.setattr(OtherLoad, "read", lambda self: next(readings))
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)
    clock = Clock()
    monkeypatch.setattr(threads.time, "monotonic", clock)
    calls: list[tuple[int, int]] = []
    import llama_cpp

    monkeypatch.setattr(llama_cpp, "llama_set_n_threads", lambda ctx, n, nb: calls.append((n, nb)))

    class FakeLlm:
        ctx = object()

    engine = EngineThreads(None, cores=2)
    assert engine.current == 2  # idle at start
    assert engine.adjust(FakeLlm(), interval_s=10) == 2  # not yet re-checked
    clock.now += 11
    assert engine.adjust(FakeLlm(), interval_s=10) == 1  # another process took a core
    clock.now += 11
    assert engine.adjust(FakeLlm(), interval_s=10) == 1
    clock.now += 11
    assert engine.adjust(FakeLlm(), interval_s=10) == 2  # free again
    assert calls == [(1, 1), (2, 2)]


def test_a_fixed_thread_count_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OtherLoad, "read", lambda self: pytest.fail("no measuring"))
    engine = EngineThreads(2, cores=2)
    assert engine.current == 2 and engine.adjust(object(), interval_s=0) == 2


def test_without_proc_stat_the_load_average_less_this_process_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, own = Clock(), [5.0]
    monkeypatch.setattr(threads, "PROC_STAT", tmp_path / "missing")
    monkeypatch.setattr(threads.time, "monotonic", clock)
    monkeypatch.setattr(threads, "_own_seconds", lambda: own[0])
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.5, 2.0, 1.0))
    load = OtherLoad()
    clock.now += 2.0
    own[0] += 3.0  # this process kept 1.5 cores busy (its own threads)
    assert load.read() == pytest.approx(1.0)  # 2.5 - 1.5
