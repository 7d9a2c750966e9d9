"""Evaluation at scale: pinned store keys, model identity, fail fast, plan, budget, spend."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import free_port, remote, run_cli, set_models
from tests.fault_proxy import FaultProxy
from value_inertia.core.config import ModelParams, load_params
from value_inertia.evaluation.runner import plan_requests, run_evaluation
from value_inertia.evaluation.store import ResponseStore, request_key
from value_inertia.pipeline.design import run_personas, run_prompts

COMPLETION = {"prompt": "Question: How relevant is harm?\nAnswer:"}
CHAT = {"messages": [{"role": "user", "content": "Pick A-F."}]}

# computed on main's code (commit 34815ae) before base_url left the identity: the keys of
# the embedded Gemma default index answers users already have, so they must never move
PINNED = [
    ({}, COMPLETION, 0, "8419e836b5821732a7d43b239441577e29dc1bd8dc01a3539021ae498cb39ff0"),
    ({}, COMPLETION, 1, "c4d0567ea608dce1368c211e7eb27e5004f6e9370377163ee4402473b5d1a94e"),
    ({}, CHAT, 0, "402d24b370a3dd6c7a6946d376af25f2f6acdf40fa758308e65cd7a7df98fbac"),
    ({}, CHAT, 1, "5b22afe5194f66955701d71f0574a0711f6f216a9f1466228d757f51fb62550c"),
    # sample mode moved on deliberately (issue 19): its answers are now drawn without
    # top-k/top-p/min-p truncation, so the sampler settings joined the key and answers
    # drawn with llama-cpp-python's truncating defaults (keys in SAMPLE_BEFORE) are not reused
    (
        {"mode": "sample", "temperature": 0.7, "max_tokens": 16, "samples": 2},
        COMPLETION,
        0,
        "b726dcdea856d6ee95c4179b18d73e51325dbebcaeeb1a59d77b71c3aee846bd",
    ),
    (
        {"mode": "sample", "temperature": 0.7, "max_tokens": 16, "samples": 2},
        COMPLETION,
        1,
        "4f882a0ac286ba99559f6e47bbd6ad9bec8baccebf21711f7082073bf2af2131",
    ),
    ({"api": "chat"}, CHAT, 0, "92dde942106910a65b979c8425fab38f4550663536c45d4eaefa51d3dd07bdf9"),
]
# the sample-mode keys above before the sampler settings joined the identity (issue 19)
SAMPLE_BEFORE = [
    "528fef809a717c88bcc374150814cbeaecabf0df6409f1c5a4dad7aff3f1730e",
    "6a094f731a0f50803a51fb6c57be0aff8c0c7bb716330939f43482f96ddbcfa6",
]
# the key an openai model had before (identity with base_url), for the migration test
LEGACY_OPENAI = "ee6000bcf8f838bea79eef0f2d4f78064814cc1749cd3fd01c327055a4ca0845"


@pytest.mark.parametrize(("overrides", "payload", "sample", "expected"), PINNED)
def test_embedded_store_keys_are_pinned(overrides, payload, sample, expected) -> None:
    model = ModelParams(name="gemma3-270m", **overrides)
    assert request_key(model.identity(), payload, sample) == expected


def test_truncated_sample_answers_are_not_reused() -> None:
    model = ModelParams(name="gemma3-270m", mode="sample", temperature=0.7, max_tokens=16)
    keys = [request_key(model.identity(), COMPLETION, s) for s in (0, 1)]
    assert not set(keys) & set(SAMPLE_BEFORE)
    without_sampler = {k: v for k, v in model.identity().items() if k != "sampler"}
    assert [request_key(without_sampler, COMPLETION, s) for s in (0, 1)] == SAMPLE_BEFORE


def test_the_address_does_not_identify_an_openai_model() -> None:
    spec = {"name": "m", "backend": "openai", "model": "gpt-4o-mini"}
    a = ModelParams(**spec, base_url="http://127.0.0.1:8000/v1")
    b = ModelParams(**spec, base_url="http://localhost:9001/v1/")
    assert a.identity() == b.identity() and "base_url" not in a.identity()
    # the served id and a declared revision do
    assert ModelParams(**{**spec, "model": "gpt-4o"}, base_url=a.base_url).identity() != (
        a.identity()
    )
    r1 = ModelParams(**spec, base_url=a.base_url, revision="2024-07-18")
    assert r1.identity()["revision"] == "2024-07-18" and r1.identity() != a.identity()
    assert r1.legacy_identities() == []  # no old answer is known to come from that revision
    # prices, budget and transport never move a key
    priced = ModelParams(
        **spec,
        base_url=a.base_url,
        price_input_per_mtok=0.15,
        price_output_per_mtok=0.6,
        budget_usd=3,
        transport="batch",
    )
    assert priced.identity() == a.identity()


def test_legacy_keys_with_base_url_are_carried_over(tmp_path: Path) -> None:
    spec = {"name": "m", "backend": "openai", "model": "gpt-4o-mini"}
    model = ModelParams(**spec, base_url="https://api.openai.com/v1")
    legacy = [i for i in model.legacy_identities() if i["base_url"] == model.base_url]
    assert request_key(legacy[0], COMPLETION, 0) == LEGACY_OPENAI
    prompts = pd.DataFrame(
        {
            "prompt_id": ["p0", "p1"],
            "completion_text": [COMPLETION["prompt"], "Question: other\nAnswer:"],
            "prefix_chars": [0, 0],
        }
    )
    requests, _ = plan_requests(model, prompts)
    path = tmp_path / "m.sqlite"
    with ResponseStore(path) as store:
        store.put(LEGACY_OPENAI, "ok", {"text": "A", "probs": [1, 0, 0, 0, 0, 0], "tokens_in": 9})
        sent: list[str] = []

        class Recorder:
            def run(self, reqs, on_result):
                from value_inertia.evaluation.backends.base import Result

                for r in reqs:
                    sent.append(r.key)
                    on_result(Result(key=r.key, status="ok", text="B", tokens_in=5))

            def close(self):
                pass

        summary = run_evaluation(model, prompts, store, Recorder, progress=False)
        assert summary.migrated == 1 and summary.cached == 1 and summary.sent == 1
        assert sent == [requests[1].key]
        status, record = store.get_many([requests[0].key])[requests[0].key]
        assert status == "ok" and record["text"] == "A"
        assert record["extra"]["legacy_key"] == LEGACY_OPENAI
        # a move to another spelling of the address: nothing is sent again
        moved = model.model_copy(update={"base_url": "http://localhost:1234/v1"})
        again = run_evaluation(moved, prompts, store, Recorder, progress=False)
        assert again.sent == 0 and again.cached == 2


# -- fail fast ------------------------------------------------------------------------
def _project_with(project: Path, *models: dict) -> None:
    set_models(project, *models)
    params = load_params(project / "params.yaml")
    run_personas(params)
    run_prompts(params)


def test_nothing_listening_stops_after_one_request(mini_project: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    _project_with(mini_project, remote(dead, max_retries=6, concurrency=4))
    result = run_cli(mini_project, "evaluate", "-m", "remote", "--no-progress")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "1 of 12 responses failed and 11 were not sent" in errors[0]
    assert "connection refused x1" in errors[0] and "stopped early" in errors[0]
    assert "ConnectError" in errors[0]  # the example message says what happened
    with ResponseStore(mini_project / "data/store/remote.sqlite") as store:
        records = list(store.iter_records())
    # one probe, not retried (a refused connection cannot fix itself), nothing else sent
    assert len(records) == 1 and records[0][1] == "failed"
    assert records[0][2]["attempts"] == 1


def test_rejected_key_stops_and_says_why(mini_project: Path, llama_server) -> None:
    proxy = FaultProxy(llama_server.base_url, faults=["401"] * 12)
    try:
        _project_with(mini_project, remote(proxy.base_url, concurrency=2))
        result = run_cli(mini_project, "evaluate", "-m", "remote", "--no-progress")
    finally:
        proxy.close()
    assert result.returncode == 1
    assert proxy.received == 1 and proxy.forwarded == 0
    assert re.search(r"HTTP 401 x1 \(e\.g\. 'HTTP 401", result.stderr), result.stderr


def test_limit_is_a_smoke_test_and_the_rest_follows(mini_project: Path, llama_server) -> None:
    proxy = FaultProxy(llama_server.base_url)
    try:
        _project_with(mini_project, remote(proxy.base_url))
        smoke = run_cli(mini_project, "evaluate", "-m", "remote", "--no-progress", "--limit", "3")
        assert smoke.returncode == 0, smoke.stderr
        assert "smoke test passed: 3 prompts" in smoke.stdout
        assert proxy.forwarded == 3
        assert not (mini_project / "data/responses/remote.parquet").exists()
        full = run_cli(mini_project, "evaluate", "-m", "remote", "--no-progress")
        assert full.returncode == 0, full.stderr
        assert "12 requests: 3 already stored, 9 sent" in full.stderr
        assert proxy.forwarded == 12
    finally:
        proxy.close()


# -- plan, spend, budget ------------------------------------------------------------------
def _plan(project: Path, *args: str) -> list[dict]:
    result = run_cli(project, "plan", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_plan_embedded_counts_tokens_exactly(mini_project: Path) -> None:
    # no prompts table yet: the plan builds the prompts in memory, writes nothing
    plans = {p["model"]: p for p in _plan(mini_project)}
    assert not (mini_project / "data/prompts").exists()
    params = load_params(mini_project / "params.yaml")
    assert list(plans) == [m.name for m in params.models]
    # a completion-prompt model and a chat-template one, both answering in logprobs mode
    checked = ["gemma3-270m", "smollm2-135m"]
    assert [params.model(name).api for name in checked] == ["completions", "chat"]
    for name in checked:
        before = plans[name]
        assert before["requests_to_send"] == before["requests_total"] == 12
        assert before["tokens_in_exact"]
        assert before["tokens_in_source"].startswith("GGUF tokenizer")
        assert before["tokens_out"] == 12 and before["cost_usd"] == 0.0
    table = run_cli(mini_project, "plan")
    assert table.returncode == 0 and "12 to send of 12" in table.stdout
    for stage in ("personas", "prompts"):
        assert run_cli(mini_project, stage).returncode == 0
    for name in checked:
        done = run_cli(mini_project, "evaluate", "-m", name, "--no-progress")
        assert done.returncode == 0, done.stderr
        [after] = _plan(mini_project, "-m", name)
        assert after["requests_to_send"] == 0 and after["requests_stored"] == 12
        responses = pd.read_parquet(mini_project / f"data/responses/{name}.parquet")
        # the tokenizer's count before the run is what the model counted during it
        assert after["check"]["tokens_in_recorded"] == int(responses.tokens_in.sum())
        assert after["check"]["tokens_in_estimated"] == plans[name]["tokens_in"]
        assert after["check"]["tokens_in_error"] == 0
        spend = json.loads((mini_project / f"data/spend/{name}.json").read_text())
        assert spend == {
            "model": name,
            "tokens_in": int(responses.tokens_in.sum()),
            "tokens_out": 0,
            "cost_usd": 0.0,
            "requests": 12,
        }
        assert after["recorded"] == spend


PRICES = {"price_input_per_mtok": 1000.0, "price_output_per_mtok": 2000.0}


def test_budget_stops_cleanly_and_a_raised_budget_continues(
    mini_project: Path, llama_server
) -> None:
    proxy = FaultProxy(llama_server.base_url)
    try:
        _project_with(mini_project, remote(proxy.base_url, **PRICES))
        [plan] = _plan(mini_project)
        assert not plan["tokens_in_exact"] and "estimate" in plan["tokens_in_source"]
        per_request = plan["cost_usd"] / plan["requests_to_send"]
        budget = round(per_request * 4.5, 6)
        _project_with(mini_project, remote(proxy.base_url, **PRICES, budget_usd=budget))
        first = run_cli(mini_project, "evaluate", "-m", "remote", "--no-progress")
        assert first.returncode == 1, first.stderr
        [line] = [x for x in first.stderr.splitlines() if x.startswith("error:")]
        assert "budget reached" in line and "requests remain" in line and "Raise" in line
        sent_first = proxy.forwarded
        assert 1 <= sent_first < 12
        spend = json.loads((mini_project / "data/spend/remote.json").read_text())
        assert spend["requests"] == sent_first
        assert spend["cost_usd"] == pytest.approx(
            (spend["tokens_in"] * 1000 + spend["tokens_out"] * 2000) / 1e6
        )
        assert spend["cost_usd"] <= budget
        # raise the budget: the run goes on from where it stopped, nothing is sent twice
        _project_with(mini_project, remote(proxy.base_url, **PRICES, budget_usd=100.0))
        second = run_cli(mini_project, "evaluate", "-m", "remote", "--no-progress")
        assert second.returncode == 0, second.stderr
        assert proxy.forwarded == 12
        assert f"{sent_first} already stored, {12 - sent_first} sent" in second.stderr
        [after] = _plan(mini_project)
        assert after["requests_to_send"] == 0
        assert after["recorded"]["requests"] == 12
        # the estimate was calibrated on the stored answers; its error is reported
        assert after["check"]["requests"] == 12
        assert after["check"]["tokens_in_error"] is not None
    finally:
        proxy.close()


def test_budget_needs_prices() -> None:
    with pytest.raises(ValueError, match="budget_usd needs price_input_per_mtok"):
        ModelParams(
            name="m", backend="openai", model="x", base_url="http://127.0.0.1:1/v1", budget_usd=1
        )
