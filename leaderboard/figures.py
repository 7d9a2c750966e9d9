"""The app's figures: overall inertia with CIs, a two-model comparison, analysis figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leaderboard.data import Board, result_stem
from leaderboard.selection import (
    LEVEL_LABELS,
    dimension_table,
    model_choices,
    model_label,
    result_row,
    selected_rows,
)

FIGURES: dict[str, str] = {
    "macro": "Answer distribution per value dimension (persona vs. baseline)",
    "micro": "Persona x item mean ratings",
    "convergence": "Variance of the dimension mean as personas are added",
    "clusters": "Persona clusters of the response pattern (PCA)",
    "cohens_d": "How much each persona attribute moves each dimension (Cohen's d)",
    "permeability": "How much each persona attribute moves each dimension (omega squared)",
    "variant_shift": "Inertia shift of each prompt variant against the original prompt, with CI",
    "position_bias": "Answers by letter shown vs. by option meaning (shuffled variant)",
}


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def ci_figure(board: Board, questionnaire: str, protocol: str | None) -> Any:
    """Overall inertia per model with its CI (error bars), best first."""
    rows = selected_rows(board, questionnaire, protocol)
    fig = _figure(9, max(2.2, 0.5 * len(rows) + 1.2))
    ax = fig.add_subplot()
    if rows.empty:
        ax.text(0.5, 0.5, "no results", ha="center", va="center")
        ax.set_axis_off()
        return fig
    y = list(range(len(rows)))[::-1]
    values = rows["inertia"].astype(float).to_numpy()
    low = rows["inertia_ci_low"].astype(float).to_numpy()
    high = rows["inertia_ci_high"].astype(float).to_numpy()
    # a bootstrap interval need not contain the point estimate: bars never go negative
    err = [
        [max(v - lo, 0.0) if lo == lo else 0.0 for v, lo in zip(values, low, strict=True)],
        [max(hi - v, 0.0) if hi == hi else 0.0 for v, hi in zip(values, high, strict=True)],
    ]
    ax.errorbar(values, y, xerr=err, fmt="o", capsize=4, color="#3b4cc0")
    labels = dict(model_choices(board, questionnaire, protocol))  # label by identity
    names = {key: label for label, key in labels.items()}
    ticks = [
        f"{r} {names.get(str(k), m)}"
        for r, k, m in zip(rows["rank_label"], rows["model_key"], rows["model"], strict=True)
    ]
    ax.set_yticks(y, ticks)
    ax.set_xlabel("inertia (1 = every persona gives the same answer), with CI")
    ax.set_xlim(0, 1)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"{questionnaire}: overall inertia by model")
    return fig


def compare_figure(
    board: Board, a: str, b: str, questionnaire: str, protocol: str | None, level: str
) -> Any:
    """Per group: inertia and steerability of two models (``a``, ``b``: their ``model_key``)
    with CIs, and both distributions."""
    import numpy as np

    ta = dimension_table(board, a, questionnaire, protocol, level)
    tb = dimension_table(board, b, questionnaire, protocol, level)
    groups = list(dict.fromkeys([*ta["group"], *tb["group"]]))
    has_dist = "distribution" in ta.columns and len(groups) > 0
    fig = _figure(13, 1.6 + 0.38 * max(len(groups), 3))
    grid = fig.add_gridspec(1, 3 if has_dist else 2)
    y = np.arange(len(groups))[::-1]
    colors = {a: "#3b4cc0", b: "#d1493f"}
    for col, metric in enumerate(("inertia", "steerability")):
        ax = fig.add_subplot(grid[0, col])
        for offset, (name, table) in zip((0.17, -0.17), ((a, ta), (b, tb)), strict=True):
            by = table.set_index("group")
            vals = [by[metric].get(g, np.nan) if metric in by else np.nan for g in groups]
            vals = np.array(vals, dtype=float)
            lo_col, hi_col = f"{metric}_ci_low", f"{metric}_ci_high"
            if lo_col in by and hi_col in by:
                lo = np.array([by[lo_col].get(g, np.nan) for g in groups], dtype=float)
                hi = np.array([by[hi_col].get(g, np.nan) for g in groups], dtype=float)
                err = [
                    np.clip(np.nan_to_num(vals - lo), 0, None),
                    np.clip(np.nan_to_num(hi - vals), 0, None),
                ]
            else:
                err = None
            ax.errorbar(
                vals,
                y + offset,
                xerr=err,
                fmt="o",
                capsize=3,
                color=colors[name],
                label=model_label(board, name),
            )
        ax.set_yticks(y, groups if col == 0 else [""] * len(groups))
        ax.set_xlim(0, 1)
        ax.set_xlabel(metric)
        ax.grid(axis="x", alpha=0.3)
        if col == 0:
            fig.legend(loc="outside upper right", ncols=2, fontsize=9)
    if has_dist:
        # the macro distributions: shares of ratings 1..6, one stacked bar per model
        ax = fig.add_subplot(grid[0, 2])
        shades = ["#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac"]
        for offset, (name, table) in zip((0.17, -0.17), ((a, ta), (b, tb)), strict=True):
            by = table.set_index("group")
            for yi, g in zip(y, groups, strict=True):
                dist = by["distribution"].get(g) if "distribution" in by else None
                if dist is None or not hasattr(dist, "__len__") or len(dist) != 6:
                    continue
                left = 0.0
                for k, share in enumerate(np.asarray(dist, dtype=float)):
                    ax.barh(
                        yi + offset,
                        share,
                        left=left,
                        height=0.3,
                        color=shades[k],
                        edgecolor=colors[name],
                        linewidth=0.8,
                    )
                    left += share
        ax.set_yticks(y, [""] * len(groups))
        ax.set_xlim(0, 1)
        ax.set_xlabel("answer shares: rating 1 (red) to 6 (blue)")
    names = f"{model_label(board, a)} vs. {model_label(board, b)}"
    fig.suptitle(f"{names} · {questionnaire} · {LEVEL_LABELS.get(level, level)}")
    return fig


def figures_for(
    board: Board, key: str | None, questionnaire: str | None, protocol: str | None
) -> list[tuple[str, str]]:
    """``(path, caption)`` of the analysis figures of model ``key`` in the selected protocol
    (``plots/<model_key>/<questionnaire>__<variant>__<protocol>__<figure>.png``; a project's
    own data: ``plots/<model>__<questionnaire>__<figure>.png``), known figures first."""
    row = result_row(board, key, questionnaire, protocol)
    if board.plots_dir is None or row is None:
        return []
    found: dict[str, Path] = {}
    prefix = f"{result_stem(row)}__"
    for path in sorted((board.plots_dir / str(row.get("model_key"))).glob(f"{prefix}*.png")):
        found[path.name[len(prefix) : -4]] = path
    if not found:  # a project's own data/ folder: figures by display name
        prefix = f"{row.get('model')}__{questionnaire}__"
        for path in sorted(board.plots_dir.glob(f"{prefix}*.png")):
            found[path.name[len(prefix) : -4]] = path
    order = [f for f in FIGURES if f in found] + sorted(f for f in found if f not in FIGURES)
    return [(str(found[f]), FIGURES.get(f, f)) for f in order]
