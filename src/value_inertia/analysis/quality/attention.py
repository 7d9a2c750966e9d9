"""Attention checks: catch items answered on the wrong side of the scale.

A catch item (``catch: true`` in the questionnaire file) has a known answer;
its ``expected`` field says on which side of the scale midpoint 3.5 it lies
(``low``: ratings 1-3, e.g. MFQ-30 item 6 "Whether or not someone was good at
math" is not relevant to morality; ``high``: ratings 4-6, e.g. item 22 "It is
better to do good than to do bad"). An attentive answerer is on the wrong
side rarely; one who ignores the item, half of the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from value_inertia.analysis.quality.inputs import SCALE_MIDPOINT, distributions
from value_inertia.core.registry import register_metric
from value_inertia.design.questionnaires import N_OPTIONS

EXPECTED_SIDES = ("low", "high")


@register_metric(
    "catch_wrong_share",
    "Catch items on the wrong side",
    False,
    "Share of the answers to attention-check items (known answer) that fall on the wrong "
    "side of the scale midpoint (0.5: the item is ignored). Above 0.25: fails attention "
    "checks.",
    "mean_r sum_{k on the wrong side} p_r,k",
    ("quality",),
)
def catch_wrong_share(p: Any, expected: Sequence[str], items: Sequence[Any]) -> dict[str, Any]:
    """Probability mass of catch answers on the wrong side of the midpoint.

    Row r is one answer (distribution over ratings 1..6; one-hot for sampled
    answers) to a catch item whose ``expected`` side is ``low`` (right side:
    ratings < 3.5) or ``high`` (ratings > 3.5); its wrong-side mass is
    w_r = sum_{k on the other side} p_r,k. Returns wrong_share = mean_r w_r,
    n_answers and per item (in order of appearance) the answers, the mean
    expected rating sum_k k p_r,k and the wrong-side share.
    """
    probs = distributions(p, "p")
    n = probs.shape[0]
    if len(expected) != n or len(items) != n:
        raise ValueError(f"expected and items need one entry per answer ({n})")
    bad = [e for e in expected if e not in EXPECTED_SIDES]
    if bad:
        raise ValueError(f"expected must be 'low' or 'high', got {bad[0]!r}")
    if n == 0:
        raise ValueError("catch_wrong_share needs at least one answer")
    ratings = np.arange(1, N_OPTIONS + 1)
    high = np.asarray([e == "high" for e in expected])
    wrong_side = np.where(high[:, None], ratings < SCALE_MIDPOINT, ratings > SCALE_MIDPOINT)
    wrong = (probs * wrong_side).sum(axis=1)
    frame = pd.DataFrame(
        {"item": list(items), "expected": list(expected), "wrong": wrong, "mean": probs @ ratings}
    )
    per_item = {
        str(item): {
            "expected": str(group["expected"].iloc[0]),
            "n_answers": int(len(group)),
            "mean_rating": float(group["mean"].mean()),
            "wrong_share": float(group["wrong"].mean()),
        }
        for item, group in frame.groupby("item", sort=False)
    }
    return {"wrong_share": float(wrong.mean()), "n_answers": int(n), "items": per_item}
