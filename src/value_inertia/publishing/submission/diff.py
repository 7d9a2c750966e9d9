"""What a pull request changes in each merged table, against the main it was opened on.

Rows are compared whole, except the ranking columns a merge re-derives for
every row of a group (:data:`DERIVED`): adding a result re-ranks its group, it
does not edit its neighbours. Keys are the tables' merge keys
(:data:`value_inertia.publishing.tables.merge.MERGE_KEYS`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from value_inertia.publishing.tables.merge import CLUSTER_KEY, RESULT_KEY, key_frame

DERIVED = ("rank", "rank_label", "tie_group")
OWNER = "contributor"
BOARD = "data/leaderboard/leaderboard.parquet"
# tables whose ids are content hashes: an existing row never changes
SHARED = ("data/personas/personas.parquet", "data/prompts/prompts.parquet")


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):  # 8 and 8.0 are the same value in an int or float column
        if np.isnan(value):
            return None
        return int(value) if value.is_integer() else value
    return value


def row_signatures(frame: pd.DataFrame, ignore: Sequence[str] = DERIVED) -> pd.Series:
    """One canonical JSON string per row (columns sorted, ``ignore`` left out, NaN = null)."""
    cols = sorted(c for c in frame.columns if c not in ignore)
    records = frame[cols].to_dict("records")
    texts = [json.dumps(_plain(r), sort_keys=True, default=str) for r in records]
    return pd.Series(texts, index=frame.index, dtype=object)


def key_dict(row: Mapping[str, Any], key: Sequence[str]) -> dict[str, Any]:
    return {k: _plain(row.get(k)) for k in key}


def changed_columns(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The columns (both rows have, ranking columns aside) whose values differ."""
    common = sorted((set(before) & set(after)) - set(DERIVED))
    return [
        c
        for c in common
        if json.dumps(_plain(before[c]), default=str) != json.dumps(_plain(after[c]), default=str)
    ]


@dataclass
class TableDiff:
    """PR rows that are new or changed, and base keys the PR deleted or edited."""

    rel: str
    key: list[str]
    added: pd.DataFrame
    changed: pd.DataFrame
    deleted: pd.DataFrame  # base rows whose key the PR lacks
    edited: pd.DataFrame  # base rows the PR changed (their new rows are in ``changed``)

    @property
    def touched(self) -> pd.DataFrame:
        return pd.concat([self.added, self.changed], ignore_index=True)


def table_diff(rel: str, base: pd.DataFrame | None, pr: pd.DataFrame, key: list[str]) -> TableDiff:
    """Compare the PR's table with the base's (``base`` None: every PR row is new)."""
    missing = [k for k in key if k not in pr.columns]
    if missing:
        raise KeyError(f"{rel}: key column(s) {missing} missing")
    empty = pr.iloc[0:0]
    if base is None or base.empty:
        base_empty = empty if base is None else base
        return TableDiff(rel, key, pr, empty, base_empty, base_empty)
    pr_keys, base_keys = key_frame(pr, key), key_frame(base, key)
    ignore = [*DERIVED, *(c for c in pr.columns if c not in base.columns)]
    ignore += [c for c in base.columns if c not in pr.columns]
    pr_sig = pr_keys + "\x1e" + row_signatures(pr, ignore)
    base_sig = base_keys + "\x1e" + row_signatures(base, ignore)
    new_key = ~pr_keys.isin(set(base_keys))
    unchanged = pr_sig.isin(set(base_sig))
    changed = pr[~new_key & ~unchanged]
    edited_keys = set(key_frame(changed, key))
    return TableDiff(
        rel,
        key,
        added=pr[new_key],
        changed=changed,
        deleted=base[~base_keys.isin(set(pr_keys))],
        edited=base[base_keys.isin(edited_keys)],
    )


def owners(base_board: pd.DataFrame | None) -> dict[str, set[str]]:
    """``{key: contributors}`` for result keys and cluster keys of the base board."""
    out: dict[str, set[str]] = {}
    if base_board is None or base_board.empty or OWNER not in base_board.columns:
        return out
    for key in (RESULT_KEY, CLUSTER_KEY, ["model_key"]):
        for k, who in zip(key_frame(base_board, key), base_board[OWNER], strict=True):
            out.setdefault("|".join(key) + ":" + k, set()).add(str(who))
    return out


def _owner_key(row: Mapping[str, Any], key: Sequence[str]) -> str:
    for candidate in (RESULT_KEY, CLUSTER_KEY, ["model_key"]):
        if set(candidate) <= set(key):
            frame = pd.DataFrame([{k: row.get(k) for k in candidate}])
            return "|".join(candidate) + ":" + key_frame(frame, candidate).iloc[0]
    return ""


def others_rows(
    diffs: Sequence[TableDiff], base_board: pd.DataFrame | None, author: str
) -> list[dict[str, Any]]:
    """Problems: every deleted base row, and every edited row that is not the author's.

    A row's owner is the contributor of its result on the base board (for the
    models table: of every result of that model). Personas and prompts are
    keyed by content hashes, so any edit of an existing row is a problem.
    """
    who = owners(base_board)
    problems: list[dict[str, Any]] = []
    for diff in diffs:
        for row in diff.deleted.to_dict("records"):
            problems.append({"table": diff.rel, "change": "deleted", **key_dict(row, diff.key)})
        changed = diff.changed.to_dict("records")
        new_rows = dict(zip(key_frame(diff.changed, diff.key), changed, strict=True))
        edited = diff.edited.to_dict("records")
        for key, row in zip(key_frame(diff.edited, diff.key), edited, strict=True):
            holders = who.get(_owner_key(row, diff.key), set())
            if diff.rel in SHARED or holders - {author} or not holders:
                problems.append(
                    {
                        "table": diff.rel,
                        "change": "edited",
                        "owner": ", ".join(sorted(holders)) or None,
                        **key_dict(row, diff.key),
                        "columns": changed_columns(row, new_rows.get(key, {})),
                    }
                )
    return problems
