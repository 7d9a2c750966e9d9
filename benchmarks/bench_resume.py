"""Resume: re-running a finished evaluate stage over ~10k cached prompts.

Builds a scratch project whose prompts are the real default prompts for enough
personas to reach ``--prompts`` rows (both questionnaires, 89 prompts per
persona plus 89 baseline prompts), fills the default model's response store
with an answer for every request through ``ResponseStore.put`` (one commit per
answer, as a live run does), then times, in this process:

* reading the prompts table, opening the store (with its integrity check),
* ``run_evaluation`` with nothing pending (the backend factory must never be
  called: it raises, and the benchmark asserts it was not called),
* ``materialise_responses`` and writing the responses Parquet, closing the store;

and, end to end, ``value-inertia evaluate --model <default> --no-progress`` as a
subprocess twice (the first run also creates the MLflow database; the second is
a plain re-run), next to the bare interpreter + import floor.

Target: under 5 s.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


class FactoryCalled(AssertionError):
    pass


def build_project(root: Path, n_prompts: int) -> dict:
    from value_inertia.core import paths
    from value_inertia.core.config import load_params
    from value_inertia.core.table_io import write_table
    from value_inertia.design.personas import build_personas, load_schema
    from value_inertia.design.prompts import build_prompts
    from value_inertia.design.questionnaires import load_questionnaires

    for rel in ("data/questionnaires", "data/schemas", "stages"):
        shutil.copytree(REPO / rel, root / rel)
    params = load_params(REPO / "params.yaml")
    qs = load_questionnaires(params.prompts.questionnaires, REPO)
    per_persona = sum(len(q.items) for q in qs.values()) * params.prompts.repeats
    baseline = sum(len(q.items) for q in qs.values()) * params.prompts.baseline_repeats
    n_personas = max(1, math.ceil((n_prompts - baseline) / per_persona))
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["personas"]["n"] = n_personas
    raw["personas"]["seeds"] = params.personas.seeds[:1]
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    schema = load_schema(REPO / params.personas.schema_path)
    personas = build_personas(schema, n_personas, params.personas.seeds[:1])
    write_table(personas, paths.personas_path(root))
    prompts = build_prompts(params.prompts, qs, personas.to_pandas())
    write_table(prompts, paths.prompts_path(root))
    return {"personas": n_personas, "prompts": prompts.num_rows, "model": params.models[0]}


def fill_store(root: Path, model, prompts) -> tuple[int, float]:
    from value_inertia.core import paths
    from value_inertia.evaluation.backends.base import Result
    from value_inertia.evaluation.runner import plan_requests
    from value_inertia.evaluation.store import ResponseStore

    requests, _ = plan_requests(model, prompts)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    with ResponseStore(paths.store_path(model.name, root)) as store:
        for r in requests:
            p = rng.dirichlet(np.ones(6))
            res = Result(
                key=r.key,
                status="ok",
                text="ABCDEF"[int(p.argmax())],
                probs=[float(x) for x in p],
                letter_mass=float(rng.uniform(0.6, 1.0)),
                finish_reason="logprobs",
                tokens_in=int(rng.integers(140, 240)),
                tokens_out=0,
                latency_s=float(rng.uniform(0.1, 0.3)),
            )
            store.put(r.key, "ok", {**res.record(), "timestamp": time.time()})
    return len(requests), time.perf_counter() - t0


def in_process(root: Path, model) -> list[tuple[str, float]]:
    from value_inertia.core import paths
    from value_inertia.core.table_io import read_frame, write_table
    from value_inertia.evaluation.runner import materialise_responses, plan_requests, run_evaluation
    from value_inertia.evaluation.store import ResponseStore

    called = []

    def factory():
        called.append(True)
        raise FactoryCalled("the backend factory was called although every answer is stored")

    steps: list[tuple[str, float]] = []
    t = time.perf_counter()
    prompts = read_frame(paths.prompts_path(root), "prompts")
    steps.append(("read prompts parquet", time.perf_counter() - t))
    t = time.perf_counter()
    store = ResponseStore(paths.store_path(model.name, root)).__enter__()
    steps.append(("open store (lock, quick_check)", time.perf_counter() - t))
    try:
        t = time.perf_counter()
        summary = run_evaluation(model, prompts, store, factory, progress=False)
        steps.append(("run_evaluation (nothing pending)", time.perf_counter() - t))
        assert not called, "backend factory was called"
        assert summary.sent == 0 and summary.cached == summary.requests, summary.line()
        t = time.perf_counter()
        table, counts = materialise_responses(model, prompts, store)
        steps.append(("materialise_responses", time.perf_counter() - t))
        assert counts == {"ok": len(prompts)}, counts
        t = time.perf_counter()
        write_table(table, paths.responses_path(model.name, root))
        steps.append(("write responses parquet", time.perf_counter() - t))
    finally:
        t = time.perf_counter()
        store.__exit__(None, None, None)
        steps.append(("close store (WAL checkpoint)", time.perf_counter() - t))
    t = time.perf_counter()
    plan_requests(model, prompts)
    steps.append(("(of which: one plan_requests call; run twice above)", time.perf_counter() - t))
    return steps


def cli_run(root: Path, args: list[str]) -> tuple[float, str, int]:
    env = {**os.environ, "VALUE_INERTIA_ROOT": str(root)}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    t = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "value_inertia", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return time.perf_counter() - t, res.stderr + res.stdout, res.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--prompts", type=int, default=10000, help="cached prompts (about)")
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI runs")
    ap.add_argument("--keep", action="store_true", help="keep the scratch project")
    args = ap.parse_args(argv)

    print(
        f"# Resume — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n"
    )
    tmp = Path(tempfile.mkdtemp(prefix="vi-resume-"))
    root = tmp / "project"
    root.mkdir()
    try:
        t = time.perf_counter()
        info = build_project(root, args.prompts)
        t_build = time.perf_counter() - t
        model = info["model"]
        from value_inertia.core import paths
        from value_inertia.core.table_io import read_frame

        prompts = read_frame(paths.prompts_path(root), "prompts")
        n_req, t_fill = fill_store(root, model, prompts)
        store_mib = paths.store_path(model.name, root).stat().st_size / 2**20
        print(
            f"Scratch project: {info['prompts']:,} prompts ({info['personas']} personas, "
            f"model {model.name}, {model.backend}/{model.mode}), built in {t_build:.1f} s; "
            f"store filled with {n_req:,} answers through ResponseStore.put in {t_fill:.1f} s "
            f"({1000 * t_fill / n_req:.2f} ms per put), {store_mib:.1f} MiB.\n"
        )
        steps = in_process(root, model)
        print("## In process\n")
        print("| step | seconds |")
        print("|---|---:|")
        total = 0.0
        for name, s in steps:
            print(f"| {name} | {s:.3f} |")
            if not name.startswith("("):
                total += s
        print(f"| **total** | **{total:.3f}** |")
        verdict = "MET" if total < 5 else "MISSED"
        print(f"\nTarget < 5 s (in process): {total:.2f} s -> {verdict}")

        if not args.no_cli:
            floor, _, _ = cli_run(root, ["--help"])
            t1, out1, rc1 = cli_run(root, ["evaluate", "--model", model.name, "--no-progress"])
            t2, out2, rc2 = cli_run(root, ["evaluate", "--model", model.name, "--no-progress"])
            for out, rc in ((out1, rc1), (out2, rc2)):
                if rc != 0:
                    raise SystemExit(f"value-inertia evaluate failed ({rc}):\n{out[-3000:]}")
                m = re.search(r"(\d+) already stored, (\d+) sent", out)
                if not m or int(m.group(2)) != 0:
                    raise SystemExit(f"the re-run sent requests:\n{out[-3000:]}")
            print("\n## End to end: `value-inertia evaluate` (a DVC re-run of the stage)\n")
            print("| run | seconds |")
            print("|---|---:|")
            print(f"| `value-inertia --help` (interpreter + CLI import floor) | {floor:.2f} |")
            print(f"| evaluate, first run (creates mlflow.db) | {t1:.2f} |")
            print(f"| evaluate, re-run | {t2:.2f} |")
            verdict = "MET" if t2 < 5 else "MISSED"
            print(f"\nTarget < 5 s (end-to-end re-run): {t2:.2f} s -> {verdict}")
    finally:
        if args.keep:
            print(f"\nScratch project kept at {root}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
