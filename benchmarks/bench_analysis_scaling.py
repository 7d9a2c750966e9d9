"""Analysis scaling: metrics and clustering on synthetic parsed tables of 10k-1M rows.

For every size a synthetic ``logprobs``-mode parsed table (``PARSED_SCHEMA``,
MFQ-30, random Dirichlet ``p_1..p_6`` with a persona-group effect so that there
is something to cluster, 1% unparsed rows, three seeds) and a matching personas
table (``build_personas`` from the default attribute schema) are written to
Parquet by one subprocess; a fresh subprocess then reads them as the stages do
and times, in order:

* ``read``: ``pd.read_parquet`` of the parsed and personas tables;
* ``analyze``: :func:`analysis.analyze` (``n_boot`` bootstrap resamples);
* ``micro``: :func:`analysis.persona_scores` + :func:`analysis.convergence_across_seeds`
  + :func:`analysis.permeability.permeability_table` (what the analyze stage adds);
* ``cluster``: :func:`analysis.persona_item_matrix` +
  :func:`clustering.cluster_personas` (k by silhouette in [k_min, k_max]).

Peak RSS (``ru_maxrss``) is per size because each size has its own process;
``--tracemalloc`` adds a third process per size for the Python-heap peak of each
phase; ``--profile`` prints cProfile's hot spots of each phase of the largest
size. Rows grow with the number of personas (``rows ~ personas x 32 x repeats``).

Target: 1M rows in under 30 s and under 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
QID = "mfq30"
PHASES = ("read", "analyze", "micro", "cluster")
PLOT_PHASE = "plots"


def _params():
    from value_inertia.core.config import load_params

    return load_params(REPO / "params.yaml")


# --------------------------------------------------------------------------- data


def make_data(rows: int, repeats: int, seed: int, out: Path) -> dict:
    """Write parsed.parquet and personas.parquet for about ``rows`` rows."""
    from value_inertia.design.personas import build_personas, load_schema
    from value_inertia.design.questionnaires import OPTION_LETTERS, load_questionnaires
    from value_inertia.scoring.answer_table import P_COLUMNS, PARSED_SCHEMA, to_table

    params = _params()
    q = load_questionnaires([QID], REPO)[QID]
    schema = load_schema(REPO / params.personas.schema_path)
    items = [it.number for it in q.items]
    catch = {it.number: it.catch for it in q.items}
    per_persona = len(items) * repeats
    seeds = [111, 333, 555]
    n_personas = max(len(seeds) * 2, round((rows - len(items)) / per_persona))
    per_seed = -(-n_personas // len(seeds))
    personas = build_personas(schema, per_seed, seeds).to_pandas().head(n_personas)
    rng = np.random.default_rng(seed)

    # persona rows: persona x item x repeat, persona order; then baseline rows
    pid = np.repeat(personas["persona_id"].to_numpy(), per_persona)
    pseed = np.repeat(personas["seed"].to_numpy(), per_persona)
    item = np.tile(np.repeat(items, repeats), n_personas)
    rep = np.tile(np.tile(np.arange(repeats), len(items)), n_personas)
    group = np.repeat(rng.integers(0, 3, n_personas), per_persona)
    alpha_item = rng.gamma(2.0, 1.0, size=(len(items) + 1, 3, 6)) + 0.2
    item_idx = np.searchsorted(items, item)
    alpha = alpha_item[item_idx, group]
    b_item = np.array(items * repeats)
    b_rep = np.repeat(np.arange(repeats), len(items))
    alpha = np.vstack([alpha, alpha_item[np.searchsorted(items, b_item), 0]])
    g = rng.standard_gamma(alpha)
    p = g / g.sum(axis=1, keepdims=True)
    n_total = len(p)
    unparsed = rng.random(n_total) < 0.01
    p[unparsed] = np.nan
    n_persona_rows = len(pid)
    cond = np.array(["persona"] * n_persona_rows + ["baseline"] * len(b_item), dtype=object)
    all_item = np.concatenate([item, b_item])
    rating = np.where(unparsed, np.nan, np.nanargmax(np.nan_to_num(p, nan=-1), axis=1) + 1)
    frame = pd.DataFrame(
        {
            "prompt_id": [f"{i:016x}" for i in range(n_total)],
            "model": "synthetic",
            "mode": "logprobs",
            "variant": "original",
            "condition": cond,
            "persona_id": np.concatenate([pid, np.full(len(b_item), None, dtype=object)]),
            "seed": pd.array(np.concatenate([pseed, np.zeros(len(b_item))]), dtype="Int64"),
            "questionnaire": QID,
            "item": all_item.astype(np.int64),
            "dimension": [q.item_dimension.get(int(n)) for n in all_item],
            "catch": [catch[int(n)] for n in all_item],
            "repeat": np.concatenate([rep, b_rep]).astype(np.int64),
            "sample_index": np.zeros(n_total, dtype=np.int64),
            "letter_ratings": [[1, 2, 3, 4, 5, 6]] * n_total,  # options in original order
            "rating": pd.array(rating, dtype="Int64"),
            **{c: p[:, k] for k, c in enumerate(P_COLUMNS)},
            "parser": "logprobs",
            "reason": np.where(unparsed, "no_letter_mass", None),
            "letter_mass": rng.uniform(0.6, 1.0, n_total),
            "text": np.array(OPTION_LETTERS, dtype=object)[
                np.nan_to_num(rating, nan=1).astype(int) - 1
            ],
        }
    )
    frame.loc[cond == "baseline", "seed"] = pd.NA
    frame = frame[PARSED_SCHEMA.names]
    import pyarrow.parquet as pq

    pq.write_table(to_table(frame), out / "parsed.parquet", compression="zstd")
    personas.to_parquet(out / "personas.parquet")
    return {"rows": int(n_total), "personas": int(n_personas), "repeats": repeats}


# --------------------------------------------------------------------------- worker


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker(data: Path, n_boot: int, mode: str, plots: bool) -> dict:
    """Run the phases in this (fresh) process; mode: time | tracemalloc | profile."""
    import cProfile
    import io
    import pstats
    import tracemalloc

    from value_inertia.analysis.analyze import analyze
    from value_inertia.analysis.clustering import cluster_personas
    from value_inertia.analysis.matrix import (
        mrat_matrix,
        persona_item_matrix,
        persona_scores,
        select_rows,
    )
    from value_inertia.analysis.permeability import permeability_table
    from value_inertia.analysis.stability import convergence_across_seeds, persona_seeds
    from value_inertia.design.personas import load_schema
    from value_inertia.design.questionnaires import load_questionnaires

    params = _params()
    q = load_questionnaires([QID], REPO)[QID]
    names = load_schema(REPO / params.personas.schema_path).names
    a, c = params.analyze, params.cluster
    state: dict = {}

    def read() -> None:
        state["parsed"] = pd.read_parquet(data / "parsed.parquet")
        state["personas"] = pd.read_parquet(data / "personas.parquet")

    def run_analyze() -> None:
        state["metrics"] = analyze(
            state["parsed"], state["personas"], q, n_boot=n_boot, confidence=a.confidence, seed=0
        )

    def micro() -> None:
        matrix = persona_item_matrix(state["parsed"], q)
        scores = persona_scores(state["parsed"], q, matrix=matrix)
        dims = list(q.dimensions)
        rows = select_rows(state["parsed"], q)
        seeds_of = persona_seeds(rows.loc[rows["condition"] == "persona"], state["personas"])
        state["conv"], state["conv_info"] = convergence_across_seeds(
            mrat_matrix(matrix, q), seeds_of, dims, n_boot=n_boot, confidence=a.confidence,
            seed=a.seed,
        )  # fmt: skip
        state["matrix"] = matrix
        state["d"] = permeability_table(
            scores, state["personas"], names, dims, n_permutations=a.permutations, seed=a.seed
        )

    def cluster() -> None:
        matrix = persona_item_matrix(state["parsed"], q)
        state["cluster"] = cluster_personas(
            matrix, state["personas"], names, method=c.method, k_min=c.k_min, k_max=c.k_max,
            seed=c.seed,
        )  # fmt: skip

    def draw() -> None:
        import matplotlib

        matplotlib.use("Agg")
        from value_inertia.analysis.plots import clusters as cluster_plots
        from value_inertia.analysis.plots import distributions, effects

        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            distributions.plot_micro_heatmap(state["matrix"], q, d / "micro.png")
            distributions.plot_macro_distribution(state["metrics"], d / "macro.png")
            distributions.plot_convergence(state["conv"], state["conv_info"], d / "convergence.png")
            effects.plot_permeability(state["d"], d / "permeability.png")
            assignments = state["cluster"].assignments.astype({"persona_id": str})
            cluster_plots.plot_clusters(
                assignments, state["personas"], c.color_attribute, d / "c.png"
            )

    fns = {"read": read, "analyze": run_analyze, "micro": micro, "cluster": cluster, "plots": draw}
    out: dict = {"rss_start_mib": _rss_mib(), "phases": {}}
    for name in (*PHASES, PLOT_PHASE) if plots else PHASES:
        rec: dict = {}
        if mode == "tracemalloc":
            tracemalloc.start()
        prof = cProfile.Profile() if mode == "profile" else None
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        fns[name]()
        if prof:
            prof.disable()
        rec["s"] = time.perf_counter() - t0
        rec["peak_rss_mib"] = _rss_mib()
        if mode == "tracemalloc":
            rec["tracemalloc_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        if prof:
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
            buf2 = io.StringIO()
            pstats.Stats(prof, stream=buf2).sort_stats("tottime").print_stats(15)
            rec["profile"] = buf.getvalue() + buf2.getvalue()
        out["phases"][name] = rec
    k = state["cluster"].summary
    out["cluster_k"], out["silhouette"] = k["k"], k.get("silhouette")
    out["inertia_overall"] = state["metrics"]["overall"]["inertia"]
    return out


def run_sub(args: list[str], timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- driver


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated row counts")
    ap.add_argument("--n-boot", type=int, default=None, help="default: params analyze.bootstrap")
    ap.add_argument("--repeats", type=int, default=1, help="answers per (persona, item)")
    ap.add_argument("--seed", type=int, default=0, help="synthetic-data seed")
    ap.add_argument("--tracemalloc", action="store_true", help="also measure tracemalloc peaks")
    ap.add_argument("--profile", action="store_true", help="cProfile the largest size")
    ap.add_argument(
        "--plots", action="store_true", help="also time the figures the analyze/cluster stages draw"
    )
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per subprocess")
    ap.add_argument("--_make", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_rows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_work", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_mode", default="time", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    n_boot = args.n_boot if args.n_boot is not None else _params().analyze.bootstrap

    if args._make:
        print(json.dumps(make_data(args._rows, args.repeats, args.seed, args._make)))
        return 0
    if args._work:
        print(json.dumps(worker(args._work, n_boot, args._mode, args.plots)))
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(
        f"# Analysis scaling — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}, "
        f"pandas {pd.__version__}; n_boot={n_boot}, repeats={args.repeats}, {QID}\n"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="vi-scaling-") as tmp:
        for size in sizes:
            d = Path(tmp) / str(size)
            d.mkdir()
            t0 = time.perf_counter()
            info = run_sub(
                ["--_make", str(d), "--_rows", str(size), "--repeats", str(args.repeats),
                 "--seed", str(args.seed)],
                args.timeout,
            )  # fmt: skip
            info["make_s"] = time.perf_counter() - t0
            print(f"[{size}] data: {info} ", file=sys.stderr, flush=True)
            common = ["--_work", str(d), "--n-boot", str(n_boot)]
            if args.plots:
                common.append("--plots")
            info["time"] = run_sub(common, args.timeout)
            print(f"[{size}] timed", file=sys.stderr, flush=True)
            if args.tracemalloc:
                info["trace"] = run_sub([*common, "--_mode", "tracemalloc"], args.timeout)
            if args.profile and size == max(sizes):
                info["profile"] = run_sub([*common, "--_mode", "profile"], args.timeout)
            results.append(info)

    head = "| rows | personas | " + " | ".join(f"{p} (s)" for p in PHASES)
    head += " | analysis total (s) | peak RSS (MiB) | peak RSS after read / analyze / micro (MiB) |"
    if args.tracemalloc:
        head += " tracemalloc peak per phase (MiB) |"
    if args.plots:
        head += " plots (s) | peak RSS with plots (MiB) |"
    head += " k | target |"
    print(head)
    print("|" + "---:|" * (head.count("|") - 1))
    for r in results:
        ph = r["time"]["phases"]
        total = sum(ph[p]["s"] for p in PHASES if p != "read")
        peak = ph["cluster"]["peak_rss_mib"]
        ok = "met" if total + ph["read"]["s"] < 30 and peak < 2048 else "missed"
        line = f"| {r['rows']:,} | {r['personas']:,} | "
        line += " | ".join(f"{ph[p]['s']:.2f}" for p in PHASES)
        line += f" | {total:.2f} | {peak:.0f} | "
        line += " / ".join(f"{ph[p]['peak_rss_mib']:.0f}" for p in PHASES[:-1]) + " |"
        if args.tracemalloc:
            tr = r["trace"]["phases"]
            line += " " + " / ".join(f"{tr[p]['tracemalloc_peak_mib']:.0f}" for p in PHASES) + " |"
        if args.plots:
            line += f" {ph[PLOT_PHASE]['s']:.2f} | {ph[PLOT_PHASE]['peak_rss_mib']:.0f} |"
        line += f" {r['time']['cluster_k']} | {ok if r['rows'] >= 1_000_000 else '-'} |"
        print(line)
    print(
        "\nPeak RSS is the process's ru_maxrss (includes the interpreter and imports, "
        "~150-250 MiB). Target (1M rows): read + analysis < 30 s and peak RSS < 2 GiB."
    )
    for r in results:
        if "profile" in r:
            print(f"\n## cProfile, {r['rows']:,} rows\n")
            for p in r["profile"]["phases"]:
                print(f"### {p}\n\n```\n{r['profile']['phases'][p]['profile']}\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
