"""Persona-attribute effects: selective permeability (omega-squared) and Cohen's d."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from value_inertia.analysis.plots.common import (
    axes_of,
    figure_title,
    finish,
    say_why,
)
from value_inertia.core.naming import DEFAULT_VARIANT


def plot_permeability(
    table: pd.DataFrame,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    model: str = "",
    questionnaire: str = "",
    variant: str = DEFAULT_VARIANT,
    alpha: float = 0.05,
) -> Any:
    """Attribute x dimension heatmap of selective permeability (omega-squared).

    ``table``: :func:`value_inertia.analysis.permeability.permeability_table`. Colour: the
    effect (diverging, centred at 0; negative = less than chance); each cell
    shows its value, and cells significant after Benjamini-Hochberg (q <=
    ``alpha``) are outlined and starred.
    """
    attrs = list(dict.fromkeys(table["attribute"])) if len(table) else []
    dims = list(dict.fromkeys(table["dimension"])) if len(table) else []
    if len(table):
        grid = table.pivot(index="attribute", columns="dimension", values="effect")
        values = grid.reindex(index=attrs, columns=dims).to_numpy(dtype=float)
        sig = table.pivot(index="attribute", columns="dimension", values="significant")
        marks = sig.reindex(index=attrs, columns=dims).fillna(False).to_numpy(dtype=bool)
    else:
        values, marks = np.zeros((0, 0)), np.zeros((0, 0), dtype=bool)
    title = figure_title(
        "selective permeability (omega-squared of MRAT-centred scores)",
        model,
        questionnaire,
        variant,
    )
    if not np.isfinite(values).any():
        n = int(table["n"].max()) if "n" in table and table["n"].notna().any() else None
        fig, ax = axes_of(ax, (7.0, 3.0))
        say_why(
            ax,
            title,
            "Nothing to show: omega-squared is undefined for every attribute x dimension "
            f"cell.\nToo few personas{f' (n = {n})' if n is not None else ''}: each attribute "
            "needs at least two groups with two or more personas,\nand the persona scores "
            "must vary. Run with more personas (personas.n).",
        )
        return finish(fig, ax, path)
    n_rows, n_cols = values.shape
    finite = np.abs(values[np.isfinite(values)])
    limit = max(0.1, float(finite.max()) if finite.size else 0.1)
    fig, ax = axes_of(ax, (max(6.0, 0.75 * n_cols + 4.0), max(3.0, 0.45 * n_rows + 2.0)))
    cmap = colormaps["RdBu_r"].with_extremes(bad="whitesmoke")
    shown = np.ma.masked_invalid(values) if values.size else np.ma.masked_all((1, 1))
    image = ax.imshow(shown, cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
    fig.colorbar(image, ax=ax, label="omega-squared (0 = chance)", pad=0.02)
    for i in range(n_rows):
        for j in range(n_cols):
            v = values[i, j]
            text = f"{v:.2f}" if np.isfinite(v) else "n/a"
            if marks[i, j]:
                text += "*"
                ax.add_patch(
                    Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", lw=1.5)
                )
            colour = "white" if np.isfinite(v) and abs(v) > 0.6 * limit else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(n_cols), dims, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n_rows), attrs, fontsize=8)
    ax.set_xlabel(f"value dimension (* = significant, Benjamini-Hochberg q <= {alpha:g})")
    ax.set_ylabel("persona attribute")
    ax.set_title(title, fontsize=11)
    return finish(fig, ax, path)


def plot_cohens_d(
    grid: pd.DataFrame,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    model: str = "",
    questionnaire: str = "",
    variant: str = DEFAULT_VARIANT,
) -> Any:
    """Attribute x dimension heatmap of two-group Cohen's d, diverging colours centred at 0.

    ``grid``: :func:`value_inertia.analysis.permeability.cohens_d_grid`. Every cell is
    annotated with d (``n/a`` where there is no two-group contrast or a group
    is too small); the contrast is shown next to the attribute name.
    """
    values = grid.to_numpy(dtype=float, na_value=np.nan) if grid.size else np.zeros((0, 0))
    if not np.isfinite(values).any():
        fig, ax = axes_of(ax, (7.0, 3.0))
        say_why(
            ax,
            figure_title(
                "two-group Cohen's d of MRAT-centred scores", model, questionnaire, variant
            ),
            "Nothing to show: no attribute splits the personas into two groups that are "
            "both large enough\n(analyze.min_group_size) with scores that vary. "
            "Run with more personas (personas.n).",
        )
        return finish(fig, ax, path)
    n_rows, n_cols = values.shape
    finite = np.abs(values[np.isfinite(values)])
    limit = max(0.2, float(finite.max()) if finite.size else 0.2)
    fig, ax = axes_of(ax, (max(6.0, 0.75 * n_cols + 4.0), max(3.0, 0.45 * n_rows + 2.0)))
    cmap = colormaps["RdBu_r"].with_extremes(bad="whitesmoke")
    shown = np.ma.masked_invalid(values) if values.size else np.ma.masked_all((1, 1))
    image = ax.imshow(shown, cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
    fig.colorbar(image, ax=ax, label="Cohen's d (pooled SD)", pad=0.02)
    for i in range(n_rows):
        for j in range(n_cols):
            v = values[i, j]
            text = f"{v:.2f}" if np.isfinite(v) else "n/a"
            colour = "white" if np.isfinite(v) and abs(v) > 0.6 * limit else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    contrast: Mapping[str, Mapping[str, Any]] = grid.attrs.get("contrast", {}) or {}
    row_labels = []
    for attr in grid.index:
        kinds = {c for c in contrast.get(attr, {}).values() if c}
        row_labels.append(f"{attr} ({kinds.pop()})" if len(kinds) == 1 else str(attr))
    ax.set_xticks(
        range(n_cols), [str(c) for c in grid.columns], rotation=45, ha="right", fontsize=8
    )
    ax.set_yticks(range(n_rows), row_labels, fontsize=8)
    ax.set_xlabel("value dimension")
    ax.set_ylabel("persona attribute")
    ax.set_title(
        figure_title("two-group Cohen's d of MRAT-centred scores", model, questionnaire, variant),
        fontsize=11,
    )
    return finish(fig, ax, path)
