"""The leaderboard app's views as functions (no browser): protocols, formats, comparisons."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.leaderboard_data import MODELS, QUESTIONNAIRES, REPO, cached_project, in_project
from value_inertia import pipeline
from value_inertia.core.config import load_params
from value_inertia.publishing.dataset import build_dataset_folder


@pytest.fixture(scope="module")
def app():
    spec = importlib.util.spec_from_file_location("vi_app_views", REPO / "leaderboard" / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["vi_app_views"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("vi_app_views", None)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("views") / "proj"
    shutil.copytree(cached_project(tmp_path_factory), root)
    params = load_params(root / "params.yaml")
    with in_project(root):  # the quality reports, by the real stage
        for model in MODELS:
            for qid in QUESTIONNAIRES:
                pipeline.run_quality(params, model, qid)
    folder = root / "data" / "hub" / "dataset"
    build_dataset_folder(root, folder, params)
    return root


def test_protocols_default_to_the_one_with_most_models(app, published: Path) -> None:
    board = app.load_board(published / "data/hub/dataset/data")
    frame = board.frame
    mfq = frame[frame["questionnaire"] == "mfq30"]
    choices = app.protocol_choices(frame, "mfq30")
    assert [
        n
        for n in (mfq.groupby("protocol_hash")["model"].nunique())[
            [digest for _, digest in choices]
        ]
    ] == [2, 1]
    assert app.default_protocol(frame, "mfq30") == choices[0][1]
    assert "2 models" in choices[0][0] and "logprobs" in choices[0][0]
    view = app.table_view(board, "mfq30", choices[1][1], "", app.DEFAULT_COLUMNS)
    assert view["model"].tolist() == ["wobbly-model"]
    assert view["rank"].tolist() == ["not ranked (n = 8)"]  # 8 personas: below the minimum


def test_numbers_use_the_registry_digits(app, published: Path) -> None:
    board = app.load_board(published / "data/hub/dataset/data")
    board.registry["inertia"] = {**board.registry["inertia"], "digits": 2}
    p = app.default_protocol(board.frame, "mfq30")
    view = app.table_view(board, "mfq30", p, "", ["inertia", "parse_rate", "rank"])
    assert all(len(v.split(".")[1]) == 2 for v in view["inertia"])
    assert view["parse_rate"].tolist() == ["1.000", "1.000"]  # never "1"
    assert app.fmt(board, None, "inertia") == app.MISSING


def test_verdict_and_compare_levels(app, published: Path) -> None:
    board = app.load_board(published / "data/hub/dataset/data")
    board.frame["verdict"] = ["usable"] * len(board.frame)
    assert "verdict" in app.column_choices(board)
    p = app.default_protocol(board.frame, "pvqrr")
    assert [lv for _, lv in app.levels_of(board, "pvqrr")] == ["dimension", "basic", "higher_order"]
    text = app.compare_markdown(board, "steady-model", "drift.model", "pvqrr", p, "higher_order")
    assert text.count("\n") == 1 + 4  # header, rule, the 4 higher-order values
    m = board.metrics
    higher = set(m.loc[(m["questionnaire"] == "pvqrr") & (m["level"] == "higher_order"), "group"])
    assert len(higher) == 4 and all(f"| {g} |" in text for g in higher)
    fig = app.compare_figure(board, "steady-model", "drift.model", "pvqrr", p, "basic")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "Self-Direction" and len(labels) == 10
    summary = app.model_summary(
        board, "steady-model", "mfq30", app.default_protocol(board.frame, "mfq30")
    )
    assert "Quality verdict: **usable**" in summary and "Provenance" in summary


def test_reads_a_projects_own_leaderboard(app, published: Path) -> None:
    """``--data data/``: the wide leaderboard of the leaderboard stage works too."""
    board = app.load_board(published / "data")
    protocol = app.default_protocol(board.frame, "mfq30")
    expected = board.frame[
        (board.frame["questionnaire"] == "mfq30") & (board.frame["protocol_hash"] == protocol)
    ].sort_values("rank")
    view = app.table_view(board, "mfq30", protocol, "", app.DEFAULT_COLUMNS)
    assert view["model"].tolist() == expected["model"].tolist()
    assert len(view) >= 2 and view["rank"].tolist()[0] == "not ranked (n = 8)"
    text = app.compare_markdown(board, "steady-model", "drift.model", "mfq30", None, "dimension")
    assert "| Harm |" in text
    assert isinstance(board.frame, pd.DataFrame)


def test_figures_accept_an_interval_beside_its_estimate(app, published: Path) -> None:
    """A bootstrap CI need not contain the point estimate; the error bars must still draw."""
    board = app.load_board(published / "data/hub/dataset/data")
    board.frame["inertia_ci_low"] = board.frame["inertia"] + 0.01
    board.frame["inertia_ci_high"] = board.frame["inertia"] + 0.05
    p = app.default_protocol(board.frame, "mfq30")
    fig = app.ci_figure(board, "mfq30", p)
    assert fig.axes[0].get_xlabel().startswith("inertia")
    metrics = board.metrics
    metrics["inertia_ci_low"] = metrics["inertia"] + 0.01
    app.compare_figure(board, "steady-model", "drift.model", "mfq30", p, "dimension")


def test_model_page_has_the_quality_report(app, published: Path) -> None:
    """The published report (data/quality/raw) as a section: verdict, figures, alpha/omega."""
    import json

    board = app.load_board(published / "data/hub/dataset/data")
    report = json.loads((published / "data/quality/steady-model__pvqrr.json").read_text())
    p = app.default_protocol(board.frame, "pvqrr")
    text = app.model_summary(board, "steady-model", "pvqrr", p)
    section = text.split("### Quality report", 1)[1].split("### Data", 1)[0]
    assert f"Verdict: **{report['verdict']}**" in section
    # every quality metric of the published registry, under its label
    assert f"| Parse rate | {report['parse_rate']:.3f} |" in section
    assert f"| MRAT mean | {report['mrat_mean']:.3f} |" in section
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    dims = [r.split(" | ")[0][2:] for r in rows if r.split(" | ")[0][2:] in report["dimensions"]]
    assert sorted(dims) == sorted(report["dimensions"])  # one row per dimension
    assert f"| Position bias | {report['position_bias']:.3f} |" in section
    # figures the report does not have (no model here runs in both modes) are left out
    assert report["agreement"] is None and "Logprob-sample agreement" not in section
    # a project's own data folder (data/quality/<stem>.json) works too
    own = app.model_summary(app.load_board(published / "data"), "steady-model", "pvqrr", p)
    assert f"Verdict: **{report['verdict']}**" in own
