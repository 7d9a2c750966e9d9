"""The Hub stand-in is as strict as the Hub where the project relies on it, and the
Space push retries on a conflict like the dataset push."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from tests.hub_stub import HubStub
from tests.hub_stub_rules import front_matter_errors
from value_inertia.publishing.push import hub_api, push_space

TOKEN = "hf_stubTOKEN_0123456789abcdefghij"
REPO = "vi-org/stub-checks"
GOOD_DATASET = {
    "license": "cc-by-4.0",
    "pretty_name": "x",
    "language": ["en"],
    "task_categories": ["question-answering"],
    "size_categories": ["n<1K"],
    "tags": ["a"],
    "configs": [
        {"config_name": "board", "data_files": [{"split": "train", "path": "b.parquet"}]},
        {"config_name": "other", "data_files": "o.parquet", "default": True},
    ],
}
GOOD_SPACE = {"title": "t", "sdk": "gradio", "colorFrom": "indigo", "colorTo": "green"}


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubStub]:
    with HubStub(TOKEN) as running:
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_ENDPOINT", running.url)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", False)
        yield running


@pytest.mark.parametrize(
    ("change", "repo_type", "error"),
    [
        ({}, "dataset", None),
        ({"license": "cc-by-4"}, "dataset", "license"),
        ({"license": "other"}, "dataset", "license_name"),
        ({"license": "other", "license_name": "x", "license_link": "LICENSE.md"}, "dataset", None),
        ({"task_categories": ["value-measurement"]}, "dataset", "task_categories"),
        ({"size_categories": ["tiny"]}, "dataset", "size_categories"),
        ({"language": ["english"]}, "dataset", "language"),
        ({"tags": "a"}, "dataset", "tags"),
        ({"configs": [{"data_files": "x.parquet"}]}, "dataset", "config_name"),
        (
            {"configs": [{"config_name": "a", "data_files": [{"split": "tr ain", "path": "x"}]}]},
            "dataset",
            "split",
        ),
        (
            {"configs": [{"config_name": "a", "data_files": "x", "default": True}] * 2},
            "dataset",
            "unique",
        ),
        ({"sdk": "flask"}, "space", "sdk"),
        ({"colorTo": "teal"}, "space", "colorTo"),
        ({"short_description": "x" * 61}, "space", "short_description"),
    ],
)
def test_front_matter_rules(change: dict, repo_type: str, error: str | None) -> None:
    meta = {**(GOOD_DATASET if repo_type == "dataset" else GOOD_SPACE), **change}
    errors = front_matter_errors(meta, repo_type)
    if error is None:
        assert errors == []
    else:
        assert errors and any(error in e for e in errors), errors


def test_invalid_metadata_is_refused_over_http(stub: HubStub) -> None:
    api = hub_api()
    api.create_repo(REPO, repo_type="dataset")
    readme = b"---\nlicense: not-a-licence\n---\n# x\n"
    with pytest.raises(ValueError, match="license"):
        api.create_commit(
            REPO,
            [CommitOperationAdd("README.md", readme)],
            commit_message="x",
            repo_type="dataset",
        )
    assert stub.commits("dataset", REPO) == []


def test_listings_paginate_and_xet_is_not_used(stub: HubStub) -> None:
    stub.page_size = 2
    api = hub_api()  # switches uploads to LFS
    api.create_repo(REPO, repo_type="dataset")
    for n in range(3):
        files = [CommitOperationAdd(f"d/f{n}_{k}.txt", b"%d" % k) for k in range(2)]
        files.append(CommitOperationAdd(f"data/t{n}.parquet", b"PAR1%d" % n))
        api.create_commit(REPO, files, commit_message=f"c{n}", repo_type="dataset")
    listed = api.list_repo_files(REPO, repo_type="dataset")
    assert len(listed) == 1 + 3 * 3  # .gitattributes and nine files, over several pages
    assert len(stub.calls("GET", r"/tree/")) >= 5
    history = api.list_repo_commits(REPO, repo_type="dataset")
    assert [c.title for c in history] == ["c2", "c1", "c0", "initial commit"]
    assert len(stub.calls("GET", r"/commits/")) == 2
    assert stub.repo("dataset", REPO).commits[-1].lfs == {"data/t2.parquet"}
    assert stub.errors == []  # no Xet token request (an unknown endpoint) was made


def test_pull_request_merge_and_conflict(stub: HubStub) -> None:
    api = hub_api()
    api.create_repo(REPO, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"a", path_in_repo="t.txt", repo_id=REPO, repo_type="dataset")
    clean = api.upload_file(
        path_or_fileobj=b"pr", path_in_repo="p.txt", repo_id=REPO, repo_type="dataset",
        create_pr=True,
    )  # fmt: skip
    clash = api.upload_file(
        path_or_fileobj=b"b", path_in_repo="t.txt", repo_id=REPO, repo_type="dataset",
        create_pr=True,
    )  # fmt: skip
    details = api.get_discussion_details(REPO, clean.pr_num, repo_type="dataset")
    assert details.author == "vi-user" and details.status == "open"
    api.merge_pull_request(REPO, clean.pr_num, repo_type="dataset")
    repo = stub.repo("dataset", REPO)
    assert repo.files["p.txt"] == b"pr" and repo.pulls[clean.pr_num].status == "merged"
    api.upload_file(path_or_fileobj=b"c", path_in_repo="t.txt", repo_id=REPO, repo_type="dataset")
    with pytest.raises(huggingface_hub.errors.HfHubHTTPError, match="conflict"):
        api.merge_pull_request(REPO, clash.pr_num, repo_type="dataset")
    api.change_discussion_status(REPO, clash.pr_num, "closed", comment="no", repo_type="dataset")
    assert repo.files["t.txt"] == b"c" and repo.pulls[clash.pr_num].status == "closed"


def test_space_push_retries_on_conflict(stub: HubStub, tmp_path: Path) -> None:
    folder = tmp_path / "space"
    folder.mkdir()
    (folder / "app.py").write_text("print('board')\n")
    (folder / "README.md").write_text("---\ntitle: t\nsdk: gradio\n---\n# board\n")
    api = hub_api()
    raced = []

    def someone_commits_first(repo) -> None:
        if not raced:
            raced.append(repo.head)
            stub._commit(repo, "someone else", {"notes.txt": b"theirs"}, [], [])

    stub.before_commit = someone_commits_first
    result = push_space(api, folder, "vi-org/board", private=False, commit_message="space")
    assert result["status"] == "committed" and result["attempts"] == 2
    repo = stub.repo("space", "vi-org/board")
    assert {"app.py", "README.md"} <= set(repo.files) and "notes.txt" not in repo.files
    assert result["deleted"] == ["notes.txt"]  # the Space holds exactly the folder
    assert len(stub.calls("POST", r"/commit/main$")) == 2
    assert HfApi(endpoint=stub.url, token=TOKEN).list_repo_files(
        "vi-org/board", repo_type="space"
    ) == sorted(repo.files)
