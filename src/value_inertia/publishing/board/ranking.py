"""Ranking the board within each (questionnaire, protocol) group: the rules are in the
package docstring (:mod:`value_inertia.publishing.board`); the indicators ``rank_by``
may name are the metrics registered ``rankable`` (:mod:`value_inertia.core.registry`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

import value_inertia.analysis  # noqa: F401  (its modules register the metrics read here)
from value_inertia.analysis.stats import MIN_PERSONAS, tie_groups
from value_inertia.core import registry as metric_registry
from value_inertia.publishing.board.columns import integer, number


def descending(name: str) -> bool:
    """Registry direction: True when higher is better (ranked descending)."""
    return metric_registry.get(name).higher_is_better is not False


def check_rank_by(rank_by: str) -> None:
    """A ValueError naming the allowed values unless ``rank_by`` is a rankable metric."""
    allowed = metric_registry.rankable()
    if rank_by not in allowed:
        raise ValueError(f"leaderboard.rank_by: {rank_by!r}; allowed: {', '.join(allowed)}")


def rank_keys(rank_by: str) -> list[tuple[str, bool]]:
    """(column, descending) for ``rank_by``: the primary, then the other rankable
    metrics in registration order."""
    check_rank_by(rank_by)
    others = [o for o in metric_registry.rankable() if o != rank_by]
    return [(rank_by, descending(rank_by))] + [(o, descending(o)) for o in others]


def ranking_group(frame: pd.DataFrame) -> pd.Series:
    """The group each row is ranked in: questionnaire | protocol hash (or mode without one)."""
    none = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    protocol = frame.get("protocol_hash", none)
    mode = frame.get("mode", none).fillna("?").astype(str)
    ident = [
        p if isinstance(p, str) and p else f"mode={md}"
        for p, md in zip(protocol, mode, strict=True)
    ]
    return frame["questionnaire"].astype(str) + " | " + pd.Series(ident, index=frame.index)


def _sort_key(row: Mapping[str, Any], keys: list[tuple[str, bool]]) -> tuple[Any, ...]:
    key: list[Any] = []
    for column, is_descending in keys:
        value = number(row.get(column))
        # Missing values last; otherwise ascending on the (signed) value.
        key.append((1, 0.0) if value is None else (0, -value if is_descending else value))
    key.append(str(row.get("model")))
    return tuple(key)


def not_ranked_label(n_personas: Any) -> str:
    """The rank label of a result below the minimum sample: "not ranked (n = 2)"."""
    n = integer(n_personas)
    return f"not ranked (n = {n})" if n is not None else "not ranked (n unknown)"


def rank_within(
    frame: pd.DataFrame,
    rank_by: str,
    intervals: Mapping[Any, tuple[float | None, float | None]] | None = None,
    min_personas: int = MIN_PERSONAS,
) -> pd.DataFrame:
    """``rank``, ``rank_label`` and ``tie_group`` within each ranking group (package docstring).

    ``intervals``: the ``rank_by`` indicator's CI per row index (default: its
    ``<rank_by>_ci_low`` / ``_high`` columns when the board has them (inertia), else
    none). Rows with fewer than ``min_personas`` personas (or no ``n_personas``) get no
    rank and no tie group (null) and the label :func:`not_ranked_label`.
    """
    keys = rank_keys(rank_by)
    if intervals is None:
        intervals = {}
        low, high = f"{rank_by}_ci_low", f"{rank_by}_ci_high"
        if low in frame.columns and high in frame.columns:
            intervals = {
                i: (number(frame.at[i, low]), number(frame.at[i, high])) for i in frame.index
            }
    out = pd.DataFrame(index=frame.index, columns=["rank", "rank_label", "tie_group"])
    none = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    sizes = frame.get("n_personas", none)
    for _, group in frame.groupby(ranking_group(frame), sort=True):
        rankable = []
        for i in group.index:
            n = integer(sizes.at[i])
            if n is None or n < min_personas:
                out.loc[i] = [None, not_ranked_label(n), None]
            else:
                rankable.append(i)
        order = sorted(rankable, key=lambda i: _sort_key(group.loc[i].to_dict(), keys))
        ties = tie_groups([intervals.get(i, (None, None)) for i in order])
        for position, (idx, (tie, label)) in enumerate(zip(order, ties, strict=True), start=1):
            out.loc[idx] = [position, label, tie]
    return out
