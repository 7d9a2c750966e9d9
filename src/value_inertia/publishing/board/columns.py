"""The board's columns, derived from the metric registry when asked (so a metric
registered later has its column), and the number helpers every board module uses."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

import value_inertia.analysis  # noqa: F401  (its modules register the metrics read here)
from value_inertia.core import registry as metric_registry

QUALITY_NUMBERS: tuple[str, ...] = ("alpha", "position_bias", "agreement", "debiased_inertia")
# registry metrics (scope "variant") shown per other prompt variant, with their CI
VARIANT_SHIFT_METRICS: tuple[str, ...] = ("shift_inertia",)

Key = tuple[str, str, str]


def ci_metrics() -> list[str]:
    """Overall metrics whose CI the board shows (``<name>_ci_low`` / ``_high``): those
    registered with ``summary="value_and_ci"`` (inertia)."""
    return [s.name for s in metric_registry.in_summary() if s.summary == "value_and_ci"]


def dimension_metrics() -> list[str]:
    """The metrics of the per-dimension columns (``inertia:Harm``) and the Markdown
    per-dimension table: those registered with ``per_dimension="board"``."""
    return metric_registry.per_dimension("board")


def fixed_fields() -> list[pa.Field]:
    """The columns every board has, in order (the registry's overall and result metrics
    in registration order)."""
    return [
        pa.field("rank", pa.int64()),
        pa.field("rank_label", pa.string()),
        pa.field("tie_group", pa.int64()),
        pa.field("model", pa.string(), nullable=False),
        pa.field("questionnaire", pa.string(), nullable=False),
        pa.field("variant", pa.string()),
        pa.field("protocol_hash", pa.string()),
        *[pa.field(name, pa.float64()) for name in metric_registry.names("overall")],
        *[pa.field(f"{n}_ci_{end}", pa.float64()) for n in ci_metrics() for end in ("low", "high")],
        pa.field("seed_stability", pa.float64()),
        pa.field("inertia_seed_sd", pa.float64()),
        pa.field("permeable_cells", pa.int64()),
        pa.field("permeability_top", pa.float64()),
        pa.field("permeability_top_cell", pa.string()),
        *[pa.field(name, pa.float64()) for name in metric_registry.names("result")],
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


def fixed_columns() -> list[str]:
    return [f.name for f in fixed_fields()]


def int_columns() -> list[str]:
    return [f.name for f in fixed_fields() if pa.types.is_integer(f.type)]


def string_columns() -> list[str]:
    return [f.name for f in fixed_fields() if pa.types.is_string(f.type)]


def arrow_schema(columns: Iterable[str]) -> pa.Schema:
    """The leaderboard's Parquet schema: the fixed fields plus float64 dimension columns."""
    fields = fixed_fields()
    fixed = {f.name for f in fields}
    for column in columns:
        if column not in fixed:
            fields.append(pa.field(column, pa.float64()))
    return pa.schema(fields)


def dimension_column(metric: str, dimension: str) -> str:
    """``inertia:Harm``: the column of one per-dimension metric."""
    return f"{metric}:{dimension}"


def number(value: Any) -> float | None:
    """A finite float, or None (a per-dimension dict: the mean of its values)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Mapping):  # e.g. a per-dimension dict: its mean
        return mean_of(value.values())
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def integer(value: Any) -> int | None:
    found = number(value)
    return int(round(found)) if found is not None else None


def mean_of(values: Iterable[Any]) -> float | None:
    finite = [v for v in (number(x) for x in values) if v is not None]
    return float(np.mean(finite)) if finite else None
