"""Parsed tables with a known structure, for the quality-report tests."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

P_COLUMNS = [f"p_{k}" for k in range(1, 7)]


def two_point(score: float) -> np.ndarray:
    """A distribution over ratings 1..6 whose expected rating is ``score`` (clipped to 1..6)."""
    s = float(np.clip(score, 1.0, 6.0))
    lo = min(int(np.floor(s)), 5)
    p = np.zeros(6)
    p[lo - 1] = 1 - (s - lo)
    p[lo] = s - lo
    return p


def row(
    questionnaire,
    persona: int,
    item: int,
    p: np.ndarray,
    *,
    variant: str = "original",
    perm: list[int] | None = None,
    mode: str = "logprobs",
    condition: str = "persona",
) -> dict:
    return {
        "prompt_id": f"{variant}-{condition}-{persona}-{item}",
        "model": "m",
        "mode": mode,
        "condition": condition,
        "persona_id": f"p{persona}" if condition == "persona" else None,
        "seed": 111,
        "questionnaire": questionnaire.id,
        "item": item,
        "dimension": questionnaire.item_dimension[item],
        "variant": variant,
        "letter_ratings": perm or list(range(1, 7)),
        "rating": int(np.argmax(p)) + 1,
        **{c: float(v) for c, v in zip(P_COLUMNS, p, strict=True)},
        "reason": None,
        "letter_mass": 0.9,
    }


def table_from_scores(
    questionnaire, scores: np.ndarray, catch: Mapping[int, np.ndarray] | None = None
) -> pd.DataFrame:
    """Original-variant rows: persona i answers scored item j (in key order) with E = scores[i, j].

    ``catch``: item number -> one answer distribution used for every persona.
    """
    items = [n for nums in questionnaire.dimensions.values() for n in nums]
    rows = [
        row(questionnaire, i, item, two_point(scores[i, j]))
        for i in range(scores.shape[0])
        for j, item in enumerate(items)
    ]
    for item, p in (catch or {}).items():
        rows += [row(questionnaire, i, item, np.asarray(p, float)) for i in range(scores.shape[0])]
    return pd.DataFrame(rows)


def minimal_quality_report(**fields: object) -> dict:
    """The smallest valid quality report file (``data/quality/<stem>.json``), plus ``fields``."""
    from value_inertia.analysis.quality.verdict import THRESHOLDS

    return {
        "model": "m",
        "questionnaire": "mfq30",
        "verdict": "reliable",
        "thresholds": dict(THRESHOLDS),
        "attention": {"status": "none", "wrong_share": None},
        "bootstrap": {"n_boot": 10, "confidence": 0.9, "seed": 0},
        **fields,
    }
