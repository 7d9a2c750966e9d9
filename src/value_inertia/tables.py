"""Parquet tables on disk: atomic writes with explicit schemas, friendly reads."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from value_inertia.config import ConfigError


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


def read_frame(path: Path, stage_hint: str) -> pd.DataFrame:
    if not path.exists():
        raise ConfigError(f"{path}: not found; run the {stage_hint} stage first")
    return pd.read_parquet(path)


def write_text_atomic(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
