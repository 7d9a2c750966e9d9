"""The whole pipeline with canary secrets, and a second run started while the first one runs.

One module-scoped pipeline run (personas -> ... -> publish dry run) serves both:
its ``evaluate`` is the first of two concurrent runs of the same model, and every
stage runs with ``OPENAI_API_KEY``, ``HF_TOKEN`` and the model's own key variable
set to canary values.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_cli, set_models
from tests.fault_proxy import FaultProxy
from tests.reliability.conftest import (
    cli_env,
    error_lines,
    forwarded_keys,
    make_lean_project,
    remote,
    start_cli,
    start_evaluate,
    wait_for,
)
from value_inertia.core.config import load_params
from value_inertia.evaluation.runner import plan_requests

OPENAI_CANARY = "sk-canary-openai-7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c1e"
HF_CANARY = "hf_canaryHubToken9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4"
MODEL_CANARY = "sk-canary-model-2c4e6a8b0d1f3a5c7e9b1d3f5a7c9e0b"
CANARIES = (OPENAI_CANARY, HF_CANARY, MODEL_CANARY)
ENV = {"OPENAI_API_KEY": OPENAI_CANARY, "HF_TOKEN": HF_CANARY, "VI_CANARY_KEY": MODEL_CANARY}
KEY = {"api_key_env": "VI_CANARY_KEY"}


@dataclass
class Outcome:
    project: Path
    keys: set[str] = field(default_factory=set)
    outputs: list[tuple[tuple[str, ...], int, str, str]] = field(default_factory=list)
    first_still_running: bool = False
    good: FaultProxy | None = None
    rejecting: FaultProxy | None = None

    def result(self, *argv: str) -> tuple[int, str, str]:
        found = [(code, out, err) for a, code, out, err in self.outputs if a == argv]
        assert len(found) == 1, argv
        return found[0]


def _finish(proc: subprocess.Popen, argv: tuple[str, ...], outcome: Outcome) -> int:
    out, err = proc.communicate(timeout=300)
    outcome.outputs.append((argv, proc.returncode, out, err))
    return proc.returncode


@pytest.fixture(scope="module")
def outcome(server, tmp_path_factory: pytest.TempPathFactory):
    project = make_lean_project(tmp_path_factory.mktemp("secrets") / "proj")
    # the first run's 2nd-4th replies are held 2 s each: the second run surely meets it
    good = FaultProxy(server.base_url, faults=["pass", "slow", "slow", "slow"], slow_s=8)
    # a careless server that rejects every key and echoes it back in its error body
    rejecting = FaultProxy(server.base_url, faults=["401"] * 12)
    result = Outcome(project, good=good, rejecting=rejecting)
    models = [remote(good.base_url, **KEY)]
    set_models(project, *models)
    env = {**ENV, "MLFLOW_TRACKING_URI": cli_env(project)["MLFLOW_TRACKING_URI"]}

    def stage(*argv: str) -> None:
        done = run_cli(project, *argv, env=env)
        result.outputs.append((argv, done.returncode, done.stdout, done.stderr))
        assert done.returncode == 0, (argv, done.stderr)

    first = None
    try:
        for argv in [("personas",), ("prompts",), ("models",)]:
            stage(*argv)
        prompts = pd.read_parquet(project / "data/prompts/prompts.parquet")
        model = load_params(project / "params.yaml").models[0]
        result.keys = {r.key for r in plan_requests(model, prompts)[0]}

        first = start_evaluate(project, **ENV)
        wait_for(lambda: good.forwarded >= 1 or first.poll() is not None, 120, "a first request")
        store = str(project / "data/store/remote.sqlite")
        second = start_evaluate(project, **ENV)
        recover = start_cli(project, "recover-store", store, **ENV)
        _finish(second, ("evaluate", "second"), result)
        _finish(recover, ("recover-store",), result)
        result.first_still_running = first.poll() is None
        _finish(first, ("evaluate", "-m", "remote", "--no-progress"), result)

        for argv in [
            ("parse", "-m", "remote"),
            ("analyze", "-m", "remote", "-q", "mini"),
            ("cluster", "-m", "remote", "-q", "mini"),
            ("leaderboard",),
            ("publish",),  # a dry run: HF_TOKEN is set but no repo id is
        ]:
            stage(*argv)

        # the error path: a second model whose server rejects the key
        set_models(project, *models, remote(rejecting.base_url, name="rejected", **KEY))
        rejected = run_cli(project, "evaluate", "-m", "rejected", "--no-progress", env=env)
        result.outputs.append(
            (("evaluate", "rejected"), rejected.returncode, rejected.stdout, rejected.stderr)
        )
        yield result
    finally:
        if first is not None and first.poll() is None:
            first.kill()
            first.wait()
        good.close()
        rejecting.close()


def test_second_run_of_a_model_refuses_while_the_first_finishes(outcome: Outcome) -> None:
    assert outcome.first_still_running, "the first run ended before the second one started"
    store = outcome.project / "data/store/remote.sqlite"
    code, out, err = outcome.result("evaluate", "second")
    assert code == 2, err
    assert "Traceback" not in err and out == ""
    [line] = error_lines(err)
    assert str(store) in line and "another evaluation of this model is running" in line
    code, out, err = outcome.result("recover-store")
    assert code == 2, err
    [line] = error_lines(err)
    assert str(store) in line and "an evaluation is running on this store" in line

    code, _, err = outcome.result("evaluate", "-m", "remote", "--no-progress")
    assert code == 0, err
    assert "12 requests: 0 already stored, 12 sent, 12 done, 0 failed" in err
    # nothing was sent twice: every request reached the server exactly once
    model = load_params(outcome.project / "params.yaml").models[0]
    sent = forwarded_keys(outcome.good.forwarded_bodies, model.identity())
    assert Counter(sent) == Counter(outcome.keys)
    # and the store is sound, with every answer in it
    conn = sqlite3.connect(store)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute(
            "SELECT status, COUNT(*) FROM responses GROUP BY status"
        ).fetchall() == [("ok", 12)]
    finally:
        conn.close()
    frame = pd.read_parquet(outcome.project / "data/responses/remote.parquet")
    assert len(frame) == 12 and (frame.status == "ok").all()


def _leaks(blob: bytes) -> list[str]:
    """Canaries found in ``blob``, whole or as any 16-character piece of one."""
    found = []
    for canary in CANARIES:
        pieces = {canary[i : i + 16] for i in range(0, len(canary) - 15, 4)}
        if any(p.encode() in blob for p in pieces):
            found.append(canary)
    return found


def test_canaries_reach_the_server_and_nothing_else(outcome: Outcome) -> None:
    project = outcome.project
    # the key really went over the wire (so the scan below means something) ...
    assert set(outcome.good.authorizations) == {f"Bearer {MODEL_CANARY}"}
    # fail fast: the probe's 401 stops the run (retrying cannot fix a rejected key)
    assert outcome.rejecting.injected["401"] == 1 and outcome.rejecting.forwarded == 0
    # ... and the rejecting server echoed it into the errors the pipeline recorded: redacted
    code, _, err = outcome.result("evaluate", "rejected")
    assert code == 1, err
    assert "HTTP 401 x1" in err  # the error kind and its (redacted) example reach the user
    frame = pd.read_parquet(project / "data/responses/rejected.parquet")
    assert frame.status.value_counts().to_dict() == {"failed": 1, "missing": 11}
    failed = frame[frame.status == "failed"]
    assert failed.error.str.startswith("HTTP 401").all()
    assert failed.error.str.contains("Bearer [REDACTED]", regex=False).all(), failed.error.iloc[0]
    report = json.loads((project / "data/hub/publish_report.json").read_text())
    assert report["dry_run"] is True and report["token"] == "set"

    # nowhere: captured output, MLflow's database and artifacts, every file of the project
    for argv, _, out, err in outcome.outputs:
        assert not _leaks((out + err).encode()), argv
    conn = sqlite3.connect(project / "mlflow.db")
    try:
        logged = conn.execute("SELECT key, value FROM params").fetchall()
        artifact_roots = {r for (r,) in conn.execute("SELECT artifact_uri FROM runs")}
    finally:
        conn.close()
    assert ("model.api_key_env", "VI_CANARY_KEY") in logged
    # MLflow's artifacts live inside the project, so the scan below covers them too
    assert all(Path(r.removeprefix("file://")).is_relative_to(project) for r in artifact_roots)
    assert any((project / "mlruns").rglob("*.png"))
    scanned = 0
    for path in project.rglob("*"):
        if path.is_file():
            scanned += 1
            assert not _leaks(path.read_bytes()), path
    assert (project / "data/hub/dataset").is_dir() and (project / "data/hub/space").is_dir()
    assert scanned > 50
