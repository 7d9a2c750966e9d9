"""Hub publishing: the dataset and Space folders, the dry run, and a push over HTTP.

The push goes to :mod:`tests.hub_stub`, a local stand-in for the Hub API (the
Hub itself cannot be reached from the tests): the assertions are about what
``huggingface_hub`` actually sent over the wire.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import gradio
import pyarrow.parquet as pq
import pytest

from tests.hub_stub import HubStub
from tests.leaderboard_data import MODELS, REPO, cached_project
from value_inertia import paths
from value_inertia.config import ConfigError, HubParams, Params, load_params
from value_inertia.hub import (
    PublishError,
    build_dataset_folder,
    build_space_folder,
    folder_files,
    model_slugs,
    publish,
    read_front_matter,
)

TOKEN = "hf_stubTOKEN_0123456789abcdefghij"
DATASET_REPO = "vi-org/value-inertia"
SPACE_REPO = "vi-org/value-inertia-board"
EXPECTED_CONFIGS = {
    "personas",
    "prompts",
    "metrics",
    "clusters",
    "cluster_assignments",
    "models",
    "leaderboard",
    *(
        f"{kind}_{slug}"
        for slug in ("steady-model", "drift_model", "wobbly-model")
        for kind in ("responses", "parsed")
    ),
}


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A private copy of the session's synthetic project."""
    root = tmp_path / "proj"
    shutil.copytree(cached_project(tmp_path_factory), root)
    shutil.rmtree(paths.hub_dir(root), ignore_errors=True)
    return root


def with_hub(params: Params, **hub: object) -> Params:
    return params.model_copy(update={"hub": HubParams(**hub)})


def build_both(root: Path, params: Params) -> dict:
    manifest = build_dataset_folder(root, paths.hub_dir(root) / "dataset", params)
    build_space_folder(root, paths.hub_dir(root) / "space", params.hub.dataset_repo)
    return manifest


def all_text(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- folders


def test_config_names_are_valid_and_distinct() -> None:
    slugs = model_slugs(["a.b", "a_b", "plain-name", "x/y"])
    assert slugs["plain-name"] == "plain-name" and slugs["x/y"] == "x_y"
    assert len(set(slugs.values())) == 4
    assert all(set(s) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-") for s in slugs.values())


def test_dataset_folder_every_config_loads(project: Path, tmp_path: Path) -> None:
    params = load_params(project / "params.yaml")
    folder = paths.hub_dir(project) / "dataset"
    manifest = build_dataset_folder(project, folder, params)

    card = (folder / "README.md").read_text(encoding="utf-8")
    meta = read_front_matter(card)
    for key in ("license", "pretty_name", "task_categories", "tags", "configs"):
        assert meta.get(key), key
    assert meta["license_link"] == "LICENSE.md" and (folder / "LICENSE.md").exists()
    names = [c["config_name"] for c in meta["configs"]]
    assert set(names) == EXPECTED_CONFIGS == set(manifest["configs"])
    assert [c for c in meta["configs"] if c.get("default")] == [
        next(c for c in meta["configs"] if c["config_name"] == "leaderboard")
    ]

    n_prompts = pq.read_metadata(paths.prompts_path(project)).num_rows
    n_personas = pq.read_metadata(paths.personas_path(project)).num_rows
    expected_rows = {
        "personas": n_personas,
        "prompts": n_prompts,
        "clusters": 6,
        "cluster_assignments": 6 * n_personas,
        "models": 3,
        "leaderboard": 6,
        # overall + dimensions + roll-up groups, per (model, questionnaire)
        "metrics": 3 * ((1 + 5) + (1 + 19 + 10 + 4)),
    }
    cache = tmp_path / "hf-cache"
    for config in meta["configs"]:
        name = config["config_name"]
        (entry,) = config["data_files"]
        assert (folder / entry["path"]).is_file()
        ds = datasets.load_dataset(str(folder), name, split="train", cache_dir=str(cache))
        rows = expected_rows.get(name, n_prompts)  # responses_*/parsed_*: one row per prompt
        assert ds.num_rows == rows == manifest["configs"][name]["rows"], name
    board = datasets.load_dataset(str(folder), "leaderboard", split="train", cache_dir=str(cache))
    assert sorted(set(board["model"])) == sorted(MODELS)
    metrics = datasets.load_dataset(str(folder), "metrics", split="train", cache_dir=str(cache))
    harm = [r for r in metrics if r["group"] == "Harm" and r["model"] == "steady-model"]
    assert len(harm) == 1 and len(harm[0]["distribution"]) == 6 and harm[0]["inertia"] > 0.5
    parsed = datasets.load_dataset(
        str(folder), "parsed_drift_model", split="train", cache_dir=str(cache)
    )
    assert set(parsed["model"]) == {"drift.model"}

    # leaderboard as Markdown, the method and the questionnaires' citations, how to load
    assert "## Leaderboard" in card and "| 1 | steady-model |" in card
    assert (
        "arXiv:2408.09049" in card and "Lee, Bruce W. and Cho, Hyunsoo and Lee, Yeongheon" in card
    )
    assert "Graham" in card and "Schwartz" in card and "Mapping the moral domain" in card
    assert 'load_dataset("<org>/<name>", "leaderboard", split="train")' in card
    # the project's figures and raw JSON travel with the data
    assert (folder / "data/plots/steady-model__mfq30__macro.png").is_file()
    assert (folder / "data/metrics/raw/drift.model__pvqrr.json").is_file()


def test_dataset_folder_rebuild_drops_stale_files(project: Path) -> None:
    params = load_params(project / "params.yaml")
    folder = paths.hub_dir(project) / "dataset"
    build_dataset_folder(project, folder, params)
    (folder / "data" / "stale.parquet").write_bytes(b"old")
    build_dataset_folder(project, folder, params)
    assert not (folder / "data" / "stale.parquet").exists()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


def test_dataset_folder_names_a_missing_input(project: Path) -> None:
    params = load_params(project / "params.yaml")
    paths.parsed_path("drift.model", project).unlink()
    with pytest.raises(
        ConfigError, match=r"parsed/drift\.model\.parquet: not found; run the parse"
    ):
        build_dataset_folder(project, paths.hub_dir(project) / "dataset", params)
    assert not (paths.hub_dir(project) / "dataset").exists()


def test_space_folder(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = paths.hub_dir(project) / "space"
    result = build_space_folder(project, folder, DATASET_REPO)
    assert (folder / "app.py").read_bytes() == (REPO / "leaderboard" / "app.py").read_bytes()
    meta = read_front_matter((folder / "README.md").read_text(encoding="utf-8"))
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == gradio.__version__
    assert meta["app_file"] == "app.py" and meta["datasets"] == [DATASET_REPO]
    for key in ("title", "emoji", "colorFrom", "colorTo"):
        assert meta[key]
    assert len(meta["short_description"]) <= 60
    requirements = (folder / "requirements.txt").read_text().split()
    assert {r.split(">=")[0] for r in requirements} == {"pandas", "pyarrow", "huggingface_hub"}
    assert "data/leaderboard/leaderboard.parquet" in result["files"]
    assert "data/plots/wobbly-model__mfq30__cohens_d.png" in result["files"]
    assert json.loads((folder / "app_config.json").read_text()) == {"dataset_repo": DATASET_REPO}

    # The Space's app finds its leaderboard next to itself, wherever it is started.
    monkeypatch.chdir(project.parent)
    monkeypatch.delenv("VALUE_INERTIA_DATASET", raising=False)
    spec = importlib.util.spec_from_file_location("space_app", folder / "app.py")
    app = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "space_app", app)
    spec.loader.exec_module(app)
    board = app.load_board()
    assert board.source == str(folder / "data") and len(board.frame) == 6
    assert board.dataset_repo == DATASET_REPO
    assert app.figures_for(board, "steady-model", "mfq30")[0][0].endswith("__macro.png")


# --------------------------------------------------------------------------- dry run


@pytest.mark.parametrize("token", [None, TOKEN])
def test_dry_run_writes_report(
    project: Path, monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    """No token (or no repo ids): nothing is pushed, the report says what would be."""
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    else:
        monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: no request may go
    params = load_params(project / "params.yaml")
    if not token:
        params = with_hub(params, dataset_repo=DATASET_REPO, space_repo=SPACE_REPO)
    build_both(project, params)
    report = publish(project, params)
    on_disk = json.loads((paths.hub_dir(project) / "publish_report.json").read_text())
    assert report == on_disk and report["dry_run"] is True
    reason = "HF_TOKEN is not set" if not token else "hub.dataset_repo is not set"
    dataset, space = report["repos"]
    assert dataset["status"] == f"dry run: {reason}"
    assert space["status"].startswith("dry run:")
    assert (dataset["repo_id"], space["repo_id"]) == (
        (DATASET_REPO, SPACE_REPO) if not token else (None, None)
    )
    for entry in report["repos"]:
        folder = project / entry["folder"]
        files = {f["path"]: f for f in entry["files"]}
        assert set(files) == {p.as_posix() for p in folder_files(folder)}
        for rel, f in files.items():
            data = (folder / rel).read_bytes()
            assert f["size"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["total_bytes"] == sum(f["size"] for f in files.values())
    assert "README.md" in {f["path"] for f in dataset["files"]}
    assert TOKEN.encode() not in all_text(paths.hub_dir(project))


# --------------------------------------------------------------------------- push


def check_token_only_in_authorization(stub: HubStub) -> None:
    assert stub.requests
    for r in stub.requests:
        if r.path == "/api/agent-harnesses":  # the library's own lookup: no token at all
            assert "authorization" not in r.headers and TOKEN not in json.dumps(r.headers)
            continue
        assert r.headers.get("authorization") == f"Bearer {TOKEN}"
        others = {k: v for k, v in r.headers.items() if k != "authorization"}
        assert TOKEN not in json.dumps(others)
        assert TOKEN not in r.path and TOKEN not in json.dumps(r.query)
        assert TOKEN.encode() not in r.body


READ_BOARD = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
sys.modules["app"] = app
spec.loader.exec_module(app)
board = app.load_board(dataset=sys.argv[2])
print(json.dumps({"rows": len(board.frame), "source": board.source,
                  "plots": sorted(p.name for p in board.plots_dir.glob("*.png"))}))
"""


def read_board_through_hub(endpoint: str, tmp_path: Path) -> dict:
    """``load_board(dataset=...)`` of leaderboard/app.py in a fresh process against ``endpoint``."""
    env = {
        **os.environ,
        "HF_ENDPOINT": endpoint,
        "HF_TOKEN": TOKEN,
        "HF_HOME": str(tmp_path / "hf-home"),
    }
    env.pop("VALUE_INERTIA_DATASET", None)
    done = subprocess.run(
        [sys.executable, "-c", READ_BOARD, str(REPO / "leaderboard" / "app.py"), DATASET_REPO],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_push_sends_every_file_once_and_is_idempotent(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with HubStub(TOKEN) as stub:
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_ENDPOINT", stub.url)
        params = with_hub(
            load_params(project / "params.yaml"),
            dataset_repo=DATASET_REPO,
            space_repo=SPACE_REPO,
            private=True,
        )
        build_both(project, params)
        hub = paths.hub_dir(project)

        # 1. first push: both repos created, one commit each with every file inline
        report = publish(project, params)
        assert report["dry_run"] is False
        assert [e["status"] for e in report["repos"]] == ["committed", "committed"]
        for repo_type, repo_id, folder in (
            ("dataset", DATASET_REPO, hub / "dataset"),
            ("space", SPACE_REPO, hub / "space"),
        ):
            repo = stub.repo(repo_type, repo_id)
            assert repo.private is True
            (commit,) = stub.commits(repo_type, repo_id)
            local = {p.as_posix(): (folder / p).read_bytes() for p in folder_files(folder)}
            assert commit.added == local  # exactly these files, byte for byte
            assert commit.deleted == []
            assert {line["key"] for line in commit.raw_lines} == {"header", "file"}
            assert set(repo.files) == {".gitattributes", *local}
            entry = next(e for e in report["repos"] if e["repo_type"] == repo_type)
            assert entry["commit"] == commit.oid and sorted(entry["uploaded"]) == sorted(local)
        assert stub.repo("space", SPACE_REPO).sdk == "gradio"
        create = [json.loads(r.body) for r in stub.calls("POST", r"^/api/repos/create$")]
        assert {(c["type"], c["name"]) for c in create} == {
            ("dataset", "value-inertia"),
            ("space", "value-inertia-board"),
        }
        readme_checks = stub.calls("POST", r"^/api/validate-yaml$")
        assert {json.loads(r.body)["repoType"] for r in readme_checks} == {"dataset", "space"}

        # 2. the same content again: no upload, no commit
        n_requests = len(stub.requests)
        again = publish(project, params)
        assert [e["status"] for e in again["repos"]] == ["unchanged", "unchanged"]
        assert all(e["uploaded"] == [] and e["deleted"] == [] for e in again["repos"])
        assert len(stub.commits("dataset", DATASET_REPO)) == 1
        assert len(stub.commits("space", SPACE_REPO)) == 1
        second = stub.requests[n_requests:]
        assert not [r for r in second if r.path.endswith(("/commit/main", "/preupload/main"))]

        # The app (and so the Space) can read the pushed dataset back through the Hub API.
        n_before_read = len(stub.requests)
        loaded = read_board_through_hub(stub.url, tmp_path)
        downloads = {
            r.path
            for r in stub.requests[n_before_read:]
            if r.method == "GET" and "/resolve/" in r.path
        }
        assert f"/datasets/{DATASET_REPO}/resolve/" in next(iter(downloads))
        fetched = {d.rsplit("/resolve/", 1)[1].split("/", 1)[1] for d in downloads}
        wanted = [
            hub / "dataset/data/leaderboard/leaderboard.parquet",
            *(hub / "dataset" / "data" / "plots").glob("*.png"),
        ]
        # every file's bytes are fetched once (files with the same bytes share one blob)
        contents: dict[str, set[str]] = {}
        for file in wanted:
            rel = file.relative_to(hub / "dataset").as_posix()
            contents.setdefault(hashlib.sha256(file.read_bytes()).hexdigest(), set()).add(rel)
        assert fetched <= set().union(*contents.values())
        assert all(len(same & fetched) == 1 for same in contents.values())
        assert loaded["rows"] == 6 and loaded["source"] == f"{stub.url}/datasets/{DATASET_REPO}"
        assert loaded["plots"] == sorted(
            p.name for p in (hub / "dataset" / "data" / "plots").glob("*.png")
        )
        assert len(stub.commits("dataset", DATASET_REPO)) == 1  # reading commits nothing

        # 3. one file changed and one removed: one commit with exactly that change
        changed = hub / "dataset" / "data" / "leaderboard" / "leaderboard.md"
        changed.write_text(changed.read_text() + "\nedited\n")
        removed = hub / "dataset" / "data" / "plots" / "wobbly-model__mfq30__macro.png"
        removed.unlink()
        third = publish(project, params)
        assert [e["status"] for e in third["repos"]] == ["committed", "unchanged"]
        commits = stub.commits("dataset", DATASET_REPO)
        assert len(commits) == 2
        assert commits[-1].added == {"data/leaderboard/leaderboard.md": changed.read_bytes()}
        assert commits[-1].deleted == ["data/plots/wobbly-model__mfq30__macro.png"]
        assert ".gitattributes" in stub.repo("dataset", DATASET_REPO).files

        assert stub.errors == []
        check_token_only_in_authorization(stub)
        assert TOKEN.encode() not in all_text(hub)


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
