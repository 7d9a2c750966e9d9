"""`value-inertia plan` counts exactly what `evaluate` sends, for params with -S overrides.

The evaluate side is the real evaluate stage (:func:`value_inertia.pipeline.evaluation.run_evaluate`
after the real personas and prompts stages wrote their tables) with a backend that
answers instantly and counts what it was sent; the plan side never reads those tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from tests.conftest import make_project, run_cli
from tests.openai_stub import CompletionsStub
from value_inertia.core.config import ConfigError, load_params
from value_inertia.core.yamlio import apply_overrides
from value_inertia.evaluation import cost, plan
from value_inertia.evaluation.backends.base import Request, Result
from value_inertia.evaluation.plan import Measured, build_plans, plan_model, render_table
from value_inertia.pipeline.design import run_personas, run_prompts
from value_inertia.pipeline.evaluation import run_evaluate


# -- -S overrides ----------------------------------------------------------------------
def test_overrides_set_nested_keys_models_by_name_add_and_delete() -> None:
    data = {
        "personas": {"n": 2, "seeds": [111]},
        "models": {"a": {"temperature": 0.0}},
        "evaluate": {"n_ctx": 2048},
    }
    apply_overrides(
        data,
        [
            "personas.n=6",
            "personas.seeds=[111,333]",
            "models.a.temperature=1.0",
            "+models.a.samples=3",
            "params.yaml:evaluate.n_ctx=512",
            "~evaluate.n_ctx",
        ],
    )
    assert data == {
        "personas": {"n": 6, "seeds": [111, 333]},
        "models": {"a": {"temperature": 1.0, "samples": 3}},
        "evaluate": {},
    }
    as_list = {"models": [{"name": "a", "mode": "logprobs"}]}
    assert apply_overrides(as_list, ["models.a.mode=sample"])["models"][0]["mode"] == "sample"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("personas.nn=3", "no key 'nn'"),
        ("personas.n", "expected key=value"),
        ("models.nobody.mode=sample", "no key 'nobody'"),
        ("~personas.x", "no key 'x' to delete"),
    ],
)
def test_bad_override_is_one_clear_error(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides({"personas": {"n": 2}, "models": {"a": {}}}, [override])


# -- plan == evaluate ---------------------------------------------------------------------
class CountingBackend:
    """Answers every request at once; ``sent`` collects what it was asked."""

    sent: list[str] = []

    def run(self, requests: Sequence[Request], on_result) -> None:
        for r in requests:
            CountingBackend.sent.append(r.key)
            on_result(
                Result(
                    key=r.key,
                    status="ok",
                    text="A",
                    probs=[1 / 6] * 6,
                    letter_mass=1.0,
                    tokens_in=10,
                    tokens_out=3,
                    latency_s=0.5,
                )
            )

    def close(self) -> None:
        pass


VARIATIONS = [
    [],  # the default params
    [
        "personas.n=3",
        "prompts.repeats=2",
        "models.smollm2-135m-sample.samples=2",
        "prompts.questionnaires=[mfq30,pvqrr]",
    ],
    [
        "prompts.questionnaires=[mfq30]",
        "models.gemma3-270m.variants=[original]",
        "+models.smollm2-135m.variants=[original, shuffled]",
        "prompts.baseline_repeats=3",
    ],
]


@pytest.fixture
def default_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # the repository's params as they are (variants kept: both are named)
    proj = make_project(tmp_path / "p", prompts={"variants": ["original", "shuffled"]})
    monkeypatch.chdir(proj)
    monkeypatch.setenv("VALUE_INERTIA_ROOT", str(proj))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{proj / 'mlflow.db'}")
    # no engine: an instant counting backend, a characters/4 token estimate
    monkeypatch.setattr(
        "value_inertia.evaluation.session.make_backend", lambda m, p: CountingBackend()
    )
    monkeypatch.setattr("value_inertia.evaluation.session.check_store_weights", lambda s, m: None)
    monkeypatch.setattr(cost, "token_counter", lambda m, stored=(): cost.TokenCounter())
    monkeypatch.setattr(plan, "token_counter", lambda m, stored=(): cost.TokenCounter())
    return proj


def test_plan_counts_what_evaluate_sends_for_default_and_overridden_params(
    default_project: Path,
) -> None:
    base = yaml.safe_load((default_project / "params.yaml").read_text())
    seen_counts = []
    for overrides in VARIATIONS:
        # planned with the previous variation's prompts.parquet still on disk (stale)
        (default_project / "params.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
        params = load_params(default_project / "params.yaml", overrides)
        plans = {p.model: p for p in build_plans(params, default_project)}
        # what `dvc exp run -S ...` does: write the params, run the stages
        data = apply_overrides(json.loads(json.dumps(base)), overrides)
        (default_project / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        params = load_params(default_project / "params.yaml")
        run_personas(params)
        run_prompts(params)
        for model in params.models:
            CountingBackend.sent = []
            run_evaluate(params, model.name, progress=False)
            p = plans[model.name]
            assert len(CountingBackend.sent) == p.requests_to_send, (overrides, model.name)
            assert len(set(CountingBackend.sent)) == len(CountingBackend.sent)
            assert p.requests_stored + p.requests_to_send == p.requests_total
            assert p.variants == params.variants_for(model)
        seen_counts.append({m: p.requests_total for m, p in plans.items()})
    # the default run: each model answers its own variants (gemma both, 96 MFQ-30 prompts each)
    assert seen_counts[0] == {"gemma3-270m": 192, "smollm2-135m": 192, "smollm2-135m-sample": 96}
    # 3 personas x 89 items x 2 repeats + 89 baseline: in logprobs mode the repeats of an
    # original prompt share one request, a shuffled repeat has its own letter order
    logprobs = [seen_counts[1].pop(m) for m in ("gemma3-270m", "smollm2-135m")]
    assert seen_counts[1] == {"smollm2-135m-sample": 2 * (3 * 89 * 2 + 89)}
    # two repeats of a shuffled prompt that drew the same letter order (1 in 720) are
    # one request: expected about 267 / 720 such pairs
    full = (3 * 89 + 89) + (3 * 89 * 2 + 89)
    assert all(full - 3 <= n <= full for n in logprobs), logprobs
    # MFQ-30 only, 2 personas, the baseline asked 3 times
    assert seen_counts[2] == {
        "gemma3-270m": 2 * 32 + 32,
        "smollm2-135m": (2 * 32 + 32) + (2 * 32 + 3 * 32),
        "smollm2-135m-sample": 2 * 32 + 3 * 32,
    }


def test_plan_cli_takes_s_overrides_and_ignores_a_stale_prompts_table(
    default_project: Path,
) -> None:
    params = load_params(default_project / "params.yaml")
    run_personas(params)
    run_prompts(params)  # the default prompts table, now stale for -S personas.n=6
    result = run_cli(
        default_project,
        "plan",
        "--json",
        "-m",
        "smollm2-135m",
        "-S",
        "personas.n=6",
        "-S",
        "prompts.questionnaires=[mfq30]",
    )
    assert result.returncode == 0, result.stderr
    [p] = json.loads(result.stdout)
    assert p["requests_total"] == 2 * (6 * 32 + 32)  # original and shuffled
    bad = run_cli(default_project, "plan", "-S", "personas.nn=6")
    assert bad.returncode == 2 and "no key 'nn'" in bad.stderr


# -- sample-mode estimates come from the model's own measurements ---------------------------
def _sample_model():
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    return params.model("smollm2-135m-sample")


def test_sample_mode_time_and_tokens_come_from_the_models_stored_answers() -> None:
    model = _sample_model()
    requests = [Request(key=f"k{i}", payload={"prompt": "x" * 40}) for i in range(100)]
    measured = Measured(latencies=[8.0, 12.0], tokens_out=[30, 50])
    p = plan_model(model, requests, {}, measured=measured)
    # 100 requests at the measured 10 s each, 40 output tokens each
    assert p.wall_s == pytest.approx(1000.0)
    assert p.tokens_out == 4000
    assert "measured on 2 stored answers" in p.wall_source
    assert "mean of 2 stored answers" in p.tokens_out_source


def test_sample_mode_without_measurement_says_so_instead_of_a_logprobs_rate() -> None:
    model = _sample_model()
    requests = [Request(key=f"k{i}", payload={"prompt": "x" * 40}) for i in range(10)]
    p = plan_model(model, requests, {}, measured=Measured())
    assert p.wall_s is None and "no measurement" in p.wall_source
    assert p.tokens_out == 10 * model.max_tokens and "no measurement" in p.tokens_out_source
    assert "time       unknown" in render_table([p])


def test_plan_equals_what_a_real_evaluate_sends_to_a_server(mini_project: Path) -> None:
    """Counted at the server: a sample-mode model with repeats, samples and two variants."""
    stub = CompletionsStub()
    try:
        data = yaml.safe_load((mini_project / "params.yaml").read_text())
        data["prompts"]["variants"] = ["original", "shuffled"]
        data["prompts"]["repeats"] = 2
        data["models"] = {
            "remote": {
                "backend": "openai",
                "model": "stub",
                "base_url": stub.base_url,
                "mode": "sample",
                "api": "completions",
                "temperature": 1.0,
                "max_tokens": 8,
                "samples": 2,
                "variants": ["original", "shuffled"],
            }
        }
        (mini_project / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        planned = run_cli(mini_project, "plan", "--json")
        assert planned.returncode == 0, planned.stderr
        [p] = json.loads(planned.stdout)
        for stage in ("personas", "prompts"):
            assert run_cli(mini_project, stage).returncode == 0
        done = run_cli(mini_project, "evaluate", "-m", "remote", "--no-progress")
        assert done.returncode == 0, done.stderr
    finally:
        stub.close()
    # 2 variants x (2 personas x 4 items x 2 repeats + 4 baseline) x 2 samples
    assert p["requests_to_send"] == p["requests_total"] == 2 * (2 * 4 * 2 + 4) * 2
    assert stub.received == p["requests_to_send"]
