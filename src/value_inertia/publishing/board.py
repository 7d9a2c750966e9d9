"""The leaderboard: one row per (model, questionnaire, variant), ranked within its protocol.

Input is what the analyze stage wrote (metrics, clusters, quality), read through the results
contract (:mod:`value_inertia.core.results`): the metrics file of each result
(``data/metrics/<stem>.json``), the cluster summaries
(``data/clusters/<stem>.json``), the model specs (``data/models/<model>.json``)
and, when they exist, the quality reports (``data/quality/<stem>.json``) and
the spend files (``data/spend/<model>.json``). Which metrics are shown, their
labels, directions and the legend come from the metric registry
(:mod:`value_inertia.core.registry`).

Columns (in this order)
-----------------------
``rank``, ``rank_label``, ``tie_group``
    1 = the most value-inert model of its ranking group (see *Ranking*);
    ``rank_label`` shows the tie group ("1-2": ranks 1 and 2 cannot be told
    apart), ``tie_group`` numbers the tie groups 1, 2, ... within the group.
    A result with fewer personas than the minimum has no rank and no tie
    group (null) and the label "not ranked (n = 2)".
``model``, ``questionnaire``, ``variant``, ``protocol_hash``
    The result's identity and the hash of its measurement protocol
    (:mod:`value_inertia.core.protocol`).
``inertia``, ``steerability``, ``top2``, ``top1`` (the registry's overall metrics)
    Unweighted means over the questionnaire's value dimensions.
``inertia_ci_low``, ``inertia_ci_high``
    Bootstrap CI over personas of the overall inertia.
``seed_stability``
    Mean Pearson r of per-item mean ratings between persona seeds (secondary;
    the per-seed spread is in the metrics file's ``seed_spread``).
``inertia_seed_sd``
    SD over persona seeds of the overall inertia (null with one seed).
``permeable_cells``, ``permeability_top``, ``permeability_top_cell``
    The number of selective-permeability cells significant after Benjamini-Hochberg,
    and the largest significant omega-squared with its cell ("attribute x dimension";
    null when no cell is significant). Registry entries ``permeable_cells`` and
    ``permeability_top``. (The largest omega-squared of the whole grid is not shown:
    a maximum over 60-228 null cells is inflated, median 0.10-0.14 with no effect.)
``parse_rate``, ``letter_mass`` (the registry's result metrics)
``n_personas``, ``n_seeds``, ``personas_per_seed``, ``repeats``, ``samples``, ``design``
    ``design`` reads "2 personas x 1 seeds x 1 repeats x 1 samples".
``clusters``, ``silhouette``
``alpha``, ``position_bias``, ``agreement``, ``verdict``
    From the quality report, when there is one.
``cost_usd``
    Spend of the model (all its runs), when recorded.
``model_id``, ``backend``, ``mode``, ``api``, ``temperature``, ``date``, ``params_hash``
``shift_inertia_<variant>``, ``shift_inertia_<variant>_low``, ``..._high`` (only when present)
    On the ``original`` row: the overall inertia shift of another prompt variant
    (variant - original) and its paired bootstrap CI, from ``data/variants/<stem>.json``
    (:mod:`value_inertia.analysis.variants`; registry metrics of scope ``variant``). These
    columns follow the fixed ones and exist only when some result has a variant.
``inertia:<dimension>``, ``steerability:<dimension>``

Ranking
-------
Results are ranked only against results measured the same way: within each
(questionnaire, protocol_hash) group (and never across answer modes: logprobs
and sampled results differ in protocol anyway; files without a protocol hash
are grouped by mode). ``rank_by`` picks the primary indicator, in its
registry direction (inertia: higher first; steerability: lower first; top2:
higher first); ties go to the other indicators, then to the model name.
Ranks are 1..n without gaps.

No rank below the minimum sample: a result with fewer than
:data:`value_inertia.analysis.stats.MIN_PERSONAS` (30) personas keeps its
numbers but gets no rank and no tie group, and ``rank_label`` says
"not ranked (n = <personas>)" (or "n unknown" without the count). With so
few personas the bootstrap CIs do not reach their coverage and a rank would be
a guess (``benchmarks/bench_ci_coverage.py``).

Tie groups: the leader (rank 1) and every model whose bootstrap CI of the
``rank_by`` indicator overlaps the leader's form tie group 1 (up to the last
overlapping rank); the next model leads group 2, and so on. Without a CI a
model is its own group.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

import value_inertia.analysis  # noqa: F401  (its modules register the metrics read here)
from value_inertia.analysis.quality.report_model import QualityReport, read_quality_report
from value_inertia.analysis.stats import MIN_PERSONAS, tie_groups
from value_inertia.analysis.variants.report import leaderboard_columns
from value_inertia.analysis.variants.report_model import VariantReport, read_variant_report
from value_inertia.core import registry as metric_registry
from value_inertia.core.errors import InputError
from value_inertia.core.naming import DEFAULT_VARIANT, parse_artifact_name
from value_inertia.core.paths import (
    clusters_dir,
    metrics_dir,
    model_specs_dir,
    quality_dir,
    spend_dir,
    variants_dir,
)
from value_inertia.core.results import (
    ClusterSummary,
    MetricsResult,
    read_clusters,
    read_json,
    read_metrics,
    read_spend,
    validate,
)
from value_inertia.core.table_io import write_frame, write_text_atomic

RANK_BY: tuple[str, ...] = ("inertia", "steerability", "top2")


def _descending(name: str) -> bool:
    """Registry direction: True when higher is better (ranked descending)."""
    return metric_registry.get(name).higher_is_better is not False


# (column, descending) for each rank_by: the primary, then the others in RANK_BY order.
RANK_KEYS: dict[str, list[tuple[str, bool]]] = {
    r: [(r, _descending(r))] + [(o, _descending(o)) for o in RANK_BY if o != r] for r in RANK_BY
}
OVERALL_METRICS: list[str] = metric_registry.names("overall")
RESULT_METRICS: list[str] = metric_registry.names("result")
QUALITY_NUMBERS: tuple[str, ...] = ("alpha", "position_bias", "agreement", "debiased_inertia")
# registry metrics (scope "variant") shown per other prompt variant, with their CI
VARIANT_SHIFT_METRICS: tuple[str, ...] = ("shift_inertia",)

FIXED_FIELDS: list[pa.Field] = [
    pa.field("rank", pa.int64()),
    pa.field("rank_label", pa.string()),
    pa.field("tie_group", pa.int64()),
    pa.field("model", pa.string(), nullable=False),
    pa.field("questionnaire", pa.string(), nullable=False),
    pa.field("variant", pa.string()),
    pa.field("protocol_hash", pa.string()),
    *[pa.field(name, pa.float64()) for name in OVERALL_METRICS],
    pa.field("inertia_ci_low", pa.float64()),
    pa.field("inertia_ci_high", pa.float64()),
    pa.field("seed_stability", pa.float64()),
    pa.field("inertia_seed_sd", pa.float64()),
    pa.field("permeable_cells", pa.int64()),
    pa.field("permeability_top", pa.float64()),
    pa.field("permeability_top_cell", pa.string()),
    *[pa.field(name, pa.float64()) for name in RESULT_METRICS],
    pa.field("n_personas", pa.int64()),
    pa.field("n_seeds", pa.int64()),
    pa.field("personas_per_seed", pa.int64()),
    pa.field("repeats", pa.int64()),
    pa.field("samples", pa.int64()),
    pa.field("design", pa.string()),
    pa.field("clusters", pa.int64()),
    pa.field("silhouette", pa.float64()),
    *[pa.field(name, pa.float64()) for name in QUALITY_NUMBERS],
    pa.field("verdict", pa.string()),
    pa.field("cost_usd", pa.float64()),
    pa.field("model_id", pa.string()),
    pa.field("backend", pa.string()),
    pa.field("mode", pa.string()),
    pa.field("api", pa.string()),
    pa.field("temperature", pa.float64()),
    pa.field("date", pa.string(), nullable=False),
    pa.field("params_hash", pa.string(), nullable=False),
]
FIXED_COLUMNS: list[str] = [f.name for f in FIXED_FIELDS]
INT_COLUMNS = [f.name for f in FIXED_FIELDS if pa.types.is_integer(f.type)]
FLOAT_COLUMNS = [f.name for f in FIXED_FIELDS if pa.types.is_floating(f.type)]
STRING_COLUMNS = [f.name for f in FIXED_FIELDS if pa.types.is_string(f.type)]
DIMENSION_METRICS: tuple[str, ...] = ("inertia", "steerability")

# Columns of the Markdown summary table: (column, header). Metric headers are registry labels.
_MARKDOWN: list[tuple[str, str | None]] = [
    ("rank_label", "rank"),
    ("model", "model"),
    ("inertia", None),
    ("inertia_ci", "inertia 95% CI"),
    ("debiased_inertia", None),  # beside the raw inertia: the model's letter prior divided out
    ("steerability", None),
    ("top2", None),
    ("parse_rate", None),
    ("letter_mass", None),
    ("design", "personas x seeds x repeats x samples"),
    ("clusters", "clusters"),
    ("verdict", "quality"),
    ("model_id", "model id"),
    ("mode", "mode"),
]
MARKDOWN_COLUMNS: list[tuple[str, str]] = [
    (column, header or metric_registry.get(column).label.lower()) for column, header in _MARKDOWN
]
LEGEND_METRICS: tuple[str, ...] = (
    "inertia", "steerability", "top2", "parse_rate", "letter_mass", "permeability",
    "permeable_cells", "permeability_top",
)  # fmt: skip

RANKING_TEXT = """Results are ranked only within one questionnaire and one measurement protocol
(`protocol_hash`: questionnaire, personas, prompt template and variant, answer
mode and sampling settings, parser); rank 1 is the most value-inert model
(ranked by {rank_by}). A rank such as "1-2" is a tie group: the models'
bootstrap confidence intervals overlap the group leader's, so their order is
not established. *Clusters*: persona clusters of MRAT-centred value profiles
chosen by silhouette (1 = no structure)."""


def dimension_column(metric: str, dimension: str) -> str:
    """``inertia:Harm``: the column of one per-dimension metric."""
    return f"{metric}:{dimension}"


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Mapping):  # e.g. a per-dimension dict: its mean
        return _mean(value.values())
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return int(round(number)) if number is not None else None


def _mean(values: Iterable[Any]) -> float | None:
    finite = [v for v in (_number(x) for x in values) if v is not None]
    return float(np.mean(finite)) if finite else None


Key = tuple[str, str, str]


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
        value = _number(overall.get(key))
        if value is None:
            value = _mean(d.get(key) for d in dimensions.values())
        return value

    lo, hi = (list(overall.get("inertia_ci") or []) + [None, None])[:2]
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
        **{name: overall_value(name) for name in OVERALL_METRICS},
        "inertia_ci_low": _number(lo),
        "inertia_ci_high": _number(hi),
        "seed_stability": _mean(m.seed_stability.values()),
        "inertia_seed_sd": m.seed_spread.overall.inertia_sd if m.seed_spread else None,
        "permeable_cells": sum(c.significant for c in m.permeability) if m.permeability else None,
        "permeability_top": top.effect if top else None,
        "permeability_top_cell": f"{top.attribute} x {top.dimension}" if top else None,
        **{name: _number(m.model_dump().get(name)) for name in RESULT_METRICS},
        "n_personas": n_personas,
        "n_seeds": n_seeds,
        "personas_per_seed": per_seed,
        "repeats": repeats,
        "samples": m.samples,
        "design": _design(per_seed, n_seeds, repeats, m.samples),
        "clusters": cluster.k if cluster else None,
        "silhouette": cluster.silhouette if cluster else None,
        **quality_columns(quality),
        "cost_usd": _number((spend or {}).get("cost_usd")),
        "model_id": spec.get("model"),
        "backend": spec.get("backend"),
        "mode": spec.get("mode") or m.mode or None,
        "api": spec.get("api"),
        "temperature": _number(spec.get("temperature")),
        "date": date,
        "params_hash": params_hash,
    }
    for dim, values in dimensions.items():
        for metric in DIMENSION_METRICS:
            row[dimension_column(metric, dim)] = _number(values.get(metric))
    return row


def ranking_group(frame: pd.DataFrame) -> pd.Series:
    """The group each row is ranked in: questionnaire | protocol hash (or mode without one)."""
    none = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    protocol = frame.get("protocol_hash", none)
    mode = frame.get("mode", none).fillna("?").astype(str)
    ident = [
        p if isinstance(p, str) and p else f"mode={md}"
        for p, md in zip(protocol, mode, strict=True)
    ]
    return frame["questionnaire"].astype(str) + " | " + pd.Series(ident, index=frame.index)


def _sort_key(row: Mapping[str, Any], rank_by: str) -> tuple[Any, ...]:
    key: list[Any] = []
    for column, descending in RANK_KEYS[rank_by]:
        value = _number(row.get(column))
        # Missing values last; otherwise ascending on the (signed) value.
        key.append((1, 0.0) if value is None else (0, -value if descending else value))
    key.append(str(row.get("model")))
    return tuple(key)


def not_ranked_label(n_personas: Any) -> str:
    """The rank label of a result below the minimum sample: "not ranked (n = 2)"."""
    n = _integer(n_personas)
    return f"not ranked (n = {n})" if n is not None else "not ranked (n unknown)"


def rank_within(
    frame: pd.DataFrame,
    rank_by: str,
    intervals: Mapping[Any, tuple[float | None, float | None]] | None = None,
    min_personas: int = MIN_PERSONAS,
) -> pd.DataFrame:
    """``rank``, ``rank_label`` and ``tie_group`` within each ranking group (module docstring).

    ``intervals``: the ``rank_by`` indicator's CI per row index (default: the
    inertia CI columns when ranking by inertia, else none). Rows with fewer than
    ``min_personas`` personas (or no ``n_personas``) get no rank and no tie group
    (null) and the label :func:`not_ranked_label`.
    """
    if rank_by not in RANK_KEYS:
        raise ValueError(f"leaderboard.rank_by: {rank_by!r}; allowed: {', '.join(RANK_BY)}")
    if intervals is None:
        intervals = {}
        if rank_by == "inertia":
            intervals = {
                i: (_number(frame.at[i, "inertia_ci_low"]), _number(frame.at[i, "inertia_ci_high"]))
                for i in frame.index
            }
    out = pd.DataFrame(index=frame.index, columns=["rank", "rank_label", "tie_group"])
    none = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    sizes = frame.get("n_personas", none)
    for _, group in frame.groupby(ranking_group(frame), sort=True):
        rankable = []
        for i in group.index:
            n = _integer(sizes.at[i])
            if n is None or n < min_personas:
                out.loc[i] = [None, not_ranked_label(n), None]
            else:
                rankable.append(i)
        order = sorted(rankable, key=lambda i: _sort_key(group.loc[i].to_dict(), rank_by))
        ties = tie_groups([intervals.get(i, (None, None)) for i in order])
        for position, (idx, (tie, label)) in enumerate(zip(order, ties, strict=True), start=1):
            out.loc[idx] = [position, label, tie]
    return out


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
    name; ``quality``: quality reports (:class:`QualityReport`) by (model, questionnaire,
    variant);
    ``spend``: spend records by model; ``variants``: prompt-variant reports
    (:class:`~value_inertia.analysis.variants.report_model.VariantReport` or dicts) by (model,
    questionnaire), whose shifts go on the ``original`` row. Rows are sorted by
    questionnaire, ranking group, then rank. See the module docstring for
    columns and ranking.
    """
    if rank_by not in RANK_KEYS:
        raise ValueError(f"leaderboard.rank_by: {rank_by!r}; allowed: {', '.join(RANK_BY)}")
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
            shift_columns = _variant_columns(report, f"variants[{m.model}, {m.questionnaire}]")
            rows[-1].update(shift_columns)
            for column in shift_columns:
                shift_names.setdefault(column, None)
        ci = (list(m.overall.model_dump().get(f"{rank_by}_ci") or []) + [None, None])[:2]
        intervals.append((_number(ci[0]), _number(ci[1])))
        dims = dim_columns.setdefault(m.questionnaire, [])
        for dim in m.dimensions:
            if dim not in dims:
                dims.append(dim)
    extra = [
        dimension_column(metric, dim)
        for questionnaire in sorted(dim_columns)
        for dim in dim_columns[questionnaire]
        for metric in DIMENSION_METRICS
    ]
    extra = list(shift_names) + list(dict.fromkeys(extra))
    frame = pd.DataFrame.from_records(rows, columns=FIXED_COLUMNS + extra)
    frame = _coerce(frame)
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


def quality_columns(report: QualityReport | None) -> dict[str, Any]:
    """The board's quality columns (:data:`QUALITY_NUMBERS` and ``verdict``) of a typed
    quality report (all None without one)."""
    numbers = report.figures(QUALITY_NUMBERS) if report else {}
    return {
        **{name: _number(numbers.get(name)) for name in QUALITY_NUMBERS},
        "verdict": report.verdict if report else None,
    }


def _variant_columns(report: VariantReport | Mapping[str, Any], source: str) -> dict[str, Any]:
    """``shift_inertia_<variant>`` (+ ``_low`` / ``_high``) of a variants report."""
    if not isinstance(report, VariantReport):
        report = validate(VariantReport, dict(report), source)
    return {k: _number(v) for k, v in leaderboard_columns(report, VARIANT_SHIFT_METRICS).items()}


def load_variant_reports(root: Path) -> dict[tuple[str, str], VariantReport]:
    """Prompt-variant reports (``data/variants/<stem>.json``) by (model, questionnaire),
    typed; optional. A damaged or stale (invalid) file is an
    :class:`~value_inertia.core.errors.InputError` naming it.
    """
    out: dict[tuple[str, str], VariantReport] = {}
    vdir = variants_dir(Path(root))
    for path in _result_files(vdir) if vdir.is_dir() else []:
        report = read_variant_report(path)
        out[(report.model, report.questionnaire)] = report
    return out


def _coerce(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in frame.columns:
        if column in INT_COLUMNS:
            frame[column] = pd.array(
                [None if _integer(v) is None else _integer(v) for v in frame[column]],
                dtype="Int64",
            )
        elif column in STRING_COLUMNS:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        else:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


def arrow_schema(columns: Sequence[str]) -> pa.Schema:
    """The leaderboard's Parquet schema: the fixed fields plus float64 dimension columns."""
    fields = list(FIXED_FIELDS)
    for column in columns:
        if column not in FIXED_COLUMNS:
            fields.append(pa.field(column, pa.float64()))
    return pa.schema(fields)


def _result_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*__*.json") if not p.name.startswith("."))


def load_inputs(root: Path) -> tuple[list[dict], list[dict], dict[str, dict]]:
    """Read metrics, cluster summaries and model specs below ``root``, validated.

    A ``<model>__<questionnaire>[...].json`` file holding an object with
    ``model`` and ``questionnaire`` is a metrics file and must be valid
    (:class:`~value_inertia.core.results.MetricsResult`); other JSON objects there are
    not ours and are skipped. A damaged file (not JSON) or an invalid metrics or
    cluster file is an :class:`~value_inertia.core.errors.InputError` naming it.
    Cluster summaries without model/questionnaire get them from the file name.
    Returns JSON-ready dicts (the validated models dumped).
    """
    metrics: list[dict] = []
    for path in _result_files(metrics_dir(root)):
        data = read_json(path)
        if isinstance(data, dict) and "model" in data and "questionnaire" in data:
            metrics.append(read_metrics(path).model_dump(mode="json"))
    clusters: list[dict] = []
    for path in _result_files(clusters_dir(root)):
        data = read_json(path)
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a JSON object")
        summary = read_clusters(path)
        try:
            name, _ = parse_artifact_name(path.stem)
        except ValueError:
            name = None
        if name is not None:
            summary.model = summary.model or name.model
            summary.questionnaire = summary.questionnaire or name.questionnaire
            if "variant" not in data:
                summary.variant = name.variant
        clusters.append(summary.model_dump(mode="json"))
    models: dict[str, dict] = {}
    for path in sorted(model_specs_dir(root).glob("*.json")):
        data = read_json(path)
        if isinstance(data, dict):
            models[str(data.get("name") or path.stem)] = data
    return metrics, clusters, models


def load_quality_reports(root: Path) -> dict[Key, QualityReport]:
    """Quality reports (``data/quality/<stem>.json``) by (model, questionnaire, variant),
    typed (the variant from the file name); optional. A damaged or invalid file is an
    :class:`~value_inertia.core.errors.InputError` naming it."""
    quality: dict[Key, QualityReport] = {}
    qdir = quality_dir(Path(root))
    for path in _result_files(qdir) if qdir.is_dir() else []:
        try:
            name, _ = parse_artifact_name(path.stem)
        except ValueError:
            continue
        report = read_quality_report(path)
        quality[(report.model, report.questionnaire, name.variant)] = report
    return quality


def load_extras(
    root: Path,
) -> tuple[dict[Key, QualityReport], dict[str, dict[str, Any]]]:
    """Quality reports by (model, questionnaire, variant) and spend records by model.

    ``data/quality/<stem>.json`` (:class:`QualityReport`) and ``data/spend/<model>.json``
    (model, tokens_in, tokens_out, cost_usd); both optional. A damaged file is an
    :class:`~value_inertia.core.errors.InputError` naming it.
    """
    quality = load_quality_reports(root)
    spend: dict[str, dict[str, Any]] = {}
    sdir = spend_dir(Path(root))
    for path in sorted(sdir.glob("*.json")) if sdir.is_dir() else []:
        data = read_spend(path)
        spend[str(data.get("model") or path.stem)] = data
    return quality, spend


def load_current_inputs(
    root: Path,
    model_names: Sequence[str],
    questionnaire_ids: Sequence[str],
    variants: Sequence[str] | None = None,
) -> tuple[list[dict], list[dict], dict[str, dict]]:
    """:func:`load_inputs`, keeping only the given models, questionnaires (and variants).

    Files of models, questionnaires or prompt variants no longer in params (DVC
    leaves them in the workspace) do not reach the leaderboard or the published
    dataset. ``variants=None`` keeps every variant.
    """
    metrics, clusters, models = load_inputs(root)
    wanted = {(m, q) for m in model_names for q in questionnaire_ids}

    def keep(record: Mapping[str, Any]) -> bool:
        if (record["model"], record["questionnaire"]) not in wanted:
            return False
        return variants is None or record.get("variant", DEFAULT_VARIANT) in variants

    return (
        [m for m in metrics if keep(m)],
        [c for c in clusters if keep(c)],
        {name: spec for name, spec in models.items() if name in model_names},
    )


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float | np.floating):
        return f"{float(value):.{digits}f}"
    return str(value).replace("|", "\\|")


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(row: Mapping[str, Any], column: str) -> str:
    if column == "inertia_ci":
        lo, hi = _number(row.get("inertia_ci_low")), _number(row.get("inertia_ci_high"))
        if lo is None or hi is None:
            return "–"
        return f"{lo:.3f}–{hi:.3f}"
    if column == "rank_label" and not isinstance(row.get("rank_label"), str):
        return _fmt(row.get("rank"))
    return _fmt(row.get(column))


def to_markdown(frame: pd.DataFrame, heading_level: int = 2) -> str:
    """The leaderboard as Markdown: one section per questionnaire, one table per protocol.

    Each ranking group (protocol) has the summary table (ranked, tie groups in
    the rank column) and a per-dimension table (rows: dimensions; cells:
    inertia / steerability per model).
    """
    hashes = "#" * heading_level
    parts: list[str] = []
    if frame.empty:
        parts.append("_No results yet._")
    groups = ranking_group(frame) if len(frame) else pd.Series(dtype=str)
    for questionnaire, in_q in frame.groupby("questionnaire", sort=True):
        parts.append(f"{hashes} {questionnaire}")
        for _, group in in_q.groupby(groups.loc[in_q.index], sort=True):
            group = group.sort_values("rank")
            first = group.iloc[0]
            protocol = first.get("protocol_hash")
            variant_values = group["variant"].dropna() if "variant" in group else []
            variants = ", ".join(sorted({str(v) for v in variant_values}))
            parts.append(
                f"Protocol `{protocol}`" if isinstance(protocol, str) and protocol
                else f"Protocol unknown (answer mode {first.get('mode')})"
            )  # fmt: skip
            if variants and variants != DEFAULT_VARIANT:
                parts[-1] += f", prompt variant {variants}"
            parts[-1] += ":"
            records = group.to_dict(orient="records")
            parts.append(
                _md_table(
                    [header for _, header in MARKDOWN_COLUMNS],
                    ([_cell(r, c) for c, _ in MARKDOWN_COLUMNS] for r in records),
                )
            )
            dims = [
                c.split(":", 1)[1]
                for c in group.columns
                if c.startswith("inertia:") and group[c].notna().any()
            ]
            if dims:
                parts.append(f"Per dimension, inertia / steerability ({questionnaire}):")
                models = [str(m) for m in group["model"]]
                rows = []
                for dim in dims:
                    cells = [
                        f"{_fmt(r[dimension_column('inertia', dim)])} / "
                        f"{_fmt(r[dimension_column('steerability', dim)])}"
                        for r in records
                    ]
                    rows.append([_fmt(dim), *cells])
                parts.append(_md_table(["dimension", *[_fmt(m) for m in models]], rows))
    if len(frame):
        date, params_hash = frame["date"].iloc[0], frame["params_hash"].iloc[0]
        parts.append(f"Built {date}; parameters hash `{params_hash}`.")
    return "\n\n".join(parts) + "\n"


def legend(rank_by: str = "inertia") -> str:
    """The "what the numbers mean" text: the registry's entries, then how ranking works."""
    if rank_by not in RANK_KEYS:
        raise ValueError(f"leaderboard.rank_by: {rank_by!r}; allowed: {', '.join(RANK_BY)}")
    spec = metric_registry.get(rank_by)
    order = "highest first" if _descending(rank_by) else "lowest first"
    detail = f"overall {spec.label.lower()}, {order}"
    return (
        "**What the numbers mean.** Overall values are means over the questionnaire's value "
        "dimensions.\n\n"
        + metric_registry.legend_markdown(LEGEND_METRICS)
        + "\n\n"
        + RANKING_TEXT.replace("{rank_by}", detail)
    )


def write_leaderboard(
    frame: pd.DataFrame, out_dir: Path, rank_by: str = "inertia"
) -> dict[str, Path]:
    """Write ``leaderboard.{parquet,csv,json,md}`` to ``out_dir`` (atomically, each file).

    Parquet has an explicit schema (:func:`arrow_schema`); JSON is a list of
    records (null for missing values); Markdown has one section per
    questionnaire and a legend. Returns the paths by format.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = _coerce(frame.reset_index(drop=True))
    paths = {fmt: out_dir / f"leaderboard.{fmt}" for fmt in ("parquet", "csv", "json", "md")}
    write_frame(frame, arrow_schema(list(frame.columns)), paths["parquet"])
    write_text_atomic(frame.to_csv(index=False, lineterminator="\n"), paths["csv"])
    records = [
        {k: _json_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]
    write_text_atomic(json.dumps(records, indent=2, ensure_ascii=False) + "\n", paths["json"])
    markdown = (
        "# value-inertia leaderboard\n\n" + to_markdown(frame) + "\n" + legend(rank_by) + "\n"
    )
    write_text_atomic(markdown, paths["md"])
    return paths


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(float(value)) else None
    return value
