"""Embedded engine threads under load (issue 22 item 2).

For each embedded model (Gemma 3 270M, SmolLM2-135M-Instruct), a ~90-token prompt is
evaluated again and again (``llm.reset(); llm.eval(tokens)``: prompt processing, what
``logprobs`` mode does) for ``--seconds`` per cell, and tokens/s is reported for

- threads 1, 2 and ``auto`` (value_inertia.evaluation.backends.threads: the cores other
  work leaves free, re-checked during the run; the default, ``evaluate.n_threads: null``),
- on the machine as it is ("idle") and with one busy-loop process at the same priority
  ("one core busy"; this script starts and stops it).

Target: with one core busy, the default keeps >= 40% of the idle rate on 2 threads.
On a machine shared with other work the "idle" column is not idle: the script prints
the other load it measured before each cell, so read the figures with it.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from value_inertia.evaluation.backends.embedded import resolve_model_path  # noqa: E402
from value_inertia.evaluation.backends.threads import EngineThreads, OtherLoad  # noqa: E402

PROMPT = (
    "Let's role-play. You are the person described below. Answer the question as this "
    "person would, based on who you are. You are a 47-year-old woman living in Chile, "
    "married with two children, working full-time as a nurse. When you decide whether "
    "something is right or wrong, how relevant is whether or not someone suffered "
    "emotionally? A. not at all relevant B. not very relevant C. slightly relevant "
    "Answer:"
)
MODELS = {"gemma3-270m": "gemma3-270m-q4-k-m", "smollm2-135m": "smollm2-135m"}


def _spin() -> None:
    while True:
        pass


def _load(path: Path, threads: int):
    from llama_cpp import Llama

    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        return Llama(
            model_path=str(path),
            n_ctx=512,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )


def rate(path: Path, threads: str, seconds: float) -> tuple[float, str]:
    """Tokens/s over ``seconds`` of repeated prompt evaluations; and the threads used."""
    engine = EngineThreads(None if threads == "auto" else int(threads))
    llm = _load(path, engine.current)
    tokens = llm.tokenize(PROMPT.encode(), add_bos=True)
    used = {engine.current}
    llm.reset()
    llm.eval(tokens)  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        used.add(engine.adjust(llm, interval_s=1.0))
        llm.reset()
        llm.eval(tokens)
        done += len(tokens)
    elapsed = time.perf_counter() - start
    llm.close()
    return done / elapsed, "/".join(str(n) for n in sorted(used))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="per cell (default 5)")
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    print(
        f"# bench_threads: {platform.node()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {args.seconds:g} s per cell\n"
    )
    print("| model | condition | other load (cores) | threads | tokens/s | vs idle 2 threads |")
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        path = resolve_model_path(MODELS[name])
        idle2 = None
        for condition in ("idle", "one core busy"):
            spinner = None
            if condition == "one core busy":
                spinner = mp.Process(target=_spin, daemon=True)
                spinner.start()
                time.sleep(0.5)
            try:
                for threads in ("2", "1", "auto"):
                    probe = OtherLoad()
                    time.sleep(0.5)
                    other = probe.read()
                    tps, used = rate(path, threads, args.seconds)
                    if condition == "idle" and threads == "2":
                        idle2 = tps
                    share = f"{tps / idle2:.0%}" if idle2 else "n/a"
                    print(
                        f"| {name} | {condition} | {other:.2f} | {threads} ({used}) | "
                        f"{tps:.0f} | {share} |",
                        flush=True,
                    )
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.join()


if __name__ == "__main__":
    main()
