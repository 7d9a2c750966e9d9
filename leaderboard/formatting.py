"""How the app writes numbers: registry digits, a dash for what is missing, and
"—" for an interval with no width at the shown digits (it says nothing)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from leaderboard.data import Board

MISSING = "–"
NO_SPREAD = "—"  # an interval whose ends are equal at the shown digits
FAILED = "✗"  # marks a result whose quality verdict flags a problem
PASSING_VERDICTS = ("reliable", "usable")


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
    """``[low, high]``; :data:`NO_SPREAD` when both ends read the same (a zero-width
    interval, e.g. "0.002 [0.002, 0.002]", shows no uncertainty it could have measured)."""
    if missing(low) or missing(high):
        return MISSING
    lo, hi = fmt(board, low, name), fmt(board, high, name)
    return NO_SPREAD if lo == hi else f"[{lo}, {hi}]"


def verdict_fails(verdict: Any) -> bool:
    """True when a quality verdict flags a problem (not "reliable"); a missing verdict
    (not measured) is not a failure, and shows as missing."""
    if missing(verdict) or not str(verdict).strip():
        return False
    return str(verdict).split(":", 1)[0].strip() not in PASSING_VERDICTS


def fmt_verdict(verdict: Any) -> str:
    """The verdict as shown: a failing one marked with :data:`FAILED`."""
    if missing(verdict):
        return MISSING
    return f"{FAILED} {verdict}" if verdict_fails(verdict) else str(verdict)
