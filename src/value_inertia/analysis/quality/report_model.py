"""The quality report's contract: ``data/quality/<stem>.json`` as typed models.

:func:`value_inertia.analysis.quality.report.quality_report` builds a
:class:`QualityReport`; :func:`write_quality_report` writes it and
:func:`read_quality_report` reads it back (through the one reader of result files,
:func:`value_inertia.core.results.read_result`). The fields are declared in the
order they are written, so the file keeps its key order; a part that a check did
not produce (``r2_full`` when no answer varies, the attention details of an
unmeasured check) is left out of the file, as it always was.

Models allow extra keys, so that a newer writer's additions survive an older
reader; the keys below are the contract and are validated.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from value_inertia.core.results import read_result, write_result

Interval = list[float | None] | None  # [low, high]; None when not computed


def _absent(value: Any) -> bool:
    return value is None


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Reliability(_Open):
    """Alpha and omega of one dimension on ipsatized scores (:func:`.reliability.reliability`)."""

    alpha: float | None = None
    omega: float | None = None
    alpha_ci: Interval = None
    omega_ci: Interval = None
    n_personas: int = 0
    n_items: int = 0
    note: str | None = None


class LetterPreference(_Open):
    """:func:`.position_bias.letter_preference`: TV beyond chance and its p-value."""

    letter_preference: float | None = None
    tv: float | None = None
    tv_null_median: float | None = None
    p_value: float | None = None


class PositionBias(_Open):
    """The shuffled variant's position effects (:func:`.position_bias.position_effects`),
    letter preference and letter prior (:func:`.debiasing.estimate_letter_prior`)."""

    n_answers: int = 0
    letter_distribution: list[float] = Field(default_factory=list)
    top_letter: str | None = None
    top_letter_share: float | None = None
    r2_position: float | None = None
    r2_meaning: float | None = None
    unique_position: float | None = None
    unique_meaning: float | None = None
    position_share: float | None = None
    r2_full: float | None = Field(default=None, exclude_if=_absent)  # absent: nothing varies
    letter_preference: float | None = None
    letter_preference_detail: LetterPreference | None = None
    letter_prior: list[float] = Field(default_factory=list)


class DebiasedDimension(_Open):
    inertia: float | None = None
    debiased_inertia: float | None = None
    distribution: list[float] = Field(default_factory=list)


class Debiasing(_Open):
    """Raw and letter-prior-debiased inertia (means over dimensions, and per dimension)."""

    inertia: float | None = None
    debiased_inertia: float | None = None
    letter_prior: list[float] = Field(default_factory=list)
    dimensions: dict[str, DebiasedDimension] = Field(default_factory=dict)


class ModeAgreement(_Open):
    """Logprob-vs-sample agreement (:func:`.mode_agreement.mode_agreement`)."""

    n_matched: int = 0
    agreement: float | None = None
    agreement_ci: Interval = None
    expected_agreement: float | None = None
    expected_agreement_ci: Interval = None
    shortfall: float | None = None
    shortfall_ci: Interval = None
    shortfall_significant: bool = False
    mean_sampled_probability: float | None = None
    jsd: float | None = None
    inertia_logprob: float | None = None
    inertia_sample: float | None = None
    inertia_difference: float | None = None
    inertia_difference_ci: Interval = None


class CatchItem(_Open):
    expected: str
    n_answers: int = 0
    mean_rating: float | None = None
    wrong_share: float | None = None


class Attention(_Open):
    """Attention checks: ``status`` "none" (no catch items), "not measured" (``note``
    says why) or "measured" (``n_answers`` and per-item ``items``)."""

    status: str
    wrong_share: float | None = None
    note: str | None = Field(default=None, exclude_if=_absent)
    n_answers: int | None = Field(default=None, exclude_if=_absent)
    items: dict[str, CatchItem] | None = Field(default=None, exclude_if=_absent)


class Thresholds(_Open):
    """The verdict's thresholds (:data:`.verdict.THRESHOLDS` and the persona minimum)."""

    min_parse_rate: float
    min_letter_mass: float
    max_letter_preference: float
    min_alpha: float
    min_personas: int
    max_catch_wrong_share: float


class BootstrapSettings(_Open):
    n_boot: int
    confidence: float
    seed: int


class QualityReport(_Open):
    """``data/quality/<stem>.json``: every check of one (model, questionnaire) and the verdict.

    The single figures (``alpha`` ... ``catch_wrong_share``) are the metric registry's
    ``quality`` scope, read by name with :meth:`figures`; None: not measured.
    """

    model: str = Field(min_length=1)
    questionnaire: str = Field(min_length=1)
    protocol_hash: str | None = None
    partner: str | None = None  # the same model file in the other answer mode
    mode: str | None = None
    verdict: str
    alpha: float | None = None
    omega: float | None = None
    position_bias: float | None = None
    top_letter_share: float | None = None
    letter_preference: float | None = None
    debiased_inertia: float | None = None
    agreement: float | None = None
    expected_agreement: float | None = None
    agreement_jsd: float | None = None
    inertia_difference: float | None = None
    letter_mass: float | None = None
    parse_rate: float | None = None
    mrat_mean: float | None = None
    mrat_sd: float | None = None
    acquiescence: float | None = None
    catch_wrong_share: float | None = None
    thresholds: Thresholds
    dimensions: dict[str, Reliability] = Field(default_factory=dict)
    reliability_scores: str = "ipsatized (MRAT-centred)"
    position: PositionBias | None = None
    debiased: Debiasing | None = None
    mode_agreement: ModeAgreement | None = None
    attention: Attention
    parse_reasons: dict[str, int] = Field(default_factory=dict)
    n_answers: int = 0
    n_personas: int = 0
    bootstrap: BootstrapSettings

    def figures(self, names: Iterable[str]) -> dict[str, float | None]:
        """The single figures called ``names`` (registry names; an unknown one: None)."""
        out: dict[str, float | None] = {}
        for name in names:
            value = getattr(self, name) if name in type(self).model_fields else None
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            out[name] = value if is_number else None
        return out


def read_quality_report(path: Path) -> QualityReport:
    """A quality report file, validated (one :class:`InputError` naming a bad file)."""
    return read_result(path, QualityReport)


def write_quality_report(report: QualityReport, path: Path) -> Path:
    """Write a quality report atomically, keys in the order of :class:`QualityReport`."""
    return write_result(report, path)
