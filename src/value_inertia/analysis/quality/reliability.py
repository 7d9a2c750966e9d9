"""Internal consistency of a value dimension across personas: alpha and omega.

Computed over the persona x item matrix of mean ratings after ipsatizing
(:func:`ipsatize`: each persona's ratings minus that persona's mean over all
scored items, the MRAT), so that personas who only differ in how high they
answer everything (scale use, acquiescence) do not count as consistent.
Reported only from :data:`MIN_PERSONAS` complete personas on, and omega only
where the one-factor model is identified (at least :data:`MIN_ITEMS_OMEGA`
items).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from value_inertia.analysis.quality.inputs import (
    SMALL,
    as_matrix,
    check_boot,
    complete_rows,
    percentile_ci,
)
from value_inertia.core.registry import register_metric

#: Fewest complete personas (rows) alpha and omega are reported for: below it they
#: and their bootstrap CIs (resampling a handful of rows) say next to nothing; on 2
#: personas the covariance has rank 1, a single factor fits it exactly (omega = 1)
#: and alpha takes any value (-222.9 on the default run).
MIN_PERSONAS = 30
#: Fewest items for a one-factor model that is identified: k items give k(k+1)/2
#: covariances for 2k parameters (k loadings, k unique variances), so k >= 3.
MIN_ITEMS_OMEGA = 3


def ipsatize(matrix: Any) -> np.ndarray:
    """MRAT-centred scores: x'_ij = x_ij - MRAT_i, MRAT_i = mean_j x_ij (NaN skipped).

    Rows are personas, columns all scored items of the questionnaire. A row with
    no answer stays all NaN.
    """
    arr = as_matrix(matrix, "matrix")
    counts = (~np.isnan(arr)).sum(axis=1, keepdims=True)
    sums = np.nansum(arr, axis=1, keepdims=True)
    mrat = np.divide(sums, counts, out=np.full_like(sums, np.nan), where=counts > 0)
    return arr - mrat


def _alpha_from_cov(cov: np.ndarray) -> np.ndarray:
    """alpha = k/(k-1) (1 - tr(C) / 1'C1) for (..., k, k) covariance matrices."""
    k = cov.shape[-1]
    total = cov.sum(axis=(-2, -1))
    trace = np.trace(cov, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = k / (k - 1) * (1 - trace / total)
    return np.where(np.abs(total) > SMALL, out, np.nan)


def one_factor(
    cov: np.ndarray,
    max_iter: int = 2000,
    tol: float = 1e-8,
    psi0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood one-factor model of covariance matrices ``cov`` (..., k, k).

    C = l l' + diag(psi). The fixed-point iteration F of scikit-learn's
    ``FactorAnalysis`` (Barber, *Bayesian Reasoning and Machine Learning*,
    alg. 21.1), run on the covariance and vectorised over a stack of matrices,
    accelerated by SQUAREM (Varadhan & Roland 2008, scheme S3: two F steps,
    an extrapolated jump, one stabilising F step):
    with s = sqrt(psi), let (e, v) be the largest eigenpair of
    diag(1/s) C diag(1/s); then l = sqrt(max(e - 1, 0)) v s and
    psi = max(diag(C) - l^2, 1e-12). Starts from psi = ``psi0`` (default diag(C)); stops when psi
    moves less than ``tol`` times the largest variance, or
    after ``max_iter`` rounds. Loadings are
    signed so that sum(l) >= 0. Returns (l, psi).
    """
    c = np.asarray(cov, dtype=float)
    if c.ndim < 2 or c.shape[-1] != c.shape[-2]:
        raise ValueError(f"cov must be (..., k, k), got shape {c.shape}")
    shape = c.shape[:-2]
    k = c.shape[-1]
    c = c.reshape(-1, k, k)
    var = np.maximum(np.diagonal(c, axis1=-2, axis2=-1), 0.0)
    limit = tol * np.maximum(var.max(axis=-1), SMALL)
    start = var if psi0 is None else np.broadcast_to(np.asarray(psi0, dtype=float), var.shape)
    psi = np.clip(start, SMALL, np.maximum(var, SMALL))
    load = np.zeros_like(psi)
    active = np.arange(c.shape[0])

    def em(idx: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.sqrt(p)
        evals, evecs = np.linalg.eigh(c[idx] / (s[:, :, None] * s[:, None, :]))
        lam = np.sqrt(np.maximum(evals[:, -1] - 1.0, 0.0))[:, None] * evecs[:, :, -1] * s
        return lam, np.maximum(var[idx] - lam**2, SMALL)

    for _ in range(max_iter):
        p0 = psi[active]
        _, p1 = em(active, p0)
        _, p2 = em(active, p1)
        r, v = p1 - p0, p2 - 2 * p1 + p0
        rn, vn = np.linalg.norm(r, axis=1), np.linalg.norm(v, axis=1)
        step = np.where(vn > 0, -rn / np.where(vn > 0, vn, 1.0), -1.0)
        step = np.minimum(step, -1.0)[:, None]
        jump = np.clip(p0 - 2 * step * r + step**2 * v, SMALL, np.maximum(var[active], SMALL))
        lam, new = em(active, jump)
        load[active] = lam
        moved = np.abs(new - p0).max(axis=-1)
        psi[active] = new
        active = active[moved >= limit[active]]
        if active.size == 0:
            break
    load, psi = load.reshape(*shape, k), psi.reshape(*shape, k)
    sign = np.where(load.sum(axis=-1, keepdims=True) < 0, -1.0, 1.0)
    return load * sign, psi


def _omega_from_cov(cov: np.ndarray, **fit: Any) -> np.ndarray:
    load, psi = one_factor(cov, **fit)
    common = load.sum(axis=-1) ** 2
    denom = common + psi.sum(axis=-1)
    total = np.trace(cov, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = common / denom
    return np.where(total > SMALL, out, np.nan)


@register_metric(
    "alpha",
    "Cronbach's alpha",
    True,
    "Internal consistency of the ipsatized (MRAT-centred) persona scores, mean over "
    "dimensions: do the items of a value dimension move together across personas beyond "
    "uniform scale use? Not reported below 30 personas. Below 0.6: unreliable.",
    "alpha = k/(k-1) (1 - sum_j s_j^2 / s_total^2) on x_ij - MRAT_i",
    ("quality",),
)
def cronbach_alpha(matrix: Any) -> float:
    """Cronbach's alpha of a persona x item matrix (listwise deletion of NaN rows).

    alpha = k / (k - 1) * (1 - sum_j s_j^2 / s_T^2), where k is the number of
    items, s_j^2 the sample variance (ddof = 1) of item j and s_T^2 the sample
    variance of the row sums. NaN when fewer than 2 complete rows remain or the
    row sums do not vary (alpha is undefined there).
    """
    x = complete_rows(matrix)
    if x.shape[0] < 2:
        return float("nan")
    return float(_alpha_from_cov(np.cov(x, rowvar=False, ddof=1)))


@register_metric(
    "omega",
    "McDonald's omega",
    True,
    "Internal consistency from a one-factor model of the dimension's ipsatized items (mean "
    "over dimensions); unlike alpha it allows items to load unequally. Only for dimensions "
    "with 3 or more items (identified model) and from 30 personas on.",
    "omega = (sum_j l_j)^2 / ((sum_j l_j)^2 + sum_j psi_j)",
    ("quality",),
)
def mcdonald_omega(matrix: Any) -> float:
    """McDonald's omega (total) of a persona x item matrix, one-factor model.

    omega = (sum_j l_j)^2 / ((sum_j l_j)^2 + sum_j psi_j), with loadings l and
    unique variances psi from the maximum-likelihood one-factor model of the
    item covariance matrix (:func:`one_factor`, the algorithm of scikit-learn's
    ``FactorAnalysis``; on raw, unstandardised items, so omega describes the
    unit-weighted sum score as alpha does). Rows with NaN are dropped. NaN when
    fewer than 2 complete rows remain, nothing varies, or there are fewer than
    :data:`MIN_ITEMS_OMEGA` items (the one-factor model is not identified).
    """
    x = complete_rows(matrix)
    if x.shape[0] < 2 or x.shape[1] < MIN_ITEMS_OMEGA:
        return float("nan")
    return float(_omega_from_cov(np.cov(x, rowvar=False, ddof=1)))


def reliability(
    matrix: Any,
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
    min_personas: int = MIN_PERSONAS,
) -> dict[str, Any]:
    """Alpha and omega of a persona x item matrix with percentile bootstrap CIs.

    Below ``min_personas`` complete rows nothing is computed (alpha, omega and
    their CIs NaN/None, ``note`` says why). Otherwise complete rows (personas)
    are resampled with replacement B = ``n_boot`` times; alpha*_b and omega*_b
    are computed on each resample (vectorised), and the CI is the (1 - c)/2 and
    (1 + c)/2 quantiles of the finite values (None when no resample gives one).
    Omega is NaN with a note below :data:`MIN_ITEMS_OMEGA` items. Returns alpha,
    alpha_ci, omega, omega_ci, n_personas (complete rows), n_items, note.
    """
    check_boot(n_boot, confidence)
    x = complete_rows(matrix)
    n, k = x.shape
    nan = float("nan")
    out: dict[str, Any] = {
        "alpha": nan,
        "omega": nan,
        "alpha_ci": None,
        "omega_ci": None,
        "n_personas": int(n),
        "n_items": int(k),
        "note": None,
    }
    if n < max(min_personas, 2):
        out["note"] = f"not measured: {n} personas < {min_personas}"
        return out
    out["alpha"] = cronbach_alpha(x)
    out["omega"] = mcdonald_omega(x)
    rows = rng.integers(0, n, size=(n_boot, n))
    sample = x[rows]
    centred = sample - sample.mean(axis=1, keepdims=True)
    cov = np.einsum("bni,bnj->bij", centred, centred) / (n - 1)
    out["alpha_ci"] = percentile_ci(_alpha_from_cov(cov), confidence)
    if k < MIN_ITEMS_OMEGA:
        out["note"] = f"omega not identified: {k} items < {MIN_ITEMS_OMEGA}"
        return out
    # warm start from the full-sample solution and a looser tolerance (1e-5 of the
    # largest variance): the EM iteration is slow near Heywood cases, and a CI
    # end moves by less than 1e-3 (benchmarked against tol=1e-8)
    _, psi_hat = one_factor(np.cov(x, rowvar=False, ddof=1))
    out["omega_ci"] = percentile_ci(
        _omega_from_cov(cov, psi0=psi_hat, tol=1e-5, max_iter=500), confidence
    )
    return out
