"""Metrics of value inertia: pure functions, numpy arrays in, floats/arrays out.

Notation: p is a distribution over the K = 6 answer options (ratings 1..6),
p_k its k-th entry; H(p) = -sum_k p_k log2 p_k is the Shannon entropy in bits
with 0 log 0 = 0. Formulas follow Lee, Cho & Lee (arXiv 2408.09049); MRAT
centring follows Schwartz (PVQ scoring instructions).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

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
    """Shannon entropy in bits: H(p) = -sum_k p_k log2 p_k, with 0 log 0 = 0."""
    q = normalise(p)
    nz = q[q > 0]
    return float(-(nz * np.log2(nz)).sum())


@register_metric(
    "inertia",
    "Inertia",
    True,
    "How concentrated the pooled answers are (1: every persona gives the same answer; "
    "0: all six options equally likely). Higher = more value-inert.",
    "I(d) = 1 - H(p_d) / log2 6",
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
)
def steerability(
    p_baseline: np.ndarray | Sequence[float], p_persona: np.ndarray | Sequence[float]
) -> float:
    """Steerability S = JSD(p_baseline, p_persona), log base 2, in [0, 1].

    JSD(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2,
    KL(p || m) = sum_k p_k log2(p_k / m_k) (terms with p_k = 0 are 0).
    0 for identical distributions, 1 for distributions with disjoint support.
    """
    p = normalise(p_baseline)
    q = normalise(p_persona)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / m[nz])).sum())

    return float(np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, 1.0))


@register_metric(
    "top2",
    "Top-2",
    True,
    "Share of the two most frequent options in the pooled answers.",
    "p_(1) + p_(2)",
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


# --------------------------------------------------------------------------- #
# Selective permeability
# --------------------------------------------------------------------------- #


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


# --------------------------------------------------------------------------- #
# Convergence and uncertainty
# --------------------------------------------------------------------------- #


def seed_convergence(
    scores_by_seed: Sequence[np.ndarray | Sequence[float]],
    sizes: Sequence[int],
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Between-seed variance of the mean score of the first k personas (the paper's convergence).

    ``scores_by_seed``: for each of the S >= 2 persona seeds, one score per
    persona in the order the personas were drawn (e.g. MRAT-centred scores of
    one dimension). For each k in ``sizes``:

        m_s(k) = (1/k) sum_{i <= k} x_{s,i}          (mean of seed s's first k personas)
        V(k)   = 1/(S-1) sum_s (m_s(k) - m̄(k))^2     (variance across seeds, ddof = 1)

    V(k) shrinks as k grows when the seeds' persona populations agree; it does
    not fall to 0 at k = n by construction (unlike subsets of one pooled set).
    Band: percentile bootstrap of V(k), resampling each seed's first k personas
    with replacement ``n_boot`` times. Returns (V, band_low, band_high), one
    entry per k. Raises ValueError with fewer than 2 seeds, a k outside
    1..min_s n_s, or NaN scores (drop them first).
    """
    seeds = [np.asarray(v, dtype=float).ravel() for v in scores_by_seed]
    if len(seeds) < 2:
        raise ValueError("convergence across seeds needs at least two persona seeds")
    if any(not np.all(np.isfinite(v)) for v in seeds):
        raise ValueError("scores must be finite (drop personas without a score first)")
    n_min = min(v.size for v in seeds)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    variance, low, high = (np.empty(len(sizes)) for _ in range(3))
    alpha = (1 - confidence) / 2
    for i, k in enumerate(sizes):
        if not 1 <= k <= n_min:
            raise ValueError(f"size {k} is outside 1..{n_min} (personas of the smallest seed)")
        means = np.array([v[:k].mean() for v in seeds])
        variance[i] = means.var(ddof=1)
        boot = np.column_stack(
            [v[:k][rng.integers(0, k, size=(n_boot, k))].mean(axis=1) for v in seeds]
        )
        low[i], high[i] = np.quantile(boot.var(axis=1, ddof=1), [alpha, 1 - alpha])
    return variance, low, high


def _percentile_interval(values: Sequence[float], confidence: float) -> tuple[float, float]:
    """The (1 - c)/2 and (1 + c)/2 quantiles of the non-NaN ``values``; NaNs if none."""
    boot = np.asarray(values, dtype=float)
    boot = boot[~np.isnan(boot)]
    if boot.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bootstrap_ci_of_sums(
    data: np.ndarray,
    statistic_of_sum: Callable[[np.ndarray], float],
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
    chunk: int = 64,
) -> tuple[float, float]:
    """Percentile bootstrap CI over personas (rows of ``data``) of
    theta = statistic_of_sum(sum of the resampled rows).

    Resample B = ``n_boot`` times n rows with replacement, compute
    theta*_b = statistic_of_sum(sum of rows_b), and return the (1 - c)/2 and
    (1 + c)/2 quantiles of theta*_1..theta*_B, c = ``confidence`` (NaN resamples
    ignored; (NaN, NaN) if all are). The sums are computed as (resample counts) @ data,
    ``chunk`` resamples at a time, instead of copying every resample: fast and small
    for many personas.
    """
    arr = np.asarray(data, dtype=float)
    n = arr.shape[0]
    if n < 1:
        raise ValueError("the bootstrap needs at least one row of data")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    sums = []
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        rows = rng.integers(0, n, size=(m, n))
        counts = np.bincount((rows + (np.arange(m) * n)[:, None]).ravel(), minlength=m * n)
        sums.append(counts.reshape(m, n).astype(float) @ arr)
    return _percentile_interval([statistic_of_sum(s) for s in np.vstack(sums)], confidence)
