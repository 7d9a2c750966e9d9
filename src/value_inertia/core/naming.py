"""Names of per-result artefacts: one function builds them, one parses them.

A result is identified by ``(model, questionnaire)`` and, for prompt variants
other than ``original``, the variant. Its files share the stem
``<model>__<questionnaire>[__<variant>]`` and a figure or table adds
``__<kind>`` (``gemma3-270m__mfq30__macro.png``). Model names, questionnaire
ids and variant names are refused at config load when they contain the
separator (see :data:`SEPARATOR`), so parsing is unambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from value_inertia.core.config import PromptsParams

SEPARATOR = "__"
DEFAULT_VARIANT = "original"

# variant -> what it changes against the configured ("original") prompt
VARIANTS: dict[str, str] = {
    "original": "the prompt as configured in params.yaml",
    "shuffled": "options in a random letter order per prompt (seeded; mapped back afterwards)",
    "no_forced_choice": "without the forced-choice sentence",
    "no_preamble": "without the role-play preamble (the persona description stays)",
    "reversed": "options in reversed scale order (A = the highest rating)",
}


def variant_params(params: PromptsParams, variant: str) -> PromptsParams:
    """The prompt settings of ``variant``: the configured ones with one thing changed."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown prompt variant {variant!r}; known: {', '.join(VARIANTS)}")
    change = {
        "shuffled": {"shuffle_options": True},
        "no_forced_choice": {"forced_choice": False},
        "no_preamble": {"preamble": False},
    }.get(variant, {})
    return params.model_copy(update=change)


@dataclass(frozen=True)
class ResultName:
    """The identity of one result's artefacts."""

    model: str
    questionnaire: str
    variant: str = DEFAULT_VARIANT

    @property
    def stem(self) -> str:
        return artifact_stem(self.model, self.questionnaire, self.variant)

    def file(self, kind: str, suffix: str) -> str:
        """``<stem>__<kind><suffix>``, e.g. ``file("macro", ".png")``."""
        return f"{self.stem}{SEPARATOR}{kind}{suffix}"


def check_part(value: str, what: str) -> str:
    """Refuse a name part that would make artefact names ambiguous."""
    if not value or SEPARATOR in value:
        raise ValueError(f"{what} {value!r} must be non-empty and must not contain {SEPARATOR!r}")
    return value


def artifact_stem(model: str, questionnaire: str, variant: str = DEFAULT_VARIANT) -> str:
    """``<model>__<questionnaire>`` (``__<variant>`` appended unless ``original``).

    >>> artifact_stem("gemma3-270m", "mfq30")
    'gemma3-270m__mfq30'
    >>> artifact_stem("smollm2", "pvqrr", "shuffled")
    'smollm2__pvqrr__shuffled'
    """
    parts = [check_part(model, "model name"), check_part(questionnaire, "questionnaire id")]
    if variant != DEFAULT_VARIANT:
        parts.append(check_part(variant, "variant"))
    return SEPARATOR.join(parts)


def parse_artifact_name(
    name: str, kinds: frozenset[str] | set[str] = frozenset()
) -> tuple[ResultName, str | None]:
    """Split a stem or file stem back into its :class:`ResultName` and kind.

    ``kinds`` lists the known artefact kinds (``macro``, ``clusters``, ...): a
    trailing part that is one of them is the kind, otherwise it is the variant.

    >>> parse_artifact_name("m__mfq30__shuffled__macro", {"macro"})
    (ResultName(model='m', questionnaire='mfq30', variant='shuffled'), 'macro')
    >>> parse_artifact_name("m__mfq30")
    (ResultName(model='m', questionnaire='mfq30', variant='original'), None)
    """
    parts = name.split(SEPARATOR)
    if len(parts) < 2 or len(parts) > 4 or not all(parts):
        raise ValueError(f"{name!r} is not an artefact name <model>__<questionnaire>[...]")
    kind = None
    if len(parts) > 2 and parts[-1] in kinds:
        kind = parts.pop()
    if len(parts) > 3:
        raise ValueError(f"{name!r} has too many parts for an artefact name")
    variant = parts[2] if len(parts) == 3 else DEFAULT_VARIANT
    return ResultName(parts[0], parts[1], variant), kind
