"""Rebuild a damaged response store's index from its answer journal.

``value-inertia recover-store`` runs :func:`recover_store`: the damaged index is set
aside and a fresh one is built from every journal line whose checksum holds, plus
every row SQLite itself can still read of the old index; nothing is parsed by hand.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from value_inertia.evaluation.answer_journal import (
    STATUSES,
    Row,
    journal_line,
    journal_path,
    read_journal,
)
from value_inertia.evaluation.store import ResponseStore, StoreError
from value_inertia.evaluation.store_index import BATCH_COLUMNS, JOURNAL_OFFSET, batches_table

log = logging.getLogger(__name__)


def recover_store(path: Path) -> tuple[Path, int, int]:
    """Rebuild a damaged store's index from its answer journal.

    The damaged index (with its WAL) is moved aside; a fresh index is built from
    every journal line whose checksum holds, plus every row SQLite itself can
    still read from the old index (a store from before the journal has only
    those). Of several versions of a key the answer (status ok) wins, then the
    newest. Rows found only in the old index are appended to the journal. The
    journal is never rewritten. What lives only in the index is carried over as
    far as SQLite can read it: the ``batches`` table (batches uploaded or running
    at the provider: losing one would pay for its requests twice) and the
    ``meta`` facts (e.g. the embedded weights' sha256). Returns (where the
    damaged file went, rows kept, damaged journal lines and index rows that could
    not be read).
    """
    if not path.exists():
        raise StoreError(f"{path}: no such store")
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise StoreError(f"{path}: an evaluation is running on this store; stop it first") from None
    try:
        aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
        shutil.move(path, aside)
        for suffix in ("-wal", "-shm"):
            side = Path(str(path) + suffix)
            if side.exists():
                shutil.move(side, Path(str(aside) + suffix))
        journal = journal_path(path)
        from_journal, damaged_lines, end = read_journal(journal) if journal.exists() else ([], 0, 0)
        if journal.exists() and end < journal.stat().st_size:
            damaged_lines += 1  # a torn last line
        from_index, lost_rows = _rows_by_sql(aside)
        meta, batches = _side_tables_by_sql(aside)
        best: dict[str, Row] = {}
        for row in [*from_index, *from_journal]:
            old = best.get(row[0])
            if old is None or (row[1] == "ok", row[3]) > (old[1] == "ok", old[3]):
                best[row[0]] = row
        journaled = set(from_journal)
        missing = sorted((r for r in best.values() if r not in journaled), key=lambda r: r[3])
        with open(journal, "ab") as fh:
            if fh.tell() > end:  # end a torn last line before appending
                fh.write(b"\n")
            fh.write(b"".join(journal_line(*r) for r in missing))
            fh.flush()
            os.fsync(fh.fileno())
        lock.release()
        with ResponseStore(path) as fresh:  # a new, empty index replays the whole journal
            kept = sum(fresh.count().values())
            for k, v in meta:
                fresh.conn.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (k, v))
            batches_table(fresh.conn).executemany(
                f"INSERT OR IGNORE INTO batches ({', '.join(BATCH_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(BATCH_COLUMNS))})",
                batches,
            )
            fresh.conn.commit()
        if batches or meta:
            log.warning(
                "%s: carried over %d batch records and %d facts from the damaged index",
                path,
                len(batches),
                len(meta),
            )
        return aside, kept, damaged_lines + lost_rows
    finally:
        if lock.is_locked:
            lock.release()
        os.sync()


def _rows_by_sql(db: Path) -> tuple[list[Row], int]:
    """Every row SQLite can still read from a damaged index, row by row (WAL included)."""
    rows: list[Row] = []
    lost = 0
    try:
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return rows, 0
    try:
        try:
            max_rowid = src.execute("SELECT MAX(rowid) FROM responses").fetchone()[0] or 0
        except sqlite3.DatabaseError:
            max_rowid = 0
        for rowid in range(1, max_rowid + 1):
            try:
                row = src.execute(
                    "SELECT key, status, record, updated_at FROM responses WHERE rowid=?", (rowid,)
                ).fetchone()
            except sqlite3.DatabaseError:
                lost += 1
                continue
            if row is not None:
                valid = _valid_row(row)
                lost += valid is None
                if valid is not None:
                    rows.append(valid)
    finally:
        src.close()
    return rows, lost


def _side_tables_by_sql(db: Path) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
    """What SQLite can still read of a damaged index's ``meta`` facts (not its journal
    bookkeeping) and ``batches`` rows; an unreadable table gives nothing."""
    meta: list[tuple[str, str]] = []
    batches: list[tuple[Any, ...]] = []
    try:
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return meta, batches
    try:
        with contextlib.suppress(sqlite3.DatabaseError):
            meta = [
                (str(k), str(v))
                for k, v in src.execute("SELECT k, v FROM meta")
                if k not in (JOURNAL_OFFSET, "schema_version")
            ]
        with contextlib.suppress(sqlite3.DatabaseError):
            batches = list(src.execute(f"SELECT {', '.join(BATCH_COLUMNS)} FROM batches"))
    finally:
        src.close()
    return meta, batches


def _valid_row(values: object) -> Row | None:
    """A row of ``responses`` that is whole: key, known status, JSON object, time."""
    if not isinstance(values, list | tuple) or len(values) != 4:
        return None
    key, status, blob, updated = values
    if not isinstance(key, str) or status not in STATUSES or not isinstance(updated, int | float):
        return None
    try:
        if not isinstance(blob, str) or not isinstance(json.loads(blob), dict):
            return None
    except ValueError:
        return None
    return key, status, blob, float(updated)
