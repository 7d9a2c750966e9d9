"""One function per pipeline stage: read inputs, call the library, write outputs.

The CLI and the thin ``stages/*.py`` entry points call these. Every input is
validated before anything is written, so a bad input never replaces an
existing output.
"""

from __future__ import annotations

import sys
from pathlib import Path

from value_inertia import paths
from value_inertia.config import ModelParams, Params
from value_inertia.personas import build_personas, load_schema
from value_inertia.prompts import build_prompts
from value_inertia.questionnaires import load_questionnaires
from value_inertia.tables import read_frame, write_table
from value_inertia.tracking import stage_run


def _root() -> Path:
    return paths.project_root()


def run_personas(params: Params) -> Path:
    root = _root()
    schema = load_schema(root / params.personas.schema_path)
    table = build_personas(schema, params.personas.n, params.personas.seeds)
    out = paths.personas_path(root)
    with stage_run("personas", {"personas": params.personas.model_dump(by_alias=True)}) as ml:
        write_table(table, out)
        ml.log_metrics({"personas": table.num_rows, "seeds": len(params.personas.seeds)})
    return out


def run_prompts(params: Params) -> Path:
    root = _root()
    questionnaires = load_questionnaires(params.prompts.questionnaires, root)
    personas = read_frame(paths.personas_path(root), "personas")
    table = build_prompts(params.prompts, questionnaires, personas)
    out = paths.prompts_path(root)
    with stage_run("prompts", {"prompts": params.prompts.model_dump()}) as ml:
        write_table(table, out)
        conditions = table.column("condition").to_pylist()
        ml.log_metrics(
            {
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
    import json

    from value_inertia.tables import write_text_atomic

    out = paths.model_specs_dir(_root())
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


class EvaluationFailed(Exception):
    """More requests failed than ``evaluate.max_failure_fraction`` allows."""


def make_backend(model: ModelParams, params: Params):  # noqa: ANN201 - Backend protocol
    if model.backend == "embedded":
        from value_inertia.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(
            model, n_ctx=params.evaluate.n_ctx, n_threads=params.evaluate.n_threads
        )
    from value_inertia.backends.openai_backend import OpenAIBackend

    return OpenAIBackend(model)


def run_evaluate(params: Params, model_name: str, *, progress: bool = True) -> Path:
    from value_inertia.evaluation import materialise_responses, run_evaluation
    from value_inertia.store import ResponseStore

    root = _root()
    model = params.model(model_name)
    model.api_key()  # a missing key stops here, before anything is sent
    prompts = read_frame(paths.prompts_path(root), "prompts")
    out = paths.responses_path(model.name, root)
    logged = {"model": model.model_dump(), "evaluate": params.evaluate.model_dump()}
    with (
        ResponseStore(paths.store_path(model.name, root)) as store,
        stage_run("evaluate", logged, model=model.name) as ml,
    ):
        summary = run_evaluation(
            model, prompts, store, lambda: make_backend(model, params), progress=progress
        )
        table, counts = materialise_responses(model, prompts, store)
        write_table(table, out)
        failed = counts.get("failed", 0) + counts.get("missing", 0)
        ml.log_metrics({**summary.metrics(), "responses_failed": failed})
        ml.log_artifact(str(out), artifact_path="responses")
        frame = table.to_pandas()
        ml.log_input(
            ml.data.from_pandas(frame, source=str(out), name=f"responses-{model.name}"),
            context="responses",
        )
        print(summary.line(), file=sys.stderr)
        fraction = failed / max(table.num_rows, 1)
        if fraction > params.evaluate.max_failure_fraction:
            raise EvaluationFailed(
                f"{model.name}: {failed} of {table.num_rows} responses failed "
                f"({fraction:.1%} > evaluate.max_failure_fraction="
                f"{params.evaluate.max_failure_fraction:.1%}); answers so far are kept in "
                f"{paths.store_path(model.name, root)}; run the stage again to retry the failures"
            )
    return out
