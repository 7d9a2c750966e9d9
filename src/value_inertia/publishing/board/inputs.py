"""What the board is built from, read and validated: the metrics files, cluster summaries
and model specs, and the optional quality reports, prompt-variant reports and spend records
(every reader of a quality or variant report the board uses is here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from value_inertia.analysis.quality.report_model import QualityReport, read_quality_report
from value_inertia.analysis.variants.report import leaderboard_columns
from value_inertia.analysis.variants.report_model import VariantReport, read_variant_report
from value_inertia.core.errors import InputError
from value_inertia.core.naming import DEFAULT_VARIANT, parse_artifact_name
from value_inertia.core.paths import (
    clusters_dir,
    metrics_dir,
    model_specs_dir,
    quality_dir,
    spend_dir,
    variants_dir,
)
from value_inertia.core.results import read_clusters, read_json, read_metrics, read_spend, validate
from value_inertia.publishing.board.columns import (
    QUALITY_NUMBERS,
    VARIANT_SHIFT_METRICS,
    Key,
    number,
)


def quality_columns(report: QualityReport | None) -> dict[str, Any]:
    """The board's quality columns (:data:`QUALITY_NUMBERS` and ``verdict``) of a typed
    quality report (all None without one)."""
    numbers = report.figures(QUALITY_NUMBERS) if report else {}
    return {
        **{name: number(numbers.get(name)) for name in QUALITY_NUMBERS},
        "verdict": report.verdict if report else None,
    }


def variant_columns(report: VariantReport | Mapping[str, Any], source: str) -> dict[str, Any]:
    """``shift_inertia_<variant>`` (+ ``_low`` / ``_high``) of a variants report."""
    if not isinstance(report, VariantReport):
        report = validate(VariantReport, dict(report), source)
    return {k: number(v) for k, v in leaderboard_columns(report, VARIANT_SHIFT_METRICS).items()}


def load_variant_reports(root: Path) -> dict[tuple[str, str], VariantReport]:
    """Prompt-variant reports (``data/variants/<stem>.json``) by (model, questionnaire),
    typed; optional. A damaged or stale (invalid) file is an
    :class:`~value_inertia.core.errors.InputError` naming it.
    """
    out: dict[tuple[str, str], VariantReport] = {}
    vdir = variants_dir(Path(root))
    for path in _result_files(vdir) if vdir.is_dir() else []:
        report = read_variant_report(path)
        out[(report.model, report.questionnaire)] = report
    return out


def _result_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*__*.json") if not p.name.startswith("."))


def load_inputs(root: Path) -> tuple[list[dict], list[dict], dict[str, dict]]:
    """Read metrics, cluster summaries and model specs below ``root``, validated.

    A ``<model>__<questionnaire>[...].json`` file holding an object with
    ``model`` and ``questionnaire`` is a metrics file and must be valid
    (:class:`~value_inertia.core.results.MetricsResult`); other JSON objects there are
    not ours and are skipped. A damaged file (not JSON) or an invalid metrics or
    cluster file is an :class:`~value_inertia.core.errors.InputError` naming it.
    Cluster summaries without model/questionnaire get them from the file name.
    Returns JSON-ready dicts (the validated models dumped).
    """
    metrics: list[dict] = []
    for path in _result_files(metrics_dir(root)):
        data = read_json(path)
        if isinstance(data, dict) and "model" in data and "questionnaire" in data:
            metrics.append(read_metrics(path).model_dump(mode="json"))
    clusters: list[dict] = []
    for path in _result_files(clusters_dir(root)):
        data = read_json(path)
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a JSON object")
        summary = read_clusters(path)
        try:
            name, _ = parse_artifact_name(path.stem)
        except ValueError:
            name = None
        if name is not None:
            summary.model = summary.model or name.model
            summary.questionnaire = summary.questionnaire or name.questionnaire
            if "variant" not in data:
                summary.variant = name.variant
        clusters.append(summary.model_dump(mode="json"))
    models: dict[str, dict] = {}
    for path in sorted(model_specs_dir(root).glob("*.json")):
        data = read_json(path)
        if isinstance(data, dict):
            models[str(data.get("name") or path.stem)] = data
    return metrics, clusters, models


def load_quality_reports(root: Path) -> dict[Key, QualityReport]:
    """Quality reports (``data/quality/<stem>.json``) by (model, questionnaire, variant),
    typed (the variant from the file name); optional. A damaged or invalid file is an
    :class:`~value_inertia.core.errors.InputError` naming it."""
    quality: dict[Key, QualityReport] = {}
    qdir = quality_dir(Path(root))
    for path in _result_files(qdir) if qdir.is_dir() else []:
        try:
            name, _ = parse_artifact_name(path.stem)
        except ValueError:
            continue
        report = read_quality_report(path)
        quality[(report.model, report.questionnaire, name.variant)] = report
    return quality


def load_extras(
    root: Path,
) -> tuple[dict[Key, QualityReport], dict[str, dict[str, Any]]]:
    """Quality reports by (model, questionnaire, variant) and spend records by model.

    ``data/quality/<stem>.json`` (:class:`QualityReport`) and ``data/spend/<model>.json``
    (model, tokens_in, tokens_out, cost_usd); both optional. A damaged file is an
    :class:`~value_inertia.core.errors.InputError` naming it.
    """
    quality = load_quality_reports(root)
    spend: dict[str, dict[str, Any]] = {}
    sdir = spend_dir(Path(root))
    for path in sorted(sdir.glob("*.json")) if sdir.is_dir() else []:
        data = read_spend(path)
        spend[str(data.get("model") or path.stem)] = data
    return quality, spend


def load_current_inputs(
    root: Path,
    model_names: Sequence[str],
    questionnaire_ids: Sequence[str],
    variants: Sequence[str] | None = None,
) -> tuple[list[dict], list[dict], dict[str, dict]]:
    """:func:`load_inputs`, keeping only the given models, questionnaires (and variants).

    Files of models, questionnaires or prompt variants no longer in params (DVC
    leaves them in the workspace) do not reach the leaderboard or the published
    dataset. ``variants=None`` keeps every variant.
    """
    metrics, clusters, models = load_inputs(root)
    wanted = {(m, q) for m in model_names for q in questionnaire_ids}

    def keep(record: Mapping[str, Any]) -> bool:
        if (record["model"], record["questionnaire"]) not in wanted:
            return False
        return variants is None or record.get("variant", DEFAULT_VARIANT) in variants

    return (
        [m for m in metrics if keep(m)],
        [c for c in clusters if keep(c)],
        {name: spec for name, spec in models.items() if name in model_names},
    )
