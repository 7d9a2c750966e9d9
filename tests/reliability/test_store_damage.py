"""A damaged response store: a clear error, and a recovery that keeps what survives."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import run_cli, set_models
from tests.fault_proxy import FaultProxy
from tests.reliability.conftest import build_prompts, error_lines, forwarded_keys, remote
from value_inertia.config import load_params
from value_inertia.evaluation import plan_requests
from value_inertia.pipeline import run_evaluate
from value_inertia.store import ResponseStore, StoreError, recover_store

PAGE = 4096
PAD = "." * 1100  # answers of realistic size: a few per page, like sample-mode text


def _fake_record(i: int) -> dict:
    probs = [(i % 7 + 1) / 27, 3 / 27, 5 / 27, 6 / 27, 4 / 27, (8 - i % 7) / 27]
    return {
        "text": "C",
        "probs": probs,
        "letter_mass": 0.9,
        "finish_reason": "length",
        "tokens_in": 40,
        "tokens_out": 1,
        "latency_s": 0.5,
        "attempts": 1,
        "error": None,
        "extra": {"pad": PAD},
        "timestamp": 1_800_000_000.0 + i,
    }


def _table_leaf_pages(store: Path) -> list[int]:
    """Page numbers (1-based) of the responses table's leaf pages."""
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='responses'").fetchone()
    finally:
        conn.close()
    data = store.read_bytes()
    leaves = []
    for n in range(2, len(data) // PAGE + 1):
        page = data[(n - 1) * PAGE : n * PAGE]
        if page[0] == 0x0D and b'"pad"' in page:
            leaves.append(n)
    assert root[0] not in leaves and len(leaves) > 20
    return leaves


@pytest.fixture
def filled(lean_project: Path, server):
    """A project with 244 prompts (208 distinct requests) whose store holds an answer to
    every one (one ~1.4 kB row each, ~90 pages) and whose responses table was written."""
    project = lean_project
    params_file = project / "params.yaml"
    data = yaml.safe_load(params_file.read_text())
    data["personas"]["n"] = 60
    params_file.write_text(yaml.safe_dump(data, sort_keys=False))
    prompts = build_prompts(project)
    proxy = FaultProxy(server.base_url)
    set_models(project, remote(proxy.base_url))
    params = load_params(params_file)
    model = params.models[0]
    requests, _ = plan_requests(model, prompts)
    store = project / "data/store/remote.sqlite"
    with ResponseStore(store) as s:
        for i, r in enumerate(requests):
            s.put(r.key, "ok", _fake_record(i))
    run_evaluate(params, "remote", progress=False)  # nothing to send: writes the table
    assert proxy.forwarded == 0
    yield project, proxy, model, {r.key for r in requests}, store, len(prompts)
    proxy.close()


def _ok_rows(store: Path) -> set[str]:
    conn = sqlite3.connect(store)
    try:
        return {k for (k,) in conn.execute("SELECT key FROM responses WHERE status='ok'")}
    finally:
        conn.close()


def _check_refusal_then_recovery(project, proxy, model, keys, store, n_prompts) -> None:
    responses = project / "data/responses/remote.parquet"
    before = responses.read_bytes()

    broken = run_cli(project, "evaluate", "-m", "remote", "--no-progress")
    assert broken.returncode == 2, broken.stderr
    assert "Traceback" not in broken.stderr
    [line] = error_lines(broken.stderr)
    assert str(store) in line and f"value-inertia recover-store {store}" in line
    assert proxy.received == 0
    assert responses.read_bytes() == before  # nothing already computed was overwritten

    rec = run_cli(project, "recover-store", str(store))
    assert rec.returncode == 0, rec.stderr
    kept = _ok_rows(store)
    assert kept < keys  # something was lost ...
    assert len(kept) > 0.9 * len(keys)  # ... but only the rows on the damaged page(s)
    assert f"kept {len(kept)} answers" in rec.stdout
    aside = [p for p in store.parent.glob("remote.sqlite.damaged-*") if p.suffix[-1].isdigit()]
    assert len(aside) == 1 and aside[0].stat().st_size > 0  # the damaged file is kept aside

    again = run_cli(project, "evaluate", "-m", "remote", "--no-progress")
    assert again.returncode == 0, again.stderr
    # only the lost requests were sent again, each once
    sent = forwarded_keys(proxy.forwarded_bodies, model.identity())
    assert sorted(sent) == sorted(keys - kept)
    frame = pd.read_parquet(responses)
    assert (frame.status == "ok").all() and len(frame) == n_prompts
    old = pd.read_parquet(pd.io.common.BytesIO(before))
    survived = frame.request_key.isin(kept)
    pd.testing.assert_frame_equal(
        frame[survived].reset_index(drop=True), old[survived].reset_index(drop=True)
    )


def test_corrupt_page_in_the_middle(filled) -> None:
    project, proxy, model, keys, store, n_prompts = filled
    leaves = _table_leaf_pages(store)
    victim = leaves[len(leaves) // 2]
    with open(store, "r+b") as fh:  # garbage over part of one page in the middle of the file
        fh.seek((victim - 1) * PAGE + 1500)
        fh.write(random.Random(7).randbytes(1200))
    _check_refusal_then_recovery(project, proxy, model, keys, store, n_prompts)


def test_truncated_file(filled) -> None:
    project, proxy, model, keys, store, n_prompts = filled
    last = _table_leaf_pages(store)[-1]
    with open(store, "r+b") as fh:  # cut inside the last page that holds answers
        fh.truncate((last - 1) * PAGE + 2000)
    _check_refusal_then_recovery(project, proxy, model, keys, store, n_prompts)


def test_damaged_answer_text_in_an_intact_file(filled) -> None:
    """The b-tree is fine (SQLite's check passes) but one stored answer is no longer JSON."""
    project, proxy, model, keys, store, n_prompts = filled
    data = bytearray(store.read_bytes())
    at = data.index(b'"letter_mass"', len(data) // 2)
    data[at] = ord("#")
    store.write_bytes(bytes(data))
    _check_refusal_then_recovery(project, proxy, model, keys, store, n_prompts)


@pytest.mark.parametrize("where", ["file header", "root page of the table"])
def test_recovery_reads_intact_pages_past_a_damaged_header_or_root(
    tmp_path: Path, where: str
) -> None:
    """Rows are read from the pages themselves: nothing is lost with the page that leads to them."""
    store = tmp_path / "m.sqlite"
    with ResponseStore(store) as s:
        for i in range(300):
            s.put(f"{i:064x}", "ok" if i % 5 else "failed", _fake_record(i))
    conn = sqlite3.connect(store)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='responses'").fetchone()[0]
    conn.close()
    offset = 0 if where == "file header" else (root - 1) * PAGE
    with open(store, "r+b") as fh:
        fh.seek(offset)
        fh.write(random.Random(3).randbytes(100))
    with pytest.raises(StoreError, match="recover-store"):
        ResponseStore(store).__enter__()
    _, kept, _ = recover_store(store)
    assert kept == 300
    with ResponseStore(store) as s:
        assert s.count() == {"ok": 240, "failed": 60}
        got = s.get_many([f"{7:064x}"])
    assert got[f"{7:064x}"] == ("ok", _fake_record(7))
