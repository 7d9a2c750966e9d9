"""What every backend takes and gives: requests in, one result per request out."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from value_inertia.questionnaires import OPTION_LETTERS


@dataclass(frozen=True)
class Request:
    """One request to a model. ``payload`` is ``{"prompt": str}`` or ``{"messages": [...]}``."""

    key: str
    payload: dict[str, Any]
    sample_index: int = 0
    prefix_chars: int = 0  # length of the prompt text's shared prefix (embedded KV reuse)


@dataclass
class Result:
    key: str
    status: str  # "ok" | "failed"
    text: str | None = None
    probs: list[float] | None = None  # six option probabilities, normalised (logprobs mode)
    letter_mass: float | None = None  # probability mass the six letters carried before normalising
    finish_reason: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    attempts: int = 1
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("key")
        data.pop("status")
        return data


ResultCallback = Callable[[Result], None]


class Backend(Protocol):
    def run(self, requests: Sequence[Request], on_result: ResultCallback) -> None:
        """Send every request; call ``on_result`` once per request, as each finishes."""

    def close(self) -> None: ...


def letter_of(token: str) -> str | None:
    """The option letter a token stands for: " A", "A", "(A", "**A", "A." -> "A"; else None."""
    t = token.strip().lstrip("([*_\"'").strip()
    if not t:
        return None
    head = t[0]
    if head not in OPTION_LETTERS:
        return None
    rest = t[1:]
    if rest and (rest[0].isalnum()):
        return None
    return head


def distribution_from_logprobs(top: dict[str, float]) -> tuple[list[float] | None, float]:
    """Letter distribution from a token -> logprob map: (normalised probs or None, mass)."""
    mass = [0.0] * len(OPTION_LETTERS)
    for token, logprob in top.items():
        letter = letter_of(token)
        if letter is None or logprob is None or not math.isfinite(logprob):
            continue
        mass[OPTION_LETTERS.index(letter)] += math.exp(logprob)
    total = sum(mass)
    if total <= 0.0:
        return None, 0.0
    return [m / total for m in mass], min(total, 1.0)
