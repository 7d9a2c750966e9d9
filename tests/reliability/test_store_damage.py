"""A damaged response store: a clear error, and a recovery that keeps what survives.

The store is an answer journal (JSON lines with checksums, the source of truth)
and an SQLite index. Damage to the index loses nothing: recovery rebuilds it
from the journal. Only an answer whose journal line *and* index row are both
damaged is lost, and only that one is sent again.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import run_cli, set_models
from tests.fault_proxy import FaultProxy
from tests.reliability.conftest import build_prompts, error_lines, forwarded_keys, remote
from value_inertia.core.config import ModelParams, load_params
from value_inertia.evaluation.answer_journal import journal_line, journal_path
from value_inertia.evaluation.runner import plan_requests
from value_inertia.evaluation.store import ResponseStore, StoreError, request_key
from value_inertia.evaluation.store_recovery import recover_store
from value_inertia.pipeline.evaluation import run_evaluate

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


def _damage_journal_lines(store: Path, keys: list[str]) -> None:
    """Change one character of the record in the journal lines of ``keys`` (checksums fail)."""
    journal = journal_path(store)
    lines = journal.read_bytes().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if any(k.encode() in line for k in keys):
            at = line.index(b"letter_mass")
            lines[i] = line[:at] + b"L" + line[at + 1 :]
    journal.write_bytes(b"".join(lines))


def _check_refusal_then_recovery(
    project, proxy, model, keys, store, n_prompts, lost: set[str] = frozenset()
) -> None:
    """The stage refuses the damaged store; recovery keeps all but ``lost``; the rerun
    sends exactly ``lost`` and reproduces the responses table."""
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
    assert kept == keys - lost  # the journal (or the old index) had every other answer
    assert f"kept {len(kept)} answers" in rec.stdout
    aside = [p for p in store.parent.glob("remote.sqlite.damaged-*") if p.suffix[-1].isdigit()]
    assert len(aside) == 1 and aside[0].stat().st_size > 0  # the damaged file is kept aside

    again = run_cli(project, "evaluate", "-m", "remote", "--no-progress")
    assert again.returncode == 0, again.stderr
    # only the lost requests were sent again, each once
    sent = forwarded_keys(proxy.forwarded_bodies, model.identity())
    assert sorted(sent) == sorted(lost)
    frame = pd.read_parquet(responses)
    assert (frame.status == "ok").all() and len(frame) == n_prompts
    old = pd.read_parquet(pd.io.common.BytesIO(before))
    survived = ~frame.request_key.isin(lost)
    assert survived.sum() > 0.9 * n_prompts
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


def test_damaged_index_and_journal_lose_only_the_answers_damaged_in_both(filled) -> None:
    """Index header destroyed (SQLite reads nothing) and 5 journal lines damaged: exactly
    those 5 answers are lost and sent again; a damaged journal line whose answer SQLite
    can still read from the old index is not lost."""
    project, proxy, model, keys, store, n_prompts = filled
    ordered = sorted(keys)
    lost = set(ordered[:5])
    _damage_journal_lines(store, sorted(lost))
    with open(store, "r+b") as fh:
        fh.write(random.Random(5).randbytes(100))
    _check_refusal_then_recovery(project, proxy, model, keys, store, n_prompts, lost=lost)


def _fill(store: Path, n: int = 300) -> None:
    with ResponseStore(store) as s:
        for i in range(n):
            s.put(f"{i:064x}", "ok" if i % 5 else "failed", _fake_record(i))


@pytest.mark.parametrize("where", ["file header", "root page of the table"])
def test_recovery_rebuilds_the_index_past_a_damaged_header_or_root(
    tmp_path: Path, where: str
) -> None:
    """Nothing is lost with the page that leads to the rows: the journal has every row."""
    store = tmp_path / "m.sqlite"
    _fill(store)
    conn = sqlite3.connect(store)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='responses'").fetchone()[0]
    conn.close()
    offset = 0 if where == "file header" else (root - 1) * PAGE
    with open(store, "r+b") as fh:
        fh.seek(offset)
        fh.write(random.Random(3).randbytes(100))
    with pytest.raises(StoreError, match="recover-store"):
        ResponseStore(store).__enter__()
    _, kept, lost = recover_store(store)
    assert (kept, lost) == (300, 0)
    with ResponseStore(store) as s:
        assert s.count() == {"ok": 240, "failed": 60}
        got = s.get_many([f"{7:064x}"])
    assert got[f"{7:064x}"] == ("ok", _fake_record(7))


def test_recovery_keeps_open_batches_and_facts_of_the_index(tmp_path: Path) -> None:
    """Batches at the provider and the weights fingerprint live only in the index: recovery
    carries them over, so the next run collects the batch instead of paying for it again."""
    store = tmp_path / "m.sqlite"
    _fill(store, 300)
    with ResponseStore(store) as s:
        s.batch_uploaded("file-open", "/v1/chat/completions", [f"{1:064x}", f"{2:064x}"])
        s.batch_submitted("file-open", "batch-open", "in_progress")
        s.batch_uploaded("file-done", "/v1/chat/completions", [f"{3:064x}"])
        s.batch_submitted("file-done", "batch-done", "completed")
        s.batch_collected("file-done", "completed")
        s.set_meta("weights_sha256", "ab" * 32)
        before = s.all_batches(), s.open_batches()
    # damage the answers' pages, not the small tables written after them
    leaves = _table_leaf_pages(store)
    with open(store, "r+b") as fh:
        for victim in leaves[5:8]:  # page headers: not a b-tree page any more
            fh.seek((victim - 1) * PAGE)
            fh.write(b"\xff" * 16)
    with pytest.raises(StoreError, match="recover-store"):
        ResponseStore(store).__enter__()
    _, kept, _ = recover_store(store)
    assert kept == 300  # the journal has every answer
    with ResponseStore(store) as s:
        assert (s.all_batches(), s.open_batches()) == before
        assert [b["batch_id"] for b in s.open_batches()] == ["batch-open"]
        assert s.get_meta("weights_sha256") == "ab" * 32
        assert s.count() == {"ok": 240, "failed": 60}


def test_a_deleted_index_is_rebuilt_from_the_journal(tmp_path: Path) -> None:
    store = tmp_path / "m.sqlite"
    _fill(store, 50)
    with ResponseStore(store) as s:
        before = dict(s.conn.execute("SELECT key, record || status || updated_at FROM responses"))
    store.unlink()
    with ResponseStore(store) as s:
        after = dict(s.conn.execute("SELECT key, record || status || updated_at FROM responses"))
    assert after == before  # byte for byte, times included


def test_journal_lines_the_index_missed_are_replayed(tmp_path: Path) -> None:
    """A crash after the journal's fsync and before the index's commit loses nothing."""
    store = tmp_path / "m.sqlite"
    _fill(store, 10)
    late = json.dumps(_fake_record(99))
    with open(journal_path(store), "ab") as fh:
        fh.write(journal_line(f"{99:064x}", "ok", late, 1_800_000_099.0))
    with ResponseStore(store) as s:
        assert s.get_many([f"{99:064x}"]) == {f"{99:064x}": ("ok", _fake_record(99))}
        assert s.count() == {"ok": 9, "failed": 2}


def test_a_torn_last_journal_line_is_set_apart_and_nothing_else_lost(tmp_path: Path) -> None:
    """A write cut short leaves half a line: the store opens, appends on a fresh line, and
    recovery keeps every whole line (the torn one counts as unreadable)."""
    store = tmp_path / "m.sqlite"
    _fill(store, 20)
    whole = journal_line(f"{77:064x}", "ok", json.dumps(_fake_record(77)), 1_800_000_077.0)
    with open(journal_path(store), "ab") as fh:
        fh.write(whole[: len(whole) // 2])
    with ResponseStore(store) as s:
        s.put(f"{21:064x}", "ok", _fake_record(21))
        assert s.done_keys([f"{77:064x}", f"{21:064x}"]) == {f"{21:064x}"}
    store.write_bytes(b"garbage" * 100)
    _, kept, lost = recover_store(store)
    assert (kept, lost) == (21, 1)
    with ResponseStore(store) as s:
        assert s.get_many([f"{21:064x}"])[f"{21:064x}"] == ("ok", _fake_record(21))


def test_a_store_from_before_the_journal_gets_one_and_is_recoverable(tmp_path: Path) -> None:
    store = tmp_path / "m.sqlite"
    _fill(store, 30)
    journal_path(store).unlink()  # what a store written before the journal existed looks like
    conn = sqlite3.connect(store)
    conn.execute("DELETE FROM meta WHERE k='journal_offset'")
    conn.commit()
    conn.close()
    with ResponseStore(store):
        pass
    assert len(journal_path(store).read_bytes().splitlines()) == 30
    with open(store, "r+b") as fh:
        fh.write(b"\0" * 100)
    assert recover_store(store)[1:] == (30, 0)


def test_a_truncated_journal_is_refused_and_refilled_from_the_index(tmp_path: Path) -> None:
    store = tmp_path / "m.sqlite"
    _fill(store, 40)
    journal = journal_path(store)
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:25]))
    with pytest.raises(StoreError, match="journal .* is shorter than the index"):
        ResponseStore(store).__enter__()
    assert recover_store(store)[1:] == (40, 0)  # the intact index had the other 15
    assert len(journal.read_bytes().splitlines()) == 40
    store.unlink()
    with ResponseStore(store) as s:  # the journal alone now rebuilds everything
        assert s.count() == {"ok": 32, "failed": 8}


def test_an_answer_is_never_replaced_by_a_failure_after_recovery(tmp_path: Path) -> None:
    store = tmp_path / "m.sqlite"
    key = f"{1:064x}"
    with ResponseStore(store) as s:
        s.put(key, "ok", _fake_record(1))
        s.put(key, "failed", {"error": "timeout"})
    store.unlink()
    with ResponseStore(store) as s:
        assert s.get_many([key]) == {key: ("ok", _fake_record(1))}


def test_store_keys_are_pinned() -> None:
    """The keys index answers users paid for: a change here must be deliberate."""
    identity = {"backend": "openai", "model": "gpt", "base_url": "http://x/v1", "mode": "sample"}
    assert request_key(identity, {"prompt": "Hello"}, 0) == (
        "bc9fa2b5934caef6ac94894c5ae9e90fbae676edcfa75c7df2b4ba952f30dd1d"
    )
    assert request_key(identity, {"messages": [{"role": "user", "content": "Hé"}]}, 3) == (
        "d02cae516ed76ddb2aaf97e296481d0411788b39f5763d2e06374d39b6292599"
    )
    default = ModelParams(name="g").identity()
    assert (
        request_key(default, {"prompt": "Answer: "}, 0)
        == "6f832e82eb10c3806f1142969a4931b5a8a6c2828b72f4de50b39f07afe21e39"
    )
