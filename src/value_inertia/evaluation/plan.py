"""What a run will send and cost before anything is sent; budgets; spend as recorded.

Per model, :func:`plan_model` counts the requests still to send (answers already
in the store excluded) and estimates:

- **input tokens** with the model's own tokenizer where we have it: the GGUF's
  (llama.cpp, ``vocab_only``) for embedded models, ``tiktoken`` for OpenAI model
  ids it knows. Otherwise an *estimate*: characters / 4 (``CHARS_PER_TOKEN``), or
  characters / the ratio measured on the answers already stored, marked as such.
  Chat requests add ``CHAT_OVERHEAD_TOKENS`` per message and once per request.
- **output tokens**: 1 per request in ``logprobs`` mode; in ``sample`` mode
  ``max_tokens`` as a bound, or the mean of the stored answers once there are any.
- **cost**: tokens x ``price_input_per_mtok`` / ``price_output_per_mtok`` (USD per
  million), less ``batch_discount`` with ``transport: batch``. No prices: no cost.
- **wall time**: requests / rate. Online: rate = concurrency / mean latency
  (measured on stored answers, else ``DEFAULT_LATENCY_S``), capped by
  ``requests_per_minute``. Embedded: the measured rate, else
  ``EMBEDDED_DEFAULT_RPS`` (benchmarks/README.md). Batch: the provider's window.

Spend as recorded: the tokens of every stored reply (``usage``) summed, priced the
same way, written to ``data/spend/<model>.json`` after each evaluate run.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from value_inertia.core import paths
from value_inertia.core.config import ModelParams
from value_inertia.core.paths import spend_path
from value_inertia.core.results import read_spend as read_spend_file
from value_inertia.core.table_io import read_frame, write_text_atomic
from value_inertia.design.personas import build_personas, load_schema
from value_inertia.design.prompts import build_prompts
from value_inertia.design.questionnaires import load_questionnaires
from value_inertia.evaluation.backends.base import Request, Result
from value_inertia.evaluation.backends.embedded import EmbeddedBackend, resolve_model_path
from value_inertia.evaluation.runner import plan_requests
from value_inertia.evaluation.store import ResponseStore, request_key

CHARS_PER_TOKEN = 4.0
CHAT_OVERHEAD_TOKENS = 3
DEFAULT_LATENCY_S = 1.0
EMBEDDED_DEFAULT_RPS = 4.69  # Gemma 3 270M on one idle machine (benchmarks/README.md)
BATCH_WINDOW_S = 24 * 3600.0
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


def _shared(record: dict[str, Any]) -> bool:
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
        if _shared(record):
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
        if not _shared(r) and not (r.get("extra") or {}).get("shared_request")
    ]
    counter = token_counter(model, pairs)
    if model.mode == "logprobs":
        out, source = 1.0, "1 per request (logprobs)"
    else:
        outs = [int(r["tokens_out"]) for r in stored if r.get("tokens_out")]
        if outs:
            out = sum(outs) / len(outs)
            source = f"mean of {len(outs)} stored answers (bound: max_tokens={model.max_tokens})"
        else:
            out, source = float(model.max_tokens), f"max_tokens={model.max_tokens} (a bound)"
    return Estimator(model, counter, out, source)


@dataclass
class ModelPlan:
    model: str
    backend: str
    transport: str
    mode: str
    requests_total: int
    requests_stored: int
    requests_to_send: int
    tokens_in: int
    tokens_in_source: str
    tokens_in_exact: bool
    tokens_out: int
    tokens_out_source: str
    cost_usd: float | None
    cost_note: str
    wall_s: float
    wall_source: str
    budget_usd: float | None
    recorded: dict[str, Any] | None = None
    check: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _wall(model: ModelParams, n: int, latencies: list[float]) -> tuple[float, str]:
    if model.is_batch():
        return (BATCH_WINDOW_S if n else 0.0), "batch: up to the 24 h completion window"
    mean = sum(latencies) / len(latencies) if latencies else None
    if model.backend == "embedded":
        rate = 1.0 / mean if mean else EMBEDDED_DEFAULT_RPS
        source = (
            f"measured {rate:.2f} req/s on {len(latencies)} answers"
            if mean
            else f"default {EMBEDDED_DEFAULT_RPS} req/s (benchmarks)"
        )
        return n / rate, source
    latency = mean or DEFAULT_LATENCY_S
    rate = model.concurrency / latency
    source = f"concurrency {model.concurrency} / latency {latency:.2f} s" + (
        " (measured)" if mean else " (default)"
    )
    if model.requests_per_minute and model.requests_per_minute / 60 < rate:
        rate = model.requests_per_minute / 60
        source = f"requests_per_minute={model.requests_per_minute:g}"
    return n / rate, source


def plan_model(
    model: ModelParams,
    requests: Sequence[Request],
    records: dict[str, tuple[str, dict[str, Any]]],
    recorded: dict[str, Any] | None = None,
) -> ModelPlan:
    """The plan for ``requests`` given the store's ``records`` for their keys."""
    answered = [r for r in requests if records.get(r.key, ("", {}))[0] == "ok"]
    pending = [r for r in requests if records.get(r.key, ("", {}))[0] != "ok"]
    stored = [records[r.key][1] for r in answered]
    est = estimator(model, stored, [payload_chars(r.payload) for r in answered])
    tokens_in = sum(est.counter.count_all(pending))
    tokens_out = round(est.out_per_request * len(pending))
    cost = cost_usd(model, tokens_in, tokens_out, model.is_batch())
    if model.backend == "embedded":
        note = "local model: no cost"
    elif cost is None:
        note = "no prices in params (price_input_per_mtok, price_output_per_mtok)"
    else:
        note = f"batch discount {model.batch_discount:.0%}" if model.is_batch() else "online prices"
    latencies = [float(s["latency_s"]) for s in stored if s.get("latency_s")]
    wall, wall_source = _wall(model, len(pending), latencies)
    # the estimate as it stood before any answer (no calibration) against what the
    # stored replies say: the estimate's error
    check: dict[str, Any] = {}
    with_usage = [
        (r, s)
        for r, s in zip(answered, stored, strict=True)
        if s.get("tokens_in")
        and not _shared(s)
        and not (s.get("extra") or {}).get("shared_request")
    ]
    if with_usage:
        prior = est.counter if est.counter.exact else token_counter(model, ())
        prior_out = 1.0 if model.mode == "logprobs" else float(model.max_tokens)
        est_in = sum(prior.count_all([r for r, _ in with_usage]))
        rec_in = sum(int(s["tokens_in"]) for _, s in with_usage)
        rec_out = sum(int(s.get("tokens_out") or 0) for _, s in with_usage)
        est_cost = cost_usd(model, est_in, prior_out * len(with_usage), model.is_batch())
        rec_cost = spend_from_records(model, (s for _, s in with_usage)).cost_usd
        check = {
            "requests": len(with_usage),
            "tokens_in_source": prior.source,
            "tokens_in_estimated": est_in,
            "tokens_in_recorded": rec_in,
            "tokens_in_error": (est_in - rec_in) / rec_in,
            "tokens_out_estimated": round(prior_out * len(with_usage)),
            "tokens_out_recorded": rec_out,
            "cost_usd_estimated": None if est_cost is None else round(est_cost, 6),
            "cost_usd_recorded": rec_cost,
            "cost_error": (est_cost - rec_cost) / rec_cost
            if est_cost is not None and rec_cost
            else None,
        }
    return ModelPlan(
        model=model.name,
        backend=model.backend,
        transport=model.transport,
        mode=model.mode,
        requests_total=len(requests),
        requests_stored=len(answered),
        requests_to_send=len(pending),
        tokens_in=tokens_in,
        tokens_in_source=est.counter.source,
        tokens_in_exact=est.counter.exact,
        tokens_out=tokens_out,
        tokens_out_source=est.out_source,
        cost_usd=None if cost is None else round(cost, 6),
        cost_note=note,
        wall_s=wall,
        wall_source=wall_source,
        budget_usd=model.budget_usd,
        recorded=recorded,
        check=check,
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render_table(plans: Sequence[ModelPlan]) -> str:
    """The plan for people: one block per model."""
    lines = []
    for p in plans:
        mark = "" if p.tokens_in_exact else " (estimate)"
        cost = "n/a" if p.cost_usd is None else f"${p.cost_usd:,.4f}"
        lines.append(f"{p.model} ({p.backend}, {p.transport}, {p.mode})")
        lines.append(
            f"  requests   {p.requests_to_send:,} to send of {p.requests_total:,} "
            f"({p.requests_stored:,} stored)"
        )
        lines.append(f"  tokens in  {p.tokens_in:,}{mark}  [{p.tokens_in_source}]")
        lines.append(f"  tokens out {p.tokens_out:,}  [{p.tokens_out_source}]")
        lines.append(f"  cost       {cost}  [{p.cost_note}]")
        if p.budget_usd is not None:
            lines.append(f"  budget     ${p.budget_usd:,.2f}")
        lines.append(f"  time       {_duration(p.wall_s)}  [{p.wall_source}]")
        if p.recorded:
            rc = p.recorded.get("cost_usd")
            rc_text = "n/a" if rc is None else f"${rc:,.4f}"
            lines.append(
                f"  spent      {rc_text}, tokens in/out {p.recorded.get('tokens_in', 0):,}/"
                f"{p.recorded.get('tokens_out', 0):,} over {p.recorded.get('requests', 0):,} "
                "requests (recorded)"
            )
        if p.check and p.check.get("tokens_in_error") is not None:
            lines.append(
                f"  check      estimate {p.check['tokens_in_estimated']:,} vs recorded "
                f"{p.check['tokens_in_recorded']:,} input tokens on {p.check['requests']:,} "
                f"answered requests: error {p.check['tokens_in_error']:+.1%}"
                + (
                    f"; cost error {p.check['cost_error']:+.1%}"
                    if p.check.get("cost_error") is not None
                    else ""
                )
            )
    return "\n".join(lines)


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


# -- the command -------------------------------------------------------------------------
def prompts_frame(params: Any, root: Path) -> Any:
    """The prompts a run would send: ``data/prompts/prompts.parquet`` if it exists, else
    built in memory from params exactly as the prompts stage would (nothing is written)."""
    path = paths.prompts_path(root)
    if path.exists():
        return read_frame(path, "prompts")

    schema = load_schema(root / params.personas.schema_path)
    personas = build_personas(schema, params.personas.n, params.personas.seeds).to_pandas()
    questionnaires = load_questionnaires(params.prompts.questionnaires, root)
    return build_prompts(params.prompts, questionnaires, personas).to_pandas()


def _legacy_answers(
    model: ModelParams,
    requests: Sequence[Request],
    records: dict[str, tuple[str, dict[str, Any]]],
    store: Any,
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Answers under a legacy key that evaluate would carry over (see evaluation.py)."""
    wanted: dict[str, str] = {}
    for r in requests:
        if records.get(r.key, ("", {}))[0] != "ok":
            for identity in model.legacy_identities():
                wanted[request_key(identity, r.payload, r.sample_index)] = r.key
    if not wanted:
        return {}
    found = store.get_many(wanted)
    return {wanted[old]: rec for old, rec in found.items() if rec[0] == "ok"}


def build_plans(params: Any, root: Path, names: Sequence[str] | None = None) -> list[ModelPlan]:
    """The plan of each model (all of params `models`, or ``names``)."""
    models = [params.model(n) for n in names] if names else list(params.models)
    prompts = prompts_frame(params, root)
    plans = []
    for model in models:
        requests, _ = plan_requests(model, prompts)
        records: dict[str, tuple[str, dict[str, Any]]] = {}
        store_file = paths.store_path(model.name, root)
        if store_file.exists():
            # read without taking the lock: planning beside a running evaluation is fine
            with ResponseStore(store_file, lock=False) as store:
                records = store.get_many(r.key for r in requests)
                records.update(_legacy_answers(model, requests, records, store))
        plans.append(plan_model(model, requests, records, read_spend(model.name, root)))
    return plans
