"""A compact summary of each result: the file DVC tracks as the metric.

The analysis writes its full detail to ``data/metrics/<stem>.json`` (an output).
DVC's metric is ``data/summary/<model>__<questionnaire>.json``: the overall
values with their confidence interval and per-dimension inertia and
steerability, so that ``dvc exp show`` and ``dvc metrics diff`` compare runs in
a few columns. Other prompt variants of the same result sit under
``variants.<name>``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from value_inertia import paths
from value_inertia.artifacts import DEFAULT_VARIANT, artifact_stem, parse_artifact_name
from value_inertia.errors import InputError

OVERALL = ("inertia", "steerability", "top2", "top1")
PER_DIMENSION = ("inertia", "steerability")


def summary_dir(root: Path | None = None) -> Path:
    return (root or paths.project_root()) / "data" / "summary"


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def summarize(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The compact view of one metrics JSON (keys with no value are left out)."""
    overall = metrics.get("overall") or {}
    out: dict[str, Any] = {}
    if metrics.get("protocol_hash"):
        out["protocol_hash"] = metrics["protocol_hash"]
    for key in ("n_personas", "parse_rate", "letter_mass"):
        if _number(metrics.get(key)) is not None:
            out[key] = metrics[key]
    top: dict[str, Any] = {k: overall[k] for k in OVERALL if _number(overall.get(k)) is not None}
    for key in ("inertia", "steerability"):
        ci = overall.get(f"{key}_ci")
        if (
            isinstance(ci, list | tuple)
            and len(ci) == 2
            and all(_number(v) is not None for v in ci)
        ):
            top[f"{key}_ci_low"], top[f"{key}_ci_high"] = ci
    out["overall"] = top
    out["dimensions"] = {
        d: {k: m[k] for k in PER_DIMENSION if _number(m.get(k)) is not None}
        for d, m in (metrics.get("dimensions") or {}).items()
    }
    return out


def _read(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the metrics JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def write_summary(model: str, questionnaire: str, root: Path | None = None) -> Path:
    """Summarise every variant of (model, questionnaire) into one small JSON."""
    from value_inertia.tables import write_text_atomic

    root = root or paths.project_root()
    mdir = paths.metrics_dir(root)
    stem = artifact_stem(model, questionnaire)
    original = mdir / f"{stem}.json"
    if not original.exists():
        raise InputError(f"{original}: missing; run the analyze stage first")
    summary = summarize(_read(original))
    variants = {}
    for path in sorted(mdir.glob(f"{stem}__*.json")):
        try:
            name, _ = parse_artifact_name(path.stem)
        except ValueError:
            continue
        data = _read(path)
        if name.variant != DEFAULT_VARIANT and "overall" in data:  # a variant's metrics
            variants[name.variant] = summarize(data)
    if variants:
        summary["variants"] = variants
    out = summary_dir(root) / f"{stem}.json"
    write_text_atomic(json.dumps(summary, indent=2, sort_keys=False) + "\n", out)
    return out
