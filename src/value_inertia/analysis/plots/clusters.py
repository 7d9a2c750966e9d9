"""Persona clusters in the first two principal components."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from value_inertia.analysis.plots.common import (
    MAX_LEGEND_CATEGORIES,
    NEGLIGIBLE_SPREAD,
    figure_title,
    finish,
    say_why,
    spread,
)
from value_inertia.core.naming import DEFAULT_VARIANT


def _attribute_colours(
    values: pd.Series,
) -> tuple[list[Any], list[Patch]]:
    """Colours per persona for a categorical attribute (most frequent categories, rest grey)."""
    cats = values.astype(object).where(values.notna(), "none").astype(str)
    top = list(cats.value_counts().index[:MAX_LEGEND_CATEGORIES])
    cmap = colormaps["tab10"]
    lookup = {c: cmap(i % cmap.N) for i, c in enumerate(sorted(top))}
    colours = [lookup.get(c, (0.7, 0.7, 0.7, 1.0)) for c in cats]
    handles = [Patch(facecolor=lookup[c], label=c) for c in sorted(top)]
    if len(top) < cats.nunique():
        handles.append(Patch(facecolor=(0.7, 0.7, 0.7, 1.0), label="other"))
    return colours, handles


def plot_clusters(
    assignments: pd.DataFrame,
    personas: pd.DataFrame,
    color_attribute: str,
    path: str | Path | None = None,
    *,
    axes: tuple[Axes, Axes] | None = None,
    model: str = "",
    questionnaire: str = "",
    variant: str = DEFAULT_VARIANT,
) -> Any:
    """Two PCA scatters of the personas: coloured by cluster, and by ``color_attribute``.

    ``assignments`` has persona_id, cluster, pc1, pc2 (:func:`cluster_personas`).
    Numeric attributes get a continuous colour scale; categorical ones a legend
    (the 10 most frequent categories, the rest grey; null = "none"). ``axes``:
    two Axes to draw into (default: a new figure); without ``path`` they are
    returned.
    """
    table = personas.copy()
    table["persona_id"] = table["persona_id"].astype(str)
    table = table.drop_duplicates("persona_id")
    data = assignments.assign(persona_id=assignments["persona_id"].astype(str)).merge(
        table[["persona_id", color_attribute]], on="persona_id", how="left"
    )
    if axes is None:
        fig = Figure(figsize=(13.0, 5.5))
        ax_c, ax_a = fig.subplots(1, 2)
    else:
        ax_c, ax_a = axes
        fig = ax_c.figure  # type: ignore[assignment]  # (a SubFigure draws the same)
    title = figure_title(
        "personas in the first two principal components of their MRAT-centred ratings",
        model,
        questionnaire,
        variant,
    )
    # a component with no spread is rounding noise (2 personas leave PC2 at ~1e-17):
    # drawn flat at 0 and said so, never as an axis from -5.2e-17 to -5.7e-17
    flat = [spread(data[pc]) < NEGLIGIBLE_SPREAD for pc in ("pc1", "pc2")]
    if len(data) < 2 or flat[0]:
        why = (
            f"Nothing to show: {len(data)} persona(s); clusters need at least two"
            if len(data) < 2
            else f"Nothing to show: the {len(data)} personas' MRAT-centred ratings do not "
            "vary\n(every persona answers alike), so there are no principal components"
        )
        say_why(ax_c, "Clusters", why)
        say_why(ax_a, f"Personas coloured by {color_attribute}", why)
        fig.suptitle(title)
        return finish(fig, (ax_c, ax_a), path)
    if flat[1]:
        data = data.assign(pc2=0.0)

    clusters = sorted(int(c) for c in data["cluster"].unique())
    cmap = colormaps["tab10"]
    for c in clusters:
        part = data.loc[data["cluster"] == c]
        ax_c.scatter(
            part["pc1"],
            part["pc2"],
            s=22,
            alpha=0.8,
            color=cmap(c % cmap.N),
            label=f"cluster {c} (n = {len(part)})",
            edgecolors="none",
        )
    ax_c.legend(fontsize=8, title="cluster", loc="best")
    ax_c.set_title(f"Clusters (k = {len(clusters)})")

    series = data[color_attribute]
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )
    if numeric:
        vals = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        points = ax_a.scatter(
            data["pc1"], data["pc2"], c=vals, cmap="viridis", s=22, alpha=0.85, edgecolors="none"
        )
        fig.colorbar(points, ax=ax_a, label=color_attribute)
    else:
        colours, handles = _attribute_colours(series)
        ax_a.scatter(data["pc1"], data["pc2"], c=colours, s=22, alpha=0.85, edgecolors="none")
        ax_a.legend(
            handles=handles,
            fontsize=7,
            title=color_attribute,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
        )
    ax_a.set_title(f"Personas coloured by {color_attribute}")
    for ax in (ax_c, ax_a):
        ax.set_xlabel("PC1")
        ax.set_ylabel(f"PC2: no variance left (n = {len(data)} personas)" if flat[1] else "PC2")
        if flat[1]:
            ax.set_ylim(-1.0, 1.0)
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    return finish(fig, (ax_c, ax_a), path)
