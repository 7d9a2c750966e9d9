"""Every plot function writes a readable, non-empty PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

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


def assert_png(path: Path, expected: Path) -> None:
    assert path == expected
    assert path.exists() and path.stat().st_size > 1000
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_micro_heatmap(parsed: pd.DataFrame, questionnaire: Questionnaire, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "micro.png"
    assert_png(plot_micro_heatmap(parsed, questionnaire, out), out)


def test_macro_distribution(tmp_path: Path) -> None:
    metrics = {
        "model": "m",
        "questionnaire": "tiny",
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


def test_convergence_plot(tmp_path: Path) -> None:
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
    assert_png(plot_clusters(assignments, personas, attribute, out), out)


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
