"""What the app selects: questionnaires, protocols, models, table columns, per-dimension rows."""

from __future__ import annotations

import pandas as pd

from leaderboard.data import Board
from leaderboard.formatting import fmt, fmt_ci, fmt_verdict, missing, verdict_fails

ALL = "all"
# Table columns shown by default around the registry's default metric columns (see
# default_columns; all fit at 1400 px without scrolling sideways).
LEADING_COLUMNS: list[str] = ["rank", "model"]
TRAILING_COLUMNS: list[str] = ["verdict", "mode", "backend"]
# Optional columns offered after the registry's optional metrics (optional_metrics): the
# board's own numbers and metadata, none of them a registered metric.
OPTIONAL_COLUMNS: list[str] = [
    "seed_stability",
    "design",
    "clusters",
    "silhouette",
    "public_id",
    "variant",
    "contributor",
    "published_at",
    "package_version",
    "protocol_hash",
]
LEVEL_LABELS = {
    "dimension": "value dimensions",
    "basic": "10 basic values",
    "higher_order": "4 higher-order values",
}


def questionnaires(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["questionnaire"].astype(str).unique()) if len(frame) else []


def protocol_counts(frame: pd.DataFrame, questionnaire: str) -> list[tuple[str, int]]:
    """``(protocol_hash, number of models)`` of ``questionnaire``, most models first."""
    rows = frame[frame["questionnaire"] == questionnaire]
    counts = rows.groupby("protocol_hash")["model"].nunique()
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def protocol_choices(frame: pd.DataFrame, questionnaire: str) -> list[tuple[str, str]]:
    """Dropdown choices ``(label, protocol_hash)``; the first is the default."""
    out = []
    for digest, n in protocol_counts(frame, questionnaire):
        modes = sorted(
            set(
                frame.loc[
                    (frame["questionnaire"] == questionnaire) & (frame["protocol_hash"] == digest),
                    "mode",
                ]
                .dropna()
                .astype(str)
            )
        )
        label = f"{digest[:12]} · {n} model{'s' if n != 1 else ''}"
        if modes:
            label += f" · {'/'.join(modes)}"
        out.append((label, digest))
    return out


def default_protocol(frame: pd.DataFrame, questionnaire: str) -> str | None:
    counts = protocol_counts(frame, questionnaire)
    return counts[0][0] if counts else None


def selected_rows(board: Board, questionnaire: str, protocol: str | None) -> pd.DataFrame:
    frame = board.frame
    rows = frame[frame["questionnaire"] == questionnaire]
    if protocol not in (None, "", ALL):
        rows = rows[rows["protocol_hash"] == protocol]
    return rows.sort_values(["rank", "model"], kind="stable")


def registry_columns(board: Board) -> list[str]:
    """The metrics the published registry marks ``shown_by_default``, in ``column_order``
    (then registry order); each one whose ``summary`` is ``value_and_ci`` is followed by
    its CI column ``"<name> CI"``."""
    records = [r for r in board.registry.values() if r.get("shown_by_default")]
    out = []
    for r in sorted(records, key=lambda r: int(r.get("column_order", 100))):
        out.append(str(r["name"]))
        if r.get("summary") == "value_and_ci":
            out.append(f"{r['name']} CI")
    return out


def all_default_columns(board: Board) -> list[str]:
    """rank, model, :func:`registry_columns`, verdict, mode, backend."""
    return [*LEADING_COLUMNS, *registry_columns(board), *TRAILING_COLUMNS]


def _ci_columns(frame: pd.DataFrame) -> set[str]:
    return {f"{c[: -len('_ci_low')]} CI" for c in frame.columns if c.endswith("_ci_low")}


def optional_metrics(board: Board) -> list[str]:
    """The published registry's board metrics not shown by default (top-1, letter mass):
    those of scope ``overall``, then ``result`` (the board's column order)."""
    records = list(board.registry.values())
    return list(
        dict.fromkeys(
            str(r["name"])
            for scope in ("overall", "result")
            for r in records
            if scope in (r.get("scopes") or []) and not r.get("shown_by_default")
        )
    )


def column_choices(board: Board) -> list[str]:
    """Every column the table offers: the default ones, :func:`optional_metrics`, then
    :data:`OPTIONAL_COLUMNS`; those the board has."""
    have = set(board.frame.columns) | _ci_columns(board.frame)
    wanted = [*all_default_columns(board), *optional_metrics(board), *OPTIONAL_COLUMNS]
    return [c for c in dict.fromkeys(wanted) if c in have]


def default_columns(board: Board, choices: list[str]) -> list[str]:
    return [c for c in all_default_columns(board) if c in choices]


def table_view(
    board: Board,
    questionnaire: str,
    protocol: str | None,
    search: str,
    columns: list[str] | None,
) -> pd.DataFrame:
    """The rows of one protocol, model names containing ``search``, as formatted text."""
    rows = selected_rows(board, questionnaire, protocol)
    needle = (search or "").strip().lower()
    if needle:
        rows = rows[rows["model"].astype(str).str.lower().str.contains(needle, regex=False)]
    wanted = [c for c in column_choices(board) if c in set(columns or []) | {"model"}]
    out: dict[str, list[str]] = {}
    for column in wanted:
        if column == "rank":
            out[column] = [str(v) for v in rows["rank_label"]]
        elif column.endswith(" CI"):
            name = column[: -len(" CI")]
            out[column] = [
                fmt_ci(board, lo, hi, name)
                for lo, hi in zip(rows[f"{name}_ci_low"], rows[f"{name}_ci_high"], strict=True)
            ]
        elif column == "verdict":
            out[column] = [fmt_verdict(v) for v in rows[column]]
        else:
            out[column] = [fmt(board, v, column) for v in rows[column]]
    return pd.DataFrame(out, columns=wanted)


def failing_rows(board: Board, questionnaire: str, protocol: str | None, search: str) -> list[bool]:
    """Per row of :func:`table_view`: does its quality verdict flag a problem?"""
    rows = selected_rows(board, questionnaire, protocol)
    needle = (search or "").strip().lower()
    if needle:
        rows = rows[rows["model"].astype(str).str.lower().str.contains(needle, regex=False)]
    if "verdict" not in rows.columns:
        return [False] * len(rows)
    return [verdict_fails(v) for v in rows["verdict"]]


def result_row(
    board: Board, key: str | None, questionnaire: str | None, protocol: str | None
) -> pd.Series | None:
    """The board row of model ``key`` (its ``model_key``) in the selected protocol (the
    ``original`` prompt variant first); None when it has none."""
    if not key or not questionnaire:
        return None
    rows = selected_rows(board, questionnaire, protocol)
    rows = rows[rows["model_key"].astype(str) == str(key)]
    if rows.empty:
        return None
    original = rows[rows["variant"].astype(str) == "original"]
    return (original if len(original) else rows).iloc[0]


def model_choices(
    board: Board, questionnaire: str | None, protocol: str | None
) -> list[tuple[str, str]]:
    """``(label, model_key)`` of the models of one protocol, in rank order: what the model
    and compare dropdowns offer. Two identities under one display name are told apart
    by the end of their key."""
    if not questionnaire:
        return []
    rows = selected_rows(board, questionnaire, protocol)
    keys, labels = rows["model_key"].astype(str), rows["model"].astype(str)
    pairs = list(dict.fromkeys(zip(keys, labels, strict=True)))
    names = [name for _, name in pairs]
    return [
        (name if names.count(name) == 1 else f"{name} ({key[-6:]})", key) for key, name in pairs
    ]


def model_label(board: Board, key: str | None) -> str:
    """The display name of model ``key`` (the key itself when the board has no such model)."""
    rows = board.frame[board.frame["model_key"].astype(str) == str(key)]
    return str(rows["model"].iloc[0]) if len(rows) else str(key)


def model_names(frame: pd.DataFrame, questionnaire: str | None = None) -> list[str]:
    rows = frame if questionnaire is None else frame[frame["questionnaire"] == questionnaire]
    return sorted(rows["model"].astype(str).unique()) if len(rows) else []


def dimension_table(
    board: Board, key: str, questionnaire: str, protocol: str | None, level: str = "dimension"
) -> pd.DataFrame:
    """One row per group of ``level`` of model ``key`` (its ``model_key``; a project's own
    data: its name) in ``protocol``: inertia, steerability (with CIs), distributions."""
    columns = [
        "group",
        "inertia",
        "inertia_ci_low",
        "inertia_ci_high",
        "steerability",
        "steerability_ci_low",
        "steerability_ci_high",
        "mean_rating",
        "baseline_mean_rating",
        "distribution",
        "baseline_distribution",
    ]
    m = board.metrics
    if m is not None and "protocol_hash" in m.columns:
        rows = m[
            (m["model_key" if "model_key" in m.columns else "model"] == key)
            & (m["variant"] == "original" if "variant" in m.columns else True)
            & (m["questionnaire"] == questionnaire)
            & (m["level"] == level)
            & ((m["protocol_hash"] == protocol) if protocol not in (None, "", ALL) else True)
        ]
        return rows[[c for c in columns if c in rows.columns]].reset_index(drop=True)
    # a project's own leaderboard: per-dimension point estimates in wide columns
    frame = board.frame
    row = frame[(frame["model_key"] == key) & (frame["questionnaire"] == questionnaire)]
    if row.empty or level != "dimension":
        return pd.DataFrame(columns=["group", "inertia", "steerability"])
    r = row.iloc[0]
    dims = [c.split(":", 1)[1] for c in frame.columns if c.startswith("inertia:")]
    dims = [d for d in dims if not missing(r.get(f"inertia:{d}"))]
    return pd.DataFrame(
        {
            "group": dims,
            "inertia": [r[f"inertia:{d}"] for d in dims],
            "steerability": [r.get(f"steerability:{d}") for d in dims],
        }
    )


def levels_of(board: Board, questionnaire: str) -> list[tuple[str, str]]:
    """``(label, level)`` choices: value dimensions, then roll-ups (PVQ-RR's 10 and 4 values)."""
    m = board.metrics
    found = ["dimension"]
    if m is not None:
        rows = m[m["questionnaire"] == questionnaire]
        found += sorted(set(rows["level"].astype(str)) - {"overall", "dimension"})
    return [(LEVEL_LABELS.get(lv, lv), lv) for lv in found]
