"""The metric registry drives computation and presentation (issue 21, item 2).

A throwaway metric, top-3 concentration, is registered here and nowhere else: one
decorated function. The analysis computes it (value and CI) by looping over the
registry, the metrics file stores it and reads it back typed, and the DVC summary,
MLflow, DVC's per-dimension bar table, the board (its columns, per-dimension columns,
ranking, Markdown, registry file and the legend published beside it), the dataset's
metrics table, the card's leaderboard table and legend, the config's ``rank_by`` and the
app's data, default columns and legend all carry it, with no other file touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from leaderboard import data as app_data
from leaderboard import pages, selection
from tests.test_analysis import KW, make_parsed, make_personas, tiny_questionnaire, varied
from value_inertia.analysis.analyze import AnalysisOutput, run_analysis
from value_inertia.analysis.metrics import normalise
from value_inertia.analysis.summary import summarize
from value_inertia.core import registry as metric_registry
from value_inertia.core.config import LeaderboardParams
from value_inertia.core.errors import InputError
from value_inertia.core.results import MetricsResult, read_metrics, write_metrics
from value_inertia.publishing import card
from value_inertia.publishing.board.build import build_leaderboard
from value_inertia.publishing.board.markdown import write_leaderboard
from value_inertia.publishing.tables.rows import metrics_rows, metrics_schema


def top3_rows(sums: np.ndarray) -> np.ndarray:
    """Top-3 concentration of each row of ``sums``, vectorised."""
    q = np.sort(sums / sums.sum(axis=1, keepdims=True), axis=1)
    return q[:, -3:].sum(axis=1)


@pytest.fixture
def top3() -> Iterator[str]:
    """Register top-3 concentration for one test: the whole diff a user would write."""

    @metric_registry.register_metric(
        "top3",
        "Top-3",
        True,
        "Share of the three most frequent options in the pooled answers.",
        "p_(1) + p_(2) + p_(3)",
        kind="distribution",
        rows=top3_rows,
        has_ci=True,
        bounds=(0.0, 1.0),
        rankable=True,
        shown_by_default=True,
        summary="value",
        per_dimension="board",
    )
    def top3_concentration(p: np.ndarray) -> float:
        q = np.sort(normalise(p))
        return float(q[-3:].sum())

    yield "top3"
    metric_registry.unregister("top3")


@pytest.fixture
def output(top3: str) -> AnalysisOutput:
    q, personas = tiny_questionnaire(), make_personas()
    return run_analysis(make_parsed(q, personas, varied), personas, q, **KW)


@pytest.fixture
def analysed(output: AnalysisOutput) -> MetricsResult:
    return output.metrics


def test_dvc_bar_table_carries_the_new_per_dimension_metric(output: AnalysisOutput) -> None:
    assert list(output.bars.columns) == [
        "dimension", "inertia", "steerability", "top2", "mean_rating", "top3"
    ]  # fmt: skip
    stored = [output.metrics.dimensions[d].value("top3") for d in output.bars["dimension"]]
    assert output.bars["top3"].tolist() == pytest.approx(stored, abs=1e-6)


def test_analysis_computes_and_stores_the_new_metric_typed(
    analysed: MetricsResult, tmp_path: Path
) -> None:
    dim = analysed.dimensions["A"]
    p = np.asarray(dim.distribution)
    assert dim.value("top3") == pytest.approx(float(np.sort(p)[-3:].sum()), abs=1e-6)
    lo, hi = dim.model_dump()["top3_ci"]
    assert lo is not None and lo <= dim.value("top3") <= hi
    # overall: the mean over dimensions, like every overall metric
    mean = np.mean([d.value("top3") for d in analysed.dimensions.values()])
    assert analysed.overall.value("top3") == pytest.approx(mean, abs=1e-6)

    path = write_metrics(analysed, tmp_path / "m__tiny.json")
    stored = json.loads(path.read_text())
    assert "top3" in stored["overall"] and "top3_ci" in stored["dimensions"]["A"]
    back = read_metrics(path)
    assert back.dimensions["A"].value("top3") == dim.value("top3")
    # read back typed: a damaged value is refused, naming the metric
    stored["dimensions"]["A"]["top3"] = "high"
    path.write_text(json.dumps(stored))
    with pytest.raises(InputError, match="top3"):
        read_metrics(path)


def test_summary_and_mlflow_carry_the_new_metric(
    analysed: MetricsResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert summarize(analysed)["top3"] == analysed.overall.value("top3")

    from value_inertia.analysis.summary import flatten_metrics
    from value_inertia.tracking.runs import stage_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # a local store, MLflow's default kind
    monkeypatch.setenv("VALUE_INERTIA_ROOT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with stage_run("analyze", {"analyze": {"n": 1}}, questionnaire="tiny") as ml:
        ml.log_metrics(flatten_metrics(analysed))  # what the analyze stage logs
        run_id = ml.run_id
    import mlflow

    logged = mlflow.MlflowClient(uri).get_run(run_id).data.metrics
    assert logged["overall.top3"] == pytest.approx(analysed.overall.value("top3"))
    assert logged["top3.A"] == pytest.approx(analysed.dimensions["A"].value("top3"))


def test_board_card_dataset_and_app_carry_the_new_metric(
    analysed: MetricsResult, tmp_path: Path
) -> None:
    assert LeaderboardParams(rank_by="top3").rank_by == "top3"  # a valid rank_by now
    analysed = analysed.model_copy(update={"protocol_hash": "abc"})
    other = analysed.model_copy(update={"model": "other"})
    board = build_leaderboard([analysed, other], [], {}, "h", "top3", "2025-01-31")
    assert board["top3"].tolist() == [analysed.overall.value("top3")] * 2
    assert board["top3:A"].tolist() == [analysed.dimensions["A"].value("top3")] * 2
    out = write_leaderboard(board, tmp_path / "data" / "leaderboard", "top3")
    md = out["md"].read_text()
    assert "| top-3 |" in md and "ranked by overall top-3, highest first" in md
    assert "**Top-3** (`top3`" in md  # the legend
    assert "Per dimension, inertia / steerability / top3 (tiny):" in md
    # the legend is published beside the registry: the very text the Markdown ends with
    published_legend = out["legend"].read_text()
    assert "**Top-3** (`top3`" in published_legend
    assert "ranked by overall top-3, highest first" in published_legend
    assert md.endswith(published_legend)
    published = json.loads(out["registry"].read_text())
    assert {"name": "top3", "shown_by_default": True, "rankable": True}.items() <= next(
        r for r in published if r["name"] == "top3"
    ).items()

    # the dataset's metrics table and the card's leaderboard table and legend
    ids = {("m", "tiny", "original"): {"model_key": "k", "protocol_hash": "h"}}
    rows = metrics_rows([analysed.model_dump(mode="json")], ids)
    assert "top3" in metrics_schema().names and rows[0]["top3"] is not None
    table = card.leaderboard_markdown(board)
    header = next(line for line in table.splitlines() if line.startswith("| rank"))
    assert "| top-3 |" in header
    assert "**Top-3** (`top3`" in metric_registry.legend_markdown()

    # the app (without the package): its data, default columns and table
    app_board = app_data.load_board(tmp_path / "data")
    assert app_board.registry["top3"]["label"] == "Top-3"
    assert "top3" in selection.default_columns(app_board, selection.column_choices(app_board))
    # the optional metric columns: the registry's board metrics not shown by default
    assert selection.optional_metrics(app_board) == ["top1", "letter_mass"]
    view = selection.table_view(
        app_board, "tiny", None, "", selection.all_default_columns(app_board)
    )
    expected = f"{analysed.overall.value('top3'):.3f}"
    assert view["top3"].tolist() == [expected, expected]
    # the app shows the published legend as it is (it renders nothing of its own)
    assert app_board.legend == published_legend.rstrip("\n")
    assert pages.legend(app_board) == app_board.legend

    # data published before the legend was: the app's fallback, from the registry file
    out["legend"].unlink()
    older = app_data.load_board(tmp_path / "data")
    assert older.legend is None
    fallback = pages.legend(older)
    assert "**Top-3** (`top3`" in fallback and pages.FALLBACK_RANKING in fallback


def test_rank_by_is_checked_against_the_registered_rankable_metrics() -> None:
    with pytest.raises(ValueError, match="allowed: inertia, steerability, top2"):
        LeaderboardParams(rank_by="top1")
    assert "top3" not in metric_registry.names()  # the fixture unregistered it
