"""Repeats are independent draws: one request and one store key per repeat and sample."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.test_evaluate import evaluate_in_process
from value_inertia.core.config import ModelParams, load_params
from value_inertia.evaluation.runner import payload_for, plan_requests
from value_inertia.evaluation.store import request_key
from value_inertia.pipeline.design import run_personas, run_prompts
from value_inertia.scoring.answer_table import parse_responses


def prompts_with_repeats(project: Path, repeats: int) -> pd.DataFrame:
    import yaml

    params_file = project / "params.yaml"
    data = yaml.safe_load(params_file.read_text())
    data["prompts"]["repeats"] = repeats
    data["prompts"]["variants"] = ["original"]  # a shuffled repeat is another prompt
    models = data["models"]
    for model in models.values() if isinstance(models, dict) else models:
        model.pop("variants", None)
    params_file.write_text(yaml.safe_dump(data, sort_keys=False))
    params = load_params(params_file)
    run_personas(params)
    run_prompts(params)
    return pd.read_parquet(project / "data/prompts/prompts.parquet")


def test_sample_mode_repeats_are_distinct_draws_and_rerun_sends_nothing(
    mini_project: Path,
) -> None:
    prompts = prompts_with_repeats(mini_project, 3)
    persona = prompts[prompts.condition == "persona"]
    prompts = persona[persona.persona_id == persona.persona_id.iloc[0]]  # 4 items x 3 repeats
    model = ModelParams(name="g", mode="sample", temperature=1.0, max_tokens=6, samples=1)
    summary, frame, counts = evaluate_in_process(mini_project, model, prompts)
    assert counts == {"ok": 12} and summary.sent == 12
    frame = frame.merge(prompts[["prompt_id", "item", "repeat"]], on="prompt_id")
    per_item = frame.groupby("item")
    assert (per_item["request_key"].nunique() == 3).all()
    assert (per_item["repeat"].nunique() == 3).all()
    assert frame.text.nunique() > 1  # independent draws at temperature 1 differ
    # repeat 0 keeps the key it had before repeats were draws (nothing paid for is lost)
    first = prompts[prompts.repeat == 0].iloc[0]
    key0 = request_key(model.identity(), payload_for(model, first), 0)
    assert key0 in set(frame.request_key)
    again, _, _ = evaluate_in_process(mini_project, model, prompts)
    assert again.sent == 0 and again.cached == 12


def test_samples_and_repeats_combine_and_logprobs_collapse(mini_project: Path) -> None:
    prompts = prompts_with_repeats(mini_project, 2)
    sampled = ModelParams(name="g", mode="sample", temperature=1.0, samples=3)
    requests, rows = plan_requests(sampled, prompts)
    assert len(rows) == len(prompts) * 3
    n_repeat_rows = int((prompts.repeat == 1).sum())
    assert len(requests) == len(rows)  # 2 repeats x 3 samples: 6 draws per pair
    assert sorted({r.sample_index for r in requests}) == list(range(6))
    # logprobs: a repeat adds nothing, so the repeats share one request (openly)
    logprobs = ModelParams(name="g", mode="logprobs")
    requests, rows = plan_requests(logprobs, prompts)
    assert len(rows) == len(prompts)
    assert len(requests) == len(prompts) - n_repeat_rows
    assert {r.sample_index for r in requests} == {0}


def test_parse_keeps_one_row_per_logprobs_request(mini_project: Path) -> None:
    prompts = prompts_with_repeats(mini_project, 2)
    model = ModelParams(name="g", mode="logprobs")
    prompts = prompts[prompts.condition == "persona"].head(8)
    _, frame, _ = evaluate_in_process(mini_project, model, prompts)
    parsed = parse_responses(frame, prompts)
    assert len(parsed) == frame.request_key.nunique() == 4
    assert set(parsed["repeat"]) == {0}


def test_sample_mode_defaults_and_logprobs_identity_unchanged() -> None:
    sampled = ModelParams(name="s", mode="sample")
    assert (sampled.temperature, sampled.max_tokens) == (1.0, 256)
    assert ModelParams(name="s", mode="sample", temperature=0.3).temperature == 0.3
    logprobs = ModelParams(name="g")
    assert (logprobs.temperature, logprobs.max_tokens) == (0.0, 32)
    # the logprobs identity (part of every store key) is what it was
    assert logprobs.identity() == {
        "backend": "embedded",
        "model": "gemma3-270m-q4-k-m",
        "base_url": None,
        "mode": "logprobs",
        "api": "completions",
        "temperature": 0.0,
        "max_tokens": 1,
        "top_logprobs": 20,
    }
