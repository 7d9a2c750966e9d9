"""Batch inference: the OpenAI Files/Batches APIs (a local test server executing each line on
the real llama.cpp server), kills at each step, and the vllm run-batch export/import."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.batch_server import BatchServer
from tests.conftest import remote, run_cli, set_models
from value_inertia.core.config import ModelParams, load_params
from value_inertia.evaluation.backends.base import Request
from value_inertia.evaluation.batch import BatchBackend, Poll, split_files
from value_inertia.evaluation.runner import materialise_responses, plan_requests, run_evaluation
from value_inertia.evaluation.store import ResponseStore
from value_inertia.pipeline.design import run_personas, run_prompts

FAST = Poll(first_s=0.05, factor=1.5, max_s=0.5)


def _prompts(project: Path) -> pd.DataFrame:
    params = load_params(project / "params.yaml")
    run_personas(params)
    run_prompts(params)
    return pd.read_parquet(project / "data/prompts/prompts.parquet")


def test_files_split_at_line_and_byte_limits() -> None:
    reqs = [Request(key=f"k{i}", payload={"prompt": "x" * i}) for i in range(10)]
    lines = [f"{i:02d}".encode() * (i + 1) for i in range(10)]
    by_lines = split_files(reqs, lines, max_lines=4, max_bytes=10**9)
    assert [len(r) for r, _ in by_lines] == [4, 4, 2]
    assert b"".join(d for _, d in by_lines) == b"".join(lines)
    by_bytes = split_files(reqs, lines, max_lines=100, max_bytes=30)
    assert all(len(d) <= 30 for _, d in by_bytes)
    assert [r.key for g, _ in by_bytes for r in g] == [r.key for r in reqs]


def _run(model: ModelParams, prompts: pd.DataFrame, store: ResponseStore, server: BatchServer):
    backend = BatchBackend(model, store, FAST)
    summary = run_evaluation(model, prompts, store, lambda: backend, progress=False)
    return summary, backend


def test_batch_faults_are_recorded_and_requeued(mini_project: Path, llama_server) -> None:
    prompts = _prompts(mini_project)
    server = BatchServer(
        llama_server.base_url, faults=["expire_partial", "no_output", "error_lines", "failed"]
    )
    model = ModelParams(**remote(server.base_url, transport="batch"))
    keys = {r.key for r in plan_requests(model, prompts)[0]}
    try:
        with ResponseStore(mini_project / "data/store/remote.sqlite") as store:
            # 1: expires after half: the answered half is kept, the rest failed
            s1, _ = _run(model, prompts, store, server)
            assert (s1.sent, s1.done, s1.failed) == (12, 6, 6)
            assert s1.errors == {"batch error": 6}
            assert "batch_expired" in s1.error_examples["batch error"]
            first_done = set(server.executed)
            # 2: only the 6 expired are submitted again; "completed" without an output file
            s2, _ = _run(model, prompts, store, server)
            assert (s2.cached, s2.sent, s2.failed) == (6, 6, 6)
            assert "without an output file" in s2.error_examples["batch error"]
            assert set(server.executed) - first_done == keys - first_done
            # 3: error-file lines (HTTP 400) for every other line
            s3, _ = _run(model, prompts, store, server)
            assert (s3.sent, s3.done, s3.failed) == (6, 3, 3)
            assert s3.errors == {"HTTP 400": 3}
            # 4: the whole batch fails validation: recorded with the provider's reason
            s4, _ = _run(model, prompts, store, server)
            assert (s4.sent, s4.failed) == (3, 3)
            assert "bad model" in s4.error_examples["batch error"]
            # 5: no faults left: everything answered, nothing answered was run twice
            s5, backend = _run(model, prompts, store, server)
            assert (s5.cached, s5.sent, s5.done) == (9, 3, 3) and backend.submitted == 1
            table, counts = materialise_responses(model, prompts, store)
            assert counts == {"ok": 12}
            frame = table.to_pandas()
            assert frame[[f"p_{c}" for c in "ABCDEF"]].sum(axis=1).round(9).eq(1).all()
            assert (frame.tokens_in > 20).all()
            records = store.get_many(keys)
            assert {r["extra"]["transport"] for _, r in records.values()} == {"batch"}
            batches = store.all_batches()
            assert [b["status"] for b in batches] == [
                "expired",
                "completed",
                "completed",
                "failed",
                "completed",
            ]
            assert all(b["collected"] for b in batches)
        # lines run: the no_output batch's 6 were run and lost, so run again; nothing else
        runs = Counter(server.executed)
        assert set(runs) == keys and sum(runs.values()) == 12 + 6
        # the batch discount applies to recorded spend
        priced = model.model_copy(
            update={"price_input_per_mtok": 1.0, "price_output_per_mtok": 1.0}
        )
        from value_inertia.evaluation.cost import spend_from_records

        spend = spend_from_records(priced, (r for _, r in records.values()))
        assert spend.cost_usd == pytest.approx((spend.tokens_in + spend.tokens_out) / 2e6)
    finally:
        server.close()


def test_batch_splits_into_several_files(mini_project: Path, llama_server) -> None:
    prompts = _prompts(mini_project).head(5)
    server = BatchServer(llama_server.base_url)
    model = ModelParams(**remote(server.base_url, transport="batch"))
    try:
        with ResponseStore(mini_project / "data/store/remote.sqlite") as store:
            backend = BatchBackend(model, store, FAST)
            backend.max_lines = 2
            summary = run_evaluation(model, prompts, store, lambda: backend, progress=False)
            assert len(store.all_batches()) == 3
        assert summary.done == 5 and backend.submitted == 3 and server.uploads == 3
        sizes = sorted(
            len(server.files[b["input_file_id"]].splitlines()) for b in server.batches.values()
        )
        assert sizes == [1, 2, 2]
    finally:
        server.close()


def _wait(predicate, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _evaluate(project: Path, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "VALUE_INERTIA_ROOT": str(project),
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
    }
    cmd = [sys.executable, "-m", "value_inertia", "evaluate", "-m", "remote", "--no-progress"]
    return subprocess.Popen([*cmd, *extra], cwd=project, env=env, stderr=subprocess.PIPE, text=True)


def _batch_rows(project: Path) -> list[tuple]:
    with sqlite3.connect(project / "data/store/remote.sqlite") as conn:
        return conn.execute("SELECT file_id, batch_id, status FROM batches").fetchall()


def test_kills_between_steps_never_submit_twice(mini_project: Path, llama_server) -> None:
    prompts = _prompts(mini_project)
    server = BatchServer(
        llama_server.base_url, faults=["hang_before_create", "pass", "hang_after_create"]
    )
    set_models(mini_project, remote(server.base_url, transport="batch", batch_poll_max_s=0.5))
    try:
        # killed between upload and submit: the file is stored, no batch exists
        proc = _evaluate(mini_project, "--limit", "4")
        _wait(server.held.is_set)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        server.release()
        [(file_id, batch_id, status)] = _batch_rows(mini_project)
        assert batch_id is None and status == "uploaded" and not server.batches
        # the rerun submits that very file (no second upload) and collects it
        again = _evaluate(mini_project, "--limit", "4")
        _, err = again.communicate(timeout=300)
        assert again.returncode == 0, err
        assert server.uploads == 1 and len(server.batches) == 1
        assert next(iter(server.batches.values()))["input_file_id"] == file_id

        # killed between submit and the store write: the batch exists, the store lacks its id
        server.held.clear()
        server._release.clear()
        proc = _evaluate(mini_project)
        _wait(server.held.is_set)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        server.release()
        rows = _batch_rows(mini_project)
        assert len(rows) == 2 and rows[1][1] is None and len(server.batches) == 2
        # the rerun finds the batch by its input file and collects it: nothing resubmitted
        last = _evaluate(mini_project)
        _, err = last.communicate(timeout=300)
        assert last.returncode == 0, err
        assert "12 requests: 4 already stored, 8 sent, 8 done" in err
    finally:
        server.close()
    assert server.uploads == 2 and server.creates == 3 and len(server.batches) == 2
    assert Counter(server.executed) == Counter(
        {r.key: 1 for r in plan_requests(load_params().models[0], prompts)[0]}
    )
    assert [r[2] for r in _batch_rows(mini_project)] == ["completed", "completed"]
    frame = pd.read_parquet(mini_project / "data/responses/remote.parquet")
    assert (frame.status == "ok").all() and len(frame) == 12


# -- vllm run-batch ---------------------------------------------------------------------------
def _vllm_run_batch(upstream: str, infile: Path, outfile: Path) -> None:
    """What ``vllm run-batch -i infile -o outfile`` does, in vLLM's documented line format:
    one output line per input line (answers and errors in the same file)."""
    root = upstream.removesuffix("/v1")
    out = []
    with httpx.Client(timeout=120) as client:
        for i, raw in enumerate(infile.read_text().splitlines()):
            line = json.loads(raw)
            if i == 1:  # an error line as vLLM writes it: status 400, no body, error text
                out.append(
                    {
                        "id": f"vllm-{i}",
                        "custom_id": line["custom_id"],
                        "response": {"status_code": 400, "request_id": f"vllm-batch-{i}"},
                        "error": "prompt is too long",
                    }
                )
                continue
            reply = client.post(root + line["url"], json=line["body"])
            out.append(
                {
                    "id": f"vllm-{i}",
                    "custom_id": line["custom_id"],
                    "response": {
                        "status_code": 200,
                        "request_id": f"vllm-batch-{i}",
                        "body": reply.json(),
                    },
                    "error": None,
                }
            )
    random.Random(0).shuffle(out)  # matched on custom_id, never on line order
    out.append({"id": "x", "custom_id": "f" * 64, "response": None, "error": "not ours"})
    outfile.write_text("\n".join(json.dumps(x) for x in out) + "\nnot json\n")


def test_vllm_export_import_round_trip(mini_project: Path, llama_server) -> None:
    prompts = _prompts(mini_project)
    set_models(mini_project, remote("http://127.0.0.1:9/v1", model="gemma"))
    infile, outfile = mini_project / "batch.jsonl", mini_project / "out.jsonl"
    exported = run_cli(mini_project, "batch", "export", "-m", "remote", str(infile))
    assert exported.returncode == 0, exported.stderr
    assert "wrote 12 requests" in exported.stdout
    lines = [json.loads(x) for x in infile.read_text().splitlines()]
    model = load_params().models[0]
    assert [x["custom_id"] for x in lines] == [r.key for r in plan_requests(model, prompts)[0]]
    assert lines[0]["url"] == "/v1/completions" and lines[0]["body"]["logprobs"] == 20
    _vllm_run_batch(llama_server.base_url, infile, outfile)
    imported = run_cli(mini_project, "batch", "import", "-m", "remote", str(outfile))
    assert imported.returncode == 0, imported.stderr
    assert "11 answers and 1 failed requests committed" in imported.stdout
    assert "1 lines of no current request skipped; 1 unreadable" in imported.stdout
    # the next export holds only the failed request
    again = run_cli(mini_project, "batch", "export", "-m", "remote", str(infile))
    assert "wrote 1 requests" in again.stdout
    assert json.loads(infile.read_text())["custom_id"] == lines[1]["custom_id"]
    with ResponseStore(mini_project / "data/store/remote.sqlite") as store:
        status, record = store.get_many([lines[1]["custom_id"]])[lines[1]["custom_id"]]
        assert status == "failed" and "prompt is too long" in record["error"]
        table, counts = materialise_responses(model, prompts, store)
    assert counts == {"ok": 11, "failed": 1}
    ok = table.to_pandas().query("status == 'ok'")
    assert ok[[f"p_{c}" for c in "ABCDEF"]].sum(axis=1).round(9).eq(1).all()
