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


#: a spread below this (relative to 1, the scale of the plotted values) is floating-point
#: noise, not variation: PCA of 2 personas leaves PC2 at about 1e-17
NEGLIGIBLE_SPREAD = 1e-9


def spread(values: Any) -> float:
    """max - min of the finite entries of ``values`` (0.0 when there are none)."""
    arr = np.asarray(values, dtype=float)
    finite = arr[np.isfinite(arr)]
    return float(finite.max() - finite.min()) if finite.size else 0.0


def say_why(ax: Axes, title: str, reason: str) -> None:
    """An empty panel titled as the figure would be, saying in words why it has nothing to
    show (instead of a grid of "n/a" or an axis of rounding noise)."""
    ax.set_axis_off()
    ax.text(
        0.5,
        0.5,
        reason,
        ha="center",
        va="center",
        wrap=True,
        fontsize=10,
        transform=ax.transAxes,
        bbox={"boxstyle": "round", "facecolor": "whitesmoke", "edgecolor": "lightgrey"},
    )
    ax.set_title(title, fontsize=11)
