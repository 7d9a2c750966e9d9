"""A stage run's name, tags and params as MLflow shows them.

The tags are ``stage``, ``dvc_stage``, ``dvc_exp``, ``git_commit``, ``git_dirty``,
``params_hash``, the result's ``model``, ``questionnaire``, ``variant``,
``protocol_hash`` and ``result`` (where the stage has them), ``prompt_set`` (the
digest of the prompt table) and any the stage adds; every value is redacted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from value_inertia.core import paths
from value_inertia.core.redaction import redact
from value_inertia.tracking.provenance import file_digest, git_commit, git_dirty, params_hash


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


def stage_address(
    stage: str, model: str | None, questionnaire: str | None, variant: str | None
) -> str:
    """The DVC stage name (``DVC_STAGE`` under DVC; the same form when run by hand)."""
    if os.environ.get("DVC_STAGE"):
        return os.environ["DVC_STAGE"]
    key = "-".join(p for p in (model, questionnaire) if p)
    return f"{stage}@{key}" if key else stage


def result_label(model: str | None, questionnaire: str | None, variant: str | None) -> str:
    """``gemma3-270m / mfq30`` (``(shuffled)`` added for other prompt variants); "" for a
    stage of no model (personas, prompts, leaderboard)."""
    label = " / ".join(p for p in (model, questionnaire) if p)
    if label and variant and variant != "original":
        label += f" ({variant})"
    return label


def run_name(stage: str, model: str | None, questionnaire: str | None, variant: str | None) -> str:
    """``gemma3-270m / mfq30 · analyze``: what the run holds first, so that the runs table,
    which cuts long names off at the right, still shows it; the stage alone for the
    stages of no model."""
    label = result_label(model, questionnaire, variant)
    return f"{label} · {stage}" if label else stage


def stage_tags(
    stage: str,
    params: Mapping[str, Any],
    root: Path,
    model: str | None,
    questionnaire: str | None,
    variant: str | None,
    protocol_hash: str | None,
    tags: Mapping[str, str] | None,
) -> dict[str, str]:
    """The tags of a stage run (see the module docstring), ``tags`` last."""
    dirty = git_dirty(root)
    exp = os.environ.get("DVC_EXP_NAME") or ("workspace" if os.environ.get("DVC_STAGE") else "")
    base = {
        "stage": stage,
        "dvc_stage": stage_address(stage, model, questionnaire, variant),
        "dvc_exp": exp or "none",
        "git_commit": git_commit(root),
        "git_dirty": "unknown" if dirty is None else str(dirty).lower(),
        "params_hash": params_hash(params),
    }
    for key, value in (
        ("model", model),
        ("questionnaire", questionnaire),
        ("variant", variant),
        ("protocol_hash", protocol_hash),
        ("result", result_label(model, questionnaire, variant)),
    ):
        if value:
            base[key] = value
    if paths.prompts_path(root).exists() and stage != "prompts":
        base["prompt_set"] = file_digest(paths.prompts_path(root))
    base |= {k: redact(str(v)) for k, v in (tags or {}).items()}
    return base
