"""Evaluation against real parts: the embedded Gemma and a real llama.cpp server."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import remote, run_cli, set_models
from tests.fault_proxy import FaultProxy
from value_inertia.core.config import ModelParams, load_params
from value_inertia.evaluation.backends import make_backend
from value_inertia.evaluation.backends.base import Request, distribution_from_logprobs, letter_of
from value_inertia.evaluation.backends.embedded import EmbeddedBackend
from value_inertia.evaluation.runner import materialise_responses, run_evaluation
from value_inertia.evaluation.store import ResponseStore, request_key
from value_inertia.pipeline.design import run_personas, run_prompts

LETTERS = "ABCDEF"


def prompts_for(project: Path) -> pd.DataFrame:
    params = load_params(project / "params.yaml")
    run_personas(params)
    run_prompts(params)
    return pd.read_parquet(project / "data/prompts/prompts.parquet")


def evaluate_in_process(project: Path, model: ModelParams, prompts: pd.DataFrame):
    params = load_params(project / "params.yaml")
    with ResponseStore(project / "data/store" / f"{model.name}.sqlite") as store:
        summary = run_evaluation(
            model, prompts, store, lambda: make_backend(model, params), progress=False
        )
        table, counts = materialise_responses(model, prompts, store)
    return summary, table.to_pandas(), counts


def p_matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame[[f"p_{c}" for c in LETTERS]].to_numpy()


# -- letter mapping ------------------------------------------------------------
def test_letter_tokens_are_recognised() -> None:
    for token, letter in [
        (" A", "A"),
        ("A", "A"),
        ("(B", "B"),
        ("**C", "C"),
        ("D.", "D"),
        (" F)", "F"),
    ]:
        assert letter_of(token) == letter
    for token in [" G", "a", " And", "Apple", " ", "", "1"]:
        assert letter_of(token) is None
    probs, mass = distribution_from_logprobs(
        {" A": math.log(0.3), "A": math.log(0.1), " C": math.log(0.2), " The": math.log(0.4)}
    )
    assert mass == pytest.approx(0.6)
    assert probs == pytest.approx([0.4 / 0.6, 0, 0.2 / 0.6, 0, 0, 0])
    assert distribution_from_logprobs({" G": -0.1}) == (None, 0.0)


# -- embedded ------------------------------------------------------------------
@pytest.mark.slow  # loads the embedded model
def test_embedded_logprobs_are_distributions_and_deterministic(mini_project: Path) -> None:
    prompts = prompts_for(mini_project)
    model = load_params().models[0]
    _, first, counts = evaluate_in_process(mini_project, model, prompts)
    assert counts == {"ok": len(prompts)}
    p = p_matrix(first)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert (p >= 0).all()
    assert ((first.letter_mass > 0.01) & (first.letter_mass <= 1.0)).all()
    assert (first.text.isin(list(LETTERS))).all()
    # a fresh backend, prompts in reverse order, no store: identical numbers
    backend = EmbeddedBackend(model)
    results = []
    backend.run(
        [
            Request(key=str(i), payload={"prompt": r.completion_text}, prefix_chars=r.prefix_chars)
            for i, r in enumerate(prompts.itertuples())
        ][::-1],
        results.append,
    )
    again = np.array([r.probs for r in sorted(results, key=lambda r: int(r.key))])
    assert np.array_equal(again, p)


@pytest.mark.slow  # loads the embedded model
def test_embedded_sample_mode_generates_text(mini_project: Path) -> None:
    prompts = prompts_for(mini_project).head(3)
    model = ModelParams(name="g", mode="sample", samples=2, max_tokens=4, temperature=0.8)
    _, frame, counts = evaluate_in_process(mini_project, model, prompts)
    assert counts == {"ok": 6}
    assert sorted(frame.sample_index.unique()) == [0, 1]
    assert frame.text.str.len().gt(0).all()
    assert frame.tokens_out.between(1, 4).all()
    assert np.isnan(p_matrix(frame)).all()


# -- openai-compatible server ------------------------------------------------------
@pytest.mark.parametrize("api", ["completions", "chat"])
def test_openai_logprobs_against_real_server(mini_project: Path, llama_server, api: str) -> None:
    prompts = prompts_for(mini_project)
    model = ModelParams(**remote(llama_server.base_url, api=api))
    summary, frame, counts = evaluate_in_process(mini_project, model, prompts)
    assert counts == {"ok": len(prompts)}
    assert summary.sent == len(prompts) and summary.failed == 0
    assert (frame.tokens_in > 20).all()
    answered = frame[frame.letter_mass > 0]
    if api == "completions":
        # the base model puts real mass on the letters after "Answer:"
        assert len(answered) == len(frame)
    else:
        # chat answers may start elsewhere, but an empty selection would check nothing below
        assert len(answered) > 0
    assert np.allclose(p_matrix(answered).sum(axis=1), 1.0)
    unanswered = frame[frame.letter_mass == 0]
    assert np.isnan(p_matrix(unanswered)).all()


def test_openai_completions_matches_embedded_distribution(mini_project: Path, llama_server) -> None:
    """Same GGUF, same prompt: the server's top-20 logprobs and our logits agree."""
    prompts = prompts_for(mini_project).head(4)
    _, served, _ = evaluate_in_process(
        mini_project, ModelParams(**remote(llama_server.base_url)), prompts
    )
    _, local, _ = evaluate_in_process(mini_project, load_params().models[0], prompts)
    assert np.abs(p_matrix(served) - p_matrix(local)).max() < 0.05


def test_openai_sample_mode_falls_back_from_n(mini_project: Path, llama_server) -> None:
    prompts = prompts_for(mini_project).head(2)
    proxy = FaultProxy(llama_server.base_url)
    try:
        model = ModelParams(
            **remote(
                proxy.base_url,
                mode="sample",
                samples=3,
                max_tokens=5,
                temperature=0.7,
                concurrency=1,
            )
        )
        summary, frame, counts = evaluate_in_process(mini_project, model, prompts)
    finally:
        proxy.close()
    assert counts == {"ok": 6}
    assert summary.sent == 6
    # llama.cpp's server answers one choice for n=3: the first request asked n=3, then single
    assert proxy.forwarded_bodies[0].get("n") == 3
    assert all("n" not in b for b in proxy.forwarded_bodies[1:])
    assert proxy.forwarded == 1 + 2 + 3
    assert frame.text.str.len().gt(0).all()


def test_retries_on_faults_and_records_failures(mini_project: Path, llama_server) -> None:
    prompts = prompts_for(mini_project)
    faults = ["429", "500", "reset", "truncated", "malformed", "timeout"]
    # the client times out at 30 s and the injected timeout answers after 35 s: a real
    # answer of the loaded server (one CPU core among other work) stays well inside 30 s
    proxy = FaultProxy(llama_server.base_url, faults=faults, slow_s=35)
    try:
        model = ModelParams(**remote(proxy.base_url, concurrency=1, timeout_s=30, max_retries=6))
        start = time.monotonic()
        summary, frame, counts = evaluate_in_process(mini_project, model, prompts)
        elapsed = time.monotonic() - start
    finally:
        proxy.close()
    assert counts == {"ok": len(prompts)}
    # every injected fault was retried; a real answer slower than 30 s on a heavily loaded
    # machine is retried too, and counted the same way
    assert summary.retried >= len(faults), (
        proxy.injected,
        frame.attempts.tolist(),
        frame.error.tolist(),
    )
    assert proxy.injected == {f: 1 for f in faults}
    assert frame.attempts.sum() == len(prompts) + summary.retried
    assert elapsed >= 1.0  # Retry-After: 1 was honoured

    # a request that keeps failing is recorded as failed with its error, never dropped
    proxy = FaultProxy(llama_server.base_url, faults=["503"] * 3)
    try:
        model = ModelParams(**remote(proxy.base_url, name="flaky", concurrency=1, max_retries=2))
        summary, frame, counts = evaluate_in_process(mini_project, model, prompts.head(2))
    finally:
        proxy.close()
    assert counts == {"failed": 1, "ok": 1}
    failed = frame[frame.status == "failed"].iloc[0]
    assert "HTTP 503" in failed.error and failed.attempts == 3
    assert summary.failed == 1 and summary.done == 1


def _wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_run_resumes_without_resending(mini_project: Path, llama_server, sig) -> None:
    prompts = prompts_for(mini_project)
    proxy = FaultProxy(llama_server.base_url)
    set_models(mini_project, remote(proxy.base_url, concurrency=1))
    model = load_params().models[0]
    env = {**os.environ, "VALUE_INERTIA_ROOT": str(mini_project)}
    cmd = [sys.executable, "-m", "value_inertia", "evaluate", "-m", "remote", "--no-progress"]
    try:
        proc = subprocess.Popen(cmd, cwd=mini_project, env=env, stderr=subprocess.PIPE, text=True)
        _wait_for(lambda: proxy.forwarded >= 5, 120)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), err
        if sig == signal.SIGINT:
            assert "finished work is kept" in err
        store = mini_project / "data/store/remote.sqlite"
        with sqlite3.connect(store) as conn:
            done_first = {k for (k,) in conn.execute("SELECT key FROM responses WHERE status='ok'")}
        assert 4 <= len(done_first) < len(prompts)
        _wait_for(lambda: proxy.in_flight == 0, 60)  # a killed run's last request may land late
        sent_first = proxy.forwarded
        second = subprocess.run(cmd, cwd=mini_project, env=env, capture_output=True, text=True)
        assert second.returncode == 0, second.stderr
    finally:
        proxy.close()
    identity = model.identity()
    resent = [
        b
        for b in proxy.forwarded_bodies[sent_first:]
        if request_key(identity, {"prompt": b["prompt"]}, 0) in done_first
    ]
    assert resent == []
    assert proxy.forwarded - sent_first == len(prompts) - len(done_first)
    frame = pd.read_parquet(mini_project / "data/responses/remote.parquet")
    assert (frame.status == "ok").all() and len(frame) == len(prompts)


@pytest.mark.slow  # loads the embedded model
def test_second_run_sends_nothing_and_unrelated_params_keep_keys(mini_project: Path) -> None:
    prompts = prompts_for(mini_project)
    model = load_params().models[0]
    first, _, _ = evaluate_in_process(mini_project, model, prompts)
    assert first.sent == len(prompts)
    tweaked = model.model_copy(update={"concurrency": 7, "timeout_s": 5.0, "max_retries": 1})
    again, _, _ = evaluate_in_process(mini_project, tweaked, prompts)
    assert again.sent == 0 and again.cached == len(prompts)
    hotter = model.model_copy(update={"temperature": 0.5})
    changed, _, _ = evaluate_in_process(mini_project, hotter, prompts.head(2))
    assert changed.sent == 2


def test_mlflow_run_has_params_metrics_and_no_secret(mini_project: Path, llama_server) -> None:
    canary = "sk-canary-5d41402abc4b2a76b9719d911017c592"
    set_models(mini_project, remote(llama_server.base_url, api_key_env="VI_CANARY_KEY"))
    for stage in ("personas", "prompts"):
        assert run_cli(mini_project, stage).returncode == 0
    result = run_cli(mini_project, "evaluate", "-m", "remote", env={"VI_CANARY_KEY": canary})
    assert result.returncode == 0, result.stderr
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{mini_project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["value-inertia"], output_format="list")
    run = next(r for r in runs if r.data.tags.get("stage") == "evaluate")
    assert run.data.tags["dvc_stage"] == "evaluate@remote"
    assert run.data.params["model.base_url"] == llama_server.base_url
    assert run.data.params["model.api_key_env"] == "VI_CANARY_KEY"
    assert run.data.metrics["requests_sent"] == 12
    assert run.data.metrics["requests_failed"] == 0
    assert run.data.metrics["throughput_rps"] > 0
    assert {"personas", "prompts", "evaluate"} <= {r.data.tags.get("stage") for r in runs}
    for path in mini_project.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
    assert canary not in result.stderr + result.stdout
