"""Design stages: personas, prompts, model specs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from value_inertia.core import paths
from value_inertia.core.config import Params
from value_inertia.core.table_io import read_frame, write_table, write_text_atomic
from value_inertia.design.personas import build_personas, load_schema
from value_inertia.design.prompts import build_prompts
from value_inertia.design.questionnaires import load_questionnaires
from value_inertia.tracking.runs import stage_run

log = logging.getLogger(__name__)


def run_personas(params: Params) -> Path:
    root = paths.project_root()
    schema = load_schema(root / params.personas.schema_path)
    table = build_personas(schema, params.personas.n, params.personas.seeds)
    out = paths.personas_path(root)
    with stage_run("personas", {"personas": params.personas.model_dump(by_alias=True)}) as ml:
        write_table(table, out)
        ml.log_metrics({"personas": table.num_rows, "seeds": len(params.personas.seeds)})
    return out


def run_prompts(params: Params) -> Path:
    root = paths.project_root()
    questionnaires = load_questionnaires(params.prompts.questionnaires, root)
    personas = read_frame(paths.personas_path(root), "personas")
    table = build_prompts(params.prompts, questionnaires, personas)
    out = paths.prompts_path(root)
    with stage_run("prompts", {"prompts": params.prompts.model_dump()}) as ml:
        write_table(table, out)
        conditions = table.column("condition").to_pylist()
        variants = table.column("variant").to_pylist()
        ml.log_metrics(
            {
                **{f"prompts.{v}": variants.count(v) for v in params.prompts.variants},
                "prompts": table.num_rows,
                "persona_prompts": conditions.count("persona"),
                "baseline_prompts": conditions.count("baseline"),
            }
        )
    return out


def run_models(params: Params) -> Path:
    """One JSON spec per model (``data/models/<name>.json``).

    ``evaluate@<model>`` depends on its own spec file instead of the whole
    ``models`` list, so adding or changing one model re-runs only that model.
    """
    out = paths.model_specs_dir(paths.project_root())
    out.mkdir(parents=True, exist_ok=True)
    wanted = {f"{m.name}.json" for m in params.models}
    for stale in out.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    for m in params.models:
        write_text_atomic(
            json.dumps(m.model_dump(), indent=2, sort_keys=True) + "\n", out / f"{m.name}.json"
        )
    return out
