"""Quality report: the assembled report on tables with a known answer, and the stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.quality_tables import P_COLUMNS, row, table_from_scores
from value_inertia.analysis.metrics import inertia_index
from value_inertia.analysis.quality.report import quality_report

# ----------------------------------------------------------------------------- report


def parsed_table(questionnaire, n_personas: int = 12, seed: int = 0) -> pd.DataFrame:
    """Original variant (one trait per dimension) + shuffled variant with a letter-A bias."""
    rng = np.random.default_rng(seed)
    rows = []
    dims = list(questionnaire.dimensions)
    for i in range(n_personas):
        traits = dict(zip(dims, rng.normal(size=len(dims)), strict=True))
        for item, dim in questionnaire.item_dimension.items():
            if dim is None:
                continue
            centre = np.clip(3.5 + 1.2 * traits[dim] + rng.normal(0, 0.3), 1, 6)
            p = np.exp(-((np.arange(1, 7) - centre) ** 2))
            rows.append(row(questionnaire, i, item, p / p.sum()))
            # shuffled, position-driven: letter A gets 0.75 whatever it shows
            perm = list(rng.permutation(6) + 1)
            q = np.full(6, 0.05)
            q[0] = 0.75
            shown = np.zeros(6)
            shown[np.array(perm) - 1] = q
            rows.append(row(questionnaire, i, item, shown, variant="shuffled", perm=perm))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def mfq():
    from pathlib import Path

    from value_inertia.design.questionnaires import load_questionnaire

    root = Path(__file__).resolve().parents[1]
    return load_questionnaire(root / "data/questionnaires/mfq30.yaml")


def test_quality_report_on_constructed_table(mfq) -> None:
    report = quality_report(parsed_table(mfq, n_personas=40), mfq, model="m", n_boot=100, seed=0)
    # one trait per dimension drives its items: consistent on ipsatized scores too
    assert report.alpha > 0.8 and report.omega > 0.8
    for dim in mfq.dimensions:
        assert report.dimensions[dim].alpha_ci[0] > 0.6
    assert report.position is not None and report.position.top_letter == "A"
    assert report.position_bias > 0.9
    assert report.letter_preference > 0.5
    assert report.letter_mass == pytest.approx(0.9)
    assert report.parse_rate == 1.0
    # MFQ-30's catch items state their expected answer, but this table has no answer to them
    assert report.attention.status == "not measured"
    assert report.verdict == "position-driven; attention checks not measured"
    assert report.mode_agreement is None and report.agreement is None


def test_small_sample_reports_no_reliability(mfq) -> None:
    report = quality_report(parsed_table(mfq), mfq, model="m", n_boot=50, seed=0)
    assert report.alpha is None and report.omega is None
    assert report.dimensions["Harm"].note == "not measured: 12 personas < 30"
    assert report.verdict == "position-driven; too few personas; attention checks not measured"


def test_report_debiases_a_planted_letter_prior(mfq) -> None:
    # the model answers q ~ L * m in both variants, L puts 0.40 on letter D
    prior = np.array([0.12, 0.12, 0.12, 0.40, 0.12, 0.12])
    rng = np.random.default_rng(5)
    rows, meaning = [], {d: [] for d in mfq.dimensions}
    for i in range(40):
        for item, dim in mfq.item_dimension.items():
            if dim is None:
                continue
            m = np.exp(-1.2 * np.abs(np.arange(1, 7) - rng.uniform(3, 6)))
            m /= m.sum()
            meaning[dim].append(m)
            q = m * prior
            rows.append(row(mfq, i, item, q / q.sum()))
            perm = list(rng.permutation(6) + 1)
            q = m[np.array(perm) - 1] * prior  # by letter
            shown = np.zeros(6)
            shown[np.array(perm) - 1] = q / q.sum()
            rows.append(row(mfq, i, item, shown, variant="shuffled", perm=perm))
    report = quality_report(pd.DataFrame(rows), mfq, model="m", n_boot=20)
    deb = report.debiased
    assert deb is not None
    assert np.abs(np.asarray(deb.letter_prior) - prior).max() < 0.02
    for dim, ms in meaning.items():
        truth = inertia_index(np.mean(ms, axis=0))
        assert deb.dimensions[dim].debiased_inertia == pytest.approx(truth, abs=0.01)
        assert deb.dimensions[dim].inertia > truth + 0.02  # the raw number is inflated
    assert report.debiased_inertia == pytest.approx(deb.debiased_inertia)
    assert report.debiased_inertia < deb.inertia - 0.02
    assert "position-driven" in report.verdict


def test_report_flags_failed_attention_checks(mfq) -> None:
    rng = np.random.default_rng(6)
    scores = 3.5 + rng.normal(0, 1, size=(40, 1)) * np.ones((1, 30)) + rng.normal(0, 0.5, (40, 30))
    # item 22 ("better to do good than to do bad", expected high) answered 2.8 on average
    # (gemma3-270m: 2.88), item 6 ("good at math", expected low) mostly low
    wrong = {6: [0.3, 0.4, 0.2, 0.1, 0.0, 0.0], 22: [0.1, 0.3, 0.4, 0.1, 0.1, 0.0]}
    report = quality_report(table_from_scores(mfq, scores, catch=wrong), mfq, model="m", n_boot=20)
    att = report.attention
    assert att.status == "measured" and att.n_answers == 80 and att.items is not None
    assert att.items["22"].mean_rating == pytest.approx(2.8)
    assert report.catch_wrong_share == pytest.approx((0.1 + 0.8) / 2)
    assert "fails attention checks" in report.verdict
    right = {6: [0.6, 0.3, 0.0, 0.1, 0, 0], 22: [0, 0, 0, 0.1, 0.3, 0.6]}
    report = quality_report(table_from_scores(mfq, scores, catch=right), mfq, model="m", n_boot=20)
    assert report.catch_wrong_share == pytest.approx(0.05)
    assert "attention" not in report.verdict


def test_quality_report_agreement_with_partner(mfq) -> None:
    parsed = parsed_table(mfq)
    original = parsed.loc[parsed["variant"] == "original"]
    sampled = original.copy()
    sampled["mode"] = "sample"
    p = sampled[P_COLUMNS].to_numpy()
    sampled[P_COLUMNS] = np.eye(6)[p.argmax(axis=1)]
    report = quality_report(parsed, mfq, model="m", partner=sampled, n_boot=100)
    assert report.agreement == 1.0
    assert report.expected_agreement < 1.0  # the logprob distributions are not one-hot
    assert report.mode_agreement is not None
    assert report.mode_agreement.shortfall_significant is False
    assert report.mode_agreement.n_matched == len(sampled)


# ----------------------------------------------------------------------------- stage


def test_quality_stage_writes_report_figure_and_mlflow(project, mfq) -> None:
    import json

    import pyarrow as pa
    import yaml

    from value_inertia.cli import main
    from value_inertia.core.config import load_params
    from value_inertia.core.table_io import write_table
    from value_inertia.pipeline.analysis import run_quality

    params_file = project / "params.yaml"
    data = yaml.safe_load(params_file.read_text())
    base = {"backend": "embedded", "model": "smollm2-135m", "api": "chat"}
    data["models"] = [
        {"name": "lp", **base, "mode": "logprobs"},
        {"name": "sm", **base, "mode": "sample"},
    ]
    data["analyze"]["bootstrap"] = 50
    params_file.write_text(yaml.safe_dump(data, sort_keys=False))
    parsed = parsed_table(mfq, n_personas=6)
    original = parsed.loc[parsed["variant"] == "original"]
    sampled = original.assign(mode="sample", model="sm")
    probs = sampled[P_COLUMNS].to_numpy()
    sampled[P_COLUMNS] = np.eye(6)[probs.argmax(axis=1)]
    for name, frame in (("lp", parsed), ("sm", sampled)):
        table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
        write_table(table, project / f"data/parsed/{name}.parquet")

    out = run_quality(load_params(params_file), "lp", "mfq30")
    assert out == project / "data/quality/lp__mfq30.json"
    report = json.loads(out.read_text())
    for key in (
        "protocol_hash",
        "verdict",
        "alpha",
        "omega",
        "position_bias",
        "agreement",
        "letter_mass",
        "parse_rate",
        "mrat_mean",
        "mrat_sd",
    ):
        assert key in report
    assert report["partner"] == "sm"
    assert report["agreement"] == 1.0
    assert report["position"]["top_letter"] == "A"
    assert "position-driven" in report["verdict"]
    figure = project / "data/plots/lp__mfq30__position_bias.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the sample-mode twin has no shuffled variant: its figure says so, the CLI works
    main(["quality", "--model", "sm", "--questionnaire", "mfq30"])
    twin = json.loads((project / "data/quality/sm__mfq30.json").read_text())
    assert twin["position"] is None and twin["position_bias"] is None
    assert twin["agreement"] == 1.0 and twin["mode"] == "sample"
    assert "position bias not measured" in twin["verdict"]
    assert (project / "data/plots/sm__mfq30__position_bias.png").exists()

    import mlflow

    runs = mlflow.search_runs(experiment_names=["value-inertia"])
    quality_runs = runs.loc[runs["tags.stage"] == "quality"]
    assert len(quality_runs) == 2
    lp_run = quality_runs.loc[quality_runs["tags.model"] == "lp"].iloc[0]
    assert lp_run["metrics.quality.agreement"] == 1.0
    assert lp_run["tags.verdict"] == report["verdict"]


def test_quality_stage_missing_parsed_table_is_one_clear_error(project) -> None:
    from value_inertia.core.config import load_params
    from value_inertia.core.errors import InputError
    from value_inertia.pipeline.analysis import run_quality

    with pytest.raises(InputError, match="parsed/gemma3-270m.parquet: not found"):
        run_quality(load_params(project / "params.yaml"), "gemma3-270m", "mfq30")


def test_quality_report_today_schema_and_inert_model(mfq) -> None:
    """No variant / letter_ratings columns (today's parsed table); every persona alike."""
    parsed = parsed_table(mfq, n_personas=5)
    parsed = parsed.loc[parsed["variant"] == "original"].drop(columns=["variant", "letter_ratings"])
    p = np.zeros(6)
    p[4] = 1.0
    parsed[[f"p_{k}" for k in range(1, 7)]] = p  # the same answer (5) from every persona
    parsed["rating"] = 5
    parsed.loc[parsed.index[:3], [f"p_{k}" for k in range(1, 7)]] = np.nan  # 3 unparsed
    parsed.loc[parsed.index[:3], ["rating", "reason"]] = [np.nan, "ambiguous"]
    report = quality_report(parsed, mfq, model="m", n_boot=50)
    assert report.position is None and report.position_bias is None
    assert report.debiased is None and report.debiased_inertia is None
    assert report.alpha is None and report.omega is None
    # not measured is said, never passed: no shuffled answers, no catch answers
    assert report.verdict == (
        "position bias not measured; too few personas; attention checks not measured"
    )
    assert report.mrat_mean == pytest.approx(5.0) and report.mrat_sd == pytest.approx(0.0)
    assert report.parse_reasons == {"ambiguous": 3}
    assert report.parse_rate == pytest.approx(1 - 3 / len(parsed))


def test_card_shows_the_debiased_inertia_beside_the_raw_one() -> None:
    from value_inertia.publishing.card import leaderboard_markdown

    board = pd.DataFrame(
        [
            {"questionnaire": "mfq30", "protocol_hash": "p", "variant": "original", "rank": 1,
             "rank_label": "1", "model": "m", "inertia": 0.5, "inertia_ci_low": 0.4,
             "inertia_ci_high": 0.6, "debiased_inertia": 0.25, "steerability": 0.1, "top2": 0.7,
             "parse_rate": 1.0, "mode": "logprobs"},
        ]
    )  # fmt: skip
    table = leaderboard_markdown(board)
    assert "| inertia [CI] | inertia without letter prior |" in table
    assert "| m | 0.500 [0.400, 0.600] | 0.250 |" in table
