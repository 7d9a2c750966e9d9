"""Release tags of the Hub dataset: one per commit on main, naming its protocols.

Tag: ``v<version>-<protocols>-<digest>`` (:func:`release_tag`); tag message:
one line per protocol hash on the board (:func:`release_message`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from value_inertia.publishing.folders import folder_files
from value_inertia.publishing.tables.public import package_version

BOARD = "data/leaderboard/leaderboard.parquet"


def _board_protocols(folder: Path) -> pd.DataFrame:
    cols = ["protocol_hash", "questionnaire", "variant"]
    board = pd.read_parquet(folder / BOARD)
    return board[[c for c in cols if c in board.columns]].astype(str)


def release_tag(folder: Path) -> str:
    """``v<version>-<protocols>-<digest>``: the same data gets the same tag.

    ``<protocols>`` is the first 8 hex digits of the protocol hash when the board
    holds one protocol, else ``<n>p`` and 6 hex digits of the sorted hashes (the
    tag message lists them all); ``<digest>``: 8 hex digits of sha256 over every
    file but the card and the licence.
    """
    protocols = sorted(set(_board_protocols(folder)["protocol_hash"]))
    if len(protocols) == 1:
        proto = protocols[0][:8]
    else:
        joined = hashlib.sha256(",".join(protocols).encode()).hexdigest()[:6]
        proto = f"{len(protocols)}p{joined}"
    digest = hashlib.sha256()
    for rel in folder_files(folder):
        if rel.as_posix() not in ("README.md", "LICENSE.md"):
            digest.update(rel.as_posix().encode() + (folder / rel).read_bytes())
    return f"v{package_version()}-{proto}-{digest.hexdigest()[:8]}"


def release_message(folder: Path) -> str:
    """The tag message: one line per protocol hash with its questionnaires, variants, rows."""
    board = _board_protocols(folder)
    lines = [f"value-inertia {package_version()}: {len(board)} board row(s)"]
    for digest, rows in board.groupby("protocol_hash", sort=True):
        qs = ", ".join(sorted(set(rows.get("questionnaire", pd.Series(dtype=str)))))
        vs = ", ".join(sorted(set(rows.get("variant", pd.Series(dtype=str)))))
        lines.append(f"protocol {digest}: {len(rows)} row(s); questionnaires {qs}; variants {vs}")
    return "\n".join(lines)
