"""MLflow's own UI in a real headless Chromium: one parent run per pipeline execution,
the stage runs nested under it, and the experiment opening on its runs.

The runs are logged through ``tracking.runs.stage_run`` exactly as two DVC executions log
them (``DVC_STAGE``/``DVC_EXP_NAME`` set, as DVC sets them); ``mlflow server`` is started
as a user would, on that store. The screenshot is kept next to the test's temp files.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import free_port, make_project, serve
from value_inertia.tracking.experiment import EXPERIMENT
from value_inertia.tracking.parent_run import POINTER
from value_inertia.tracking.runs import stage_run

pytestmark = pytest.mark.slow
WAIT_S = 60


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two executions (a `dvc repro` and a `dvc exp run` named boot60) of three stages."""
    proj = make_project(tmp_path_factory.mktemp("mlflow") / "proj")
    (proj / "data/models").mkdir(parents=True)
    (proj / "data/models/m1.json").write_text(json.dumps({"name": "m1"}))
    saved = dict(os.environ)
    os.environ.update(
        VALUE_INERTIA_ROOT=str(proj), MLFLOW_TRACKING_URI=f"sqlite:///{proj / 'mlflow.db'}"
    )
    try:
        for exp in ("", "boot60"):
            os.environ.pop("DVC_EXP_NAME", None)
            if exp:
                os.environ["DVC_EXP_NAME"] = exp
            for stage, model, q in (
                ("personas", None, None),
                ("evaluate", "m1", None),
                ("analyze", "m1", "mfq30"),
            ):
                os.environ["DVC_STAGE"] = stage
                with stage_run(stage, {stage: {"n": 1}}, model, questionnaire=q) as ml:
                    ml.log_metrics({"inertia.Harm": 0.3})
            pointer = proj / POINTER
            pointer.write_text(json.dumps({"key": "finished"}))  # the next execution is new
    finally:
        os.environ.clear()
        os.environ.update(saved)
    yield proj


@pytest.fixture(scope="module")
def ui_url(store: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    database = ["--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}", "--workers", "1"]
    with serve(
        [*server, *database], f"{url}/health", store / "server.log", cwd=store, timeout_s=180
    ):
        yield url


def test_ui_shows_parent_runs_with_their_stage_runs_nested(
    store: Path, ui_url: str, browser: WebDriver
) -> None:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    driver = browser
    # the runs page (MLflow 3.17's UI takes "GenAI" / "Model training" from a global
    # switch, so the link names it; the experiment kind tag serves UIs without it)
    driver.get(
        f"{ui_url}/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning"
    )
    wait = WebDriverWait(driver, WAIT_S)
    wait.until(lambda d: "boot60" in d.find_element(By.TAG_NAME, "body").text)
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "repro " in body  # the plain `dvc repro` parent
    assert "m1 / mfq30 · analyze" not in body  # stage runs are collapsed under parents
    expander = "button[data-component-id*='runnamecellrenderer']"
    for i in range(2):  # expand both parents (the table re-renders after each click)
        buttons = driver.find_elements(By.CSS_SELECTOR, expander)
        assert len(buttons) > i
        buttons[i].click()
        time.sleep(1)
    wait.until(
        lambda d: d.find_element(By.TAG_NAME, "body").text.count("m1 / mfq30 · analyze") == 2
    )
    body = driver.find_element(By.TAG_NAME, "body").text
    for name in ("m1 · evaluate", "personas"):
        assert body.count(name) == 2
    driver.save_screenshot(str(store / "mlflow_ui.png"))
    assert (store / "mlflow_ui.png").stat().st_size > 20_000
