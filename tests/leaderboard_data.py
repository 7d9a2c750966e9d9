"""A small synthetic project tree for the leaderboard, Hub and app tests.

The project's own stages run on it, as ``dvc repro`` would run them (personas,
prompts, models, evaluate, parse, analyze, cluster, leaderboard), on real
personas, prompts and questionnaires. Only the model is synthetic: before
``evaluate`` runs, each model's response store is filled with made-up answers
of a known character, so ``evaluate`` sends nothing and everything after it is
the pipeline's own work.

Models (chosen so that the ranking is known in advance):

* ``steady-model`` (logprobs): every persona answers like the baseline, sharply
  peaked at one option -> the highest inertia, zero steerability;
* ``drift.model`` (logprobs; the dot tests name sanitising): peaked answers
  whose peak moves with the persona -> medium inertia, some steerability;
* ``wobbly-model`` (sample mode): one-hot answers spread over all options,
  given as a letter to parse -> the lowest inertia, no letter mass.
"""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from value_inertia.core import paths
from value_inertia.core.config import load_params
from value_inertia.evaluation.runner import plan_requests
from value_inertia.evaluation.store import ResponseStore
from value_inertia.pipeline.analysis import run_analyze, run_cluster
from value_inertia.pipeline.design import run_models, run_personas, run_prompts
from value_inertia.pipeline.evaluation import run_evaluate, run_parse
from value_inertia.pipeline.publishing import run_leaderboard

REPO = Path(__file__).resolve().parents[1]
MODELS = ("steady-model", "drift.model", "wobbly-model")
QUESTIONNAIRES = ("mfq30", "pvqrr")
N_PER_SEED = 4
SEEDS = (111, 333)
PARAMS_HASH = "0123456789ab"
DATE = "2025-01-31"
ATTRIBUTES = ["sex", "age", "religion", "employment"]
KEY_VARIABLE = "WOBBLY_KEY"


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
    params["analyze"].update({"bootstrap": 10, "confidence": 0.9, "convergence_draws": 3})
    params["cluster"].update({"k_max": 3, "color_attribute": "sex"})
    params["leaderboard"] = {"rank_by": "inertia"}
    params["hub"] = {"private": False, **hub}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def fill_store(root: Path, model_name: str) -> None:
    """Answer every request ``evaluate`` will plan for ``model_name``, in its store."""
    params = load_params(root / "params.yaml")
    model = params.model(model_name)
    prompts = pd.read_parquet(paths.prompts_path(root))
    personas = pd.read_parquet(paths.personas_path(root))
    index_of = {
        str(r.persona_id): int(r.index) + (0 if r.seed == SEEDS[0] else N_PER_SEED)
        for r in personas.itertuples(index=False)
    }
    by_id = prompts.set_index("prompt_id")
    _, rows = plan_requests(model, prompts)
    with ResponseStore(paths.store_path(model.name, root)) as store:
        for prompt_id, _, key in rows:
            row = by_id.loc[prompt_id]
            pid = row["persona_id"]
            persona = index_of[str(pid)] if isinstance(pid, str) else -1
            probs = answer(model.name, persona, int(row["item"]), int(row["repeat"]))
            letter = "ABCDEF"[int(probs.argmax())]
            if model.answer_mode.letter_logprobs:
                record = {"text": letter, "probs": probs.tolist(), "letter_mass": 0.8}
            else:
                record = {"text": letter, "probs": None, "letter_mass": None}
            store.put(key, "ok", record)


@contextmanager
def in_project(root: Path) -> Iterator[None]:
    """Run stages in ``root`` as the CLI would (its root, its MLflow store, the API key)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("VALUE_INERTIA_ROOT", str(root))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        mp.setenv(KEY_VARIABLE, "synthetic-not-a-secret")
        yield


def build_project(root: Path, *, with_leaderboard: bool = True, **hub: Any) -> Path:
    """Run the pipeline's stages on the synthetic project below ``root``; return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for rel in ("data/questionnaires", "data/schemas"):
        shutil.copytree(REPO / rel, root / rel, dirs_exist_ok=True)
    write_params(root, **hub)
    with in_project(root):
        params = load_params(root / "params.yaml")
        run_personas(params)
        run_prompts(params)
        run_models(params)
        for model in MODELS:
            fill_store(root, model)
            run_evaluate(params, model, progress=False)
            run_parse(params, model)
            for qid in QUESTIONNAIRES:
                run_analyze(params, model, qid)
                run_cluster(params, model, qid)
        if with_leaderboard:
            run_leaderboard(params)
    return root


_CACHE: dict[str, Path] = {}


def cached_project(tmp_factory: Any) -> Path:
    """One synthetic project per test session (read-only for the tests that share it)."""
    if "root" not in _CACHE:
        _CACHE["root"] = build_project(tmp_factory.mktemp("synthetic") / "proj")
    return _CACHE["root"]
