"""Durable response store: one SQLite file (WAL) per model.

Every finished request is committed the moment it arrives, keyed by
:func:`request_key` (a hash of the model identity, the request payload and the
sample index), so a run that is killed at any point resumes without sending a
finished request again. Failed requests are kept too, with their error, and
are retried by the next run. One evaluation at a time holds a store: a second
one refuses with a clear message instead of double-sending.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

SCHEMA_VERSION = 1


class StoreError(Exception):
    """The store cannot be used as it is; the message says why and what to do."""


def request_key(identity: Mapping[str, Any], payload: Mapping[str, Any], sample_index: int) -> str:
    blob = json.dumps(
        {"identity": identity, "payload": payload, "sample": sample_index},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseStore:
    """Append-mostly key -> record store. Use as a context manager."""

    def __init__(self, path: Path, *, lock: bool = True) -> None:
        self.path = path
        self._lock = FileLock(str(path) + ".lock") if lock else None
        self._conn: sqlite3.Connection | None = None

    # -- lifecycle -------------------------------------------------------
    def __enter__(self) -> ResponseStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._lock is not None:
            try:
                self._lock.acquire(timeout=0)
            except Timeout:
                raise StoreError(
                    f"{self.path}: another evaluation of this model is running and holds "
                    "the store; wait for it to finish (or stop it) and run again"
                ) from None
        try:
            self._conn = self._open()
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.DatabaseError):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            self._conn = None
        if self._lock is not None:
            self._lock.release()

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                " key TEXT PRIMARY KEY,"
                " status TEXT NOT NULL,"
                " record TEXT NOT NULL,"
                " updated_at REAL NOT NULL)"
            )
            conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            conn.commit()
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path}: the response store is damaged ({exc}). Run "
                f"`value-inertia recover-store {self.path}` to keep every readable "
                "answer (the damaged file is set aside), then run the stage again"
            ) from None
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open; use it as a context manager")
        return self._conn

    # -- data ------------------------------------------------------------
    def put(self, key: str, status: str, record: Mapping[str, Any]) -> None:
        """Commit one finished request; an answer is never replaced by a failure."""
        blob = json.dumps(record, ensure_ascii=False, allow_nan=True)
        if status == "ok":
            self.conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
                (key, status, blob, time.time()),
            )
        else:
            self.conn.execute(
                "INSERT INTO responses VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " status=excluded.status, record=excluded.record, updated_at=excluded.updated_at"
                " WHERE responses.status != 'ok'",
                (key, status, blob, time.time()),
            )
        self.conn.commit()

    def done_keys(self, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` that already hold an answer (status ok)."""
        return {k for k, status in self._status(keys) if status == "ok"}

    def _status(self, keys: Iterable[str]) -> Iterator[tuple[str, str]]:
        keys = list(keys)
        for i in range(0, len(keys), 900):
            chunk = keys[i : i + 900]
            marks = ",".join("?" * len(chunk))
            yield from self.conn.execute(
                f"SELECT key, status FROM responses WHERE key IN ({marks})", chunk
            )

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        keys = list(keys)
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for i in range(0, len(keys), 900):
            chunk = keys[i : i + 900]
            marks = ",".join("?" * len(chunk))
            for key, status, blob in self.conn.execute(
                f"SELECT key, status, record FROM responses WHERE key IN ({marks})", chunk
            ):
                out[key] = (status, json.loads(blob))
        return out

    def count(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT status, COUNT(*) FROM responses GROUP BY status")
        return {status: n for status, n in rows}


def recover_store(path: Path) -> tuple[Path, int, int]:
    """Salvage a damaged store: move it aside, copy every readable row into a new one.

    Returns (where the damaged file went, rows kept, rows lost or unreadable).
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
        kept, lost = 0, 0
        rows: list[tuple[str, str, str, float]] = []
        try:
            src = sqlite3.connect(f"file:{aside}?mode=ro", uri=True)
            try:
                max_rowid = src.execute("SELECT MAX(rowid) FROM responses").fetchone()[0] or 0
            except sqlite3.DatabaseError:
                max_rowid = 0
            for rowid in range(1, max_rowid + 1):
                try:
                    row = src.execute(
                        "SELECT key, status, record, updated_at FROM responses WHERE rowid=?",
                        (rowid,),
                    ).fetchone()
                except sqlite3.DatabaseError:
                    lost += 1
                    continue
                if row is None:
                    continue
                try:
                    json.loads(row[2])
                except (TypeError, ValueError):
                    lost += 1
                    continue
                rows.append(row)
            src.close()
        except sqlite3.DatabaseError:
            pass
        lock.release()
        with ResponseStore(path) as fresh:
            fresh.conn.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", rows)
            fresh.conn.commit()
            kept = len(rows)
        return aside, kept, lost
    finally:
        if lock.is_locked:
            lock.release()
        os.sync()
