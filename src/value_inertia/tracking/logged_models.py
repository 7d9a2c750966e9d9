"""A model's MLflow logged model (one per model name and identity), to which the
stage runs of the model link their metrics."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from value_inertia.core import paths
from value_inertia.core.config import ModelParams
from value_inertia.core.redaction import redact
from value_inertia.tracking.provenance import params_hash


def _model_spec(model: str, root: Path) -> dict[str, Any] | None:
    try:
        spec = json.loads((paths.model_specs_dir(root) / f"{model}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return spec if isinstance(spec, dict) else None


def model_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What decides a model's answers (``ModelParams.identity``) from its spec file."""
    try:
        return ModelParams.model_validate(dict(spec)).identity()
    except Exception:  # a spec from another version: fall back to the spec itself
        return dict(spec)


def logged_model_id(mlflow: Any, experiment_id: str, model: str, root: Path) -> str | None:
    """The MLflow logged model of ``model`` (one per name and identity), created once.

    The model runs outside MLflow (embedded GGUF or an endpoint), so it is an
    *external* model: its params are the identity, tags the identity hash.
    """
    spec = _model_spec(model, root)
    if spec is None:
        return None
    identity = model_identity(spec)
    digest = params_hash(identity)
    # MLflow refuses / : . % " ' in model names; the tag keeps the real name
    name = "".join("-" if c in "/:.%\"'" else c for c in model)
    found = mlflow.search_logged_models(
        experiment_ids=[experiment_id],
        filter_string=f"name = '{name}' AND tags.identity_hash = '{digest}'",
        max_results=1,
        output_format="list",
    )
    if found:
        return found[0].model_id
    created = mlflow.create_external_model(
        name=name,
        tags={"identity_hash": digest, "backend": str(spec.get("backend")), "model": model},
        params={k: redact(str(v)) for k, v in identity.items()},
        model_type="language model",
        experiment_id=experiment_id,
    )
    return created.model_id
