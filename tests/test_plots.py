"""Every plot function writes a readable PNG that shows the data it was given.

The content checks read the matplotlib Figure each function draws (captured where
it is saved): the values in the image or bars, the labels and the titles.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from value_inertia import plots
from value_inertia.analysis import P_COLUMNS
from value_inertia.plots import (
    plot_clusters,
    plot_cohens_d,
    plot_convergence,
    plot_macro_distribution,
    plot_micro_heatmap,
)
from value_inertia.questionnaires import Questionnaire

N_PERSONAS = 8


@pytest.fixture(scope="module")
def questionnaire() -> Questionnaire:
    items = [{"number": n, "text": f"item {n}", "block": "b"} for n in range(1, 8)]
    items[6]["catch"] = True
    return Questionnaire.model_validate(
        {
            "id": "tiny",
            "name": "Tiny",
            "citation": "none",
            "license": "none",
            "blocks": {"b": {"stem": "How much?", "options": [f"o{k}" for k in range(1, 7)]}},
            "items": items,
            "dimensions": {"Care": [1, 2, 3], "Order": [4, 5, 6]},
        }
    )


@pytest.fixture(scope="module")
def personas() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "persona_id": [f"p{i}" for i in range(N_PERSONAS)],
            "seed": 111,
            "index": range(N_PERSONAS),
            "sex": ["female", "male"] * (N_PERSONAS // 2),
            "age": pd.array([20 + 7 * i for i in range(N_PERSONAS)], dtype="Int64"),
            "occupation": [None if i % 3 == 0 else "managers" for i in range(N_PERSONAS)],
        }
    )


@pytest.fixture(scope="module")
def parsed(questionnaire: Questionnaire, personas: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for pid in [*personas["persona_id"], None]:
        for it in questionnaire.items:
            p = rng.dirichlet(np.ones(6))
            rows.append(
                {
                    "model": "m",
                    "mode": "logprobs",
                    "condition": "baseline" if pid is None else "persona",
                    "persona_id": pid,
                    "seed": None if pid is None else 111,
                    "questionnaire": "tiny",
                    "item": it.number,
                    "catch": it.catch,
                    "repeat": 0,
                    "sample_index": 0,
                    **dict(zip(P_COLUMNS, p, strict=True)),
                }
            )
    frame = pd.DataFrame(rows)
    frame.loc[3, P_COLUMNS] = np.nan  # one unparsed answer: a grey cell
    return frame


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Every Figure a plot function saves during the test, in order."""
    drawn: list[Figure] = []
    save = plots._save

    def capture(fig: Figure, path: str | Path) -> Path:
        drawn.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", capture)
    return drawn


def assert_png(path: Path, expected: Path) -> None:
    assert path == expected
    assert path.exists() and path.stat().st_size > 1000
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def tick_labels(axis) -> list[str]:
    return [t.get_text() for t in axis.get_ticklabels()]


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_micro_heatmap(
    parsed: pd.DataFrame, questionnaire: Questionnaire, tmp_path: Path, figures: list[Figure]
) -> None:
    out = tmp_path / "sub" / "micro.png"
    assert_png(plot_micro_heatmap(parsed, questionnaire, out), out)
    [fig] = figures
    ax = fig.axes[0]
    [image] = ax.images
    # expected rating sum_k k * p_k per persona (rows, sorted) and scored item (columns,
    # in dimension order); the catch item 7 and the baseline rows are not drawn
    rows = parsed[(parsed.condition == "persona") & ~parsed["catch"]]
    expected = rows[P_COLUMNS].to_numpy() @ np.arange(1, 7)  # NaN stays NaN
    want = (
        rows.assign(e=expected)
        .pivot_table(index="persona_id", columns="item", values="e", dropna=False)
        .sort_index()
        .reindex(columns=[1, 2, 3, 4, 5, 6])
    )
    shown = np.ma.filled(np.ma.asarray(image.get_array(), dtype=float), np.nan)
    assert shown.shape == (N_PERSONAS, 6)
    np.testing.assert_allclose(shown, want.to_numpy(), equal_nan=True)
    assert np.isnan(shown).sum() == 1  # the unparsed answer is a grey (masked) cell
    assert image.get_clim() == (1, 6)
    assert tick_labels(ax.xaxis) == ["Care", "Order"]
    [top] = [child for child in ax.child_axes]
    assert tick_labels(top.xaxis) == ["1", "2", "3", "4", "5", "6"]
    assert ax.get_ylabel() == f"personas (n = {N_PERSONAS})"
    assert "Tiny" in ax.get_title() and ax.get_title().startswith("m ")


def centre(bar) -> float:
    return bar.get_y() + bar.get_height() / 2


def test_macro_distribution(tmp_path: Path, figures: list[Figure]) -> None:
    care = [0.1, 0.1, 0.2, 0.2, 0.2, 0.2]
    care_base = [0, 0, 0, 0, 0.5, 0.5]
    order = [0.5, 0.5, 0, 0, 0, 0]
    metrics = {
        "model": "m",
        "questionnaire": "tiny",
        "dimensions": {
            "Care": {"distribution": care, "baseline_distribution": care_base, "inertia": 0.03},
            "Order": {"distribution": order, "baseline_distribution": None, "inertia": 0.61},
        },
    }
    out = tmp_path / "macro.png"
    assert_png(plot_macro_distribution(metrics, out), out)
    [fig] = figures
    ax = fig.axes[0]
    labels = tick_labels(ax.yaxis)
    assert labels == ["Care · persona", "Care · baseline", "Order · persona", "Order · baseline"]
    ticks = dict(zip(labels, ax.get_yticks(), strict=True))
    # each bar is six segments, left to right, as wide as the shares of options 1..6
    for label, dist in (
        ("Care · persona", care),
        ("Care · baseline", care_base),
        ("Order · persona", order),
    ):
        bars = [b for b in ax.patches if abs(centre(b) - ticks[label]) < 1e-9]
        assert [b.get_width() for b in bars] == pytest.approx(dist)
        assert [b.get_x() for b in bars] == pytest.approx(np.cumsum([0, *dist[:-1]]))
        assert all(bool(b.get_hatch()) == label.endswith("baseline") for b in bars)
    missing = ticks["Order · baseline"]
    assert not [b for b in ax.patches if abs(centre(b) - missing) < 1e-9]
    assert {"no data", "I = 0.03", "I = 0.61"} <= set(texts(ax))
    assert ax.get_title().startswith("m · tiny")


def test_convergence_plot(tmp_path: Path, figures: list[Figure]) -> None:
    sizes = [1, 2, 4, 8]
    frame = pd.DataFrame(
        [
            {"dimension": d, "n_personas": n, "variance": scale / n}
            for d, scale in (("Care", 1.0), ("Order", 0.5))
            for n in sizes
        ]
        + [{"dimension": "Flat", "n_personas": n, "variance": 0.0} for n in sizes]
    )
    out = tmp_path / "convergence.png"
    assert_png(plot_convergence(frame, out), out)
    [fig] = figures
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"Care", "Order", "1/n reference"}  # "Flat" (all zero) is left out
    for name, scale in (("Care", 1.0), ("Order", 0.5)):
        assert list(lines[name].get_xdata()) == sizes
        assert list(lines[name].get_ydata()) == pytest.approx([scale / n for n in sizes])
    # anchored at the median variance at n = 1: (1.0 + 0.5) / 2
    assert list(lines["1/n reference"].get_ydata()) == pytest.approx([0.75 / n for n in sizes])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Care", "Order", "1/n reference"]


@pytest.mark.parametrize("attribute", ["sex", "age", "occupation"])
def test_clusters_plot(
    personas: pd.DataFrame, attribute: str, tmp_path: Path, figures: list[Figure]
) -> None:
    rng = np.random.default_rng(1)
    assignments = pd.DataFrame(
        {
            "persona_id": personas["persona_id"],
            "cluster": [0, 1] * (N_PERSONAS // 2),
            "pc1": rng.standard_normal(N_PERSONAS),
            "pc2": rng.standard_normal(N_PERSONAS),
        }
    )
    out = tmp_path / f"clusters-{attribute}.png"
    assert_png(plot_clusters(assignments, personas, attribute, out), out)
    [fig] = figures
    ax_c, ax_a = fig.axes[:2]
    # left: one scatter per cluster at exactly its personas' PCA coordinates
    for c, points in enumerate(ax_c.collections):
        part = assignments[assignments.cluster == c]
        np.testing.assert_allclose(points.get_offsets(), part[["pc1", "pc2"]].to_numpy())
    legend = [t.get_text() for t in ax_c.get_legend().get_texts()]
    assert legend == ["cluster 0 (n = 4)", "cluster 1 (n = 4)"]
    # right: every persona, coloured by the attribute
    [points] = ax_a.collections
    np.testing.assert_allclose(points.get_offsets(), assignments[["pc1", "pc2"]].to_numpy())
    assert ax_a.get_title() == f"Personas coloured by {attribute}"
    if attribute == "age":  # numeric: a colour scale over the ages
        np.testing.assert_allclose(points.get_array(), personas["age"].to_numpy(dtype=float))
        assert fig.axes[2].get_ylabel() == "age"  # the colour bar
    else:  # categorical: a legend of the categories, nulls as "none"
        names = [t.get_text() for t in ax_a.get_legend().get_texts()]
        values = personas[attribute].fillna("none")
        assert names == sorted(values.unique())
        colours = points.get_facecolors()
        for value in values.unique():
            same = colours[(values == value).to_numpy()]
            assert (same == same[0]).all()
        assert len({tuple(c) for c in colours}) == values.nunique()


def test_cohens_d_plot(tmp_path: Path, figures: list[Figure]) -> None:
    grid = pd.DataFrame(
        [[0.8, -0.3], [np.nan, 0.05]],
        index=pd.Index(["sex", "age"], name="attribute"),
        columns=pd.Index(["Care", "Order"], name="dimension"),
    )
    grid.attrs["contrast"] = {
        "sex": {"Care": "female vs male", "Order": "female vs male"},
        "age": {"Care": None, "Order": "> 50 vs <= 50"},
    }
    out = tmp_path / "cohens_d.png"
    assert_png(plot_cohens_d(grid, out), out)
    [fig] = figures
    ax = fig.axes[0]
    [image] = ax.images
    shown = np.ma.filled(np.ma.asarray(image.get_array(), dtype=float), np.nan)
    np.testing.assert_allclose(shown, grid.to_numpy(), equal_nan=True)
    low, high = image.get_clim()
    assert low == -high == -0.8  # centred at 0, as wide as the largest |d|
    assert texts(ax) == ["0.80", "-0.30", "n/a", "0.05"]
    assert tick_labels(ax.yaxis) == ["sex (female vs male)", "age (> 50 vs <= 50)"]
    assert tick_labels(ax.xaxis) == ["Care", "Order"]
