"""MLflow tracking of stage runs (in-process, a scratch sqlite store), the summary file,
the `validate` check and the `models` mapping; the DVC side is in test_pipeline_dvc.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import make_project, run_cli
from tests.quality_tables import minimal_quality_report
from value_inertia.analysis.quality.report_model import QualityReport
from value_inertia.analysis.summary import summarize, verdict_flags, write_summary
from value_inertia.analysis.variants.report_model import VariantReport
from value_inertia.core.config import ConfigError, load_params
from value_inertia.core.results import MetricsResult
from value_inertia.tracking.experiment import EXPERIMENT, tracking_uri
from value_inertia.tracking.parent_run import POINTER
from value_inertia.tracking.provenance import dvc_invocation
from value_inertia.tracking.runs import stage_run


@pytest.fixture
def tracked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    proj = make_project(tmp_path / "proj")
    monkeypatch.chdir(proj)
    monkeypatch.setenv("VALUE_INERTIA_ROOT", str(proj))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{proj / 'mlflow.db'}")
    for var in ("DVC_STAGE", "DVC_EXP_NAME", "DVC_ROOT"):
        monkeypatch.delenv(var, raising=False)
    spec = {"name": "m1", "backend": "embedded", "model": "gemma3-270m-q4-k-m"}
    (proj / "data/models").mkdir(parents=True)
    (proj / "data/models/m1.json").write_text(json.dumps(spec))
    return proj


def _runs(proj: Path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{proj / 'mlflow.db'}")
    return mlflow, mlflow.search_runs(experiment_names=[EXPERIMENT])


def test_stage_runs_of_one_dvc_execution_share_a_parent(
    tracked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVC_EXP_NAME", "my-exp")
    for stage, q in (("analyze", "mfq30"), ("cluster", "mfq30")):
        monkeypatch.setenv("DVC_STAGE", f"{stage}@m1-{q}")
        with stage_run(stage, {stage: {"seed": 0}}, "m1", questionnaire=q) as ml:
            ml.log_metrics({"inertia.Harm": 0.25, "overall.inertia": 0.5, "skipped": None})
    mlflow, runs = _runs(tracked)
    parents = runs[runs["tags.pipeline"].notna()]
    assert list(parents["tags.mlflow.runName"]) == ["my-exp"]
    assert list(parents.status) == ["FINISHED"]
    stages = runs[runs["tags.pipeline"].isna()]
    assert set(stages["tags.mlflow.parentRunId"]) == set(parents.run_id)
    assert set(stages["tags.mlflow.runName"]) == {"m1 / mfq30 · analyze", "m1 / mfq30 · cluster"}
    assert set(stages["tags.dvc_stage"]) == {"analyze@m1-mfq30", "cluster@m1-mfq30"}
    assert set(stages["tags.dvc_exp"]) == {"my-exp"}
    assert set(stages["tags.result"]) == {"m1 / mfq30"}
    found = mlflow.search_runs(
        experiment_names=[EXPERIMENT], filter_string="tags.result = 'm1 / mfq30'"
    )
    assert set(found.run_id) == set(stages.run_id)  # the stage runs, not their parent
    # each run logs only what it was given
    params = {c for c in runs.columns if c.startswith("params.")}
    assert params == {"params.analyze.seed", "params.cluster.seed"}
    for _, run in stages.iterrows():
        assert run[f"params.{run['tags.stage']}.seed"] == "0"
    assert "metrics.skipped" not in runs.columns
    # the experiment opens on its runs in MLflow 3's UI
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    # one external logged model per model, with the metrics linked to it
    models = mlflow.search_logged_models(
        experiment_ids=[experiment.experiment_id], output_format="list"
    )
    assert [m.name for m in models] == ["m1"]
    assert models[0].tags["mlflow.model.isExternal"] == "true"
    assert {m.key for m in models[0].metrics} == {"inertia.Harm", "overall.inertia"}


def test_outside_dvc_a_run_has_no_parent_and_a_new_execution_gets_a_new_parent(
    tracked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with stage_run("personas", {"personas": {"n": 1}}):
        pass
    monkeypatch.setenv("DVC_STAGE", "personas")
    with stage_run("personas", {"personas": {"n": 1}}):
        pass
    pointer = tracked / POINTER
    data = json.loads(pointer.read_text())
    data["key"] = "another dvc process"
    pointer.write_text(json.dumps(data))
    with stage_run("personas", {"personas": {"n": 1}}):
        pass
    _, runs = _runs(tracked)
    parents = runs[runs["tags.pipeline"].notna()]
    stages = runs[runs["tags.pipeline"].isna()]
    assert len(parents) == 2 and len(stages) == 3
    assert stages["tags.mlflow.parentRunId"].isna().sum() == 1
    assert all(name.startswith("repro ") for name in parents["tags.mlflow.runName"])


def test_an_interrupted_run_logs_what_it_finished(tracked: Path) -> None:
    done = {"answers_ok": 0}
    with (
        pytest.raises(KeyboardInterrupt),
        stage_run("evaluate", {"evaluate": {}}, "m1", partial=lambda: done),
    ):
        done["answers_ok"] = 226
        raise KeyboardInterrupt
    _, runs = _runs(tracked)
    assert list(runs.status) == ["KILLED"]
    assert list(runs["metrics.answers_ok"]) == [226]


def test_tracking_root_follows_dvc_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert tracking_uri(tmp_path / "temp-workspace") == f"sqlite:///{tmp_path}/mlflow.db"
    assert dvc_invocation() is None  # pytest does not run under DVC


def test_summary_holds_only_the_headline_numbers(tmp_path: Path) -> None:
    metrics = {
        "model": "m1",
        "questionnaire": "mfq30",
        "mode": "logprobs",
        "protocol_hash": "abc",
        "n_personas": 3,
        "parse_rate": 1.0,
        "overall": {
            "inertia": 0.4,
            "steerability": 0.1,
            "top2": 0.6,
            "inertia_ci": [0.3, 0.5],
            "steerability_ci": [None, None],
        },
        "dimensions": {"Harm": {"inertia": 0.2, "steerability": 0.05, "top2": 0.5, "mrat": 0.1}},
        "levels": {"big": {f"group{i}": {"inertia": 0.1} for i in range(100)}},
    }
    quality = minimal_quality_report(
        model="m1", verdict="low letter mass; too few personas", debiased_inertia=0.35
    )
    shift = {"overall": {"inertia": -0.05, "inertia_ci": [-1, 1]}}
    shuffled = {"variant": "shuffled", "shift": shift}
    variants = {"model": "m1", "questionnaire": "mfq30", "variants": {"shuffled": shuffled}}
    typed = (
        MetricsResult.model_validate(metrics),
        QualityReport.model_validate(quality),
        VariantReport.model_validate(variants),
    )
    assert summarize(*typed) == {
        "inertia": 0.4,
        "inertia_ci_low": 0.3,
        "inertia_ci_high": 0.5,
        "steerability": 0.1,
        "inertia_debiased": 0.35,
        "verdict_flags": 2,
        "shift_inertia_shuffled": -0.05,
    }
    # no quality report (yet), no variants: only what the metrics file has
    assert summarize(typed[0]) == {
        "inertia": 0.4,
        "inertia_ci_low": 0.3,
        "inertia_ci_high": 0.5,
        "steerability": 0.1,
    }
    assert verdict_flags("reliable") == 0 and verdict_flags(None) is None
    mdir, qdir = tmp_path / "data/metrics", tmp_path / "data/quality"
    mdir.mkdir(parents=True)
    qdir.mkdir(parents=True)
    (mdir / "m1__mfq30.json").write_text(json.dumps(metrics))
    (qdir / "m1__mfq30.json").write_text(json.dumps({**quality, "debiased_inertia": None}))
    out = json.loads(write_summary("m1", "mfq30", tmp_path).read_text())
    assert out == {
        "inertia": 0.4,
        "inertia_ci_low": 0.3,
        "inertia_ci_high": 0.5,
        "steerability": 0.1,
        "verdict_flags": 2,
    }


def test_models_may_be_keyed_by_name(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    path = project / "params.yaml"
    data = yaml.safe_load(path.read_text())
    assert isinstance(data["models"], dict)  # the repository's params: what DVC iterates
    data["models"]["other"] = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    # each model is named after its key, in the file's order
    assert [m.name for m in load_params(path).models] == list(data["models"])
    data["models"]["other"]["name"] = "else"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="other: name 'else' differs from its key"):
        load_params(path)
    del data["models"]["other"]["name"]
    data["models"]["other"]["temperature"] = 9
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"models\[other\]\.temperature"):
        load_params(path)


def test_validate_names_the_bad_key_and_writes_a_params_independent_marker(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path, personas={"n": 2})
    ok = run_cli(project, "validate")
    assert ok.returncode == 0, ok.stderr
    marker = project / "data/validated/params.json"
    before = marker.read_bytes()
    project.joinpath("params.yaml").write_text(
        project.joinpath("params.yaml").read_text().replace("n: 2", "n: 3")
    )
    assert run_cli(project, "validate").returncode == 0
    assert marker.read_bytes() == before  # a valid change does not touch downstream stages
    data = yaml.safe_load((project / "params.yaml").read_text())
    data["cluster"]["color_attribute"] = "shoe_size"
    (project / "params.yaml").write_text(yaml.safe_dump(data))
    bad = run_cli(project, "validate")
    assert bad.returncode == 2
    assert "cluster.color_attribute: 'shoe_size' is not a persona attribute" in bad.stderr


def test_readme_snippet_compares_the_newest_results_within_one_protocol(tracked: Path) -> None:
    import re
    import time

    for name in ("m2", "m3"):
        spec = {"name": name, "backend": "embedded", "model": "gemma3-270m-q4-k-m"}
        (tracked / f"data/models/{name}.json").write_text(json.dumps(spec))
    # protocol p1 (e.g. n=4) for three models, m1 twice; then m1 alone under p2 (n=2)
    for model, protocol, value in (
        ("m1", "p1", 0.1),
        ("m2", "p1", 0.2),
        ("m3", "p1", 0.3),
        ("m1", "p1", 0.4),
        ("m1", "p2", 0.9),
    ):
        with stage_run(
            "analyze",
            {},
            model,
            questionnaire="mfq30",
            variant="original",
            protocol_hash=protocol,
        ) as ml:
            ml.log_metrics({"inertia.Harm": value})
        time.sleep(0.02)  # distinct start times
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    [snippet] = [
        block
        for block in re.findall(r"```python\n(.*?)```", readme, re.S)
        if "search_runs" in block
    ]
    namespace: dict = {}
    exec(snippet.replace("sqlite:///mlflow.db", f"sqlite:///{tracked / 'mlflow.db'}"), namespace)
    latest = namespace["latest"].set_index("tags.model")
    assert namespace["protocol"] == "p1"
    assert set(latest["tags.protocol_hash"]) == {"p1"}
    assert latest["metrics.inertia.Harm"].to_dict() == {"m1": 0.4, "m2": 0.2, "m3": 0.3}
