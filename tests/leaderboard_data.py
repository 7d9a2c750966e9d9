"""A small synthetic project tree for the leaderboard, Hub and app tests.

Real personas and prompts (the project's own generators and questionnaires),
synthetic answers with a known character per model, and the metrics, cluster
summaries, model specs, figures and leaderboard computed from them with the
project's own analysis, clustering, plotting and leaderboard code.

Models (chosen so that the ranking is known in advance):

* ``steady-model`` (logprobs): every persona answers like the baseline, sharply
  peaked at one option -> the highest inertia, zero steerability;
* ``drift.model`` (logprobs; the dot tests name sanitising): peaked answers
  whose peak moves with the persona -> medium inertia, some steerability;
* ``wobbly-model`` (sample mode): one-hot answers spread over all options
  -> the lowest inertia, no letter mass.
"""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from value_inertia import paths
from value_inertia.analysis import P_COLUMNS, analyze, cohens_d_grid, persona_item_matrix
from value_inertia.analysis import persona_scores as persona_scores_of
from value_inertia.clustering import cluster_personas
from value_inertia.config import load_params
from value_inertia.leaderboard import build_leaderboard, load_inputs, write_leaderboard
from value_inertia.personas import build_personas, load_schema
from value_inertia.plots import plot_cohens_d, plot_macro_distribution
from value_inertia.prompts import build_prompts
from value_inertia.questionnaires import load_questionnaires
from value_inertia.tables import write_table

REPO = Path(__file__).resolve().parents[1]
MODELS = ("steady-model", "drift.model", "wobbly-model")
QUESTIONNAIRES = ("mfq30", "pvqrr")
N_PER_SEED = 4
SEEDS = (111, 333)
PARAMS_HASH = "0123456789ab"
DATE = "2025-01-31"
ATTRIBUTES = ["sex", "age", "religion", "employment"]


def softmax_around(centre: float, width: float) -> np.ndarray:
    logits = -((np.arange(1, 7) - centre) ** 2) / (2 * width**2)
    e = np.exp(logits - logits.max())
    return e / e.sum()


def _u(*keys: object) -> float:
    """A deterministic pseudo-random number in [0, 1) from ``keys``."""
    return (zlib.crc32(repr(keys).encode()) % 10_000) / 10_000


def answer(model: str, persona_index: int, item: int, repeat: int) -> np.ndarray:
    """The synthetic answer distribution of ``model`` (persona_index -1: baseline)."""
    if model == "steady-model":
        return softmax_around(5.0, 0.45)
    if model == "drift.model":
        shift = 0.0 if persona_index < 0 else (persona_index % 4) * 0.6 + _u(item) * 0.4
        return softmax_around(3.0 + shift, 0.7)
    k = int(_u(model, persona_index, item, repeat) * 6)
    onehot = np.zeros(6)
    onehot[k] = 1.0
    return onehot


# Private details a user's params hold, which must never be published (tests scan for them).
PRIVATE_MODEL_PATH = "/srv/private-models/drift-q4.gguf"
PRIVATE_BASE_URL = "http://gpu-node-17.internal:8011/v1"
PRIVATE_KEY_ENV = "WOBBLY_KEY"
PUBLIC_IDS = {"steady-model": ("acme/steady-1b", "Q4_K_M")}


def spec(model: str) -> dict[str, Any]:
    sample = model == "wobbly-model"
    public_id, quantization = PUBLIC_IDS.get(model, (None, None))
    return {
        "name": model,
        "backend": "openai" if sample else "embedded",
        "model": PRIVATE_MODEL_PATH if model == "drift.model" else f"{model}-weights",
        "public_id": public_id,
        "quantization": quantization,
        "base_url": PRIVATE_BASE_URL if sample else None,
        "api_key_env": PRIVATE_KEY_ENV if sample else None,
        "mode": "sample" if sample else "logprobs",
        "api": "chat" if sample else "completions",
        "temperature": 0.7 if sample else 0.0,
        "max_tokens": 32,
        "samples": 1,
    }


def write_params(root: Path, **hub: Any) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["personas"].update({"n": N_PER_SEED, "seeds": list(SEEDS)})
    params["prompts"].update({"questionnaires": list(QUESTIONNAIRES)})
    params["models"] = [
        {k: v for k, v in spec(m).items() if k not in ("samples",) and v is not None}
        for m in MODELS
    ]
    params["leaderboard"] = {"rank_by": "inertia"}
    params["hub"] = {"private": False, **hub}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def parsed_table(model: str, prompts: pd.DataFrame, personas: pd.DataFrame) -> pd.DataFrame:
    index_of = {
        str(r.persona_id): int(r.index) + (0 if r.seed == SEEDS[0] else N_PER_SEED)
        for r in personas.itertuples(index=False)
    }
    m = spec(model)
    probs = np.stack(
        [
            answer(
                model,
                index_of.get(str(pid), -1) if isinstance(pid, str) else -1,
                int(item),
                int(rep),
            )
            for pid, item, rep in zip(
                prompts["persona_id"], prompts["item"], prompts["repeat"], strict=True
            )
        ]
    )
    frame = prompts[
        [
            "prompt_id",
            "condition",
            "persona_id",
            "seed",
            "questionnaire",
            "item",
            "dimension",
            "catch",
            "repeat",
        ]
    ].copy()
    frame.insert(1, "model", model)
    frame.insert(2, "mode", m["mode"])
    frame["sample_index"] = 0
    frame["rating"] = probs.argmax(axis=1) + 1
    for i, col in enumerate(P_COLUMNS):
        frame[col] = probs[:, i]
    frame["letter_mass"] = 0.8 if m["mode"] == "logprobs" else np.nan
    return frame


def responses_table(model: str, parsed: pd.DataFrame) -> pd.DataFrame:
    m = spec(model)
    frame = pd.DataFrame(
        {
            "prompt_id": parsed["prompt_id"],
            "model": model,
            "backend": m["backend"],
            "mode": m["mode"],
            "sample_index": 0,
            "status": "ok",
            "text": ["ABCDEF"[r - 1] for r in parsed["rating"]],
        }
    )
    for i, letter in enumerate("ABCDEF"):
        frame[f"p_{letter}"] = parsed[P_COLUMNS[i]].to_numpy()
    frame["letter_mass"] = parsed["letter_mass"].to_numpy()
    return frame


def build_project(root: Path, *, with_leaderboard: bool = True, **hub: Any) -> Path:
    """Write the whole synthetic project below ``root`` and return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for rel in ("data/questionnaires", "data/schemas"):
        shutil.copytree(REPO / rel, root / rel, dirs_exist_ok=True)
    write_params(root, **hub)
    params = load_params(root / "params.yaml")
    schema = load_schema(root / params.personas.schema_path)
    write_table(
        build_personas(schema, params.personas.n, params.personas.seeds), paths.personas_path(root)
    )
    personas = pd.read_parquet(paths.personas_path(root))
    questionnaires = load_questionnaires(list(QUESTIONNAIRES), root)
    write_table(build_prompts(params.prompts, questionnaires, personas), paths.prompts_path(root))
    prompts = pd.read_parquet(paths.prompts_path(root))

    for model in MODELS:
        parsed = parsed_table(model, prompts, personas)
        write_table(
            pa.Table.from_pandas(parsed, preserve_index=False), paths.parsed_path(model, root)
        )
        write_table(
            pa.Table.from_pandas(responses_table(model, parsed), preserve_index=False),
            paths.responses_path(model, root),
        )
        spec_path = paths.model_specs_dir(root) / f"{model}.json"
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(json.dumps(spec(model), indent=2, sort_keys=True))
        for qid, q in questionnaires.items():
            stem = f"{model}__{qid}"
            metrics = analyze(parsed, personas, q, n_boot=10, confidence=0.9, seed=0)
            out = paths.metrics_dir(root) / f"{stem}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(metrics, indent=2))
            result = cluster_personas(
                persona_item_matrix(parsed, q), personas, ATTRIBUTES, k_max=3, seed=0
            )
            cdir = paths.clusters_dir(root)
            cdir.mkdir(parents=True, exist_ok=True)
            summary = {**result.summary, "model": model, "questionnaire": qid}
            (cdir / f"{stem}.json").write_text(json.dumps(summary, indent=2))
            write_table(
                pa.Table.from_pandas(result.assignments, preserve_index=False),
                cdir / f"{stem}.parquet",
            )
            if qid == "mfq30":  # figures for one questionnaire are enough (and plots are slow)
                plot_macro_distribution(metrics, paths.plots_dir(root) / f"{stem}__macro.png")
                scores = persona_scores_of(parsed, q)
                grid = cohens_d_grid(scores, personas, ATTRIBUTES, list(q.dimensions))
                plot_cohens_d(grid, paths.plots_dir(root) / f"{stem}__cohens_d.png")
    if with_leaderboard:
        metrics_list, clusters_list, models = load_inputs(root)
        frame = build_leaderboard(metrics_list, clusters_list, models, PARAMS_HASH, "inertia", DATE)
        write_leaderboard(frame, paths.leaderboard_dir(root))
    return root


_CACHE: dict[str, Path] = {}


def cached_project(tmp_factory: Any) -> Path:
    """One synthetic project per test session (read-only for the tests that share it)."""
    if "root" not in _CACHE:
        _CACHE["root"] = build_project(tmp_factory.mktemp("synthetic") / "proj")
    return _CACHE["root"]
