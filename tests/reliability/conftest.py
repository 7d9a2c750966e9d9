"""Helpers for the reliability suite: real CLI runs against the real llama.cpp server."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from tests.conftest import make_project, write_mini_questionnaire
from tests.conftest import remote as remote  # re-exported for the suite
from value_inertia.core.config import load_params
from value_inertia.evaluation.store import request_key
from value_inertia.pipeline.design import run_personas, run_prompts

LETTERS = "ABCDEF"
P_COLUMNS = [f"p_{c}" for c in LETTERS]


def build_prompts(project: Path) -> pd.DataFrame:
    """Run the personas and prompts stages in-process (fast); the prompts table."""
    params = load_params(project / "params.yaml")
    run_personas(params)
    run_prompts(params)
    return pd.read_parquet(project / "data/prompts/prompts.parquet")


def cli_env(project: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "VALUE_INERTIA_ROOT": str(project),
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        **extra,
    }


def start_cli(project: Path, *args: str, **env: str) -> subprocess.Popen:
    """``value-inertia <args>`` in ``project`` as a background process (text pipes)."""
    return subprocess.Popen(
        [sys.executable, "-m", "value_inertia", *args],
        cwd=project,
        env=cli_env(project, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start_evaluate(project: Path, model: str = "remote", **env: str) -> subprocess.Popen:
    """``value-inertia evaluate -m <model> --no-progress`` as a background process."""
    return start_cli(project, "evaluate", "-m", model, "--no-progress", **env)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.02)


def stored_status(store: Path) -> dict[str, str]:
    """key -> status of every row in a store, read-only (safe while a run writes)."""
    if not store.exists():
        return {}
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        return dict(conn.execute("SELECT key, status FROM responses"))
    except sqlite3.OperationalError:  # the table is not there yet
        return {}
    finally:
        conn.close()


def ok_keys(store: Path) -> set[str]:
    return {k for k, status in stored_status(store).items() if status == "ok"}


def forwarded_keys(bodies: list[dict], identity: dict) -> list[str]:
    """The store key of every completion request the proxy forwarded upstream."""
    return [request_key(identity, {"prompt": b["prompt"]}, 0) for b in bodies]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


SHORT_ITEMS = {1: "Suffering", 2: "Unequal treatment", 17: "Compassion first.", 18: "Fair laws."}


@pytest.fixture(scope="session")
def server(llama_server):
    """The shared llama.cpp server, warmed up: its very first answer is slow."""
    httpx.post(
        f"{llama_server.base_url}/completions",
        json={"model": "gemma", "prompt": "Hello", "max_tokens": 1, "logprobs": 1},
        timeout=300,
    ).raise_for_status()
    return llama_server


def shorten(project: Path) -> Path:
    """Make the prompts of a ``mini`` project (``tests.conftest.mini_project``) short.

    The llama.cpp server computes logits over Gemma's 262k-token vocabulary for
    every prompt token (``logits_all``, needed for logprobs), so prompt length is
    what a request costs. Here the persona schema has two attributes (sex, age),
    the ``mini`` questionnaire has short stems, labels and item texts, and the
    preamble and the forced-choice line are off: a prompt is ~40 tokens, not ~250.
    """
    schema_file = project / "data/schemas/persona_attributes.yaml"
    schema = yaml.safe_load(schema_file.read_text())
    schema["attributes"] = [a for a in schema["attributes"] if a["name"] in ("sex", "age")]
    schema_file.write_text(yaml.safe_dump(schema, sort_keys=False))

    q_file = project / "data/questionnaires/mini.yaml"
    q = yaml.safe_load(q_file.read_text())
    for block in q["blocks"].values():
        block["stem"] = "Rate:"
        block["options"] = ["none", "low", "some", "fair", "high", "top"]
    for item in q["items"]:
        item["text"] = SHORT_ITEMS[item["number"]]
    q_file.write_text(yaml.safe_dump(q, sort_keys=False))

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["prompts"].update(questionnaires=["mini"], preamble=False, forced_choice=False)
    params["cluster"]["color_attribute"] = "sex"
    params["analyze"].update(bootstrap=50, convergence_draws=5)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def make_lean_project(dest: Path) -> Path:
    """What ``lean_project`` gives, for module-scoped fixtures."""
    project = make_project(dest, personas={"n": 2, "seeds": [111]})
    write_mini_questionnaire(project)
    return shorten(project)


@pytest.fixture
def lean_project(mini_project: Path) -> Path:
    """``mini_project`` (the same 12 prompts: 2 personas x 4 items + 4 baseline), shortened."""
    return shorten(mini_project)
