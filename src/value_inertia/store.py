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
import struct
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from value_inertia.errors import UserError

SCHEMA_VERSION = 1


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

    # -- batches (value_inertia.batch) -----------------------------------------------
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
    """Salvage a damaged store: move it aside, copy every readable row into a new one.

    Rows are read twice: through SQLite, row by row (whatever its b-trees still
    reach, the WAL included), and straight from the bytes of every table page of
    the file and its WAL, so rows on intact pages survive a damaged root or
    interior page and a truncated file. Of several versions of a key the answer
    (status ok) wins, then the newest. Returns (where the damaged file went,
    rows kept, damaged records that could not be read).
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
        by_sql, lost_sql = _rows_by_sql(aside)
        by_pages, lost_pages = _rows_by_pages(aside)
        best: dict[str, tuple[str, str, str, float]] = {}
        for row in [*by_sql, *by_pages]:
            old = best.get(row[0])
            if old is None or (row[1] == "ok", row[3]) > (old[1] == "ok", old[3]):
                best[row[0]] = row
        lock.release()
        with ResponseStore(path) as fresh:
            fresh.conn.executemany(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", list(best.values())
            )
            fresh.conn.commit()
        return aside, len(best), max(lost_sql, lost_pages)
    finally:
        if lock.is_locked:
            lock.release()
        os.sync()


_Row = tuple[str, str, str, float]


def _valid_row(values: object) -> _Row | None:
    """A row of ``responses`` that is whole: hex key, known status, JSON object, time."""
    if not isinstance(values, list | tuple) or len(values) != 4:
        return None
    key, status, blob, updated = values
    if not (isinstance(key, str) and len(key) == 64 and all(c in "0123456789abcdef" for c in key)):
        return None
    if status not in ("ok", "failed") or not isinstance(updated, int | float):
        return None
    try:
        if not isinstance(blob, str) or not isinstance(json.loads(blob), dict):
            return None
    except ValueError:
        return None
    return key, status, blob, float(updated)


def _rows_by_sql(db: Path) -> tuple[list[_Row], int]:
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


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = 0
    for j in range(8):
        byte = buf[i + j]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, i + j + 1
    return (value << 8) | buf[i + 8], i + 9


def _record(payload: bytes) -> list[object]:
    """Decode an SQLite record (https://sqlite.org/fileformat.html#record_format)."""
    header_len, i = _varint(payload, 0)
    types = []
    while i < header_len:
        t, i = _varint(payload, i)
        types.append(t)
    pos, values = header_len, []
    for t in types:
        if t in (0, 8, 9):
            values.append(None if t == 0 else t - 8)
            continue
        if 1 <= t <= 6:
            n = (1, 2, 3, 4, 6, 8)[t - 1]
            values.append(int.from_bytes(payload[pos : pos + n], "big", signed=True))
        elif t == 7:
            n = 8
            values.append(struct.unpack(">d", payload[pos : pos + 8])[0])
        elif t >= 12:
            n = (t - 12) // 2
            raw = payload[pos : pos + n]
            values.append(raw.decode("utf-8") if t % 2 else raw)
        else:
            raise ValueError(f"serial type {t}")
        pos += n
    if pos > len(payload):
        raise ValueError("record runs past its payload")
    return values


def _rows_by_pages(db: Path) -> tuple[list[_Row], int]:
    """Rows of every table leaf page in the file and its WAL, read without SQLite."""
    data = db.read_bytes()
    size = int.from_bytes(data[16:18], "big") if len(data) >= 100 else 0
    size = 65536 if size == 1 else size
    page_size = size if 512 <= size <= 65536 and size & (size - 1) == 0 else 4096
    reserved = data[20] if len(data) >= 100 and data[20] < 64 else 0
    usable = page_size - reserved
    # a cut-off last page is read too, zero-filled: its cells near the start may be whole
    pages: list[tuple[int, bytes]] = [
        (n + 1, data[n * page_size : (n + 1) * page_size].ljust(page_size, b"\0"))
        for n in range(-(-len(data) // page_size))
    ]
    latest = dict(pages)
    wal = Path(str(db) + "-wal")
    if wal.exists():
        wdata = wal.read_bytes()
        wsize = int.from_bytes(wdata[8:12], "big") if len(wdata) >= 32 else 0
        if wsize == page_size:
            for at in range(32, len(wdata) - 24 - page_size + 1, 24 + page_size):
                number = int.from_bytes(wdata[at : at + 4], "big")
                page = wdata[at + 24 : at + 24 + page_size]
                pages.append((number, page))
                latest[number] = page
    rows: list[_Row] = []
    lost = 0
    for number, page in pages:
        head = 100 if number == 1 else 0
        if page[head] != 0x0D:  # not a table leaf page
            continue
        for payload in _leaf_payloads(page, head, usable, latest):
            try:
                values = _record(payload) if payload is not None else None
            except (IndexError, ValueError, struct.error):
                values = None
            row = _valid_row(values)
            if row is not None:
                rows.append(row)
            elif values is None or (len(values) == 4 and isinstance(values[0], str)):
                lost += 1  # a damaged cell, or a damaged row of ours
    return rows, lost


def _leaf_payloads(
    page: bytes, head: int, usable: int, pages: dict[int, bytes]
) -> Iterator[bytes | None]:
    """The payload of each cell of a table leaf page (None where it cannot be read)."""
    cells = int.from_bytes(page[head + 3 : head + 5], "big")
    max_local = usable - 35
    for c in range(min(cells, len(page) // 4)):
        try:
            pointer = int.from_bytes(page[head + 8 + 2 * c : head + 10 + 2 * c], "big")
            length, i = _varint(page, pointer)
            _, i = _varint(page, i)  # rowid
            if length <= max_local:
                payload = page[i : i + length]
            else:  # the rest of the payload is on a chain of overflow pages
                m = (usable - 12) * 32 // 255 - 23
                k = m + (length - m) % (usable - 4)
                local = k if k <= max_local else m
                chunks = [page[i : i + local]]
                have, nxt = local, int.from_bytes(page[i + local : i + local + 4], "big")
                while have < length and nxt in pages and len(chunks) <= length // 256 + 1:
                    overflow = pages[nxt]
                    chunks.append(overflow[4:usable])
                    have += usable - 4
                    nxt = int.from_bytes(overflow[:4], "big")
                payload = b"".join(chunks)[:length]
            yield payload if len(payload) == length else None
        except IndexError:
            yield None
