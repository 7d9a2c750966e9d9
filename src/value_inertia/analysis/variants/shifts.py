"""Prompt variants against ``original``: each variant's metrics and its shift, with paired CIs.

For one model and questionnaire, every prompt variant other than the reference
(``original``) is compared with it on the personas that answered both (normally
all of them):

* per variant v and dimension d: ``p_{v,d}`` = mean of the usable persona-condition
  answer distributions over the items of d (on the 1-6 rating scale, so a
  ``shuffled`` variant's answers are already mapped back to their ratings);
  ``I_v(d) = 1 - H(p_{v,d}) / log2 6`` and ``S_v(d) = JSD_2(p_{v,d}^baseline, p_{v,d})``
  (the baseline of the same variant, fixed); overall = the unweighted mean over the
  dimensions with answers (as in :func:`value_inertia.analysis.analyze.run_analysis`);
* the shift ``Delta(d) = M_v(d) - M_original(d)`` for M in {inertia, steerability}, and
  ``Delta(overall) = overall_v - overall_original``;
* a paired percentile bootstrap over personas: each draw resamples the persona ids
  once (with replacement) and recomputes ``p_{v,d}`` and ``p_{original,d}`` from the
  same resampled personas, so ``Delta*`` keeps the pairing; the CI is the
  ``(1 -+ c) / 2`` quantiles of the ``Delta*`` draws (likewise the CI of each
  variant's own values). Baselines are not resampled (they have no persona).

:func:`variant_shifts` is the pure computation (a
:class:`~value_inertia.analysis.variants.report_model.VariantShifts`);
:mod:`value_inertia.analysis.variants.report` wraps it in the file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from value_inertia.analysis.matrix import P_COLUMNS, select_rows
from value_inertia.analysis.stats import keyed_rng, percentile_interval, resample_counts
from value_inertia.analysis.variants.report_model import VariantShifts
from value_inertia.core import registry as metric_registry
from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.core.registry import MetricSpec
from value_inertia.core.results import json_ready
from value_inertia.design.questionnaires import N_OPTIONS, Questionnaire

Json = dict[str, Any]
METRICS: tuple[str, ...] = ("inertia", "steerability")
_LOG2_K = math.log2(N_OPTIONS)

for _base in METRICS:
    metric_registry.register(
        MetricSpec(
            f"shift_{_base}",
            f"{_base.capitalize()} shift (variant - original)",
            None,
            f"How much a prompt variant (e.g. shuffled options) changes the overall {_base}; "
            "paired bootstrap CI over personas. Near 0: the result does not hinge on the "
            "prompt's form.",
            f"{_base}(variant) - {_base}(original), same personas",
            ("variant",),
        )
    )


def inertia_of_sums(sums: np.ndarray) -> np.ndarray:
    """``1 - H(s / sum s) / log2 6`` along the last axis (NaN where the sum is 0)."""
    sums = np.asarray(sums, dtype=float)
    total = sums.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = sums / total
        logs = np.log2(np.where(p > 0, p, 1.0))
    h = -(np.where(p > 0, p, 0.0) * logs).sum(axis=-1)
    out = 1.0 - h / _LOG2_K
    return np.where(total[..., 0] > 0, out, np.nan)


def jsd_of_sums(baseline: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """``JSD_2(b, s / sum s)`` along the last axis; ``baseline`` broadcasts (NaN rows -> NaN)."""
    sums = np.asarray(sums, dtype=float)
    b = np.asarray(baseline, dtype=float)
    total = sums.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = sums / total
        m = (b + q) / 2

        def kl(a: np.ndarray) -> np.ndarray:
            ratio = np.where(a > 0, a / np.where(m > 0, m, 1.0), 1.0)
            return (np.where(a > 0, a, 0.0) * np.log2(ratio)).sum(axis=-1)

        out = 0.5 * kl(np.broadcast_to(b, q.shape)) + 0.5 * kl(q)
    bad = ~(total[..., 0] > 0) | ~np.isfinite(np.broadcast_to(b, q.shape)).all(axis=-1)
    return np.where(bad, np.nan, np.clip(out, 0.0, 1.0))


def _persona_sums(rows: pd.DataFrame, questionnaire: Questionnaire, ids: list[str]) -> np.ndarray:
    """ids x dimensions x 6: each persona's summed usable answer distributions per dimension."""
    persona = rows.loc[(rows["condition"] == "persona") & ~rows["is_catch"] & rows["ok"]]
    blocks = []
    for items in questionnaire.dimensions.values():
        sel = persona.loc[persona["item"].isin(list(items))]
        summed = sel.groupby(sel["persona_id"].astype(str))[P_COLUMNS].sum()
        blocks.append(summed.reindex(ids, fill_value=0.0).to_numpy(dtype=float))
    return np.stack(blocks, axis=1) if blocks else np.zeros((len(ids), 0, N_OPTIONS))


def _baselines(rows: pd.DataFrame, questionnaire: Questionnaire) -> np.ndarray:
    """dimensions x 6: the pooled baseline distribution per dimension (NaN row when none)."""
    base = rows.loc[(rows["condition"] == "baseline") & ~rows["is_catch"] & rows["ok"]]
    out = np.full((len(questionnaire.dimensions), N_OPTIONS), np.nan)
    for i, items in enumerate(questionnaire.dimensions.values()):
        sel = base.loc[base["item"].isin(list(items)), P_COLUMNS].to_numpy(dtype=float)
        if len(sel):
            out[i] = sel.sum(axis=0) / sel.sum()
    return out


def _stats(sums: np.ndarray, baselines: np.ndarray) -> dict[str, np.ndarray]:
    """Per-dimension inertia and steerability of summed distributions (..., D, 6), and the
    overall means over dimensions with a value (NaN when none)."""
    out: dict[str, np.ndarray] = {
        "inertia": inertia_of_sums(sums),
        "steerability": jsd_of_sums(baselines, sums),
    }
    for key in METRICS:
        values = out[key]
        counts = np.isfinite(values).sum(axis=-1)
        with np.errstate(invalid="ignore"):
            out[f"overall_{key}"] = np.where(
                counts > 0, np.nansum(values, axis=-1) / np.maximum(counts, 1), np.nan
            )
    return out


def _interval(draws: np.ndarray, confidence: float) -> list[float | None]:
    lo, hi = percentile_interval(draws, confidence)
    return [lo, hi] if math.isfinite(lo) else [None, None]


def _value(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _block(
    point: dict[str, np.ndarray],
    draws: dict[str, np.ndarray] | None,
    dims: Sequence[str],
    confidence: float,
) -> Json:
    """{overall: {m, m_ci}, dimensions: {d: {m, m_ci}}} from point values and bootstrap draws."""

    def values(key_of: str, index: int | None) -> Json:
        rec: Json = {}
        for m in METRICS:
            key = key_of.format(m=m)
            v = point[key] if index is None else point[key][index]
            rec[m] = _value(v)
            if draws is None:
                rec[f"{m}_ci"] = [None, None]
            else:
                d = draws[key] if index is None else draws[key][:, index]
                rec[f"{m}_ci"] = _interval(d, confidence)
        return rec

    return {
        "overall": values("overall_{m}", None),
        "dimensions": {d: values("{m}", i) for i, d in enumerate(dims)},
    }


def variant_shifts(
    parsed: pd.DataFrame,
    questionnaire: Questionnaire,
    *,
    n_boot: int,
    confidence: float,
    seed: int,
    variants: Sequence[str] | None = None,
    reference: str = DEFAULT_VARIANT,
) -> VariantShifts:
    """Each variant's inertia and steerability and its shift against ``reference``.

    ``parsed``: one model's parsed table with a ``variant`` column (rows of other
    questionnaires are ignored); ``variants``: the variants to compare (default:
    every variant in the table other than ``reference``). Formulas and the paired
    bootstrap: see the module docstring. Returns the ``reference`` block and one
    block per variant in ``variants``; a block has variant, n_personas (paired
    personas), parse_rate, overall and dimensions (each ``inertia``, ``inertia_ci``,
    ``steerability``, ``steerability_ci``), and a variant's ``shift`` the same shape
    for ``M_v - M_reference``. CIs are ``[None, None]`` with fewer than two paired
    personas or ``n_boot < 1``. Numbers rounded to 6 digits, NaN as None. A variant
    without rows is a ValueError.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if "variant" in parsed.columns:
        present = parsed.loc[parsed["questionnaire"] == questionnaire.id, "variant"]
        present = sorted(set(present.fillna(DEFAULT_VARIANT).astype(str)))
    else:
        present = [DEFAULT_VARIANT]
    wanted = [v for v in present if v != reference] if variants is None else list(variants)
    dims = list(questionnaire.dimensions)
    selected = {v: select_rows(parsed, questionnaire, v) for v in [reference, *wanted]}
    for v, rows in selected.items():
        if rows.empty:
            raise ValueError(
                f"parsed table: no rows for questionnaire {questionnaire.id!r} and variant {v!r}"
            )

    def persona_ids(rows: pd.DataFrame) -> set[str]:
        return set(rows.loc[rows["condition"] == "persona", "persona_id"].dropna().astype(str))

    ref_rows = selected[reference]
    ref_base = _baselines(ref_rows, questionnaire)
    reference_block: Json | None = None
    blocks: dict[str, Json] = {}
    for v in wanted:
        rows = selected[v]
        ids = sorted(persona_ids(ref_rows) & persona_ids(rows))
        ref_sums = _persona_sums(ref_rows, questionnaire, ids)
        var_sums = _persona_sums(rows, questionnaire, ids)
        var_base = _baselines(rows, questionnaire)
        ref_point = _stats(ref_sums.sum(axis=0), ref_base)
        var_point = _stats(var_sums.sum(axis=0), var_base)
        shift_point = {k: var_point[k] - ref_point[k] for k in var_point}
        ref_draws = var_draws = shift_draws = None
        if len(ids) >= 2 and n_boot >= 1:
            counts = resample_counts(
                len(ids), n_boot, keyed_rng(seed, questionnaire.id, v, "shift")
            )
            n_dims = len(dims)
            ref_draws = _stats(
                (counts @ ref_sums.reshape(len(ids), -1)).reshape(n_boot, n_dims, N_OPTIONS),
                ref_base,
            )
            var_draws = _stats(
                (counts @ var_sums.reshape(len(ids), -1)).reshape(n_boot, n_dims, N_OPTIONS),
                var_base,
            )
            shift_draws = {k: var_draws[k] - ref_draws[k] for k in var_draws}
        if reference_block is None:
            values = _block(ref_point, ref_draws, dims, confidence)
            reference_block = _variant_block(reference, ref_rows, ids, values)
        blocks[v] = {
            **_variant_block(v, rows, ids, _block(var_point, var_draws, dims, confidence)),
            "shift": _block(shift_point, shift_draws, dims, confidence),
        }
    if reference_block is None:  # nothing to compare: the reference's values alone
        ids = sorted(persona_ids(ref_rows))
        point = _stats(_persona_sums(ref_rows, questionnaire, ids).sum(axis=0), ref_base)
        values = _block(point, None, dims, confidence)
        reference_block = _variant_block(reference, ref_rows, ids, values)
    return VariantShifts.model_validate(
        json_ready({"reference": reference_block, "variants": blocks})
    )


def _variant_block(variant: str, rows: pd.DataFrame, ids: list[str], values: Json) -> Json:
    """One variant's identity, paired personas and parse rate, with its ``values``
    (overall and dimensions, from :func:`_block`)."""
    persona = rows.loc[rows["condition"] == "persona"]
    return {
        "variant": variant,
        "n_personas": len(ids),
        "parse_rate": float(persona["ok"].mean()) if len(persona) else None,
        **values,
    }
