"""`dvc repro` and `dvc exp run` end to end on a small copy of the project (embedded model).

One module-scoped project runs the whole pipeline once (1 persona, a 4-item
questionnaire); the tests then check what DVC and MLflow hold, and use
`dvc status` (which runs nothing) to show which stages a change re-runs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, write_mini_questionnaire

pytestmark = pytest.mark.slow

DVC = [sys.executable, "-m", "dvc"]
MODEL = "gemma3-270m"
# analysis, clusters and the quality report of one result: one stage, one process
PER_RESULT = {f"analyze@{MODEL}-mini"}
ALL_STAGES = {
    "validate",
    "personas",
    "prompts",
    "models",
    f"evaluate@{MODEL}",
    f"parse@{MODEL}",
    *PER_RESULT,
    "leaderboard",
    "publish",
}


def run_dvc(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    # the stages' `python` is the one of this environment, as for a user with it activated
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for var in ("VALUE_INERTIA_ROOT", "DVC_STAGE", "DVC_EXP_NAME", "DVC_ROOT"):
        env.pop(var, None)
    result = subprocess.run(
        [*DVC, *args], cwd=project, env=env, capture_output=True, text=True, timeout=1200
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def ran(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {
        line.split("'")[1]
        for line in (result.stdout + result.stderr).splitlines()
        if line.startswith("Running stage '")
    }


def changed(project: Path) -> set[str]:
    """Stages `dvc status` would re-run (nothing is run)."""
    out = run_dvc(project, "status", "--json").stdout
    return {name for name in json.loads(out or "{}") if not name.endswith(".dvc")}


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)


@pytest.fixture(scope="module")
def dvc_project(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess]:
    """The project after one `dvc repro`, committed (git + DVC) so experiments can run."""
    proj = tmp_path_factory.mktemp("dvc") / "repo"
    proj.mkdir()
    for rel in ("data/questionnaires", "data/schemas", "stages", "src", "leaderboard"):
        shutil.copytree(REPO / rel, proj / rel, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in ("dvc.yaml", "params.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(REPO / rel, proj / rel)
    write_mini_questionnaire(proj)
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["personas"]["n"] = 1
    params["prompts"]["questionnaires"] = ["mini"]
    params["prompts"]["variants"] = ["original"]  # one model, one variant: a small project
    params["models"] = {MODEL: {**params["models"][MODEL], "variants": None}}
    params["analyze"]["bootstrap"] = 50
    params["cluster"]["k_max"] = 3
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git(proj, "init", "-q")
    git(proj, "config", "user.email", "test@example.com")
    git(proj, "config", "user.name", "test")
    run_dvc(proj, "init", "-q")
    run_dvc(proj, "config", "core.analytics", "false")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "sources")
    first = run_dvc(proj, "repro")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "baseline")
    return proj, first


def test_repro_names_stages_by_model_and_then_has_nothing_to_do(dvc_project) -> None:
    proj, first = dvc_project
    assert ran(first) == ALL_STAGES
    responses = pd.read_parquet(proj / f"data/responses/{MODEL}.parquet")
    assert len(responses) == 4 + 4 and (responses.status == "ok").all()
    summary = json.loads((proj / f"data/summary/{MODEL}__mini.json").read_text())
    # the headline numbers only (1 persona: no CI, no shuffled variant: no debiased inertia)
    assert set(summary) == {"inertia", "steerability", "verdict_flags"}
    assert 0.0 <= summary["inertia"] <= 1.0 and summary["verdict_flags"] >= 1
    lock = yaml.safe_load((proj / "dvc.lock").read_text())
    assert f"evaluate@{MODEL}" in lock["stages"]
    assert changed(proj) == set()
    assert ran(run_dvc(proj, "repro")) == set()


@pytest.mark.parametrize(
    ("module", "runs_it"),
    [
        # the store keys and the backends: evaluate; the parser: parse; figures: analyze
        ("evaluation/store.py", {f"evaluate@{MODEL}"}),
        ("scoring/parsing.py", {f"parse@{MODEL}"}),
        ("analysis/plots/common.py", {f"analyze@{MODEL}-mini"}),
        ("core/config.py", ALL_STAGES),
        ("evaluation/backends/embedded.py", {f"evaluate@{MODEL}"}),
    ],
)
def test_a_changed_module_reruns_the_stages_that_run_it(dvc_project, module, runs_it) -> None:
    proj, _ = dvc_project
    path = proj / "src/value_inertia" / module
    original = path.read_text()
    try:
        path.write_text(original + "\n# changed\n")
        assert runs_it <= changed(proj)
    finally:
        path.write_text(original)
    assert changed(proj) == set()


def test_bad_params_stop_repro_before_any_output_is_deleted(dvc_project) -> None:
    proj, _ = dvc_project
    params_file = proj / "params.yaml"
    good = params_file.read_text()
    outputs = [
        proj / "data/personas/personas.parquet",
        proj / "data/prompts/prompts.parquet",
        proj / f"data/responses/{MODEL}.parquet",
        proj / f"data/metrics/{MODEL}__mini.json",
    ]
    try:
        for bad in (
            {"personas": {"n": "ten"}},  # wrong type in a stage's own section
            {"personas": {"nn": 2}},  # a typo: unknown key
            {"cluster": {"color_attribute": "shoe_size"}},  # needs the persona schema
        ):
            params = yaml.safe_load(good)
            for section, values in bad.items():
                params[section] = {**params[section], **values}
            params_file.write_text(yaml.safe_dump(params, sort_keys=False))
            result = run_dvc(proj, "repro", check=False)
            assert result.returncode != 0
            assert ran(result) == {"validate"}
            assert "error: " in result.stderr and "params.yaml" in result.stderr
            assert all(p.exists() for p in outputs), result.stderr
    finally:
        params_file.write_text(good)
    # the marker did not change, so a good file runs nothing but the check
    assert ran(run_dvc(proj, "repro")) <= {"validate"}
    assert changed(proj) == set()


def _runs(proj: Path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{proj / 'mlflow.db'}")
    return mlflow, mlflow.search_runs(experiment_names=["value-inertia"])


def test_experiment_runs_nest_under_parents_and_compare_in_dvc(dvc_project) -> None:
    proj, _ = dvc_project
    result = run_dvc(proj, "exp", "run", "-n", "boot60", "-S", "analyze.bootstrap=60")
    assert f"analyze@{MODEL}-mini" in ran(result)
    assert f"evaluate@{MODEL}" not in ran(result)

    # the summary metric is kept by the baseline and by the experiment: side by side
    shown = run_dvc(proj, "exp", "show", "--csv").stdout
    rows = {r["Experiment"] or r["rev"]: r for r in csv.DictReader(io.StringIO(shown))}
    assert {"boot60", "master"} <= set(rows) or {"boot60", "main"} <= set(rows)
    for rev in ("boot60", "master" if "master" in rows else "main"):
        assert 0.0 <= float(rows[rev]["inertia"]) <= 1.0
    # the README's comparison, in order: the changed columns only (a few, not hundreds),
    # the metrics diff, the plots of both revisions on one page
    changed_only = run_dvc(proj, "exp", "show", "--only-changed", "--csv").stdout
    header = next(csv.reader(io.StringIO(changed_only)))
    assert "analyze.bootstrap" in header and len(header) <= 12, header
    # 1 persona: no CI, so the summary is the same; `dvc metrics diff` compares the files
    diff = json.loads(run_dvc(proj, "metrics", "diff", "HEAD", "boot60", "--json").stdout)
    assert f"data/summary/{MODEL}__mini.json" not in diff
    page = proj / "plots_diff"
    run_dvc(proj, "plots", "diff", "HEAD", "boot60", "-o", str(page))
    html = (page / "index.html").read_text()
    assert "boot60" in html and f"{MODEL}__mini__macro.png" in html

    mlflow, runs = _runs(proj)
    parents = runs[runs["tags.pipeline"].notna()]
    assert len(parents) >= 2
    assert "boot60" in set(parents["tags.mlflow.runName"])
    stages = runs[runs["tags.pipeline"].isna()]
    assert set(stages["tags.mlflow.parentRunId"]) <= set(parents.run_id)
    exp_parent = parents[parents["tags.mlflow.runName"] == "boot60"].run_id.iloc[0]
    nested = stages[stages["tags.mlflow.parentRunId"] == exp_parent]
    assert f"{MODEL} / mini · analyze" in set(nested["tags.mlflow.runName"])
    assert set(nested["tags.dvc_exp"]) == {"boot60"}


def test_each_stage_run_logs_its_own_params_and_tags(dvc_project) -> None:
    proj, _ = dvc_project
    mlflow, runs = _runs(proj)
    own = {
        "personas": ("personas.",),
        "prompts": ("prompts.",),
        "evaluate": ("model.", "evaluate."),
        "parse": ("parse.", "model."),
        "analyze": ("analyze.", "questionnaire", "variant"),
        "cluster": ("cluster.", "questionnaire", "variant"),
        "quality": ("analyze.", "questionnaire"),
        "leaderboard": ("leaderboard.",),
        "publish": ("hub.",),
    }
    stages = runs[runs["tags.pipeline"].isna()]
    assert set(stages["tags.stage"]) == set(own)
    for _, run in stages.iterrows():
        logged = [c[len("params.") :] for c in runs.columns if c.startswith("params.")]
        logged = [p for p in logged if isinstance(run[f"params.{p}"], str)]
        assert logged and all(p.startswith(own[run["tags.stage"]]) for p in logged), logged
        assert run["tags.dvc_stage"] and run["tags.git_commit"] != "unknown"
        assert run["tags.git_dirty"] in ("true", "false")
    lock = yaml.safe_load((proj / "dvc.lock").read_text())
    prompts_md5 = next(
        o["md5"] for o in lock["stages"]["prompts"]["outs"] if o["path"].endswith("prompts.parquet")
    )
    evaluate = stages[stages["tags.stage"] == "evaluate"].iloc[0]
    assert evaluate["tags.prompt_set"] == prompts_md5
    assert evaluate["tags.mlflow.runName"] == f"{MODEL} · evaluate"
    inputs = mlflow.get_run(evaluate.run_id).inputs.dataset_inputs
    by_name = {i.dataset.name: i.dataset for i in inputs}
    assert by_name["prompts"].digest == prompts_md5
    assert "prompts.parquet" in by_name["prompts"].source

    # one model's runs, in the way the README shows
    model_runs = mlflow.search_runs(
        experiment_names=["value-inertia"], filter_string=f"tags.model = '{MODEL}'"
    )
    assert {"evaluate", "parse", "analyze", "cluster"} <= set(model_runs["tags.stage"])

    # the evaluated model is an MLflow (external) logged model with the analysis linked to it
    models = mlflow.search_logged_models(
        experiment_ids=[runs.experiment_id.iloc[0]], output_format="list"
    )
    assert [m.name for m in models] == [MODEL]
    linked = {m.key for m in models[0].metrics or []}
    assert {"inertia.Harm", "overall.inertia"} <= linked
