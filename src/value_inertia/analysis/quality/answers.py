"""Answer quality and scale use: parse rate with reasons, MRAT mean and SD, acquiescence.

(Letter mass is averaged in :mod:`.report`; its registry entry lives in
:mod:`value_inertia.core.registry`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from value_inertia.analysis.quality.inputs import SCALE_MIDPOINT, as_matrix
from value_inertia.core.registry import MetricSpec, register, register_metric


@register_metric(
    "mrat_mean",
    "MRAT mean",
    None,
    "Mean over personas of each persona's mean rating over all scored items (scale use; "
    "3.5 is the midpoint of the 1-6 scale).",
    "mean_i MRAT_i, MRAT_i = mean_j r_ij",
    ("quality",),
)
def scale_use(matrix: Any) -> dict[str, float]:
    """Scale use over a persona x scored-item matrix of mean ratings.

    MRAT_i = mean_j r[i, j] (NaN skipped; personas with no answer dropped);
    mrat_mean = mean_i MRAT_i, mrat_sd = SD_i MRAT_i (ddof = 1; NaN for one
    persona), acquiescence = mrat_mean - 3.5 (the scale midpoint: positive =
    leaning to the upper options whatever the item).
    """
    arr = as_matrix(matrix, "matrix")
    counts = (~np.isnan(arr)).sum(axis=1)
    sums = np.nansum(arr, axis=1)
    mrat = sums[counts > 0] / counts[counts > 0]
    if mrat.size == 0:
        nan = float("nan")
        return {"mrat_mean": nan, "mrat_sd": nan, "acquiescence": nan, "n_personas": 0}
    mean = float(mrat.mean())
    return {
        "mrat_mean": mean,
        "mrat_sd": float(mrat.std(ddof=1)) if mrat.size > 1 else float("nan"),
        "acquiescence": mean - SCALE_MIDPOINT,
        "n_personas": int(mrat.size),
    }


register(
    MetricSpec(
        "mrat_sd",
        "MRAT SD",
        None,
        "Standard deviation over personas of their mean rating over all scored items.",
        "SD_i MRAT_i",
        ("quality",),
    )
)
register(
    MetricSpec(
        "acquiescence",
        "Acquiescence",
        None,
        "MRAT mean minus the scale midpoint 3.5 (positive: leaning to the upper options).",
        "mrat_mean - 3.5",
        ("quality",),
    )
)


def parse_summary(ratings: Any, reasons: Sequence[Any]) -> dict[str, Any]:
    """parse_rate = #(rating not NaN) / n; reasons = counts of ``reasons`` of unparsed rows."""
    r = np.asarray(ratings, dtype=float)
    if r.ndim != 1 or len(reasons) != r.size:
        raise ValueError("ratings and reasons must be 1-D and of equal length")
    unparsed = np.isnan(r)
    counts: dict[str, int] = {}
    for reason, miss in zip(reasons, unparsed, strict=True):
        if miss:
            key = str(reason) if reason is not None and reason == reason else "unknown"
            counts[key] = counts.get(key, 0) + 1
    return {
        "n_answers": int(r.size),
        "parse_rate": float((~unparsed).mean()) if r.size else float("nan"),
        "reasons": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
    }
