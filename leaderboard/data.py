"""Where the leaderboard app's data comes from, and reading it into a :class:`Board`.

Where the data comes from, first match wins:

1. ``--data DIR``: a folder holding ``leaderboard/leaderboard.parquet`` (and
   ``metrics/metrics.parquet``, ``metric_registry.json``, ``legend.md``, ``plots/*.png``): the
   ``data/`` folder of a published dataset, or a project's ``data/`` folder;
2. ``--dataset ORG/NAME`` or the ``VALUE_INERTIA_DATASET`` environment variable:
   a Hub dataset repo made by ``value-inertia``'s publish stage (downloaded with
   huggingface_hub; ``HF_TOKEN`` and ``HF_ENDPOINT`` are honoured);
3. ``data/`` next to this package (a Space without a dataset repo), one folder up
   (the repository or the Space: ``leaderboard/`` -> ``data/``) or in the working directory;
4. the dataset repo named in ``app_config.json`` next to this package or one folder up.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
DATASET_ENV = "VALUE_INERTIA_DATASET"
HUB = "https://huggingface.co"
DOWNLOAD_PATTERNS = [
    "data/leaderboard/leaderboard.parquet",
    "data/metrics/metrics.parquet",
    "data/metrics/raw/*.json",
    "data/metric_registry.json",
    "data/legend.md",
    "data/quality/raw/*.json",
    "data/plots/*.png",
]

# Used when the data comes without metric_registry.json (data written before the board
# published its registry): names, and the default columns of those boards.
FALLBACK_REGISTRY = {
    name: {"name": name, "label": name, "digits": 3, "description": "", "formula": ""}
    for name in (
        "inertia",
        "steerability",
        "top2",
        "top1",
        "parse_rate",
        "letter_mass",
        "debiased_inertia",
        "mean_rating",
        "mrat",
    )
}
for _order, _name in enumerate(
    ("inertia", "debiased_inertia", "steerability", "top2", "parse_rate")
):
    FALLBACK_REGISTRY[_name] |= {"shown_by_default": True, "column_order": _order}
FALLBACK_REGISTRY["inertia"]["summary"] = "value_and_ci"
# the optional metric columns of those boards (leaderboard.selection.optional_metrics)
FALLBACK_REGISTRY["top1"]["scopes"] = ["overall"]
FALLBACK_REGISTRY["letter_mass"]["scopes"] = ["result"]


@dataclass
class Board:
    """The leaderboard table and what comes with it, and where it came from."""

    frame: pd.DataFrame
    plots_dir: Path | None
    source: str
    dataset_repo: str | None = None
    metrics: pd.DataFrame | None = None
    registry: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_dir: Path | None = None
    legend: str | None = None  # the published legend (legend.md), shown as it is


def hub_url() -> str:
    """The Hub's address: ``HF_ENDPOINT`` when set (a mirror or a private Hub)."""
    return (os.environ.get("HF_ENDPOINT") or HUB).rstrip("/")


def read_app_config(folders: tuple[Path, ...] = (HERE, HERE.parent)) -> dict[str, Any]:
    """``app_config.json`` next to this package or one folder up (a Space's root)."""
    path = next((f / "app_config.json" for f in folders if (f / "app_config.json").is_file()), None)
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def find_data_dir(candidates: list[Path]) -> Path | None:
    for folder in candidates:
        if (folder / "leaderboard" / "leaderboard.parquet").is_file():
            return folder
    return None


def download_dataset(repo_id: str) -> Path:
    """The ``data/`` folder of the dataset repo (tables the app shows and figures), downloaded."""
    from huggingface_hub import snapshot_download

    local = snapshot_download(
        repo_id=repo_id,
        repo_type="dataset",
        allow_patterns=DOWNLOAD_PATTERNS,
        token=os.environ.get("HF_TOKEN") or None,
    )
    return Path(local) / "data"


def read_registry(folder: Path) -> dict[str, dict[str, Any]]:
    """The metric registry published with the data: ``metric_registry.json`` of a dataset's
    ``data/`` folder, or the one the leaderboard stage writes beside the board; entries
    it lacks come from :data:`FALLBACK_REGISTRY`."""
    candidates = (folder / "metric_registry.json", folder / "leaderboard" / "metric_registry.json")
    path = next((p for p in candidates if p.is_file()), candidates[0])
    records = FALLBACK_REGISTRY
    if path.is_file():
        try:
            records = {r["name"]: r for r in json.loads(path.read_text(encoding="utf-8"))}
        except (json.JSONDecodeError, KeyError, TypeError):
            records = FALLBACK_REGISTRY
    return {
        **FALLBACK_REGISTRY,
        **{n: {**FALLBACK_REGISTRY.get(n, {}), **r} for n, r in records.items()},
    }


def read_legend(folder: Path) -> str | None:
    """The legend published beside the registry (``legend.md``, rendered by the package:
    what each metric means and how the board is ranked); None for data published without
    it."""
    for path in (folder / "legend.md", folder / "leaderboard" / "legend.md"):
        if path.is_file():
            return path.read_text(encoding="utf-8").rstrip("\n") or None
    return None


def with_defaults(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns older or local leaderboards lack, filled so every view works on them."""
    frame = frame.copy()
    defaults = {
        "protocol_hash": "unspecified",
        "variant": "original",
        "rank_label": None,
        "inertia_ci_low": float("nan"),
        "inertia_ci_high": float("nan"),
        "model_key": None,
        "verdict": None,  # no quality report: shown as not measured
    }
    for column, value in defaults.items():
        if column not in frame.columns:
            frame[column] = value
    frame["protocol_hash"] = frame["protocol_hash"].fillna("unspecified").astype(str)
    # a project's own leaderboard has no identity column: its display names are its keys
    frame["model_key"] = (
        frame["model_key"].astype(object).where(frame["model_key"].notna(), frame["model"])
    )
    labels = frame["rank_label"].astype(object)
    frame["rank_label"] = labels.where(labels.notna(), frame["rank"].astype(str))
    return frame


def load_board(data_dir: Path | None = None, dataset: str | None = None) -> Board:
    """Find and read the leaderboard (see the module docstring for the order)."""
    config = read_app_config()
    dataset = dataset or os.environ.get(DATASET_ENV) or None
    link_repo = dataset or config.get("dataset_repo") or None
    if data_dir is not None:
        folder = find_data_dir([Path(data_dir)])
        if folder is None:
            raise FileNotFoundError(f"{data_dir}: no leaderboard/leaderboard.parquet in it")
        source = str(folder)
    elif dataset:
        folder = download_dataset(dataset)
        source = f"{hub_url()}/datasets/{dataset}"
    else:
        folder = find_data_dir([HERE / "data", HERE.parent / "data", Path.cwd() / "data"])
        source = str(folder)
        if folder is None and link_repo:
            folder = download_dataset(link_repo)
            source = f"{hub_url()}/datasets/{link_repo}"
        if folder is None:
            raise FileNotFoundError(
                "no leaderboard found: run `dvc repro` (writes data/leaderboard/), pass "
                f"--data DIR, or --dataset ORG/NAME (or set {DATASET_ENV})"
            )
    frame = with_defaults(pd.read_parquet(folder / "leaderboard" / "leaderboard.parquet"))
    metrics_path = folder / "metrics" / "metrics.parquet"
    plots = folder / "plots"
    return Board(
        frame=frame,
        plots_dir=plots if plots.is_dir() else None,
        source=source,
        dataset_repo=link_repo,
        metrics=pd.read_parquet(metrics_path) if metrics_path.is_file() else None,
        registry=read_registry(folder),
        data_dir=folder,
        legend=read_legend(folder),
    )


def result_stem(row: Any) -> str:
    """``<questionnaire>__<variant>__<protocol>``: a published result's file stem."""
    return f"{row.get('questionnaire')}__{row.get('variant')}__{row.get('protocol_hash')}"


def raw_json(board: Board, kind: str, row: Any) -> dict[str, Any]:
    """The JSON of ``kind`` (metrics, quality, clusters, variants) behind one board row.

    Published data keys it by identity and protocol (``<kind>/raw/<model_key>/<stem>.json``,
    variants: ``variants/<model_key>/<stem>.json``); a project's own ``data/`` folder by
    name (``<kind>/<model>__<questionnaire>.json``).
    """
    if board.data_dir is None or row is None:
        return {}
    key, stem = row.get("model_key"), result_stem(row)
    legacy = f"{row.get('model')}__{row.get('questionnaire')}.json"
    root = board.data_dir / kind
    for path in (root / "raw" / str(key) / f"{stem}.json", root / str(key) / f"{stem}.json",
                 root / "raw" / legacy, root / legacy):  # fmt: skip
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                return {}
            return data if isinstance(data, dict) else {}
    return {}
