"""How the dataset's tables merge: each table has a key (:data:`MERGE_KEYS`); a new
publication replaces the remote rows with the same key and keeps every other row. Ranks
and tie groups are recomputed over the merged board (:func:`rerank`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from value_inertia.publishing.board.ranking import rank_within

RESULT_KEY = ["model_key", "questionnaire", "variant", "protocol_hash"]
CLUSTER_KEY = ["model_key", "questionnaire", "protocol_hash"]
# Rows are ranked (and share tie groups) only within one of these groups: the same
# questionnaire, protocol and prompt variant, and CIs of the same level and bootstrap count.
RANKING_GROUP = ("questionnaire", "protocol_hash", "variant", "ci_level", "n_bootstrap")
# Relative path of each merged table -> the columns that identify a row.
MERGE_KEYS: dict[str, list[str]] = {
    "data/leaderboard/leaderboard.parquet": RESULT_KEY,
    "data/metrics/metrics.parquet": [*RESULT_KEY, "level", "group"],
    "data/clusters/clusters.parquet": CLUSTER_KEY,
    "data/clusters/assignments.parquet": [*CLUSTER_KEY, "persona_id"],
    "data/quality/quality.parquet": RESULT_KEY,
    "data/models/models.parquet": ["model_key"],
    "data/personas/personas.parquet": ["persona_id"],
    "data/prompts/prompts.parquet": ["prompt_id"],
}


def frame_table(frame: pd.DataFrame, schema: pa.Schema | None = None) -> pa.Table:
    """``frame`` as an Arrow table; all-null columns become strings (never Arrow's null type).

    With ``schema`` (the table's published schema) the columns keep their types
    where the values allow it.
    """
    if schema is not None:
        fields = [
            pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
            for f in schema
            if f.name in frame.columns
        ]
        if len(fields) == len(frame.columns):
            try:
                return pa.Table.from_pandas(
                    frame[[f.name for f in fields]], schema=pa.schema(fields), preserve_index=False
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                pass
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, f in enumerate(table.schema):
        if pa.types.is_null(f.type):
            table = table.set_column(
                i, pa.field(f.name, pa.string()), table.column(i).cast(pa.string())
            )
    return table.replace_schema_metadata(None)


def key_frame(frame: pd.DataFrame, key: Sequence[str]) -> pd.Series:
    """One string per row from the key columns (missing columns read as empty)."""
    parts = [
        frame[k].astype(object).where(frame[k].notna(), "").astype(str)
        if k in frame.columns
        else pd.Series("", index=frame.index)
        for k in key
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out + "\x1f" + p
    return out


def merge_frames(
    remote: pd.DataFrame | None, local: pd.DataFrame, key: Sequence[str]
) -> pd.DataFrame:
    """``local`` plus every ``remote`` row whose key ``local`` does not have (remote first)."""
    if remote is None or remote.empty:
        return local.reset_index(drop=True)
    mine = set(key_frame(local, key))
    kept = remote[~key_frame(remote, key).isin(mine)]
    if kept.empty:
        return local.reset_index(drop=True)
    return pd.concat([kept, local], ignore_index=True)


def rerank(frame: pd.DataFrame, rank_by: str = "inertia") -> pd.DataFrame:
    """Ranks, tie groups and rank labels within each :data:`RANKING_GROUP` (questionnaire,
    protocol, variant, CI level and bootstrap count: a 90% and a 95% interval never tie).

    The board's :func:`~value_inertia.publishing.board.ranking.rank_within` ranks each group
    (one tie-group rule, :func:`value_inertia.analysis.stats.tie_groups`; results
    below the minimum number of personas get no rank and no tie group).
    """
    frame = frame.reset_index(drop=True).copy()
    if frame.empty:
        for col in ("rank_label", "tie_group"):
            frame[col] = pd.Series(dtype=object if col == "rank_label" else "Int64")
        return frame
    for column in ("inertia_ci_low", "inertia_ci_high"):
        if column not in frame.columns:
            frame[column] = np.nan
    by = [c for c in RANKING_GROUP if c in frame.columns]
    ranked = pd.DataFrame(index=frame.index, columns=["rank", "rank_label", "tie_group"])
    for _, group in frame.groupby(by, sort=True, dropna=False):
        ranked.loc[group.index] = rank_within(group, rank_by)
    frame["rank"] = pd.array(ranked["rank"].tolist(), dtype="Int64")
    frame["tie_group"] = pd.array(ranked["tie_group"].tolist(), dtype="Int64")
    frame["rank_label"] = ranked["rank_label"].astype(object)
    keys = ("questionnaire", "protocol_hash", "variant", "rank", "model")
    order = [c for c in keys if c in frame]
    return frame.sort_values(order, kind="stable", na_position="last").reset_index(drop=True)
