"""The evaluation session: one opener (key, store, weights check, backend) for evaluate
and the judge."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import remote, set_models
from value_inertia.core import paths
from value_inertia.core.config import ConfigError, Params, load_params
from value_inertia.evaluation.backends.base import Result
from value_inertia.evaluation.batch import BatchBackend
from value_inertia.evaluation.runner import plan_requests
from value_inertia.evaluation.session import evaluation_session
from value_inertia.evaluation.store import ResponseStore, StoreError
from value_inertia.pipeline.design import run_personas, run_prompts
from value_inertia.pipeline.evaluation import run_evaluate, run_parse

REPO = Path(__file__).resolve().parents[1]
REMOTE = {"name": "remote", "backend": "openai", "base_url": "http://127.0.0.1:9/v1"}


def params_with(*models: dict) -> Params:
    base = Params().model_dump(by_alias=True)
    base["models"] = list(models)
    return Params.model_validate(base, context={"root": REPO})


@pytest.fixture(autouse=True)
def _sha_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the weights-sha cache


def test_a_missing_key_stops_before_the_store_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SESSION_TEST_KEY", raising=False)
    params = params_with({**REMOTE, "api_key_env": "SESSION_TEST_KEY"})
    with (
        pytest.raises(ConfigError, match="SESSION_TEST_KEY is not set"),
        evaluation_session(params, params.models[0], tmp_path),
    ):
        pass
    assert not (tmp_path / "data" / "store").exists()


def test_the_store_is_checked_against_the_weights(tmp_path: Path) -> None:
    old, new = tmp_path / "old.gguf", tmp_path / "new.gguf"
    old.write_bytes(b"GGUF old weights")
    new.write_bytes(b"GGUF new weights")
    first = params_with({"name": "m", "model": str(old)})
    with evaluation_session(first, first.models[0], tmp_path) as session:
        assert session.store.path == tmp_path / "data" / "store" / "m.sqlite"
        assert session.store.get_meta("weights_sha256")  # recorded on first use
    other = params_with({"name": "m", "model": str(new)})
    with (
        pytest.raises(StoreError, match="weights sha256"),
        evaluation_session(other, other.models[0], tmp_path),
    ):
        pass


def test_the_backend_is_made_when_asked_and_follows_the_transport(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []

    def fake_make_backend(model, params):
        made.append(model.name)
        return "online backend"

    monkeypatch.setattr("value_inertia.evaluation.session.make_backend", fake_make_backend)
    params = params_with(REMOTE, {**REMOTE, "name": "batched", "transport": "batch"})
    remote, batched = params.models
    with evaluation_session(params, remote, tmp_path) as session:
        assert made == []  # nothing is made until a request must be sent
        assert session.backend() == "online backend" and made == ["remote"]
    with evaluation_session(params, batched, tmp_path) as session:
        backend = session.backend()
        assert isinstance(backend, BatchBackend) and backend.store is session.store
    # the judge: online, whatever the model's transport
    with evaluation_session(params, batched, tmp_path, online=True) as session:
        assert session.backend() == "online backend" and made == ["remote", "batched"]


def test_the_parse_stage_asks_its_judge_through_a_session(
    mini_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The judge's session: its key is checked, and it answers online (one request per
    answer) even when its own transport is ``batch``."""
    answerer = remote("http://127.0.0.1:9/v1", name="answerer", mode="sample")
    judge = remote("http://127.0.0.1:9/v1", name="judge", mode="sample", temperature=0.0)
    set_models(mini_project, answerer, {**judge, "transport": "batch", "api_key_env": "JUDGE_KEY"})
    data = yaml.safe_load((mini_project / "params.yaml").read_text())
    data["parse"]["judge"] = "judge"
    (mini_project / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    params = load_params(mini_project / "params.yaml")
    run_personas(params)
    run_prompts(params)
    prompts = pd.read_parquet(paths.prompts_path(mini_project))
    _, rows = plan_requests(params.model("answerer"), prompts)
    with ResponseStore(paths.store_path("answerer", mini_project)) as store:
        for _, _, key in rows:  # answers the rules cannot read
            store.put(key, "ok", {"text": "no idea", "probs": None, "letter_mass": None})
    run_evaluate(params, "answerer", progress=False)  # everything stored: nothing sent

    made: list[str] = []

    class AnswersA:
        def run(self, requests, on_result) -> None:
            for r in requests:
                on_result(Result(key=r.key, status="ok", text="A"))

        def close(self) -> None:
            pass

    def online(model, params):
        made.append(model.name)
        return AnswersA()

    monkeypatch.setattr("value_inertia.evaluation.session.make_backend", online)
    monkeypatch.delenv("JUDGE_KEY", raising=False)
    with pytest.raises(ConfigError, match="JUDGE_KEY is not set"):
        run_parse(params, "answerer")
    assert made == [] and not paths.store_path("judge", mini_project).exists()
    monkeypatch.setenv("JUDGE_KEY", "not-a-secret")
    parsed = pd.read_parquet(run_parse(params, "answerer"))
    assert made == ["judge"]  # online, not the Batch API
    assert parsed["parser"].eq("judge").all() and len(parsed) == len(prompts)
    shown_at_a = [int(r[0]) for r in parsed["letter_ratings"]]
    assert parsed["rating"].tolist() == shown_at_a
