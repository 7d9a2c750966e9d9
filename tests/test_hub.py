"""Hub publishing: the dataset and Space folders and the dry run (pushes: test_hub_push.py).

Pushes go to :mod:`tests.hub_stub`, a local stand-in for the Hub API (the Hub
itself cannot be reached from the tests): the assertions are about what
``huggingface_hub`` actually sent over the wire and what the Hub ends up with.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import gradio
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.hub_helpers import (
    BOARD,
    DATASET_REPO,
    EXPECTED_CONFIGS,
    SPACE_REPO,
    TOKEN,
    all_text,
    board_ids,
    build_both,
    copy_project,
    read_front_matter,
    readable_text,
    run_quality_stage,
    with_hub,
)
from tests.leaderboard_data import (
    MODELS,
    PRIVATE_BASE_URL,
    PRIVATE_KEY_ENV,
    PRIVATE_MODEL_PATH,
    REPO,
)
from tests.quality_tables import minimal_quality_report
from value_inertia.core import paths
from value_inertia.core.config import load_params
from value_inertia.core.errors import InputError
from value_inertia.publishing import card as card_mod
from value_inertia.publishing.dataset import build_dataset_folder
from value_inertia.publishing.folders import folder_files, model_slugs
from value_inertia.publishing.push import publish
from value_inertia.publishing.space import build_space_folder
from value_inertia.publishing.tables.identity import plot_file, result_file


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(tmp_path_factory, tmp_path / "proj")


RELATIVE_GGUF = "models/judge-q4_k_m.gguf"
PRIVATE_HOST = PRIVATE_BASE_URL.split("//", 1)[1].split(":", 1)[0]

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
    # one licence, the same in the metadata and LICENSE.md
    licence = (folder / "LICENSE.md").read_text(encoding="utf-8")
    assert meta["license"] == card_mod.LICENSE_ID and "license_name" not in meta
    assert f"`{card_mod.LICENSE_ID}`" in licence and card_mod.LICENSE_NAME in licence
    assert card_mod.LICENSE_NAME in card and "CC BY 4.0" not in licence + card
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
    ids = board_ids(folder)
    variants_file = result_file("variants", *ids["steady-model", "mfq30"], "json")
    assert json.loads((folder / variants_file).read_text())["note"]

    # The card: leaderboard, the registry's legend, the scale, limitations, citations, loading
    assert "## Leaderboard" in card and "| not ranked (n = 8) | steady-model |" in card
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
    key, q, variant, protocol = ids["steady-model", "mfq30"]
    assert (folder / plot_file(key, q, variant, protocol, "macro")).is_file()
    assert (folder / result_file("metrics/raw", *ids["drift.model", "pvqrr"], "json")).is_file()


def test_published_folders_hold_nothing_private(project: Path) -> None:
    """No served model path, base URL, host name, key variable name or local path is published."""
    params = load_params(project / "params.yaml")
    quality = project / "data" / "quality"
    quality.mkdir(parents=True, exist_ok=True)
    report = minimal_quality_report(
        model="steady-model",
        verdict="usable: alpha 0.91",
        alpha=0.91,
        source=PRIVATE_MODEL_PATH,  # keys beyond the contract are published too: scrubbed
        judge=RELATIVE_GGUF,  # a relative path with a weights extension
    )
    (quality / "steady-model__mfq30.json").write_text(json.dumps(report))
    # protocol fields written by the analysis may carry the model's identity: never published
    metrics_file = paths.metrics_dir(project) / "drift.model__pvqrr.json"
    metrics = json.loads(metrics_file.read_text())
    metrics["protocol"] = {
        "model": PRIVATE_MODEL_PATH,
        "base_url": PRIVATE_BASE_URL,
        "judge": {"model": RELATIVE_GGUF},
        "n": 4,
    }
    metrics["protocol_hash"] = "feedfacecafebeef"
    metrics_file.write_text(json.dumps(metrics))
    # request errors name the served model (a path, or a plain id), the host and the URL
    planted = [
        f"Error code: 404 - The model `{PRIVATE_MODEL_PATH}` does not exist.",
        f"HTTPConnectionPool(host='{PRIVATE_HOST}', port=8011): Max retries exceeded",
        f"POST {PRIVATE_BASE_URL}/chat/completions: 503",
        f"cannot load {RELATIVE_GGUF}: no such file",
        "model steady-model-weights is not served here",
    ]
    for model in ("wobbly-model", "steady-model"):
        path = paths.responses_path(model, project)
        table = pq.read_table(path)
        errors = (planted * (table.num_rows // len(planted) + 1))[: table.num_rows]
        index = table.column_names.index("error")
        pq.write_table(table.set_column(index, table.field(index), pa.array(errors)), path)
    build_both(project, params)
    folder = paths.hub_dir(project) / "dataset"
    board = pd.read_parquet(folder / BOARD).set_index(["model", "questionnaire"])
    protocol = json.loads(board.at[("drift.model", "pvqrr"), "protocol"])
    assert protocol == {"model": "[local]", "judge": {"model": "[local]"}, "n": 4}
    assert board.at[("drift.model", "pvqrr"), "protocol_hash"] == "feedfacecafebeef"
    assert board.at[("steady-model", "mfq30"), "verdict"] == "usable: alpha 0.91"
    assert pd.isna(board.at[("drift.model", "mfq30"), "verdict"])
    quality_file = result_file("quality/raw", *board_ids(folder)["steady-model", "mfq30"], "json")
    published = json.loads((folder / quality_file).read_text())
    assert published == {**report, "source": "[local]", "judge": "[local]"}
    responses = sorted((folder / "data/responses").rglob("*.parquet"))
    wobbly = board.loc[("wobbly-model", "mfq30"), "model_key"]
    assert responses and all(p.parent.name in set(board["model_key"]) for p in responses)
    errors = pd.concat([pd.read_parquet(p)["error"] for p in responses if p.parent.name == wobbly])
    assert set(errors) == {
        "Error code: 404 - The model `[local]` does not exist.",
        "HTTPConnectionPool(host=[local], port=8011): Max retries exceeded",
        "POST [local]: 503",
        "cannot load [local]: no such file",
        "model [local] is not served here",
    }
    build_space_folder(
        project, paths.hub_dir(project) / "space-snapshot", None, paths.hub_dir(project) / "dataset"
    )
    text = readable_text(paths.hub_dir(project))
    host = PRIVATE_BASE_URL.split("//", 1)[1].split(":", 1)[0]
    for needle in (
        PRIVATE_MODEL_PATH,
        PRIVATE_BASE_URL,
        RELATIVE_GGUF,
        "drift-q4.gguf",
        "steady-model-weights",
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


SPACE_BOARD = """
import json
import leaderboard
from leaderboard.data import load_board
from leaderboard.figures import figures_for
from leaderboard.selection import default_protocol, model_choices
board = load_board()
protocol = default_protocol(board.frame, "mfq30")
key = dict(model_choices(board, "mfq30", protocol))["steady-model"]
print(json.dumps({"package": leaderboard.__file__, "source": board.source,
                  "rows": len(board.frame),
                  "first_figure": figures_for(board, key, "mfq30", protocol)[0][0]}))
"""


def run_space_app(folder: Path) -> dict:
    """The Space's own copy of the app, imported as Spaces do (the Space root on sys.path)."""
    env = {k: v for k, v in os.environ.items() if k != "VALUE_INERTIA_DATASET"}
    done = subprocess.run(
        [sys.executable, "-c", SPACE_BOARD],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_space_folder(project: Path) -> None:
    params = load_params(project / "params.yaml")
    hub = paths.hub_dir(project)
    build_dataset_folder(project, hub / "dataset", params)

    # With a dataset repo the Space carries no data: the app reads the Hub dataset.
    with_repo = build_space_folder(project, hub / "space", DATASET_REPO, hub / "dataset")
    folder = hub / "space"
    package = sorted(p.name for p in (REPO / "leaderboard").glob("*.py"))
    assert "app.py" in package and "data.py" in package
    for name in package:  # the app package, copied whole
        copied = (folder / "leaderboard" / name).read_bytes()
        assert copied == (REPO / "leaderboard" / name).read_bytes(), name
    assert "from leaderboard.app import main" in (folder / "app.py").read_text()
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
        plot_file(*board_ids(hub / "dataset")["wobbly-model", "mfq30"], "cohens_d"),
    } <= set(snapshot["files"])
    seen = run_space_app(hub / "space2")
    assert seen["package"] == str(hub / "space2" / "leaderboard" / "__init__.py")
    assert seen["source"] == str(hub / "space2" / "data") and seen["rows"] == 6
    assert seen["first_figure"].endswith("__macro.png")


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
