"""Pushes over HTTP to the Hub stand-in: LFS, idempotence, merging runs, races, failures.

Pushes go to :mod:`tests.hub_stub`, a local stand-in for the Hub API (the Hub
itself cannot be reached from the tests): the assertions are about what
``huggingface_hub`` actually sent over the wire and what the Hub ends up with.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub
import pandas as pd
import pytest

from tests.hub_helpers import (
    BOARD,
    DATASET_REPO,
    SPACE_REPO,
    TOKEN,
    TOKEN_B,
    all_text,
    build_both,
    copy_project,
    hub_params,
    remote_frame,
    run_quality_stage,
    running_stub,
    with_hub,
)
from tests.hub_stub import HubStub
from tests.leaderboard_data import (
    MODELS,
    PRIVATE_BASE_URL,
    REPO,
)
from value_inertia.core import paths
from value_inertia.core.config import load_params
from value_inertia.publishing import push as push_mod
from value_inertia.publishing.folders import folder_files
from value_inertia.publishing.push import PublishError, publish
from value_inertia.publishing.tables.identity import result_file
from value_inertia.publishing.tables.merge import MERGE_KEYS


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(tmp_path_factory, tmp_path / "proj")


@pytest.fixture
def hub_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubStub]:
    yield from running_stub(monkeypatch)


RELATIVE_GGUF = "models/judge-q4_k_m.gguf"
PRIVATE_HOST = PRIVATE_BASE_URL.split("//", 1)[1].split(":", 1)[0]

# --------------------------------------------------------------------------- push


def check_token_only_in_authorization(stub: HubStub, tokens=(TOKEN,)) -> None:
    assert stub.requests
    for r in stub.requests:
        if r.path == "/api/agent-harnesses" or r.path.startswith("/lfs-upload/"):
            # the library's own lookup and pre-signed storage uploads: no token at all
            assert "authorization" not in r.headers
        else:
            assert r.headers.get("authorization") in {f"Bearer {t}" for t in tokens}
        for token in tokens:
            others = {k: v for k, v in r.headers.items() if k != "authorization"}
            assert token not in json.dumps(others)
            assert token not in r.path and token not in json.dumps(r.query)
            assert token.encode() not in r.body


READ_BOARD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from leaderboard.data import load_board
board = load_board(dataset=sys.argv[2])
print(json.dumps({"rows": len(board.frame), "source": board.source,
                  "models": sorted(set(board.frame["model"])),
                  "plots": sorted(p.relative_to(board.plots_dir).as_posix()
                                  for p in board.plots_dir.rglob("*.png"))}))
"""


def read_board_through_hub(endpoint: str, tmp_path: Path) -> dict:
    """``load_board(dataset=...)`` of the app, in a fresh process, against ``endpoint``."""
    env = {
        **os.environ,
        "HF_ENDPOINT": endpoint,
        "HF_TOKEN": TOKEN,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_DISABLE_XET": "1",
    }
    env.pop("VALUE_INERTIA_DATASET", None)
    done = subprocess.run(
        [sys.executable, "-c", READ_BOARD, str(REPO), DATASET_REPO],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_push_goes_through_lfs_once_and_is_idempotent(
    project: Path, hub_env: HubStub, tmp_path: Path
) -> None:
    stub = hub_env
    params = hub_params(project, private=True)
    build_both(project, params)
    hub = paths.hub_dir(project)

    # 1. first push: both repos created, one commit each; Parquet and PNG through LFS
    report = publish(project, params)
    assert report["dry_run"] is False
    dataset_entry, space_entry = report["repos"]
    assert [dataset_entry["status"], space_entry["status"]] == ["committed", "committed"]
    repo = stub.repo("dataset", DATASET_REPO)
    assert repo.private is True
    (commit,) = stub.commits("dataset", DATASET_REPO)
    local = {p.as_posix() for p in folder_files(hub / "dataset")}
    assert set(commit.added) == local  # README.md is regenerated from the merged tables
    rebuilt = {"README.md", "data/manifest.json", "data/leaderboard/leaderboard.csv", *MERGE_KEYS}
    for rel in local - rebuilt:  # copied as built, byte for byte
        assert commit.added[rel] == (hub / "dataset" / rel).read_bytes(), rel
    for rel in set(MERGE_KEYS) & local:  # merged tables: the same rows (the board: + contributor)
        sent = pd.read_parquet(io.BytesIO(commit.added[rel]))
        built = pd.read_parquet(hub / "dataset" / rel)
        pd.testing.assert_frame_equal(
            sent.drop(columns=["contributor"], errors="ignore"),
            built.drop(columns=["contributor"], errors="ignore"),
            check_dtype=False,
        )
    binary = {p for p in local if p.endswith((".parquet", ".png"))}
    assert binary and commit.lfs == binary
    assert {line["key"] for line in commit.raw_lines} == {"header", "file", "lfsFile"}
    uploads = stub.calls("PUT", r"^/lfs-upload/")
    # every binary content went to storage (identical files may share one object)
    assert {r.path.rsplit("/", 1)[1] for r in uploads} == {
        hashlib.sha256(commit.added[p]).hexdigest() for p in binary
    }
    assert len(stub.calls("POST", r"^/lfs-verify/")) == len(uploads)
    assert commit.raw_lines[0]["value"]["parentCommit"] == commit.parent  # guarded commit
    # contributor from whoami on every row; a release tag on the commit
    board = remote_frame(stub, BOARD)
    assert set(board["contributor"]) == {"vi-user"} and len(board) == 6
    assert dataset_entry["tag"] and repo.tags == {dataset_entry["tag"]: commit.oid}
    assert dataset_entry["tag"] in commit.added["README.md"].decode()
    assert stub.repo("space", SPACE_REPO).sdk == "gradio"
    readme_checks = stub.calls("POST", r"^/api/validate-yaml$")
    assert {json.loads(r.body)["repoType"] for r in readme_checks} == {"dataset", "space"}

    # 2. the same content again: no upload, no commit, no new tag
    n_requests = len(stub.requests)
    again = publish(project, params)
    assert [e["status"] for e in again["repos"]] == ["unchanged", "unchanged"]
    assert len(stub.commits("dataset", DATASET_REPO)) == 1
    assert len(stub.commits("space", SPACE_REPO)) == 1
    second = stub.requests[n_requests:]
    assert not [r for r in second if "/commit/" in r.path or r.path.startswith("/lfs-")]
    assert list(repo.tags) == [dataset_entry["tag"]]

    # 3. the tag loads exactly this board, through the Hub API
    tagged = huggingface_hub.HfApi(endpoint=stub.url, token=TOKEN).hf_hub_download(
        DATASET_REPO,
        BOARD,
        repo_type="dataset",
        revision=dataset_entry["tag"],
        cache_dir=str(tmp_path / "tag-cache"),
    )
    assert pd.read_parquet(tagged).equals(board)

    # 4. the app (and so the Space) reads the dataset back through the Hub API
    loaded = read_board_through_hub(stub.url, tmp_path)
    assert loaded["rows"] == 6 and loaded["source"] == f"{stub.url}/datasets/{DATASET_REPO}"
    plots = hub / "dataset/data/plots"
    assert loaded["plots"] == sorted(p.relative_to(plots).as_posix() for p in plots.rglob("*.png"))
    assert loaded["plots"] and all("/" in p for p in loaded["plots"])  # by identity
    assert len(stub.commits("dataset", DATASET_REPO)) == 1  # reading commits nothing

    assert stub.errors == []
    check_token_only_in_authorization(stub)
    assert TOKEN.encode() not in all_text(hub)


def test_two_runs_accumulate_and_replace_only_their_rows(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, hub_env: HubStub
) -> None:
    stub = hub_env
    stub.add_user(TOKEN_B, "second-user")
    run_a = copy_project(tmp_path_factory, tmp_path / "a", models=["steady-model", "drift.model"])
    run_b = copy_project(tmp_path_factory, tmp_path / "b", models=["wobbly-model"])
    params_a, params_b = hub_params(run_a), hub_params(run_b)
    run_quality_stage(run_a, ["steady-model", "drift.model"])
    run_quality_stage(run_b, ["wobbly-model"])
    build_both(run_a, params_a)
    publish(run_a, params_a)
    build_both(run_b, params_b)
    os.environ["HF_TOKEN"] = TOKEN_B  # another contributor (monkeypatch restores it)
    publish(run_b, params_b)

    board = remote_frame(stub, BOARD)
    assert sorted(set(board["model"])) == sorted(MODELS)
    contributors = dict(zip(board["model"], board["contributor"], strict=False))
    assert contributors == {
        "steady-model": "vi-user",
        "drift.model": "vi-user",
        "wobbly-model": "second-user",
    }
    files = stub.repo("dataset", DATASET_REPO).files
    for row in board.itertuples():  # per-result answer files of both runs
        ids = (row.model_key, row.questionnaire, row.variant, row.protocol_hash)
        assert result_file("parsed", *ids, "parquet") in files
    metrics = remote_frame(stub, "data/metrics/metrics.parquet")
    assert sorted(set(metrics["model"])) == sorted(MODELS)
    quality = remote_frame(stub, "data/quality/quality.parquet")  # merged like the board
    assert len(quality) == 6 and sorted(set(quality["model"])) == sorted(MODELS)
    card = files["README.md"].decode()
    assert "parsed_drift_model" in card and "parsed_wobbly-model" in card
    assert "wobbly-model" in card and "steady-model" in card

    # Run A again with a changed result: its rows are replaced, B's rows are kept as they were.
    os.environ["HF_TOKEN"] = TOKEN
    metrics_file = paths.metrics_dir(run_a) / "drift.model__mfq30.json"
    changed = json.loads(metrics_file.read_text())
    changed["overall"]["inertia"] = 0.999
    metrics_file.write_text(json.dumps(changed))
    build_both(run_a, params_a)
    publish(run_a, params_a)
    after = remote_frame(stub, BOARD)
    assert len(after) == len(board) == 6
    drift = after[(after["model"] == "drift.model") & (after["questionnaire"] == "mfq30")]
    assert drift["inertia"].tolist() == [0.999]
    # re-ranked with the merged rows: still below the minimum sample, so not ranked
    assert drift["rank"].isna().all() and drift["tie_group"].isna().all()
    assert drift["rank_label"].str.startswith("not ranked (n = ").all()
    keep = ["model", "questionnaire", "inertia", "contributor"]
    wobbly_before = board[board["model"] == "wobbly-model"][keep].reset_index(drop=True)
    wobbly_after = after[after["model"] == "wobbly-model"][keep].reset_index(drop=True)
    pd.testing.assert_frame_equal(wobbly_before, wobbly_after)
    assert len(stub.repo("dataset", DATASET_REPO).tags) == 3  # one release per push
    assert stub.errors == []
    check_token_only_in_authorization(stub, (TOKEN, TOKEN_B))


def test_concurrent_publishes_both_survive(
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    hub_env: HubStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """B commits after A read the dataset: A's guarded commit is refused, A re-merges, both stay."""
    stub = hub_env
    run_a = copy_project(tmp_path_factory, tmp_path / "a", models=["steady-model"])
    run_b = copy_project(tmp_path_factory, tmp_path / "b", models=["wobbly-model"])
    params_a, params_b = hub_params(run_a), hub_params(run_b)
    build_both(run_a, params_a)
    build_both(run_b, params_b)
    original = push_mod.merge_into
    calls = {"n": 0}

    def merge_then_race(*args, **kwargs):
        tag = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:  # A has read the head; B publishes before A commits
            publish(run_b, params_b)
        return tag

    monkeypatch.setattr(push_mod, "merge_into", merge_then_race)
    report = publish(run_a, params_a)
    dataset_entry = report["repos"][0]
    assert dataset_entry["status"] == "committed" and dataset_entry["attempts"] == 2
    refused = [r for r in stub.calls("POST", r"/commit/main$")]
    assert len(refused) == 4  # A (refused), B dataset, B space, A again; then A's space
    board = remote_frame(stub, BOARD)
    assert sorted(set(board["model"])) == ["steady-model", "wobbly-model"]
    commits = stub.commits("dataset", DATASET_REPO)
    assert len(commits) == 2 and commits[1].parent == commits[0].oid


def test_simultaneous_publishes_in_threads_both_survive(
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    hub_env: HubStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two publishers read the same head at the same time; one commit wins, the other retries."""
    stub = hub_env
    runs = [
        copy_project(tmp_path_factory, tmp_path / name, models=[model])
        for name, model in (("a", "steady-model"), ("b", "drift.model"))
    ]
    params = [with_hub(load_params(r / "params.yaml"), dataset_repo=DATASET_REPO) for r in runs]
    for run, p in zip(runs, params, strict=True):
        build_both(run, p)
    publish(runs[0], params[0])  # the repo exists, with A's rows
    for run, p, model in zip(runs, params, ("steady-model", "drift.model"), strict=True):
        metrics_file = paths.metrics_dir(run) / f"{model}__mfq30.json"  # both change results
        data = json.loads(metrics_file.read_text())
        data["overall"]["inertia"] = 0.5
        metrics_file.write_text(json.dumps(data))
        build_both(run, p)
    barrier = threading.Barrier(2, timeout=60)
    original = push_mod.merge_into
    first: set[int] = set()

    def merge_together(*args, **kwargs):
        tag = original(*args, **kwargs)
        me = threading.get_ident()
        if me not in first:  # both have read the same head before either commits
            first.add(me)
            barrier.wait()
        return tag

    monkeypatch.setattr(push_mod, "merge_into", merge_together)
    reports: list[dict] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            reports.append(publish(runs[i], params[i]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    attempts = sorted(r["repos"][0]["attempts"] for r in reports)
    assert attempts == [1, 2]  # the loser was refused once and merged again
    board = remote_frame(stub, BOARD)
    mfq = board[board["questionnaire"] == "mfq30"].set_index("model")
    assert mfq.loc[["steady-model", "drift.model"], "inertia"].tolist() == [0.5, 0.5]
    assert len(stub.calls("POST", r"/commit/main$")) == 4  # A first, then winner, loser, retry
    assert stub.errors == []


def test_push_failure_is_reported_without_the_token(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HubStub("hf_a_different_token_the_stub_expects") as stub:
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_ENDPOINT", stub.url)
        params = with_hub(load_params(project / "params.yaml"), dataset_repo=DATASET_REPO)
        build_both(project, params)
        with pytest.raises(PublishError) as info:
            publish(project, params)
    assert TOKEN not in str(info.value) and "401" in str(info.value)
    report = json.loads((paths.hub_dir(project) / "publish_report.json").read_text())
    assert report["repos"][0]["status"] == "failed"
    assert report["repos"][1]["status"] == "dry run: hub.space_repo is not set"
    assert TOKEN.encode() not in all_text(paths.hub_dir(project))
