"""Selective permeability as a one-way ANOVA effect: omega-squared and its p-value.

Pure functions, numpy arrays in, numbers out: :func:`permeability` for one
(attribute, dimension) cell, :func:`permeability_many` for a whole attribute x
dimension grid sharing its permutations, and :func:`benjamini_hochberg` for the
false-discovery control over the grid. The persona-table side (attribute
labels, the long table, grids, Cohen's d) is :mod:`value_inertia.analysis.permeability`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

from value_inertia.core.registry import MetricSpec, register, register_metric

MAX_PERMUTATIONS = 20_000  # adaptive permutations stop here for a cell (p resolution 5e-5)
MIN_EXCEEDANCES = 10  # a cell is resolved once this many permuted F reach the observed F
TAIL_CHECK_LEVEL = 0.999  # Clopper-Pearson level at which the permutations check the F tail

P_PERMUTATION = "permutation"
P_F_TAIL = "f_tail"


@dataclass(frozen=True)
class PermeabilityResult:
    """Result of :func:`permeability` for one (attribute, dimension) cell.

    ``effect``: omega-squared (chance-corrected, about 0 under no effect and
    slightly negative by chance); ``p_value``: the cell's p-value (see
    :func:`permeability`); ``n``: personas used; ``n_groups``: categories with
    at least one persona; ``f_statistic``: the one-way ANOVA F; ``method``:
    ``"omega_squared"``; ``n_permutations``: permutations drawn for the cell;
    ``p_method``: ``"permutation"`` or ``"f_tail"`` (the F distribution's tail,
    consistent with the permutations).
    """

    effect: float
    p_value: float
    n: int
    n_groups: int
    f_statistic: float
    method: str = "omega_squared"
    n_permutations: int = 0
    p_method: str = ""


def _group_codes(groups: Sequence[Hashable] | np.ndarray) -> np.ndarray:
    """Integer codes 0..k-1 of the labels (compared as strings; None is a label too)."""
    labels = np.asarray([str(g) for g in groups], dtype=object)
    _, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.int64)


def _between_ss(codes: np.ndarray, x: np.ndarray, k: int, sizes: np.ndarray) -> np.ndarray:
    """SS_between = sum_g n_g (mean_g - mean)^2 for each row of ``codes`` (B x n)."""
    b = codes.shape[0]
    offsets = (np.arange(b) * k)[:, None]
    sums = np.bincount((codes + offsets).ravel(), weights=np.tile(x, b), minlength=b * k)
    sums = sums.reshape(b, k)
    return (sums**2 / sizes).sum(axis=1) - x.sum() ** 2 / x.size


def tail_p_value(
    f_statistic: float,
    df_between: int,
    df_within: int,
    exceedances: int,
    draws: int,
    min_exceedances: int = MIN_EXCEEDANCES,
    level: float = TAIL_CHECK_LEVEL,
) -> tuple[float, str]:
    """A cell's p-value from its permutation count, or the F tail where that is too coarse.

    With ``e`` = #{F*_b >= F} of B = ``draws`` permutations:

    * e >= ``min_exceedances``: the permutation p = (1 + e) / (B + 1) is resolved
      (relative error about 1 / sqrt(e)); method ``"permutation"``.
    * otherwise the permutations only bound p: p_F = P(F(k - 1, N - k) >= F)
      (``scipy.stats.f.sf``) is used when it lies inside the two-sided
      ``level`` Clopper-Pearson interval of e / B (the permutations check the
      parametric tail); method ``"f_tail"``. Outside it (the F tail disagrees
      with the permutations, e.g. heavy tails in small groups) the permutation
      p = (1 + e) / (B + 1) stands.
    """
    permutation_p = (1 + exceedances) / (draws + 1)
    if exceedances >= min_exceedances:
        return float(permutation_p), P_PERMUTATION
    f_p = float(stats.f.sf(f_statistic, df_between, df_within))
    tail = (1 - level) / 2
    low = float(stats.beta.ppf(tail, exceedances, draws - exceedances + 1)) if exceedances else 0.0
    high = float(stats.beta.ppf(1 - tail, exceedances + 1, draws - exceedances))
    if low <= f_p <= high:
        return f_p, P_F_TAIL
    return float(permutation_p), P_PERMUTATION


@register_metric(
    "permeability",
    "Permeability (omega-squared)",
    None,
    "How much one persona attribute explains the MRAT-centred persona scores of a dimension, "
    "corrected for chance (0: no more than chance, for 2 or 65 categories alike); "
    "adaptive-permutation p-value (F tail where permutations cannot resolve it, checked "
    "against them), Benjamini-Hochberg q over the attribute x dimension grid.",
    "omega^2 = (SS_b - (k-1) MS_w) / (SS_t + MS_w)",
    ("permeability",),
)
def permeability(
    scores: np.ndarray | Sequence[float],
    groups: Sequence[Hashable] | np.ndarray,
    n_permutations: int = 1000,
    seed: int = 0,
    max_permutations: int = MAX_PERMUTATIONS,
    min_exceedances: int = MIN_EXCEEDANCES,
) -> PermeabilityResult:
    """Selective permeability: omega-squared of a one-way ANOVA and its p-value.

    ``scores``: one number per persona (e.g. its MRAT-centred dimension score);
    ``groups``: one label per persona (the attribute's category). Personas
    with a NaN score are dropped. With N personas in k groups of sizes n_g:

        SS_t = sum_i (x_i - x̄)^2,   SS_b = sum_g n_g (x̄_g - x̄)^2,   SS_w = SS_t - SS_b
        MS_w = SS_w / (N - k),      F = (SS_b / (k - 1)) / MS_w
        omega^2 = (SS_b - (k - 1) MS_w) / (SS_t + MS_w)

    omega^2 estimates the share of score variance explained by the attribute,
    with the chance part ``(k - 1) MS_w`` removed: its expectation is about 0
    when the attribute has no effect, however many categories it has (unlike
    the largest one-vs-rest Cohen's d, which grows with k). It can be slightly
    negative by chance.

    p-value, resolved finely enough for Benjamini-Hochberg over a grid of a few
    hundred cells (PVQ-RR: 12 x 19 = 228, where one true effect needs p <=
    0.05 / 228 = 2.2e-4): the labels are permuted (group sizes kept; with fixed
    sizes F is monotone in SS_b, so SS_b is compared) ``n_permutations`` times;
    a cell with fewer than ``min_exceedances`` permuted F at or above its F gets
    more permutations, 4 times as many per round, up to ``max_permutations``
    (sequential, after Besag & Clifford 1991). The p-value is then
    :func:`tail_p_value`: the permutation p where it is resolved, else the F
    distribution's tail where the permutations agree with it. NaN effect and
    p-value when fewer than 2 groups remain, N - k < 1, or the scores do not vary.
    """
    x = np.asarray(scores, dtype=float).ravel()
    labels = list(groups)
    if len(labels) != x.size:
        raise ValueError(f"scores has {x.size} entries but groups has {len(labels)}")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    keep = np.isfinite(x)
    x = x[keep]
    labels = [g for g, ok in zip(labels, keep, strict=True) if ok]
    codes = _group_codes(labels) if x.size else np.zeros(0, dtype=np.int64)
    return permeability_many(
        x[:, None], [codes], n_permutations, seed, max_permutations, min_exceedances
    )[0][0]


# The board's two summaries of the grid (counted where the board is built), registered
# beside the metric they summarise.
register(
    MetricSpec(
        "permeable_cells",
        "Permeable cells",
        None,
        "Number of (persona attribute, dimension) cells whose omega-squared is significant "
        "after Benjamini-Hochberg over the whole grid (p-values resolved to the grid's "
        "threshold by adaptive permutations and a permutation-checked F tail).",
        "#{cells: q_BH <= fdr_alpha}",
        ("permeability",),
        0,
    )
)
register(
    MetricSpec(
        "permeability_top",
        "Largest significant permeability",
        None,
        "The largest omega-squared among the significant cells, shown with its cell "
        "(attribute x dimension); empty when no cell is significant.",
        "max{omega^2: q_BH <= fdr_alpha}",
        ("permeability",),
    )
)


def _count_exceedances(
    x_all: np.ndarray,
    groups: list[tuple[np.ndarray, int, np.ndarray]],
    cells: np.ndarray,
    observed: np.ndarray,
    tol: np.ndarray,
    draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """#{SS_b* >= SS_b} over ``draws`` shared permutations, for the cells marked in ``cells``.

    Per dimension, the group sums of every permutation and every attribute come from one
    matrix product: permuted scores (draws x N) times the stacked one-hot group indicators
    (N x sum of k), on one BLAS thread (small products; threads only contend).
    """
    n = x_all.shape[0]
    exceed = np.zeros(observed.shape)
    chunk = max(1, min(draws, 1_000_000 // max(n, 1)))
    done = 0
    while done < draws:
        m = min(chunk, draws - done)
        perm = rng.permuted(np.tile(np.arange(n), (m, 1)), axis=1)
        for d in np.nonzero(cells.any(axis=0))[0]:
            attrs = np.nonzero(cells[:, d])[0]
            bounds = np.cumsum([0] + [groups[a][1] for a in attrs])
            onehot = np.zeros((n, int(bounds[-1])))
            for a, lo in zip(attrs, bounds[:-1], strict=True):
                onehot[np.arange(n), lo + groups[a][0]] = 1.0
            sums = x_all[perm, d] @ onehot  # m x sum(k)
            for j, a in enumerate(attrs):
                block = sums[:, bounds[j] : bounds[j + 1]]
                ss_b = (block**2 / groups[a][2]).sum(axis=1)  # the mean term is 0 (centred)
                exceed[a, d] += int((ss_b >= observed[a, d] - tol[d]).sum())
        done += m
    return exceed


def permeability_many(
    scores: np.ndarray,
    group_codes: Sequence[np.ndarray],
    n_permutations: int = 1000,
    seed: int = 0,
    max_permutations: int = MAX_PERMUTATIONS,
    min_exceedances: int = MIN_EXCEEDANCES,
) -> list[list[PermeabilityResult]]:
    """:func:`permeability` for every (grouping, column) pair, sharing the permutations.

    ``scores``: persona x dimension array with no NaN; ``group_codes``: one
    integer code array (0..k-1, one per persona) per attribute. The same
    random permutations of the personas serve every cell of a round (each
    cell's permutation p-value is still an exact permutation p-value):
    permuting the scores against fixed labels is the same test as permuting
    the labels. Cells not yet resolved (fewer than ``min_exceedances``
    exceedances) get further rounds, up to ``max_permutations`` draws in all.
    Returns results[attribute][dimension].
    """
    x_all = np.asarray(scores, dtype=float)
    if x_all.ndim != 2:
        raise ValueError(f"scores must be persona x dimension (2-D), got shape {x_all.shape}")
    if not np.all(np.isfinite(x_all)):
        raise ValueError("scores must be finite (drop personas without a score first)")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    max_permutations = max(int(max_permutations), int(n_permutations))
    n, n_dims = x_all.shape
    nan = float("nan")
    x_all = x_all - x_all.mean(axis=0) if n else x_all  # shift-invariant; better conditioned
    ss_total = (x_all**2).sum(axis=0)
    groups = []
    for codes in group_codes:
        codes = np.asarray(codes, dtype=np.int64)
        if codes.size != n:
            raise ValueError(f"group codes have {codes.size} entries, scores {n} rows")
        k = int(codes.max()) + 1 if n else 0
        sizes = np.bincount(codes, minlength=k).astype(float) if n else np.zeros(0)
        groups.append((codes, k, sizes))
    results: list[list[PermeabilityResult]] = []
    observed = np.full((len(groups), n_dims), np.nan)
    testable = np.zeros((len(groups), n_dims), dtype=bool)
    for a, (codes, k, sizes) in enumerate(groups):
        row = []
        for d in range(n_dims):
            if k < 2 or n - k < 1 or ss_total[d] <= 1e-24 or np.any(sizes == 0):
                row.append(PermeabilityResult(nan, nan, n, int((sizes > 0).sum()), nan))
                continue
            ss_b = float(_between_ss(codes[None, :], x_all[:, d], k, sizes)[0])
            ms_w = max(float(ss_total[d]) - ss_b, 0.0) / (n - k)
            f = (ss_b / (k - 1)) / ms_w if ms_w > 0 else float("inf")
            omega2 = (ss_b - (k - 1) * ms_w) / (float(ss_total[d]) + ms_w)
            observed[a, d], testable[a, d] = ss_b, True
            row.append(PermeabilityResult(float(omega2), nan, n, k, float(f)))
        results.append(row)
    if testable.any():
        rng = np.random.default_rng(seed)
        tol = 1e-12 * np.maximum(ss_total, 1.0)
        exceed = np.zeros(observed.shape)
        drawn = np.zeros(observed.shape, dtype=np.int64)
        active, target = testable.copy(), int(n_permutations)
        while active.any():
            step = target - int(drawn[active].max())
            with threadpool_limits(limits=1, user_api="blas"):
                exceed += _count_exceedances(x_all, groups, active, observed, tol, step, rng)
            drawn[active] = target
            active &= (exceed < min_exceedances) & (drawn < max_permutations)
            target = min(4 * target, max_permutations)
        for a, d in zip(*np.nonzero(testable), strict=True):
            r = results[a][d]
            p, how = tail_p_value(
                r.f_statistic, r.n_groups - 1, n - r.n_groups, int(exceed[a, d]),
                int(drawn[a, d]), min_exceedances,
            )  # fmt: skip
            results[a][d] = PermeabilityResult(
                r.effect, p, r.n, r.n_groups, r.f_statistic, r.method, int(drawn[a, d]), how
            )
    return results


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); NaN entries stay NaN.

    With the m finite p-values sorted, p_(1) <= ... <= p_(m):
    q_(i) = min_{j >= i} min(1, m p_(j) / j) (``scipy.stats.false_discovery_control``).
    A cell is a discovery at FDR level alpha when q <= alpha.
    """
    p = np.asarray(p_values, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        out[finite] = stats.false_discovery_control(p[finite], method="bh")
    return out
