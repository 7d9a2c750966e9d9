"""Tokens, prices, spend and budgets of one model's requests.

- **input tokens** with the model's own tokenizer where we have it: the GGUF's
  (llama.cpp, ``vocab_only``) for embedded models, ``tiktoken`` for OpenAI model
  ids it knows. Otherwise an *estimate*: characters / 4 (``CHARS_PER_TOKEN``), or
  characters / the ratio measured on the answers already stored, marked as such.
  Chat requests add ``CHAT_OVERHEAD_TOKENS`` per message and once per request.
- **output tokens**: 1 per request in ``logprobs`` mode; in ``sample`` mode
  ``max_tokens`` as a bound, or the mean of the stored answers once there are any.
- **cost**: tokens x ``price_input_per_mtok`` / ``price_output_per_mtok`` (USD per
  million), less ``batch_discount`` with ``transport: batch``. No prices: no cost.

Spend as recorded: the tokens of every stored reply (``usage``) summed, priced the
same way, written to ``data/spend/<model>.json`` after each evaluate run. A
model's ``budget_usd`` during a run is a :class:`Budget`. What a whole run will
send, cost and take is :mod:`value_inertia.evaluation.plan`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from value_inertia.core.config import ModelParams
from value_inertia.core.paths import spend_path
from value_inertia.core.results import read_spend as read_spend_file
from value_inertia.core.table_io import write_text_atomic
from value_inertia.evaluation.backends.base import Request, Result
from value_inertia.evaluation.backends.embedded import EmbeddedBackend, resolve_model_path

CHARS_PER_TOKEN = 4.0
CHAT_OVERHEAD_TOKENS = 3
SPLIT_CHECK = 64


# -- tokens ------------------------------------------------------------------------
def payload_chars(payload: dict[str, Any]) -> int:
    if "prompt" in payload:
        return len(str(payload["prompt"]))
    return sum(len(str(m.get("content") or "")) for m in payload.get("messages", []))


def _chat_overhead(payload: dict[str, Any]) -> int:
    if "messages" not in payload:
        return 0
    return CHAT_OVERHEAD_TOKENS * (len(payload["messages"]) + 1)


class TokenCounter:
    """Input tokens of one request payload. ``source`` says how; ``exact`` whether counted."""

    source = "estimate: characters / 4"
    exact = False

    def __init__(self, chars_per_token: float = CHARS_PER_TOKEN) -> None:
        self.chars_per_token = chars_per_token

    def count(self, payload: dict[str, Any]) -> int:
        return max(1, round(payload_chars(payload) / self.chars_per_token)) + _chat_overhead(
            payload
        )

    def count_all(self, requests: Sequence[Request]) -> list[int]:
        return [self.count(r.payload) for r in requests]


class CalibratedCounter(TokenCounter):
    def __init__(self, chars_per_token: float, n: int) -> None:
        super().__init__(chars_per_token)
        self.source = f"estimate: characters / {chars_per_token:.2f} (measured on {n} answers)"


class TiktokenCounter(TokenCounter):
    exact = True

    def __init__(self, encoding: Any) -> None:
        super().__init__()
        self.encoding = encoding
        self.source = f"tiktoken ({encoding.name})"

    def count(self, payload: dict[str, Any]) -> int:
        if "prompt" in payload:
            return len(self.encoding.encode(str(payload["prompt"]), disallowed_special=()))
        n = sum(
            len(self.encoding.encode(str(m.get("content") or ""), disallowed_special=()))
            for m in payload.get("messages", [])
        )
        return n + _chat_overhead(payload)


class GGUFCounter(TokenCounter):
    """The embedded model's own tokenizer (vocabulary only: no weights are loaded)."""

    exact = True

    def __init__(self, model: ModelParams) -> None:
        super().__init__()
        from llama_cpp import Llama

        path = resolve_model_path(model.model)
        with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
            self.llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
        self.model = model
        self.source = f"GGUF tokenizer ({path.name})"
        # what EmbeddedBackend.prompt_text and split_tokens read for chat prompts
        self._formatter = None
        self._chat_bos = self.llm.metadata.get("tokenizer.ggml.add_bos_token", "true") != "false"

    def _tokens(self, text: str, bos: bool, special: bool = False) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=bos, special=special))

    def count(self, payload: dict[str, Any]) -> int:
        if "prompt" in payload:
            return self._tokens(str(payload["prompt"]), True)
        # the chat template the backend applies, tokenized as the backend does: the
        # template's special tokens read as such, a BOS only where the GGUF asks for one
        text = EmbeddedBackend.prompt_text(self, Request(key="", payload=payload))  # type: ignore[arg-type]
        return self._tokens(text, self._chat_bos, special=True)

    def count_all(self, requests: Sequence[Request]) -> list[int]:
        """Counts of many requests, exact, fast: a persona's shared prefix (``prefix_chars``)
        and each question part are tokenized once each when the tokenizer is checked to
        split cleanly there (on the first ``SPLIT_CHECK`` prompts); else every prompt whole."""
        split = [r for r in requests if "prompt" in r.payload and r.prefix_chars > 0]
        clean = bool(split) and all(
            self._split_count(r) == self.count(r.payload) for r in split[:SPLIT_CHECK]
        )
        return [
            self._split_count(r)
            if clean and "prompt" in r.payload and r.prefix_chars > 0
            else self.count(r.payload)
            for r in requests
        ]

    def _split_count(self, request: Request) -> int:
        text = str(request.payload["prompt"])
        head, tail = text[: request.prefix_chars], text[request.prefix_chars :]
        cache = self.__dict__.setdefault("_cache", {})
        if (head, True) not in cache:
            cache[(head, True)] = self._tokens(head, True)
        if (tail, False) not in cache:
            cache[(tail, False)] = self._tokens(tail, False)
        return cache[(head, True)] + cache[(tail, False)]


def token_counter(model: ModelParams, stored: Sequence[tuple[int, int]] = ()) -> TokenCounter:
    """The best counter for ``model``; ``stored`` = (chars, tokens_in) of stored answers."""
    if model.backend == "embedded":
        try:
            return GGUFCounter(model)
        except Exception:  # no GGUF here: fall back to an estimate
            pass
    else:
        try:
            import tiktoken

            return TiktokenCounter(tiktoken.encoding_for_model(model.model))
        except Exception:  # not installed, unknown id, or no encoding files offline
            pass
    pairs = [(c, t) for c, t in stored if t and t > 0]
    if pairs:
        chars, tokens = sum(c for c, _ in pairs), sum(t for _, t in pairs)
        if chars > 0 and tokens > 0:
            return CalibratedCounter(chars / tokens, len(pairs))
    return TokenCounter()


# -- prices ------------------------------------------------------------------------
def priced(model: ModelParams) -> bool:
    if model.backend == "embedded":
        return True  # runs locally: nothing to pay
    return model.price_input_per_mtok is not None and model.price_output_per_mtok is not None


def cost_usd(model: ModelParams, tokens_in: float, tokens_out: float, batch: bool) -> float | None:
    if model.backend == "embedded":
        return 0.0
    if not priced(model):
        return None
    cost = (
        tokens_in * (model.price_input_per_mtok or 0.0)
        + tokens_out * (model.price_output_per_mtok or 0.0)
    ) / 1e6
    return cost * (1.0 - model.batch_discount) if batch else cost


def shared_answer(record: dict[str, Any]) -> bool:
    extra = record.get("extra") or {}
    return bool(extra.get("legacy_key"))  # a copy of an answer paid for under another key


def _record_batch(record: dict[str, Any]) -> bool:
    return (record.get("extra") or {}).get("transport") == "batch"


# -- spend ---------------------------------------------------------------------------
@dataclass
class Spend:
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def spend_from_records(model: ModelParams, records: Iterable[dict[str, Any]]) -> Spend:
    """What the stored replies say was used: usage summed, priced (batch lines discounted)."""
    spend = Spend(model=model.name)
    cost: float | None = 0.0
    for record in records:
        if shared_answer(record):
            continue
        t_in, t_out = int(record.get("tokens_in") or 0), int(record.get("tokens_out") or 0)
        if not (t_in or t_out):
            continue
        spend.requests += 1
        spend.tokens_in += t_in
        spend.tokens_out += t_out
        c = cost_usd(model, t_in, t_out, _record_batch(record))
        cost = None if c is None or cost is None else cost + c
    spend.cost_usd = None if cost is None else round(cost, 6)
    return spend


def write_spend(spend: Spend, root: Path) -> Path:
    path = spend_path(spend.model, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(json.dumps(spend.to_dict(), indent=2) + "\n", path)
    return path


def read_spend(model: str, root: Path) -> dict[str, Any] | None:
    """The model's recorded spend; None before its first evaluate run. A damaged file
    is an :class:`~value_inertia.core.errors.InputError` (as for the leaderboard)."""
    path = spend_path(model, root)
    return read_spend_file(path) if path.exists() else None


# -- the estimate ------------------------------------------------------------------
@dataclass
class Estimator:
    """Per-request estimates for one model (tokens in/out, cost)."""

    model: ModelParams
    counter: TokenCounter
    out_per_request: float
    out_source: str

    def tokens_in(self, request: Request) -> int:
        return self.counter.count(request.payload)

    def cost(self, request: Request) -> float:
        c = cost_usd(
            self.model, self.tokens_in(request), self.out_per_request, self.model.is_batch()
        )
        return c or 0.0


def estimator(
    model: ModelParams, stored: Sequence[dict[str, Any]], chars: Sequence[int]
) -> Estimator:
    """``stored`` = records of this run's requests already answered; ``chars`` their sizes."""
    pairs = [
        (c, int(r.get("tokens_in") or 0))
        for c, r in zip(chars, stored, strict=True)
        if not shared_answer(r) and not (r.get("extra") or {}).get("shared_request")
    ]
    counter = token_counter(model, pairs)
    mode = model.answer_mode
    if mode.fixed_tokens_out is not None:
        out = float(mode.fixed_tokens_out)
        source = f"{mode.fixed_tokens_out} per request ({mode.name})"
    else:
        outs = [int(r["tokens_out"]) for r in stored if r.get("tokens_out")]
        if outs:
            out = sum(outs) / len(outs)
            source = f"mean of {len(outs)} stored answers (bound: max_tokens={model.max_tokens})"
        else:
            out, source = float(model.max_tokens), f"max_tokens={model.max_tokens} (a bound)"
    return Estimator(model, counter, out, source)


# -- the budget ------------------------------------------------------------------------
class Budget:
    """A model's ``budget_usd`` during a run: what fits, what was spent, when to stop."""

    def __init__(self, model: ModelParams, estimate: Estimator, spent_usd: float) -> None:
        assert model.budget_usd is not None
        self.model = model
        self.limit = model.budget_usd
        self.estimate = estimate
        self.spent = spent_usd

    def affordable(self, pending: Sequence[Request]) -> int:
        """How many of ``pending``, in order, fit under the limit by the estimate."""
        total = self.spent
        for i, r in enumerate(pending):
            total += self.estimate.cost(r)
            if total > self.limit:
                return i
        return len(pending)

    def add(self, result: Result) -> None:
        c = cost_usd(
            self.model, result.tokens_in or 0, result.tokens_out or 0, self.model.is_batch()
        )
        self.spent += c or 0.0

    def reached(self) -> bool:
        return self.spent >= self.limit

    def message(self, remaining: Sequence[Request]) -> str:
        more = sum(self.estimate.cost(r) for r in remaining)
        need = self.spent + more
        return (
            f"budget reached: budget_usd=${self.limit:,.4f}, spent ${self.spent:,.4f}; "
            f"{len(remaining):,} requests remain, estimated ${more:,.4f} more; every answer "
            f"so far is kept. Raise models[{self.model.name}].budget_usd to at least "
            f"${need:,.4f} and run again to continue"
        )
