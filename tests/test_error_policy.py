"""The error policy: every input a user can damage gives one ``error:`` line naming the
file and what to do (exit 2); a run that fails on valid input gives one line, exit 1.

One test per case: a bad or truncated GGUF, a questionnaire id containing ``__``,
stale input tables (analyze, cluster, quality), missing and truncated tables, a
damaged spend file (plan and leaderboard alike), and the run failures' common base.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from value_inertia import cli
from value_inertia.core import paths
from value_inertia.core.config import ConfigError, ModelParams, load_params
from value_inertia.core.errors import InputError, RunFailure, UserError
from value_inertia.core.table_io import read_frame, write_table
from value_inertia.design.personas import build_personas, load_schema
from value_inertia.design.prompts import build_prompts
from value_inertia.design.questionnaires import load_questionnaire, load_questionnaires
from value_inertia.evaluation import cost
from value_inertia.evaluation.backends.embedded import EmbeddedBackend
from value_inertia.evaluation.runner import BudgetReached
from value_inertia.pipeline import publishing as publishing_stages
from value_inertia.pipeline.evaluation import EvaluationFailed
from value_inertia.publishing.board.inputs import load_extras
from value_inertia.publishing.push import PublishError
from value_inertia.scoring.answer_table import P_COLUMNS
from value_inertia.scoring.freshness import check_parsed_matches

MODEL = "gemma3-270m"  # the first model of params.yaml


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    """``value-inertia *argv`` in process: (exit code, the lines on stderr)."""
    with pytest.raises(SystemExit) as info:
        cli.main(list(argv))
    return int(info.value.code or 0), capsys.readouterr().err.strip().splitlines()


# -- a bad or truncated GGUF -------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"GGUF\x03\x00\x00\x00\x02", b"not a model at all " * 100],
    ids=["truncated", "junk"],
)
def test_a_damaged_gguf_is_one_config_error_and_llama_stays_quiet(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], content: bytes
) -> None:
    gguf = tmp_path / "broken.gguf"
    gguf.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        EmbeddedBackend(ModelParams(name="local", model=str(gguf)))
    message = str(info.value)
    assert message.startswith(f"{gguf}: llama.cpp cannot load this GGUF file")
    assert "models[local].model" in message and "\n" not in message
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # llama.cpp's own loader messages went to /dev/null


# -- questionnaire ids ------------------------------------------------------------------


def test_a_questionnaire_id_with_the_separator_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(Path("data/questionnaires/mfq30.yaml").read_text())
    data["id"] = "mfq__30"
    path = tmp_path / "mfq__30.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_questionnaire(path)
    assert str(info.value) == (
        f"{path}: id: questionnaire id 'mfq__30' must be non-empty and must not contain '__'"
    )


def test_params_naming_a_questionnaire_id_with_the_separator_is_refused(project: Path) -> None:
    qdir = project / "data/questionnaires"
    data = yaml.safe_load((qdir / "mfq30.yaml").read_text())
    data["id"] = "mfq__30"
    (qdir / "mfq__30.yaml").write_text(yaml.safe_dump(data))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["prompts"]["questionnaires"] = ["mfq__30"]
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match=r"prompts.questionnaires: questionnaire id 'mfq__30'"):
        load_params(project / "params.yaml")


# -- stale input tables -------------------------------------------------------------------


@pytest.fixture
def answered(project: Path) -> Path:
    """The scratch project with personas and a parsed table that match today's inputs:
    every prompt answered with a one-hot distribution."""
    params = load_params(project / "params.yaml")
    schema = load_schema(project / params.personas.schema_path)
    personas = build_personas(schema, params.personas.n, params.personas.seeds)
    write_table(personas, paths.personas_path(project))
    questionnaires = load_questionnaires(params.prompts.questionnaires, project)
    prompts = build_prompts(params.prompts, questionnaires, personas.to_pandas()).to_pandas()
    parsed = prompts[["prompt_id", "variant", "condition", "persona_id", "questionnaire", "item"]]
    parsed = parsed.assign(**{c: float(i == 3) for i, c in enumerate(P_COLUMNS, start=1)})
    paths.parsed_path(MODEL, project).parent.mkdir(parents=True)
    parsed.to_parquet(paths.parsed_path(MODEL, project))
    return project


def _inputs(project: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        pd.read_parquet(paths.parsed_path(MODEL, project)),
        pd.read_parquet(paths.personas_path(project)),
    )


def test_matching_tables_pass_the_check(answered: Path) -> None:
    parsed, personas = _inputs(answered)
    q = load_questionnaires(["mfq30"], answered)["mfq30"]
    check_parsed_matches(parsed, Path("parsed.parquet"), q, personas, Path("personas.parquet"))


def test_personas_drawn_again_make_analyze_stop_with_one_line(
    answered: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = load_params(answered / "params.yaml")
    schema = load_schema(answered / params.personas.schema_path)
    write_table(build_personas(schema, 2, [999]), paths.personas_path(answered))
    code, err = run_main(capsys, "analyze", "-m", MODEL, "-q", "mfq30")
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: {paths.parsed_path(MODEL, answered)}: 2 persona(s) are not")
    assert str(paths.personas_path(answered)) in err[0]
    assert err[0].endswith("re-run `dvc repro` to rebuild them")


def test_an_edited_questionnaire_makes_cluster_stop_with_one_line(
    answered: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qfile = answered / "data/questionnaires/mfq30.yaml"
    data = yaml.safe_load(qfile.read_text())
    new = max(it["number"] for it in data["items"]) + 1
    data["items"].append({**data["items"][0], "number": new})
    data["dimensions"][next(iter(data["dimensions"]))].append(new)
    qfile.write_text(yaml.safe_dump(data, sort_keys=False))
    code, err = run_main(capsys, "cluster", "-m", MODEL, "-q", "mfq30")
    assert code == 2 and len(err) == 1
    assert err[0] == (
        f"error: {paths.parsed_path(MODEL, answered)}: no answers to item(s) {new} of "
        "data/questionnaires/mfq30.yaml; the tables are stale: re-run `dvc repro` to rebuild them"
    )


def test_a_parsed_table_without_the_questionnaire_makes_quality_stop_with_one_line(
    answered: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parsed, _ = _inputs(answered)
    parsed.assign(questionnaire="pvqrr").to_parquet(paths.parsed_path(MODEL, answered))
    code, err = run_main(capsys, "quality", "-m", MODEL, "-q", "mfq30")
    assert (code, err) == (
        2,
        [
            f"error: {paths.parsed_path(MODEL, answered)}: no answers to questionnaire 'mfq30'; "
            "the tables are stale: re-run `dvc repro` to rebuild them"
        ],
    )


def test_unknown_items_and_old_columns_are_named(answered: Path) -> None:
    parsed, personas = _inputs(answered)
    q = load_questionnaires(["mfq30"], answered)["mfq30"]
    moved = parsed.assign(item=parsed["item"].where(parsed["item"] != 1, 99))
    with pytest.raises(InputError, match=r"p.parquet: item\(s\) 99 not in .*; no answers to item"):
        check_parsed_matches(moved, Path("p.parquet"), q, personas)
    with pytest.raises(InputError, match=r"p.parquet: no column\(s\) p_6 \(written by an older"):
        check_parsed_matches(parsed.drop(columns="p_6"), Path("p.parquet"), q, personas)


# -- missing and truncated tables ---------------------------------------------------------


def test_a_missing_table_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_frame(tmp_path / "parsed.parquet", "parse")
    assert not isinstance(info.value, ConfigError)
    assert str(info.value) == f"{tmp_path / 'parsed.parquet'}: not found; run the parse stage first"


def test_a_missing_parsed_table_is_one_line_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_main(capsys, "analyze", "-m", MODEL, "-q", "mfq30")
    assert (code, err) == (
        2,
        [f"error: {paths.parsed_path(MODEL, project)}: not found; run the parse (model {MODEL}) "
         "stage first"],
    )  # fmt: skip


# -- damaged spend files ----------------------------------------------------------------


def test_a_damaged_spend_file_is_the_same_error_in_plan_and_leaderboard(tmp_path: Path) -> None:
    spend = paths.spend_path("m", tmp_path)
    spend.parent.mkdir(parents=True)
    spend.write_text('{"model": "m", "tokens_in": 12')  # cut short
    with pytest.raises(InputError) as in_plan:
        cost.read_spend("m", tmp_path)
    with pytest.raises(InputError) as in_board:
        load_extras(tmp_path)
    assert str(in_plan.value) == str(in_board.value)
    assert str(in_plan.value).startswith(f"{spend}: not valid JSON (damaged file?)")
    assert str(in_plan.value).endswith("run `value-inertia evaluate -m m` again to rewrite it")
    spend.write_text(json.dumps([1, 2]))
    with pytest.raises(InputError, match="expected a JSON object"):
        cost.read_spend("m", tmp_path)


def test_no_spend_file_is_no_spend(tmp_path: Path) -> None:
    assert cost.read_spend("m", tmp_path) is None
    assert load_extras(tmp_path) == ({}, {})


# -- run failures ---------------------------------------------------------------------------


def test_run_failures_share_one_base_that_is_not_a_user_error() -> None:
    for failure in (EvaluationFailed, PublishError, BudgetReached):
        assert issubclass(failure, RunFailure) and not issubclass(failure, UserError)


@pytest.mark.parametrize(
    "failure",
    [
        EvaluationFailed("m: 9 of 10 responses failed"),
        PublishError("push to org/x failed"),
    ],
)
def test_a_run_failure_is_one_line_exit_1(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    failure: RunFailure,
) -> None:
    def fail(*args: object, **kwargs: object) -> Path:
        raise failure

    monkeypatch.setattr(publishing_stages, "run_leaderboard", fail)
    code, err = run_main(capsys, "leaderboard")
    assert (code, err) == (1, [f"error: {failure}"])
