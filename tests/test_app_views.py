"""The leaderboard app's views as functions (no browser): protocols, formats, comparisons."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from leaderboard import data, figures, formatting, pages, selection
from tests.leaderboard_data import MODELS, QUESTIONNAIRES, cached_project, in_project
from value_inertia.core.config import load_params
from value_inertia.pipeline.analysis import run_quality
from value_inertia.publishing.dataset import build_dataset_folder


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("views") / "proj"
    shutil.copytree(cached_project(tmp_path_factory), root)
    params = load_params(root / "params.yaml")
    with in_project(root):  # the quality reports, by the real stage
        for model in MODELS:
            for qid in QUESTIONNAIRES:
                run_quality(params, model, qid)
    folder = root / "data" / "hub" / "dataset"
    build_dataset_folder(root, folder, params)
    return root


def key(board: data.Board, name: str) -> str:
    """The identity (``model_key``) of the board's model ``name``."""
    return str(board.frame.loc[board.frame["model"] == name, "model_key"].iloc[0])


def test_protocols_default_to_the_one_with_most_models(published: Path) -> None:
    board = data.load_board(published / "data/hub/dataset/data")
    frame = board.frame
    mfq = frame[frame["questionnaire"] == "mfq30"]
    choices = selection.protocol_choices(frame, "mfq30")
    assert [
        n
        for n in (mfq.groupby("protocol_hash")["model"].nunique())[
            [digest for _, digest in choices]
        ]
    ] == [2, 1]
    assert selection.default_protocol(frame, "mfq30") == choices[0][1]
    assert "2 models" in choices[0][0] and "logprobs" in choices[0][0]
    view = selection.table_view(
        board, "mfq30", choices[1][1], "", selection.all_default_columns(board)
    )
    assert view["model"].tolist() == ["wobbly-model"]
    assert view["rank"].tolist() == ["not ranked (n = 8)"]  # 8 personas: below the minimum


def test_numbers_use_the_registry_digits(published: Path) -> None:
    board = data.load_board(published / "data/hub/dataset/data")
    board.registry["inertia"] = {**board.registry["inertia"], "digits": 2}
    p = selection.default_protocol(board.frame, "mfq30")
    view = selection.table_view(board, "mfq30", p, "", ["inertia", "parse_rate", "rank"])
    assert all(len(v.split(".")[1]) == 2 for v in view["inertia"])
    assert view["parse_rate"].tolist() == ["1.000", "1.000"]  # never "1"
    assert formatting.fmt(board, None, "inertia") == formatting.MISSING


def test_verdict_and_compare_levels(published: Path) -> None:
    board = data.load_board(published / "data/hub/dataset/data")
    board.frame["verdict"] = ["usable"] * len(board.frame)
    assert "verdict" in selection.column_choices(board)
    p = selection.default_protocol(board.frame, "pvqrr")
    assert [lv for _, lv in selection.levels_of(board, "pvqrr")] == [
        "dimension",
        "basic",
        "higher_order",
    ]
    text = pages.compare_markdown(
        board, key(board, "steady-model"), key(board, "drift.model"), "pvqrr", p, "higher_order"
    )
    assert text.count("\n") == 1 + 4  # header, rule, the 4 higher-order values
    m = board.metrics
    higher = set(m.loc[(m["questionnaire"] == "pvqrr") & (m["level"] == "higher_order"), "group"])
    assert len(higher) == 4 and all(f"| {g} |" in text for g in higher)
    fig = figures.compare_figure(
        board, key(board, "steady-model"), key(board, "drift.model"), "pvqrr", p, "basic"
    )
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "Self-Direction" and len(labels) == 10
    summary = pages.model_summary(
        board, key(board, "steady-model"), "mfq30", selection.default_protocol(board.frame, "mfq30")
    )
    assert "Quality verdict: **usable**" in summary and "Provenance" in summary


def test_reads_a_projects_own_leaderboard(published: Path) -> None:
    """``--data data/``: the wide leaderboard of the leaderboard stage works too."""
    board = data.load_board(published / "data")
    protocol = selection.default_protocol(board.frame, "mfq30")
    expected = board.frame[
        (board.frame["questionnaire"] == "mfq30") & (board.frame["protocol_hash"] == protocol)
    ].sort_values("rank")
    view = selection.table_view(board, "mfq30", protocol, "", selection.all_default_columns(board))
    assert view["model"].tolist() == expected["model"].tolist()
    assert len(view) >= 2 and view["rank"].tolist()[0] == "not ranked (n = 8)"
    text = pages.compare_markdown(board, "steady-model", "drift.model", "mfq30", None, "dimension")
    assert "| Harm |" in text
    assert isinstance(board.frame, pd.DataFrame)


def test_figures_accept_an_interval_beside_its_estimate(published: Path) -> None:
    """A bootstrap CI need not contain the point estimate; the error bars must still draw."""
    board = data.load_board(published / "data/hub/dataset/data")
    board.frame["inertia_ci_low"] = board.frame["inertia"] + 0.01
    board.frame["inertia_ci_high"] = board.frame["inertia"] + 0.05
    p = selection.default_protocol(board.frame, "mfq30")
    fig = figures.ci_figure(board, "mfq30", p)
    assert fig.axes[0].get_xlabel().startswith("inertia")
    metrics = board.metrics
    metrics["inertia_ci_low"] = metrics["inertia"] + 0.01
    figures.compare_figure(
        board, key(board, "steady-model"), key(board, "drift.model"), "mfq30", p, "dimension"
    )


def test_model_page_has_the_quality_report(published: Path) -> None:
    """The published report (data/quality/raw) as a section: verdict, figures, alpha/omega."""
    import json

    board = data.load_board(published / "data/hub/dataset/data")
    report = json.loads((published / "data/quality/steady-model__pvqrr.json").read_text())
    p = selection.default_protocol(board.frame, "pvqrr")
    text = pages.model_summary(board, key(board, "steady-model"), "pvqrr", p)
    section = text.split("### Quality report", 1)[1].split("### Data", 1)[0]
    assert f"Verdict: **{formatting.fmt_verdict(report['verdict'])}**" in section
    # every quality metric of the published registry, under its label
    assert f"| Parse rate | {report['parse_rate']:.3f} |" in section
    assert f"| MRAT mean | {report['mrat_mean']:.3f} |" in section
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    dims = [r.split(" | ")[0][2:] for r in rows if r.split(" | ")[0][2:] in report["dimensions"]]
    assert sorted(dims) == sorted(report["dimensions"])  # one row per dimension
    assert f"| Position bias | {report['position_bias']:.3f} |" in section
    # the debiased inertia beside the raw one, in the header line and the report's figures
    assert f"without letter prior **{report['debiased_inertia']:.3f}**" in text
    assert f"| Inertia without letter prior | {report['debiased_inertia']:.3f} |" in section
    # figures the report does not have (no model here runs in both modes) are left out
    assert report["agreement"] is None and "Logprob-sample agreement" not in section
    # a project's own data folder (data/quality/<stem>.json) works too
    own_board = data.load_board(published / "data")  # a project's own data: names are keys
    own = pages.model_summary(own_board, "steady-model", "pvqrr", p)
    assert f"Verdict: **{formatting.fmt_verdict(report['verdict'])}**" in own


def test_models_are_chosen_by_identity_within_the_protocol(published: Path) -> None:
    """The model and compare dropdowns offer only models of the selected protocol, by
    identity; two identities under one display name are both offered, told apart."""
    board = data.load_board(published / "data/hub/dataset/data")
    choices = selection.protocol_choices(board.frame, "mfq30")
    main, sample = choices[0][1], choices[1][1]
    # (both below the minimum sample: not ranked, so offered by name, not by rank)
    assert sorted(label for label, _ in selection.model_choices(board, "mfq30", main)) == [
        "drift.model",
        "steady-model",
    ]
    assert [label for label, _ in selection.model_choices(board, "mfq30", sample)] == [
        "wobbly-model"
    ]
    # the same display name with other weights: another model, its own row and choice
    frame = board.frame
    twin = frame[(frame["model"] == "steady-model") & (frame["protocol_hash"] == main)].copy()
    twin["model_key"] = "weights-" + "f" * 16
    twin["inertia"] = 0.01
    board.frame = pd.concat([frame, twin], ignore_index=True)
    offered = selection.model_choices(board, "mfq30", main)
    assert len(offered) == 3 and len({k for _, k in offered}) == 3
    assert f"steady-model ({'f' * 6})" in [label for label, _ in offered]
    ticks = [
        t.get_text() for t in figures.ci_figure(board, "mfq30", main).axes[0].get_yticklabels()
    ]
    assert sum(t.endswith(f"steady-model ({'f' * 6})") for t in ticks) == 1
    page = pages.model_summary(board, "weights-" + "f" * 16, "mfq30", main)
    assert "inertia **0.010**" in page  # the twin's own row, not the first steady-model's
    assert pages.model_summary(board, key(board, "wobbly-model"), "mfq30", main).startswith(
        "No results"
    )  # not in this protocol


def test_no_spread_failing_verdicts_and_collapsed_protocol(published: Path) -> None:
    board = data.load_board(published / "data/hub/dataset/data")
    assert formatting.fmt_ci(board, 0.0021, 0.0024) == formatting.NO_SPREAD  # "0.002" twice
    assert formatting.fmt_ci(board, 0.2, 0.3) == "[0.200, 0.300]"
    assert formatting.fmt_ci(board, None, 0.3) == formatting.MISSING
    assert formatting.verdict_fails("too few personas") and formatting.verdict_fails("unreliable")
    assert not formatting.verdict_fails("reliable") and not formatting.verdict_fails(None)
    p = selection.default_protocol(board.frame, "mfq30")
    board.frame["verdict"] = [
        "low parse rate" if m == "drift.model" else "reliable" for m in board.frame["model"]
    ]
    view = selection.table_view(board, "mfq30", p, "", ["model", "verdict", "inertia CI"])
    fails = [m == "drift.model" for m in view["model"]]
    assert sorted(view["model"]) == ["drift.model", "steady-model"]
    assert view["verdict"].tolist() == ["✗ low parse rate" if f else "reliable" for f in fails]
    assert selection.failing_rows(board, "mfq30", p, "") == fails
    steady = view.set_index("model").loc["steady-model", "inertia CI"]
    assert steady == formatting.NO_SPREAD  # steady: no spread at all
    page = pages.model_summary(board, key(board, "drift.model"), "mfq30", p)
    assert "Quality verdict: **✗ low parse rate**" in page
    summary, collapsed = page.split("<details>", 1)
    assert "mode **logprobs**" in summary and "personas **4**" in summary
    assert '"protocol_version"' not in summary and '"protocol_version"' in collapsed
    assert "MLflow run of the analysis" in page
