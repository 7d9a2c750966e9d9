"""PNG figures of the analysis (matplotlib, no display needed).

Every function draws one figure, writes it to ``path`` (parent folders are
created) and returns the path. Figures are built with :class:`Figure` directly,
not through pyplot's global state, so nothing leaks between calls, and no
backend is selected: saving a Figure to PNG renders with Agg whatever the
process's backend is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from value_inertia.analysis import persona_item_matrix
from value_inertia.questionnaires import N_OPTIONS, Questionnaire

DPI = 110
MAX_LEGEND_CATEGORIES = 10


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, bbox_inches="tight", facecolor="white")
    return out


def _option_colours() -> list[tuple[float, float, float, float]]:
    """Six ordered colours for ratings 1..6 (diverging: low red, high blue)."""
    cmap = colormaps["RdYlBu"]
    return [cmap(x) for x in np.linspace(0.05, 0.95, N_OPTIONS)]


def _single_value(frame: pd.DataFrame, column: str) -> str:
    if column not in frame:
        return ""
    values = sorted(frame[column].dropna().astype(str).unique())
    return ", ".join(values)


def plot_micro_heatmap(
    parsed: pd.DataFrame, questionnaire: Questionnaire, path: str | Path
) -> Path:
    """Persona x item heatmap of the mean expected rating (colour scale 1-6).

    Cell = mean over repeats/samples of ``sum_k k * p_k`` for one persona and
    item (persona condition, scored items only). Items are grouped by
    dimension; dimension names label the groups below the map, item numbers
    run along the top. Grey cells: no parsed answer.
    """
    matrix = persona_item_matrix(parsed, questionnaire)
    values = matrix.to_numpy(dtype=float)
    n_personas, n_items = values.shape
    width = max(8.0, 0.2 * n_items + 3.0)
    height = max(4.5, min(12.0, 0.04 * n_personas + 3.5))
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    cmap = colormaps["viridis"].with_extremes(bad="lightgrey")
    shown = np.ma.masked_invalid(values) if values.size else np.full((1, max(n_items, 1)), np.nan)
    image = ax.imshow(
        shown, aspect="auto", cmap=cmap, vmin=1, vmax=N_OPTIONS, interpolation="nearest"
    )
    fig.colorbar(image, ax=ax, label="expected rating (1 = lowest, 6 = highest)", pad=0.02)

    centres, names, edge = [], [], 0
    for dim, nums in questionnaire.dimensions.items():
        count = len(nums)
        centres.append(edge + (count - 1) / 2)
        names.append(dim)
        edge += count
        if edge < n_items:
            ax.axvline(edge - 0.5, color="white", linewidth=1.5)
    ax.set_xticks(
        centres,
        names,
        rotation=45 if len(names) > 6 else 0,
        ha="right" if len(names) > 6 else "center",
        fontsize=9,
    )
    top = ax.secondary_xaxis("top")
    top.set_xticks(range(n_items), [str(c) for c in matrix.columns], fontsize=6)
    top.set_xlabel("item", fontsize=8)
    ax.set_yticks([])
    ax.set_ylabel(f"personas (n = {n_personas})")
    ax.set_xlabel("value dimension")
    model = _single_value(parsed, "model")
    ax.set_title(
        f"{model + ' · ' if model else ''}{questionnaire.name}: expected rating per persona "
        "and item",
        fontsize=11,
    )
    return _save(fig, path)


def plot_macro_distribution(metrics_dict: Mapping[str, Any], path: str | Path) -> Path:
    """Stacked horizontal bars of the 6-option answer distribution per dimension.

    Two bars per dimension: the pooled persona-condition distribution p_d and
    the baseline (no persona) distribution; each segment is the share of
    option k. The inertia index ``I = 1 - H(p_d) / log2 6`` is printed beside
    the persona bar.
    """
    dims: Mapping[str, Mapping[str, Any]] = metrics_dict.get("dimensions", {})
    names = list(dims)
    colours = _option_colours()
    fig = Figure(figsize=(10.0, max(3.5, 0.62 * len(names) + 1.8)), layout="constrained")
    ax = fig.add_subplot()
    bar_h = 0.38
    ticks: list[float] = []
    labels: list[str] = []
    for i, dim in enumerate(names):
        entry = dims[dim]
        for offset, key, label in (
            (-0.2, "distribution", "persona"),
            (0.2, "baseline_distribution", "baseline"),
        ):
            dist = entry.get(key)
            y = i + offset
            ticks.append(y)
            labels.append(f"{dim} · {label}")
            if dist is None:
                ax.text(0.01, y, "no data", va="center", fontsize=8, color="grey")
                continue
            left = 0.0
            for k, share in enumerate(dist):
                share = float(share or 0.0)
                ax.barh(
                    y,
                    share,
                    left=left,
                    height=bar_h,
                    color=colours[k],
                    edgecolor="white",
                    linewidth=0.5,
                    hatch="//" if label == "baseline" else None,
                )
                left += share
        inertia = entry.get("inertia")
        if inertia is not None:
            ax.text(1.01, i - 0.2, f"I = {inertia:.2f}", va="center", fontsize=8)
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of answers")
    handles = [Patch(facecolor=colours[k], label=str(k + 1)) for k in range(N_OPTIONS)]
    handles.append(Patch(facecolor="white", edgecolor="grey", hatch="//", label="baseline"))
    fig.legend(
        handles=handles,
        title="option (rating)",
        ncol=N_OPTIONS + 1,
        loc="outside lower center",
        fontsize=8,
        frameon=False,
    )
    model = metrics_dict.get("model", "")
    questionnaire = metrics_dict.get("questionnaire", "")
    ax.set_title(
        f"{model} · {questionnaire}: answer distribution per dimension (persona vs baseline)",
        fontsize=11,
    )
    return _save(fig, path)


def plot_convergence(convergence_df: pd.DataFrame, path: str | Path) -> Path:
    """Variance of the dimension mean vs the number of personas (log-log).

    One line per dimension; the dashed grey line is the ``1/n`` rate expected
    for independent personas, anchored at the median variance at n = 1.
    Variances that are zero up to rounding (``<= 1e-12`` times the largest one,
    e.g. drawing all personas without replacement) cannot be drawn on a log
    axis and are left out.
    """
    fig = Figure(figsize=(8.0, 5.0))
    ax = fig.add_subplot()
    if len(convergence_df):
        floor = 1e-12 * max(float(convergence_df["variance"].max()), 0.0)
        convergence_df = convergence_df.loc[convergence_df["variance"] > floor]
    dims = list(dict.fromkeys(convergence_df["dimension"])) if len(convergence_df) else []
    cmap = colormaps["tab20" if len(dims) > 10 else "tab10"]
    drawn = False
    for i, dim in enumerate(dims):
        part = convergence_df.loc[convergence_df["dimension"] == dim].sort_values("n_personas")
        part = part.loc[part["variance"] > 0]
        if part.empty:
            continue
        ax.plot(
            part["n_personas"],
            part["variance"],
            marker="o",
            markersize=3,
            color=cmap(i % cmap.N),
            label=str(dim),
        )
        drawn = True
    positive = convergence_df.loc[convergence_df["variance"] > 0] if len(convergence_df) else None
    if drawn and positive is not None:
        n = np.sort(positive["n_personas"].unique()).astype(float)
        first = positive.loc[positive["n_personas"] == n[0], "variance"].median()
        ax.plot(n, first * n[0] / n, linestyle="--", color="grey", label="1/n reference")
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        ax.text(
            0.5,
            0.5,
            "no positive variances to show",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_xlabel("number of personas (log)")
    ax.set_ylabel("variance of the dimension mean (log)")
    ax.set_title("Convergence of dimension means as personas are added")
    ax.grid(True, which="both", alpha=0.3)
    if drawn:
        ax.legend(
            fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            ncol=2 if len(dims) > 12 else 1,
        )
    return _save(fig, path)


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
    path: str | Path,
) -> Path:
    """Two PCA scatters of the personas: coloured by cluster, and by ``color_attribute``.

    ``assignments`` has persona_id, cluster, pc1, pc2 (:func:`cluster_personas`).
    Numeric attributes get a continuous colour scale; categorical ones a legend
    (the 10 most frequent categories, the rest grey; null = "none").
    """
    table = personas.copy()
    table["persona_id"] = table["persona_id"].astype(str)
    table = table.drop_duplicates("persona_id")
    data = assignments.assign(persona_id=assignments["persona_id"].astype(str)).merge(
        table[["persona_id", color_attribute]], on="persona_id", how="left"
    )
    fig = Figure(figsize=(13.0, 5.5))
    ax_c, ax_a = fig.subplots(1, 2)

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
        ax.set_ylabel("PC2")
        ax.grid(True, alpha=0.3)
    fig.suptitle("Personas in the first two principal components of their item ratings")
    return _save(fig, path)


def plot_cohens_d(grid: pd.DataFrame, path: str | Path) -> Path:
    """Attribute x dimension heatmap of Cohen's d, diverging colours centred at 0.

    Every cell is annotated with d (``n/a`` where it could not be computed).
    When one contrast applies to a whole row (binary and integer attributes),
    it is shown next to the attribute name.
    """
    values = grid.to_numpy(dtype=float, na_value=np.nan) if grid.size else np.zeros((0, 0))
    n_rows, n_cols = values.shape
    finite = np.abs(values[np.isfinite(values)])
    limit = max(0.2, float(finite.max()) if finite.size else 0.2)
    fig = Figure(figsize=(max(6.0, 0.75 * n_cols + 4.0), max(3.0, 0.45 * n_rows + 2.0)))
    ax = fig.add_subplot()
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
    ax.set_title("Selective permeability: Cohen's d of persona scores per attribute")
    return _save(fig, path)


__all__ = [
    "plot_clusters",
    "plot_cohens_d",
    "plot_convergence",
    "plot_macro_distribution",
    "plot_micro_heatmap",
]
