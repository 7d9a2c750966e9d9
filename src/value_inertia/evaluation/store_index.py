"""The SQLite index of a response store: its tables, the write rule and the journal offset.

``<model>.sqlite`` (WAL) is the index the pipeline queries, keyed by
:func:`value_inertia.evaluation.store.request_key`:

* ``responses``: key, status, record (JSON text), updated_at;
* ``meta``: small facts, among them how many bytes of the answer journal the index
  holds (:data:`JOURNAL_OFFSET`; a journal line is applied in the same transaction
  that advances it);
* ``batches``: one row per uploaded batch input file (lives only in the index).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from value_inertia.evaluation.answer_journal import Row

SCHEMA_VERSION = 1
#: ``meta`` key: bytes of the journal the index holds (a journal line is applied
#: in the same transaction that advances it)
JOURNAL_OFFSET = "journal_offset"
BATCH_COLUMNS = (
    "file_id",
    "batch_id",
    "endpoint",
    "keys",
    "status",
    "collected",
    "created_at",
    "updated_at",
)


def prepare_index(conn: sqlite3.Connection) -> None:
    """Check the index behind ``conn``, then set WAL mode and create its tables.

    Nothing is written into a damaged file: ``PRAGMA quick_check`` runs first, and
    its first problem is raised as :class:`sqlite3.DatabaseError`.
    """
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
    conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    conn.commit()


def apply_rows(conn: sqlite3.Connection, rows: Iterable[Row]) -> None:
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


def journal_offset(conn: sqlite3.Connection) -> int | None:
    """Bytes of the answer journal the index holds; None for an index that never had one."""
    row = conn.execute("SELECT v FROM meta WHERE k=?", (JOURNAL_OFFSET,)).fetchone()
    return int(row[0]) if row else None


def set_journal_offset(conn: sqlite3.Connection, offset: int) -> None:
    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (JOURNAL_OFFSET, str(offset)))


def batches_table(conn: sqlite3.Connection) -> sqlite3.Connection:
    """``conn`` with the ``batches`` table created if it is not there yet."""
    conn.execute(
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
    return conn
