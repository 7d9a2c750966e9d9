"""Answer distributions: the micro view (persona x item), the macro view (per dimension,
persona vs baseline) and the convergence across seeds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from value_inertia.analysis.plots.common import (
    axes_of,
    figure_title,
    finish,
    option_colours,
    plain_ticks,
    spread,
)
from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.design.questionnaires import N_OPTIONS, Questionnaire

MAX_LABELLED_PERSONAS = 40  # persona bands labelled one by one up to this many
MAX_ANNOTATED_CELLS = 600  # cells that carry their value up to this many
NEAR_UNIFORM_SPREAD = 0.5  # ratings within half a scale point: said in words


def plot_micro_heatmap(
    matrix: pd.DataFrame,
    questionnaire: Questionnaire,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    model: str = "",
    variant: str = DEFAULT_VARIANT,
) -> Any:
    """Persona x item heatmap of the mean expected rating (colour scale 1-6).

    ``matrix``: :func:`value_inertia.analysis.matrix.persona_item_matrix` (cell = mean
    over repeats/samples of ``sum_k k * p_k`` for one persona and item; scored
    items in scoring-key order). Items are grouped by dimension; dimension
    names label the groups below the map, item numbers run along the top.
    Grey cells: no parsed answer.
    """
    values = matrix.to_numpy(dtype=float)
    n_personas, n_items = values.shape
    width = max(8.0, 0.2 * n_items + 3.0)
    height = max(4.5, min(12.0, 0.04 * n_personas + 3.5))
    fig, ax = axes_of(ax, (width, height))
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
    # few personas: each band is labelled, and each cell carries its value, so a model
    # that answers nearly alike everywhere still reads as numbers, not as one colour
    if 0 < n_personas <= MAX_LABELLED_PERSONAS:
        ax.set_yticks(range(n_personas), [f"persona {i + 1}" for i in range(n_personas)])
        ax.tick_params(axis="y", labelsize=7)
    else:
        ax.set_yticks([])
    if 0 < values.size <= MAX_ANNOTATED_CELLS:
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                colour = "black" if v > 4.0 else "white"  # viridis is light at the top
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=5, color=colour)
    ax.set_ylabel(f"personas (n = {n_personas})")
    low, high = (np.nanmin(values), np.nanmax(values)) if np.isfinite(values).any() else (0, 0)
    ax.set_xlabel(
        "value dimension"
        + (
            f"   (every rating within {low:.2f}-{high:.2f}: nearly uniform answers)"
            if np.isfinite(values).any() and spread(values) < NEAR_UNIFORM_SPREAD
            else ""
        )
    )
    ax.set_title(
        figure_title("expected rating per persona and item", model, questionnaire.id, variant),
        fontsize=11,
    )
    return finish(fig, ax, path)


def plot_macro_distribution(
    metrics: Mapping[str, Any] | Any,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
) -> Any:
    """Stacked horizontal bars of the 6-option answer distribution per dimension.

    ``metrics``: the metrics file (a :class:`value_inertia.core.results.MetricsResult`
    or its dict). Two bars per dimension: the pooled persona-condition
    distribution p_d and the baseline (no persona) distribution; each segment
    is the share of option k. The inertia index ``I = 1 - H(p_d) / log2 6`` is
    printed beside the persona bar.
    """
    metrics_dict = metrics if isinstance(metrics, Mapping) else metrics.model_dump()
    dims: Mapping[str, Mapping[str, Any]] = metrics_dict.get("dimensions", {})
    names = list(dims)
    colours = option_colours()
    fig, ax = axes_of(ax, (10.0, max(3.5, 0.62 * len(names) + 2.2)))
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
    plain_ticks(ax.xaxis)
    ax.set_xlabel("share of answers")
    handles = [Patch(facecolor=colours[k], label=str(k + 1)) for k in range(N_OPTIONS)]
    handles.append(Patch(facecolor="white", edgecolor="grey", hatch="//", label="baseline"))
    ax.legend(
        handles=handles,
        title="option (rating)",
        ncol=N_OPTIONS + 1,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        fontsize=8,
        frameon=False,
    )
    ax.set_title(
        figure_title(
            "answer distribution per dimension (persona vs baseline)",
            str(metrics_dict.get("model", "")),
            str(metrics_dict.get("questionnaire", "")),
            str(metrics_dict.get("variant") or DEFAULT_VARIANT),
        ),
        fontsize=11,
    )
    return finish(fig, ax, path)


def plot_convergence(
    table: pd.DataFrame,
    info: Mapping[str, Any] | Any = None,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    model: str = "",
    questionnaire: str = "",
    variant: str = DEFAULT_VARIANT,
) -> Any:
    """Between-seed variance of MRAT-centred dimension means vs personas per seed.

    ``table``: :func:`value_inertia.analysis.stability.convergence_across_seeds` (dimension,
    k, variance, band_low, band_high); ``info`` its summary. One line per
    dimension with its bootstrap band; linear axes with plain tick labels.
    With fewer than two seeds the figure says that two seeds are needed.
    """
    info_dict = (info if isinstance(info, Mapping) else info.model_dump()) if info else {}
    fig, ax = axes_of(ax, (8.0, 5.0))
    dims = list(dict.fromkeys(table["dimension"])) if len(table) else []
    cmap = colormaps["tab20" if len(dims) > 10 else "tab10"]
    for i, dim in enumerate(dims):
        part = table.loc[table["dimension"] == dim].sort_values("k")
        colour = cmap(i % cmap.N)
        ax.plot(part["k"], part["variance"], marker="o", markersize=3, color=colour, label=dim)
        ax.fill_between(
            part["k"].to_numpy(dtype=float),
            part["band_low"].to_numpy(dtype=float),
            part["band_high"].to_numpy(dtype=float),
            color=colour,
            alpha=0.15,
            linewidth=0,
        )
    if not dims:
        note = info_dict.get("note") or "no convergence data"
        if not info_dict.get("enough_seeds", False) and "two seeds" not in note:
            note = f"{note} (two seeds are needed)"
        ax.text(0.5, 0.5, note, ha="center", va="center", wrap=True, transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        plain_ticks(ax.xaxis)
        plain_ticks(ax.yaxis)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(
            fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            ncol=2 if len(dims) > 12 else 1,
        )
    ax.set_xlabel("personas per seed (k)")
    ax.set_ylabel("variance across seeds of the mean MRAT score")
    ax.set_title(
        figure_title("convergence across persona seeds", model, questionnaire, variant),
        fontsize=11,
    )
    return finish(fig, ax, path)
