"""Tables on disk: atomic writes with explicit schemas, friendly reads.

A missing or damaged input table (a truncated Parquet file) is an
:class:`~value_inertia.core.errors.InputError` whose message is one line naming the
file and the stage that makes it (result JSON files:
:func:`value_inertia.core.results.read_json`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from value_inertia.core.errors import InputError


def write_table(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` atomically: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_frame(frame: pd.DataFrame, schema: pa.Schema, path: Path) -> None:
    write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_frame(path: Path, stage_hint: str, **kwargs: Any) -> pd.DataFrame:
    """The Parquet table at ``path`` (``kwargs`` go to :func:`pandas.read_parquet`)."""
    if not path.exists():
        raise InputError(f"{path}: not found; run the {stage_hint} stage first")
    try:
        return pd.read_parquet(path, **kwargs)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(
            f"{path}: not a readable Parquet table ({_first_line(exc)}); "
            f"run the {stage_hint} stage again to rebuild it"
        ) from None


def write_text_atomic(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def file_hash(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB blocks (``md5``: what ``dvc.lock`` records)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
