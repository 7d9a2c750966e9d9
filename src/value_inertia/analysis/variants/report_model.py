"""The variant report's contract: ``data/variants/<stem>.json`` as typed models.

:func:`value_inertia.analysis.variants.report.variant_report` builds a
:class:`VariantReport` from :func:`value_inertia.analysis.variants.shifts.variant_shifts`
(a :class:`VariantShifts`); :func:`write_variant_report` writes it and
:func:`read_variant_report` reads it back (through the one reader of result files,
:func:`value_inertia.core.results.read_result`).

Models allow extra keys, so that a newer writer's additions survive an older
reader; the keys below are the contract and are validated.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.core.results import read_result, write_result


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

    def value(self, metric: str) -> float | None:
        """``inertia`` or ``steerability`` by name (another name: None)."""
        return {"inertia": self.inertia, "steerability": self.steerability}.get(metric)

    def interval(self, metric: str) -> tuple[float | None, float | None]:
        """The CI ``(low, high)`` of ``inertia`` or ``steerability`` ((None, None) if none)."""
        ci = {"inertia": self.inertia_ci, "steerability": self.steerability_ci}.get(metric)
        low, high = (list(ci or []) + [None, None])[:2]
        return low, high


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


class VariantShifts(_Open):
    """What :func:`~value_inertia.analysis.variants.shifts.variant_shifts` computes: the
    reference's values and each other variant's values with its shift."""

    reference: VariantMetrics
    variants: dict[str, VariantMetrics] = Field(default_factory=dict)


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


def read_variant_report(path: Path) -> VariantReport:
    """A variants file, validated (one :class:`InputError` naming a bad file)."""
    return read_result(path, VariantReport)


def write_variant_report(report: VariantReport, path: Path) -> Path:
    """Write the variants file atomically (NaN never appears: values are None)."""
    return write_result(report, path)
