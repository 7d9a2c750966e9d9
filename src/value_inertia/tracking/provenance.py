"""What identifies a run's inputs: the git commit and state, the DVC process, the
digest of a file (DVC's md5) and the hash of the params."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from value_inertia.core.paths import project_root
from value_inertia.core.table_io import file_hash


def params_hash(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]


def file_digest(path: Path) -> str:
    """The md5 of a file's bytes: the same hash ``dvc.lock`` records for it."""
    return file_hash(path, "md5")


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_commit(root: Path | None = None) -> str:
    out = _git(root or project_root(), "rev-parse", "HEAD")
    return (out or "").strip() or "unknown"


def git_dirty(root: Path | None = None) -> bool | None:
    """Whether tracked files differ from the commit (None outside a git repository)."""
    out = _git(root or project_root(), "status", "--porcelain", "--untracked-files=no")
    return None if out is None else bool(out.strip())


def dvc_invocation() -> str | None:
    """``<pid>:<start time>`` of the DVC process this stage runs under (Linux), else None."""
    pid = os.getppid()
    for _ in range(16):
        if pid <= 1:
            return None
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        fields = stat[stat.rindex(")") + 2 :].split()
        if any(os.path.basename(a.decode(errors="replace")) == "dvc" for a in args[:3]):
            return f"{pid}:{fields[19]}"
        pid = int(fields[1])
    return None
