"""Durable response store: an append-only answer journal and an SQLite index, per model.

Every finished request is written twice, the journal first:

1. ``<model>.answers.jsonl`` beside the store, the source of truth: one JSON line
   per stored record (key, status, record, time and a SHA-256 checksum of the
   four), appended and ``fsync``'d before the index sees it. Lines are never
   rewritten, so a crash can at worst leave one torn last line.
2. ``<model>.sqlite`` (WAL), the index the pipeline queries, keyed by
   :func:`request_key` (a hash of the model identity, the request payload and the
   sample index). Its ``meta`` table records how much of the journal it holds:
   journal lines written before a crash reached the index are replayed on open.

A run that is killed at any point resumes without sending a finished request
again. Failed requests are kept too, with their error, and are retried by the
next run. A damaged index is never written into: :func:`recover_store` sets it
aside and rebuilds it from the journal (plus whatever SQLite can still read of
the old index), checking every line's checksum; nothing is parsed by hand. One
evaluation at a time holds a store: a second one refuses with a clear message
instead of double-sending.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from value_inertia.core.errors import UserError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: ``meta`` key: bytes of the journal the index holds (a journal line is applied
#: in the same transaction that advances it)
JOURNAL_OFFSET = "journal_offset"
# meta key: the sha256 of the GGUF weights the answers were made with (embedded backend)
WEIGHTS_META_KEY = "weights_sha256"
STATUSES = ("ok", "failed")


class StoreError(UserError):
    """The store cannot be used as it is; the message says why and what to do."""


def request_key(identity: Mapping[str, Any], payload: Mapping[str, Any], sample_index: int) -> str:
    blob = json.dumps(
        {"identity": identity, "payload": payload, "sample": sample_index},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def journal_path(store: Path) -> Path:
    """The answer journal beside ``store``: ``data/store/<model>.answers.jsonl``."""
    return store.with_name(f"{store.stem}.answers.jsonl")


# -- the journal ---------------------------------------------------------------
_Row = tuple[str, str, str, float]  # key, status, record (JSON text), updated_at


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


def _parse_line(line: bytes) -> _Row | None:
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


def read_journal(path: Path, start: int = 0) -> tuple[list[_Row], int, int]:
    """Rows of the journal from byte ``start``: (rows, damaged lines, end offset read).

    A last line without its newline (a write cut short) is not read: the end
    offset stops before it.
    """
    rows: list[_Row] = []
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


def _apply(conn: sqlite3.Connection, rows: Iterable[_Row]) -> None:
    """Write rows into the index, in order: an answer is never replaced by a failure."""
    for key, status, blob, updated in rows:
        if status == "ok":
            conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", (key, status, blob, updated)
            )
        else:
            conn.execute(
                "INSERT INTO responses VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " status=excluded.status, record=excluded.record, updated_at=excluded.updated_at"
                " WHERE responses.status != 'ok'",
                (key, status, blob, updated),
            )


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
            # check before writing anything: never write into a damaged file
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                problems = [line for line in check.splitlines() if not line.startswith("***")]
                raise sqlite3.DatabaseError(
                    problems[0] + (f" and {len(problems) - 1} more" if len(problems) > 1 else "")
                )
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
        row = conn.execute("SELECT v FROM meta WHERE k=?", (JOURNAL_OFFSET,)).fetchone()
        offset = int(row[0]) if row else None
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
                self._set_offset(conn, fh.tell())
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
                _apply(conn, rows)
                self._set_offset(conn, fh.tell())
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

    @staticmethod
    def _set_offset(conn: sqlite3.Connection, offset: int) -> None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (JOURNAL_OFFSET, str(offset)))

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
        rows: list[_Row] = []
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
        _apply(self.conn, rows)
        self._set_offset(self.conn, fh.tell())
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
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS batches ("
            " file_id TEXT PRIMARY KEY,"
            " batch_id TEXT,"
            " endpoint TEXT NOT NULL,"
            " keys TEXT NOT NULL,"
            " status TEXT NOT NULL,"
            " collected INTEGER NOT NULL DEFAULT 0,"
            " created_at REAL NOT NULL,"
            " updated_at REAL NOT NULL)"
        )
        return self.conn

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
        best: dict[str, _Row] = {}
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
            fresh._batches().executemany(
                f"INSERT OR IGNORE INTO batches ({', '.join(_BATCH_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(_BATCH_COLUMNS))})",
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


def _rows_by_sql(db: Path) -> tuple[list[_Row], int]:
    """Every row SQLite can still read from a damaged index, row by row (WAL included)."""
    rows: list[_Row] = []
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


_BATCH_COLUMNS = (
    "file_id",
    "batch_id",
    "endpoint",
    "keys",
    "status",
    "collected",
    "created_at",
    "updated_at",
)


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
            batches = list(src.execute(f"SELECT {', '.join(_BATCH_COLUMNS)} FROM batches"))
    finally:
        src.close()
    return meta, batches


def _valid_row(values: object) -> _Row | None:
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
