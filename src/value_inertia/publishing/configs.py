"""The dataset's configs: one per table, and one per model identity for its answers.

A config is ``(name, path, description)``; ``path`` is a file or a pattern of
files (``data/responses/<model_key>/*.parquet``) as the Hub's ``data_files`` takes it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from value_inertia.publishing.folders import config_slug, model_slugs

FIXED_CONFIGS: list[tuple[str, str, str]] = [
    (
        "leaderboard",
        "data/leaderboard/leaderboard.parquet",
        "one row per result (model, questionnaire, variant, protocol), ranked, with provenance",
    ),
    (
        "metrics",
        "data/metrics/metrics.parquet",
        "long format: one row per (result, level, group) with CIs and distributions",
    ),
    ("models", "data/models/models.parquet", "the models: public id, revision, licence, mode"),
    ("personas", "data/personas/personas.parquet", "one row per persona (WVS attributes)"),
    ("prompts", "data/prompts/prompts.parquet", "one row per prompt sent"),
    ("clusters", "data/clusters/clusters.parquet", "persona clusters per result"),
    (
        "quality",
        "data/quality/quality.parquet",
        "quality report per result: alpha and omega, position bias, mode agreement, verdict",
    ),
    (
        "cluster_assignments",
        "data/clusters/assignments.parquet",
        "cluster and PCA coordinates per (result, persona)",
    ),
]
PER_MODEL = {"responses": "raw responses of {m}", "parsed": "parsed answers (p_1..p_6) of {m}"}


def model_names_of(folder: Path) -> dict[str, str]:
    """``{model_key: display name}`` from the dataset's models table (empty without one)."""
    path = Path(folder) / "data/models/models.parquet"
    if not path.exists():
        return {}
    models = pd.read_parquet(path, columns=["model_key", "name"])
    return {str(k): str(n) for k, n in zip(models["model_key"], models["name"], strict=True)}


def configs_of(
    rows: Mapping[str, int], names: Mapping[str, str] | None = None
) -> list[tuple[str, str, str]]:
    """``(config name, path, description)`` of every table in the manifest, fixed ones first.

    A model's responses and parsed answers are one config per model identity
    (``data/<kind>/<model_key>/*.parquet``: every questionnaire, variant and protocol
    of that model, one file each), named ``<kind>_<display name>`` (``names``: display
    name by ``model_key``); two identities under one name get their key's end added.
    """
    names = names or {}
    out = [c for c in FIXED_CONFIGS if c[1] in rows]
    for kind, text in PER_MODEL.items():
        files = sorted(p for p in rows if p.startswith(f"data/{kind}/"))
        keys = sorted({p.split("/")[2] for p in files if len(p.split("/")) == 4})
        labels = {key: names.get(key, key) for key in keys}
        plain = {key: config_slug(label) for key, label in labels.items()}
        for key in keys:
            twins = [k for k in keys if plain[k] == plain[key]]
            slug = plain[key] if len(twins) == 1 else f"{plain[key]}-{key[-6:]}"
            out.append(
                (f"{kind}_{slug}", f"data/{kind}/{key}/*.parquet", text.format(m=labels[key]))
            )
        flat = [p for p in files if len(p.split("/")) == 3]  # an earlier version's files
        slugs = model_slugs(Path(p).stem for p in flat)
        for path in flat:
            name = Path(path).stem
            out.append((f"{kind}_{slugs[name]}", path, text.format(m=name)))
    return out


def config_rows(rows: Mapping[str, int], path: str) -> int:
    """Rows of a config: of its file, or of every file its pattern matches."""
    return sum(n for p, n in rows.items() if fnmatch.fnmatch(p, path))


def config_files(folder: Path, path: str) -> list[Path]:
    return sorted(Path(folder).glob(path))
