"""No global side effects from the library; the CLI owns logging and warning filters."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from tests.conftest import require_programs
from value_inertia.console import configure_logging

IMPORT_ALL = r"""
import json, os, pkgutil, importlib, sys, warnings
from pathlib import Path
import matplotlib

calls = []
APPLICATION = ("value_inertia.cli", "value_inertia.console")  # the process set-up


def spy(name, real):
    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("value_inertia") and caller not in APPLICATION:
            added = warnings.filters[0] if name.startswith("warnings") else None
            calls.append((f"{caller}: {name}{args}", added))
        return result

    return wrapper


warnings.filterwarnings = spy("warnings.filterwarnings", warnings.filterwarnings)
warnings.simplefilter = spy("warnings.simplefilter", warnings.simplefilter)
matplotlib.use = spy("matplotlib.use", matplotlib.use)
import value_inertia

names = [m.name for m in pkgutil.walk_packages(value_inertia.__path__, "value_inertia.")]
for name in names:
    if name != "value_inertia.__main__":
        importlib.import_module(name)
import pandas as pd
from value_inertia.analysis.plots.distributions import plot_convergence
from value_inertia.analysis.quality.position_bias import plot_position_bias
from value_inertia.tracking.runs import stage_run

out = Path(sys.argv[1])
frame = pd.DataFrame({"dimension": ["a", "a"], "k": [1, 2], "variance": [1.0, 0.5],
                      "band_low": [0.5, 0.2], "band_high": [2.0, 1.0]})
with stage_run("hygiene", {"x": 1}) as ml:
    plot_convergence(frame, {"enough_seeds": True}, out / "c.png")
    plot_position_bias(None, out / "p.png", "position bias")
# a filter set inside ``with warnings.catch_warnings()`` is gone again: not a side effect
left = [call for call, added in calls if added is None or added in warnings.filters]
print(json.dumps({"modules": len(names), "calls": left, "png": (out / "c.png").stat().st_size}))
"""


def test_library_sets_no_warning_filter_or_backend_at_import_or_per_run(tmp_path) -> None:
    """Only the application (the CLI and its set-up in ``console``) may set process-wide
    state: every call to ``warnings.filterwarnings``/``simplefilter`` or ``matplotlib.use``
    made by library code while importing every module, drawing a figure and running a
    tracked stage."""
    env = {
        **os.environ,
        "VALUE_INERTIA_ROOT": str(tmp_path),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["modules"] > 20
    assert out["calls"] == []
    assert out["png"] > 1000  # figures are still written without choosing a backend


@pytest.fixture
def cli_logging():
    logger = logging.getLogger("value_inertia")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_cli_logging_shows_library_messages_plainly_and_redacted(
    cli_logging, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-hygiene-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    configure_logging()
    configure_logging()  # idempotent: one handler, each message once
    logging.getLogger("value_inertia.pipeline").info("12 requests: %s sent", 4)
    logging.getLogger("value_inertia.evaluation.store").warning("key %s echoed", secret)
    logging.getLogger("value_inertia.evaluation.store").debug("not shown")
    err = capsys.readouterr().err
    assert err.splitlines() == ["12 requests: 4 sent", "key [REDACTED] echoed"]


def test_a_missing_browser_skips_with_what_to_install_but_fails_under_ci(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "chromium"
    install = "apt-get install chromium chromium-driver"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"{missing} not found: {install}"):
        require_programs(missing, tmp_path, install=install)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"{missing} not found: {install}"):
        require_programs(missing, install=install)
    require_programs(tmp_path, install=install)  # present: nothing happens
