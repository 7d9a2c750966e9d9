"""Durable response store: an append-only answer journal and an SQLite index, per model.

Every finished request is written twice, the journal first:

1. ``<model>.answers.jsonl`` beside the store, the source of truth: one JSON line
   per stored record (key, status, record, time and a SHA-256 checksum of the
   four), appended and ``fsync``'d before the index sees it. Lines are never
   rewritten, so a crash can at worst leave one torn last line
   (:mod:`value_inertia.evaluation.answer_journal`).
2. ``<model>.sqlite`` (WAL), the index the pipeline queries, keyed by
   :func:`request_key` (a hash of the model identity, the request payload and the
   sample index). Its ``meta`` table records how much of the journal it holds:
   journal lines written before a crash reached the index are replayed on open
   (:mod:`value_inertia.evaluation.store_index`).

A run that is killed at any point resumes without sending a finished request
again. Failed requests are kept too, with their error, and are retried by the
next run. A damaged index is never written into:
:func:`value_inertia.evaluation.store_recovery.recover_store` sets it aside and
rebuilds it from the journal (plus whatever SQLite can still read of the old
index), checking every line's checksum; nothing is parsed by hand. One evaluation
at a time holds a store: a second one refuses with a clear message instead of
double-sending.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from value_inertia.core.errors import UserError
from value_inertia.evaluation.answer_journal import (
    STATUSES,
    Row,
    journal_line,
    journal_path,
    read_journal,
)
from value_inertia.evaluation.store_index import (
    apply_rows,
    batches_table,
    journal_offset,
    prepare_index,
    set_journal_offset,
)

log = logging.getLogger(__name__)

# meta key: the sha256 of the GGUF weights the answers were made with (embedded backend)
WEIGHTS_META_KEY = "weights_sha256"


class StoreError(UserError):
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
        self.journal = journal_path(path)
        self._lock = FileLock(str(path) + ".lock") if lock else None
        self._conn: sqlite3.Connection | None = None
        self._journal_fh: Any = None

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
            self._journal_fh = self._open_journal(self._conn)
        except BaseException:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._lock is not None:
                self._lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._journal_fh is not None:
            self._journal_fh.close()
            self._journal_fh = None
        if self._conn is not None:
            with contextlib.suppress(sqlite3.DatabaseError):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            self._conn = None
        if self._lock is not None:
            self._lock.release()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            prepare_index(conn)  # checks before writing anything: never into a damaged file
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise self._damaged(str(exc)) from None
        return conn

    def _open_journal(self, conn: sqlite3.Connection) -> Any:
        """Bring index and journal in step, then open the journal for appending.

        * no journal yet (a new store, or one from before the journal): every row of
          the index is written to a new journal;
        * a new, empty index beside a journal (the index was deleted, or
          :func:`recover_store` is rebuilding it): the whole journal is replayed;
        * journal lines the index has not seen (a crash between the two writes):
          replayed into the index;
        * a journal shorter than the index says: the journal is damaged.
        """
        offset = journal_offset(conn)
        try:
            if not self.journal.exists():
                rows = conn.execute(
                    "SELECT key, status, record, updated_at FROM responses ORDER BY updated_at"
                ).fetchall()
                if rows:
                    log.warning(
                        "%s: writing the answer journal %s from the %d stored rows",
                        self.path,
                        self.journal,
                        len(rows),
                    )
                fh = open(self.journal, "ab")  # noqa: SIM115 - closed in __exit__
                fh.write(b"".join(journal_line(*r) for r in rows))
                fh.flush()
                os.fsync(fh.fileno())
                self._fsync_dir()
                set_journal_offset(conn, fh.tell())
                conn.commit()
                return fh
            size = self.journal.stat().st_size
            if offset is None:
                if conn.execute("SELECT 1 FROM responses LIMIT 1").fetchone() is not None:
                    raise self._damaged(f"the answer journal {self.journal} is not this index's")
                offset = 0  # a new, empty index beside a journal: rebuilt from it
            elif size < offset:
                raise self._damaged(
                    f"the answer journal {self.journal} is shorter than the index records"
                )
            fh = open(self.journal, "ab")  # noqa: SIM115 - closed in __exit__
            if size > offset:
                rows, damaged, end = read_journal(self.journal, offset)
                if end < size:  # a torn last line: end it, so the next line starts clean
                    fh.write(b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                    damaged += 1
                apply_rows(conn, rows)
                set_journal_offset(conn, fh.tell())
                conn.commit()
                if rows or damaged:
                    log.warning(
                        "%s: %d answers from the journal added to the index (%d damaged lines)",
                        self.path,
                        len(rows),
                        damaged,
                    )
            return fh
        except sqlite3.DatabaseError as exc:
            raise self._damaged(str(exc)) from None

    def _fsync_dir(self) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _damaged(self, why: str) -> StoreError:
        return StoreError(
            f"{self.path}: the response store is damaged ({why}). Run "
            f"`value-inertia recover-store {self.path}` to keep every readable "
            "answer (the damaged file is set aside), then run the stage again"
        )

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open; use it as a context manager")
        return self._conn

    # -- data ------------------------------------------------------------
    def put(self, key: str, status: str, record: Mapping[str, Any]) -> None:
        """Commit one finished request; an answer is never replaced by a failure."""
        self.put_many([(key, status, record)])

    def put_many(self, items: Iterable[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Commit several finished requests at once: one journal ``fsync``, one transaction."""
        now = time.time()
        rows: list[Row] = []
        for key, status, record in items:
            if status not in STATUSES:
                raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
            rows.append((key, status, json.dumps(record, ensure_ascii=False, allow_nan=True), now))
        if not rows:
            return
        if self._journal_fh is None:
            raise RuntimeError("store is not open; use it as a context manager")
        fh = self._journal_fh
        fh.write(b"".join(journal_line(*r) for r in rows))
        fh.flush()
        os.fsync(fh.fileno())  # the journal holds the answers before the index does
        apply_rows(self.conn, rows)
        set_journal_offset(self.conn, fh.tell())
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
                try:
                    record = json.loads(blob)
                except (TypeError, ValueError):
                    record = None
                if not isinstance(record, dict):
                    raise self._damaged(f"the record of {key} is not readable")
                out[key] = (status, record)
        return out

    def iter_records(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every (key, status, record) in the store; unreadable records are skipped."""
        for key, status, blob in self.conn.execute("SELECT key, status, record FROM responses"):
            try:
                record = json.loads(blob)
            except (TypeError, ValueError):
                continue
            if isinstance(record, dict):
                yield key, status, record

    # -- batches (value_inertia.evaluation.batch) -----------------------------------------------
    # One row per uploaded batch input file, written the moment the upload returns;
    # the batch id is added the moment the batch exists. A kill at any point leaves
    # enough behind for the next run to find the batch again instead of resubmitting.
    def _batches(self) -> sqlite3.Connection:
        return batches_table(self.conn)

    def batch_uploaded(self, file_id: str, endpoint: str, keys: list[str]) -> None:
        now = time.time()
        self._batches().execute(
            "INSERT INTO batches (file_id, batch_id, endpoint, keys, status, created_at,"
            " updated_at) VALUES (?, NULL, ?, ?, 'uploaded', ?, ?)",
            (file_id, endpoint, json.dumps(keys), now, now),
        )
        self.conn.commit()

    def batch_submitted(self, file_id: str, batch_id: str, status: str) -> None:
        self._batches().execute(
            "UPDATE batches SET batch_id=?, status=?, updated_at=? WHERE file_id=?",
            (batch_id, status, time.time(), file_id),
        )
        self.conn.commit()

    def batch_collected(self, file_id: str, status: str) -> None:
        self._batches().execute(
            "UPDATE batches SET status=?, collected=1, updated_at=? WHERE file_id=?",
            (status, time.time(), file_id),
        )
        self.conn.commit()

    def open_batches(self) -> list[dict[str, Any]]:
        """Batches not yet collected (uploaded only, or submitted), oldest first."""
        rows = self._batches().execute(
            "SELECT file_id, batch_id, endpoint, keys, status, created_at FROM batches"
            " WHERE collected=0 ORDER BY created_at"
        )
        return [
            {
                "file_id": f,
                "batch_id": b,
                "endpoint": e,
                "keys": json.loads(k),
                "status": st,
                "created_at": c,
            }
            for f, b, e, k, st, c in rows
        ]

    def all_batches(self) -> list[dict[str, Any]]:
        rows = self._batches().execute(
            "SELECT file_id, batch_id, status, collected, keys FROM batches ORDER BY created_at"
        )
        return [
            {
                "file_id": f,
                "batch_id": b,
                "status": st,
                "collected": bool(c),
                "n": len(json.loads(k)),
            }
            for f, b, st, c, k in rows
        ]

    def count(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT status, COUNT(*) FROM responses GROUP BY status")
        return {status: n for status, n in rows}

    # -- meta: small facts about the answers (e.g. the embedded weights' sha256) --
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        self.conn.commit()
