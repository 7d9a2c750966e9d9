"""How the dataset's tables merge: each table has a key (:data:`MERGE_KEYS`); a new
publication replaces the remote rows with the same key and keeps every other row. Ranks
and tie groups are recomputed over the merged board (:func:`rerank`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from value_inertia.publishing.board import rank_within

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


def tie_groups(frame: pd.DataFrame) -> pd.Series:
    """Tie group per row of one ranked group: rows whose inertia CI reaches the group leader's.

    Walking in rank order, a row joins the current group while its upper CI
    bound is at least the leader's lower bound; otherwise it starts a new group.
    Without CIs every row is its own group.
    """
    groups = pd.Series(0, index=frame.index, dtype="int64")
    current, leader_low = 0, None
    for idx in frame.sort_values("rank").index:
        high = frame.at[idx, "inertia_ci_high"] if "inertia_ci_high" in frame else None
        low = frame.at[idx, "inertia_ci_low"] if "inertia_ci_low" in frame else None
        joins = (
            leader_low is not None
            and high is not None
            and not pd.isna(high)
            and float(high) >= float(leader_low)
        )
        if not joins:
            current += 1
            leader_low = None if low is None or pd.isna(low) else float(low)
        groups.at[idx] = current
    return groups


def rerank(frame: pd.DataFrame, rank_by: str = "inertia") -> pd.DataFrame:
    """Ranks, tie groups and rank labels within each :data:`RANKING_GROUP` (questionnaire,
    protocol, variant, CI level and bootstrap count: a 90% and a 95% interval never tie).

    The leaderboard module ranks (its ``rank_within``); when it gives ordinal
    ranks only, tie groups come from :func:`tie_groups`.
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
    ranks = pd.Series(0, index=frame.index, dtype="int64")
    ties = pd.Series(0, index=frame.index, dtype="int64")
    labels = pd.Series("", index=frame.index, dtype=object)
    for _, group in frame.groupby(by, sort=True, dropna=False):
        ranked = rank_within(group, rank_by)
        if isinstance(ranked, pd.DataFrame):  # ranks with tie groups and labels
            ranks.loc[group.index] = ranked["rank"].astype("int64")
            ties.loc[group.index] = ranked["tie_group"].astype("int64")
            labels.loc[group.index] = ranked["rank_label"].astype(str)
            continue
        ranks.loc[group.index] = ranked
        with_rank = group.assign(rank=ranks.loc[group.index])
        ties.loc[group.index] = tie_groups(with_rank)
        for _, members in with_rank.groupby(ties.loc[group.index]):
            lo, hi = int(members["rank"].min()), int(members["rank"].max())
            labels.loc[members.index] = str(lo) if lo == hi else f"{lo}-{hi}"
    frame["rank"] = ranks
    frame["tie_group"] = ties
    frame["rank_label"] = labels
    order = [c for c in ("questionnaire", "protocol_hash", "variant", "rank") if c in frame]
    return frame.sort_values(order, kind="stable").reset_index(drop=True)
