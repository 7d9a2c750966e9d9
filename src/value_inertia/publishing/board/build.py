"""Building the board: one row per (model, questionnaire, variant) from the validated
results, ranked within its protocol (columns and ranking: :mod:`value_inertia.publishing.board`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

import value_inertia.analysis  # noqa: F401  (its modules register the metrics read here)
from value_inertia.analysis.quality.report_model import QualityReport
from value_inertia.analysis.variants.report_model import VariantReport
from value_inertia.core import registry as metric_registry
from value_inertia.core.errors import InputError
from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.core.results import ClusterSummary, MetricsResult, validate
from value_inertia.publishing.board.columns import (
    Key,
    ci_metrics,
    dimension_column,
    dimension_metrics,
    fixed_columns,
    int_columns,
    integer,
    mean_of,
    number,
    string_columns,
)
from value_inertia.publishing.board.inputs import quality_columns, variant_columns
from value_inertia.publishing.board.ranking import check_rank_by, rank_within, ranking_group


def _design(
    personas_per_seed: int | None, n_seeds: int, repeats: int | None, samples: int | None
) -> str:
    def fmt(value: int | None) -> str:
        return "?" if value is None else str(value)

    return (
        f"{fmt(personas_per_seed)} personas x {n_seeds} seeds x {fmt(repeats)} repeats"
        f" x {fmt(samples)} samples"
    )


def _as_metrics(record: MetricsResult | Mapping[str, Any], source: str) -> MetricsResult:
    if isinstance(record, MetricsResult):
        return record
    return validate(MetricsResult, dict(record), source)


def _as_cluster(record: ClusterSummary | Mapping[str, Any], source: str) -> ClusterSummary:
    if isinstance(record, ClusterSummary):
        return record
    return validate(ClusterSummary, dict(record), source)


def _pair(ci: Any) -> list[Any]:
    """``[low, high]`` of a stored interval (``[None, None]`` when there is none)."""
    return (list(ci or []) + [None, None])[:2]


def _row(
    m: MetricsResult,
    cluster: ClusterSummary | None,
    spec: Mapping[str, Any] | None,
    quality: QualityReport | None,
    spend: Mapping[str, Any] | None,
    params_hash: str,
    date: str,
) -> dict[str, Any]:
    overall = m.overall.model_dump()
    dimensions = {d: v.model_dump() for d, v in m.dimensions.items()}
    spec = spec or {}
    n_personas = m.n_personas
    n_seeds = len(m.seeds) if m.seeds else 1
    per_seed = int(round(n_personas / n_seeds))
    repeats = m.repeats

    def overall_value(key: str) -> float | None:
        # The mean over dimensions; recomputed when the metrics file lacks it.
        value = number(overall.get(key))
        if value is None:
            value = mean_of(d.get(key) for d in dimensions.values())
        return value

    top = max(
        (c for c in m.permeability if c.significant and c.effect is not None),
        key=lambda c: c.effect,  # type: ignore[arg-type, return-value]
        default=None,
    )
    row: dict[str, Any] = {
        "rank": 0,
        "rank_label": None,
        "tie_group": None,
        "model": m.model,
        "questionnaire": m.questionnaire,
        "variant": m.variant or DEFAULT_VARIANT,
        "protocol_hash": m.protocol_hash,
        **{name: overall_value(name) for name in metric_registry.names("overall")},
        **{
            f"{name}_ci_{end}": number(value)
            for name in ci_metrics()
            for end, value in zip(("low", "high"), _pair(overall.get(f"{name}_ci")), strict=True)
        },
        "seed_stability": mean_of(m.seed_stability.values()),
        "inertia_seed_sd": m.seed_spread.overall.inertia_sd if m.seed_spread else None,
        "permeable_cells": sum(c.significant for c in m.permeability) if m.permeability else None,
        "permeability_top": top.effect if top else None,
        "permeability_top_cell": f"{top.attribute} x {top.dimension}" if top else None,
        **{name: number(m.model_dump().get(name)) for name in metric_registry.names("result")},
        "n_personas": n_personas,
        "n_seeds": n_seeds,
        "personas_per_seed": per_seed,
        "repeats": repeats,
        "samples": m.samples,
        "design": _design(per_seed, n_seeds, repeats, m.samples),
        "clusters": cluster.k if cluster else None,
        "silhouette": cluster.silhouette if cluster else None,
        **quality_columns(quality),
        "cost_usd": number((spend or {}).get("cost_usd")),
        "model_id": spec.get("model"),
        "backend": spec.get("backend"),
        "mode": spec.get("mode") or m.mode or None,
        "api": spec.get("api"),
        "temperature": number(spec.get("temperature")),
        "date": date,
        "params_hash": params_hash,
    }
    per_dimension = dimension_metrics()
    for dim, values in dimensions.items():
        for metric in per_dimension:
            row[dimension_column(metric, dim)] = number(values.get(metric))
    return row


def build_leaderboard(
    metrics: Sequence[MetricsResult | Mapping[str, Any]],
    clusters: Sequence[ClusterSummary | Mapping[str, Any]],
    models: Mapping[str, Mapping[str, Any]],
    params_hash: str,
    rank_by: str,
    date: str,
    *,
    quality: Mapping[Key, QualityReport] | None = None,
    spend: Mapping[str, Mapping[str, Any]] | None = None,
    variants: Mapping[tuple[str, str], VariantReport | Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """One row per (model, questionnaire, variant), ranked within its protocol.

    ``metrics``: metrics files (models or dicts, validated here); ``clusters``:
    cluster summaries with model and questionnaire; ``models``: model specs by
    name; ``quality``: quality reports by (model, questionnaire, variant);
    ``spend``: spend records by model; ``variants``: prompt-variant reports
    (:class:`value_inertia.analysis.variants.VariantReport` or dicts) by (model,
    questionnaire), whose shifts go on the ``original`` row. Rows are sorted by
    questionnaire, ranking group, then rank. See the module docstring for
    columns and ranking.
    """
    check_rank_by(rank_by)
    by_key: dict[Key, ClusterSummary] = {}
    for i, cluster in enumerate(clusters):
        c = _as_cluster(cluster, f"clusters[{i}]")
        if not c.model or not c.questionnaire:
            raise InputError(f"clusters[{i}]: needs 'model' and 'questionnaire'")
        by_key[(c.model, c.questionnaire, c.variant)] = c
    seen: set[Key] = set()
    rows = []
    intervals: list[tuple[float | None, float | None]] = []
    dim_columns: dict[str, list[str]] = {}
    shift_names: dict[str, None] = {}
    for i, record in enumerate(metrics):
        m = _as_metrics(record, f"metrics[{i}]")
        key = (m.model, m.questionnaire, m.variant)
        if key in seen:
            raise ValueError(
                f"metrics: two entries for model {key[0]!r}, questionnaire {key[1]!r}"
                + (f", variant {key[2]!r}" if key[2] != DEFAULT_VARIANT else "")
            )
        seen.add(key)
        rows.append(
            _row(
                m,
                by_key.get(key),
                models.get(m.model),
                (quality or {}).get(key),
                (spend or {}).get(m.model),
                params_hash,
                date,
            )
        )
        report = (variants or {}).get((m.model, m.questionnaire))
        if report is not None and key[2] == DEFAULT_VARIANT:
            shift_columns = variant_columns(report, f"variants[{m.model}, {m.questionnaire}]")
            rows[-1].update(shift_columns)
            for column in shift_columns:
                shift_names.setdefault(column, None)
        ci = (list(m.overall.model_dump().get(f"{rank_by}_ci") or []) + [None, None])[:2]
        intervals.append((number(ci[0]), number(ci[1])))
        dims = dim_columns.setdefault(m.questionnaire, [])
        for dim in m.dimensions:
            if dim not in dims:
                dims.append(dim)
    extra = [
        dimension_column(metric, dim)
        for questionnaire in sorted(dim_columns)
        for dim in dim_columns[questionnaire]
        for metric in dimension_metrics()
    ]
    extra = list(shift_names) + list(dict.fromkeys(extra))
    frame = pd.DataFrame.from_records(rows, columns=fixed_columns() + extra)
    frame = coerce(frame)
    if len(frame):
        ranks = rank_within(frame, rank_by, dict(enumerate(intervals)))
        frame["rank"] = pd.array(ranks["rank"].tolist(), dtype="Int64")
        frame["rank_label"] = ranks["rank_label"].astype(object)
        frame["tie_group"] = pd.array(ranks["tie_group"].tolist(), dtype="Int64")
        frame["_group"] = ranking_group(frame)
        frame = frame.sort_values(
            ["questionnaire", "_group", "rank", "model"], kind="stable", na_position="last"
        )
        frame = frame.drop(columns="_group")
    return frame.reset_index(drop=True)


def coerce(frame: pd.DataFrame) -> pd.DataFrame:
    """The board's column types: Int64 for integer columns, object for strings, else float64."""
    frame = frame.copy()
    ints, strings = set(int_columns()), set(string_columns())
    for column in frame.columns:
        if column in ints:
            frame[column] = pd.array(
                [None if integer(v) is None else integer(v) for v in frame[column]],
                dtype="Int64",
            )
        elif column in strings:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        else:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame
