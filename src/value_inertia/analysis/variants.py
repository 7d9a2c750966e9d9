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

:func:`variant_shifts` is the pure computation; :func:`variant_report` wraps it in
the file ``data/variants/<stem>.json`` (:class:`VariantReport`) and
:func:`flatten_variant_report` names its numbers for MLflow from the metric registry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from value_inertia.analysis.matrix import P_COLUMNS, select_rows
from value_inertia.analysis.stats import keyed_rng, percentile_interval, resample_counts
from value_inertia.core import registry as metric_registry
from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.core.registry import MetricSpec
from value_inertia.core.results import json_ready, read_json, validate
from value_inertia.core.table_io import write_text_atomic
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


# --------------------------------------------------------------------------- the contract


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


def _no_interval() -> list[float | None]:
    return [None, None]


class Values(_Open):
    """Inertia and steerability (or their shifts) with CIs ``[low, high]``."""

    inertia: float | None = None
    inertia_ci: list[float | None] = Field(default_factory=_no_interval)
    steerability: float | None = None
    steerability_ci: list[float | None] = Field(default_factory=_no_interval)


class Shift(_Open):
    overall: Values = Field(default_factory=Values)
    dimensions: dict[str, Values] = Field(default_factory=dict)


class VariantMetrics(_Open):
    """One variant's values; ``shift`` against the reference (None for the reference)."""

    variant: str
    protocol_hash: str | None = None
    n_personas: int = 0
    parse_rate: float | None = None
    overall: Values = Field(default_factory=Values)
    dimensions: dict[str, Values] = Field(default_factory=dict)
    shift: Shift | None = None


class VariantReport(_Open):
    """``data/variants/<stem>.json``: ``variants`` is empty (and ``note`` says why) when
    the model answers no other variant of this questionnaire."""

    model: str
    questionnaire: str
    reference: str = DEFAULT_VARIANT
    protocol_hash: str | None = None
    note: str | None = None
    n_boot: int = 0
    confidence: float = 0.95
    seed: int = 0
    original: VariantMetrics | None = None
    variants: dict[str, VariantMetrics] = Field(default_factory=dict)


# --------------------------------------------------------------------------- pure parts


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
) -> Json:
    """Each variant's inertia and steerability and its shift against ``reference``.

    ``parsed``: one model's parsed table with a ``variant`` column (rows of other
    questionnaires are ignored); ``variants``: the variants to compare (default:
    every variant in the table other than ``reference``). Formulas and the paired
    bootstrap: see the module docstring. Returns ``{"reference": block,
    "variants": {v: block + "shift"}}`` where a block has variant, n_personas
    (paired personas), parse_rate, overall and dimensions (each ``inertia``,
    ``inertia_ci``, ``steerability``, ``steerability_ci``), and ``shift`` the same
    shape for ``M_v - M_reference``. CIs are ``[None, None]`` with fewer than two
    paired personas or ``n_boot < 1``. A variant without rows is a ValueError.
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
    out: Json = {"reference": None, "variants": {}}
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
        if out["reference"] is None:
            out["reference"] = _variant_block(reference, ref_rows, ids, ref_point, ref_draws)
        block = _variant_block(v, rows, ids, var_point, var_draws)
        block["shift"] = _block(shift_point, shift_draws, dims, confidence)
        out["variants"][v] = block
    if out["reference"] is None:  # nothing to compare: the reference's values alone
        ids = sorted(persona_ids(ref_rows))
        point = _stats(_persona_sums(ref_rows, questionnaire, ids).sum(axis=0), ref_base)
        out["reference"] = _variant_block(reference, ref_rows, ids, point, None)

    # the CIs need ``confidence`` and the dimension names: filled in here
    for block in [out["reference"], *out["variants"].values()]:
        draws = block.pop("_draws")
        block.update(_block(block.pop("_point"), draws, dims, confidence))
    return json_ready(out)


def _variant_block(
    variant: str,
    rows: pd.DataFrame,
    ids: list[str],
    point: dict[str, np.ndarray],
    draws: dict[str, np.ndarray] | None,
) -> Json:
    persona = rows.loc[rows["condition"] == "persona"]
    return {
        "variant": variant,
        "n_personas": len(ids),
        "parse_rate": float(persona["ok"].mean()) if len(persona) else None,
        "_point": point,
        "_draws": draws,
    }


# --------------------------------------------------------------------------- the file


def variant_report(
    parsed: pd.DataFrame,
    questionnaire: Questionnaire,
    model: str,
    *,
    n_boot: int,
    confidence: float,
    seed: int,
    variants: Sequence[str] | None = None,
    protocols: Mapping[str, Any] | None = None,
    reference: str = DEFAULT_VARIANT,
) -> VariantReport:
    """The variants file of (model, questionnaire): :func:`variant_shifts` with identity.

    ``variants``: the non-reference variants to compare (none or empty: a report
    with no variants and a ``note``); ``protocols``: variant -> object with
    ``.hash`` (:func:`value_inertia.core.protocol.protocol_for`), carried per variant.
    """
    hashes = {v: p.hash for v, p in (protocols or {}).items()}
    head: Json = {
        "model": model,
        "questionnaire": questionnaire.id,
        "reference": reference,
        "protocol_hash": hashes.get(reference),
        "n_boot": n_boot,
        "confidence": confidence,
        "seed": seed,
    }
    wanted = [v for v in (variants or []) if v != reference]
    if not wanted:
        head["note"] = (
            f"model {model} answers only the {reference} prompt variant of "
            f"{questionnaire.id}: no variant to compare"
        )
        return VariantReport.model_validate(head)
    result = variant_shifts(
        parsed,
        questionnaire,
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
        variants=wanted,
        reference=reference,
    )
    original = {**result["reference"], "protocol_hash": hashes.get(reference)}
    others = {v: {**b, "protocol_hash": hashes.get(v)} for v, b in result["variants"].items()}
    return VariantReport.model_validate({**head, "original": original, "variants": others})


def flatten_variant_report(report: VariantReport) -> dict[str, float]:
    """MLflow metrics named from the registry's ``variant`` scope.

    For registry metric ``shift_<m>`` and variant v: ``shift.<m>.<v>`` (overall),
    ``shift.<m>.<v>.ci_low`` / ``.ci_high`` and ``shift.<m>.<v>.<dimension>``; the
    variant's own values as ``<v>.overall.<m>`` and ``<v>.<m>.<dimension>`` (spaces
    become ``_``). Missing values are left out.
    """
    flat: dict[str, Any] = {}
    for v, block in report.variants.items():
        for name in metric_registry.names("variant"):
            m = name.removeprefix("shift_")
            if block.shift is None or m not in METRICS:
                continue
            overall = block.shift.overall.model_dump()
            flat[f"shift.{m}.{v}"] = overall.get(m)
            lo, hi = overall.get(f"{m}_ci") or [None, None]
            flat[f"shift.{m}.{v}.ci_low"], flat[f"shift.{m}.{v}.ci_high"] = lo, hi
            for d, values in block.shift.dimensions.items():
                flat[f"shift.{m}.{v}.{d}"] = getattr(values, m)
            flat[f"{v}.overall.{m}"] = getattr(block.overall, m)
            for d, values in block.dimensions.items():
                flat[f"{v}.{m}.{d}"] = getattr(values, m)
    return {
        k.replace(" ", "_"): float(x)
        for k, x in flat.items()
        if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
    }


def shift_table(report: VariantReport, variant: str) -> pd.DataFrame:
    """Long table of ``variant``'s shift for the figure: dimension (``overall`` first),
    metric, shift, ci_low, ci_high."""
    block = report.variants[variant]
    records = []
    if block.shift is not None:
        groups = {"overall": block.shift.overall, **block.shift.dimensions}
        for dim, values in groups.items():
            for m in METRICS:
                lo, hi = (list(getattr(values, f"{m}_ci")) + [None, None])[:2]
                records.append(
                    {"dimension": dim, "metric": m, "shift": getattr(values, m),
                     "ci_low": lo, "ci_high": hi}
                )  # fmt: skip
    columns = ["dimension", "metric", "shift", "ci_low", "ci_high"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for c in columns[2:]:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    return frame


def write_report(report: VariantReport, path: Path) -> Path:
    """Write the variants file atomically (NaN never appears: values are None)."""
    text = json.dumps(report.model_dump(mode="json"), indent=2, allow_nan=False)
    write_text_atomic(text + "\n", Path(path))
    return Path(path)


def read_report(path: Path) -> VariantReport:
    """A variants file, validated; a damaged or invalid one is an InputError naming it."""
    return validate(VariantReport, read_json(path), str(path))


def leaderboard_columns(report: VariantReport | None, metrics: Sequence[str]) -> Json:
    """``<name>_<variant>``, ``..._low``, ``..._high`` of each registry ``metrics`` name
    (e.g. ``shift_inertia_shuffled``) for the overall shift of every variant."""
    cols: Json = {}
    if report is None:
        return cols
    for v, block in report.variants.items():
        if block.shift is None:
            continue
        for name in metrics:
            m = name.removeprefix("shift_")
            values = block.shift.overall.model_dump()
            lo, hi = (list(values.get(f"{m}_ci") or []) + [None, None])[:2]
            cols[f"{name}_{v}"] = values.get(m)
            cols[f"{name}_{v}_low"], cols[f"{name}_{v}_high"] = lo, hi
    return cols
