"""The quality report of one (model, questionnaire): every check, the verdict.

Each check's pure function gives its numbers; they are assembled here into the typed
:class:`~.report_model.QualityReport` (the file ``data/quality/<stem>.json``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from value_inertia.analysis.matrix import persona_item_matrix
from value_inertia.analysis.metrics import inertia_index
from value_inertia.analysis.quality.answers import parse_summary, scale_use
from value_inertia.analysis.quality.attention import catch_wrong_share
from value_inertia.analysis.quality.debiasing import (
    debiased_rating_distribution,
    estimate_letter_prior,
)
from value_inertia.analysis.quality.inputs import P_COLUMNS, mean_of
from value_inertia.analysis.quality.mode_agreement import mode_agreement
from value_inertia.analysis.quality.position_bias import (
    letter_preference,
    letter_probabilities,
    position_effects,
)
from value_inertia.analysis.quality.reliability import MIN_PERSONAS, ipsatize, reliability
from value_inertia.analysis.quality.report_model import (
    Attention,
    Debiasing,
    ModeAgreement,
    PositionBias,
    QualityReport,
    Reliability,
)
from value_inertia.analysis.quality.verdict import THRESHOLDS, verdict
from value_inertia.core.protocol import answer_mode
from value_inertia.core.results import json_ready
from value_inertia.design.questionnaires import Questionnaire


def _variant_rows(parsed: pd.DataFrame, variant: str) -> pd.DataFrame:
    if "variant" not in parsed.columns:
        return parsed if variant == "original" else parsed.iloc[0:0]
    return parsed.loc[parsed["variant"].fillna("original") == variant]


def _usable(frame: pd.DataFrame) -> np.ndarray:
    probs = frame[P_COLUMNS].to_numpy(dtype=float, na_value=np.nan)
    return np.isfinite(probs).all(axis=1) & (np.nan_to_num(probs).sum(axis=1) > 0)


def _position_section(rows: pd.DataFrame, seed: int) -> PositionBias | None:
    """Position effects, letter preference and letter prior of the shuffled answers."""
    if rows.empty or "letter_ratings" not in rows.columns:
        return None
    rows = rows.loc[_usable(rows)]
    if len(rows) < 2:
        return None
    p = rows[P_COLUMNS].to_numpy(dtype=float)
    perm = np.asarray([list(r) for r in rows["letter_ratings"]], dtype=int)
    q = letter_probabilities(p, perm)
    preference = letter_preference(q, perm, seed=seed)
    return PositionBias.model_validate(
        {
            **position_effects(q, perm, rows["item"].astype(int).tolist()),
            "letter_preference": preference["letter_preference"],
            "letter_preference_detail": preference,
            "letter_prior": estimate_letter_prior(q).tolist(),
        }
    )


def _debiased_section(
    original: pd.DataFrame, questionnaire: Questionnaire, prior: list[float]
) -> Debiasing | None:
    """Per dimension: raw and letter-prior-debiased inertia of the result's own answers."""
    rows = original.loc[original["condition"] == "persona"]
    rows = rows.loc[_usable(rows)]
    if rows.empty:
        return None
    labels = rows["item"].astype(int).map(questionnaire.item_dimension)
    dims: dict[str, Any] = {}
    for d in questionnaire.dimensions:
        mask = (labels == d).to_numpy()
        if not mask.any():
            continue
        p = rows.loc[mask, P_COLUMNS].to_numpy(dtype=float)
        perm = (
            np.asarray([list(r) for r in rows.loc[mask, "letter_ratings"]], dtype=int)
            if "letter_ratings" in rows.columns
            else None
        )
        raw = (p / p.sum(axis=1, keepdims=True)).mean(axis=0)
        deb = debiased_rating_distribution(p, prior, perm)
        dims[d] = {
            "inertia": inertia_index(raw),
            "debiased_inertia": inertia_index(deb),
            "distribution": deb.tolist(),
        }
    return Debiasing.model_validate(
        {
            "inertia": mean_of([v["inertia"] for v in dims.values()]),
            "debiased_inertia": mean_of([v["debiased_inertia"] for v in dims.values()]),
            "letter_prior": list(prior),
            "dimensions": dims,
        }
    )


def _attention_section(original: pd.DataFrame, questionnaire: Questionnaire) -> Attention:
    """Catch answers on the wrong side; status "none" / "not measured" / "measured"."""
    catch = {it.number: it.expected for it in questionnaire.items if it.catch}
    if not catch:
        return Attention(status="none", wrong_share=None)
    expected = {n: e for n, e in catch.items() if e is not None}
    rows = original.loc[
        (original["condition"] == "persona") & original["item"].astype(int).isin(expected)
    ]
    rows = rows.loc[_usable(rows)]
    if rows.empty:
        why = "no expected answer in the questionnaire" if not expected else "no usable answer"
        return Attention(status="not measured", wrong_share=None, note=why)
    items = rows["item"].astype(int).tolist()
    out = catch_wrong_share(
        rows[P_COLUMNS].to_numpy(dtype=float), [expected[i] for i in items], items
    )
    return Attention.model_validate({"status": "measured", **out})


def _agreement_section(
    own: pd.DataFrame,
    partner: pd.DataFrame,
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
) -> ModeAgreement | None:
    if own.empty or partner.empty:
        return None
    own_mode, partner_mode = (answer_mode(str(t["mode"].iloc[0])) for t in (own, partner))
    if own_mode.letter_logprobs == partner_mode.letter_logprobs:
        return None  # agreement compares letter probabilities with drawn answers
    lp, sm = (own, partner) if own_mode.letter_logprobs else (partner, own)
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
    return ModeAgreement.model_validate(
        mode_agreement(
            probs, matched["rating"].astype(int).to_numpy(), groups, n_boot, confidence, rng
        )
    )


def quality_report(
    parsed: pd.DataFrame,
    questionnaire: Questionnaire,
    *,
    model: str,
    protocol_hash: str | None = None,
    partner: pd.DataFrame | None = None,
    partner_name: str | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_personas: int = MIN_PERSONAS,
) -> QualityReport:
    """The quality report of ``model``'s answers to ``questionnaire``.

    ``parsed`` is the model's parsed table (``variant`` column optional:
    missing means all rows are ``original``; position bias and the letter
    prior need ``variant == "shuffled"`` rows with ``letter_ratings``).
    ``partner`` is the parsed table of the same model file run in the other
    mode (or None), ``partner_name`` its name (recorded when ``partner`` is given).
    Reliability (on ipsatized scores, from ``min_personas``
    on), scale use, parse rate, letter mass, attention checks and the
    debiased inertia use the ``original`` variant's persona rows; position
    bias and the letter prior the ``shuffled`` rows; agreement the
    ``original`` rows of both tables matched by ``prompt_id``.
    Returns the report as written: numbers rounded to 6 digits, NaN as None
    (:func:`value_inertia.core.results.json_ready`).
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
    ipsatized = (
        pd.DataFrame(ipsatize(matrix.to_numpy()), index=matrix.index, columns=matrix.columns)
        if matrix.shape[1] >= 2
        else matrix
    )
    dims: dict[str, Reliability] = {}
    for d, nums in questionnaire.dimensions.items():
        cols = [n for n in sorted(nums) if n in ipsatized.columns]
        if len(cols) < 2:
            continue
        dims[d] = Reliability.model_validate(
            reliability(ipsatized[cols].to_numpy(), n_boot, confidence, rng, min_personas)
        )
    scale = scale_use(matrix.to_numpy()) if matrix.shape[1] >= 2 else {}
    parse = parse_summary(
        original["rating"].to_numpy(dtype=float, na_value=np.nan),
        original["reason"].tolist() if "reason" in original else [None] * len(original),
    )
    letter_mass = None
    if mode is not None and answer_mode(mode).has_letter_mass and "letter_mass" in original:
        masses = original["letter_mass"].to_numpy(dtype=float, na_value=np.nan)
        letter_mass = float(np.nanmean(masses)) if np.isfinite(masses).any() else None

    position = _position_section(_variant_rows(rows, "shuffled"), seed)
    debiased = (
        _debiased_section(original, questionnaire, position.letter_prior) if position else None
    )
    attention = _attention_section(original, questionnaire)
    agreement = None
    if partner is not None:
        other = _variant_rows(partner.loc[partner["questionnaire"] == questionnaire.id], "original")
        agreement = _agreement_section(original, other, n_boot, confidence, rng)

    summary: dict[str, Any] = {
        "alpha": mean_of([v.alpha for v in dims.values()]),
        "omega": mean_of([v.omega for v in dims.values()]),
        "position_bias": position.position_share if position else None,
        "top_letter_share": position.top_letter_share if position else None,
        "letter_preference": position.letter_preference if position else None,
        "debiased_inertia": debiased.debiased_inertia if debiased else None,
        "agreement": agreement.agreement if agreement else None,
        "expected_agreement": agreement.expected_agreement if agreement else None,
        "agreement_jsd": agreement.jsd if agreement else None,
        "inertia_difference": agreement.inertia_difference if agreement else None,
        "letter_mass": letter_mass,
        "parse_rate": parse["parse_rate"],
        "mrat_mean": scale.get("mrat_mean"),
        "mrat_sd": scale.get("mrat_sd"),
        "acquiescence": scale.get("acquiescence"),
        "catch_wrong_share": attention.wrong_share,
    }
    checks = {
        **summary,
        "n_personas": int(matrix.shape[0]),
        "mode_shortfall_significant": agreement.shortfall_significant if agreement else None,
        "catch_status": attention.status,
    }
    report = {
        "model": model,
        "questionnaire": questionnaire.id,
        "protocol_hash": protocol_hash,
        "partner": partner_name if partner is not None else None,
        "mode": mode,
        "verdict": verdict(checks, {"min_personas": min_personas}),
        **summary,
        "thresholds": {**THRESHOLDS, "min_personas": min_personas},
        "dimensions": {d: v.model_dump() for d, v in dims.items()},
        "reliability_scores": "ipsatized (MRAT-centred)",
        "position": position.model_dump() if position else None,
        "debiased": debiased.model_dump() if debiased else None,
        "mode_agreement": agreement.model_dump() if agreement else None,
        "attention": attention.model_dump(),
        "parse_reasons": parse["reasons"],
        "n_answers": parse["n_answers"],
        "n_personas": int(matrix.shape[0]),
        "bootstrap": {"n_boot": n_boot, "confidence": confidence, "seed": seed},
    }
    return QualityReport.model_validate(json_ready(report))
