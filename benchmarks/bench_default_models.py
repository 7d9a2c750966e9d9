"""Cost per prompt of each default model (params.yaml), to size the default run.

Runs a few persona prompts (PVQ-RR and MFQ-30, the default prompt settings)
through each model of params.yaml with the embedded backend, and reports wall
seconds and CPU seconds per prompt. On a busy machine the wall time is
meaningless; CPU seconds / threads estimate the wall time on idle cores (the
decode threads scale well at 2 threads). The default run's evaluate time is
then about sum over models of prompts(model) x seconds per prompt.

Usage: python benchmarks/bench_default_models.py [--prompts 12] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from value_inertia.core.config import load_params  # noqa: E402
from value_inertia.design.personas import build_personas, load_schema  # noqa: E402
from value_inertia.design.prompts import build_prompts, select_variants  # noqa: E402
from value_inertia.design.questionnaires import load_questionnaires  # noqa: E402
from value_inertia.evaluation.backends.embedded import EmbeddedBackend  # noqa: E402
from value_inertia.evaluation.runner import plan_requests  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=None, help="one model name from params.yaml")
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml")
    schema = load_schema(ROOT / params.personas.schema_path)
    personas = build_personas(schema, 1, [111]).to_pandas()
    qs = load_questionnaires(params.prompts.questionnaires, ROOT)
    table = build_prompts(params.prompts, qs, personas).to_pandas()
    persona = table[table.condition == "persona"]
    half = args.prompts // 2
    out = []
    for model in params.models:
        if args.only and model.name != args.only:
            continue
        rows = select_variants(persona, params.variants_for(model))
        sample = (
            rows.groupby("questionnaire", group_keys=False)
            .apply(lambda g: g.head(half))
            .reset_index(drop=True)
        )
        requests, _ = plan_requests(model, sample)
        backend = EmbeddedBackend(model, n_threads=args.threads)
        results = []
        wall, cpu = time.perf_counter(), time.process_time()
        backend.run(requests, results.append)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        backend.close()
        tokens_out = sum(r.tokens_out or 0 for r in results)
        out.append(
            {
                "model": model.name,
                "mode": model.mode,
                "api": model.api,
                "requests": len(requests),
                "wall_s_per_prompt": round(wall / len(requests), 3),
                "cpu_s_per_prompt": round(cpu / len(requests), 3),
                "idle_estimate_s_per_prompt": round(cpu / len(requests) / args.threads, 3),
                "mean_tokens_out": round(tokens_out / len(requests), 1),
                "failed": sum(r.status != "ok" for r in results),
            }
        )
        print(json.dumps(out[-1]), flush=True)


if __name__ == "__main__":
    main()
