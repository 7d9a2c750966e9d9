"""What a pull request changes, table by table, and whose rows it touches (no network)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from value_inertia.publishing.submission.diff import changed_columns, others_rows, table_diff

KEY = ["model_key", "questionnaire", "variant", "protocol_hash"]
BOARD = "data/leaderboard/leaderboard.parquet"
PERSONAS = "data/personas/personas.parquet"


def board(rows: list[tuple[str, str, float, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"model_key": m, "questionnaire": q, "variant": "original", "protocol_hash": "p",
             "inertia": i, "rank": r, "contributor": who}
            for m, q, i, r, who in rows
        ]
    )  # fmt: skip


def test_new_rows_reranked_neighbours_and_float_ints_are_not_edits() -> None:
    base = board([("a", "mfq30", 0.5, 1, "alice")]).assign(n=[8])
    pr = board([("a", "mfq30", 0.5, 2, "alice"), ("b", "mfq30", 0.7, 1, "bob")])
    pr = pr.assign(n=[8.0, np.nan])  # an int column turned float by a new row with no value
    diff = table_diff(BOARD, base, pr, KEY)
    assert list(diff.added["model_key"]) == ["b"]
    assert diff.changed.empty and diff.edited.empty and diff.deleted.empty
    assert others_rows([diff], base, "bob") == []


def test_deleted_and_edited_rows_are_reported_by_key_unless_the_authors_own() -> None:
    base = board(
        [("a", "mfq30", 0.5, 1, "alice"), ("c", "mfq30", 0.4, 2, "carol"),
         ("b", "pvqrr", 0.3, 1, "bob")]
    )  # fmt: skip
    pr = board(
        [("a", "mfq30", 0.9, 1, "alice"), ("b", "pvqrr", 0.35, 1, "bob")]
    )  # a edited, c deleted, b (the author's own) replaced
    diff = table_diff(BOARD, base, pr, KEY)
    problems = others_rows([diff], base, "bob")
    assert [(p["change"], p["model_key"], p.get("owner")) for p in problems] == [
        ("deleted", "c", None),
        ("edited", "a", "alice"),
    ]
    assert problems[1]["columns"] == ["inertia"]
    assert sorted(diff.touched["model_key"]) == ["a", "b"]


def test_an_existing_persona_may_not_change_whoever_submits() -> None:
    base = pd.DataFrame({"persona_id": ["x", "y"], "age": [30, 40]})
    pr = pd.DataFrame({"persona_id": ["x", "y", "z"], "age": [30, 41, 50]})
    diff = table_diff(PERSONAS, base, pr, ["persona_id"])
    problems = others_rows([diff], None, "bob")
    assert [(p["change"], p["persona_id"], p["columns"]) for p in problems] == [
        ("edited", "y", ["age"])
    ]
    assert changed_columns({"a": 1, "b": 2.0}, {"a": 1.0, "b": 3}) == ["b"]
