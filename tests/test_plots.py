"""Plot functions: readable PNGs, the data drawn, and titles that name the result."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from value_inertia.analysis.matrix import P_COLUMNS, persona_item_matrix
from value_inertia.analysis.plots.clusters import plot_clusters
from value_inertia.analysis.plots.common import figure_title
from value_inertia.analysis.plots.distributions import (
    plot_convergence,
    plot_macro_distribution,
    plot_micro_heatmap,
)
from value_inertia.analysis.plots.effects import plot_cohens_d, plot_permeability
from value_inertia.design.questionnaires import Questionnaire

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


def assert_png(path: Path, expected: Path) -> None:
    assert path == expected
    assert path.exists() and path.stat().st_size > 1000
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def new_ax():
    return Figure().add_subplot()


def test_figure_title_names_model_questionnaire_and_variant() -> None:
    assert figure_title("x", "m", "mfq30", "shuffled") == "m · mfq30 · shuffled: x"
    assert figure_title("x", "m", "mfq30") == "m · mfq30 · original: x"


def test_micro_heatmap(parsed: pd.DataFrame, questionnaire: Questionnaire, tmp_path: Path) -> None:
    matrix = persona_item_matrix(parsed, questionnaire)
    out = tmp_path / "sub" / "micro.png"
    assert_png(plot_micro_heatmap(matrix, questionnaire, out, model="m"), out)
    ax = plot_micro_heatmap(matrix, questionnaire, ax=new_ax(), model="m", variant="reversed")
    drawn = ax.images[0].get_array()
    np.testing.assert_allclose(drawn.filled(np.nan), matrix.to_numpy(), equal_nan=True)
    assert drawn.mask.sum() == 1  # the unparsed answer is a grey cell
    assert ax.get_title() == "m · tiny · reversed: expected rating per persona and item"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Care", "Order"]
    # the matrix itself: expected rating sum_k k * p_k per persona (sorted) and scored item
    rows = parsed[(parsed.condition == "persona") & ~parsed["catch"]]
    expected = rows.assign(e=rows[P_COLUMNS].to_numpy() @ np.arange(1, 7)).pivot_table(
        index="persona_id", columns="item", values="e", dropna=False
    )
    np.testing.assert_allclose(drawn.filled(np.nan), expected.to_numpy(), equal_nan=True)
    assert ax.images[0].get_clim() == (1, 6)
    [top] = ax.child_axes
    assert [t.get_text() for t in top.get_xticklabels()] == ["1", "2", "3", "4", "5", "6"]
    assert ax.get_ylabel() == f"personas (n = {N_PERSONAS})"


def test_macro_distribution(tmp_path: Path) -> None:
    metrics = {
        "model": "m",
        "questionnaire": "tiny",
        "variant": "shuffled",
        "dimensions": {
            "Care": {
                "distribution": [0.1, 0.1, 0.2, 0.2, 0.2, 0.2],
                "baseline_distribution": [0, 0, 0, 0, 0.5, 0.5],
                "inertia": 0.03,
            },
            "Order": {
                "distribution": [0.5, 0.5, 0, 0, 0, 0],
                "baseline_distribution": None,
                "inertia": 0.61,
            },
        },
    }
    out = tmp_path / "macro.png"
    assert_png(plot_macro_distribution(metrics, out), out)
    ax = plot_macro_distribution(metrics, ax=new_ax())
    assert ax.get_title().startswith("m · tiny · shuffled:")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Care · persona", "Care · baseline", "Order · persona", "Order · baseline"]
    ticks = dict(zip(labels, ax.get_yticks(), strict=True))
    # each bar: six segments, left to right, as wide as the shares of options 1..6
    for label, dist in (
        ("Care · persona", [0.1, 0.1, 0.2, 0.2, 0.2, 0.2]),
        ("Care · baseline", [0, 0, 0, 0, 0.5, 0.5]),
        ("Order · persona", [0.5, 0.5, 0, 0, 0, 0]),
    ):
        bars = [b for b in ax.patches if abs(b.get_y() + b.get_height() / 2 - ticks[label]) < 1e-9]
        assert [b.get_width() for b in bars] == pytest.approx(dist)
        assert [b.get_x() for b in bars] == pytest.approx(np.cumsum([0, *dist[:-1]]))
        assert all(bool(b.get_hatch()) == label.endswith("baseline") for b in bars)
    missing = ticks["Order · baseline"]
    assert not [b for b in ax.patches if abs(b.get_y() + b.get_height() / 2 - missing) < 1e-9]
    texts = [t.get_text() for t in ax.texts]
    assert "I = 0.03" in texts and "I = 0.61" in texts and "no data" in texts
    labels = [t.get_text() for t in ax.xaxis.get_ticklabels()]
    assert not any("10^" in t or "times" in t for t in labels)


def test_convergence_plot(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        [
            {"dimension": d, "k": k, "variance": scale / k, "band_low": 0.5 * scale / k,
             "band_high": 2 * scale / k}
            for d, scale in (("Care", 1.0), ("Order", 0.5))
            for k in (10, 20, 30)
        ]
    )  # fmt: skip
    out = tmp_path / "convergence.png"
    assert_png(plot_convergence(frame, {"enough_seeds": True}, out, model="m"), out)
    ax = plot_convergence(frame, {"enough_seeds": True}, ax=new_ax(), model="m",
                          questionnaire="tiny")  # fmt: skip
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"Care", "Order"}
    np.testing.assert_allclose(lines["Order"].get_ydata(), [0.05, 0.025, 0.5 / 30])
    assert len(ax.collections) == 2  # one bootstrap band per dimension
    assert ax.get_xscale() == "linear" and "seeds" in ax.get_title()
    assert ax.get_title().startswith("m · tiny · original:")


def test_convergence_plot_with_one_seed_says_two_are_needed(tmp_path: Path) -> None:
    empty = pd.DataFrame(columns=["dimension", "k", "variance", "band_low", "band_high"])
    note = "convergence across persona seeds needs at least two seeds; this run has 1"
    info = {"enough_seeds": False, "n_seeds": 1, "note": note}
    ax = plot_convergence(empty, info, ax=new_ax())
    assert any("two seeds" in t.get_text() for t in ax.texts)
    out = tmp_path / "c1.png"
    assert_png(plot_convergence(empty, info, out), out)


def test_permeability_plot_marks_significant_cells(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "attribute": ["sex", "sex", "country", "country"],
            "dimension": ["Care", "Order", "Care", "Order"],
            "effect": [0.31, -0.01, 0.02, np.nan],
            "significant": [True, False, False, False],
        }
    )
    out = tmp_path / "perm.png"
    assert_png(plot_permeability(table, out, model="m", questionnaire="tiny"), out)
    ax = plot_permeability(table, ax=new_ax(), model="m", questionnaire="tiny")
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["-0.01", "0.02", "0.31*", "n/a"]
    values = ax.images[0].get_array()
    assert values[0, 0] == pytest.approx(0.31) and values.mask[1, 1]
    assert "omega-squared" in ax.get_title() and ax.get_title().startswith("m · tiny")


@pytest.mark.parametrize("attribute", ["sex", "age", "occupation"])
def test_clusters_plot(personas: pd.DataFrame, attribute: str, tmp_path: Path) -> None:
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
    assert_png(plot_clusters(assignments, personas, attribute, out, model="m"), out)
    fig = Figure()
    ax_c, ax_a = plot_clusters(assignments, personas, attribute, axes=tuple(fig.subplots(1, 2)),
                               model="m", questionnaire="tiny")  # fmt: skip
    assert len(ax_c.collections) == 2  # one scatter per cluster
    assert "m · tiny · original" in fig.get_suptitle()
    # left: each cluster's scatter at exactly its personas' PCA coordinates
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
    else:  # categorical: a legend of the categories (nulls as "none"), one colour each
        values = personas[attribute].fillna("none")
        assert [t.get_text() for t in ax_a.get_legend().get_texts()] == sorted(values.unique())
        colours = points.get_facecolors()
        for value in values.unique():
            same = colours[(values == value).to_numpy()]
            assert (same == same[0]).all()
        assert len({tuple(c) for c in colours}) == values.nunique()


def test_cohens_d_plot(tmp_path: Path) -> None:
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
    ax = plot_cohens_d(grid, ax=new_ax(), model="m", questionnaire="tiny")
    assert [t.get_text() for t in ax.texts] == ["0.80", "-0.30", "n/a", "0.05"]
    shown = ax.images[0].get_array()
    np.testing.assert_allclose(shown.filled(np.nan), grid.to_numpy(), equal_nan=True)
    low, high = ax.images[0].get_clim()
    assert low == -high == -0.8  # centred at 0, as wide as the largest |d|
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Care", "Order"]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "sex (female vs male)",
        "age (> 50 vs <= 50)",
    ]


# -- figures with nothing to show say why ---------------------------------------------------
def test_permeability_with_no_defined_cell_says_why_instead_of_an_na_grid() -> None:
    table = pd.DataFrame(
        {
            "attribute": ["sex", "sex", "religion", "religion"],
            "dimension": ["Care", "Order", "Care", "Order"],
            "effect": [np.nan] * 4,
            "significant": [False] * 4,
            "n": [2] * 4,
        }
    )
    ax = plot_permeability(table, ax=new_ax(), model="m", questionnaire="tiny")
    assert not ax.images and not ax.axison
    [text] = [t.get_text() for t in ax.texts]
    assert "Too few personas (n = 2)" in text and "n/a" not in text
    assert ax.get_title().startswith("m · tiny") and "omega-squared" in ax.get_title()


def test_cohens_d_with_no_contrast_says_why() -> None:
    grid = pd.DataFrame(
        [[np.nan, np.nan]],
        index=pd.Index(["sex"], name="attribute"),
        columns=pd.Index(["Care", "Order"], name="dimension"),
    )
    ax = plot_cohens_d(grid, ax=new_ax(), model="m", questionnaire="tiny")
    assert not ax.images
    [text] = [t.get_text() for t in ax.texts]
    assert text.startswith("Nothing to show") and "min_group_size" in text


def test_clusters_of_two_personas_draw_no_noise_axis(personas: pd.DataFrame) -> None:
    # what PCA of 2 personas gives: PC2 is rounding noise (-5.2e-17 .. -5.7e-17)
    assignments = pd.DataFrame(
        {
            "persona_id": personas["persona_id"][:2],
            "cluster": [0, 0],
            "pc1": [-1.3, 1.3],
            "pc2": [-5.2e-17, -5.7e-17],
        }
    )
    fig = Figure()
    ax_c, ax_a = plot_clusters(assignments, personas, "sex", axes=tuple(fig.subplots(1, 2)))
    for ax in (ax_c, ax_a):
        assert ax.get_ylim() == (-1.0, 1.0)
        assert ax.get_ylabel() == "PC2: no variance left (n = 2 personas)"
    np.testing.assert_array_equal(ax_c.collections[0].get_offsets()[:, 1], [0.0, 0.0])
    # no variance at all: said in words on both panels
    alike = assignments.assign(pc1=[1e-17, -1e-17])
    fig = Figure()
    ax_c, ax_a = plot_clusters(alike, personas, "sex", axes=tuple(fig.subplots(1, 2)))
    for ax in (ax_c, ax_a):
        assert not ax.collections and "do not vary" in ax.texts[0].get_text()


def test_micro_heatmap_of_a_near_uniform_model_labels_bands_and_values(
    questionnaire: Questionnaire,
) -> None:
    columns = [1, 2, 3, 4, 5, 6]
    matrix = pd.DataFrame(
        [[3.41, 3.45, 3.5, 3.52, 3.55, 3.58], [3.44, 3.47, 3.49, 3.5, 3.51, 3.53]],
        index=pd.Index(["p0", "p1"], name="persona_id"),
        columns=pd.Index(columns, name="item"),
    )
    ax = plot_micro_heatmap(matrix, questionnaire, ax=new_ax(), model="m")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["persona 1", "persona 2"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        f"{v:.1f}" for v in matrix.to_numpy().ravel()
    )
    assert "every rating within 3.41-3.58: nearly uniform" in ax.get_xlabel()
