"""One function per pipeline stage: read inputs, call the library, write outputs.

The CLI and the thin ``stages/*.py`` entry points call these. Every input is
validated before anything is written, so a bad input never replaces an
existing output.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from value_inertia.core import paths
from value_inertia.core.config import ConfigError, ModelParams, Params
from value_inertia.core.errors import RunFailure
from value_inertia.core.naming import DEFAULT_VARIANT, ResultName, artifact_stem
from value_inertia.core.protocol import protocol_for
from value_inertia.core.registry import names as metric_names
from value_inertia.core.results import ClusterSummary, json_ready, write_clusters, write_metrics
from value_inertia.core.table_io import read_frame, write_table, write_text_atomic
from value_inertia.design.personas import build_personas, load_schema
from value_inertia.design.prompts import build_prompts, select_variants
from value_inertia.design.questionnaires import load_questionnaires
from value_inertia.evaluation.backends import make_backend
from value_inertia.evaluation.backends.embedded import check_store_weights
from value_inertia.evaluation.batch import BatchBackend, Poll
from value_inertia.evaluation.plan import (
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
from value_inertia.evaluation.store import ResponseStore
from value_inertia.scoring.answer_table import apply_judge, parse_responses, to_table
from value_inertia.scoring.freshness import check_parsed_matches
from value_inertia.tracking import params_hash, stage_run

log = logging.getLogger(__name__)


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


class EvaluationFailed(RunFailure):
    """More requests failed than ``evaluate.max_failure_fraction`` allows."""


def run_evaluate(
    params: Params, model_name: str, *, progress: bool = True, limit: int | None = None
) -> Path:
    """Evaluate one model. ``limit``: a smoke test on the first N prompts only (the
    answers are stored and reused later; the responses table is not written)."""
    root = _root()
    model = params.model(model_name)
    params.api_key(model)  # a missing key stops here, before anything is sent
    prompts = select_variants(
        read_frame(paths.prompts_path(root), "prompts"), params.variants_for(model)
    )
    if limit is not None:
        prompts = prompts.head(limit)
    out = paths.responses_path(model.name, root)
    logged = {"model": model.model_dump(), "evaluate": params.evaluate.model_dump()}
    store_file = paths.store_path(model.name, root)
    with (
        ResponseStore(store_file) as store,
        stage_run(
            "evaluate",
            logged,
            model=model.name,
            partial=lambda: {f"answers_{k}": v for k, v in store.count().items()},
        ) as ml,
    ):
        check_store_weights(store, model)  # other weights never reuse stored answers
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

        def backend():
            if model.is_batch():
                poll = Poll(first_s=min(5.0, model.batch_poll_max_s), max_s=model.batch_poll_max_s)
                return BatchBackend(model, store, poll)
            return make_backend(model, params)

        try:
            summary = run_evaluation(
                model,
                prompts,
                store,
                backend,
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
        failed = counts.get("failed", 0) + counts.get("missing", 0)
        ml.log_metrics({**summary.metrics(), **spend_metrics, "responses_failed": failed})
        # the table itself, as an artifact (MLflow's dataset inputs infer a schema by
        # reading every row: seconds for large runs, see benchmarks/bench_resume.py)
        ml.log_artifact(str(out), artifact_path="responses")
        if model.mode == "logprobs" and int(prompts["repeat"].max()) > 0:
            log.info(
                "%s: logprobs mode: the repeats of a prompt share one request "
                "(the distribution is deterministic); the parsed table keeps one row each",
                model.name,
            )
        fraction = failed / max(table.num_rows, 1)
        if fraction > params.evaluate.max_failure_fraction:
            why = ""
            if summary.stopped:
                why += f"; {summary.stopped}"
            if summary.errors:
                why += f"; errors: {summary.error_report()}"
            raise EvaluationFailed(
                f"{model.name}: {failed} of {table.num_rows} responses failed "
                f"({fraction:.1%} > evaluate.max_failure_fraction="
                f"{params.evaluate.max_failure_fraction:.1%}){why}; answers so far are kept in "
                f"{store_file}; run the stage again to retry the failures"
            )
    return out


def run_parse(params: Params, model_name: str) -> Path:
    root = _root()
    model = params.model(model_name)
    responses = read_frame(paths.responses_path(model.name, root), f"evaluate (model {model.name})")
    prompts = select_variants(
        read_frame(paths.prompts_path(root), "prompts"), params.variants_for(model)
    )
    parsed = parse_responses(responses, prompts, params.parse.min_letter_mass)
    judged = 0
    if params.parse.judge is not None and model.mode == "sample":
        judge = params.model(params.parse.judge)
        params.api_key(judge)

        with ResponseStore(paths.store_path(judge.name, root)) as store:
            check_store_weights(store, judge)
            parsed, judged = apply_judge(
                parsed,
                prompts,
                judge,
                store,
                lambda: make_backend(judge, params),
                params.parse.judge_scope,
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


def run_analyze(
    params: Params, model_name: str, questionnaire_id: str, variant: str = "original"
) -> Path:
    """Metrics file, tables and figures of one (model, questionnaire, variant).

    All analysis lives in :func:`value_inertia.analysis.analyze.run_analysis` (the persona x
    item matrix is built once); this writes its outputs through the results
    contract and logs them, with metric names from the metric registry.
    """
    # lazy: analysis loads scipy, matplotlib, sklearn (seconds), not needed before analyze
    from value_inertia.analysis import plots
    from value_inertia.analysis.analyze import cohens_d_grid, run_analysis

    root = _root()
    model = params.model(model_name)
    q = load_questionnaires([questionnaire_id], root)[questionnaire_id]
    parsed = read_frame(paths.parsed_path(model.name, root), f"parse (model {model.name})")
    personas = read_frame(paths.personas_path(root), "personas")
    check_parsed_matches(
        parsed, paths.parsed_path(model.name, root), q, personas, paths.personas_path(root), variant
    )
    schema = load_schema(root / params.personas.schema_path)
    protocol = protocol_for(params, model, q.id, variant, root)
    a = params.analyze
    result = run_analysis(
        parsed,
        personas,
        q,
        n_boot=a.bootstrap,
        confidence=a.confidence,
        seed=a.seed,
        attributes=schema.names,
        variant=variant,
        protocol=protocol,
        n_permutations=a.permutations,
        min_group_size=a.min_group_size,
        alpha=a.fdr_alpha,
        convergence_boot=a.convergence_draws,
    )
    metrics = result.metrics
    name = ResultName(model.name, q.id, variant)
    mdir, pdir = paths.metrics_dir(root), paths.plots_dir(root)
    out = mdir / f"{name.stem}.json"
    labels: dict[str, Any] = {"model": model.name, "questionnaire": q.id, "variant": variant}
    d_grid = cohens_d_grid(result.scores, personas, schema.names, list(q.dimensions),
                           a.min_group_size)  # fmt: skip
    figures = {
        "micro": lambda p: plots.plot_micro_heatmap(
            result.matrix, q, p, model=model.name, variant=variant
        ),  # fmt: skip
        "macro": lambda p: plots.plot_macro_distribution(metrics, p),
        "convergence": lambda p: plots.plot_convergence(
            result.convergence, metrics.convergence, p, **labels
        ),
        "permeability": lambda p: plots.plot_permeability(
            result.permeability, p, alpha=a.fdr_alpha, **labels
        ),
        "cohens_d": lambda p: plots.plot_cohens_d(d_grid, p, **labels),
    }
    logged = {"analyze": a.model_dump(), "questionnaire": q.id, "variant": variant}
    with stage_run(
        "analyze",
        logged,
        model=model.name,
        questionnaire=q.id,
        variant=variant,
        protocol_hash=protocol.hash,
    ) as ml:
        ml.set_tag("questionnaire", q.id)
        ml.set_tag("variant", variant)
        ml.set_tag("protocol_hash", protocol.hash)
        write_metrics(metrics, out)
        pdir.mkdir(parents=True, exist_ok=True)
        result.bars.to_csv(pdir / name.file("inertia", ".csv"), index=False)
        result.convergence.to_csv(pdir / name.file("convergence", ".csv"), index=False)
        result.permeability.to_csv(pdir / name.file("permeability", ".csv"), index=False)
        d_grid.reset_index().to_csv(pdir / name.file("cohens_d", ".csv"), index=False)
        for kind, draw in figures.items():
            ml.log_artifact(str(draw(pdir / name.file(kind, ".png"))), artifact_path="figures")
        ml.log_artifact(str(out), artifact_path="metrics")
        ml.log_metrics(result.flat_metrics())
        if variant == DEFAULT_VARIANT:
            _write_variant_shifts(params, model, q, parsed, root, ml)
    return out


def _write_variant_shifts(
    params: Params, model: ModelParams, q: Any, parsed: Any, root: Path, ml: Any
) -> Path:
    """``data/variants/<stem>.json`` and its figure: each other prompt variant of the
    model against ``original`` (:mod:`value_inertia.analysis.variants`); a file with a note
    when the model answers no other variant, so that DVC's output always exists."""
    # lazy: analysis loads scipy, matplotlib, sklearn (seconds), not needed before analyze
    from value_inertia.analysis import plots
    from value_inertia.analysis.variants import (
        flatten_variant_report,
        shift_table,
        variant_report,
        write_report,
    )

    present: set[str] = set()
    if "variant" in parsed.columns:
        rows = parsed.loc[parsed["questionnaire"] == q.id, "variant"]
        present = set(rows.fillna(DEFAULT_VARIANT).astype(str))
    others = [
        v for v in params.variants_for(model) if v != DEFAULT_VARIANT and v in present
    ]  # fmt: skip
    a = params.analyze
    report = variant_report(
        parsed,
        q,
        model.name,
        n_boot=a.bootstrap,
        confidence=a.confidence,
        seed=a.seed,
        variants=others,
        protocols={
            v: protocol_for(params, model, q.id, v, root) for v in [DEFAULT_VARIANT, *others]
        },
    )
    name = ResultName(model.name, q.id)
    out = write_report(report, paths.variants_dir(root) / f"{name.stem}.json")
    figure = plots.plot_variant_shifts(
        {v: shift_table(report, v) for v in report.variants},
        paths.plots_dir(root) / name.file("variant_shift", ".png"),
        model=model.name,
        questionnaire=q.id,
        confidence=a.confidence,
        note=report.note,
    )
    ml.log_artifact(str(out), artifact_path="variants")
    ml.log_artifact(str(figure), artifact_path="figures")
    ml.log_metrics(flatten_variant_report(report))
    return out


def run_cluster(
    params: Params, model_name: str, questionnaire_id: str, variant: str = "original"
) -> Path:
    # lazy: analysis loads scipy, matplotlib, sklearn (seconds), not needed before analyze
    from value_inertia.analysis import plots
    from value_inertia.analysis.analyze import persona_item_matrix
    from value_inertia.analysis.clustering import cluster_personas

    root = _root()
    model = params.model(model_name)
    c = params.cluster
    q = load_questionnaires([questionnaire_id], root)[questionnaire_id]
    schema = load_schema(root / params.personas.schema_path)
    if c.color_attribute not in schema.names:
        raise ConfigError(
            f"params.yaml: cluster.color_attribute: {c.color_attribute!r} is not a persona "
            f"attribute; allowed: {', '.join(schema.names)}"
        )
    parsed = read_frame(paths.parsed_path(model.name, root), f"parse (model {model.name})")
    personas = read_frame(paths.personas_path(root), "personas")
    check_parsed_matches(
        parsed, paths.parsed_path(model.name, root), q, personas, paths.personas_path(root), variant
    )
    protocol = protocol_for(params, model, q.id, variant, root)
    matrix = persona_item_matrix(parsed, q, variant)
    result = cluster_personas(
        matrix,
        personas,
        schema.names,
        method=c.method,
        k_min=c.k_min,
        k_max=c.k_max,
        seed=c.seed,
        min_silhouette=c.min_silhouette,
    )
    name = ResultName(model.name, q.id, variant)
    cdir = paths.clusters_dir(root)
    summary = ClusterSummary.model_validate(
        {
            "model": model.name,
            "questionnaire": q.id,
            "variant": variant,
            "protocol_hash": protocol.hash,
            **result.summary,
        }
    )
    out = cdir / f"{name.stem}.json"
    assignments = result.assignments.astype({"persona_id": str})
    figure_path = paths.plots_dir(root) / name.file("clusters", ".png")
    logged = {"cluster": c.model_dump(), "questionnaire": q.id, "variant": variant}
    with stage_run(
        "cluster",
        logged,
        model.name,
        questionnaire=q.id,
        variant=variant,
        protocol_hash=protocol.hash,
    ) as ml:
        ml.set_tag("questionnaire", q.id)
        ml.set_tag("variant", variant)
        ml.set_tag("protocol_hash", protocol.hash)
        write_table(
            pa.Table.from_pandas(assignments, preserve_index=False), cdir / f"{name.stem}.parquet"
        )
        write_clusters(summary, out)
        figure = plots.plot_clusters(
            assignments, personas, c.color_attribute, figure_path,
            model=model.name, questionnaire=q.id, variant=variant,
        )  # fmt: skip
        ml.log_artifact(str(figure), artifact_path="figures")
        ml.log_artifact(str(out), artifact_path="clusters")
        numbers = {"k": summary.k, "silhouette": summary.silhouette}
        numbers |= {f"ami.{k}": v for k, v in summary.ami.items()}
        ml.log_metrics({k: v for k, v in numbers.items() if v is not None})
    return out


def run_leaderboard(params: Params) -> Path:
    # lazy: publishing loads the analysis (scipy) and huggingface_hub
    from value_inertia.publishing.board import (
        build_leaderboard,
        load_current_inputs,
        load_extras,
        load_variant_reports,
        write_leaderboard,
    )

    root = _root()
    metrics, clusters, models = load_current_inputs(
        root,
        [m.name for m in params.models],
        params.prompts.questionnaires,
        getattr(params.prompts, "variants", None),
    )
    quality, spend = load_extras(root)
    frame = build_leaderboard(
        metrics,
        clusters,
        models,
        params_hash(params.model_dump(mode="json", by_alias=True)),
        params.leaderboard.rank_by,
        datetime.now(UTC).date().isoformat(),
        quality=quality,
        spend=spend,
        variants=load_variant_reports(root),
    )
    out = paths.leaderboard_dir(root)
    with stage_run("leaderboard", {"leaderboard": params.leaderboard.model_dump()}) as ml:
        written = write_leaderboard(frame, out, params.leaderboard.rank_by)
        for path in written.values():
            ml.log_artifact(str(path), artifact_path="leaderboard")
        ml.log_metrics({"rows": len(frame)})
    return out


def run_publish(params: Params) -> Path:
    # lazy: publishing loads the analysis (scipy) and huggingface_hub
    from value_inertia.publishing.dataset import build_dataset_folder
    from value_inertia.publishing.push import publish
    from value_inertia.publishing.space import build_space_folder

    root = _root()
    hub = paths.hub_dir(root)
    with stage_run("publish", {"hub": params.hub.model_dump()}) as ml:
        run = ml.active_run()
        provenance = {"mlflow_run_id": run.info.run_id if run is not None else None}
        dataset = build_dataset_folder(root, hub / "dataset", params, provenance)
        build_space_folder(root, hub / "space", params.hub.dataset_repo, hub / "dataset")
        report = publish(root, params)
        ml.log_dict(report, "publish_report.json")
        ml.log_metrics({"dataset_configs": len(dataset["configs"])})
    for repo in report["repos"]:
        log.info("%s %s: %s", repo["repo_type"], repo.get("repo_id") or "-", repo["status"])
    return hub / "publish_report.json"


# --------------------------------------------------------------------------- quality (issue 11)


def _quality_partner(params: Params, model: ModelParams) -> ModelParams | None:
    """The same model file run in the other answer mode (for logprob-vs-sample agreement)."""
    for other in params.models:
        if (
            other.name != model.name
            and other.mode != model.mode
            and (other.backend, other.model, other.base_url)
            == (model.backend, model.model, model.base_url)
        ):
            return other
    return None


def run_quality(params: Params, model_name: str, questionnaire_id: str) -> Path:
    """Quality report of one result -> data/quality/<stem>.json and a position-bias figure.

    Reads the model's parsed table (and, when the same model file also runs in the
    other answer mode, that model's parsed table for the agreement section); the
    bootstrap settings are those of ``analyze``.
    """
    # lazy: analysis loads scipy, matplotlib, sklearn (seconds), not needed before analyze
    from value_inertia.analysis.quality import plot_position_bias, quality_report

    root = _root()
    model = params.model(model_name)
    q = load_questionnaires([questionnaire_id], root)[questionnaire_id]
    parsed = read_frame(paths.parsed_path(model.name, root), f"parse (model {model.name})")
    check_parsed_matches(parsed, paths.parsed_path(model.name, root), q)
    partner_spec = _quality_partner(params, model)
    partner = None
    if partner_spec is not None and paths.parsed_path(partner_spec.name, root).exists():
        partner = read_frame(paths.parsed_path(partner_spec.name, root), "parse")
        check_parsed_matches(partner, paths.parsed_path(partner_spec.name, root), q)
    a = params.analyze
    report = quality_report(
        parsed, q, partner=partner, n_boot=a.bootstrap, confidence=a.confidence, seed=a.seed
    )
    body = json_ready(
        {
            "model": model.name,
            "questionnaire": q.id,
            "protocol_hash": protocol_for(params, model, q.id, DEFAULT_VARIANT, root).hash,
            "partner": partner_spec.name if partner is not None and partner_spec else None,
            **report,
        }
    )
    stem = artifact_stem(model.name, q.id)
    out = paths.quality_dir(root) / f"{stem}.json"
    figure = paths.plots_dir(root) / f"{stem}__position_bias.png"
    logged = {"analyze": a.model_dump(), "questionnaire": q.id}
    with stage_run(
        "quality", logged, model=model.name, questionnaire=q.id, protocol_hash=body["protocol_hash"]
    ) as ml:
        ml.set_tag("questionnaire", q.id)
        ml.set_tag("verdict", body["verdict"])
        if body["protocol_hash"]:
            ml.set_tag("protocol_hash", body["protocol_hash"])
        write_text_atomic(json.dumps(body, indent=2) + "\n", out)
        plot_position_bias(body["position"], figure, f"Position bias ({model.name}, {q.id})")
        ml.log_artifact(str(out), artifact_path="quality")
        ml.log_artifact(str(figure), artifact_path="figures")
        numbers = {k: body.get(k) for k in metric_names("quality")}
        ml.log_metrics({f"quality.{k}": v for k, v in numbers.items() if v is not None})
    log.info("%s / %s: %s", model.name, q.id, body["verdict"])
    return out
