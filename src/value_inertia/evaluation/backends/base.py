"""What every backend takes and gives: requests in, one result per request out."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from value_inertia.design.questionnaires import OPTION_LETTERS


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


class StopSending(Exception):  # a signal, not an error of the caller's
    """Raised by ``Backend.run`` after it stopped early; every result so far was reported.

    ``reason`` says why in one line (for example: the endpoint refuses connections).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# errors that retrying cannot fix: the endpoint is not there, refuses the key, or
# does not serve the model. Recognised from the recorded error text.
FATAL_KINDS = ("connection refused", "HTTP 401", "HTTP 403", "HTTP 404", "model not found")


def error_kind(error: str | None) -> str:
    """A short name for the kind of a recorded error: "HTTP 503", "connection refused", ..."""
    if not error:
        return "error"
    low = error.lower()
    if "model" in low and ("not found" in low or "does not exist" in low or "no such" in low):
        return "model not found"
    if "connecterror" in low or "connection refused" in low or "name or service" in low:
        return "connection refused"
    head = error.split(":", 1)[0].strip()
    return head or "error"


def is_fatal(error: str | None) -> bool:
    return error_kind(error) in FATAL_KINDS


class Backend(Protocol):
    def run(self, requests: Sequence[Request], on_result: ResultCallback) -> None:
        """Send every request; call ``on_result`` once per request, as each finishes."""

    def close(self) -> None: ...


def should_stop(backend: object) -> bool:
    """Whether the runner asked ``backend`` to stop taking new requests (budget reached)."""
    check = getattr(backend, "stop_requested", None)
    return bool(check()) if callable(check) else False


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
