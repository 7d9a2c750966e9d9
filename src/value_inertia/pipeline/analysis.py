"""Analysis stages of one result: metrics and figures, variant shifts, clusters, quality report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyarrow as pa

from value_inertia.core import paths
from value_inertia.core.config import ConfigError, ModelParams, Params
from value_inertia.core.naming import DEFAULT_VARIANT, ResultName, artifact_stem
from value_inertia.core.protocol import protocol_for
from value_inertia.core.registry import names as metric_names
from value_inertia.core.results import ClusterSummary, write_clusters, write_metrics
from value_inertia.core.table_io import read_frame, write_table
from value_inertia.design.personas import load_schema
from value_inertia.design.questionnaires import load_questionnaires
from value_inertia.scoring.freshness import check_parsed_matches
from value_inertia.tracking.runs import stage_run

log = logging.getLogger(__name__)


def run_analyze(
    params: Params, model_name: str, questionnaire_id: str, variant: str = "original"
) -> Path:
    """Metrics file, tables and figures of one (model, questionnaire, variant).

    All analysis lives in :func:`value_inertia.analysis.analyze.run_analysis` (the persona x
    item matrix is built once); this writes its outputs through the results
    contract and logs them, with metric names from the metric registry.
    """
    # lazy: analysis loads scipy, matplotlib, sklearn (seconds), not needed before analyze
    from value_inertia.analysis.analyze import run_analysis
    from value_inertia.analysis.permeability import cohens_d_grid
    from value_inertia.analysis.plots import distributions, effects

    root = paths.project_root()
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
        "micro": lambda p: distributions.plot_micro_heatmap(
            result.matrix, q, p, model=model.name, variant=variant
        ),  # fmt: skip
        "macro": lambda p: distributions.plot_macro_distribution(metrics, p),
        "convergence": lambda p: distributions.plot_convergence(
            result.convergence, metrics.convergence, p, **labels
        ),
        "permeability": lambda p: effects.plot_permeability(
            result.permeability, p, alpha=a.fdr_alpha, **labels
        ),
        "cohens_d": lambda p: effects.plot_cohens_d(d_grid, p, **labels),
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
    model against ``original`` (:mod:`value_inertia.analysis.variants.report`); a file with a note
    when the model answers no other variant, so that DVC's output always exists."""
    # lazy: analysis loads scipy, matplotlib, sklearn (seconds), not needed before analyze
    from value_inertia.analysis.plots import variants as variant_plots
    from value_inertia.analysis.variants.report import (
        flatten_variant_report,
        shift_table,
        variant_report,
    )
    from value_inertia.analysis.variants.report_model import write_variant_report

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
    out = write_variant_report(report, paths.variants_dir(root) / f"{name.stem}.json")
    figure = variant_plots.plot_variant_shifts(
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
    from value_inertia.analysis.clustering import cluster_personas
    from value_inertia.analysis.matrix import persona_item_matrix
    from value_inertia.analysis.plots import clusters as cluster_plots

    root = paths.project_root()
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
        write_table(
            pa.Table.from_pandas(assignments, preserve_index=False), cdir / f"{name.stem}.parquet"
        )
        write_clusters(summary, out)
        figure = cluster_plots.plot_clusters(
            assignments, personas, c.color_attribute, figure_path,
            model=model.name, questionnaire=q.id, variant=variant,
        )  # fmt: skip
        ml.log_artifact(str(figure), artifact_path="figures")
        ml.log_artifact(str(out), artifact_path="clusters")
        numbers = {"k": summary.k, "silhouette": summary.silhouette}
        numbers |= {f"ami.{k}": v for k, v in summary.ami.items()}
        ml.log_metrics({k: v for k, v in numbers.items() if v is not None})
    return out


def _quality_partner(params: Params, model: ModelParams) -> ModelParams | None:
    """The same model file run in the other answer mode (for logprob-vs-sample agreement)."""
    for other in params.models:
        if (
            other.name != model.name
            and other.answer_mode.letter_logprobs != model.answer_mode.letter_logprobs
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
    from value_inertia.analysis.quality.position_bias import plot_position_bias
    from value_inertia.analysis.quality.report import quality_report
    from value_inertia.analysis.quality.report_model import write_quality_report

    root = paths.project_root()
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
        parsed,
        q,
        model=model.name,
        protocol_hash=protocol_for(params, model, q.id, DEFAULT_VARIANT, root).hash,
        partner=partner,
        partner_name=partner_spec.name if partner_spec else None,
        n_boot=a.bootstrap,
        confidence=a.confidence,
        seed=a.seed,
    )
    stem = artifact_stem(model.name, q.id)
    out = paths.quality_dir(root) / f"{stem}.json"
    figure = paths.plots_dir(root) / f"{stem}__position_bias.png"
    logged = {"analyze": a.model_dump(), "questionnaire": q.id}
    with stage_run(
        "quality", logged, model=model.name, questionnaire=q.id, protocol_hash=report.protocol_hash
    ) as ml:
        ml.set_tag("questionnaire", q.id)
        ml.set_tag("verdict", report.verdict)
        if report.protocol_hash:
            ml.set_tag("protocol_hash", report.protocol_hash)
        write_quality_report(report, out)
        plot_position_bias(report.position, figure, f"Position bias ({model.name}, {q.id})")
        ml.log_artifact(str(out), artifact_path="quality")
        ml.log_artifact(str(figure), artifact_path="figures")
        numbers = report.figures(metric_names("quality"))
        ml.log_metrics({f"quality.{k}": v for k, v in numbers.items() if v is not None})
    log.info("%s / %s: %s", model.name, q.id, report.verdict)
    return out
