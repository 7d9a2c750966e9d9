"""Evaluation stages: ask a model every prompt (resumable), parse its answers."""

from __future__ import annotations

import logging
from pathlib import Path

from value_inertia.core import paths
from value_inertia.core.config import Params
from value_inertia.core.errors import RunFailure
from value_inertia.core.table_io import read_frame, write_table
from value_inertia.design.prompts import select_variants
from value_inertia.evaluation.cost import (
    Budget,
    estimator,
    payload_chars,
    spend_from_records,
    write_spend,
)
from value_inertia.evaluation.runner import (
    BudgetReached,
    materialise_responses,
    plan_requests,
    run_evaluation,
)
from value_inertia.evaluation.session import evaluation_session
from value_inertia.scoring.answer_table import apply_judge, parse_responses, to_table
from value_inertia.tracking.runs import stage_run

log = logging.getLogger(__name__)


class EvaluationFailed(RunFailure):
    """More requests failed than ``evaluate.max_failure_fraction`` allows."""


def run_evaluate(
    params: Params, model_name: str, *, progress: bool = True, limit: int | None = None
) -> Path:
    """Evaluate one model. ``limit``: a smoke test on the first N prompts only (the
    answers are stored and reused later; the responses table is not written)."""
    root = paths.project_root()
    model = params.model(model_name)
    prompts = select_variants(
        read_frame(paths.prompts_path(root), "prompts"), params.variants_for(model)
    )
    if limit is not None:
        prompts = prompts.head(limit)
    out = paths.responses_path(model.name, root)
    logged = {"model": model.model_dump(), "evaluate": params.evaluate.model_dump()}
    store_file = paths.store_path(model.name, root)
    with (
        # the key, the store and the weights are checked before the run starts
        evaluation_session(params, model, root) as session,
        stage_run(
            "evaluate",
            logged,
            model=model.name,
            partial=lambda: {f"answers_{k}": v for k, v in session.store.count().items()},
        ) as ml,
    ):
        store = session.store
        plan = plan_requests(model, prompts)
        budget = None
        if model.budget_usd is not None:
            requests = plan[0]
            answered = store.get_many(r.key for r in requests)
            done = [r for r in requests if answered.get(r.key, ("", {}))[0] == "ok"]
            est = estimator(
                model, [answered[r.key][1] for r in done], [payload_chars(r.payload) for r in done]
            )
            spent = spend_from_records(model, (rec for _, _, rec in store.iter_records()))
            budget = Budget(model, est, spent.cost_usd or 0.0)
        stopped: BudgetReached | None = None
        try:
            summary = run_evaluation(
                model,
                prompts,
                store,
                session.backend,
                progress=progress,
                plan=plan,
                budget=budget,
            )
        except BudgetReached as exc:
            stopped, summary = exc, exc.summary
        spend = spend_from_records(model, (rec for _, _, rec in store.iter_records()))
        write_spend(spend, root)
        spend_metrics: dict[str, float] = {
            "spend_tokens_in": spend.tokens_in,
            "spend_tokens_out": spend.tokens_out,
            "spend_requests": spend.requests,
        }
        if spend.cost_usd is not None:
            spend_metrics["spend_cost_usd"] = spend.cost_usd
        log.info(summary.line())
        if stopped is not None:
            ml.log_metrics({**summary.metrics(), **spend_metrics})
            raise EvaluationFailed(str(stopped))
        if limit is not None:
            ml.log_metrics({**summary.metrics(), **spend_metrics})
            if summary.failed or summary.stopped:
                raise EvaluationFailed(
                    f"{model.name}: smoke test on {len(prompts)} prompts: "
                    f"{summary.failed} requests failed"
                    + (f"; {summary.stopped}" if summary.stopped else "")
                    + (f"; errors: {summary.error_report()}" if summary.errors else "")
                )
            return store_file
        table, counts = materialise_responses(model, prompts, store, plan)
        write_table(table, out)
        failed, missing = counts.get("failed", 0), counts.get("missing", 0)
        ml.log_metrics(
            {
                **summary.metrics(),
                **spend_metrics,
                "responses_failed": failed,
                "responses_not_sent": missing,
            }
        )
        # the table itself, as an artifact (MLflow's dataset inputs infer a schema by
        # reading every row: seconds for large runs, see benchmarks/bench_resume.py)
        ml.log_artifact(str(out), artifact_path="responses")
        if model.answer_mode.repeats_share_request and int(prompts["repeat"].max()) > 0:
            log.info(
                "%s: logprobs mode: the repeats of a prompt share one request "
                "(the distribution is deterministic); the parsed table keeps one row each",
                model.name,
            )
        fraction = (failed + missing) / max(table.num_rows, 1)
        if fraction > params.evaluate.max_failure_fraction:
            why = ""
            if summary.stopped:
                why += f"; {summary.stopped}"
            if summary.errors:
                why += f"; errors: {summary.error_report()}"
            raise EvaluationFailed(
                f"{model.name}: {failed} of {table.num_rows} responses failed and "
                f"{missing} were not sent, {table.num_rows - failed - missing} answered "
                f"({fraction:.1%} unanswered > evaluate.max_failure_fraction="
                f"{params.evaluate.max_failure_fraction:.1%}){why}; answers so far are kept in "
                f"{store_file}; run the stage again to retry the failures"
            )
    return out


def run_parse(params: Params, model_name: str) -> Path:
    root = paths.project_root()
    model = params.model(model_name)
    responses = read_frame(paths.responses_path(model.name, root), f"evaluate (model {model.name})")
    prompts = select_variants(
        read_frame(paths.prompts_path(root), "prompts"), params.variants_for(model)
    )
    parsed = parse_responses(responses, prompts, params.parse.min_letter_mass)
    judged = 0
    if params.parse.judge is not None and model.answer_mode.reads_text:
        judge = params.model(params.parse.judge)
        # online: the parse stage waits for the judge's answers, whatever its transport
        with evaluation_session(params, judge, root, online=True) as session:
            parsed, judged = apply_judge(
                parsed, prompts, judge, session.store, session.backend, params.parse.judge_scope
            )
    out = paths.parsed_path(model.name, root)
    logged = {"parse": params.parse.model_dump(), "model": model.model_dump()}
    with stage_run("parse", logged, model=model.name) as ml:
        write_table(to_table(parsed), out)
        ok = parsed["rating"].notna()
        by_parser = parsed["parser"].value_counts().to_dict()
        ml.log_metrics(
            {
                "rows": len(parsed),
                "parse_rate": float(ok.mean()) if len(parsed) else 0.0,
                "judge_requests_sent": judged,
                **{f"decided_by_{k}": v for k, v in by_parser.items()},
            }
        )
        reasons = parsed.loc[~ok, "reason"].value_counts().to_dict()
        if reasons:
            ml.log_dict(reasons, "unparsed_reasons.json")
    log.info("%s: parse rate %.1f%% of %d answers", model.name, 100 * ok.mean(), len(parsed))
    return out
