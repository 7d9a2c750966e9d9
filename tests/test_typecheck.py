"""Type checking: ``mypy`` on ``src/`` (settings in pyproject.toml's ``[tool.mypy]``) passes.

CI runs only ``python -m pytest``, so the check runs here, as a subprocess with the
project's own configuration. The cache (``.mypy_cache/``) makes a re-run take seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_type_errors_in_the_library() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"mypy found problems:\n{done.stdout}{done.stderr}"
