"""Shared fixtures: a scratch project copy, the packaged GGUF, a real llama.cpp server,
one way to start a server process (:func:`serve`) and one headless Chromium (``browser``).

Slow tests (``pytest -m "not slow"`` leaves them out; CI runs everything) are those
that load the real model, start a real server, run DVC or drive a browser. A test
that asks for one of :data:`SLOW_FIXTURES` is marked slow here; a test that loads
the embedded model by itself carries ``@pytest.mark.slow``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from value_inertia.evaluation.backends.embedded import DEFAULT_MODEL, resolve_model_path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

#: fixtures that start a real server, load the real model, run DVC or drive a browser
SLOW_FIXTURES = frozenset({"llama_server", "server", "gguf_path", "dvc_project", "browser"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_programs(*programs: Path, install: str) -> None:
    """Skip (fail under ``CI=true``) when a program a test drives is not installed."""
    missing = [str(p) for p in programs if not p.exists()]
    if missing:
        message = f"{' and '.join(missing)} not found: {install}"
        if in_ci():
            pytest.fail(f"{message} (CI=true: a missing program fails the run)")
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_project(dest: Path, **overrides: dict) -> Path:
    """A copy of the project's inputs in ``dest`` with params sections overridden."""
    for rel in ("data/questionnaires", "data/schemas", "stages"):
        shutil.copytree(REPO / rel, dest / rel)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, value in overrides.items():
        if isinstance(value, dict) and isinstance(params.get(section), dict):
            params[section].update(value)
        else:
            params[section] = value
    if "variants" not in (overrides.get("prompts") or {}):
        # scratch projects ask the original prompts only, unless a test asks for variants
        params["prompts"]["variants"] = ["original"]
        models = params.get("models")
        for spec in models.values() if isinstance(models, dict) else models or []:
            if isinstance(spec, dict):
                spec.pop("variants", None)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


def run_cli(project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
    """Run ``value-inertia`` as a user would, in ``project``."""
    full_env = {**os.environ, "VALUE_INERTIA_ROOT": str(project), **(env or {})}
    full_env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    return subprocess.run(
        [PYTHON, "-m", "value_inertia", *args],
        cwd=project,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small scratch project (2 personas, MFQ-30) as the working directory."""
    proj = make_project(
        tmp_path / "proj",
        personas={"n": 2, "seeds": [111]},
        prompts={"questionnaires": ["mfq30"]},
    )
    monkeypatch.chdir(proj)
    monkeypatch.setenv("VALUE_INERTIA_ROOT", str(proj))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{proj / 'mlflow.db'}")
    return proj


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    return resolve_model_path(DEFAULT_MODEL)


@contextmanager
def serve(
    cmd: list[str],
    ready_url: str,
    log_path: Path,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 120,
) -> Iterator[subprocess.Popen]:
    """Start the server ``cmd`` (output in ``log_path``), wait until ``ready_url`` answers
    200, yield the process, stop it afterwards. A server that exits or does not answer
    within ``timeout_s`` is an error that shows the end of its log."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{cmd[:3]} exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}"
                )
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{cmd[:3]} did not answer {ready_url} within {timeout_s:.0f} s:\n"
                    f"{log_path.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class LlamaServer:
    """llama-cpp-python's OpenAI-compatible server on the GGUF, as :func:`serve` runs it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}/v1"

    @staticmethod
    def command(gguf: Path, port: int) -> list[str]:
        return [
            PYTHON,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--model_alias",
            "gemma",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--logits_all",
            "true",
            "--n_ctx",
            "2048",
            "--seed",
            "0",
            # the model's own chat template: without it the server falls back to
            # llama-2's, and Gemma's chat answers start with a newline, not a letter
            "--chat_format",
            "gemma",
        ]


@pytest.fixture(scope="session")
def llama_server(
    gguf_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LlamaServer]:
    """A real OpenAI-compatible server (llama-cpp-python's) on a free 127.0.0.1 port."""
    server = LlamaServer(free_port())
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with serve(LlamaServer.command(gguf_path, server.port), f"{server.base_url}/models", log):
        yield server


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1100",  # the app test checks that nothing scrolls sideways at 1400 px
]


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """Debian's headless Chromium driven by Selenium (skips without it; fails under CI)."""
    require_programs(CHROMIUM, CHROMEDRIVER, install="apt-get install chromium chromium-driver")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def write_mini_questionnaire(project: Path, items: tuple[int, ...] = (1, 2, 17, 18)) -> None:
    """``mini``: a few MFQ-30 items (Harm 1, 17; Fairness 2, 18), for fast real-model tests."""
    data = yaml.safe_load((REPO / "data/questionnaires/mfq30.yaml").read_text())
    data["id"] = "mini"
    data["items"] = [it for it in data["items"] if it["number"] in items]
    data["dimensions"] = {
        dim: [n for n in nums if n in items] for dim, nums in data["dimensions"].items()
    }
    data["dimensions"] = {k: v for k, v in data["dimensions"].items() if v}
    (project / "data/questionnaires/mini.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def mini_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """2 personas x 4 MFQ items + 4 baseline prompts = 12 prompts, as the working directory."""
    proj = make_project(
        tmp_path / "mini",
        personas={"n": 2, "seeds": [111]},
    )
    write_mini_questionnaire(proj)
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["prompts"]["questionnaires"] = ["mini"]
    params["prompts"]["variants"] = ["original"]  # 12 prompts, not 12 per variant
    models = params["models"]
    for model in models.values() if isinstance(models, dict) else models:
        model.pop("variants", None)
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(proj)
    monkeypatch.setenv("VALUE_INERTIA_ROOT", str(proj))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{proj / 'mlflow.db'}")
    return proj


def set_models(project: Path, *models: dict) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"] = list(models)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def remote(base_url: str, **kw: object) -> dict:
    """An openai-backend model spec (logprobs, temperature 0) for ``base_url``."""
    spec = {
        "name": "remote",
        "backend": "openai",
        "model": "gemma",
        "base_url": base_url,
        "mode": "logprobs",
        "api": "completions",
        "concurrency": 1,
        "timeout_s": 60,
        "max_retries": 4,
    }
    spec.update(kw)
    return spec
