"""Check ``params.yaml`` and the inputs it names before any stage runs.

Under ``dvc repro`` the ``validate`` stage runs first and every other stage
depends on its output. DVC removes a stage's outputs only right before it runs
that stage, so a bad params file stops the pipeline here, before anything that
was already computed is deleted (see dvc.yaml).

The output (``data/validated/params.json``) does not change with the params:
a valid change re-runs only the stages whose own params changed, as before.
"""

from __future__ import annotations

import json
from pathlib import Path

from value_inertia.core import paths
from value_inertia.core.config import ConfigError, Params, load_params
from value_inertia.core.table_io import write_text_atomic
from value_inertia.core.yamlio import load_yaml
from value_inertia.design.personas import load_schema
from value_inertia.design.questionnaires import load_questionnaires

CHECKS = (
    "params.yaml against the configuration schema",
    "persona attribute schema",
    "questionnaires named in prompts.questionnaires",
    "cluster.color_attribute is a persona attribute",
)


def validated_path(root: Path | None = None) -> Path:
    return (root or paths.project_root()) / "data" / "validated" / "params.json"


def check_params(params: Params, root: Path) -> None:
    """Cross-checks that need the input files (each raises a one-line :class:`ConfigError`)."""
    schema = load_schema(root / params.personas.schema_path)
    load_questionnaires(params.prompts.questionnaires, root)
    attribute = params.cluster.color_attribute
    if attribute not in schema.names:
        raise ConfigError(
            f"{params._source}: cluster.color_attribute: {attribute!r} is not a persona "
            f"attribute; allowed: {', '.join(schema.names)}"
        )


def check_models_mapping(data: object, source: str) -> None:
    """``models`` must be a mapping keyed by model name: dvc.yaml's ``foreach: ${models}``
    names the per-model stages by its keys, and a list fails there (``Could not find
    'key'``), after this stage, so it is refused here with the form to write."""
    models = data.get("models") if isinstance(data, dict) else None
    if isinstance(models, list):
        first = models[0] if models and isinstance(models[0], dict) else {}
        name = first.get("name") or "my-model"
        raise ConfigError(
            f"{source}: models: is a list, but dvc.yaml's foreach needs a mapping keyed by "
            f"model name; write each entry as `<name>:` with its keys below it, e.g. "
            f"`models: {{{name}: {{backend: embedded, ...}}}}` (README: Models)"
        )


def validate(params_file: Path | None = None) -> Path:
    """Load and check the params; write the (params-independent) marker file."""
    root = paths.project_root()
    params = load_params(params_file)
    check_models_mapping(load_yaml(Path(params._source)), params._source)
    check_params(params, root)
    out = validated_path(root)
    record = {"valid": True, "file": "params.yaml", "checks": list(CHECKS)}
    text = json.dumps(record, indent=2) + "\n"
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        write_text_atomic(text, out)
    return out
