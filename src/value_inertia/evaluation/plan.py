"""What a run will send, cost and take, before anything is sent.

The plan of a model is built from params exactly as the run would build it: the
personas and prompts from params in memory (the functions of the ``personas`` and
``prompts`` stages; a ``prompts.parquet`` on disk is never read, it may be stale),
the model's own prompt variants (:func:`value_inertia.design.prompts.select_variants`,
as ``evaluate`` does) and :func:`value_inertia.evaluation.runner.plan_requests` (modes,
repeats, samples). So ``requests_total`` is what ``evaluate`` will send on a fresh
store, and ``requests_to_send`` what it sends given the store (answers already
stored excluded).

Tokens and cost per request: :mod:`value_inertia.evaluation.cost`. Output tokens
and wall time come from what the store has measured for the model (every stored
answer of that model, not only those of this plan):

- **output tokens**: 1 per request in ``logprobs`` mode; in ``sample`` mode the
  mean of the model's stored answers, else ``max_tokens`` as a bound, said so.
- **wall time**: requests / rate. Online: rate = concurrency / mean latency
  (measured, else ``DEFAULT_LATENCY_S``), capped by ``requests_per_minute``.
  Embedded: 1 / the measured mean latency; with no measurement, logprobs mode uses
  ``EMBEDDED_DEFAULT_RPS`` (benchmarks/README.md), and sample mode has no estimate
  (its time depends on how long the model writes): the plan says so. Batch: the
  provider's window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from value_inertia.core import paths
from value_inertia.core.config import ModelParams, Params
from value_inertia.design.personas import build_personas, load_schema
from value_inertia.design.prompts import build_prompts, select_variants
from value_inertia.design.questionnaires import load_questionnaires
from value_inertia.evaluation.backends.base import Request
from value_inertia.evaluation.cost import (
    cost_usd,
    estimator,
    payload_chars,
    read_spend,
    shared_answer,
    spend_from_records,
    token_counter,
)
from value_inertia.evaluation.runner import plan_requests
from value_inertia.evaluation.store import ResponseStore, request_key

DEFAULT_LATENCY_S = 1.0
EMBEDDED_DEFAULT_RPS = 4.69  # Gemma 3 270M, logprobs, one idle machine (benchmarks/README.md)
BATCH_WINDOW_S = 24 * 3600.0


@dataclass
class Measured:
    """What the store has measured for one model: latency and output tokens per answer."""

    latencies: list[float] = field(default_factory=list)
    tokens_out: list[int] = field(default_factory=list)

    @classmethod
    def from_records(cls, records: Sequence[dict[str, Any]]) -> Measured:
        own = [r for r in records if not shared_answer(r)]
        return cls(
            latencies=[float(r["latency_s"]) for r in own if r.get("latency_s")],
            tokens_out=[int(r["tokens_out"]) for r in own if r.get("tokens_out")],
        )


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
    wall_s: float | None  # None: no measurement to estimate from (sample mode, embedded)
    wall_source: str
    budget_usd: float | None
    variants: list[str] = field(default_factory=list)
    recorded: dict[str, Any] | None = None
    check: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _wall(model: ModelParams, n: int, latencies: list[float]) -> tuple[float | None, str]:
    if model.is_batch():
        return (BATCH_WINDOW_S if n else 0.0), "batch: up to the 24 h completion window"
    mean = sum(latencies) / len(latencies) if latencies else None
    measured = f"measured on {len(latencies)} stored answers of this model"
    if model.backend == "embedded":
        if mean:
            return n * mean, f"{1.0 / mean:.2f} req/s {measured}"
        if model.answer_mode.fixed_tokens_out is None:  # time: how much the model writes
            return None, (
                "no measurement for this model: sample-mode time depends on how much it "
                f"writes; `value-inertia evaluate -m {model.name} --limit 5` measures it"
            )
        return n / EMBEDDED_DEFAULT_RPS, (
            f"no measurement for this model: {EMBEDDED_DEFAULT_RPS} req/s, Gemma 3 270M in "
            "logprobs mode on an idle machine (benchmarks)"
        )
    latency = mean or DEFAULT_LATENCY_S
    rate = model.concurrency / latency
    source = f"concurrency {model.concurrency} / latency {latency:.2f} s" + (
        f" ({measured})" if mean else " (default: no measurement for this model)"
    )
    if model.requests_per_minute and model.requests_per_minute / 60 < rate:
        rate = model.requests_per_minute / 60
        source = f"requests_per_minute={model.requests_per_minute:g}"
    return n / rate, source


def _check(model: ModelParams, est: Any, answered: list[Request], stored: list[dict]) -> dict:
    """The estimate as it stood before any answer (no calibration) against what the
    stored replies say: the estimate's error."""
    with_usage = [
        (r, s)
        for r, s in zip(answered, stored, strict=True)
        if s.get("tokens_in")
        and not shared_answer(s)
        and not (s.get("extra") or {}).get("shared_request")
    ]
    if not with_usage:
        return {}
    prior = est.counter if est.counter.exact else token_counter(model, ())
    prior_out = model.answer_mode.tokens_out_prior(model.max_tokens)
    est_in = sum(prior.count_all([r for r, _ in with_usage]))
    rec_in = sum(int(s["tokens_in"]) for _, s in with_usage)
    rec_out = sum(int(s.get("tokens_out") or 0) for _, s in with_usage)
    est_cost = cost_usd(model, est_in, prior_out * len(with_usage), model.is_batch())
    rec_cost = spend_from_records(model, (s for _, s in with_usage)).cost_usd
    return {
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


def plan_model(
    model: ModelParams,
    requests: Sequence[Request],
    records: dict[str, tuple[str, dict[str, Any]]],
    recorded: dict[str, Any] | None = None,
    measured: Measured | None = None,
    variants: Sequence[str] = (),
) -> ModelPlan:
    """The plan for ``requests`` given the store's ``records`` for their keys and what
    the store has ``measured`` for the model (default: this plan's answers only)."""
    answered = [r for r in requests if records.get(r.key, ("", {}))[0] == "ok"]
    pending = [r for r in requests if records.get(r.key, ("", {}))[0] != "ok"]
    stored = [records[r.key][1] for r in answered]
    measured = measured or Measured.from_records(stored)
    est = estimator(model, stored, [payload_chars(r.payload) for r in answered])
    out_per_request, out_source = est.out_per_request, est.out_source
    if model.answer_mode.fixed_tokens_out is None:
        if measured.tokens_out:
            out_per_request = sum(measured.tokens_out) / len(measured.tokens_out)
            out_source = (
                f"mean of {len(measured.tokens_out)} stored answers of this model "
                f"(bound: max_tokens={model.max_tokens})"
            )
        else:
            out_source = f"no measurement for this model: max_tokens={model.max_tokens} (a bound)"
    tokens_in = sum(est.counter.count_all(pending))
    tokens_out = round(out_per_request * len(pending))
    cost = cost_usd(model, tokens_in, tokens_out, model.is_batch())
    if model.backend == "embedded":
        note = "local model: no cost"
    elif cost is None:
        note = "no prices in params (price_input_per_mtok, price_output_per_mtok)"
    else:
        note = f"batch discount {model.batch_discount:.0%}" if model.is_batch() else "online prices"
    wall, wall_source = _wall(model, len(pending), measured.latencies)
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
        tokens_out_source=out_source,
        cost_usd=None if cost is None else round(cost, 6),
        cost_note=note,
        wall_s=wall,
        wall_source=wall_source,
        budget_usd=model.budget_usd,
        variants=list(variants),
        recorded=recorded,
        check=_check(model, est, answered, stored),
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render_table(plans: Sequence[ModelPlan]) -> str:
    """The plan for people: one block per model, then the total."""
    lines = []
    for p in plans:
        mark = "" if p.tokens_in_exact else " (estimate)"
        cost = "n/a" if p.cost_usd is None else f"${p.cost_usd:,.4f}"
        variants = f", variants {', '.join(p.variants)}" if p.variants else ""
        lines.append(f"{p.model} ({p.backend}, {p.transport}, {p.mode}{variants})")
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
    if len(plans) > 1:
        unknown = [p.model for p in plans if p.wall_s is None]
        total = sum(p.wall_s or 0.0 for p in plans)
        lines.append(
            f"total: {sum(p.requests_to_send for p in plans):,} requests to send, time "
            f"{_duration(total)}" + (f" + unknown for {', '.join(unknown)}" if unknown else "")
        )
    return "\n".join(lines)


# -- the command -------------------------------------------------------------------------
def prompts_frame(params: Params, root: Path) -> Any:
    """The prompts a run with ``params`` would send, built in memory exactly as the
    ``personas`` and ``prompts`` stages build them (nothing is read from or written to
    ``data/``: a prompts table on disk may have been built from other params)."""

    schema = load_schema(root / params.personas.schema_path)
    personas = build_personas(schema, params.personas.n, params.personas.seeds).to_pandas()
    questionnaires = load_questionnaires(params.prompts.questionnaires, root)
    return build_prompts(params.prompts, questionnaires, personas).to_pandas()


def planned_requests(params: Params, model: ModelParams, prompts: Any) -> list[Request]:
    """The unique requests ``evaluate`` sends for ``model`` on a fresh store: its own
    prompt variants of ``prompts``, through the runner's plan (modes, repeats, samples)."""
    requests, _ = plan_requests(model, select_variants(prompts, params.variants_for(model)))
    return requests


def _legacy_answers(
    model: ModelParams,
    requests: Sequence[Request],
    records: dict[str, tuple[str, dict[str, Any]]],
    store: Any,
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Answers under a legacy key that evaluate would carry over (see runner.py)."""
    wanted: dict[str, str] = {}
    for r in requests:
        if records.get(r.key, ("", {}))[0] != "ok":
            for identity in model.legacy_identities():
                wanted[request_key(identity, r.payload, r.sample_index)] = r.key
    if not wanted:
        return {}
    found = store.get_many(wanted)
    return {wanted[old]: rec for old, rec in found.items() if rec[0] == "ok"}


def build_plans(params: Params, root: Path, names: Sequence[str] | None = None) -> list[ModelPlan]:
    """The plan of each model (all of params `models`, or ``names``)."""
    models = [params.model(n) for n in names] if names else list(params.models)
    prompts = prompts_frame(params, root)
    plans = []
    for model in models:
        requests = planned_requests(params, model, prompts)
        records: dict[str, tuple[str, dict[str, Any]]] = {}
        measured = Measured()
        store_file = paths.store_path(model.name, root)
        if store_file.exists():
            # read without taking the lock: planning beside a running evaluation is fine
            with ResponseStore(store_file, lock=False) as store:
                records = store.get_many(r.key for r in requests)
                records.update(_legacy_answers(model, requests, records, store))
                measured = Measured.from_records(
                    [rec for _, status, rec in store.iter_records() if status == "ok"]
                )
        plans.append(
            plan_model(
                model,
                requests,
                records,
                read_spend(model.name, root),
                measured,
                params.variants_for(model),
            )
        )
    return plans
