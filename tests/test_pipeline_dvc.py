"""`dvc repro` end to end on a small copy of the project, with the embedded model."""

from __future__ import annotations

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

DVC = [sys.executable, "-m", "dvc"]


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    # the stages' `python` is the one of this environment, as for a user with it activated
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("VALUE_INERTIA_ROOT", None)
    result = subprocess.run(
        [*DVC, *args], cwd=project, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def ran(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {
        line.split("'")[1]
        for line in (result.stdout + result.stderr).splitlines()
        if line.startswith("Running stage '")
    }


@pytest.fixture
def dvc_project(tmp_path: Path) -> Path:
    proj = tmp_path / "repo"
    proj.mkdir()
    for rel in ("data/questionnaires", "data/schemas", "stages", "src", "leaderboard"):
        if (REPO / rel).exists():
            shutil.copytree(REPO / rel, proj / rel, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(REPO / rel, proj / rel)
    write_mini_questionnaire(proj)
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["personas"]["n"] = 1
    params["prompts"]["questionnaires"] = ["mini"]
    params["analyze"]["bootstrap"] = 50
    params["cluster"]["k_max"] = 3
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc(proj, "init", "--no-scm", "-q")
    dvc(proj, "config", "core.analytics", "false")
    return proj


def test_repro_runs_everything_then_nothing_then_only_what_changed(dvc_project: Path) -> None:
    first = dvc(dvc_project, "repro")
    assert {"personas", "prompts", "models", "evaluate@0", "parse@0"} <= ran(first)
    metrics = dvc_project / "data/metrics/gemma3-270m__mini.json"
    data = json.loads(metrics.read_text())
    assert set(data["dimensions"]) == {"Harm", "Fairness"}
    assert 0.0 <= data["overall"]["inertia"] <= 1.0
    assert (dvc_project / "data/plots/gemma3-270m__mini__macro.png").stat().st_size > 10_000
    responses = pd.read_parquet(dvc_project / "data/responses/gemma3-270m.parquet")
    assert len(responses) == 4 + 4 and (responses.status == "ok").all()

    assert ran(dvc(dvc_project, "repro")) == set()
    shown = dvc(dvc_project, "metrics", "show", "--json")
    assert "gemma3-270m__mini.json" in shown.stdout

    # more personas: personas and prompts re-run, the model spec does not; the store keeps
    # every paid-for answer, so only the new persona's prompts are sent
    params = yaml.safe_load((dvc_project / "params.yaml").read_text())
    params["personas"]["n"] = 2
    (dvc_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = dvc(dvc_project, "repro")
    assert {"personas", "prompts", "evaluate@0"} <= ran(third)
    assert "models" not in ran(third)
    assert "12 requests: 8 already stored, 4 sent" in (third.stdout + third.stderr)
    responses = pd.read_parquet(dvc_project / "data/responses/gemma3-270m.parquet")
    assert len(responses) == 12

    # a changed analysis parameter re-runs analysis (and what reads its output, if it changed)
    params["analyze"]["bootstrap"] = 60
    (dvc_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    fourth = ran(dvc(dvc_project, "repro"))
    assert "analyze@model0-mini" in fourth
    upstream = {"personas", "prompts", "models", "evaluate@0", "parse@0", "cluster@model0-mini"}
    assert not fourth & upstream
    board = pd.read_parquet(dvc_project / "data/leaderboard/leaderboard.parquet")
    assert board.model.tolist() == ["gemma3-270m"] and board.n_personas.tolist() == [2]
    report = json.loads((dvc_project / "data/hub/publish_report.json").read_text())
    assert report["dry_run"] is True
