"""SIGKILL a real ``value-inertia evaluate`` at five points; the result is as if never stopped."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import set_models
from tests.fault_proxy import FaultProxy
from tests.reliability.conftest import (
    P_COLUMNS,
    build_prompts,
    forwarded_keys,
    ok_keys,
    remote,
    start_evaluate,
    wait_for,
)
from value_inertia.core.config import load_params
from value_inertia.evaluation.backends import make_backend
from value_inertia.evaluation.runner import materialise_responses, plan_requests, run_evaluation
from value_inertia.evaluation.store import ResponseStore


def _finish(proc: subprocess.Popen, timeout: float = 180) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def test_sigkill_at_five_points_then_resume_equals_uninterrupted_run(
    lean_project: Path, server, tmp_path: Path
) -> None:
    project = lean_project
    prompts = build_prompts(project)
    # isolate: the server answers each prompt identically whatever it saw before
    proxy = FaultProxy(server.base_url, slow_s=8.0, isolate=True)
    set_models(project, remote(proxy.base_url))
    params = load_params(project / "params.yaml")
    model = params.models[0]
    requests, _ = plan_requests(model, prompts)
    all_keys = {r.key for r in requests}
    assert len(all_keys) == len(prompts) == 12
    store = project / "data/store/remote.sqlite"

    def forwarded_since(n: int) -> Callable[[], bool]:
        start = proxy.forwarded
        return lambda: proxy.forwarded >= start + n

    def reply_held() -> Callable[[], bool]:
        # the next request reaches the server; the proxy holds its reply (2 s) and we kill
        proxy.add_faults("slow")
        start = proxy.forwarded
        return lambda: proxy.injected["slow"] == 1 and proxy.forwarded > start

    def all_stored() -> Callable[[], bool]:
        # every answer committed: the run is materialising the table / logging to MLflow
        return lambda: ok_keys(store) == all_keys

    kill_points: list[tuple[str, Callable[[], Callable[[], bool]]]] = [
        ("the first request reached the server", lambda: forwarded_since(1)),
        ("right after the third commit", lambda: lambda: len(ok_keys(store)) >= 3),
        ("a reply in flight", reply_held),
        ("two more requests reached the server", lambda: forwarded_since(2)),
        ("every answer stored, outputs being written", all_stored),
    ]
    try:
        # the reference: the same endpoint (so the same request keys), never stopped
        with ResponseStore(tmp_path / "reference.sqlite") as ref_store:
            summary = run_evaluation(
                model, prompts, ref_store, lambda: make_backend(model, params), progress=False
            )
            want = materialise_responses(model, prompts, ref_store)[0].to_pandas()
        assert summary.done == 12 and proxy.forwarded == 12
        mark = proxy.forwarded

        committed: set[str] = set()
        segments: list[tuple[int, set[str]]] = []  # (proxy count at a kill, committed then)
        for what, make_trigger in kill_points:
            trigger = make_trigger()
            proc = start_evaluate(project)
            try:
                wait_for(lambda: trigger() or proc.poll() is not None, 150, what)  # noqa: B023
            finally:
                proc.send_signal(signal.SIGKILL)
            code, err = _finish(proc)
            assert code == -signal.SIGKILL, f"{what}: the run ended by itself first: {err}"
            # the request the killed run had in flight still goes on to the server: let it
            wait_for(lambda: proxy.in_flight == 0, 60, "the proxy to go idle")
            now = ok_keys(store)
            assert committed <= now, f"{what}: a committed answer disappeared"
            committed = now
            segments.append((proxy.forwarded, set(committed)))
        assert committed == all_keys

        code, err = _finish(start_evaluate(project))
        assert code == 0, err
        assert "12 already stored, 0 sent" in err  # the last run only wrote the outputs
    finally:
        proxy.close()

    keys = forwarded_keys(proxy.forwarded_bodies[mark:], model.identity())
    # no request whose answer was committed before a kill reached the server again
    for at_kill, done in segments:
        resent = done & set(keys[at_kill - mark :])
        assert not resent, f"{len(resent)} committed request(s) were sent again"
    # every request reached the server; each kill cost at most its one request in flight
    assert set(keys) == all_keys
    assert sum(n - 1 for n in Counter(keys).values()) <= len(kill_points)
    assert proxy.injected["slow"] == 1

    got = pd.read_parquet(project / "data/responses/remote.parquet")
    assert (got.status == "ok").all() and len(got) == len(prompts)
    assert got.request_key.tolist() == want.request_key.tolist()
    assert got.prompt_id.tolist() == want.prompt_id.tolist()
    assert got.text.tolist() == want.text.tolist()
    np.testing.assert_allclose(
        got[P_COLUMNS].to_numpy(), want[P_COLUMNS].to_numpy(), rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(got.letter_mass, want.letter_mass, rtol=0, atol=1e-9)
