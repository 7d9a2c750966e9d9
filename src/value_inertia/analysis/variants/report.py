"""The variants file of one (model, questionnaire) and what is read from it.

:func:`variant_report` wraps :func:`~value_inertia.analysis.variants.shifts.variant_shifts`
in the file ``data/variants/<stem>.json``
(:class:`~value_inertia.analysis.variants.report_model.VariantReport`);
:func:`flatten_variant_report` names its numbers for MLflow from the metric registry,
:func:`shift_table` gives the figure's table and :func:`leaderboard_columns` the board's
shift columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from value_inertia.analysis.variants.report_model import VariantReport
from value_inertia.analysis.variants.shifts import METRICS, variant_shifts
from value_inertia.core import registry as metric_registry
from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.design.questionnaires import Questionnaire


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
    head = VariantReport(
        model=model,
        questionnaire=questionnaire.id,
        reference=reference,
        protocol_hash=hashes.get(reference),
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
    )
    wanted = [v for v in (variants or []) if v != reference]
    if not wanted:
        head.note = (
            f"model {model} answers only the {reference} prompt variant of "
            f"{questionnaire.id}: no variant to compare"
        )
        return head
    result = variant_shifts(
        parsed,
        questionnaire,
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
        variants=wanted,
        reference=reference,
    )
    head.original = result.reference.model_copy(update={"protocol_hash": hashes.get(reference)})
    head.variants = {
        v: block.model_copy(update={"protocol_hash": hashes.get(v)})
        for v, block in result.variants.items()
    }
    return head


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
            overall = block.shift.overall
            flat[f"shift.{m}.{v}"] = overall.value(m)
            flat[f"shift.{m}.{v}.ci_low"], flat[f"shift.{m}.{v}.ci_high"] = overall.interval(m)
            for d, values in block.shift.dimensions.items():
                flat[f"shift.{m}.{v}.{d}"] = values.value(m)
            flat[f"{v}.overall.{m}"] = block.overall.value(m)
            for d, values in block.dimensions.items():
                flat[f"{v}.{m}.{d}"] = values.value(m)
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
                lo, hi = values.interval(m)
                records.append(
                    {"dimension": dim, "metric": m, "shift": values.value(m),
                     "ci_low": lo, "ci_high": hi}
                )  # fmt: skip
    columns = ["dimension", "metric", "shift", "ci_low", "ci_high"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for c in columns[2:]:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    return frame


def leaderboard_columns(report: VariantReport | None, metrics: Sequence[str]) -> dict[str, Any]:
    """``<name>_<variant>``, ``..._low``, ``..._high`` of each registry ``metrics`` name
    (e.g. ``shift_inertia_shuffled``) for the overall shift of every variant."""
    cols: dict[str, Any] = {}
    if report is None:
        return cols
    for v, block in report.variants.items():
        if block.shift is None:
            continue
        for name in metrics:
            m = name.removeprefix("shift_")
            values = block.shift.overall
            cols[f"{name}_{v}"] = values.value(m)
            cols[f"{name}_{v}_low"], cols[f"{name}_{v}_high"] = values.interval(m)
    return cols
