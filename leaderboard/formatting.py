"""How the app writes numbers: registry digits, a dash for what is missing."""

from __future__ import annotations

from typing import Any

import pandas as pd

from leaderboard.data import Board

MISSING = "–"


def missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt(board: Board, value: Any, name: str | None = None) -> str:
    """A value as shown: registry digits for metrics, 3 digits for other floats."""
    if missing(value):
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (hasattr(value, "is_integer") and name in ("rank", "clusters")):
        return str(int(value))
    if isinstance(value, float) or hasattr(value, "dtype"):
        digits = int((board.registry.get(name or "") or {}).get("digits", 3))
        return f"{float(value):.{digits}f}"
    return str(value)


def fmt_ci(board: Board, low: Any, high: Any, name: str = "inertia") -> str:
    if missing(low) or missing(high):
        return MISSING
    return f"[{fmt(board, low, name)}, {fmt(board, high, name)}]"
