"""Evaluate one model on the prompts: resumable, every answer stored as it arrives.

1. Each prompt becomes one request per sample (``samples`` in ``sample`` mode,
   one in ``logprobs`` mode), keyed by :func:`value_inertia.evaluation.store.request_key`.
   Identical requests (same payload, same sample) are sent once.
2. Keys already answered in the store are skipped (an answer stored under the
   key of an older model identity, which held ``base_url``, is copied to its new
   key first); the rest go to the backend, and each result is committed to the
   store the moment it arrives.
3. With a ``budget_usd``, only as many requests are sent as the estimate
   (:mod:`value_inertia.evaluation.cost`) lets fit; the run then stops with
   :class:`BudgetReached`, keeping every answer.
4. The responses table for the current prompts is materialised from the store.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from value_inertia.core.config import ModelParams
from value_inertia.core.errors import RunFailure
from value_inertia.design.questionnaires import OPTION_LETTERS
from value_inertia.evaluation.backends.base import Backend, Request, Result, StopSending, error_kind
from value_inertia.evaluation.store import ResponseStore, request_key

log = logging.getLogger(__name__)

RESPONSE_SCHEMA = pa.schema(
    [
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("backend", pa.string(), nullable=False),
        pa.field("mode", pa.string(), nullable=False),
        pa.field("sample_index", pa.int64(), nullable=False),
        pa.field("request_key", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        *[pa.field(f"p_{letter}", pa.float64()) for letter in OPTION_LETTERS],
        pa.field("letter_mass", pa.float64()),
        pa.field("finish_reason", pa.string()),
        pa.field("tokens_in", pa.int64()),
        pa.field("tokens_out", pa.int64()),
        pa.field("latency_s", pa.float64()),
        pa.field("attempts", pa.int64()),
        pa.field("error", pa.string()),
        pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
    ]
)


@dataclass
class EvaluationSummary:
    prompts: int = 0
    requests: int = 0
    cached: int = 0
    sent: int = 0
    done: int = 0
    failed: int = 0
    retried: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s_total: float = 0.0
    elapsed_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    error_examples: dict[str, str] = field(default_factory=dict)
    migrated: int = 0  # answers found under a legacy key and copied to the current one
    not_sent: int = 0  # requests left unsent (stopped early, budget, --limit)
    stopped: str | None = None  # why the run stopped before sending everything

    @property
    def throughput(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def metrics(self) -> dict[str, float]:
        return {
            "prompts": self.prompts,
            "requests": self.requests,
            "requests_cached": self.cached,
            "requests_sent": self.sent,
            "requests_done": self.done,
            "requests_failed": self.failed,
            "retries": self.retried,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "latency_s_mean": self.latency_s_total / self.sent if self.sent else 0.0,
            "elapsed_s": self.elapsed_s,
            "throughput_rps": self.throughput,
            "requests_migrated": self.migrated,
            "requests_not_sent": self.not_sent,
        }

    def record_error(self, error: str | None) -> None:
        kind = error_kind(error)
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.error_examples.setdefault(kind, (error or "")[:200])

    def error_report(self) -> str:
        """Each error kind with its count and one example message (already redacted)."""
        parts = [
            f"{kind} x{n} (e.g. {self.error_examples.get(kind, '')!r})"
            for kind, n in sorted(self.errors.items(), key=lambda kv: -kv[1])
        ]
        return "; ".join(parts)

    def line(self) -> str:
        """One line; answered (``done``), ``failed`` and ``not sent`` are separate counts
        that add up with the stored ones: requests = already stored + done + failed + not
        sent. "Not sent" means no answer was recorded because the run stopped first (stopped
        early, budget, Ctrl-C; a request cut off in flight by Ctrl-C counts here): it is not
        a failure, and the next run sends it."""
        text = (
            f"{self.requests} requests: {self.cached} already stored, {self.sent} sent, "
            f"{self.done} done, {self.failed} failed, {self.retried} retries, "
            f"{self.not_sent} not sent, "
            f"tokens in/out {self.tokens_in}/{self.tokens_out}, "
            f"{self.elapsed_s:.1f} s ({self.throughput:.2f} req/s)"
        )
        if self.migrated:
            text += f"; {self.migrated} answers carried over from legacy keys"
        if self.errors:
            text += f"; errors: {self.error_report()}"
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text


class BudgetReached(RunFailure):
    """The next requests would cross ``budget_usd``; everything answered so far is kept."""

    def __init__(self, message: str, summary: EvaluationSummary) -> None:
        super().__init__(message)
        self.summary = summary


def payload_for(model: ModelParams, row: Any) -> dict[str, Any]:
    if model.api == "chat":
        return {"messages": [dict(m) for m in row.messages]}
    return {"prompt": row.completion_text}


Plan = tuple[list[Request], list[tuple[str, int, str]]]


def plan_requests(model: ModelParams, prompts: pd.DataFrame) -> Plan:
    """Unique requests, and (prompt_id, sample_index, key) for every prompt row."""
    identity = model.identity()
    mode = model.answer_mode
    samples = mode.draws_per_prompt(model.samples)
    unique: dict[str, Request] = {}
    rows: list[tuple[str, int, str]] = []
    for row in prompts.itertuples(index=False):
        payload = payload_for(model, row)
        prefix = int(row.prefix_chars) if model.api == "completions" else 0
        for s in range(samples):
            # every repeat and sample is its own draw (repeat 0 keeps the old keys); in
            # logprobs mode the distribution is deterministic, so repeats collapse to draw 0
            # (a prompts table without `repeat` has one repeat per prompt)
            draw = mode.draw_index(int(getattr(row, "repeat", 0)), samples, s)
            key = request_key(identity, payload, draw)
            rows.append((row.prompt_id, s, key))
            if key not in unique:
                unique[key] = Request(
                    key=key, payload=payload, sample_index=draw, prefix_chars=prefix
                )
    return list(unique.values()), rows


def migrate_legacy_answers(
    model: ModelParams, requests: list[Request], store: ResponseStore, done: set[str]
) -> int:
    """Copy answers stored under a legacy key (identity with ``base_url``) to the new key.

    Stores written before the address left the model identity keep every answer:
    a request whose key is missing is looked up under the key the old identity
    gives it, and a found answer is stored again under the new key (the old row
    stays). Returns how many were copied.
    """
    identities = model.legacy_identities()
    if not identities:
        return 0
    wanted: dict[str, str] = {}
    for r in requests:
        if r.key in done:
            continue
        for identity in identities:
            wanted[request_key(identity, r.payload, r.sample_index)] = r.key
    found = store.get_many(wanted)
    copied = 0
    for old, (status, record) in found.items():
        new = wanted[old]
        if status != "ok" or new in done:
            continue
        extra = dict(record.get("extra") or {})
        extra["legacy_key"] = old
        store.put(new, "ok", {**record, "extra": extra})
        done.add(new)
        copied += 1
    return copied


def run_evaluation(
    model: ModelParams,
    prompts: pd.DataFrame,
    store: ResponseStore,
    backend_factory: Callable[[], Backend],
    *,
    progress: bool = True,
    plan: Plan | None = None,
    budget: Any | None = None,
) -> EvaluationSummary:
    """Send every request not yet answered in ``store``; commit each result as it arrives.

    ``budget`` (a :class:`value_inertia.evaluation.cost.Budget`) caps what is sent: only the
    pending requests whose estimated cost fits are sent, sending stops if the
    recorded spend reaches the limit, and :class:`BudgetReached` says what remains.
    """
    start = time.perf_counter()
    requests, rows = plan or plan_requests(model, prompts)
    summary = EvaluationSummary(prompts=len(prompts), requests=len(requests))
    done = store.done_keys(r.key for r in requests)
    summary.migrated = migrate_legacy_answers(model, requests, store, done)
    pending = [r for r in requests if r.key not in done]
    summary.cached = len(requests) - len(pending)
    over_budget = None
    if budget is not None and pending:
        fits = budget.affordable(pending)
        if fits < len(pending):
            over_budget = budget.message(pending[fits:])
            summary.not_sent += len(pending) - fits
            summary.stopped = over_budget
            pending = pending[:fits]
    if pending:
        backend = backend_factory()
        if budget is not None:
            backend.stop_requested = budget.reached  # type: ignore[attr-defined]
        bar = tqdm(
            total=len(pending),
            desc=f"evaluate {model.name}",
            unit="req",
            disable=not progress,
            dynamic_ncols=True,
            mininterval=1.0,
        )
        seen: set[str] = set()

        def on_result(result: Result) -> None:
            store.put(result.key, result.status, {**result.record(), "timestamp": time.time()})
            seen.add(result.key)
            summary.sent += 1
            summary.retried += max(result.attempts - 1, 0)
            summary.tokens_in += result.tokens_in or 0
            summary.tokens_out += result.tokens_out or 0
            summary.latency_s_total += result.latency_s or 0.0
            if budget is not None:
                budget.add(result)
            if result.status == "ok":
                summary.done += 1
            else:
                summary.failed += 1
                summary.record_error(result.error)
            bar.update(1)
            bar.set_postfix(failed=summary.failed, refresh=False)

        try:
            backend.run(pending, on_result)
        except StopSending as stop:
            summary.stopped = stop.reason
        except KeyboardInterrupt:
            # Ctrl-C: say what was answered, what failed and what was never sent
            summary.not_sent += sum(1 for r in pending if r.key not in seen)
            summary.stopped = "Ctrl-C (SIGINT)"
            summary.elapsed_s = time.perf_counter() - start
            log.warning("%s interrupted: %s", model.name, summary.line())
            raise
        finally:
            bar.close()
            backend.close()
        unsent = [r for r in pending if r.key not in seen]
        summary.not_sent += len(unsent)
        if unsent and budget is not None and budget.reached() and over_budget is None:
            over_budget = budget.message(unsent)
            summary.stopped = over_budget
    summary.elapsed_s = time.perf_counter() - start
    if over_budget is not None:
        raise BudgetReached(f"{model.name}: {over_budget}", summary)
    return summary


def materialise_responses(
    model: ModelParams, prompts: pd.DataFrame, store: ResponseStore, plan: Plan | None = None
) -> tuple[pa.Table, dict[str, int]]:
    """The responses table for the current prompts, from the store.

    Rows whose request has no record (the run was stopped early) get status
    ``missing``. Returns the table and the count per status.
    """
    _, rows = plan or plan_requests(model, prompts)
    records = store.get_many({key for _, _, key in rows})
    out: dict[str, list[Any]] = {f.name: [] for f in RESPONSE_SCHEMA}
    counts: dict[str, int] = {}
    for prompt_id, sample_index, key in rows:
        status, rec = records.get(key, ("missing", {}))
        counts[status] = counts.get(status, 0) + 1
        probs = rec.get("probs") or [math.nan] * len(OPTION_LETTERS)
        out["prompt_id"].append(prompt_id)
        out["model"].append(model.name)
        out["backend"].append(model.backend)
        out["mode"].append(model.mode)
        out["sample_index"].append(sample_index)
        out["request_key"].append(key)
        out["status"].append(status)
        out["text"].append(rec.get("text"))
        for letter, p in zip(OPTION_LETTERS, probs, strict=True):
            out[f"p_{letter}"].append(math.nan if p is None else float(p))
        out["letter_mass"].append(rec.get("letter_mass"))
        out["finish_reason"].append(rec.get("finish_reason"))
        out["tokens_in"].append(rec.get("tokens_in"))
        out["tokens_out"].append(rec.get("tokens_out"))
        out["latency_s"].append(rec.get("latency_s"))
        out["attempts"].append(rec.get("attempts"))
        out["error"].append(rec.get("error"))
        ts = rec.get("timestamp")
        out["timestamp"].append(datetime.fromtimestamp(ts, UTC) if ts else None)
    return pa.table(out, schema=RESPONSE_SCHEMA), counts
