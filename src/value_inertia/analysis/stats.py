"""The statistics core: entropy and divergence, resampling over personas, intervals, tie groups.

Every analysis module draws its resamples, intervals and divergences from here, so
that one rule holds everywhere:

* :func:`entropy_bits` and :func:`jsd_bits` wrap ``scipy.stats.entropy`` and
  ``scipy.spatial.distance.jensenshannon`` (base 2);
* :func:`resample_counts` is the bootstrap over personas (how often each persona
  is drawn in each resample), shared by the paired and the plain bootstraps;
* :func:`studentized_interval` is the interval of a statistic of summed persona
  rows (bootstrap-t with a delta-method standard error, never narrower than the t
  interval with the effective number of personas as its degrees of freedom), the
  method whose coverage ``benchmarks/bench_ci_coverage.py`` measures (percentile and
  BCa intervals, and the bootstrap-t alone, undercover at 30 personas);
  :func:`percentile_interval` serves bands whose coverage is not claimed
  (convergence) and the benchmark's comparison;
* :func:`tie_groups` is the one rule that groups ranked rows by their intervals.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

#: The smallest number of personas a result is ranked (and its reliability reported) with:
#: below it bootstrap intervals over personas do not reach their nominal coverage
#: (benchmarks/bench_ci_coverage.py) and a rank would be a guess. The quality report's
#: ``min_personas`` threshold is the same number.
MIN_PERSONAS = 30


# --------------------------------------------------------------------------- helpers


def keyed_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``keys`` (not on call order)."""
    entropy = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(k.encode("utf-8")) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def mean_or_none(values: Sequence[float | None]) -> float | None:
    """Mean of the finite values; None when there are none."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


# --------------------------------------------------------------------------- divergences


def entropy_bits(p: np.ndarray | Sequence[float]) -> float:
    """Shannon entropy in bits, H(p) = -sum_k p_k log2 p_k (0 log 0 = 0), of a normalised ``p``."""
    return float(stats.entropy(np.asarray(p, dtype=float), base=2))


def jsd_bits(p: np.ndarray | Sequence[float], q: np.ndarray | Sequence[float]) -> float:
    """Jensen-Shannon divergence in bits, clipped to [0, 1].

    JSD(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2; scipy's
    ``jensenshannon`` returns its square root (the JS distance), squared here.
    """
    with np.errstate(invalid="ignore"):
        distance = float(
            jensenshannon(np.asarray(p, dtype=float), np.asarray(q, dtype=float), base=2)
        )
    if not np.isfinite(distance):  # a rounding-negative divergence of identical inputs
        return 0.0
    return float(np.clip(distance**2, 0.0, 1.0))


def entropy_rows(p: np.ndarray) -> np.ndarray:
    """:func:`entropy_bits` of each row of ``p`` (rows normalised first)."""
    arr = np.asarray(p, dtype=float)
    return np.asarray(stats.entropy(arr, base=2, axis=1), dtype=float)


def jsd_rows(p: np.ndarray | Sequence[float], q: np.ndarray) -> np.ndarray:
    """:func:`jsd_bits` of one distribution ``p`` against each row of ``q`` (NaN for empty rows)."""
    rows = np.asarray(q, dtype=float)
    totals = rows.sum(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        rows = rows / totals
    ref = np.broadcast_to(np.asarray(p, dtype=float) / np.sum(p), rows.shape)
    with np.errstate(invalid="ignore"):
        distance = np.nan_to_num(jensenshannon(ref, rows, base=2, axis=1), nan=0.0)
    return np.where(totals[:, 0] > 0, np.clip(distance**2, 0.0, 1.0), np.nan)


# --------------------------------------------------------------------------- resampling


def resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot x n``: how often each of n personas is drawn in each bootstrap resample.

    Row b is the multiplicity vector of resample b (n draws with replacement):
    a statistic of a sum over personas is then ``counts @ rows``, with no copy of
    the resampled data.
    """
    if n < 1:
        raise ValueError("a bootstrap needs at least one persona")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    draws = rng.integers(0, n, size=(n_boot, n))
    counts = np.bincount((draws + (np.arange(n_boot) * n)[:, None]).ravel(), minlength=n_boot * n)
    return counts.reshape(n_boot, n).astype(float)


# --------------------------------------------------------------------------- intervals


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def percentile_interval(
    values: Sequence[float] | np.ndarray, confidence: float
) -> tuple[float, float]:
    """The (1 - c)/2 and (1 + c)/2 quantiles of the finite ``values``; (NaN, NaN) if none."""
    _check_confidence(confidence)
    draws = np.asarray(values, dtype=float)
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(draws, [tail, 1 - tail])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- ranking


def _overlaps(a: tuple[float | None, float | None], b: tuple[float | None, float | None]) -> bool:
    if None in a or None in b:
        return False
    return a[0] <= b[1] and b[0] <= a[1]  # type: ignore[operator]


def tie_groups(intervals: Sequence[tuple[float | None, float | None]]) -> list[tuple[int, str]]:
    """(tie group, rank label) for rows already in rank order, from their intervals.

    The first row leads group 1; every later row whose interval overlaps the
    leader's joins it, up to the last such row (so groups are rank ranges);
    the next row leads group 2, and so on. A group of ranks i..j is labelled
    ``"i-j"``, a single rank ``"i"``. A row without an interval is its own group.

    >>> tie_groups([(0.5, 0.7), (0.6, 0.8), (0.1, 0.2)])
    [(1, '1-2'), (1, '1-2'), (2, '3')]
    """
    out: list[tuple[int, str]] = []
    i, group = 0, 0
    n = len(intervals)
    while i < n:
        group += 1
        last = i
        for j in range(i + 1, n):
            if _overlaps(intervals[i], intervals[j]):
                last = j
        label = f"{i + 1}-{last + 1}" if last > i else f"{i + 1}"
        out.extend((group, label) for _ in range(i, last + 1))
        i = last + 1
    return out


def _centred_influence(
    statistic: Callable[[np.ndarray], np.ndarray],
    data: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """Centred influences a_i = l_i - lbar of the personas, one row per row of ``weights``.

    Linearising theta = statistic(S), S = weights @ data (sum w_i = n fixed), in
    the persona weights, the influence of persona i is l_i = grad theta(S) . x_i
    and lbar = sum_i w_i l_i / n. The gradient is a central difference with step
    1e-5 |S| per coordinate (forward where a coordinate is too small to step down).
    """
    sums = weights @ data
    m, d = sums.shape
    step = 1e-5 * np.abs(sums).sum(axis=1, keepdims=True) + 1e-12
    grads = np.empty((m, d))
    base = statistic(sums)
    for k in range(d):
        up = sums.copy()
        up[:, k] += step[:, 0]
        down = sums.copy()
        can_down = sums[:, k] > step[:, 0]
        down[can_down, k] -= step[can_down, 0]
        f_up = statistic(up)
        f_down = np.where(can_down, statistic(down), base)
        grads[:, k] = (f_up - f_down) / np.where(can_down, 2 * step[:, 0], step[:, 0])
    influence = grads @ data.T  # m x n
    n = data.shape[0]
    return influence - (weights * influence).sum(axis=1, keepdims=True) / n


def _influence_se(
    statistic: Callable[[np.ndarray], np.ndarray],
    data: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """Delta-method SE of theta = statistic(weights @ data), one per row of ``weights``.

    Under multinomial resampling of the personas Var(theta) = sum_i w_i a_i^2, a_i
    the centred influences (:func:`_centred_influence`).
    """
    a = _centred_influence(statistic, data, weights)
    return np.sqrt((weights * a**2).sum(axis=1))


def effective_personas(influence: np.ndarray) -> float:
    """How many personas carry the variance: n_eff = (sum_i a_i^2)^2 / sum_i a_i^4.

    ``influence``: the centred influences a_i of one estimate. n_eff = n when every
    persona contributes equally to the variance, 1 when one persona carries all of
    it (the inverse Herfindahl index of the variance shares a_i^2 / sum a^2).

    >>> effective_personas(np.array([1.0, -1.0, 1.0, -1.0]))
    4.0
    >>> round(effective_personas(np.array([3.0, -3.0, 0.1, 0.1, -0.2])), 1)  # two carry it
    2.0
    """
    a2 = np.asarray(influence, dtype=float) ** 2
    total = float(a2.sum())
    return total**2 / float((a2**2).sum()) if total > 0 else 0.0


def studentized_interval(
    rows: np.ndarray,
    statistic_of_sum: Callable[[np.ndarray], np.ndarray],
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
    chunk: int = 128,
    *,
    small_sample_guard: bool = True,
) -> tuple[float, float]:
    """Studentized (bootstrap-t) interval of theta = statistic_of_sum(sum of rows), over personas.

    The rows are personas, resampled with replacement. ``statistic_of_sum`` is
    vectorised (2-D sums in, one value per row out). With se the delta-method SE
    (:func:`_influence_se`), t*_b = (theta*_b - theta_hat) / se*_b over the
    resamples, and the bootstrap-t interval is

        (theta_hat - t*_(1+c)/2 se_hat, theta_hat - t*_(1-c)/2 se_hat).

    Small-sample guard: the interval is never narrower than the t interval
    theta_hat +- t_(1+c)/2,df se_hat, df = min(n - 1, n_eff - 1), n_eff the number of
    personas that carry the variance (:func:`effective_personas` of the influences).
    When a few personas carry it (near one-hot answers in sample mode: 27 of 30
    personas give the modal answer to every item) the bootstrap cannot draw what the
    data lack and t* is too short-tailed; the t interval with few degrees of freedom
    is then the wider one. Sample mode at 30 personas: 0.918 / 0.937 / 0.923 coverage
    without the guard, 0.960 / 0.950 / 0.953 with it (flat / concentrated / near
    one-hot, benchmarks/bench_ci_coverage.py). ``small_sample_guard=False`` is the
    bootstrap-t alone, for that comparison.

    Resamples with se* = 0 (one persona drawn n times) carry no t* and are left
    out. Data without variance (every persona row the same) gives the point
    (theta_hat, theta_hat). Not measured, (NaN, NaN): fewer than 2 personas; t*
    that does not vary (two personas: t* is always 0); se_hat = 0 while the data
    vary (theta at a stationary point, e.g. the inertia of an exactly flat pooled
    distribution, where the delta method gives no scale). The guarded interval
    always has theta_hat strictly inside.
    """
    _check_confidence(confidence)
    data = np.asarray(rows, dtype=float)
    if data.ndim == 1:
        data = data[:, None]
    n = data.shape[0]
    if n < 2 or n_boot < 1:
        return float("nan"), float("nan")
    ones = np.ones((1, n))
    estimate = float(np.asarray(statistic_of_sum(ones @ data)).ravel()[0])
    if np.all(data == data[0]):
        return estimate, estimate
    influence = _centred_influence(statistic_of_sum, data, ones)[0]
    se_hat = float(np.sqrt((influence**2).sum()))
    if not se_hat > 1e-12 * max(1.0, abs(estimate)):
        return float("nan"), float("nan")

    ts = []
    for start in range(0, n_boot, chunk):
        counts = resample_counts(n, min(chunk, n_boot - start), rng)
        theta = np.asarray(statistic_of_sum(counts @ data), dtype=float).ravel()
        se = _influence_se(statistic_of_sum, data, counts)
        ok = se > 0
        ts.append((theta[ok] - estimate) / se[ok])
    t = np.concatenate(ts)
    if t.size == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2
    t_lo, t_hi = np.quantile(t, [tail, 1 - tail])
    if not t_hi > t_lo:  # too few personas for t* to vary (two): not measured
        return float("nan"), float("nan")
    lo, hi = float(estimate - t_hi * se_hat), float(estimate - t_lo * se_hat)
    if not small_sample_guard:
        return lo, hi
    # the guard's t interval has the estimate strictly inside (se_hat > 0), so the
    # union never has it on an end
    df = max(1.0, min(n - 1.0, effective_personas(influence) - 1.0))
    half = float(stats.t.ppf(1 - tail, df)) * se_hat
    return min(lo, estimate - half), max(hi, estimate + half)


def bounded_interval(
    data: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> list[float | None]:
    """:func:`studentized_interval` over personas (rows of ``data``) as a stored ``[low, high]``.

    The interval is clipped to ``bounds`` (a metric's range, e.g. inertia's [0, 1]: a
    bootstrap-t interval can reach past it). ``[None, None]`` with fewer than 2
    personas or when the interval cannot be computed.
    """
    if data.shape[0] < 2 or n_boot < 1:
        return [None, None]
    lo, hi = studentized_interval(data, statistic, n_boot, confidence, rng)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [None, None]
    if bounds is not None:  # the interval holds the estimate, which is inside the bounds
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return [float(lo), float(hi)]
