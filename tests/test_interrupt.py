"""Ctrl-C stops an evaluation and says what was answered, failed and never sent.

The SIGINT variant of tests/test_evaluate.py::test_interrupted_run_resumes_without_resending
failed when the suite ran from a background shell: such a process inherits SIGINT as
*ignored*, Python then installs no KeyboardInterrupt handler, and the evaluate run
ignored the signal and finished all 12 requests with exit 0. The CLI now restores the
handler; this test starts the run with SIGINT ignored, as that shell did.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import remote, set_models
from tests.openai_stub import CompletionsStub
from value_inertia.console import restore_interrupt
from value_inertia.core.config import load_params
from value_inertia.pipeline.design import run_personas, run_prompts


def _ignore_sigint() -> None:  # what `cmd &` in a non-interactive shell gives its child
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.02)


def test_restore_interrupt_reinstalls_the_keyboard_interrupt_handler() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        restore_interrupt()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_sigint_stops_a_run_started_with_sigint_ignored_and_counts_add_up(
    mini_project: Path,
) -> None:
    stub = CompletionsStub(delay_s=0.3)
    try:
        set_models(mini_project, remote(stub.base_url, concurrency=1))
        params = load_params(mini_project / "params.yaml")
        run_personas(params)
        run_prompts(params)
        env = {**os.environ, "VALUE_INERTIA_ROOT": str(mini_project)}
        cmd = [sys.executable, "-m", "value_inertia", "evaluate", "-m", "remote", "--no-progress"]
        proc = subprocess.Popen(
            cmd,
            cwd=mini_project,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_ignore_sigint,
        )
        _wait_for(lambda: stub.received >= 5 or proc.poll() is not None, 120)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        stub.close()
    assert proc.returncode == 130, err
    assert "finished work is kept" in err
    m = re.search(
        r"interrupted.*?(\d+) requests: (\d+) already stored, (\d+) sent, (\d+) done, "
        r"(\d+) failed, \d+ retries, (\d+) not sent",
        err,
        re.S,
    )
    assert m, err
    requests, cached, sent, done, failed, not_sent = map(int, m.groups())
    assert (requests, cached, failed) == (12, 0, 0)
    assert sent == done and done + not_sent == requests and not_sent > 0
    with sqlite3.connect(mini_project / "data/store/remote.sqlite") as conn:
        stored = conn.execute("SELECT count(*) FROM responses WHERE status='ok'").fetchone()[0]
    assert stored == done  # what the line calls done is exactly what the store holds
