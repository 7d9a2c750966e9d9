"""The results contract: typed models of the metrics and cluster files, and the one
reader and writer of every result file.

``data/metrics/<stem>.json`` is a :class:`MetricsResult`, ``data/clusters/<stem>.json``
a :class:`ClusterSummary` (``<stem>`` from :func:`value_inertia.core.naming.artifact_stem`);
the quality report and the variant report have their models next to the code that
builds them (:mod:`value_inertia.analysis.quality.report_model`,
:mod:`value_inertia.analysis.variants.report_model`). Every one of them is read by
:func:`read_result` (a missing, damaged or stale file is one
:class:`~value_inertia.core.errors.InputError` that names the file and says how to
rewrite it) and written by :func:`write_result`; :func:`read_metrics` /
:func:`read_clusters` and the analysis' typed readers are that function with the
model filled in. What each number means lives in the metric registry
(:mod:`value_inertia.core.registry`).

Models allow extra keys, so that a newer writer's additions survive an older
reader; the keys below are the contract and are validated.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from value_inertia.core import registry as metric_registry
from value_inertia.core.errors import InputError
from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.core.table_io import write_text_atomic

Interval = list[float | None]  # [low, high] of a confidence interval; [None, None] if unknown
M = TypeVar("M", bound=BaseModel)


def _no_interval() -> Interval:
    return [None, None]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


_NUMBER = TypeAdapter(float | None)
_INTERVAL = TypeAdapter(Interval)


class _RegisteredMetrics(_Open):
    """Metrics of the registry's ``_scope`` beyond the declared fields, validated too.

    A metric registered after this contract was written (one entry in the registry)
    is stored as an extra key: its value is validated as a number (None when
    missing) and its ``<name>_ci`` as an interval, and :meth:`value` reads any
    registered metric, declared or not. The declared fields keep their place in the
    JSON; registered extras follow them.
    """

    _scope: ClassVar[metric_registry.Scope]

    @model_validator(mode="after")
    def _registered(self) -> _RegisteredMetrics:
        extra = self.__pydantic_extra__
        if extra is None:
            return self
        for spec in metric_registry.REGISTRY.values():
            if self._scope not in spec.scopes or spec.name in type(self).model_fields:
                continue
            for key, adapter in ((spec.name, _NUMBER), (f"{spec.name}_ci", _INTERVAL)):
                if key in extra:
                    try:
                        extra[key] = adapter.validate_python(extra[key])
                    except ValidationError:
                        what = "a number or null" if adapter is _NUMBER else "[low, high]"
                        raise ValueError(f"{key}: expected {what}, got {extra[key]!r}") from None
        return self

    def value(self, name: str) -> float | None:
        """The value of registered metric ``name`` (None when this result lacks it)."""
        found = getattr(self, name, None)
        return found if isinstance(found, float | int) and not isinstance(found, bool) else None

    def interval(self, name: str) -> tuple[float | None, float | None] | None:
        """The confidence interval ``<name>_ci`` of metric ``name`` (None when absent)."""
        found = getattr(self, f"{name}_ci", None)
        return (found[0], found[1]) if isinstance(found, list | tuple) and len(found) == 2 else None


class GroupMetrics(_RegisteredMetrics):
    """Macro metrics of one value dimension or roll-up group (see
    :func:`value_inertia.analysis.analyze.group_metrics`); other registered dimension
    metrics are validated extras."""

    _scope: ClassVar[metric_registry.Scope] = "dimension"

    inertia: float | None = None
    inertia_ci: Interval = Field(default_factory=_no_interval)
    steerability: float | None = None
    steerability_ci: Interval = Field(default_factory=_no_interval)
    top2: float | None = None
    top1: float | None = None
    mean_rating: float | None = None
    baseline_mean_rating: float | None = None
    mrat: float | None = None
    mrat_ci: Interval = Field(default_factory=_no_interval)
    distribution: list[float] | None = None
    baseline_distribution: list[float] | None = None


class Overall(_RegisteredMetrics):
    """Unweighted means over the dimensions; CIs from a joint bootstrap over personas;
    other registered overall metrics are validated extras."""

    _scope: ClassVar[metric_registry.Scope] = "overall"

    inertia: float | None = None
    steerability: float | None = None
    top2: float | None = None
    top1: float | None = None
    inertia_ci: Interval = Field(default_factory=_no_interval)
    steerability_ci: Interval = Field(default_factory=_no_interval)


class PermeabilityCell(_Open):
    """One (attribute, dimension) cell of the selective-permeability grid."""

    attribute: str
    dimension: str
    effect: float | None = None
    p_value: float | None = None
    q_value: float | None = None
    n_groups: int = 0
    n: int = 0
    method: str = "omega_squared"
    significant: bool = False
    cohens_d: float | None = None
    contrast: str | None = None
    # how the p-value was reached: "permutation" or "f_tail" (omega_squared.tail_p_value)
    p_method: str | None = None
    n_permutations: int | None = None


class SeedValues(_Open):
    inertia: float | None = None
    steerability: float | None = None


class Spread(_Open):
    """Spread over persona seeds: SD (ddof = 1) and max - min; None with one seed."""

    inertia_sd: float | None = None
    inertia_range: float | None = None
    steerability_sd: float | None = None
    steerability_range: float | None = None


class SeedSpread(_Open):
    """Per-seed inertia and steerability per dimension (and overall), and their spread."""

    per_seed: dict[str, dict[str, SeedValues]] = Field(default_factory=dict)
    dimensions: dict[str, Spread] = Field(default_factory=dict)
    overall: Spread = Field(default_factory=Spread)


class ConvergenceInfo(_Open):
    """Convergence across seeds (the table itself is ``data/plots/<stem>__convergence.csv``)."""

    enough_seeds: bool = False
    n_seeds: int = 0
    note: str | None = None
    sizes: list[int] = Field(default_factory=list)
    final_variance: dict[str, float | None] = Field(default_factory=dict)


class MetricsResult(_Open):
    """``data/metrics/<stem>.json``: all metrics of one (model, questionnaire, variant)."""

    model: str = Field(min_length=1)
    questionnaire: str = Field(min_length=1)
    variant: str = DEFAULT_VARIANT
    protocol_hash: str | None = None
    protocol: dict[str, Any] | None = None
    mode: str
    n_personas: int
    seeds: list[int] = Field(default_factory=list)
    repeats: int | None = None
    samples: int | None = None
    parse_rate: float | None = None
    letter_mass: float | None = None
    overall: Overall
    dimensions: dict[str, GroupMetrics]
    levels: dict[str, dict[str, GroupMetrics]] = Field(default_factory=dict)
    seed_stability: dict[str, float | None] = Field(default_factory=dict)
    catch_items: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    permeability: list[PermeabilityCell] = Field(default_factory=list)
    seed_spread: SeedSpread | None = None
    convergence: ConvergenceInfo | None = None


class ClusterSummary(_Open):
    """``data/clusters/<stem>.json``: the clustering of one (model, questionnaire, variant)."""

    model: str | None = None
    questionnaire: str | None = None
    variant: str = DEFAULT_VARIANT
    protocol_hash: str | None = None
    method: str | None = None
    k: int
    silhouette: float | None = None
    silhouette_by_k: dict[int, float] = Field(default_factory=dict)
    min_silhouette: float | None = None
    null_silhouette: float | None = None  # 95th percentile of the Gaussian null's best silhouette
    null_p_value: float | None = None  # cluster test against that null (k > 1 only when small)
    sizes: dict[int, int] = Field(default_factory=dict)
    ami: dict[str, float | None] = Field(default_factory=dict)
    explained_variance: list[float] = Field(default_factory=list)
    n_personas: int | None = None
    n_items: int | None = None
    n_items_used: int | None = None
    profiles: str | None = None
    note: str | None = None


def _errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for e in exc.errors()[:limit]:
        where = ".".join(str(x) for x in e["loc"]) or "(top level)"
        parts.append(f"{where}: {e['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def validate(model: type[M], data: Any, source: str) -> M:
    """Validate ``data``; an invalid one is an :class:`InputError` naming ``source``."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{source}: not a valid {model.__name__}: {_errors(exc)}") from None


def read_json(path: Path) -> Any:
    """The JSON in ``path``; a missing or damaged file is an :class:`InputError` naming it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON (damaged file?): {exc}") from None


def read_spend(path: Path) -> dict[str, Any]:
    """A spend record (``data/spend/<model>.json``, written by evaluate); a damaged one
    is an :class:`InputError` naming the file and how to rewrite it."""
    redo = f"run `value-inertia evaluate -m {path.stem}` again to rewrite it"
    try:
        data = read_json(path)
    except InputError as exc:
        raise InputError(f"{exc}; {redo}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object (a spend record); {redo}")
    return data


#: what a reader of a result file tells the user to do about a missing, damaged or stale one
REWRITE_HINT = "the analyze stage writes it (`dvc repro`)"


def read_result(path: Path, model: type[M]) -> M:
    """The one reader of result files: the JSON in ``path`` validated as ``model``.

    A missing file, a damaged one (not JSON, e.g. cut short) and a stale one (JSON
    that is not a valid ``model``: written by an older version, or not a result) are
    each one :class:`InputError` line naming the file, what is wrong and
    :data:`REWRITE_HINT`.
    """
    try:
        return validate(model, read_json(path), str(path))
    except InputError as exc:
        raise InputError(f"{exc}; {REWRITE_HINT}") from None


def read_metrics(path: Path) -> MetricsResult:
    return read_result(path, MetricsResult)


def read_clusters(path: Path) -> ClusterSummary:
    return read_result(path, ClusterSummary)


def dump(result: BaseModel) -> dict[str, Any]:
    """JSON-ready dict of a results model (NaN never appears: writers store None)."""
    return result.model_dump(mode="json")


def write_result(result: BaseModel, path: Path) -> Path:
    """The one writer of result files: ``result`` as indented JSON, atomically, in the
    model's field order (a NaN is an error: the models hold None for a missing number)."""
    text = json.dumps(dump(result), indent=2, allow_nan=False)
    write_text_atomic(text + "\n", Path(path))
    return Path(path)


def write_metrics(result: MetricsResult | dict[str, Any], path: Path) -> Path:
    """Validate (when given a dict) and write a metrics file atomically."""
    model = (
        result if isinstance(result, MetricsResult) else validate(MetricsResult, result, "metrics")
    )
    return write_result(model, path)


def write_clusters(result: ClusterSummary | dict[str, Any], path: Path) -> Path:
    """Validate (when given a dict) and write a cluster summary atomically."""
    model = (
        result
        if isinstance(result, ClusterSummary)
        else validate(ClusterSummary, result, "clusters")
    )
    return write_result(model, path)


def json_ready(obj: Any, ndigits: int = 6) -> Any:
    """Make ``obj`` JSON-serialisable: floats rounded to ``ndigits``, NaN/inf -> None."""
    if isinstance(obj, Mapping):
        return {
            (k if isinstance(k, str | int) else str(k)): json_ready(v, ndigits)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [json_ready(v, ndigits) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_ready(v, ndigits) for v in obj.tolist()]
    if obj is None or obj is pd.NA:
        return None
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        if not math.isfinite(value):
            return None
        return round(value, ndigits)
    return obj
