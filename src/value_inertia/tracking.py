"""MLflow tracking: one run per stage (per model for per-model stages).

The tracking URI is ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///mlflow.db``
in the project root. Params are logged flattened (``personas.n``); secrets are
never among them (models carry only the *name* of their key variable) and every
logged string passes through :func:`value_inertia.redaction.redact`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from value_inertia.paths import project_root
from value_inertia.redaction import redact

EXPERIMENT = "value-inertia"


def tracking_uri(root: Path | None = None) -> str:
    return (
        os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{(root or project_root()) / 'mlflow.db'}"
    )


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``; lists of mappings use their ``name``."""
    out: dict[str, str] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{path}."))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for i, v in enumerate(value):
                out.update(flatten(v, f"{path}.{v.get('name', i)}."))
        else:
            out[path] = redact(json.dumps(value) if isinstance(value, list) else str(value))
    return out


def params_hash(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]


def git_commit(root: Path | None = None) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root or project_root(),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@contextmanager
def stage_run(stage: str, params: Mapping[str, Any], model: str | None = None) -> Iterator[Any]:
    """Start an MLflow run for a stage; yields the ``mlflow`` module for logging."""
    import mlflow

    root = project_root()
    mlflow.set_tracking_uri(tracking_uri(root))
    if (
        mlflow.get_experiment_by_name(EXPERIMENT) is None
        and "MLFLOW_TRACKING_URI" not in os.environ
    ):
        # artifacts beside mlflow.db in the project root, wherever the stage was started
        mlflow.create_experiment(EXPERIMENT, artifact_location=(root / "mlruns").as_uri())
    mlflow.set_experiment(EXPERIMENT)
    dvc_stage = f"{stage}@{model}" if model else stage
    tags = {
        "stage": stage,
        "dvc_stage": dvc_stage,
        "git_commit": git_commit(root),
        "params_hash": params_hash(params),
    }
    if model:
        tags["model"] = model
    with mlflow.start_run(run_name=dvc_stage, tags=tags):
        mlflow.log_params(flatten(params))
        yield mlflow
