"""The answer journal: the append-only source of truth of a response store.

``<model>.answers.jsonl`` beside the store holds one JSON line per stored record
(key, status, record, time and a SHA-256 checksum of the four), appended and
``fsync``'d before the SQLite index (:mod:`value_inertia.evaluation.store_index`)
sees it. Lines are never rewritten, so a crash can at worst leave one torn last
line; a line whose checksum or shape is wrong is counted as damaged, never used.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

STATUSES = ("ok", "failed")
#: one stored row: key, status, record (JSON text), updated_at
Row = tuple[str, str, str, float]


def journal_path(store: Path) -> Path:
    """The answer journal beside ``store``: ``data/store/<model>.answers.jsonl``."""
    return store.with_name(f"{store.stem}.answers.jsonl")


def _checksum(key: str, status: str, record: str, updated: float) -> str:
    blob = json.dumps([key, status, record, updated], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def journal_line(key: str, status: str, record: str, updated: float) -> bytes:
    """One journal line (ASCII JSON, newline-terminated) for one stored row."""
    entry = {
        "key": key,
        "status": status,
        "record": record,
        "updated_at": updated,
        "sha256": _checksum(key, status, record, updated),
    }
    return (json.dumps(entry) + "\n").encode()


def _parse_line(line: bytes) -> Row | None:
    """The row a journal line holds, or None if the line is damaged (checksum, shape)."""
    try:
        entry = json.loads(line)
        row = (entry["key"], entry["status"], entry["record"], entry["updated_at"])
        ok = (
            isinstance(row[0], str)
            and row[1] in STATUSES
            and isinstance(row[2], str)
            and isinstance(row[3], int | float)
            and entry["sha256"] == _checksum(*row)
            and isinstance(json.loads(row[2]), dict)
        )
    except (ValueError, TypeError, KeyError):
        return None
    return (row[0], row[1], row[2], float(row[3])) if ok else None


def read_journal(path: Path, start: int = 0) -> tuple[list[Row], int, int]:
    """Rows of the journal from byte ``start``: (rows, damaged lines, end offset read).

    A last line without its newline (a write cut short) is not read: the end
    offset stops before it.
    """
    rows: list[Row] = []
    damaged = 0
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read()
    whole = data[: data.rfind(b"\n") + 1]
    for line in whole.splitlines():
        if not line.strip():
            continue
        row = _parse_line(line)
        if row is None:
            damaged += 1
        else:
            rows.append(row)
    return rows, damaged, start + len(whole)
