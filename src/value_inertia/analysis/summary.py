"""The headline numbers of each result: the file DVC tracks as the metric.

The analysis writes its full detail to ``data/metrics/<stem>.json`` (an output) and
the quality report to ``data/quality/<stem>.json``. DVC's metric,
``data/summary/<model>__<questionnaire>.json``, holds a few numbers per result so that
``dvc exp show`` fits a terminal and ``dvc metrics diff`` reads at a glance:

- the overall metrics registered with a ``summary`` (:mod:`value_inertia.core.registry`):
  ``inertia`` (the overall inertia index) with ``inertia_ci_low`` / ``inertia_ci_high``
  (``value_and_ci``) and ``steerability`` (``value``),
- ``inertia_debiased``: the inertia left once the letter-position preference is divided
  out (from the quality report; only for a model that answers the ``shuffled`` variant),
- ``verdict_flags``: how many checks of the quality report's verdict failed (0 =
  "reliable"; absent when there is no quality report yet),
- ``shift_inertia_<variant>``: each other prompt variant's inertia minus original's
  (from ``data/variants/<stem>.json``), when the model answers other variants.

Per-dimension numbers, CIs of everything and the full quality report stay in those files
(and in MLflow).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from value_inertia.analysis.quality.report_model import QualityReport, read_quality_report
from value_inertia.analysis.variants.report_model import VariantReport, read_variant_report
from value_inertia.core import paths
from value_inertia.core import registry as metric_registry
from value_inertia.core.errors import InputError
from value_inertia.core.naming import artifact_stem
from value_inertia.core.results import MetricsResult, read_metrics
from value_inertia.core.table_io import write_text_atomic


def summary_dir(root: Path | None = None) -> Path:
    return (root or paths.project_root()) / "data" / "summary"


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def verdict_flags(verdict: object) -> int | None:
    """How many checks failed in a quality verdict: 0 for "reliable", else the number of
    "; "-separated labels ("low letter mass; too few personas" -> 2)."""
    if not isinstance(verdict, str) or not verdict.strip():
        return None
    return 0 if verdict.strip() == "reliable" else len(verdict.split("; "))


def summarize(
    metrics: MetricsResult,
    quality: QualityReport | None = None,
    variants: VariantReport | None = None,
) -> dict[str, Any]:
    """The headline numbers of one result (a number that is not there is left out)."""
    overall = metrics.overall
    out: dict[str, Any] = {}
    for spec in metric_registry.in_summary():
        value = overall.value(spec.name)
        if _number(value) is not None:
            out[spec.name] = value
        if spec.summary == "value_and_ci":
            out |= _ci_columns(spec.name, overall.interval(spec.name))
    if quality is not None:
        if _number(quality.debiased_inertia) is not None:
            out["inertia_debiased"] = quality.debiased_inertia
        flags = verdict_flags(quality.verdict)
        if flags is not None:
            out["verdict_flags"] = flags
    for variant, block in (variants.variants if variants else {}).items():
        shift = block.shift.overall.inertia if block.shift else None
        if _number(shift) is not None:
            out[f"shift_inertia_{variant}"] = shift
    return out


def _ci_columns(name: str, ci: object) -> dict[str, Any]:
    """``{<name>_ci_low, <name>_ci_high}`` when ``ci`` is a pair of numbers, else empty."""
    if isinstance(ci, list | tuple) and len(ci) == 2 and all(_number(v) is not None for v in ci):
        return {f"{name}_ci_low": ci[0], f"{name}_ci_high": ci[1]}
    return {}


def write_summary(model: str, questionnaire: str, root: Path | None = None) -> Path:
    """The headline numbers of (model, questionnaire) into one small JSON (the metrics,
    quality and variant files read through their typed readers)."""
    root = root or paths.project_root()
    stem = artifact_stem(model, questionnaire)
    original = paths.metrics_dir(root) / f"{stem}.json"
    if not original.exists():
        raise InputError(f"{original}: missing; run the analyze stage first")
    quality = paths.quality_dir(root) / f"{stem}.json"
    variants = paths.variants_dir(root) / f"{stem}.json"
    summary = summarize(
        read_metrics(original),
        read_quality_report(quality) if quality.exists() else None,
        read_variant_report(variants) if variants.exists() else None,
    )
    out = summary_dir(root) / f"{stem}.json"
    write_text_atomic(json.dumps(summary, indent=2, sort_keys=False) + "\n", out)
    return out


def flatten_metrics(metrics: MetricsResult) -> dict[str, float]:
    """Scalar metrics named from the metric registry, for MLflow.

    Result-scope metrics by name (``parse_rate``), overall ones as
    ``overall.<name>`` (plus ``overall.<name>_ci_low`` / ``_high`` of those whose
    ``summary`` is ``value_and_ci``: inertia), per-dimension
    ones as ``<name>.<dimension>`` (``inertia.Harm``; spaces become ``_``).
    Missing values are left out.
    """
    data = metrics.model_dump()
    flat: dict[str, Any] = {}
    for name in metric_registry.names("result"):
        flat[name] = data.get(name)
    overall = data.get("overall") or {}
    for name in metric_registry.names("overall"):
        flat[f"overall.{name}"] = overall.get(name)
    for spec in metric_registry.in_summary():
        if spec.summary == "value_and_ci":
            lo, hi = overall.get(f"{spec.name}_ci") or [None, None]
            flat[f"overall.{spec.name}_ci_low"], flat[f"overall.{spec.name}_ci_high"] = lo, hi
    for d, values in (data.get("dimensions") or {}).items():
        for name in metric_registry.names("dimension"):
            flat[f"{name}.{d}"] = values.get(name)
    return {
        k.replace(" ", "_"): float(v)
        for k, v in flat.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
