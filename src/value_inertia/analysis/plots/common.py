"""Shared pieces of every figure: titles, axes, saving, colours, and the panel
that says in words why a figure has nothing to show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.design.questionnaires import N_OPTIONS

DPI = 110
MAX_LEGEND_CATEGORIES = 10


def figure_title(what: str, model: str = "", questionnaire: str = "", variant: str = "") -> str:
    """``"<model> · <questionnaire> · <variant>: <what>"`` (the parts that are known)."""
    parts = [p for p in (model, questionnaire, variant or DEFAULT_VARIANT) if p]
    return f"{' · '.join(parts)}: {what}" if parts else what


def axes_of(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = Figure(figsize=figsize)
    return fig, fig.add_subplot()


def save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, bbox_inches="tight", facecolor="white")
    return out


def finish(fig: Figure, ax: Any, path: str | Path | None) -> Any:
    return save(fig, path) if path is not None else ax


def plain_ticks(axis: Any) -> None:
    """Plain decimal tick labels (no offsets, no ``2x10^0`` mantissas)."""
    fmt = ScalarFormatter(useOffset=False, useMathText=False)
    fmt.set_scientific(False)
    axis.set_major_formatter(fmt)


def option_colours() -> list[tuple[float, float, float, float]]:
    """Six ordered colours for ratings 1..6 (diverging: low red, high blue)."""
    cmap = colormaps["RdYlBu"]
    return [cmap(x) for x in np.linspace(0.05, 0.95, N_OPTIONS)]
