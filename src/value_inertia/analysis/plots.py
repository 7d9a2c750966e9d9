"""PNG figures of the analysis (matplotlib, no display and no global state needed).

Every ``plot_*`` function takes precomputed data (the analysis computes the
persona x item matrix, the permeability table, ... once per run) and draws
one figure, like scikit-learn's Display objects:

* ``ax=None`` (default): a new :class:`~matplotlib.figure.Figure` is made;
* ``ax=<Axes>``: the figure is drawn into that Axes (for composing panels);
* ``path``: the figure is written there (parent folders created) and the path
  is returned; without ``path`` the Axes is returned.

Figures are built with :class:`Figure` directly, not through pyplot, so
nothing leaks between calls and no backend is selected at import. Every
title names the model, the questionnaire and the prompt variant
(:func:`figure_title`), so figures side by side can be told apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.design.questionnaires import N_OPTIONS, Questionnaire

DPI = 110
MAX_LEGEND_CATEGORIES = 10


def figure_title(what: str, model: str = "", questionnaire: str = "", variant: str = "") -> str:
    """``"<model> · <questionnaire> · <variant>: <what>"`` (the parts that are known)."""
    parts = [p for p in (model, questionnaire, variant or DEFAULT_VARIANT) if p]
    return f"{' · '.join(parts)}: {what}" if parts else what


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = Figure(figsize=figsize)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, bbox_inches="tight", facecolor="white")
    return out


def _finish(fig: Figure, ax: Any, path: str | Path | None) -> Any:
    return _save(fig, path) if path is not None else ax


def _plain(axis: Any) -> None:
    """Plain decimal tick labels (no offsets, no ``2x10^0`` mantissas)."""
    fmt = ScalarFormatter(useOffset=False, useMathText=False)
    fmt.set_scientific(False)
    axis.set_major_formatter(fmt)


def _option_colours() -> list[tuple[float, float, float, float]]:
    """Six ordered colours for ratings 1..6 (diverging: low red, high blue)."""
    cmap = colormaps["RdYlBu"]
    return [cmap(x) for x in np.linspace(0.05, 0.95, N_OPTIONS)]


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

    ``matrix``: :func:`value_inertia.analysis.analyze.persona_item_matrix` (cell = mean
    over repeats/samples of ``sum_k k * p_k`` for one persona and item; scored
    items in scoring-key order). Items are grouped by dimension; dimension
    names label the groups below the map, item numbers run along the top.
    Grey cells: no parsed answer.
    """
    values = matrix.to_numpy(dtype=float)
    n_personas, n_items = values.shape
    width = max(8.0, 0.2 * n_items + 3.0)
    height = max(4.5, min(12.0, 0.04 * n_personas + 3.5))
    fig, ax = _axes(ax, (width, height))
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
    ax.set_title(
        figure_title("expected rating per persona and item", model, questionnaire.id, variant),
        fontsize=11,
    )
    return _finish(fig, ax, path)


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
    colours = _option_colours()
    fig, ax = _axes(ax, (10.0, max(3.5, 0.62 * len(names) + 2.2)))
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
    _plain(ax.xaxis)
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
    return _finish(fig, ax, path)


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

    ``table``: :func:`value_inertia.analysis.analyze.convergence_across_seeds` (dimension,
    k, variance, band_low, band_high); ``info`` its summary. One line per
    dimension with its bootstrap band; linear axes with plain tick labels.
    With fewer than two seeds the figure says that two seeds are needed.
    """
    info_dict = (info if isinstance(info, Mapping) else info.model_dump()) if info else {}
    fig, ax = _axes(ax, (8.0, 5.0))
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
        _plain(ax.xaxis)
        _plain(ax.yaxis)
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
    return _finish(fig, ax, path)


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

    ``table``: :func:`value_inertia.analysis.analyze.permeability_table`. Colour: the
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
    n_rows, n_cols = values.shape
    finite = np.abs(values[np.isfinite(values)])
    limit = max(0.1, float(finite.max()) if finite.size else 0.1)
    fig, ax = _axes(ax, (max(6.0, 0.75 * n_cols + 4.0), max(3.0, 0.45 * n_rows + 2.0)))
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
    ax.set_title(
        figure_title(
            "selective permeability (omega-squared of MRAT-centred scores)",
            model,
            questionnaire,
            variant,
        ),
        fontsize=11,
    )
    return _finish(fig, ax, path)


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
    fig.suptitle(
        figure_title(
            "personas in the first two principal components of their MRAT-centred ratings",
            model,
            questionnaire,
            variant,
        )
    )
    return _finish(fig, (ax_c, ax_a), path)


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

    ``grid``: :func:`value_inertia.analysis.analyze.cohens_d_grid`. Every cell is
    annotated with d (``n/a`` where there is no two-group contrast or a group
    is too small); the contrast is shown next to the attribute name.
    """
    values = grid.to_numpy(dtype=float, na_value=np.nan) if grid.size else np.zeros((0, 0))
    n_rows, n_cols = values.shape
    finite = np.abs(values[np.isfinite(values)])
    limit = max(0.2, float(finite.max()) if finite.size else 0.2)
    fig, ax = _axes(ax, (max(6.0, 0.75 * n_cols + 4.0), max(3.0, 0.45 * n_rows + 2.0)))
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
    return _finish(fig, ax, path)


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
    fig, ax = _axes(ax, (7.5, max(2.5, 0.35 * len(dims) + 1.8)))
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
    return _finish(fig, ax, path)


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
        return _save(fig, path)
    heights = [max(2.5, 0.35 * len(set(t["dimension"])) + 1.8) for t in tables.values()]
    fig = Figure(figsize=(7.5, sum(heights)))
    axes = fig.subplots(len(tables), 1, squeeze=False, height_ratios=heights)[:, 0]
    for panel, (variant, table) in zip(axes, tables.items(), strict=True):
        plot_variant_shift(table, ax=panel, model=model, questionnaire=questionnaire,
                           variant=variant, confidence=confidence)  # fmt: skip
    fig.tight_layout()
    return _save(fig, path)


__all__ = [
    "figure_title",
    "plot_clusters",
    "plot_cohens_d",
    "plot_convergence",
    "plot_macro_distribution",
    "plot_micro_heatmap",
    "plot_permeability",
    "plot_variant_shift",
    "plot_variant_shifts",
]
