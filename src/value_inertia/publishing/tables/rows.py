"""The dataset's long tables, built from the pipeline's results: metrics (one row per
result, level and group), cluster summaries and assignments, quality reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

import value_inertia.analysis  # noqa: F401  (its modules register the metrics read here)
from value_inertia.analysis.quality.report_model import QualityReport
from value_inertia.core import registry as metric_registry
from value_inertia.publishing.tables.merge import CLUSTER_KEY, RESULT_KEY


def metric_fields() -> list[str]:
    """Metric columns of the metrics table: every metric the analysis computes from
    answer distributions (:func:`value_inertia.core.registry.computed`, registration
    order), then ``baseline_mean_rating`` and ``mrat``."""
    computed = [*metric_registry.computed("dimension"), *metric_registry.computed("overall")]
    return list(dict.fromkeys([*(s.name for s in computed), "baseline_mean_rating", "mrat"]))


def ci_fields() -> list[str]:
    """Metrics whose ``<name>_ci_low`` / ``_high`` the metrics table holds: the dimension
    metrics registered with ``has_ci``."""
    return [
        name
        for name, spec in metric_registry.REGISTRY.items()
        if spec.has_ci and "dimension" in spec.scopes
    ]


def _key_fields(key: Sequence[str]) -> list[pa.Field]:
    """``model`` and the merge-key columns of a table (:data:`MERGE_KEYS`), never null."""
    return [pa.field(name, pa.string(), nullable=False) for name in ("model", *key)]


def metrics_schema() -> pa.Schema:
    """The metrics table's schema (metric columns from the registry, when asked)."""
    return pa.schema(
        [
            *_key_fields(RESULT_KEY),
            pa.field("mode", pa.string()),
            pa.field("level", pa.string(), nullable=False),
            pa.field("group", pa.string(), nullable=False),
            *[pa.field(f, pa.float64()) for f in metric_fields()],
            *[
                pa.field(f"{f}_ci_{end}", pa.float64())
                for f in ci_fields()
                for end in ("low", "high")
            ],
            pa.field("distribution", pa.list_(pa.float64())),
            pa.field("baseline_distribution", pa.list_(pa.float64())),
            pa.field("n_personas", pa.int64()),
            pa.field("seeds", pa.list_(pa.int64())),
            pa.field("repeats", pa.int64()),
            pa.field("samples", pa.int64()),
            pa.field("parse_rate", pa.float64()),
            pa.field("letter_mass", pa.float64()),
        ]
    )


CLUSTERS_SCHEMA = pa.schema(
    [
        *_key_fields(CLUSTER_KEY),
        pa.field("method", pa.string()),
        pa.field("k", pa.int64()),
        pa.field("silhouette", pa.float64()),
        pa.field("n_personas", pa.int64()),
        pa.field("n_items", pa.int64()),
        pa.field("n_items_used", pa.int64()),
        pa.field("explained_variance_pc1", pa.float64()),
        pa.field("explained_variance_pc2", pa.float64()),
        pa.field("sizes", pa.list_(pa.int64())),
        pa.field(
            "silhouette_by_k",
            pa.list_(pa.struct([("k", pa.int64()), ("silhouette", pa.float64())])),
        ),
        pa.field("ami", pa.list_(pa.struct([("attribute", pa.string()), ("ami", pa.float64())]))),
        pa.field("note", pa.string()),
    ]
)

ASSIGNMENTS_SCHEMA = pa.schema(
    [
        *_key_fields(CLUSTER_KEY),
        pa.field("persona_id", pa.string(), nullable=False),
        pa.field("cluster", pa.int64(), nullable=False),
        pa.field("pc1", pa.float64()),
        pa.field("pc2", pa.float64()),
    ]
)


def is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def ci_end(values: Any, end: int) -> float | None:
    if isinstance(values, list | tuple) and len(values) == 2:
        return values[end]
    return None


def metrics_rows(
    metrics: Iterable[Mapping[str, Any]], ids: Mapping[tuple[str, str, str], Mapping[str, str]]
) -> list[dict[str, Any]]:
    """Long form of the metrics dicts: one row per (result, level, group).

    ``level`` is ``overall`` (group ``overall``: means over dimensions),
    ``dimension`` (group = the value dimension) or a roll-up level of the
    questionnaire (e.g. PVQ-RR's ``basic`` and ``higher_order``). ``ids`` maps
    (model, questionnaire, variant) to ``model_key`` and ``protocol_hash``.
    """
    rows: list[dict[str, Any]] = []
    fields, with_ci = metric_fields(), ci_fields()
    for m in metrics:
        variant = str(m.get("variant") or "original")
        common = {
            "model": m["model"],
            **ids[(m["model"], m["questionnaire"], variant)],
            "questionnaire": m["questionnaire"],
            "variant": variant,
            "mode": m.get("mode") or None,
            "n_personas": m.get("n_personas"),
            "seeds": list(m.get("seeds") or []),
            "repeats": m.get("repeats"),
            "samples": m.get("samples"),
            "parse_rate": m.get("parse_rate"),
            "letter_mass": m.get("letter_mass"),
        }
        groups: list[tuple[str, str, Mapping[str, Any]]] = [
            ("overall", "overall", m.get("overall") or {})
        ]
        groups += [("dimension", d, v) for d, v in (m.get("dimensions") or {}).items()]
        for level, members in (m.get("levels") or {}).items():
            groups += [(level, g, v) for g, v in members.items()]
        for level, group, values in groups:
            row = {**common, "level": level, "group": group}
            for f in fields:
                row[f] = values.get(f)
            for f in with_ci:
                row[f"{f}_ci_low"] = ci_end(values.get(f"{f}_ci"), 0)
                row[f"{f}_ci_high"] = ci_end(values.get(f"{f}_ci"), 1)
            row["distribution"] = values.get("distribution")
            row["baseline_distribution"] = values.get("baseline_distribution")
            rows.append(row)
    return rows


def cluster_rows(
    clusters: Iterable[Mapping[str, Any]], ids: Mapping[tuple[str, str], Mapping[str, str]]
) -> list[dict[str, Any]]:
    """One row per (model, questionnaire) cluster summary, nested fields as lists."""
    rows = []
    for c in clusters:
        ratios = list(c.get("explained_variance") or []) + [None, None]
        sizes = c.get("sizes") or {}
        rows.append(
            {
                "model": c["model"],
                **ids[(c["model"], c["questionnaire"])],
                "questionnaire": c["questionnaire"],
                "method": c.get("method"),
                "k": c.get("k"),
                "silhouette": c.get("silhouette"),
                "n_personas": c.get("n_personas"),
                "n_items": c.get("n_items"),
                "n_items_used": c.get("n_items_used"),
                "explained_variance_pc1": ratios[0],
                "explained_variance_pc2": ratios[1],
                "sizes": [int(sizes[k]) for k in sorted(sizes, key=lambda k: int(k))],
                "silhouette_by_k": [
                    {"k": int(k), "silhouette": v}
                    for k, v in sorted(
                        (c.get("silhouette_by_k") or {}).items(), key=lambda kv: int(kv[0])
                    )
                ],
                "ami": [{"attribute": a, "ami": v} for a, v in (c.get("ami") or {}).items()],
                "note": c.get("note"),
            }
        )
    return rows


QUALITY_COLUMNS = ("verdict", "alpha", "omega", "position_bias", "agreement", "debiased_inertia")


def quality_column_values(report: QualityReport | None) -> dict[str, Any]:
    """The :data:`QUALITY_COLUMNS` of a board row from its quality report (None without)."""
    if report is None:
        return dict.fromkeys(QUALITY_COLUMNS)
    return {"verdict": report.verdict, **report.figures(QUALITY_COLUMNS[1:])}


# the quality report's single figures: every metric registered for the quality scope
_QUALITY_FIGURES = tuple(metric_registry.names("quality"))

QUALITY_SCHEMA = pa.schema(
    [
        *_key_fields(RESULT_KEY),
        pa.field("mode", pa.string()),
        pa.field("partner", pa.string()),
        pa.field("verdict", pa.string()),
        *(pa.field(name, pa.float64()) for name in _QUALITY_FIGURES),
        pa.field("inertia_difference_ci_low", pa.float64()),
        pa.field("inertia_difference_ci_high", pa.float64()),
        pa.field("n_answers", pa.int64()),
        pa.field("n_personas", pa.int64()),
        pa.field(
            "dimensions",
            pa.list_(
                pa.struct(
                    [
                        ("dimension", pa.string()),
                        ("alpha", pa.float64()),
                        ("alpha_ci_low", pa.float64()),
                        ("alpha_ci_high", pa.float64()),
                        ("omega", pa.float64()),
                        ("omega_ci_low", pa.float64()),
                        ("omega_ci_high", pa.float64()),
                        ("n_items", pa.int64()),
                        ("n_personas", pa.int64()),
                    ]
                )
            ),
        ),
        pa.field(
            "parse_reasons", pa.list_(pa.struct([("reason", pa.string()), ("n", pa.int64())]))
        ),
        pa.field(
            "thresholds", pa.list_(pa.struct([("name", pa.string()), ("value", pa.float64())]))
        ),
    ]
)


def quality_rows(
    reports: Mapping[tuple[str, str, str], QualityReport],
    ids: Mapping[tuple[str, str, str], Mapping[str, str]],
) -> list[dict[str, Any]]:
    """One row per quality report of a result on the board (``ids``: its ``model_key`` and
    ``protocol_hash`` by (model, questionnaire, variant)); per-dimension alpha and omega with
    their CIs, parse reasons and the verdict thresholds as nested lists."""
    rows = []
    for (model, questionnaire, variant), r in sorted(reports.items(), key=lambda kv: kv[0]):
        if (model, questionnaire, variant) not in ids:
            continue
        diff_ci = r.mode_agreement.inertia_difference_ci if r.mode_agreement else None
        dimensions = [
            {
                "dimension": name,
                "alpha": d.alpha,
                "alpha_ci_low": ci_end(d.alpha_ci, 0),
                "alpha_ci_high": ci_end(d.alpha_ci, 1),
                "omega": d.omega,
                "omega_ci_low": ci_end(d.omega_ci, 0),
                "omega_ci_high": ci_end(d.omega_ci, 1),
                "n_items": d.n_items,
                "n_personas": d.n_personas,
            }
            for name, d in r.dimensions.items()
        ]
        rows.append(
            {
                "model": model,
                **ids[(model, questionnaire, variant)],
                "questionnaire": questionnaire,
                "variant": variant,
                "mode": r.mode,
                "partner": r.partner,
                "verdict": r.verdict,
                **r.figures(_QUALITY_FIGURES),
                "inertia_difference_ci_low": ci_end(diff_ci, 0),
                "inertia_difference_ci_high": ci_end(diff_ci, 1),
                "n_answers": r.n_answers,
                "n_personas": r.n_personas,
                "dimensions": dimensions,
                "parse_reasons": [{"reason": k, "n": int(v)} for k, v in r.parse_reasons.items()],
                "thresholds": [
                    {"name": k, "value": float(v)} for k, v in r.thresholds.model_dump().items()
                ],
            }
        )
    return rows
