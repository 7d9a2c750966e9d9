"""Hub publishing: the dataset and Space folders, the dry run, and pushes over HTTP.

Pushes go to :mod:`tests.hub_stub`, a local stand-in for the Hub API (the Hub
itself cannot be reached from the tests): the assertions are about what
``huggingface_hub`` actually sent over the wire and what the Hub ends up with.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import datasets
import gradio
import huggingface_hub
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.hub_stub import HubStub
from tests.leaderboard_data import (
    MODELS,
    PRIVATE_BASE_URL,
    PRIVATE_KEY_ENV,
    PRIVATE_MODEL_PATH,
    QUESTIONNAIRES,
    REPO,
    cached_project,
    in_project,
)
from value_inertia import pipeline
from value_inertia.core import paths
from value_inertia.core.config import HubParams, Params, load_params
from value_inertia.core.errors import InputError
from value_inertia.core.table_io import write_table
from value_inertia.publishing import push as push_mod
from value_inertia.publishing.dataset import build_dataset_folder
from value_inertia.publishing.folders import folder_files, model_slugs
from value_inertia.publishing.hub_tables import MERGE_KEYS
from value_inertia.publishing.push import PublishError, publish, submit, verify_submission
from value_inertia.publishing.space import build_space_folder

TOKEN = "hf_stubTOKEN_0123456789abcdefghij"
TOKEN_B = "hf_secondTOKEN_9876543210zyxwvuts"
DATASET_REPO = "vi-org/value-inertia"
SPACE_REPO = "vi-org/value-inertia-board"
BOARD = "data/leaderboard/leaderboard.parquet"
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


def read_front_matter(text: str) -> dict[str, Any]:
    """The YAML metadata block at the top of a README.md (``{}`` when there is none)."""
    match = re.match(r"^---\n(.*?)\n---\n", text, flags=re.DOTALL)
    if not match:
        return {}
    return yaml.safe_load(match.group(1)) or {}


def copy_project(tmp_path_factory: pytest.TempPathFactory, dest: Path, models=None) -> Path:
    """A private copy of the session's synthetic project (optionally with fewer models)."""
    shutil.copytree(cached_project(tmp_path_factory), dest)
    shutil.rmtree(paths.hub_dir(dest), ignore_errors=True)
    if models is not None:
        raw = yaml.safe_load((dest / "params.yaml").read_text())
        raw["models"] = [m for m in raw["models"] if m["name"] in models]
        (dest / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return dest


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(tmp_path_factory, tmp_path / "proj")


@pytest.fixture
def hub_env(monkeypatch: pytest.MonkeyPatch):
    """A running stub with HF_TOKEN / HF_ENDPOINT pointing at it (Xet off: the stub speaks LFS)."""
    with HubStub(TOKEN) as stub:
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_ENDPOINT", stub.url)
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
        yield stub


def run_quality_stage(project: Path, models: tuple[str, ...] | list[str] = MODELS) -> None:
    """The quality reports of ``models`` (value-inertia quality, the real stage)."""
    params = load_params(project / "params.yaml")
    with in_project(project):
        for model in models:
            for qid in QUESTIONNAIRES:
                pipeline.run_quality(params, model, qid)


def with_hub(params: Params, **hub: object) -> Params:
    return params.model_copy(update={"hub": HubParams(**hub)})


def build_both(root: Path, params: Params) -> dict:
    hub = paths.hub_dir(root)
    manifest = build_dataset_folder(root, hub / "dataset", params)
    build_space_folder(root, hub / "space", params.hub.dataset_repo, hub / "dataset")
    return manifest


def hub_params(root: Path, **extra: object) -> Params:
    hub = {"dataset_repo": DATASET_REPO, "space_repo": SPACE_REPO, **extra}
    return with_hub(load_params(root / "params.yaml"), **hub)


def all_text(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def readable_text(folder: Path) -> str:
    """Every file below ``folder`` as text; Parquet files decoded (values and schema metadata)."""
    parts = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix == ".parquet":
            table = pq.read_table(p)
            parts += [str(table.schema.metadata), json.dumps(table.to_pylist(), default=str)]
        else:
            parts.append(p.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def remote_frame(stub: HubStub, rel: str, rev: str = "main") -> pd.DataFrame:
    commit = stub.repo("dataset", DATASET_REPO).resolve(rev)
    return pd.read_parquet(io.BytesIO(commit.files[rel]))


# --------------------------------------------------------------------------- folders


def test_config_names_are_valid_and_distinct() -> None:
    slugs = model_slugs(["a.b", "a_b", "plain-name", "x/y"])
    assert slugs["plain-name"] == "plain-name" and slugs["x/y"] == "x_y"
    assert len(set(slugs.values())) == 4
    assert all(set(s) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-") for s in slugs.values())


def test_dataset_folder_every_config_loads(project: Path, tmp_path: Path) -> None:
    params = load_params(project / "params.yaml")
    run_quality_stage(project)
    variants = paths.variants_dir(project) / "steady-model__mfq30.json"
    variants.parent.mkdir(parents=True, exist_ok=True)
    variant_report = {"model": "steady-model", "questionnaire": "mfq30", "note": "no other variant"}
    variants.write_text(json.dumps(variant_report))
    folder = paths.hub_dir(project) / "dataset"
    manifest = build_dataset_folder(project, folder, params)

    card = (folder / "README.md").read_text(encoding="utf-8")
    meta = read_front_matter(card)
    for key in ("license", "pretty_name", "task_categories", "tags", "configs"):
        assert meta.get(key), key
    assert meta["license_link"] == "LICENSE.md" and (folder / "LICENSE.md").exists()
    names = [c["config_name"] for c in meta["configs"]]
    assert set(names) == EXPECTED_CONFIGS | {"quality"} == set(manifest["configs"])
    assert [c["config_name"] for c in meta["configs"] if c.get("default")] == ["leaderboard"]

    n_prompts = pq.read_metadata(paths.prompts_path(project)).num_rows
    n_personas = pq.read_metadata(paths.personas_path(project)).num_rows
    expected_rows = {
        "personas": n_personas,
        "prompts": n_prompts,
        "clusters": 6,
        "cluster_assignments": 6 * n_personas,
        "models": 3,
        "leaderboard": 6,
        "quality": 6,
        # overall + dimensions + roll-up groups, per (model, questionnaire)
        "metrics": 3 * ((1 + 5) + (1 + 19 + 10 + 4)),
    }
    cache = tmp_path / "hf-cache"
    for config in meta["configs"]:
        name = config["config_name"]
        (entry,) = config["data_files"]
        ds = datasets.load_dataset(str(folder), name, split="train", cache_dir=str(cache))
        rows = expected_rows.get(name, n_prompts)  # responses_*/parsed_*: one row per prompt
        assert ds.num_rows == rows == manifest["configs"][name]["rows"], name
    board = datasets.load_dataset(str(folder), "leaderboard", split="train", cache_dir=str(cache))
    assert sorted(set(board["model"])) == sorted(MODELS)
    # provenance and protocol on every row; the leaderboard config is narrow (no per-dim columns)
    for row in board:
        assert row["protocol_hash"] and json.loads(row["protocol"])["questionnaire"]
        assert row["package_version"] and row["git_commit"] and row["published_at"]
        assert row["rank_label"] and row["variant"] == "original"
    assert not [c for c in board.column_names if ":" in c]
    metrics = datasets.load_dataset(str(folder), "metrics", split="train", cache_dir=str(cache))
    harm = [r for r in metrics if r["group"] == "Harm" and r["model"] == "steady-model"]
    assert len(harm) == 1 and len(harm[0]["distribution"]) == 6 and harm[0]["inertia"] > 0.5
    assert {r["level"] for r in metrics if r["questionnaire"] == "pvqrr"} >= {
        "overall",
        "dimension",
    }
    models = datasets.load_dataset(str(folder), "models", split="train", cache_dir=str(cache))
    steady = next(r for r in models if r["name"] == "steady-model")
    assert (steady["public_id"], steady["quantization"]) == ("acme/steady-1b", "Q4_K_M")
    parsed = datasets.load_dataset(
        str(folder), "parsed_drift_model", split="train", cache_dir=str(cache)
    )
    assert set(parsed["model"]) == {"drift.model"}
    # the quality config: the reports' figures, per-dimension alpha/omega, ids of the board
    quality = datasets.load_dataset(str(folder), "quality", split="train", cache_dir=str(cache))
    ids = {(r["model"], r["questionnaire"]): r["protocol_hash"] for r in board}
    for row in quality:
        report = json.loads(
            (
                paths.quality_dir(project) / f"{row['model']}__{row['questionnaire']}.json"
            ).read_text()
        )
        assert row["protocol_hash"] == ids[(row["model"], row["questionnaire"])]
        assert row["verdict"] == report["verdict"] and row["variant"] == "original"
        for name in ("alpha", "omega", "parse_rate", "mrat_mean", "mrat_sd"):
            assert row[name] == pytest.approx(report[name], nan_ok=True) or (
                row[name] is None and report[name] is None
            ), name
        assert [d["dimension"] for d in row["dimensions"]] == list(report["dimensions"])
        first = row["dimensions"][0]
        assert first["alpha"] == report["dimensions"][first["dimension"]]["alpha"]
    assert len({r["model"] for r in quality}) == 3
    # each prompt variant against original, as the analysis wrote it
    assert json.loads((folder / "data/variants/steady-model__mfq30.json").read_text())["note"]

    # The card: leaderboard, the registry's legend, the scale, limitations, citations, loading
    assert "## Leaderboard" in card and "| 1 | steady-model |" in card
    assert "Inertia" in card and "higher is better" in card  # from the metric registry
    assert "1 to 6" in card and "0-5" in card
    assert "## Limitations" in card and "Modes are not comparable" in card
    assert "leave out Humility and Face" in card  # the PVQ-RR 10-value roll-up choice
    assert "arXiv:2408.09049" in card and "Graham" in card and "Schwartz" in card
    assert "World Values Survey" in card and "haerpfer2022wvs7" in card
    assert 'load_dataset("<org>/<name>", "leaderboard", split="train", revision=' in card
    assert "### Column dictionary" in card and "| `protocol_hash` |" in card
    assert "| `rating` |" in card  # the per-model tables' columns too
    registry = json.loads((folder / "data/metric_registry.json").read_text())
    assert {"inertia", "steerability", "top2"} <= {r["name"] for r in registry}
    assert (folder / "data/plots/steady-model__mfq30__macro.png").is_file()
    assert (folder / "data/metrics/raw/drift.model__pvqrr.json").is_file()


def test_published_folders_hold_nothing_private(project: Path) -> None:
    """No served model path, base URL, host name, key variable name or local path is published."""
    params = load_params(project / "params.yaml")
    quality = project / "data" / "quality"
    quality.mkdir(parents=True, exist_ok=True)
    report = {"verdict": "usable: alpha 0.91", "alpha": 0.91, "source": PRIVATE_MODEL_PATH}
    (quality / "steady-model__mfq30.json").write_text(json.dumps(report))
    # protocol fields written by the analysis may carry the model's identity: never published
    metrics_file = paths.metrics_dir(project) / "drift.model__pvqrr.json"
    metrics = json.loads(metrics_file.read_text())
    metrics["protocol"] = {"model": PRIVATE_MODEL_PATH, "base_url": PRIVATE_BASE_URL, "n": 4}
    metrics["protocol_hash"] = "feedfacecafebeef"
    metrics_file.write_text(json.dumps(metrics))
    build_both(project, params)
    folder = paths.hub_dir(project) / "dataset"
    board = pd.read_parquet(folder / BOARD).set_index(["model", "questionnaire"])
    protocol = json.loads(board.at[("drift.model", "pvqrr"), "protocol"])
    assert protocol == {"model": "[local]", "n": 4}
    assert board.at[("drift.model", "pvqrr"), "protocol_hash"] == "feedfacecafebeef"
    assert board.at[("steady-model", "mfq30"), "verdict"] == "usable: alpha 0.91"
    assert pd.isna(board.at[("drift.model", "mfq30"), "verdict"])
    published = json.loads((folder / "data/quality/raw/steady-model__mfq30.json").read_text())
    assert published == {**report, "source": "[local]"}
    build_space_folder(
        project, paths.hub_dir(project) / "space-snapshot", None, paths.hub_dir(project) / "dataset"
    )
    text = readable_text(paths.hub_dir(project))
    host = PRIVATE_BASE_URL.split("//", 1)[1].split(":", 1)[0]
    for needle in (
        PRIVATE_MODEL_PATH,
        PRIVATE_BASE_URL,
        host,
        PRIVATE_KEY_ENV,
        str(project),
        str(project.resolve()),
        "api_key_env",
        "base_url",
    ):
        assert needle not in text, needle
    # what is published about the models instead
    assert "acme/steady-1b" in text and "drift.model" in text


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
    with pytest.raises(InputError, match=r"parsed/drift\.model\.parquet: not found; run the parse"):
        build_dataset_folder(project, paths.hub_dir(project) / "dataset", params)
    assert not (paths.hub_dir(project) / "dataset").exists()


def test_dataset_folder_names_a_truncated_cluster_table(project: Path) -> None:
    params = load_params(project / "params.yaml")
    table = paths.clusters_dir(project) / "drift.model__mfq30.parquet"
    table.write_bytes(table.read_bytes()[:100])  # cut short, as by a full disk
    with pytest.raises(InputError) as info:
        build_dataset_folder(project, paths.hub_dir(project) / "dataset", params)
    assert str(info.value).startswith(f"{table}: not a readable Parquet table (")
    assert str(info.value).endswith("run the cluster (model drift.model) stage again to rebuild it")


def load_app(folder: Path, monkeypatch: pytest.MonkeyPatch):
    spec = importlib.util.spec_from_file_location("space_app", folder / "app.py")
    app = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "space_app", app)
    spec.loader.exec_module(app)
    return app


def test_space_folder(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = load_params(project / "params.yaml")
    hub = paths.hub_dir(project)
    build_dataset_folder(project, hub / "dataset", params)

    # With a dataset repo the Space carries no data: the app reads the Hub dataset.
    with_repo = build_space_folder(project, hub / "space", DATASET_REPO, hub / "dataset")
    folder = hub / "space"
    assert (folder / "app.py").read_bytes() == (REPO / "leaderboard" / "app.py").read_bytes()
    meta = read_front_matter((folder / "README.md").read_text(encoding="utf-8"))
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == gradio.__version__
    assert meta["app_file"] == "app.py" and meta["datasets"] == [DATASET_REPO]
    for key in ("title", "emoji", "colorFrom", "colorTo"):
        assert meta[key]
    assert len(meta["short_description"]) <= 60
    requirements = (folder / "requirements.txt").read_text().split()
    assert {r.split(">=")[0] for r in requirements} == {
        "pandas",
        "pyarrow",
        "matplotlib",
        "huggingface_hub",
    }
    assert not [f for f in with_repo["files"] if f.startswith("data/")]
    assert json.loads((folder / "app_config.json").read_text()) == {"dataset_repo": DATASET_REPO}

    # Without one it carries the public snapshot, and the app finds it next to itself.
    snapshot = build_space_folder(project, hub / "space2", None, hub / "dataset")
    assert {
        "data/leaderboard/leaderboard.parquet",
        "data/metrics/metrics.parquet",
        "data/metric_registry.json",
        "data/plots/wobbly-model__mfq30__cohens_d.png",
    } <= set(snapshot["files"])
    monkeypatch.chdir(project.parent)
    monkeypatch.delenv("VALUE_INERTIA_DATASET", raising=False)
    app = load_app(hub / "space2", monkeypatch)
    board = app.load_board()
    assert board.source == str(hub / "space2" / "data") and len(board.frame) == 6
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
    for entry in report["repos"]:
        folder = project / entry["folder"]
        files = {f["path"]: f for f in entry["files"]}
        assert set(files) == {p.as_posix() for p in folder_files(folder)}
        for rel, f in files.items():
            data = (folder / rel).read_bytes()
            assert f["size"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
    assert TOKEN.encode() not in all_text(paths.hub_dir(project))


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
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
sys.modules["app"] = app
spec.loader.exec_module(app)
board = app.load_board(dataset=sys.argv[2])
print(json.dumps({"rows": len(board.frame), "source": board.source,
                  "models": sorted(set(board.frame["model"])),
                  "plots": sorted(p.name for p in board.plots_dir.glob("*.png"))}))
"""


def read_board_through_hub(endpoint: str, tmp_path: Path) -> dict:
    """``load_board(dataset=...)`` of leaderboard/app.py in a fresh process against ``endpoint``."""
    env = {
        **os.environ,
        "HF_ENDPOINT": endpoint,
        "HF_TOKEN": TOKEN,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_DISABLE_XET": "1",
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
    assert loaded["plots"] == sorted(p.name for p in (hub / "dataset/data/plots").glob("*.png"))
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
    for model in MODELS:  # per-model tables of both runs
        assert f"data/parsed/{model}.parquet" in files
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
    assert drift["rank"].tolist() == [1]  # re-ranked with the merged rows
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


def test_submission_pr_verifies_and_tampered_one_fails(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, hub_env: HubStub
) -> None:
    stub = hub_env
    owner = copy_project(tmp_path_factory, tmp_path / "owner", models=["steady-model"])
    params = hub_params(owner)
    build_both(owner, params)
    publish(owner, params)
    main_before = stub.repo("dataset", DATASET_REPO).head

    third = copy_project(tmp_path_factory, tmp_path / "third", models=["drift.model"])
    env = {**os.environ, "VALUE_INERTIA_ROOT": str(third)}
    done = subprocess.run(
        [sys.executable, "-m", "value_inertia", "submit", "--to", DATASET_REPO],
        cwd=third,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == (
        f"{stub.url}/datasets/{DATASET_REPO}/discussions/1"
    )
    repo = stub.repo("dataset", DATASET_REPO)
    assert repo.head == main_before  # main is untouched until a maintainer merges
    pr_board = remote_frame(stub, BOARD, "refs/pr/1")
    assert sorted(set(pr_board["model"])) == ["drift.model", "steady-model"]

    verdict = verify_submission(DATASET_REPO, 1, third)
    assert verdict["ok"] is True and verdict["checked"] == 2 and verdict["mismatches"] == []

    # A tampered submission: one dimension's inertia edited in the submitted metrics table.
    folder = paths.hub_dir(third) / "dataset"
    metrics = pd.read_parquet(folder / "data/metrics/metrics.parquet")
    hit = (metrics["group"] == "Harm") & (metrics["model"] == "drift.model")
    metrics.loc[hit, "inertia"] = metrics.loc[hit, "inertia"] + 0.05
    path = folder / "data/metrics/metrics.parquet"
    write_table(
        pa.Table.from_pandas(metrics, schema=pq.read_schema(path), preserve_index=False), path
    )
    tampered = submit(third, DATASET_REPO)
    assert tampered["pr_num"] == 2
    bad = verify_submission(DATASET_REPO, 2, third)
    assert bad["ok"] is False
    assert [(m["group"], m["metric"]) for m in bad["mismatches"]] == [("Harm", "inertia")]
    assert bad["mismatches"][0]["submitted"] == pytest.approx(
        bad["mismatches"][0]["recomputed"] + 0.05
    )

    # The CLI: verify-submission exits 1 and names the mismatching row.
    done = subprocess.run(
        [sys.executable, "-m", "value_inertia", "verify-submission", DATASET_REPO, "--pr", "2"],
        cwd=third,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert '"group": "Harm"' in done.stdout and "1 mismatching row(s)" in done.stdout
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
