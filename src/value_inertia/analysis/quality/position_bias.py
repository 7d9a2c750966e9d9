"""Position bias, from the ``shuffled`` prompt variant (option letters permuted per prompt).

With shuffled letters a letter and a rating are unrelated by design, so what
follows the letter is position bias: :func:`position_effects` splits the
explained variance of the answers into position and meaning,
:func:`letter_preference` measures the letter prior's strength beyond chance
(the number the verdict reads), :func:`plot_position_bias` draws it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from value_inertia.analysis.quality.inputs import (
    LETTERS,
    SMALL,
    distributions,
    finite,
    permutations,
)
from value_inertia.analysis.quality.report_model import PositionBias
from value_inertia.core.registry import MetricSpec, register, register_metric
from value_inertia.design.questionnaires import N_OPTIONS


def letter_probabilities(p: Any, letter_ratings: Any) -> np.ndarray:
    """Per-letter answer probabilities from rating-scale ones.

    q[r, i] = p[r, letter_ratings[r, i] - 1]: letter i (A..F) of answer r
    showed the rating letter_ratings[r, i]. Rows of ``p`` are normalised to
    sum to 1; each row of ``letter_ratings`` must be a permutation of 1..6.
    """
    probs = distributions(p, "p")
    perm = permutations(letter_ratings, probs.shape[0])
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
    "letter position rather than the option's meaning (0: answers follow meaning; 1: letter); "
    "descriptive (the verdict reads the letter preference).",
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
    letters = distributions(q, "q")
    n = letters.shape[0]
    perm = permutations(letter_ratings, n)
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
    if ss_total <= SMALL:
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


register(
    MetricSpec(
        "top_letter_share",
        "Top letter share",
        False,
        "Shuffled-options variant: share of all answers on the most chosen letter (1/6 when "
        "the letter does not matter).",
        "max_i mean_r q[r, i]",
        ("quality",),
    )
)


def _total_variation(letters: np.ndarray) -> np.ndarray:
    """0.5 sum_i |L_i - 1/6| over the last axis."""
    return 0.5 * np.abs(letters - 1.0 / N_OPTIONS).sum(axis=-1)


@register_metric(
    "letter_preference",
    "Letter preference",
    False,
    "Shuffled-options variant: share of the answers that sits on preferred letters beyond "
    "what random option orders give by chance (0: the letter does not matter). 0.13 or "
    "more: position-driven.",
    "TV(L, 1/6) - median TV under random letter orders, TV = 0.5 sum_i |L_i - 1/6|",
    ("quality",),
)
def letter_preference(
    q: Any, letter_ratings: Any, n_null: int = 200, seed: int = 0
) -> dict[str, float]:
    """How strongly answers prefer some letters, beyond chance.

    L_i = mean_r q[r, i] is the pooled letter distribution of the shuffled
    answers (q: per-letter probabilities, one-hot for sampled answers) and
    TV = 0.5 sum_i |L_i - 1/6| its total-variation distance from uniform: the
    share of all answers that would have to change letter for every letter to
    be chosen equally often. With few prompts and concentrated answers TV is
    above 0 even when the letter does not matter, so the chance level is
    subtracted: each answer's rating distribution is put under a fresh random
    letter order (``n_null`` draws, seeded), TV_null is computed per draw, and
    letter_preference = TV - median(TV_null). Also returned: tv, tv_null_median
    and the one-sided p-value p = (1 + #(TV_null >= TV)) / (1 + n_null).
    """
    letters = distributions(q, "q")
    n = letters.shape[0]
    perm = permutations(letter_ratings, n)
    if n_null < 1:
        raise ValueError(f"n_null must be >= 1, got {n_null}")
    ratings = np.zeros_like(letters)
    np.put_along_axis(ratings, perm - 1, letters, axis=1)  # back to the rating scale
    observed = float(_total_variation(letters.mean(axis=0)))
    rng = np.random.default_rng(seed)
    null = np.empty(n_null)
    for b in range(n_null):  # one draw at a time: n x 6 memory whatever n_null is
        order = rng.random((n, N_OPTIONS)).argsort(axis=1)
        null[b] = _total_variation(np.take_along_axis(ratings, order, axis=1).mean(axis=0))
    median = float(np.median(null))
    return {
        "letter_preference": observed - median,
        "tv": observed,
        "tv_null_median": median,
        "p_value": float((1 + (null >= observed - 1e-12).sum()) / (1 + n_null)),
    }


def plot_position_bias(position: PositionBias | None, path: str | Path, title: str) -> Path:
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
            "position bias not measured:\nno shuffled-options answers for this result",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
    else:
        dist = np.asarray(position.letter_distribution, dtype=float)
        colours = ["#c0392b" if i == int(np.argmax(dist)) else "#5d6d7e" for i in range(6)]
        ax.bar(list(LETTERS), dist, color=colours)
        ax.axhline(
            1 / N_OPTIONS, color="black", linestyle="--", linewidth=1, label="1/6 (letter ignored)"
        )
        ax.set_ylim(0, max(0.5, float(dist.max()) * 1.15))
        ax.set_xlabel("option letter (shuffled variant)")
        ax.set_ylabel("share of answers")
        pref = position.letter_preference
        pref_txt = "n/a" if not finite(pref) else f"{pref:.2f}"
        ax.legend(loc="upper right", frameon=False, title=f"letter preference {pref_txt}")
    ax.set_title(title)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight", facecolor="white")
    return out
