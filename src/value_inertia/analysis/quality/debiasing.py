"""The model's letter prior and the position-debiased inertia.

PriDe (Zheng et al., ICLR 2024, "Large Language Models Are Not Robust
Multiple Choice Selectors") models an answer as the product of a prior over
option letters and the option's meaning: q[r, i] proportional to
L_i * m_r(rating shown at letter i). :func:`estimate_letter_prior` estimates L
from the ``shuffled`` variant (letters permuted per prompt, so meaning and
letter are independent by design); :func:`debiased_rating_distribution`
divides it out of any answers (the ``original`` variant: letter k shows
rating k) and :func:`debiased_inertia` is the inertia that remains.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from value_inertia.analysis.metrics import inertia_index
from value_inertia.analysis.quality.inputs import SMALL, distributions, permutations
from value_inertia.core.registry import register_metric
from value_inertia.design.questionnaires import N_OPTIONS


def _one_hot(rows: np.ndarray) -> bool:
    """Every row puts all its mass on one option (sampled answers)."""
    return bool(np.all(np.isclose(rows.max(axis=1), 1.0)))


def estimate_letter_prior(q: Any, max_iter: int = 500, tol: float = 1e-10) -> np.ndarray:
    """Letter prior L (sums to 1) from per-letter answer probabilities under shuffled orders.

    Letters are assigned to ratings at random, so once the prior is divided
    out every letter must carry the same total meaning:
    sum_r m_r,i equal for all i, with m_r,i = (q_r,i / L_i) / sum_j (q_r,j / L_j).
    Solved by the fixed point L_i <- L_i s_i / mean(s), s_i = sum_r m_r,i,
    started at the pooled letter distribution L_i = mean_r q_r,i (stops when L
    moves less than ``tol`` or after ``max_iter`` rounds). Under the PriDe model
    this is exact in expectation; the pooled distribution alone is pulled
    towards 1/6, because a prompt whose preferred option lands on the
    preferred letter has a larger normaliser. One-hot rows (sampled answers)
    carry no per-answer information: for them the estimate is the pooled
    letter distribution, the solution of sum_r q_r,i / L_i equal for all i.
    """
    letters = distributions(q, "q")
    prior = letters.mean(axis=0)
    if _one_hot(letters):
        return prior
    for _ in range(max_iter):
        safe = np.maximum(prior, SMALL)
        m = letters / safe
        m /= m.sum(axis=1, keepdims=True)
        s = m.sum(axis=0)
        new = prior * s / s.mean()
        new /= new.sum()
        moved = float(np.abs(new - prior).max())
        prior = new
        if moved < tol:
            break
    return prior


def debiased_rating_distribution(
    p: Any, prior: Any, letter_ratings: Any | None = None
) -> np.ndarray:
    """Pooled rating distribution with the letter prior divided out.

    ``p`` holds answer distributions over the ratings 1..6 (n x 6),
    ``letter_ratings`` the rating shown at each letter A..F (default: the
    original order, letter k shows rating k), ``prior`` the letter prior L.
    Distributions (logprobs mode), per answer as in PriDe:
    p'_r,k = (p_r,k / L_letter(r,k)) / sum_j (p_r,j / L_letter(r,j)), pooled as
    the mean over answers. One-hot rows (sampled answers), re-weighted as a
    whole: p'_k proportional to sum_r p_r,k / L_letter(r,k). Letters with
    L_i = 0 get the weight of the smallest positive prior.
    """
    probs = distributions(p, "p")
    n = probs.shape[0]
    if letter_ratings is None:
        perm = np.tile(np.arange(1, N_OPTIONS + 1), (n, 1))
    else:
        perm = permutations(letter_ratings, n)
    prior_arr = np.asarray(prior, dtype=float)
    valid = np.isfinite(prior_arr).all() and (prior_arr >= 0).all() and prior_arr.sum() > 0
    if prior_arr.shape != (N_OPTIONS,) or not valid:
        raise ValueError(
            f"prior must be {N_OPTIONS} finite non-negative numbers with a positive sum, "
            f"got {prior_arr.tolist()}"
        )
    prior_arr = prior_arr / prior_arr.sum()
    prior_arr = np.where(prior_arr > 0, prior_arr, prior_arr[prior_arr > 0].min())
    # prior of the letter that showed rating k: letter i shows perm[r, i]
    at_rating = np.empty_like(probs)
    np.put_along_axis(at_rating, perm - 1, np.broadcast_to(prior_arr, probs.shape), axis=1)
    weighted = probs / at_rating
    if _one_hot(probs):
        return weighted.sum(axis=0) / weighted.sum()
    weighted /= weighted.sum(axis=1, keepdims=True)
    return weighted.mean(axis=0)


@register_metric(
    "debiased_inertia",
    "Inertia without letter prior",
    True,
    "Inertia of the result's own answers after dividing out the model's letter prior "
    "(estimated from its shuffled-options answers, PriDe): the inertia that is not a "
    "preference for an option letter. Mean over dimensions, beside the raw inertia.",
    "mean_d I(p'_d), p'_r,k ~ p_r,k / L_letter(k) (Zheng et al. 2024)",
    ("quality",),
    shown_by_default=True,
    column_order=20,
)
def debiased_inertia(p: Any, prior: Any, letter_ratings: Any | None = None) -> float:
    """I(p') for the pooled debiased distribution p' of :func:`debiased_rating_distribution`."""
    return inertia_index(debiased_rating_distribution(p, prior, letter_ratings))
