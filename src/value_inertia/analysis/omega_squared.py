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

from value_inertia.core.registry import register_metric


@dataclass(frozen=True)
class PermeabilityResult:
    """Result of :func:`permeability` for one (attribute, dimension) cell.

    ``effect``: omega-squared (chance-corrected, about 0 under no effect and
    slightly negative by chance); ``p_value``: permutation p-value of F;
    ``n``: personas used; ``n_groups``: categories with at least one persona;
    ``f_statistic``: the one-way ANOVA F; ``method``: ``"omega_squared"``.
    """

    effect: float
    p_value: float
    n: int
    n_groups: int
    f_statistic: float
    method: str = "omega_squared"


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


@register_metric(
    "permeability",
    "Permeability (omega-squared)",
    None,
    "How much one persona attribute explains the MRAT-centred persona scores of a dimension, "
    "corrected for chance (0: no more than chance, for 2 or 65 categories alike); "
    "permutation p-value, Benjamini-Hochberg q over the attribute x dimension grid.",
    "omega^2 = (SS_b - (k-1) MS_w) / (SS_t + MS_w)",
    ("permeability",),
)
def permeability(
    scores: np.ndarray | Sequence[float],
    groups: Sequence[Hashable] | np.ndarray,
    n_permutations: int = 1000,
    seed: int = 0,
) -> PermeabilityResult:
    """Selective permeability: omega-squared of a one-way ANOVA, permutation p-value.

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

    p-value: the labels are permuted B = ``n_permutations`` times (group sizes
    kept), p = (1 + #{F*_b >= F}) / (B + 1). With fixed group sizes F is
    monotone in SS_b, so SS_b is compared. NaN effect and p-value when fewer
    than 2 groups remain, N - k < 1, or the scores do not vary.
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
    return permeability_many(x[:, None], [codes], n_permutations, seed)[0][0]


def permeability_many(
    scores: np.ndarray,
    group_codes: Sequence[np.ndarray],
    n_permutations: int = 1000,
    seed: int = 0,
) -> list[list[PermeabilityResult]]:
    """:func:`permeability` for every (grouping, column) pair, sharing the permutations.

    ``scores``: persona x dimension array with no NaN; ``group_codes``: one
    integer code array (0..k-1, one per persona) per attribute. The same
    B random permutations of the personas serve every cell (each cell's
    p-value is still an exact permutation p-value): permuting the scores
    against fixed labels is the same test as permuting the labels. Returns
    results[attribute][dimension].
    """
    x_all = np.asarray(scores, dtype=float)
    if x_all.ndim != 2:
        raise ValueError(f"scores must be persona x dimension (2-D), got shape {x_all.shape}")
    if not np.all(np.isfinite(x_all)):
        raise ValueError("scores must be finite (drop personas without a score first)")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
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
        exceed = np.zeros(observed.shape)
        tol = 1e-12 * np.maximum(ss_total, 1.0)
        chunk = max(1, min(n_permutations, 2_000_000 // max(n, 1)))
        done = 0
        index_cache: dict[tuple[int, int], np.ndarray] = {}
        while done < n_permutations:
            m = min(chunk, n_permutations - done)
            perm = rng.permuted(np.tile(np.arange(n), (m, 1)), axis=1)
            for d in range(n_dims):
                if not testable[:, d].any():
                    continue
                shuffled = x_all[perm, d].ravel()
                for a, (codes, k, sizes) in enumerate(groups):
                    if not testable[a, d]:
                        continue
                    idx = index_cache.get((a, m))
                    if idx is None:
                        idx = (codes[None, :] + (np.arange(m) * k)[:, None]).ravel()
                        index_cache[(a, m)] = idx
                    sums = np.bincount(idx, weights=shuffled, minlength=m * k).reshape(m, k)
                    ss_b = (sums**2 / sizes).sum(axis=1)  # the mean term is 0 (centred)
                    exceed[a, d] += int((ss_b >= observed[a, d] - tol[d]).sum())
            done += m
        for a, d in zip(*np.nonzero(testable), strict=True):
            r = results[a][d]
            p = (1 + exceed[a, d]) / (n_permutations + 1)
            results[a][d] = PermeabilityResult(r.effect, float(p), r.n, r.n_groups, r.f_statistic)
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
