"""Prompt-variant shifts against the original prompts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from value_inertia.analysis.plots.common import (
    axes_of,
    figure_title,
    finish,
    save,
)


def plot_variant_shift(
    table: pd.DataFrame,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    model: str = "",
    questionnaire: str = "",
    variant: str = "",
    confidence: float = 0.95,
) -> Any:
    """Per-dimension shift of a prompt variant against ``original``, with CI error bars.

    ``table``: :func:`value_inertia.analysis.variants.shift_table` (rows: dimension,
    metric, shift, ci_low, ci_high; the ``overall`` rows first). One row of
    points per dimension, inertia and steerability side by side, error bars
    from the paired bootstrap CI; the dashed line marks no shift.
    """
    dims = list(dict.fromkeys(table["dimension"])) if len(table) else []
    fig, ax = axes_of(ax, (7.5, max(2.5, 0.35 * len(dims) + 1.8)))
    styles = {"inertia": ("tab:blue", "o", -0.15), "steerability": ("tab:orange", "s", 0.15)}
    for metric, (colour, marker, offset) in styles.items():
        rows = table.loc[table["metric"] == metric].set_index("dimension").reindex(dims)
        shift = rows["shift"].to_numpy(dtype=float, na_value=np.nan)
        lo = rows["ci_low"].to_numpy(dtype=float, na_value=np.nan)
        hi = rows["ci_high"].to_numpy(dtype=float, na_value=np.nan)
        err = np.vstack(
            [np.where(np.isfinite(lo), shift - lo, 0), np.where(np.isfinite(hi), hi - shift, 0)]
        )
        y = np.arange(len(dims)) + offset
        ax.errorbar(shift, y, xerr=np.clip(err, 0, None), fmt=marker, color=colour,
                    capsize=3, label=f"{metric} shift")  # fmt: skip
    ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(dims)), dims, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"{variant or 'variant'} - original ({confidence:.0%} paired bootstrap CI)")
    if dims:
        ax.legend(fontsize=8, loc="best")
    ax.set_title(
        figure_title("shift against the original prompt", model, questionnaire, variant),
        fontsize=11,
    )
    return finish(fig, ax, path)


def plot_variant_shifts(
    tables: Mapping[str, pd.DataFrame],
    path: str | Path,
    *,
    model: str = "",
    questionnaire: str = "",
    confidence: float = 0.95,
    note: str | None = None,
) -> Path:
    """One :func:`plot_variant_shift` panel per variant (``tables``: variant -> table);
    without variants a figure that says so (``note``), so the file always exists."""
    if not tables:
        fig = Figure(figsize=(7.5, 2.0))
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, note or "no other prompt variant", ha="center", va="center", wrap=True)
        ax.set_title(figure_title("prompt-variant shift", model, questionnaire), fontsize=11)
        return save(fig, path)
    heights = [max(2.5, 0.35 * len(set(t["dimension"])) + 1.8) for t in tables.values()]
    fig = Figure(figsize=(7.5, sum(heights)))
    axes = fig.subplots(len(tables), 1, squeeze=False, height_ratios=heights)[:, 0]
    for panel, (variant, table) in zip(axes, tables.items(), strict=True):
        plot_variant_shift(table, ax=panel, model=model, questionnaire=questionnaire,
                           variant=variant, confidence=confidence)  # fmt: skip
    fig.tight_layout()
    return save(fig, path)
