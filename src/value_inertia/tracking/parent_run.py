"""The parent run of one DVC execution, under which its stage runs nest.

Under DVC (``DVC_STAGE`` is set for every stage command) the first stage of a
``dvc repro`` or ``dvc exp run`` opens a parent run, named after the experiment
(``DVC_EXP_NAME``) or by date and commit, and the stages that follow in the same
DVC process nest under it (``mlflow.parentRunId``). The parent is found again
through a small pointer file in ``.dvc/tmp`` keyed by the DVC process.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from value_inertia.tracking.provenance import dvc_invocation

PARENT_TAG = "mlflow.parentRunId"
POINTER = Path(".dvc") / "tmp" / "value-inertia-mlflow-parent.json"
# without /proc (not Linux) a parent is reused when the previous stage ended this recently
POINTER_FRESH_S = 120.0


def _pointer_path(root: Path) -> Path:
    return root / POINTER


def parent_run(
    client: Any, experiment_id: str, root: Path, uri: str, base_tags: dict
) -> str | None:
    """The parent run of this DVC execution (opened by its first stage); None outside DVC."""
    if not os.environ.get("DVC_STAGE"):
        return None
    invocation = dvc_invocation()
    exp = os.environ.get("DVC_EXP_NAME") or ""
    key = f"{invocation or 'unknown'}|{exp}|{uri}"
    pointer = _pointer_path(root)
    try:
        data = json.loads(pointer.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    fresh = invocation is not None or time.time() - data.get("touched", 0) < POINTER_FRESH_S
    if data.get("key") == key and fresh and data.get("run_id"):
        try:
            client.update_run(data["run_id"], status="RUNNING")
            return data["run_id"]
        except Exception:  # deleted meanwhile: open a new parent
            pass
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    commit = base_tags.get("git_commit", "unknown")[:7]
    dirty = "+dirty" if base_tags.get("git_dirty") == "true" else ""
    name = exp or f"repro {stamp} {commit}{dirty}"
    tags = {k: v for k, v in base_tags.items() if k in ("git_commit", "git_dirty", "dvc_exp")}
    tags |= {"pipeline": "dvc exp run" if exp else "dvc repro"}
    run = client.create_run(experiment_id, run_name=name, tags=tags)
    _write_pointer(pointer, {"key": key, "run_id": run.info.run_id})
    return run.info.run_id


def _write_pointer(pointer: Path, data: dict) -> None:
    try:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        pointer.write_text(json.dumps({**data, "touched": time.time()}), encoding="utf-8")
    except OSError:
        pass


def touch_pointer(root: Path, run_id: str) -> None:
    """Mark the pointer to ``run_id`` fresh (a stage under it just ended)."""
    pointer = _pointer_path(root)
    try:
        data = json.loads(pointer.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if data.get("run_id") == run_id:
        _write_pointer(pointer, data)
