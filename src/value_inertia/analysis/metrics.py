"""Metrics of value inertia: pure functions, numpy arrays in, floats/arrays out.

Notation: p is a distribution over the K = 6 answer options (ratings 1..6),
p_k its k-th entry; H(p) = -sum_k p_k log2 p_k is the Shannon entropy in bits
with 0 log 0 = 0. Formulas follow Lee, Cho & Lee (arXiv 2408.09049); MRAT
centring follows Schwartz (PVQ scoring instructions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

from value_inertia.analysis import stats as stats_core
from value_inertia.core.registry import register_metric
from value_inertia.design.questionnaires import N_OPTIONS

_LOG2_K = float(np.log2(N_OPTIONS))


# --------------------------------------------------------------------------- #
# Answer distributions
# --------------------------------------------------------------------------- #


def normalise(p: np.ndarray | Sequence[float]) -> np.ndarray:
    """Counts or probabilities over the 6 options -> probabilities.

    p_k = c_k / sum_j c_j. Raises ValueError unless ``p`` has length 6 and is
    finite, non-negative and not all zero.
    """
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1 or arr.size != N_OPTIONS:
        raise ValueError(f"expected {N_OPTIONS} option counts, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"option counts must be finite, got {arr.tolist()}")
    if np.any(arr < 0):
        raise ValueError(f"option counts must be non-negative, got {arr.tolist()}")
    total = arr.sum()
    if total <= 0:
        raise ValueError("option counts are all zero: no answers to build a distribution from")
    return arr / total


def entropy_bits(p: np.ndarray | Sequence[float]) -> float:
    """Shannon entropy in bits, H(p) = -sum_k p_k log2 p_k, 0 log 0 = 0 (scipy.stats.entropy)."""
    return stats_core.entropy_bits(normalise(p))


def inertia_rows(sums: np.ndarray) -> np.ndarray:
    """:func:`inertia_index` of each row of ``sums`` (rows: counts or distributions), vectorised."""
    return 1.0 - stats_core.entropy_rows(sums) / _LOG2_K


def steerability_rows(p_baseline: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`steerability` against ``p_baseline`` of each row of a 2-D array, vectorised."""
    return lambda sums: stats_core.jsd_rows(p_baseline, sums)


@register_metric(
    "inertia",
    "Inertia",
    True,
    "How concentrated the pooled answers are (1: every persona gives the same answer; "
    "0: all six options equally likely). Higher = more value-inert.",
    "I(d) = 1 - H(p_d) / log2 6",
    kind="distribution",
    rows=inertia_rows,
    has_ci=True,
    bounds=(0.0, 1.0),
    rankable=True,
    shown_by_default=True,
    column_order=10,
    summary="value_and_ci",
    per_dimension="board",
)
def inertia_index(p: np.ndarray | Sequence[float]) -> float:
    """Inertia Index I = 1 - H(p) / log2(6), H in bits.

    1 when every answer is the same option (one-hot), 0 for the uniform
    distribution. ``p`` may be counts; it is normalised first.
    """
    return float(1.0 - entropy_bits(p) / _LOG2_K)


@register_metric(
    "steerability",
    "Steerability",
    False,
    "How far personas move the answers away from the no-persona baseline "
    "(0: personas change nothing). Lower = more value-inert.",
    "S(d) = JSD_2(p_d^baseline, p_d^persona)",
    kind="paired",
    rows=steerability_rows,
    has_ci=True,
    bounds=(0.0, 1.0),
    rankable=True,
    shown_by_default=True,
    column_order=30,
    summary="value",
    per_dimension="board",
)
def steerability(
    p_baseline: np.ndarray | Sequence[float], p_persona: np.ndarray | Sequence[float]
) -> float:
    """Steerability S = JSD(p_baseline, p_persona), log base 2, in [0, 1].

    JSD(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2,
    KL(p || m) = sum_k p_k log2(p_k / m_k) (terms with p_k = 0 are 0).
    0 for identical distributions, 1 for distributions with disjoint support
    (``scipy.spatial.distance.jensenshannon``, squared).
    """
    return stats_core.jsd_bits(normalise(p_baseline), normalise(p_persona))


@register_metric(
    "top2",
    "Top-2",
    True,
    "Share of the two most frequent options in the pooled answers.",
    "p_(1) + p_(2)",
    kind="distribution",
    rankable=True,
    shown_by_default=True,
    column_order=40,
    per_dimension="plot",
)
def top2_concentration(p: np.ndarray | Sequence[float]) -> float:
    """Top-2 concentration: p_(1) + p_(2), the two largest entries of the normalised p."""
    q = np.sort(normalise(p))
    return float(q[-1] + q[-2])


@register_metric(
    "top1",
    "Top-1",
    True,
    "Share of the most frequent option in the pooled answers.",
    "max_k p_k",
    kind="distribution",
)
def top1_share(p: np.ndarray | Sequence[float]) -> float:
    """Top-1 share: max_k p_k of the normalised p."""
    return float(normalise(p).max())


@register_metric(
    "mean_rating",
    "Mean rating",
    None,
    "Mean rating on the 1-6 scale (1 = first option, 6 = last).",
    "E[r] = sum_k k p_k",
    ("dimension",),
    kind="distribution",
    per_dimension="plot",
)
def expected_rating(p: np.ndarray | Sequence[float]) -> float:
    """Expected rating E[r] = sum_k k p_k, k = 1..6 (normalised p)."""
    return float(np.dot(np.arange(1, N_OPTIONS + 1), normalise(p)))


# --------------------------------------------------------------------------- #
# Persona-level scores
# --------------------------------------------------------------------------- #


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    """Mean over ``axis`` ignoring NaN; NaN (no warning) where nothing is left."""
    count = (~np.isnan(a)).sum(axis=axis)
    total = np.nansum(a, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


@register_metric(
    "mrat",
    "MRAT-centred score",
    None,
    "Dimension mean minus the persona's mean over all scored items, averaged over personas "
    "(removes each persona's overall scale use).",
    "mean_d(persona) - MRAT(persona)",
    ("dimension",),
    kind="per_persona",
    has_ci=True,
)
def mrat_scores(
    ratings: np.ndarray, dimension_of_item: Sequence[str | None]
) -> tuple[list[str], np.ndarray]:
    """MRAT-centred dimension scores per persona (Schwartz).

    For persona i and dimension d:
        score[i, d] = mean_{j in d} r[i, j] - mean_{j scored} r[i, j]
    where "scored" means every item whose dimension is not None (catch items
    are None and are ignored). Means skip NaN (missing answers); a score is NaN
    when the persona has no answer in d.

    ``ratings`` is persona x item; ``dimension_of_item`` labels its columns.
    Returns (dimension names in order of first appearance, persona x dimension
    array).
    """
    arr = np.asarray(ratings, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"ratings must be persona x item (2-D), got shape {arr.shape}")
    if arr.shape[1] != len(dimension_of_item):
        raise ValueError(
            f"ratings has {arr.shape[1]} item columns but dimension_of_item has "
            f"{len(dimension_of_item)} entries"
        )
    names = list(dict.fromkeys(d for d in dimension_of_item if d is not None))
    if not names:
        raise ValueError("no scored items: every entry of dimension_of_item is None")
    labels = np.array([d if d is not None else "" for d in dimension_of_item], dtype=object)
    scored = np.array([d is not None for d in dimension_of_item])
    grand = _nanmean(arr[:, scored], axis=1)
    scores = np.column_stack([_nanmean(arr[:, labels == d], axis=1) for d in names])
    return names, scores - grand[:, None]


def pearson_r(x: np.ndarray | Sequence[float], y: np.ndarray | Sequence[float]) -> float:
    """Seed stability: Pearson r between per-item mean ratings of two persona sets.

    r = sum (x_i - x̄)(y_i - ȳ) / sqrt(sum (x_i - x̄)^2 sum (y_i - ȳ)^2).
    Pairs with NaN on either side are dropped. NaN when fewer than 3 pairs are
    left or either side is constant (r is undefined there).
    """
    a = np.asarray(x, dtype=float).ravel()
    b = np.asarray(y, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same length, got {a.size} and {b.size}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.pearsonr(a, b).statistic)


def cohens_d(a: np.ndarray | Sequence[float], b: np.ndarray | Sequence[float]) -> float:
    """Cohen's d with pooled SD: d = (mean_a - mean_b) / s_pooled.

    s_pooled = sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2)),
    s^2 the sample variance (ddof = 1). NaN values are dropped. Returns NaN
    when a group has fewer than 2 values or s_pooled is 0.
    """
    xa = np.asarray(a, dtype=float).ravel()
    xb = np.asarray(b, dtype=float).ravel()
    xa, xb = xa[~np.isnan(xa)], xb[~np.isnan(xb)]
    na, nb = xa.size, xb.size
    if na < 2 or nb < 2:
        return float("nan")
    pooled = np.sqrt(((na - 1) * xa.var(ddof=1) + (nb - 1) * xb.var(ddof=1)) / (na + nb - 2))
    if pooled == 0:
        return float("nan")
    return float((xa.mean() - xb.mean()) / pooled)
