"""Where the runs go: the tracking URI and the project's MLflow experiment.

The tracking URI is ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///mlflow.db``
in the project root (for ``dvc exp run --temp``/queued experiments, the root of
the repository that DVC names in ``DVC_ROOT``, so their runs are not lost with
the temporary workspace).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from value_inertia.core.paths import project_root

EXPERIMENT = "value-inertia"
# MLflow 3 opens an experiment on its runs (not the GenAI overview) for this kind
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def tracking_root(root: Path | None = None) -> Path:
    """Where ``mlflow.db`` lives: DVC's repository root when DVC names one, else the project."""
    dvc_root = os.environ.get("DVC_ROOT")
    return Path(dvc_root).resolve() if dvc_root else (root or project_root())


def tracking_uri(root: Path | None = None) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{tracking_root(root) / 'mlflow.db'}"


def ensure_experiment(client: Any, root: Path) -> str:
    """The id of the :data:`EXPERIMENT` (created on first use, of :data:`EXPERIMENT_KIND`)."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        location = None
        if "MLFLOW_TRACKING_URI" not in os.environ:
            # artifacts beside mlflow.db, wherever the stage was started
            location = (tracking_root(root) / "mlruns").as_uri()
        try:
            return client.create_experiment(
                EXPERIMENT, artifact_location=location, tags=dict([EXPERIMENT_KIND])
            )
        except Exception:  # another process created it first
            experiment = client.get_experiment_by_name(EXPERIMENT)
            if experiment is None:
                raise
    if experiment.tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:
        client.set_experiment_tag(experiment.experiment_id, *EXPERIMENT_KIND)
    return experiment.experiment_id
