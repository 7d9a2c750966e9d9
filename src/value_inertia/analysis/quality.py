"""Psychometric quality of one result: how far to trust its numbers.

Pure functions (arrays in, numbers out) plus :func:`quality_report`, which
assembles them for one (model, questionnaire) from the parsed-answers table.
Each function states its formula; bad input raises ``ValueError`` naming the
argument.

* **Internal consistency** per value dimension, over the persona x item matrix
  of mean ratings (rows: personas, columns: the dimension's items):
  Cronbach's alpha and McDonald's omega (one-factor), with percentile bootstrap
  CIs over personas. Low values mean that what differs between personas on a
  dimension is item noise, not a coherent shift of that value.
* **Position bias**, from the ``shuffled`` prompt variant (option letters
  permuted per prompt, so a letter and a rating are unrelated by design): how
  much of the answer distribution follows the letter rather than the option's
  meaning, and the inertia left once the letter preference is divided out.
* **Mode agreement**, where one model runs in both ``logprobs`` and ``sample``
  mode: per-prompt agreement of the logprob argmax with the sampled answer, the
  JSD between the pooled distributions and the inertia difference with a CI.
* **Answer quality and scale use**: letter mass, parse rate with reasons, the
  MRAT (mean rating over all scored items) mean and SD and acquiescence.
* **Verdict**: one line from the checks in :data:`THRESHOLDS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import pandas as pd

from value_inertia.analysis.analyze import persona_item_matrix
from value_inertia.analysis.metrics import inertia_index, normalise, steerability
from value_inertia.core.registry import MetricSpec, register, register_metric
from value_inertia.design.questionnaires import N_OPTIONS, Questionnaire

P_COLUMNS = [f"p_{k}" for k in range(1, N_OPTIONS + 1)]
LETTERS = "ABCDEF"
SCALE_MIDPOINT = (1 + N_OPTIONS) / 2  # 3.5 on the 1-6 scale
_SMALL = 1e-12

#: Thresholds of the verdict (each check that fails adds its label, in this order).
#:
#: - ``min_parse_rate`` (0.8): below it, "low parse rate": over a fifth of the
#:   answers carry no usable rating, so the distributions describe a selection.
#: - ``min_letter_mass`` (0.5, logprobs mode): below it, "low letter mass": the
#:   model puts most of its next-token probability outside the six letters, so the
#:   renormalised letter distribution is mostly noise.
#: - ``max_position_share`` (0.5) / ``max_top_letter_share`` (0.5): at or above
#:   either, "position-driven": in the shuffled variant the letter explains at
#:   least as much of the answers as the option's meaning does, or one letter gets
#:   half of all answers (1/6 is what answering by meaning gives there).
#: - ``min_mode_agreement`` (0.5): below it, "mode-dependent": the sampled answer
#:   matches the logprob argmax for fewer than half the answers.
#: - ``min_alpha`` (0.6): a mean Cronbach's alpha over dimensions below it gives
#:   "unreliable". When no dimension has a defined alpha (the persona x item matrix
#:   does not vary: every persona answers alike, perfect inertia), the verdict says
#:   "no persona variance" instead: there are no persona differences to be reliable.
#: - ``min_personas`` (30): fewer personas (the rows alpha and omega are computed
#:   over) gives "too few personas": with a handful of rows alpha, omega and their
#:   bootstrap CIs (resampling those few personas) say next to nothing, whatever
#:   their value. The default run's 2 personas always carry this flag.
#: No failed check: "reliable".
THRESHOLDS: dict[str, float] = {
    "min_parse_rate": 0.8,
    "min_letter_mass": 0.5,
    "max_position_share": 0.5,
    "max_top_letter_share": 0.5,
    "min_mode_agreement": 0.5,
    "min_alpha": 0.6,
    "min_personas": 30,
}


# --------------------------------------------------------------------------- validation


def _matrix(values: Any, name: str) -> np.ndarray:
    """A 2-D float array with at least two columns (NaN allowed, inf refused)."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D persona x item array, got shape {arr.shape}")
    if arr.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 item columns, got {arr.shape[1]}")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite values")
    return arr


def complete_rows(matrix: Any) -> np.ndarray:
    """Listwise deletion: the rows of ``matrix`` without any NaN."""
    arr = _matrix(matrix, "matrix")
    return arr[~np.isnan(arr).any(axis=1)]


def _distributions(p: Any, name: str) -> np.ndarray:
    """Rows of 6 finite, non-negative numbers with a positive sum -> rows summing to 1."""
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != N_OPTIONS:
        raise ValueError(f"{name} must be an n x {N_OPTIONS} array, got shape {arr.shape}")
    bad = ~np.isfinite(arr).all(axis=1) | (arr < 0).any(axis=1) | ~(arr.sum(axis=1) > 0)
    if bad.any():
        raise ValueError(
            f"{name}: row {int(np.flatnonzero(bad)[0])} is not a distribution over "
            f"{N_OPTIONS} options (NaN, negative or all zero); drop unparsed answers first"
        )
    return arr / arr.sum(axis=1, keepdims=True)


def _permutations(letter_ratings: Any, n: int) -> np.ndarray:
    """``letter_ratings`` as an n x 6 int array whose rows are permutations of 1..6."""
    arr = np.asarray(
        [list(r) for r in letter_ratings]
        if not isinstance(letter_ratings, np.ndarray)
        else letter_ratings
    )
    if arr.ndim != 2 or arr.shape != (n, N_OPTIONS):
        raise ValueError(
            f"letter_ratings must be an n x {N_OPTIONS} array matching the {n} answers, "
            f"got shape {arr.shape}"
        )
    target = np.arange(1, N_OPTIONS + 1)
    bad = ~(np.sort(arr, axis=1) == target).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"letter_ratings row {row} ({arr[row].tolist()}) is not a permutation of 1..6"
        )
    return arr.astype(int)


def _percentile(values: np.ndarray, confidence: float) -> tuple[float, float] | None:
    vals = np.asarray(values, dtype=float)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return None
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(vals, [tail, 1 - tail])
    return float(lo), float(hi)


def _check_boot(n_boot: int, confidence: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


# --------------------------------------------------------------------------- reliability


def _alpha_from_cov(cov: np.ndarray) -> np.ndarray:
    """alpha = k/(k-1) (1 - tr(C) / 1'C1) for (..., k, k) covariance matrices."""
    k = cov.shape[-1]
    total = cov.sum(axis=(-2, -1))
    trace = np.trace(cov, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = k / (k - 1) * (1 - trace / total)
    return np.where(total > _SMALL, out, np.nan)


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
    limit = tol * np.maximum(var.max(axis=-1), _SMALL)
    start = var if psi0 is None else np.broadcast_to(np.asarray(psi0, dtype=float), var.shape)
    psi = np.clip(start, _SMALL, np.maximum(var, _SMALL))
    load = np.zeros_like(psi)
    active = np.arange(c.shape[0])

    def em(idx: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.sqrt(p)
        evals, evecs = np.linalg.eigh(c[idx] / (s[:, :, None] * s[:, None, :]))
        lam = np.sqrt(np.maximum(evals[:, -1] - 1.0, 0.0))[:, None] * evecs[:, :, -1] * s
        return lam, np.maximum(var[idx] - lam**2, _SMALL)

    for _ in range(max_iter):
        p0 = psi[active]
        _, p1 = em(active, p0)
        _, p2 = em(active, p1)
        r, v = p1 - p0, p2 - 2 * p1 + p0
        rn, vn = np.linalg.norm(r, axis=1), np.linalg.norm(v, axis=1)
        step = np.where(vn > 0, -rn / np.where(vn > 0, vn, 1.0), -1.0)
        step = np.minimum(step, -1.0)[:, None]
        jump = np.clip(p0 - 2 * step * r + step**2 * v, _SMALL, np.maximum(var[active], _SMALL))
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
    total = cov.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = common / denom
    return np.where(total > _SMALL, out, np.nan)


@register_metric(
    "alpha",
    "Cronbach's alpha",
    True,
    "Internal consistency of the persona-level dimension scores (mean over dimensions): do "
    "the items of a value dimension move together across personas? Below 0.6: unreliable.",
    "alpha = k/(k-1) (1 - sum_j s_j^2 / s_total^2)",
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
    "Internal consistency from a one-factor model of the dimension's items (mean over "
    "dimensions); unlike alpha it allows items to load unequally.",
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
    fewer than 2 complete rows remain or nothing varies. With 2 items the
    one-factor model is not identified and omega is only indicative.
    """
    x = complete_rows(matrix)
    if x.shape[0] < 2:
        return float("nan")
    return float(_omega_from_cov(np.cov(x, rowvar=False, ddof=1)))


def reliability(
    matrix: Any, n_boot: int, confidence: float, rng: np.random.Generator
) -> dict[str, Any]:
    """Alpha and omega of a persona x item matrix with percentile bootstrap CIs.

    Complete rows (personas) are resampled with replacement B = ``n_boot``
    times; alpha*_b and omega*_b are computed on each resample (vectorised),
    and the CI is the (1 - c)/2 and (1 + c)/2 quantiles of the finite values
    (None when no resample gives one). Returns alpha, alpha_ci, omega,
    omega_ci, n_personas (complete rows), n_items.
    """
    _check_boot(n_boot, confidence)
    x = complete_rows(matrix)
    n, k = x.shape
    out: dict[str, Any] = {
        "alpha": cronbach_alpha(x) if n else float("nan"),
        "omega": mcdonald_omega(x) if n else float("nan"),
        "alpha_ci": None,
        "omega_ci": None,
        "n_personas": int(n),
        "n_items": int(k),
    }
    if n < 2:
        return out
    rows = rng.integers(0, n, size=(n_boot, n))
    sample = x[rows]
    centred = sample - sample.mean(axis=1, keepdims=True)
    cov = np.einsum("bni,bnj->bij", centred, centred) / (n - 1)
    out["alpha_ci"] = _percentile(_alpha_from_cov(cov), confidence)
    # warm start from the full-sample solution and a looser tolerance (1e-5 of the
    # largest variance): the EM iteration is slow near Heywood cases, and a CI
    # end moves by less than 1e-3 (benchmarked against tol=1e-8)
    _, psi_hat = one_factor(np.cov(x, rowvar=False, ddof=1))
    out["omega_ci"] = _percentile(
        _omega_from_cov(cov, psi0=psi_hat, tol=1e-5, max_iter=500), confidence
    )
    return out


# --------------------------------------------------------------------------- position bias


def letter_probabilities(p: Any, letter_ratings: Any) -> np.ndarray:
    """Per-letter answer probabilities from rating-scale ones.

    q[r, i] = p[r, letter_ratings[r, i] - 1]: letter i (A..F) of answer r
    showed the rating letter_ratings[r, i]. Rows of ``p`` are normalised to
    sum to 1; each row of ``letter_ratings`` must be a permutation of 1..6.
    """
    probs = _distributions(p, "p")
    perm = _permutations(letter_ratings, probs.shape[0])
    return np.take_along_axis(probs, perm - 1, axis=1)


def _group_means(y: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    counts = np.bincount(groups, minlength=n_groups)
    sums = np.bincount(groups, weights=y, minlength=n_groups)
    return np.divide(sums, counts, out=np.zeros(n_groups), where=counts > 0)


def _additive_fit(y: np.ndarray, a: np.ndarray, na: int, b: np.ndarray, nb: int) -> np.ndarray:
    """Least-squares fit of y = mu + f(a) + g(b) by backfitting (alternating group means)."""
    mu = y.mean()
    fa = np.zeros(na)
    gb = np.zeros(nb)
    for _ in range(200):
        fa_new = _group_means(y - mu - gb[b], a, na)
        gb_new = _group_means(y - mu - fa_new[a], b, nb)
        moved = max(np.abs(fa_new - fa).max(), np.abs(gb_new - gb).max())
        fa, gb = fa_new, gb_new
        if moved < 1e-12:
            break
    return mu + fa[a] + gb[b]


@register_metric(
    "position_bias",
    "Position bias",
    False,
    "Shuffled-options variant: share of the explained variance of the answers that follows the "
    "letter position rather than the option's meaning (0: answers follow meaning; 1: letter). "
    "0.5 or more: position-driven.",
    "U_pos / (U_pos + U_meaning), U = chance-corrected unique variance share",
    ("quality",),
)
def position_effects(q: Any, letter_ratings: Any, items: Sequence[Any]) -> dict[str, Any]:
    """How much of the answers follows the letter position vs the option's meaning.

    Input: per-letter answer probabilities ``q`` (n x 6, rows A..F; one-hot for
    sampled answers), the rating shown at each letter, and each answer's item.
    Every (answer r, letter i) is one observation y = q[r, i] with two factors:
    *position* = the letter i (6 levels) and *meaning* = (item, rating shown
    at i) (6 levels per item). With shuffled letters the factors are nearly
    orthogonal. Sums of squares around the grand mean 1/6:

    - R2_pos, R2_mean: share of SS_total explained by each factor alone
      (eta squared: sum over levels of n_level (mean_level - 1/6)^2 / SS_total);
    - R2_full: the additive model y ~ position + meaning (least squares);
    - unique effects, chance-corrected like omega squared:
      U_pos = max(0, (R2_full - R2_mean) - df_pos MS_res / SS_total),
      U_mean = max(0, (R2_full - R2_pos) - df_mean MS_res / SS_total),
      df_pos = 5, df_mean = (levels of meaning) - 1, MS_res = SS_res / df_res,
      df_res = 5 n - df_pos - df_mean (each row's 6 values sum to 1);
    - position_share = U_pos / (U_pos + U_mean) (NaN when both are 0).

    Also the pooled letter distribution L_i = mean_r q[r, i], its top letter
    and share (1/6 when answers ignore the letter).
    """
    letters = _distributions(q, "q")
    n = letters.shape[0]
    perm = _permutations(letter_ratings, n)
    if len(items) != n:
        raise ValueError(f"items has {len(items)} entries for {n} answers")
    if n < 2:
        raise ValueError("position_effects needs at least 2 answers")
    item_codes, _ = pd.factorize(pd.Series(list(items), dtype=object))
    n_items = int(item_codes.max()) + 1
    y = letters.ravel()
    pos = np.tile(np.arange(N_OPTIONS), n)
    meaning = (item_codes[:, None] * N_OPTIONS + (perm - 1)).ravel()
    n_meaning = n_items * N_OPTIONS
    grand = 1.0 / N_OPTIONS
    ss_total = float(((y - grand) ** 2).sum())
    pooled = letters.mean(axis=0)
    top = int(np.argmax(pooled))
    out: dict[str, Any] = {
        "n_answers": int(n),
        "letter_distribution": pooled.tolist(),
        "top_letter": LETTERS[top],
        "top_letter_share": float(pooled[top]),
        "r2_position": float("nan"),
        "r2_meaning": float("nan"),
        "unique_position": float("nan"),
        "unique_meaning": float("nan"),
        "position_share": float("nan"),
    }
    if ss_total <= _SMALL:
        return out  # every answer is uniform over the letters: nothing to explain
    r2_pos = float(n * ((pooled - grand) ** 2).sum()) / ss_total
    used = np.bincount(meaning, minlength=n_meaning) > 0
    cell = _group_means(y, meaning, n_meaning)
    counts = np.bincount(meaning, minlength=n_meaning)
    r2_mean = float((counts * (cell - grand) ** 2).sum()) / ss_total
    fit = _additive_fit(y, pos, N_OPTIONS, meaning, n_meaning)
    ss_res = float(((y - fit) ** 2).sum())
    r2_full = 1.0 - ss_res / ss_total
    df_pos = N_OPTIONS - 1
    df_mean = int(used.sum()) - 1
    df_res = (N_OPTIONS - 1) * n - df_pos - df_mean
    ms_res = ss_res / df_res if df_res > 0 else 0.0
    u_pos = max(0.0, (r2_full - r2_mean) - df_pos * ms_res / ss_total)
    u_mean = max(0.0, (r2_full - r2_pos) - df_mean * ms_res / ss_total)
    share = u_pos / (u_pos + u_mean) if u_pos + u_mean > 0 else float("nan")
    out |= {
        "r2_position": r2_pos,
        "r2_meaning": r2_mean,
        "r2_full": r2_full,
        "unique_position": u_pos,
        "unique_meaning": u_mean,
        "position_share": share,
    }
    return out


def debiased_rating_distribution(
    q: Any, letter_ratings: Any, prior: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """Pooled rating distribution with the letter preference divided out.

    Each answer's letter probabilities are re-weighted by the inverse of the
    letter prior L (default: the pooled letter distribution L_i = mean_r q[r, i];
    the prior-division idea of PriDe, Zheng et al. 2024, "Large Language Models
    Are Not Robust Multiple Choice Selectors"), so every letter carries the
    same total weight, and mapped back to ratings:
    p'_k proportional to sum_r sum_i q[r, i] / L_i * [letter_ratings[r, i] = k].
    Works for sampled (one-hot) answers too. Letters with L_i = 0 carry no
    answers and are skipped.
    """
    letters = _distributions(q, "q")
    perm = _permutations(letter_ratings, letters.shape[0])
    prior_arr = letters.mean(axis=0) if prior is None else normalise(prior)
    weights = np.divide(1.0, prior_arr, out=np.zeros(N_OPTIONS), where=prior_arr > 0)
    w = letters * weights
    out = np.bincount((perm - 1).ravel(), weights=w.ravel(), minlength=N_OPTIONS)
    return out / out.sum()


register(
    MetricSpec(
        "top_letter_share",
        "Top letter share",
        False,
        "Shuffled-options variant: share of all answers on the most chosen letter (1/6 when "
        "the letter does not matter). 0.5 or more: position-driven.",
        "max_i mean_r q[r, i]",
        ("quality",),
    )
)
register(
    MetricSpec(
        "debiased_inertia",
        "Inertia without position",
        True,
        "Shuffled-options variant: inertia of the pooled answers after the letter preference is "
        "divided out (what remains of the inertia once position is removed).",
        "I(p'), p'_k ~ sum_r,i q[r,i] / L_i [rating(r,i) = k]",
        ("quality",),
    )
)


# --------------------------------------------------------------------------- mode agreement


@register_metric(
    "agreement",
    "Logprob-sample agreement",
    True,
    "Same model in logprobs and sample mode: share of sampled answers equal to the logprob "
    "argmax of the same prompt. Below 0.5: mode-dependent.",
    "mean_s [r_s = argmax_k p_lp(prompt_s)_k]",
    ("quality",),
)
def mode_agreement(
    p_logprob: Any,
    sampled: Any,
    groups: Sequence[Any],
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Agreement between a model's logprob distributions and its sampled answers.

    Row s pairs a sampled rating r_s (1..6) with the logprob distribution p_s
    of the same prompt (repeat a prompt's row for each of its samples);
    ``groups`` names each row's persona (the bootstrap unit).

    - agreement = mean_s [r_s = argmax_k p_s,k] (ties: the lowest rating);
    - likelihood = mean_s p_s,r_s, the agreement expected if the sampled
      answers were drawn from the logprob distributions (so agreement is
      comparable with it);
    - jsd = JSD_2(P_lp, P_s) between the pooled distributions
      P_lp = mean_s p_s and P_s = histogram of r_s / n (:func:`metrics.steerability`);
    - inertia_difference = I(P_s) - I(P_lp), with a percentile bootstrap CI
      over groups (resampled with replacement, ``n_boot`` times).
    """
    _check_boot(n_boot, confidence)
    probs = _distributions(p_logprob, "p_logprob")
    ratings = np.asarray(sampled, dtype=float)
    n = probs.shape[0]
    if ratings.shape != (n,):
        raise ValueError(f"sampled must hold one rating per row ({n}), got shape {ratings.shape}")
    if np.any((ratings < 1) | (ratings > N_OPTIONS) | (ratings != np.round(ratings))):
        raise ValueError(f"sampled ratings must be whole numbers in 1..{N_OPTIONS}")
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} rows")
    if n == 0:
        raise ValueError("mode_agreement needs at least one matched answer")
    r = ratings.astype(int) - 1
    onehot = np.eye(N_OPTIONS)[r]
    p_lp = probs.mean(axis=0)
    p_s = onehot.mean(axis=0)
    codes, _ = pd.factorize(pd.Series(list(groups), dtype=object))
    n_groups = int(codes.max()) + 1
    lp_sum = np.zeros((n_groups, N_OPTIONS))
    s_sum = np.zeros((n_groups, N_OPTIONS))
    np.add.at(lp_sum, codes, probs)
    np.add.at(s_sum, codes, onehot)
    picks = rng.integers(0, n_groups, size=(n_boot, n_groups))
    counts = np.stack([np.bincount(row, minlength=n_groups) for row in picks]).astype(float)
    diffs = [
        inertia_index(b_s) - inertia_index(b_lp)
        for b_lp, b_s in zip(counts @ lp_sum, counts @ s_sum, strict=True)
    ]
    return {
        "n_matched": int(n),
        "agreement": float((np.argmax(probs, axis=1) == r).mean()),
        "likelihood": float(probs[np.arange(n), r].mean()),
        "jsd": steerability(p_lp, p_s),
        "inertia_logprob": inertia_index(p_lp),
        "inertia_sample": inertia_index(p_s),
        "inertia_difference": inertia_index(p_s) - inertia_index(p_lp),
        "inertia_difference_ci": _percentile(np.asarray(diffs), confidence),
    }


register(
    MetricSpec(
        "agreement_jsd",
        "Logprob-sample JSD",
        False,
        "Same model in both modes: Jensen-Shannon divergence (bits) between the pooled "
        "logprob distribution and the pooled sampled answers.",
        "JSD_2(P_lp, P_sample)",
        ("quality",),
    )
)
register(
    MetricSpec(
        "inertia_difference",
        "Inertia difference (sample - logprobs)",
        None,
        "Same model in both modes: inertia of the sampled answers minus inertia of the "
        "logprob distributions (with a bootstrap CI over personas).",
        "I(P_sample) - I(P_lp)",
        ("quality",),
    )
)


# --------------------------------------------------------------------------- scale use


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
    arr = _matrix(matrix, "matrix")
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


# --------------------------------------------------------------------------- verdict


def _finite(value: Any) -> TypeGuard[float]:
    return value is not None and isinstance(value, int | float) and np.isfinite(value)


def verdict(summary: Mapping[str, Any], thresholds: Mapping[str, float] = THRESHOLDS) -> str:
    """One line from the summary numbers; see :data:`THRESHOLDS` for the checks.

    Reads ``parse_rate``, ``letter_mass`` (None outside logprobs mode),
    ``position_bias`` and ``top_letter_share`` (None without a shuffled variant),
    ``agreement`` (None without both modes), ``alpha`` (None: "no persona
    variance") and ``n_personas`` (absent: not checked). Failed checks are
    joined with "; " in the order of :data:`THRESHOLDS`; none failed: "reliable".
    """
    t = {**THRESHOLDS, **thresholds}
    flags: list[str] = []
    if _finite(summary.get("parse_rate")) and summary["parse_rate"] < t["min_parse_rate"]:
        flags.append("low parse rate")
    if _finite(summary.get("letter_mass")) and summary["letter_mass"] < t["min_letter_mass"]:
        flags.append("low letter mass")
    pos, top = summary.get("position_bias"), summary.get("top_letter_share")
    if (_finite(pos) and pos >= t["max_position_share"]) or (
        _finite(top) and top >= t["max_top_letter_share"]
    ):
        flags.append("position-driven")
    agree = summary.get("agreement")
    if _finite(agree) and agree < t["min_mode_agreement"]:
        flags.append("mode-dependent")
    alpha = summary.get("alpha")
    if not _finite(alpha):
        flags.append("no persona variance")
    elif alpha < t["min_alpha"]:
        flags.append("unreliable")
    n = summary.get("n_personas")
    if _finite(n) and n < t["min_personas"]:
        flags.append("too few personas")
    return "; ".join(flags) if flags else "reliable"


# --------------------------------------------------------------------------- report


def _variant_rows(parsed: pd.DataFrame, variant: str) -> pd.DataFrame:
    if "variant" not in parsed.columns:
        return parsed if variant == "original" else parsed.iloc[0:0]
    return parsed.loc[parsed["variant"].fillna("original") == variant]


def _usable(frame: pd.DataFrame) -> np.ndarray:
    probs = frame[P_COLUMNS].to_numpy(dtype=float, na_value=np.nan)
    return np.isfinite(probs).all(axis=1) & (np.nan_to_num(probs).sum(axis=1) > 0)


def _mean(values: Sequence[float]) -> float | None:
    vals = [v for v in values if _finite(v)]
    return float(np.mean(vals)) if vals else None


def _position_section(rows: pd.DataFrame, questionnaire: Questionnaire) -> dict[str, Any] | None:
    if rows.empty or "letter_ratings" not in rows.columns:
        return None
    rows = rows.loc[_usable(rows)]
    if len(rows) < 2:
        return None
    p = rows[P_COLUMNS].to_numpy(dtype=float)
    perm = np.asarray([list(r) for r in rows["letter_ratings"]], dtype=int)
    q = letter_probabilities(p, perm)
    section = position_effects(q, perm, rows["item"].astype(int).tolist())
    prior = np.asarray(section["letter_distribution"])
    dims: dict[str, Any] = {}
    item_dim = questionnaire.item_dimension
    labels = rows["item"].astype(int).map(item_dim)
    for d in questionnaire.dimensions:
        mask = (labels == d).to_numpy()
        if not mask.any():
            continue
        raw = np.bincount((perm[mask] - 1).ravel(), weights=q[mask].ravel(), minlength=N_OPTIONS)
        deb = debiased_rating_distribution(q[mask], perm[mask], prior)
        dims[d] = {"inertia": inertia_index(raw), "inertia_debiased": inertia_index(deb)}
    section["dimensions"] = dims
    section["inertia"] = _mean([v["inertia"] for v in dims.values()])
    section["inertia_debiased"] = _mean([v["inertia_debiased"] for v in dims.values()])
    return section


def _agreement_section(
    own: pd.DataFrame,
    partner: pd.DataFrame,
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
) -> dict[str, Any] | None:
    if own.empty or partner.empty:
        return None
    if {str(own["mode"].iloc[0]), str(partner["mode"].iloc[0])} != {"logprobs", "sample"}:
        return None
    lp, sm = (own, partner) if own["mode"].iloc[0] == "logprobs" else (partner, own)
    lp = lp.loc[_usable(lp)]
    sm = sm.loc[sm["rating"].notna()]
    if lp.empty or sm.empty:
        return None
    lp_mean = lp.groupby("prompt_id")[P_COLUMNS].mean()
    matched = sm.loc[sm["prompt_id"].isin(lp_mean.index)]
    if matched.empty:
        return None
    probs = lp_mean.loc[matched["prompt_id"]].to_numpy(dtype=float)
    groups = matched["persona_id"].fillna("(baseline)").astype(str).tolist()
    return mode_agreement(
        probs, matched["rating"].astype(int).to_numpy(), groups, n_boot, confidence, rng
    )


def quality_report(
    parsed: pd.DataFrame,
    questionnaire: Questionnaire,
    *,
    partner: pd.DataFrame | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """The quality report of one model's answers to ``questionnaire``.

    ``parsed`` is the model's parsed table (``variant`` column optional:
    missing means all rows are ``original``; position bias needs
    ``variant == "shuffled"`` rows with ``letter_ratings``). ``partner`` is the
    parsed table of the same model file run in the other mode (or None).
    Reliability, scale use, parse rate and letter mass use the ``original``
    variant's persona rows; position bias the ``shuffled`` rows; agreement the
    ``original`` rows of both tables matched by ``prompt_id``.
    Returns a JSON-ready dict (NaN -> None is left to the caller).
    """
    missing = [
        c
        for c in ["questionnaire", "condition", "item", "mode", "rating", *P_COLUMNS]
        if c not in parsed.columns
    ]
    if missing:
        raise ValueError(f"parsed table: missing column(s) {', '.join(missing)}")
    rng = np.random.default_rng(seed)
    rows = parsed.loc[parsed["questionnaire"] == questionnaire.id]
    original = _variant_rows(rows, "original")
    mode = str(original["mode"].iloc[0]) if len(original) else None

    matrix = persona_item_matrix(original, questionnaire)
    dims: dict[str, Any] = {}
    for d, nums in questionnaire.dimensions.items():
        cols = [n for n in sorted(nums) if n in matrix.columns]
        if len(cols) < 2:
            continue
        dims[d] = reliability(matrix[cols].to_numpy(), n_boot, confidence, rng)
    scale = scale_use(matrix.to_numpy()) if matrix.shape[1] >= 2 else {}
    parse = parse_summary(
        original["rating"].to_numpy(dtype=float, na_value=np.nan),
        original["reason"].tolist() if "reason" in original else [None] * len(original),
    )
    letter_mass = None
    if mode == "logprobs" and "letter_mass" in original.columns:
        masses = original["letter_mass"].to_numpy(dtype=float, na_value=np.nan)
        letter_mass = float(np.nanmean(masses)) if np.isfinite(masses).any() else None

    position = _position_section(_variant_rows(rows, "shuffled"), questionnaire)
    agreement = None
    if partner is not None:
        other = _variant_rows(partner.loc[partner["questionnaire"] == questionnaire.id], "original")
        agreement = _agreement_section(original, other, n_boot, confidence, rng)

    summary: dict[str, Any] = {
        "alpha": _mean([v["alpha"] for v in dims.values()]),
        "omega": _mean([v["omega"] for v in dims.values()]),
        "position_bias": position["position_share"] if position else None,
        "top_letter_share": position["top_letter_share"] if position else None,
        "debiased_inertia": position["inertia_debiased"] if position else None,
        "agreement": agreement["agreement"] if agreement else None,
        "agreement_jsd": agreement["jsd"] if agreement else None,
        "inertia_difference": agreement["inertia_difference"] if agreement else None,
        "letter_mass": letter_mass,
        "parse_rate": parse["parse_rate"],
        "mrat_mean": scale.get("mrat_mean"),
        "mrat_sd": scale.get("mrat_sd"),
        "acquiescence": scale.get("acquiescence"),
    }
    return {
        "mode": mode,
        "verdict": verdict({**summary, "n_personas": int(matrix.shape[0])}),
        **summary,
        "thresholds": dict(THRESHOLDS),
        "dimensions": dims,
        "position": position,
        "mode_agreement": agreement,
        "parse_reasons": parse["reasons"],
        "n_answers": parse["n_answers"],
        "n_personas": int(matrix.shape[0]),
        "bootstrap": {"n_boot": n_boot, "confidence": confidence, "seed": seed},
    }


LEADERBOARD_COLUMNS = ("alpha", "position_bias", "agreement", "verdict")


def leaderboard_columns(report: Mapping[str, Any] | None) -> dict[str, Any]:
    """The quality columns of a leaderboard row from a quality JSON (None: all missing)."""
    return {k: (report or {}).get(k) for k in LEADERBOARD_COLUMNS}


def plot_position_bias(position: Mapping[str, Any] | None, path: str | Path, title: str) -> Path:
    """Bar chart: pooled letter distribution of the shuffled variant vs 1/6.

    Without shuffled answers (``position`` None) the figure says so, so the
    file exists for every result.
    """
    from matplotlib.figure import Figure  # no backend to select: savefig renders PNG

    fig = Figure(figsize=(5.5, 3.4))
    ax = fig.subplots()
    if position is None:
        ax.text(
            0.5,
            0.5,
            "no shuffled-options variant\nfor this result",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
    else:
        dist = np.asarray(position["letter_distribution"], dtype=float)
        colours = ["#c0392b" if i == int(np.argmax(dist)) else "#5d6d7e" for i in range(6)]
        ax.bar(list(LETTERS), dist, color=colours)
        ax.axhline(
            1 / N_OPTIONS, color="black", linestyle="--", linewidth=1, label="1/6 (letter ignored)"
        )
        ax.set_ylim(0, max(0.5, float(dist.max()) * 1.15))
        ax.set_xlabel("option letter (shuffled variant)")
        ax.set_ylabel("share of answers")
        share = position.get("position_share")
        share_txt = "n/a" if not _finite(share) else f"{share:.2f}"
        ax.legend(loc="upper right", frameon=False, title=f"position share {share_txt}")
    ax.set_title(title)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight", facecolor="white")
    return out
