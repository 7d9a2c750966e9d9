"""Does batched generation across sequences pay for the sample-mode model?

Measures, for ``smollm2-135m-sample`` in params.yaml (SmolLM2-135M-Instruct
through its chat template, temperature 1.0, max_tokens 256), the cost per
generated token and per prompt of:

* path ``A``: today's embedded sample path, :meth:`EmbeddedBackend.run`, one
  prompt at a time through llama-cpp-python's ``create_completion`` with the
  per-request seed. ``Llama.eval`` and ``Llama.sample`` are wrapped with timers,
  so the prompt evaluation (evals of more than one token), the single-token
  decode steps and the sampling are reported apart from the Python overhead.
* path ``B<N>``: a low-level llama.cpp loop with ``N`` sequences in one
  context (``n_seq_max = N``): each prompt is evaluated into its own sequence
  (reusing the KV cache of the longest common token prefix held by any slot,
  as ``create_completion`` reuses the previous prompt's), then every step
  decodes one token per live sequence in a single ``llama_decode``; each
  sequence has its own sampler chain built exactly as ``create_completion``
  builds it (penalties at 1.0, top-k 40, typical 1.0, top-p 0.95, min-p 0.05,
  temperature, dist(seed)) with the same per-request seed. A finished slot is
  refilled with the next prompt at once (continuous batching). It stops at EOG
  or max_tokens; the backend passes no stop strings.
* ``step``: the key number, the wall and CPU time of one ``llama_decode`` of
  ``w`` single tokens (one per sequence, each with logits) for w = 1, 2, 4, ...
  with every sequence holding a real persona prompt in its KV cache.

The prompts are the default run's: personas, prompts, variants and requests
are built with the project's own functions (as bench_default_models.py does,
but with params.yaml's persona count and seeds) and rendered by
``EmbeddedBackend.prompt_text``, so the text is exactly what the pipeline
sends. ``--prompts K`` takes the first K requests of the persona condition in
the run's order. Each path's texts are recorded per request key, so the
summary also reports how many draws of B are identical to A's.

The machine has 2 shared cores: run every timed invocation under
``flock /tmp/cpu.lock`` and interleave the paths, e.g.::

    for p in A B8 B4 A B8 B1 step; do
      flock /tmp/cpu.lock .venv/bin/python benchmarks/bench_batched_sampling.py \\
          --paths $p --prompts 24 --json /tmp/batched.jsonl
    done
    .venv/bin/python benchmarks/bench_batched_sampling.py --summarize /tmp/batched.jsonl

Model load and context creation are outside every timed region.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import llama_cpp  # noqa: E402

from value_inertia.core.config import load_params  # noqa: E402
from value_inertia.design.personas import build_personas, load_schema  # noqa: E402
from value_inertia.design.prompts import build_prompts, select_variants  # noqa: E402
from value_inertia.design.questionnaires import load_questionnaires  # noqa: E402
from value_inertia.evaluation.backends.base import Request, Result  # noqa: E402
from value_inertia.evaluation.backends.embedded import EmbeddedBackend  # noqa: E402
from value_inertia.evaluation.runner import plan_requests  # noqa: E402

MODEL_NAME = "smollm2-135m-sample"
# create_completion's defaults (llama-cpp-python 0.3.x): the chain that path A samples with
TOKENS_PER_ANSWER = 39  # mean tokens_out of the sample model (default_models_results.jsonl)
TOP_K, TYPICAL_P, TOP_P, MIN_P, PENALTY_LAST_N = 40, 1.0, 0.95, 0.05, 64


def default_requests(k: int, condition: str) -> tuple[Any, list[Request]]:
    """The sample model and the first ``k`` of its default-run requests of ``condition``."""
    params = load_params(ROOT / "params.yaml")
    model = params.model(MODEL_NAME)
    schema = load_schema(ROOT / params.personas.schema_path)
    personas = build_personas(schema, params.personas.n, params.personas.seeds).to_pandas()
    qs = load_questionnaires(params.prompts.questionnaires, ROOT)
    table = build_prompts(params.prompts, qs, personas).to_pandas()
    rows = select_variants(table, params.variants_for(model))
    if condition != "all":
        rows = rows[rows.condition == condition]
    requests, _ = plan_requests(model, rows)
    return model, requests[:k]


def prompt_tokens(backend: EmbeddedBackend, text: str) -> list[int]:
    """The tokens create_completion evaluates for ``text`` (BOS if the model asks, specials)."""
    llm = backend.llm
    bos = [llm.token_bos()] if llm._model.add_bos_token() else []
    return bos + llm.tokenize(text.encode(), add_bos=False, special=True)


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


# -- path A: today's backend ---------------------------------------------------------------
def run_a(backend: EmbeddedBackend, requests: list[Request]) -> dict[str, Any]:
    llm = backend.llm
    acc = {"prompt_s": 0.0, "prompt_tokens": 0, "step_s": 0.0, "steps": 0, "sample_s": 0.0}
    orig_eval, orig_sample = llm.eval, llm.sample

    def timed_eval(tokens: Any) -> None:
        t = time.perf_counter()
        orig_eval(tokens)
        dt = time.perf_counter() - t
        if len(tokens) == 1:
            acc["step_s"] += dt
            acc["steps"] += 1
        else:
            acc["prompt_s"] += dt
            acc["prompt_tokens"] += len(tokens)

    def timed_sample(*a: Any, **kw: Any) -> int:
        t = time.perf_counter()
        tok = orig_sample(*a, **kw)
        acc["sample_s"] += time.perf_counter() - t
        return tok

    llm.eval, llm.sample = timed_eval, timed_sample
    results: list[Result] = []
    w0, c0 = clock()
    try:
        backend.run(requests, results.append)
    finally:
        w1, c1 = clock()
        del llm.eval, llm.sample
    failed = [r.error for r in results if r.status != "ok"]
    if failed:
        raise RuntimeError(f"path A: {len(failed)} failed: {failed[0]}")
    return {
        "wall_s": w1 - w0,
        "cpu_s": c1 - c0,
        "tokens_out": sum(r.tokens_out or 0 for r in results),
        "mean_live": 1.0,
        **acc,
        "texts": {r.key: r.text for r in results},
    }


# -- path B: batched low-level loop --------------------------------------------------------
class Batch:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.b = llama_cpp.llama_batch_init(capacity, 0, 1)

    def fill(self, items: list[tuple[int, int, int, bool]]) -> None:
        """items: (token, pos, seq_id, logits)."""
        b = self.b
        for i, (tok, pos, seq, logits) in enumerate(items):
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = logits
        b.n_tokens = len(items)

    def free(self) -> None:
        llama_cpp.llama_batch_free(self.b)


def new_context(backend: EmbeddedBackend, n_seq: int, per_seq_ctx: int, unified: bool) -> Any:
    params = llama_cpp.llama_context_params.from_buffer_copy(backend.llm.context_params)
    params.n_ctx = n_seq * per_seq_ctx
    params.n_seq_max = n_seq
    params.kv_unified = unified
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        ctx = llama_cpp.llama_init_from_model(backend.llm.model, params)
    if not ctx:
        raise RuntimeError("llama_init_from_model failed")
    return ctx


def new_sampler(seed: int, temperature: float) -> Any:
    """The chain Llama._init_sampler builds for create_completion at temperature > 0."""
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    add = llama_cpp.llama_sampler_chain_add
    n_vocab = 0  # unused by llama_sampler_init_penalties in this llama.cpp
    add(chain, llama_cpp.llama_sampler_init_penalties(n_vocab, PENALTY_LAST_N, 1.0, 0.0, 0.0))
    add(chain, llama_cpp.llama_sampler_init_top_k(TOP_K))
    add(chain, llama_cpp.llama_sampler_init_typical(TYPICAL_P, 1))
    add(chain, llama_cpp.llama_sampler_init_top_p(TOP_P, 1))
    add(chain, llama_cpp.llama_sampler_init_min_p(MIN_P, 1))
    add(chain, llama_cpp.llama_sampler_init_temp(temperature))
    add(chain, llama_cpp.llama_sampler_init_dist(seed))
    return chain


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Slot:
    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.cached: list[int] = []  # prompt tokens whose KV the sequence holds from pos 0
        self.key = ""
        self.sampler: Any = None
        self.out: list[int] = []
        self.pending = -1  # sampled token still to decode
        self.pos = 0
        self.live = False


def run_b(
    backend: EmbeddedBackend, requests: list[Request], n_seq: int, unified: bool
) -> dict[str, Any]:
    model = backend.model
    vocab = llama_cpp.llama_model_get_vocab(backend.llm.model)
    todo = [(r.key, prompt_tokens(backend, backend.prompt_text(r))) for r in requests]
    longest = max(len(t) for _, t in todo)
    per_seq = -(-(longest + model.max_tokens + 8) // 256) * 256
    ctx = new_context(backend, n_seq, per_seq, unified)
    mem = llama_cpp.llama_get_memory(ctx)
    n_batch = backend.llm.n_batch
    batch = Batch(max(n_batch, n_seq))
    slots = [Slot(s) for s in range(n_seq)]
    acc = {"prompt_s": 0.0, "prompt_tokens": 0, "step_s": 0.0, "steps": 0, "sample_s": 0.0}
    live_sum = 0
    texts: dict[str, str] = {}
    out_tokens: dict[str, list[int]] = {}
    queue = list(reversed(todo))

    def decode(items: list[tuple[int, int, int, bool]]) -> None:
        batch.fill(items)
        rc = llama_cpp.llama_decode(ctx, batch.b)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def sample(slot: Slot, idx: int) -> None:
        t = time.perf_counter()
        tok = llama_cpp.llama_sampler_sample(slot.sampler, ctx, idx)
        acc["sample_s"] += time.perf_counter() - t
        if llama_cpp.llama_vocab_is_eog(vocab, tok):
            finish(slot)
            return
        slot.out.append(tok)
        if len(slot.out) >= model.max_tokens:
            finish(slot)
            return
        slot.pending = tok

    def finish(slot: Slot) -> None:
        out_tokens[slot.key] = slot.out
        texts[slot.key] = backend.llm.detokenize(slot.out).decode("utf-8", errors="ignore")
        llama_cpp.llama_sampler_free(slot.sampler)
        slot.sampler = None
        slot.live = False

    def load(slot: Slot) -> None:
        """Evaluate the next prompt into ``slot`` and sample its first token."""
        key, tokens = queue.pop()
        # longest cached prefix in any slot (kept below len(tokens) so one token is evaluated)
        src = max(slots, key=lambda s: (common_prefix(s.cached, tokens), s is slot))
        p0 = min(common_prefix(src.cached, tokens), len(tokens) - 1)
        t = time.perf_counter()
        if src is slot or p0 == 0:
            llama_cpp.llama_memory_seq_rm(mem, slot.seq, p0 if src is slot else 0, -1)
        elif unified:
            llama_cpp.llama_memory_seq_rm(mem, slot.seq, -1, -1)
            llama_cpp.llama_memory_seq_cp(mem, src.seq, slot.seq, 0, p0)
        else:  # across streams only whole buffers can be copied
            llama_cpp.llama_memory_seq_rm(mem, slot.seq, -1, -1)
            llama_cpp.llama_memory_seq_cp(mem, src.seq, slot.seq, -1, -1)
            llama_cpp.llama_memory_seq_rm(mem, slot.seq, p0, -1)
        rest = tokens[p0:]
        for i in range(0, len(rest), n_batch):
            chunk = rest[i : i + n_batch]
            last = i + len(chunk) == len(rest)
            decode(
                [
                    (tok, p0 + i + j, slot.seq, last and j == len(chunk) - 1)
                    for j, tok in enumerate(chunk)
                ]
            )
        acc["prompt_s"] += time.perf_counter() - t
        acc["prompt_tokens"] += len(rest)
        slot.cached, slot.key, slot.out = tokens, key, []
        slot.pos, slot.live = len(tokens), True
        slot.sampler = new_sampler(int(key[:8], 16), model.temperature)
        sample(slot, len(chunk) - 1)

    def refill(slot: Slot) -> None:
        while not slot.live and queue:
            load(slot)

    w0, c0 = clock()
    for slot in slots:
        refill(slot)
    while True:
        live = [s for s in slots if s.live]
        if not live:
            break
        t = time.perf_counter()
        decode([(s.pending, s.pos, s.seq, True) for s in live])
        acc["step_s"] += time.perf_counter() - t
        acc["steps"] += 1
        live_sum += len(live)
        for i, s in enumerate(live):
            s.pos += 1
            sample(s, i)
        for s in live:
            refill(s)
    w1, c1 = clock()
    batch.free()
    llama_cpp.llama_free(ctx)
    return {
        "wall_s": w1 - w0,
        "cpu_s": c1 - c0,
        "tokens_out": sum(len(t) for t in out_tokens.values()),
        "mean_live": live_sum / max(acc["steps"], 1),
        **acc,
        "texts": texts,
    }


# -- step: cost of one llama_decode of w single tokens --------------------------------------
def run_step(
    backend: EmbeddedBackend, requests: list[Request], widths: list[int], reps: int, unified: bool
) -> dict[str, Any]:
    n_seq = max(widths)
    tokens = prompt_tokens(backend, backend.prompt_text(requests[0]))
    per_seq = -(-(len(tokens) + reps + 8) // 256) * 256
    ctx = new_context(backend, n_seq, per_seq, unified)
    mem = llama_cpp.llama_get_memory(ctx)
    batch = Batch(max(backend.llm.n_batch, n_seq))
    # the same prompt in every sequence: evaluated once, then copied
    n_batch = backend.llm.n_batch
    for i in range(0, len(tokens), n_batch):
        chunk = tokens[i : i + n_batch]
        batch.fill([(t, i + j, 0, False) for j, t in enumerate(chunk)])
        llama_cpp.llama_decode(ctx, batch.b)
    for s in range(1, n_seq):
        llama_cpp.llama_memory_seq_cp(mem, 0, s, -1, -1)
    p = len(tokens)
    tok = tokens[-1]
    rows = []
    for w in widths:
        for warm in (True, False):
            walls, cpus = [], []
            for r in range(2 if warm else reps):
                batch.fill([(tok, p + r, s, True) for s in range(w)])
                w0, c0 = clock()
                rc = llama_cpp.llama_decode(ctx, batch.b)
                llama_cpp.llama_synchronize(ctx)
                w1, c1 = clock()
                if rc != 0:
                    raise RuntimeError(f"llama_decode returned {rc}")
                walls.append(w1 - w0)
                cpus.append(c1 - c0)
            for s in range(w):
                llama_cpp.llama_memory_seq_rm(mem, s, p, -1)
        rows.append(
            {
                "width": w,
                "step_ms": 1000 * statistics.median(walls),
                "step_cpu_ms": 1000 * statistics.median(cpus),
                "per_token_ms": 1000 * statistics.median(walls) / w,
            }
        )
    batch.free()
    llama_cpp.llama_free(ctx)
    return {"context_tokens": p, "reps": reps, "rows": rows}


# -- reporting ---------------------------------------------------------------------------------
def summarize(records: list[dict[str, Any]]) -> None:
    runs = [r for r in records if r["path"] != "step"]
    # the reference draws: the first path-A run over the same prompts
    refs: dict[int, dict[str, str]] = {}
    for r in runs:
        if r["path"] == "A":
            refs.setdefault(r["prompts"], r["texts"])
    print(
        "| path | kv | prompts | tokens out | wall s | CPU s | wall s/prompt | CPU s/prompt "
        "| prompt eval s (tok/s) | decode steps | step ms | mean live seqs "
        "| gen tok/s (steps+sampling) | sample ms/tok | s/prompt at 39 tok | draws = A |"
    )
    print("|" + "---|" * 16)
    for r in runs:
        n = r["prompts"]
        tok = r["tokens_out"]
        gen = r["step_s"] + r["sample_s"]
        # the default run's mean answer is 39 tokens: prompt + 39 x gen cost + the rest
        other = r["wall_s"] - r["prompt_s"] - gen
        at39 = (r["prompt_s"] + other) / n + TOKENS_PER_ANSWER * gen / max(tok, 1)
        same = "ref"
        ref = refs.get(n)
        if ref is not None and r["texts"] is not ref:
            keys = [k for k in r["texts"] if k in ref]
            same = f"{sum(r['texts'][k] == ref[k] for k in keys)}/{len(keys)}"
        print(
            f"| {r['path']} | {r.get('kv', '-')} | {n} | {tok} | {r['wall_s']:.1f} "
            f"| {r['cpu_s']:.1f} | {r['wall_s'] / n:.2f} | {r['cpu_s'] / n:.2f} "
            f"| {r['prompt_s']:.1f} ({r['prompt_tokens'] / max(r['prompt_s'], 1e-9):.0f}) "
            f"| {r['steps']} | {1000 * r['step_s'] / max(r['steps'], 1):.1f} "
            f"| {r['mean_live']:.2f} | {tok / max(gen, 1e-9):.1f} "
            f"| {1000 * r['sample_s'] / max(tok, 1):.2f} | {at39:.2f} | {same} |"
        )
    for r in records:
        if r["path"] != "step":
            continue
        print(
            f"\nstep: one llama_decode of w single tokens, {r['context_tokens']} context tokens "
            f"in every sequence, kv_unified={r['kv']}, median of {r['reps']}"
        )
        print("| w | step ms (wall) | step CPU ms | ms per token | vs w=1 per token |")
        print("|---|---|---|---|---|")
        base = r["rows"][0]["per_token_ms"]
        for row in r["rows"]:
            print(
                f"| {row['width']} | {row['step_ms']:.2f} | {row['step_cpu_ms']:.2f} "
                f"| {row['per_token_ms']:.2f} | {row['per_token_ms'] / base:.2f}x |"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paths", default="A,B8", help="comma list of A, B<N> (e.g. B4), step")
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--condition", default="persona", help="persona | baseline | all")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kv", choices=["unified", "split"], default="unified")
    ap.add_argument("--widths", default="1,2,4,8,16", help="step: widths to time")
    ap.add_argument("--reps", type=int, default=20, help="step: decodes per width")
    ap.add_argument("--json", default=None, help="append one JSON line per run to this file")
    ap.add_argument("--summarize", default=None, help="print the table of a --json file, exit")
    args = ap.parse_args()
    if args.summarize:
        summarize([json.loads(line) for line in Path(args.summarize).read_text().splitlines()])
        return
    model, requests = default_requests(args.prompts, args.condition)
    backend = EmbeddedBackend(model, n_threads=args.threads)
    unified = args.kv == "unified"
    records = []
    for path in args.paths.split(","):
        run: Callable[[], dict[str, Any]]
        if path == "A":
            run = lambda: run_a(backend, requests)  # noqa: E731
        elif path.startswith("B"):
            n = int(path[1:])
            run = lambda n=n: run_b(backend, requests, n, unified)  # noqa: E731
        elif path == "step":
            widths = [int(w) for w in args.widths.split(",")]
            run = lambda widths=widths: run_step(  # noqa: E731
                backend, requests, widths, args.reps, unified
            )
        else:
            raise SystemExit(f"unknown path {path!r}")
        rec = {"path": path, "kv": args.kv if path != "A" else "-", "prompts": len(requests)}
        rec.update(run())
        rec["when"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        records.append(rec)
        if path != "step":
            print(
                f"{path}: {rec['prompts']} prompts, {rec['tokens_out']} tokens out, "
                f"wall {rec['wall_s']:.1f} s, CPU {rec['cpu_s']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(rec) + "\n")
    backend.close()
    summarize(records)


if __name__ == "__main__":
    main()
