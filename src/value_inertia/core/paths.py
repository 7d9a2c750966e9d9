"""Where the pipeline's inputs and outputs live, relative to the project root.

The project root is the working directory (DVC runs every stage from the
repository root) unless ``VALUE_INERTIA_ROOT`` names another one.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    return Path(os.environ.get("VALUE_INERTIA_ROOT") or Path.cwd()).resolve()


def questionnaire_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "questionnaires"


def personas_path(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "personas" / "personas.parquet"


def prompts_path(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "prompts" / "prompts.parquet"


def model_specs_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "models"


def responses_path(model: str, root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "responses" / f"{model}.parquet"


def store_path(model: str, root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "store" / f"{model}.sqlite"


def parsed_path(model: str, root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "parsed" / f"{model}.parquet"


def metrics_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "metrics"


def plots_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "plots"


def clusters_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "clusters"


def variants_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "variants"


def quality_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "quality"


def spend_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "spend"


def spend_path(model: str, root: Path | None = None) -> Path:
    return spend_dir(root) / f"{model}.json"


def leaderboard_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "leaderboard"


def hub_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "hub"
