"""A corpus of broken inputs: each gets one clear error line, exit 2, and no output is touched."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import make_project, run_cli, set_models, write_mini_questionnaire
from tests.reliability.conftest import error_lines, remote
from value_inertia.core.config import load_params
from value_inertia.evaluation.runner import plan_requests
from value_inertia.evaluation.store import ResponseStore
from value_inertia.pipeline.analysis import run_analyze
from value_inertia.pipeline.design import run_personas, run_prompts
from value_inertia.pipeline.evaluation import run_evaluate, run_parse

PARAMS = "params.yaml"
QUESTIONNAIRE = "data/questionnaires/mini.yaml"
SCHEMA = "data/schemas/persona_attributes.yaml"
UNSET = "VI_RELIABILITY_NEVER_SET_KEY"
BASE_PROBS = [0.05, 0.1, 0.2, 0.3, 0.25, 0.1]


@pytest.fixture(scope="module")
def good_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project where personas, prompts, evaluate, parse and analyze have all run.

    The store is filled with made-up answers, so evaluate sends nothing (no server).
    """
    project = make_project(
        tmp_path_factory.mktemp("bad-input") / "proj",
        personas={"n": 3, "seeds": [111]},
        analyze={"bootstrap": 20, "convergence_draws": 3},
    )
    write_mini_questionnaire(project)
    data = yaml.safe_load((project / PARAMS).read_text())
    data["prompts"]["questionnaires"] = ["mini"]
    (project / PARAMS).write_text(yaml.safe_dump(data, sort_keys=False))
    set_models(project, remote("http://127.0.0.1:9/v1"))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)  # MLflow puts its artifacts under the working directory
        mp.setenv("VALUE_INERTIA_ROOT", str(project))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
        params = load_params(project / PARAMS)
        run_personas(params)
        run_prompts(params)
        prompts = pd.read_parquet(project / "data/prompts/prompts.parquet")
        requests, _ = plan_requests(params.models[0], prompts)
        with ResponseStore(project / "data/store/remote.sqlite") as store:
            for i, r in enumerate(requests):
                probs = BASE_PROBS[i % 6 :] + BASE_PROBS[: i % 6]
                store.put(r.key, "ok", {"text": "D", "probs": probs, "letter_mass": 0.8})
        run_evaluate(params, "remote", progress=False)
        run_parse(params, "remote")
        run_analyze(params, "remote", "mini")
    return project


def _outputs(project: Path) -> dict[str, bytes]:
    """Every stage output (all of data/ but the input folders)."""
    out = {}
    for path in sorted((project / "data").rglob("*")):
        rel = path.relative_to(project).as_posix()
        if path.is_file() and not rel.startswith(("data/questionnaires/", "data/schemas/")):
            out[rel] = path.read_bytes()
    return out


def _edit_yaml(rel: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(project: Path) -> None:
        data = yaml.safe_load((project / rel).read_text())
        change(data)
        (project / rel).write_text(yaml.safe_dump(data, sort_keys=False))

    return apply


def _model(**kw: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        models = data["models"]  # a list, or a mapping keyed by name
        spec = next(iter(models.values())) if isinstance(models, dict) else models[0]
        for key, value in kw.items():
            if value is None:
                spec.pop(key)
            else:
                spec[key] = value

    return change


def _set(path: str, value: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        *parents, last = path.split(".")
        node = data
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _truncate(rel: str) -> Callable[[Path], None]:
    def apply(project: Path) -> None:
        data = (project / rel).read_bytes()
        (project / rel).write_bytes(data[: len(data) // 2])

    return apply


def _write(rel: str, text: str) -> Callable[[Path], None]:
    def apply(project: Path) -> None:
        (project / rel).write_text(text)

    return apply


EVALUATE = ("evaluate", "-m", "remote", "--no-progress")

# (case id, stage argv, how to break the input, file named in the error, what else it names)
CASES: list[tuple[str, tuple[str, ...], Callable[[Path], None], str, list[str]]] = [
    (
        "params-unknown-key",
        ("personas",),
        _edit_yaml(PARAMS, _set("personas.colour", "red")),
        PARAMS,
        ["personas.colour", "unknown key"],
    ),
    (
        "params-wrong-type",
        ("personas",),
        _edit_yaml(PARAMS, _set("personas.n", "ten")),
        PARAMS,
        ["personas.n", "integer"],
    ),
    (
        "params-negative-n",
        ("personas",),
        _edit_yaml(PARAMS, _set("personas.n", -5)),
        PARAMS,
        ["personas.n", "greater than or equal to 1"],
    ),
    (
        "params-unknown-questionnaire",
        ("prompts",),
        _edit_yaml(PARAMS, _set("prompts.questionnaires", ["mini", "mfq99"])),
        PARAMS,
        ["prompts.questionnaires", "'mfq99'"],
    ),
    (
        "params-unknown-backend",
        EVALUATE,
        _edit_yaml(PARAMS, _model(backend="vllm")),
        PARAMS,
        ["models[remote].backend", "'embedded' or 'openai'"],
    ),
    (
        "params-openai-without-base-url",
        EVALUATE,
        _edit_yaml(PARAMS, _model(base_url=None)),
        PARAMS,
        ["models[remote]", "base_url is required"],
    ),
    (
        "params-api-key-env-unset",
        EVALUATE,
        _edit_yaml(PARAMS, _model(api_key_env=UNSET)),
        PARAMS,
        ["models[remote].api_key_env", UNSET, "not set"],
    ),
    (
        "params-unknown-model-name",
        ("evaluate", "-m", "nope", "--no-progress"),
        lambda project: None,
        PARAMS,
        ["models", "'nope'", "remote"],
    ),
    (
        "params-not-yaml",
        ("personas",),
        _write(PARAMS, "personas:\n  n: [1, 2\nprompts: {}\n"),
        PARAMS,
        ["not valid YAML", "line"],
    ),
    (
        "questionnaire-missing-field",
        ("prompts",),
        _edit_yaml(QUESTIONNAIRE, lambda q: q.pop("citation")),
        QUESTIONNAIRE,
        ["citation", "Field required"],
    ),
    (
        "questionnaire-duplicate-item",
        ("prompts",),
        _edit_yaml(QUESTIONNAIRE, _set("items.1.number", 1)),
        QUESTIONNAIRE,
        ["item 1", "duplicate item number"],
    ),
    (
        "questionnaire-key-names-unknown-item",
        ("prompts",),
        _edit_yaml(QUESTIONNAIRE, lambda q: q["dimensions"]["Harm"].append(99)),
        QUESTIONNAIRE,
        ["dimensions.Harm", "item 99"],
    ),
    (
        "questionnaire-item-outside-the-key",
        ("prompts",),
        _edit_yaml(QUESTIONNAIRE, lambda q: q["dimensions"]["Harm"].remove(17)),
        QUESTIONNAIRE,
        ["item 17", "not in any dimension"],
    ),
    (
        "questionnaire-five-labels",
        ("prompts",),
        _edit_yaml(QUESTIONNAIRE, lambda q: q["blocks"]["relevance"]["options"].pop()),
        QUESTIONNAIRE,
        ["blocks.relevance.options", "6"],
    ),
    (
        "questionnaire-broken-at-analyze",
        ("analyze", "-m", "remote", "-q", "mini"),
        _edit_yaml(QUESTIONNAIRE, _set("items.1.number", 1)),
        QUESTIONNAIRE,
        ["item 1", "duplicate item number"],
    ),
    (
        "parsed-table-truncated",
        ("analyze", "-m", "remote", "-q", "mini"),
        _truncate("data/parsed/remote.parquet"),
        "data/parsed/remote.parquet",
        ["not a readable Parquet table", "run the parse (model remote) stage again"],
    ),
    (
        "prompts-table-not-parquet",
        EVALUATE,
        _write("data/prompts/prompts.parquet", "PAR1 not really"),
        "data/prompts/prompts.parquet",
        ["not a readable Parquet table", "run the prompts stage again"],
    ),
    (
        "metrics-json-corrupt",
        ("leaderboard",),
        _write("data/metrics/remote__mini.json", '{"model": "remote", "questionnaire": '),
        "data/metrics/remote__mini.json",
        ["not valid JSON", "line 1"],
    ),
    (
        "params-misspelt-key",
        ("personas",),
        _edit_yaml(PARAMS, _set("personas.seed", [1])),
        PARAMS,
        ["personas.seed", "unknown key; did you mean 'seeds'?"],
    ),
    (
        "schema-missing-field",
        ("personas",),
        _edit_yaml(SCHEMA, lambda s: s["attributes"][1].pop("template")),
        SCHEMA,
        ["attributes[age]", "template"],
    ),
    (
        "schema-duplicate-attribute",
        ("personas",),
        _edit_yaml(SCHEMA, lambda s: s["attributes"].append(dict(s["attributes"][0]))),
        SCHEMA,
        ["attributes", "sex", "duplicate attribute name"],
    ),
    (
        "schema-one-category",
        ("personas",),
        _edit_yaml(SCHEMA, lambda s: s["attributes"][0]["categories"].pop()),
        SCHEMA,
        ["attributes[sex]", "at least two"],
    ),
]


@pytest.mark.parametrize(
    ("stage", "breakage", "named_file", "names"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_input_gets_one_clear_error_and_touches_no_output(
    good_project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stage: tuple[str, ...],
    breakage: Callable[[Path], None],
    named_file: str,
    names: list[str],
) -> None:
    project = tmp_path / "proj"
    shutil.copytree(good_project, project)
    monkeypatch.delenv(UNSET, raising=False)
    assert {"data/personas/personas.parquet", "data/responses/remote.parquet"} <= set(
        _outputs(project)
    )
    breakage(project)
    before = _outputs(project)  # the damaged file included: the failing stage touches nothing

    result = run_cli(project, *stage)

    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert str(project / named_file) in line, line
    for fragment in names:
        assert fragment in line, (fragment, line)
    assert result.stdout == ""
    assert _outputs(project) == before  # nothing already computed was overwritten
