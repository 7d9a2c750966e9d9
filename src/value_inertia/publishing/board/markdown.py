"""The board's files (``leaderboard.{parquet,csv,json,md}``) and its text: the Markdown
tables, whose metric columns are the registry's default ones, and the legend, published
beside the registry (``legend.md``) so that the app shows this very text."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import value_inertia.analysis  # noqa: F401  (its modules register the metrics read here)
from value_inertia.analysis.stats import MIN_PERSONAS
from value_inertia.core import registry as metric_registry
from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.core.registry import registry_records
from value_inertia.core.table_io import write_frame, write_text_atomic
from value_inertia.publishing.board.build import coerce
from value_inertia.publishing.board.columns import (
    arrow_schema,
    ci_metrics,
    dimension_column,
    dimension_metrics,
    number,
)
from value_inertia.publishing.board.ranking import check_rank_by, descending, ranking_group

LEGEND_FILE = "legend.md"  # published beside metric_registry.json; the app shows it as is
REGISTRY_FILE = "metric_registry.json"
# Columns of the Markdown summary table around its metric columns: (column, header). They
# are the board's metadata, not metrics; metric headers are registry labels.
_MARKDOWN_BEFORE: list[tuple[str, str]] = [("rank_label", "rank"), ("model", "model")]
_MARKDOWN_AFTER: list[tuple[str, str]] = [
    ("design", "personas x seeds x repeats x samples"),
    ("clusters", "clusters"),
    ("verdict", "quality"),
    ("model_id", "model id"),
    ("mode", "mode"),
]


def markdown_metrics() -> list[str]:
    """The metric columns of the Markdown summary table: the registry's metrics shown by
    default, then the other per-result figures (scope ``result``: letter mass)."""
    return list(dict.fromkeys([*metric_registry.shown(), *metric_registry.names("result")]))


def markdown_columns() -> list[tuple[str, str]]:
    """(column, header) of the Markdown summary table: rank and model, :func:`markdown_metrics`
    (each CI the board has after its metric, e.g. "inertia 95% CI"), then design,
    clusters, quality, model id and mode."""
    metrics: list[tuple[str, str]] = []
    for name in markdown_metrics():
        metrics.append((name, metric_registry.get(name).label.lower()))
        if name in ci_metrics():
            metrics.append((f"{name}_ci", f"{name} 95% CI"))
    return _MARKDOWN_BEFORE + metrics + _MARKDOWN_AFTER


def legend_metrics() -> list[str]:
    """The metrics the board's legend explains: the Markdown table's, then the permeability
    ones (registry scope ``permeability``)."""
    return list(dict.fromkeys([*markdown_metrics(), *metric_registry.names("permeability")]))


RANKING_TEXT = """Results are ranked only within one questionnaire and one measurement protocol
(`protocol_hash`: questionnaire, personas, prompt template and variant, answer
mode and sampling settings, parser); rank 1 is the most value-inert model
(ranked by {rank_by}). A rank such as "1-2" is a tie group: the models'
bootstrap confidence intervals overlap the group leader's, so their order is
not established. A result with fewer than {min_personas} personas shows its numbers
without a rank ("not ranked (n = 2)"). *Clusters*: persona clusters of MRAT-centred
value profiles chosen by silhouette (1 = no structure)."""


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
    if column.endswith("_ci") and f"{column}_low" in row:
        lo, hi = number(row.get(f"{column}_low")), number(row.get(f"{column}_high"))
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
    columns = markdown_columns()
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
                    [header for _, header in columns],
                    ([_cell(r, c) for c, _ in columns] for r in records),
                )
            )
            # dimensions: those of the first per-dimension metric with a value here
            per_dim = dimension_metrics()
            dims = [
                c.split(":", 1)[1]
                for c in group.columns
                if per_dim and c.startswith(f"{per_dim[0]}:") and group[c].notna().any()
            ]
            if dims:
                parts.append(f"Per dimension, {' / '.join(per_dim)} ({questionnaire}):")
                models = [str(m) for m in group["model"]]
                rows = []
                for dim in dims:
                    cells = [
                        " / ".join(_fmt(r.get(dimension_column(m, dim))) for m in per_dim)
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
    check_rank_by(rank_by)
    spec = metric_registry.get(rank_by)
    order = "highest first" if descending(rank_by) else "lowest first"
    detail = f"overall {spec.label.lower()}, {order}"
    return (
        "**What the numbers mean.** Overall values are means over the questionnaire's value "
        "dimensions.\n\n"
        + metric_registry.legend_markdown(legend_metrics())
        + "\n\n"
        + RANKING_TEXT.replace("{rank_by}", detail).replace("{min_personas}", str(MIN_PERSONAS))
    )


def write_registry(out_dir: Path, rank_by: str = "inertia") -> dict[str, Path]:
    """Publish the registry and its text into ``out_dir``: ``metric_registry.json`` (what
    the app reads for labels, digits and default columns) and ``legend.md`` (:func:`legend`,
    rendered here once: the app shows it as it is). Returns ``{"registry", "legend"}``."""
    out = {"registry": out_dir / REGISTRY_FILE, "legend": out_dir / LEGEND_FILE}
    write_text_atomic(json.dumps(registry_records(), indent=2) + "\n", out["registry"])
    write_text_atomic(legend(rank_by) + "\n", out["legend"])
    return out


def write_leaderboard(
    frame: pd.DataFrame, out_dir: Path, rank_by: str = "inertia"
) -> dict[str, Path]:
    """Write ``leaderboard.{parquet,csv,json,md}`` to ``out_dir`` (atomically, each file)
    and the metric registry and legend beside them (:func:`write_registry`).

    Parquet has an explicit schema (:func:`arrow_schema`); JSON is a list of
    records (null for missing values); Markdown has one section per
    questionnaire and the legend. Returns the paths by format (``registry``: the
    registry, ``legend``: the legend).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = coerce(frame.reset_index(drop=True))
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
    return {**paths, **write_registry(out_dir, rank_by)}


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(float(value)) else None
    return value
