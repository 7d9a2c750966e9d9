from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, make_project, run_cli
from value_inertia.core.config import ConfigError, load_params


def write_params(project: Path, mutate) -> Path:
    path = project / "params.yaml"
    data = yaml.safe_load(path.read_text())
    mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_repository_params_are_valid() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.personas.n >= 1
    assert params.models[0].backend == "embedded"
    assert params.prompts.questionnaires == ["mfq30"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["personas"].update(colour="red"), "personas.colour: unknown key"),
        (lambda d: d["personas"].update(n="ten"), "personas.n: Input should be a valid integer"),
        (
            lambda d: d["personas"].update(n=0),
            "personas.n: Input should be greater than or equal to 1",
        ),
        (
            lambda d: d["personas"].update(seeds=[111, 2.5]),
            "personas.seeds[1]: Input should be a valid integer",
        ),
        (lambda d: d["prompts"].update(repeats=0), "prompts.repeats"),
        (
            lambda d: d["prompts"].update(questionnaires=["mfq99"]),
            "unknown questionnaire id 'mfq99'",
        ),
        (lambda d: d["models"]["gemma3-270m"].update(backend="gpt"), "models[gemma3-270m].backend"),
        (lambda d: d["models"]["gemma3-270m"].update(backend="openai"), "base_url is required"),
        (lambda d: d.update(extra_section={}), "extra_section: unknown key"),
    ],
)
def test_bad_params_name_the_key(tmp_path: Path, mutate, expected: str) -> None:
    project = make_project(tmp_path)
    path = write_params(project, mutate)
    with pytest.raises(ConfigError) as err:
        load_params(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["personas"].update(seed=[1]),
            "personas.seed: unknown key; did you mean 'seeds'?",
        ),
        (
            lambda d: d["models"]["gemma3-270m"].update(temprature=0.1),
            "models[gemma3-270m].temprature: unknown key; did you mean 'temperature'?",
        ),
        (lambda d: d.update(promts={}), "promts: unknown key; did you mean 'prompts'?"),
        (
            lambda d: d["personas"].update(colour="red"),
            "personas.colour: unknown key; allowed: n, schema, seeds",
        ),
    ],
)
def test_unknown_key_suggests_the_closest_valid_one(tmp_path: Path, mutate, expected) -> None:
    path = write_params(make_project(tmp_path), mutate)
    with pytest.raises(ConfigError) as err:
        load_params(path)
    assert f"{path}: {expected}" in str(err.value).splitlines()


def test_unknown_key_in_a_questionnaire_suggests_the_field(tmp_path: Path) -> None:
    from value_inertia.design.questionnaires import load_questionnaire

    data = yaml.safe_load((REPO / "data/questionnaires/mfq30.yaml").read_text())
    data["items"][0]["txt"] = data["items"][0].pop("text")
    path = tmp_path / "mfq30.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_questionnaire(path)
    assert f"{path}: items[item 1].txt: unknown key; did you mean 'text'?" in str(err.value)


def test_cli_exits_2_with_one_clear_line_and_keeps_outputs(tmp_path: Path) -> None:
    project = make_project(tmp_path, personas={"n": 2})
    ok = run_cli(project, "personas")
    assert ok.returncode == 0, ok.stderr
    out = project / "data/personas/personas.parquet"
    before = out.read_bytes()
    write_params(project, lambda d: d["personas"].update(n=-3))
    bad = run_cli(project, "personas")
    assert bad.returncode == 2
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, bad.stderr
    assert "params.yaml: personas.n" in errors[0]
    assert "Traceback" not in bad.stderr
    assert out.read_bytes() == before


def test_missing_api_key_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path)
    monkeypatch.delenv("VI_TEST_UNSET_KEY", raising=False)
    path = write_params(
        project,
        lambda d: d["models"].update(
            remote={
                "backend": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "model": "m",
                "api_key_env": "VI_TEST_UNSET_KEY",
            }
        ),
    )
    params = load_params(path)
    with pytest.raises(ConfigError, match="VI_TEST_UNSET_KEY is not set"):
        params.model("remote").api_key()
