"""Every kind of endpoint fault, through a proxy in front of the real llama.cpp server."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from tests.conftest import run_cli, set_models
from tests.fault_proxy import FaultProxy
from tests.reliability.conftest import P_COLUMNS, build_prompts, error_lines, remote

# faults that the proxy answers itself (the request never reaches the server)
SHORT_CIRCUIT = {"429", "500", "503", "timeout", "reset", "empty", "malformed"}
TIMEOUT_S = 10.0  # well above a normal reply's time on a busy machine

# per prompt (in prompt order): the faults its attempts meet, the outcome, attempts, error
SCRIPT: list[tuple[list[str], str, int, str | None]] = [
    (["429"], "ok", 2, None),  # Retry-After: 1
    (["500", "503"], "ok", 3, None),
    (["timeout"], "ok", 2, None),  # the proxy answers after 12 s; the client gives up at 10
    (["reset", "truncated"], "ok", 3, None),
    (["empty", "malformed"], "ok", 3, None),  # 200 + empty body, 200 + a non-completion
    (["no_logprobs"], "ok", 2, None),
    (["bad_letter"], "ok", 1, None),  # a valid reply whose top tokens hold no letter A-F
    (["trickle"], "ok", 2, None),  # 8 bytes every 0.5 s: quick reads, a reply of minutes
    (["slow"], "ok", 1, None),  # answers after 3 s, within the timeout
    (["503"] * 4, "failed", 4, r"^HTTP 503"),
    (["no_logprobs"] * 4, "failed", 4, r"^MalformedReply: reply has no logprobs"),
    (["reset", "500", "empty", "malformed"], "failed", 4, r"^MalformedReply: .*no choices"),
]


def _summary(stderr: str) -> dict[str, int]:
    m = re.search(
        r"(\d+) requests: (\d+) already stored, (\d+) sent, (\d+) done, (\d+) failed, "
        r"(\d+) retries",
        stderr,
    )
    assert m, stderr
    names = ("requests", "cached", "sent", "done", "failed", "retries")
    return dict(zip(names, map(int, m.groups()), strict=True))


def test_every_fault_ends_answered_or_recorded_failed(lean_project: Path, server) -> None:
    project = lean_project
    prompts = build_prompts(project)
    assert len(prompts) == len(SCRIPT) == 12
    proxy = FaultProxy(server.base_url, slow_s=12.0, trickle_bytes=8, trickle_interval_s=0.5)
    for text, (faults, *_) in zip(prompts.completion_text, SCRIPT, strict=True):
        proxy.faults_for[text] = list(faults)
    # two at a time: one request's waits (timeouts, Retry-After, backoff) overlap another's work;
    # each prompt meets its own faults whatever the order (FaultProxy.faults_for)
    model = remote(proxy.base_url, timeout_s=TIMEOUT_S, max_retries=3, concurrency=2)
    set_models(project, model)
    try:
        first = run_cli(project, "evaluate", "-m", "remote", "--no-progress", timeout=300)
        frame = pd.read_parquet(project / "data/responses/remote.parquet")
        received, forwarded = proxy.received, proxy.forwarded
        injected = dict(proxy.injected)

        # the failures are retried by the next run, and nothing else is sent again
        second = run_cli(project, "evaluate", "-m", "remote", "--no-progress", timeout=300)
        again = pd.read_parquet(project / "data/responses/remote.parquet")
    finally:
        proxy.close()

    # the run finished (exit 1: more failures than evaluate.max_failure_fraction allows)
    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stderr
    [line] = error_lines(first.stderr)
    assert "3 of 12 responses failed" in line and "run the stage again" in line

    # every prompt ended answered or failed with its error, as scripted
    assert len(frame) == 12 and frame.prompt_id.tolist() == prompts.prompt_id.tolist()
    for row, (faults, status, attempts, error) in zip(frame.itertuples(), SCRIPT, strict=True):
        label = f"prompt {row.Index} {faults}"
        assert row.status == status, (label, row.error)
        assert row.attempts == attempts, label
        if status == "ok":
            assert pd.isna(row.error), label
        else:
            assert re.search(error, row.error), (label, row.error)
            assert all(math.isnan(getattr(row, c)) for c in P_COLUMNS), label
    # the trickling reply was given up after timeout_s (it would take a minute), then retried
    assert frame.latency_s.iloc[7] < 3 * TIMEOUT_S, frame.latency_s.iloc[7]
    no_letter = frame.iloc[6]  # the bad-letter reply: an answer without any option letter
    assert no_letter.letter_mass == 0 and no_letter[P_COLUMNS].isna().all()
    answered = frame[(frame.status == "ok") & (frame.index != 6)]
    assert (answered.letter_mass > 0).all()
    assert answered[P_COLUMNS].sum(axis=1).round(9).eq(1).all()

    # the counts add up: run summary, table, proxy
    s = _summary(first.stderr)
    assert s["requests"] == s["sent"] == 12 and s["cached"] == 0
    assert s["done"] + s["failed"] == s["sent"]
    assert (s["done"], s["failed"]) == (9, 3)
    assert frame.status.value_counts().to_dict() == {"ok": 9, "failed": 3}
    assert received == frame.attempts.sum() == s["sent"] + s["retries"]
    every_fault = [f for faults, *_ in SCRIPT for f in faults]
    assert injected == {f: every_fault.count(f) for f in set(every_fault)}
    assert not any(proxy.faults_for.values())
    assert forwarded == received - sum(n for f, n in injected.items() if f in SHORT_CIRCUIT)

    assert second.returncode == 0, second.stderr
    assert _summary(second.stderr) == {
        "requests": 12,
        "cached": 9,
        "sent": 3,
        "done": 3,
        "failed": 0,
        "retries": 0,
    }
    assert proxy.forwarded == forwarded + 3
    assert (again.status == "ok").all()
    # answers kept from the first run are untouched
    kept = frame.status == "ok"
    pd.testing.assert_frame_equal(again[kept], frame[kept], check_dtype=False)
