"""A compact summary of each result: the file DVC tracks as the metric.

The analysis writes its full detail to ``data/metrics/<stem>.json`` (an output).
DVC's metric is ``data/summary/<model>__<questionnaire>.json``: the overall
values with their confidence interval and per-dimension inertia and
steerability, so that ``dvc exp show`` and ``dvc metrics diff`` compare runs in
a few columns. Other prompt variants of the same result sit under
``variants.<name>`` (with ``shift`` against original from ``data/variants/<stem>.json``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from value_inertia.core import paths
from value_inertia.core.errors import InputError
from value_inertia.core.naming import DEFAULT_VARIANT, artifact_stem, parse_artifact_name
from value_inertia.core.table_io import write_text_atomic

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
        top |= _ci_columns(key, overall.get(f"{key}_ci"))
    out["overall"] = top
    out["dimensions"] = {
        d: {k: m[k] for k in PER_DIMENSION if _number(m.get(k)) is not None}
        for d, m in (metrics.get("dimensions") or {}).items()
    }
    return out


def _ci_columns(name: str, ci: object) -> dict[str, Any]:
    """``{<name>_ci_low, <name>_ci_high}`` when ``ci`` is a pair of numbers, else empty."""
    if isinstance(ci, list | tuple) and len(ci) == 2 and all(_number(v) is not None for v in ci):
        return {f"{name}_ci_low": ci[0], f"{name}_ci_high": ci[1]}
    return {}


def _read(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the metrics JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def _variant_shifts(path: Path) -> dict[str, dict[str, Any]]:
    """From ``data/variants/<stem>.json`` (when there is one): per other prompt variant its
    overall inertia and steerability (unless its metrics file gave them) and ``shift``
    against original, each with ``_ci_low`` / ``_ci_high``."""
    if not path.exists():
        return {}
    data = _read(path)
    out: dict[str, dict[str, Any]] = {}
    for variant, block in (data.get("variants") or {}).items():
        if not isinstance(block, Mapping):
            continue
        compact: dict[str, Any] = {}
        for key, values in (("overall", block.get("overall")),
                            ("shift", (block.get("shift") or {}).get("overall"))):  # fmt: skip
            values = values if isinstance(values, Mapping) else {}
            part: dict[str, Any] = {}
            for name in PER_DIMENSION:
                if _number(values.get(name)) is not None:
                    part[name] = values[name]
                part |= _ci_columns(name, values.get(f"{name}_ci"))
            if part:
                compact[key] = part
        out[str(variant)] = compact
    return out


def write_summary(model: str, questionnaire: str, root: Path | None = None) -> Path:
    """Summarise every variant of (model, questionnaire) into one small JSON."""
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
    for variant, compact in _variant_shifts(root / "data" / "variants" / f"{stem}.json").items():
        for key, values in compact.items():  # a variant's own metrics file wins
            variants.setdefault(variant, {}).setdefault(key, values)
    if variants:
        summary["variants"] = variants
    out = summary_dir(root) / f"{stem}.json"
    write_text_atomic(json.dumps(summary, indent=2, sort_keys=False) + "\n", out)
    return out
