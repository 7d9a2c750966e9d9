"""Embedded model (llama-cpp-python, Gemma 3 270M Q4_K_M): prompts/s and tokens/s.

On real default prompts (the personas and questionnaires of ``params.yaml``,
persona condition, in persona order, as the evaluate stage sends them):

(a) ``logprobs`` mode through ``EmbeddedBackend.run`` with persona-prefix reuse
    (the backend as it is: the KV cache of a persona's shared prefix is kept);
(b) the same without reuse (``prefix_chars=0``: the backend then resets the KV
    cache and evaluates every prompt from its first token);
(c) llama-cpp-python's own path, ``Llama(logits_all=True).create_completion(
    prompt, max_tokens=1, logprobs=20)`` (which keeps its own longest-common-prefix
    cache), and the same with ``llm.reset()`` before every prompt;
(d) ``sample`` mode (``max_tokens=32``) through the backend: tokens/s, with
    llama.cpp's own prefill / decode timings.

Target: >= 6 prompts/s in logprobs mode on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Row:
    name: str
    prompts: int
    mean_prompt_tokens: float
    evaluated_per_prompt: float
    wall_s: float
    note: str = ""

    @property
    def pps(self) -> float:
        return self.prompts / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def eval_tps(self) -> float:
        return self.evaluated_per_prompt * self.prompts / self.wall_s if self.wall_s else 0.0


def real_prompts(n: int, root: Path) -> pd.DataFrame:
    """The first ``n`` persona-condition prompts of the default params, in persona order."""
    from value_inertia.core.config import load_params
    from value_inertia.design.personas import build_personas, load_schema
    from value_inertia.design.prompts import build_prompts
    from value_inertia.design.questionnaires import load_questionnaires

    params = load_params(root / "params.yaml")
    qs = load_questionnaires(params.prompts.questionnaires, root)
    per_persona = sum(len(q.items) for q in qs.values()) * params.prompts.repeats
    n_personas = max(params.personas.n, math.ceil(n / per_persona) + 1)
    schema = load_schema(root / params.personas.schema_path)
    personas = build_personas(schema, n_personas, params.personas.seeds[:1]).to_pandas()
    prompts = build_prompts(params.prompts, qs, personas).to_pandas()
    persona = prompts.loc[prompts["condition"] == "persona"].head(n).reset_index(drop=True)
    if len(persona) < n:
        raise SystemExit(f"only {len(persona)} persona prompts available, asked for {n}")
    return persona


def requests_for(prompts: pd.DataFrame, reuse: bool, tag: str) -> list:
    from value_inertia.evaluation.backends.base import Request

    return [
        Request(
            key=f"{i:08x}-{tag}",  # the backend seeds sample mode from key[:8] (hex)
            payload={"prompt": text},
            prefix_chars=int(pc) if reuse else 0,
        )
        for i, (text, pc) in enumerate(
            zip(prompts["completion_text"], prompts["prefix_chars"], strict=True)
        )
    ]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_backend_logprobs(backend, prompts: pd.DataFrame, reuse: bool) -> tuple[Row, np.ndarray]:
    reqs = requests_for(prompts, reuse, "reuse" if reuse else "noreuse")
    backend.llm.n_tokens = 0
    backend.tokens_evaluated = 0
    backend.prefix_tokens_reused = 0
    results = []
    t0 = time.perf_counter()
    backend.run(reqs, results.append)
    wall = time.perf_counter() - t0
    failed = [r for r in results if r.status != "ok"]
    if failed:
        raise SystemExit(f"{len(failed)} prompts failed, e.g. {failed[0].error}")
    n = len(results)
    log(f"backend logprobs reuse={reuse}: {n} prompts in {wall:.1f} s")
    tokens = np.array([r.tokens_in for r in results], dtype=float)
    probs = np.array([r.probs or [np.nan] * 6 for r in results], dtype=float)
    name = "(a) backend logprobs, prefix reuse" if reuse else "(b) backend logprobs, no reuse"
    note = (
        f"{backend.prefix_tokens_reused / n:.0f} prefix tokens/prompt reused"
        if reuse
        else "KV cache reset per prompt"
    )
    return Row(name, n, float(tokens.mean()), backend.tokens_evaluated / n, wall, note), probs


def run_llama_cpp_path(
    model_path: Path, prompts: pd.DataFrame, n_ctx: int, threads: int, reset: bool
) -> tuple[Row, np.ndarray]:
    from llama_cpp import Llama

    from value_inertia.evaluation.backends.base import distribution_from_logprobs

    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        llm = Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=threads,
            logits_all=True,
            verbose=False,
            seed=0,
        )
    texts = list(prompts["completion_text"])
    llm.create_completion(texts[-1], max_tokens=1, logprobs=20, temperature=0.0)  # warm-up
    llm.reset()
    probs, n_tokens, n_eval = [], [], 0
    t0 = time.perf_counter()
    for text in texts:
        if reset:
            llm.reset()
        before = llm.n_tokens
        tokens = llm.tokenize(text.encode(), add_bos=True, special=False)
        common = 0
        if not reset:
            for a, b in zip(llm.input_ids[:before], tokens, strict=False):
                if a != b:
                    break
                common += 1
        out = llm.create_completion(text, max_tokens=1, logprobs=20, temperature=0.0)
        top = out["choices"][0]["logprobs"]["top_logprobs"][0]
        p, _ = distribution_from_logprobs(top)
        probs.append(p or [np.nan] * 6)
        n_tokens.append(out["usage"]["prompt_tokens"])
        # create_completion re-evaluates at least the last prompt token
        n_eval += len(tokens) - min(common, len(tokens) - 1)
    wall = time.perf_counter() - t0
    llm.close()
    log(f"llama-cpp create_completion reset={reset}: {len(texts)} prompts in {wall:.1f} s")
    n = len(texts)
    name = (
        "(c) llama-cpp create_completion, reset per prompt"
        if reset
        else "(c) llama-cpp create_completion, its own prefix cache"
    )
    note = f"logits_all=True, n_ctx={n_ctx}, logprobs=20"
    row = Row(name, n, float(np.mean(n_tokens)), n_eval / n, wall, note)
    return row, np.array(probs, dtype=float)


def run_sample(backend, prompts: pd.DataFrame, max_tokens: int) -> dict:
    import llama_cpp

    from value_inertia.core.config import ModelParams

    logprobs_model = backend.model
    backend.model = ModelParams(
        name=logprobs_model.name,
        backend="embedded",
        model=logprobs_model.model,
        mode="sample",
        max_tokens=max_tokens,
        temperature=0.0,
    )
    reqs = requests_for(prompts, True, "sample")
    backend.llm.reset()
    ctx = backend.llm._ctx.ctx
    llama_cpp.llama_perf_context_reset(ctx)
    results = []
    t0 = time.perf_counter()
    backend.run(reqs, results.append)
    wall = time.perf_counter() - t0
    perf = llama_cpp.llama_perf_context(ctx)
    log(f"sample mode: {len(results)} prompts in {wall:.1f} s")
    backend.model = logprobs_model
    failed = [r for r in results if r.status != "ok"]
    if failed:
        raise SystemExit(f"{len(failed)} sample prompts failed, e.g. {failed[0].error}")
    out_tokens = sum(r.tokens_out or 0 for r in results)
    in_tokens = sum(r.tokens_in or 0 for r in results)
    return {
        "prompts": len(results),
        "prompt_tokens": in_tokens,
        "completion_tokens": out_tokens,
        "wall_s": wall,
        "n_p_eval": perf.n_p_eval,
        "t_p_eval_s": perf.t_p_eval_ms / 1000,
        "n_eval": perf.n_eval,
        "t_eval_s": perf.t_eval_ms / 1000,
    }


def fmt(rows: list[Row], target: float) -> str:
    out = [
        "| path | prompts | mean prompt tokens | evaluated tokens/prompt | wall (s) | prompts/s "
        "| evaluated tokens/s | target >= 6/s | note |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        ok = "met" if r.pps >= target else "missed"
        out.append(
            f"| {r.name} | {r.prompts} | {r.mean_prompt_tokens:.1f} | "
            f"{r.evaluated_per_prompt:.1f} | {r.wall_s:.2f} | {r.pps:.2f} | {r.eval_tps:.0f} "
            f"| {ok} | {r.note} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--prompts", type=int, default=120, help="prompts for (a) and (b)")
    ap.add_argument("--llama-prompts", type=int, default=40, help="prompts for each (c) run")
    ap.add_argument("--sample-prompts", type=int, default=20, help="prompts for (d)")
    ap.add_argument("--max-tokens", type=int, default=32, help="tokens per sample in (d)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--n-ctx", type=int, default=2048, help="backend context (params default)")
    ap.add_argument(
        "--llama-n-ctx",
        type=int,
        default=512,
        help="context for (c); logits_all keeps n_ctx x 262k floats of logits (512 -> 0.5 GiB)",
    )
    ap.add_argument("--skip-llama", action="store_true", help="skip (c)")
    ap.add_argument("--skip-sample", action="store_true", help="skip (d)")
    ap.add_argument("--root", type=Path, default=REPO, help="project root with params.yaml")
    args = ap.parse_args(argv)

    import llama_cpp

    from value_inertia.core.config import ModelParams
    from value_inertia.evaluation.backends.embedded import EmbeddedBackend

    print(
        f"# Embedded model — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} CPUs, threads={args.threads}, llama-cpp-python "
        f"{llama_cpp.__version__}, Python {platform.python_version()}\n"
    )
    need = max(args.prompts, args.llama_prompts, args.sample_prompts)
    t0 = time.perf_counter()
    prompts = real_prompts(need, args.root)
    t_build = time.perf_counter() - t0

    model = ModelParams(name="gemma3-270m", backend="embedded", mode="logprobs")
    t0 = time.perf_counter()
    backend = EmbeddedBackend(model, n_ctx=args.n_ctx, n_threads=args.threads)
    t_load = time.perf_counter() - t0
    log(f"prompts built in {t_build:.1f} s, model loaded in {t_load:.1f} s")
    # warm-up (not timed): two prompts of a persona beyond the measured ones
    backend.run(requests_for(prompts.tail(2), True, "warm"), lambda r: None)

    rows: list[Row] = []
    sub = prompts.head(args.prompts)
    row_a, probs_a = run_backend_logprobs(backend, sub, reuse=True)
    row_b, probs_b = run_backend_logprobs(backend, sub, reuse=False)
    rows += [row_a, row_b]
    drift_ab = float(np.nanmax(np.abs(probs_a - probs_b)))

    drift_c = None
    if not args.skip_llama:
        csub = prompts.head(args.llama_prompts)
        row_c, probs_c = run_llama_cpp_path(
            backend.model_path, csub, args.llama_n_ctx, args.threads, reset=False
        )
        row_c0, _ = run_llama_cpp_path(
            backend.model_path, csub, args.llama_n_ctx, args.threads, reset=True
        )
        rows += [row_c, row_c0]
        drift_c = float(np.nanmax(np.abs(probs_a[: len(csub)] - probs_c)))

    sample = None
    if not args.skip_sample:
        sample = run_sample(backend, prompts.head(args.sample_prompts), args.max_tokens)
    backend.close()

    print(
        f"Prompts: {len(sub)} persona prompts (first "
        f"{sub['persona_id'].nunique()} personas of the default params), built in "
        f"{t_build:.1f} s; model loaded in {t_load:.1f} s.\n"
    )
    print("## logprobs mode\n")
    print(fmt(rows, 6.0))
    print(
        f"\nReuse speed-up (a)/(b): {row_a.pps / row_b.pps:.2f}x. "
        f"Max |p(a) - p(b)| over all letters: {drift_ab:.2e}"
        + (f"; max |p(a) - p(c)|: {drift_c:.2e}" if drift_c is not None else "")
        + " (top-20 logprobs)."
    )
    if sample:
        s = sample
        print(f"\n## sample mode (max_tokens={args.max_tokens}, temperature 0)\n")
        print(
            "| prompts | prompt tokens | completion tokens | wall (s) | prompts/s "
            "| completion tokens/s (wall) | prefill tokens/s (llama.cpp) "
            "| decode tokens/s (llama.cpp) |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(
            f"| {s['prompts']} | {s['prompt_tokens']} | {s['completion_tokens']} "
            f"| {s['wall_s']:.2f} | {s['prompts'] / s['wall_s']:.2f} "
            f"| {s['completion_tokens'] / s['wall_s']:.1f} "
            f"| {s['n_p_eval'] / max(s['t_p_eval_s'], 1e-9):.0f} "
            f"| {s['n_eval'] / max(s['t_eval_s'], 1e-9):.1f} |"
        )
    verdict = "MET" if row_a.pps >= 6 else "MISSED"
    print(f"\nTarget >= 6 prompts/s (logprobs, with reuse): {row_a.pps:.2f}/s -> {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
