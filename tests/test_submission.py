"""Submissions over HTTP (the Hub stand-in): verify-submission and land-submission.

The owner publishes ``steady-model``; a second contributor submits ``drift.model``
as a pull request. Tampered pull requests are made from the honest one's files
with one edit each and sent through ``huggingface_hub`` like any PR; every
tampering must show up in the verification report under its check.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import huggingface_hub
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from tests.hub_helpers import (
    BOARD,
    DATASET_REPO,
    TOKEN,
    TOKEN_B,
    build_both,
    copy_project,
    hub_params,
    remote_frame,
    run_quality_stage,
)
from tests.hub_stub import HubStub
from tests.leaderboard_data import in_project
from value_inertia.core.config import load_params
from value_inertia.pipeline.analysis import run_analyze
from value_inertia.publishing.push import lfs_transfers, publish
from value_inertia.publishing.submission.land import land_submission, submit
from value_inertia.publishing.submission.report import report_lines
from value_inertia.publishing.submission.snapshot import SubmissionError
from value_inertia.publishing.submission.verify import verify_submission
from value_inertia.publishing.tables.identity import result_file

METRICS = "data/metrics/metrics.parquet"
QUALITY = "data/quality/quality.parquet"
TOKEN_C = "hf_thirdTOKEN_abcdefghij0123456789"
OWNER, SUBMITTER, OTHER = "vi-user", "drift-lab", "wobbly-lab"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubStub, Path]]:
    """The owner's board on main and the submitter's honest PR #1 (opened with the CLI)."""
    with HubStub(TOKEN) as stub, pytest.MonkeyPatch.context() as mp:
        stub.page_size = 7  # every listing the code reads is paginated
        stub.add_user(TOKEN_B, SUBMITTER)
        mp.setenv("HF_TOKEN", TOKEN)
        mp.setenv("HF_ENDPOINT", stub.url)
        mp.delenv("HF_HUB_DISABLE_XET", raising=False)
        mp.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", False)
        tmp = tmp_path_factory.mktemp("submission")
        owner = copy_project(tmp_path_factory, tmp / "owner", models=["steady-model"])
        params = hub_params(owner)
        build_both(owner, params)
        publish(owner, params)
        third = copy_project(tmp_path_factory, tmp / "third", models=["drift.model"])
        run_quality_stage(third, ["drift.model"])
        done = subprocess.run(
            [sys.executable, "-m", "value_inertia", "submit", "--to", DATASET_REPO],
            cwd=third,
            env={**os.environ, "VALUE_INERTIA_ROOT": str(third), "HF_TOKEN": TOKEN_B},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip().splitlines()[-1].endswith(f"{DATASET_REPO}/discussions/1")
        yield stub, third
        assert stub.errors == []


def frame_of(files: dict[str, bytes], rel: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(files[rel]))


def put_frame(files: dict[str, bytes], rel: str, frame: pd.DataFrame) -> None:
    schema = pq.read_schema(io.BytesIO(files[rel]))
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), out)
    files[rel] = out.getvalue()


def open_pr(stub: HubStub, files: dict[str, bytes], token: str = TOKEN_B) -> int:
    """A pull request holding exactly ``files``, sent through huggingface_hub."""
    lfs_transfers()
    api = HfApi(endpoint=stub.url, token=token)
    ops = [
        CommitOperationAdd(path_in_repo=p, path_or_fileobj=content)
        for p, content in sorted(files.items())
        if p != ".gitattributes"
    ]
    info = api.create_commit(
        DATASET_REPO,
        ops,
        commit_message="value-inertia: submit results",
        repo_type="dataset",
        create_pr=True,
        parent_commit=stub.repo("dataset", DATASET_REPO).head,
    )
    return int(info.pr_num)


def drift_mfq(frame: pd.DataFrame) -> pd.Series:
    return (frame["model"] == "drift.model") & (frame["questionnaire"] == "mfq30")


def edit_metric(files: dict[str, bytes]) -> None:
    m = frame_of(files, METRICS)
    hit = drift_mfq(m) & (m["group"] == "Harm")
    m.loc[hit, "inertia"] += 0.05
    put_frame(files, METRICS, m)


def edit_board_inertia(files: dict[str, bytes]) -> None:
    b = frame_of(files, BOARD)
    b.loc[drift_mfq(b), "inertia"] = 0.99
    put_frame(files, BOARD, b)


def move_protocol(files: dict[str, bytes]) -> None:
    for rel in (BOARD, METRICS, QUALITY):
        f = frame_of(files, rel)
        f.loc[drift_mfq(f), "protocol_hash"] = "00000000deadbeef"
        put_frame(files, rel, f)


def delete_others(files: dict[str, bytes]) -> None:
    for rel in (BOARD, METRICS):
        f = frame_of(files, rel)
        put_frame(files, rel, f[f["model"] != "steady-model"])


def edit_others(files: dict[str, bytes]) -> None:
    m = frame_of(files, METRICS)
    hit = (m["model"] == "steady-model") & (m["group"] == "overall")
    m.loc[hit, "inertia"] -= 0.1
    put_frame(files, METRICS, m)


def edit_parsed(files: dict[str, bytes]) -> None:
    board = frame_of(files, BOARD)
    row = board[board["model"] == "drift.model"].iloc[0]
    rel = result_file(
        "parsed", row.model_key, row.questionnaire, row.variant, row.protocol_hash, "parquet"
    )
    p = frame_of(files, rel)
    first = p.index[p["rating"].notna()][0]
    p.loc[first, "rating"] = 7 - p.loc[first, "rating"]
    put_frame(files, rel, p)


def break_schema(files: dict[str, bytes]) -> None:
    files[METRICS] = b"not a parquet file"


TAMPERINGS: dict[str, tuple[Callable[[dict[str, bytes]], None], str]] = {
    "one metrics value edited": (edit_metric, "metrics"),
    "board inertia set to 0.99, metrics untouched": (edit_board_inertia, "leaderboard"),
    "a result moved to another protocol hash": (move_protocol, "protocol"),
    "another contributor's rows deleted": (delete_others, "others"),
    "another contributor's rows edited": (edit_others, "others"),
    "one parsed answer edited": (edit_parsed, "parsing"),
    "a damaged metrics table": (break_schema, "tables"),
}


def test_honest_submission_passes_every_check(board: tuple[HubStub, Path]) -> None:
    stub, third = board
    report = verify_submission(DATASET_REPO, 1, third)
    assert report["ok"] is True, json.dumps(report["mismatches"], default=str)[:3000]
    assert report["author"] == SUBMITTER and report["status"] == "open"
    assert report["base"] == stub.repo("dataset", DATASET_REPO).head
    assert sorted(r["questionnaire"] for r in report["results"]) == ["mfq30", "pvqrr"]
    checks = report["checks"]
    for name in ("protocol", "personas", "parsing", "metrics", "leaderboard", "quality"):
        assert checks[name]["checked"] > 0, name
    assert checks["variants"]["checked"] == 2  # one shuffled-vs-original report per result
    assert checks["others"]["checked"] > 0 and checks["ranks"]["checked"] == 4
    # the CLI prints every check with its counts and exits 0
    done = subprocess.run(
        [sys.executable, "-m", "value_inertia", "verify-submission", DATASET_REPO, "--pr", "1"],
        cwd=third,
        env={**os.environ, "VALUE_INERTIA_ROOT": str(third)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    out = done.stdout.splitlines()
    assert any(line.startswith("metrics: ok: ") for line in out)
    assert out[-1] == "2 result(s) checked: PASS"


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_each_tampering_is_reported(board: tuple[HubStub, Path], name: str) -> None:
    stub, third = board
    edit, check = TAMPERINGS[name]
    files = dict(stub.repo("dataset", DATASET_REPO).prs[1].files)
    edit(files)
    pr = open_pr(stub, files)
    report = verify_submission(DATASET_REPO, pr, third)
    print(f"\n[{name}] PR #{pr}\n" + "\n".join(report_lines(report)))
    assert report["ok"] is False
    failing = {n for n, c in report["checks"].items() if c["problems"]}
    assert check in failing, failing
    problems = report["checks"][check]["problems"]
    if check == "metrics":
        assert [(p["group"], p["metric"]) for p in problems] == [("Harm", "inertia")]
        assert problems[0]["submitted"] == pytest.approx(problems[0]["recomputed"] + 0.05)
    if check == "leaderboard":
        assert [(p["questionnaire"], p["metric"], p["submitted"]) for p in problems] == [
            ("mfq30", "inertia", 0.99)
        ]
    if check == "protocol":
        assert {p["protocol_hash"] for p in problems} == {"00000000deadbeef"}
    if name == "another contributor's rows edited":
        assert {(p["change"], p["owner"], p["group"]) for p in problems} == {
            ("edited", OWNER, "overall")
        }
        assert len(problems) == 2  # the overall row of each questionnaire
    elif check == "others":
        assert {(p["change"], p["table"].split("/")[1]) for p in problems} == {
            ("deleted", "leaderboard"),
            ("deleted", "metrics"),
        }
        assert {p["model_key"] for p in problems} == set(remote_frame(stub, BOARD)["model_key"])
    if check == "tables":
        assert "data/metrics/metrics.parquet" in {p.get("table") for p in problems}


def test_a_shuffled_variant_result_is_verified(
    board: tuple[HubStub, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    stub, third = board
    variant = copy_project(tmp_path_factory, tmp_path_factory.mktemp("v") / "p", ["drift.model"])
    params = load_params(variant / "params.yaml")
    with in_project(variant):
        run_analyze(params, "drift.model", "mfq30", "shuffled")
    build_both(variant, hub_params(variant))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_TOKEN", TOKEN_B)
        pr = submit(variant, DATASET_REPO)["pr_num"]
    report = verify_submission(DATASET_REPO, pr, variant)
    assert report["ok"] is True, json.dumps(report["mismatches"], default=str)[:3000]
    assert {(r["questionnaire"], r["variant"]) for r in report["results"]} == {
        ("mfq30", "original"),
        ("mfq30", "shuffled"),
        ("pvqrr", "original"),
    }


def test_land_after_main_moved_keeps_both_sides(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HubStub(TOKEN) as stub:
        stub.page_size = 7
        stub.add_user(TOKEN_B, SUBMITTER)
        stub.add_user(TOKEN_C, OTHER)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_ENDPOINT", stub.url)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", False)
        owner = copy_project(tmp_path_factory, tmp_path / "owner", models=["steady-model"])
        build_both(owner, hub_params(owner))
        publish(owner, hub_params(owner))
        third = copy_project(tmp_path_factory, tmp_path / "third", models=["drift.model"])
        build_both(third, hub_params(third))
        monkeypatch.setenv("HF_TOKEN", TOKEN_B)
        assert submit(third, DATASET_REPO)["pr_num"] == 1
        # main moves: another contributor publishes directly after the PR was opened
        other = copy_project(tmp_path_factory, tmp_path / "other", models=["wobbly-model"])
        monkeypatch.setenv("HF_TOKEN", TOKEN_C)
        build_both(other, hub_params(other))
        publish(other, hub_params(other))
        repo = stub.repo("dataset", DATASET_REPO)
        moved = repo.head
        # merging the PR as it is would overwrite the tables main changed: the Hub refuses
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        with pytest.raises(huggingface_hub.errors.HfHubHTTPError):
            HfApi(endpoint=stub.url, token=TOKEN).merge_pull_request(
                DATASET_REPO, 1, repo_type="dataset"
            )
        landed = land_submission(DATASET_REPO, 1, owner)
        assert landed["status"] == "committed" and landed["parent_commit"] == moved
        board = remote_frame(stub, BOARD)
        assert sorted(set(board["model"])) == ["drift.model", "steady-model", "wobbly-model"]
        who = board.groupby("model")["contributor"].agg(set).to_dict()
        assert who == {"drift.model": {SUBMITTER}, "steady-model": {OWNER}, "wobbly-model": {OTHER}}
        metrics = remote_frame(stub, METRICS)
        assert sorted(set(metrics["model"])) == ["drift.model", "steady-model", "wobbly-model"]
        for row in board.itertuples(index=False):
            assert (
                result_file(
                    "parsed",
                    row.model_key,
                    row.questionnaire,
                    row.variant,
                    row.protocol_hash,
                    "parquet",
                )
                in repo.files
            )
        # one commit on main, tagged with its protocols, the PR closed with a comment
        assert repo.commits[-1].parent == moved and repo.tags[landed["tag"]] == repo.head
        message = repo.tag_messages[landed["tag"]]
        assert all(f"protocol {h}" in message for h in set(board["protocol_hash"]))
        pull = repo.pulls[1]
        assert pull.status == "closed"
        assert any(
            e["type"] == "comment" and repo.head in e["data"]["latest"]["raw"] for e in pull.events
        )
        with pytest.raises(SubmissionError, match="closed"):
            land_submission(DATASET_REPO, 1, owner)
        assert stub.errors == []
