"""Quality report: every number checked on a case with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from value_inertia.analysis import quality as Q
from value_inertia.analysis.metrics import inertia_index
from value_inertia.core import registry as metric_registry

# ----------------------------------------------------------------------------- reliability


def test_alpha_hand_computed() -> None:
    # item variances 5/3, 4/3, 2/3 (sum 11/3); row sums 6, 8, 11, 13 have variance 29/3
    # alpha = 3/2 * (1 - (11/3) / (29/3)) = 27/29
    x = [[1, 2, 3], [2, 2, 4], [3, 4, 4], [4, 4, 5]]
    assert Q.cronbach_alpha(x) == pytest.approx(27 / 29, abs=1e-12)
    # a persona with a missing answer is dropped (listwise), not imputed
    assert Q.cronbach_alpha([*x, [np.nan, 1, 6]]) == pytest.approx(27 / 29, abs=1e-12)


def _congeneric(n: int, loadings: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    true = rng.normal(size=n)
    noise = rng.normal(size=(n, loadings.size)) * np.sqrt(1 - loadings**2)
    return 3.5 + true[:, None] * loadings + noise


def test_parallel_items_match_spearman_brown() -> None:
    # 6 parallel items, reliability of one item rho = 0.5 -> alpha = omega = 6 rho / (1 + 5 rho)
    x = _congeneric(8000, np.full(6, np.sqrt(0.5)), seed=1)
    expected = 6 * 0.5 / (1 + 5 * 0.5)
    assert Q.cronbach_alpha(x) == pytest.approx(expected, abs=0.01)
    assert Q.mcdonald_omega(x) == pytest.approx(expected, abs=0.01)


def test_congeneric_items_omega_above_alpha() -> None:
    # unequal loadings: omega = (sum l)^2 / ((sum l)^2 + sum psi) = 8.1225 / 12.15,
    # alpha (population) = 6/5 (1 - 6 / 12.15): alpha underestimates
    lam = np.array([0.95, 0.9, 0.3, 0.3, 0.2, 0.2])
    x = _congeneric(20000, lam, seed=2)
    omega_true = lam.sum() ** 2 / (lam.sum() ** 2 + (1 - lam**2).sum())
    alpha_true = 6 / 5 * (1 - 6 / 12.15)
    assert Q.mcdonald_omega(x) == pytest.approx(omega_true, abs=0.01)
    assert Q.cronbach_alpha(x) == pytest.approx(alpha_true, abs=0.01)
    assert Q.mcdonald_omega(x) > Q.cronbach_alpha(x) + 0.03


def test_omega_matches_sklearn_factor_analysis() -> None:
    from sklearn.decomposition import FactorAnalysis

    x = _congeneric(500, np.array([0.8, 0.7, 0.6, 0.5]), seed=3)
    fa = FactorAnalysis(n_components=1, tol=1e-12, max_iter=20000).fit(x)
    load = fa.components_[0]
    expected = load.sum() ** 2 / (load.sum() ** 2 + fa.noise_variance_.sum())
    assert Q.mcdonald_omega(x) == pytest.approx(expected, abs=1e-4)


def test_reliability_ci_covers_truth_and_shrinks() -> None:
    lam = np.full(4, np.sqrt(0.5))
    truth = 4 * 0.5 / (1 + 3 * 0.5)
    small = Q.reliability(_congeneric(60, lam, 4), 500, 0.95, np.random.default_rng(0))
    large = Q.reliability(_congeneric(600, lam, 5), 500, 0.95, np.random.default_rng(0))
    for r in (small, large):
        for key in ("alpha", "omega"):
            lo, hi = r[f"{key}_ci"]
            assert lo <= r[key] <= hi
            assert lo <= truth <= hi
    width = {k: r["alpha_ci"][1] - r["alpha_ci"][0] for k, r in (("s", small), ("l", large))}
    assert width["l"] < width["s"] / 2
    assert (small["n_personas"], small["n_items"]) == (60, 4)


def test_reliability_undefined_without_variance() -> None:
    same = np.full((5, 3), 4.0)
    assert np.isnan(Q.cronbach_alpha(same))
    assert np.isnan(Q.mcdonald_omega(same))
    r = Q.reliability(same, 50, 0.9, np.random.default_rng(0))
    assert r["alpha_ci"] is None and r["omega_ci"] is None


@pytest.mark.parametrize(
    ("bad", "message"),
    [([1, 2, 3], "2-D"), ([[1], [2]], "at least 2 item columns"), ([[1, np.inf]] * 3, "infinite")],
)
def test_reliability_rejects_bad_matrix(bad: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Q.cronbach_alpha(bad)


# ----------------------------------------------------------------------------- position bias


def _shuffled_answers(
    n_items: int, per_item: int, position_weight: float, seed: int, sample: bool = False
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Letter probabilities = w * (letter A preferred) + (1 - w) * (item's rating preferred)."""
    rng = np.random.default_rng(seed)
    perms, qs, items = [], [], []
    for item in range(n_items):
        preferred = 5 + item % 2  # the items lean to the upper end: real inertia
        for _ in range(per_item):
            perm = rng.permutation(6) + 1
            by_position = np.full(6, 0.04)
            by_position[0] = 0.8
            by_meaning = np.where(perm == preferred, 0.8, 0.04)
            q = position_weight * by_position + (1 - position_weight) * by_meaning
            if sample:
                q = np.eye(6)[rng.choice(6, p=q)]
            perms.append(perm)
            qs.append(q)
            items.append(item)
    return np.array(qs), np.array(perms), items


def test_letter_probabilities_follow_letter_ratings() -> None:
    p = np.array([[0.1, 0.2, 0.3, 0.4, 0.0, 0.0]])  # over ratings 1..6
    perm = np.array([[6, 5, 4, 3, 2, 1]])  # reversed scale: A shows rating 6
    assert Q.letter_probabilities(p, perm)[0].tolist() == [0.0, 0.0, 0.4, 0.3, 0.2, 0.1]
    with pytest.raises(ValueError, match="row 0 .* not a permutation"):
        Q.letter_probabilities(p, [[1, 1, 2, 3, 4, 5]])


def test_planted_position_effect_is_found() -> None:
    q, perm, items = _shuffled_answers(10, 40, position_weight=1.0, seed=0)
    out = Q.position_effects(q, perm, items)
    # y depends on the letter only: position explains all of it
    assert out["r2_position"] == pytest.approx(1.0)
    assert out["position_share"] == pytest.approx(1.0, abs=0.01)
    assert out["top_letter"] == "A"
    assert out["top_letter_share"] == pytest.approx(0.8)
    # dividing out the letter preference leaves no inertia (letters are shuffled)
    assert inertia_index(Q.debiased_rating_distribution(q, perm)) < 0.02


def test_no_position_effect_when_answers_follow_meaning() -> None:
    q, perm, items = _shuffled_answers(10, 40, position_weight=0.0, seed=1)
    out = Q.position_effects(q, perm, items)
    assert out["position_share"] < 0.05
    assert out["top_letter_share"] < 0.25
    raw = np.bincount((perm - 1).ravel(), weights=q.ravel(), minlength=6)
    # letter preference is absent, so removing it keeps the inertia
    assert inertia_index(Q.debiased_rating_distribution(q, perm)) == pytest.approx(
        inertia_index(raw), abs=0.02
    )


def test_half_position_half_meaning() -> None:
    q, perm, items = _shuffled_answers(10, 60, position_weight=0.5, seed=2)
    assert Q.position_effects(q, perm, items)["position_share"] == pytest.approx(0.5, abs=0.06)


def test_position_effect_in_sampled_answers() -> None:
    planted = Q.position_effects(*_shuffled_answers(10, 40, 1.0, seed=3, sample=True))
    absent = Q.position_effects(*_shuffled_answers(10, 40, 0.0, seed=3, sample=True))
    assert planted["position_share"] > 0.9
    assert absent["position_share"] < 0.1


def test_uniform_answers_have_no_position_share() -> None:
    q = np.full((6, 6), 1 / 6)
    perm = np.tile(np.arange(1, 7), (6, 1))
    out = Q.position_effects(q, perm, [1] * 6)
    assert np.isnan(out["position_share"])
    assert out["top_letter_share"] == pytest.approx(1 / 6)


# ----------------------------------------------------------------------------- mode agreement


def test_mode_agreement_identical_modes() -> None:
    p = np.eye(6)[[0, 1, 2, 3, 4, 5] * 5]
    out = Q.mode_agreement(
        p, np.tile(np.arange(1, 7), 5), list(range(30)), 200, 0.9, np.random.default_rng(0)
    )
    assert out["agreement"] == 1.0
    assert out["jsd"] == pytest.approx(0.0)
    assert out["inertia_difference"] == pytest.approx(0.0)
    lo, hi = out["inertia_difference_ci"]
    assert lo == pytest.approx(0.0) and hi == pytest.approx(0.0)


def test_mode_agreement_samples_from_logprobs() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    peak = rng.integers(0, 6, size=n)
    p = np.full((n, 6), 0.06)
    p[np.arange(n), peak] = 0.7
    sampled = np.array([rng.choice(6, p=row) for row in p]) + 1
    out = Q.mode_agreement(p, sampled, rng.integers(0, 200, size=n).tolist(), 300, 0.95, rng)
    # sampling from the logprob distribution agrees with its argmax 70% of the time
    assert out["agreement"] == pytest.approx(0.7, abs=0.03)
    assert out["likelihood"] == pytest.approx(0.7 * 0.7 + 0.3 * 0.06, abs=0.02)
    assert out["jsd"] < 0.01
    lo, hi = out["inertia_difference_ci"]
    assert lo <= 0.0 <= hi


def test_mode_agreement_disagreeing_modes() -> None:
    p = np.tile(np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1]), (50, 1))
    sampled = np.full(50, 6)  # always the last option: never the argmax, all mass on one
    out = Q.mode_agreement(p, sampled, list(range(50)), 200, 0.95, np.random.default_rng(0))
    assert out["agreement"] == 0.0
    assert out["inertia_difference"] == pytest.approx(1.0 - inertia_index(p[0]))
    lo, hi = out["inertia_difference_ci"]
    assert lo > 0
    with pytest.raises(ValueError, match="whole numbers in 1..6"):
        Q.mode_agreement(p, np.full(50, 7), list(range(50)), 10, 0.9, np.random.default_rng(0))


# ----------------------------------------------------------------------------- scale use, verdict


def test_scale_use_hand_computed() -> None:
    # MRATs: 2, 5, 5 (NaN skipped) -> mean 4, SD sqrt(3), acquiescence 0.5
    out = Q.scale_use([[1, 3, np.nan], [5, 5, 5], [4, 6, 5]])
    assert out["mrat_mean"] == pytest.approx(4.0)
    assert out["mrat_sd"] == pytest.approx(np.sqrt(3))
    assert out["acquiescence"] == pytest.approx(0.5)


def test_parse_summary_counts_reasons() -> None:
    out = Q.parse_summary(
        [1, np.nan, 3, np.nan, np.nan], [None, "ambiguous", None, "no_option", "ambiguous"]
    )
    assert out["parse_rate"] == pytest.approx(0.4)
    assert out["reasons"] == {"ambiguous": 2, "no_option": 1}


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"parse_rate": 1.0, "letter_mass": 0.9, "alpha": 0.8}, "reliable"),
        ({"parse_rate": 1.0, "letter_mass": 0.26, "alpha": 0.8}, "low letter mass"),
        ({"parse_rate": 0.5, "alpha": 0.8}, "low parse rate"),
        ({"parse_rate": 1.0, "alpha": 0.8, "position_bias": 0.7}, "position-driven"),
        ({"parse_rate": 1.0, "alpha": 0.8, "top_letter_share": 0.6}, "position-driven"),
        ({"parse_rate": 1.0, "alpha": 0.8, "agreement": 0.3}, "mode-dependent"),
        ({"parse_rate": 1.0, "alpha": 0.3}, "unreliable"),
        ({"parse_rate": 1.0, "alpha": None}, "no persona variance"),
        ({"parse_rate": 1.0, "alpha": 0.8, "n_personas": 29}, "too few personas"),
        ({"parse_rate": 1.0, "alpha": 0.8, "n_personas": 30}, "reliable"),
        ({"parse_rate": 1.0, "alpha": 0.3, "n_personas": 2}, "unreliable; too few personas"),
        (
            {"parse_rate": 1.0, "letter_mass": 0.2, "position_bias": 0.9, "alpha": 0.2},
            "low letter mass; position-driven; unreliable",
        ),
    ],
)
def test_verdict(summary: dict, expected: str) -> None:
    assert Q.verdict(summary) == expected


def test_quality_metrics_are_registered() -> None:
    names = metric_registry.names("quality")
    for key in (
        "alpha",
        "omega",
        "position_bias",
        "top_letter_share",
        "debiased_inertia",
        "agreement",
        "agreement_jsd",
        "inertia_difference",
        "letter_mass",
        "parse_rate",
        "mrat_mean",
        "mrat_sd",
        "acquiescence",
    ):
        assert key in names
    assert metric_registry.get("position_bias").higher_is_better is False
    assert metric_registry.get("alpha").higher_is_better is True


# ----------------------------------------------------------------------------- report


def parsed_table(questionnaire, n_personas: int = 12, seed: int = 0) -> pd.DataFrame:
    """A parsed table: original variant (consistent persona trait) + shuffled, letter A bias."""
    rng = np.random.default_rng(seed)
    rows = []
    scored = [n for n, d in questionnaire.item_dimension.items() if d is not None]
    for i in range(n_personas):
        trait = rng.normal()
        for item in scored:
            for variant in ("original", "shuffled"):
                perm = list(range(1, 7)) if variant == "original" else list(rng.permutation(6) + 1)
                if variant == "original":
                    centre = np.clip(3.5 + 1.2 * trait + rng.normal(0, 0.3), 1, 6)
                    p = np.exp(-((np.arange(1, 7) - centre) ** 2))
                    p /= p.sum()
                else:  # position-driven: letter A gets 0.75 whatever it shows
                    q = np.full(6, 0.05)
                    q[0] = 0.75
                    p = np.zeros(6)
                    p[np.array(perm) - 1] = q
                rows.append(
                    {
                        "prompt_id": f"{variant}-{i}-{item}",
                        "model": "m",
                        "mode": "logprobs",
                        "condition": "persona",
                        "persona_id": f"p{i}",
                        "seed": 111,
                        "questionnaire": questionnaire.id,
                        "item": item,
                        "dimension": questionnaire.item_dimension[item],
                        "variant": variant,
                        "letter_ratings": perm,
                        "rating": int(np.argmax(p)) + 1,
                        **{f"p_{k}": float(p[k - 1]) for k in range(1, 7)},
                        "reason": None,
                        "letter_mass": 0.9,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def mfq():
    from pathlib import Path

    from value_inertia.design.questionnaires import load_questionnaire

    root = Path(__file__).resolve().parents[1]
    return load_questionnaire(root / "data/questionnaires/mfq30.yaml")


def test_quality_report_on_constructed_table(mfq) -> None:
    parsed = parsed_table(mfq)
    report = Q.quality_report(parsed, mfq, n_boot=200, seed=0)
    # one persona trait drives every item: internally consistent
    assert report["alpha"] > 0.9 and report["omega"] > 0.9
    for dim in mfq.dimensions:
        assert report["dimensions"][dim]["alpha_ci"][0] > 0.7
    assert report["position"]["top_letter"] == "A"
    assert report["position_bias"] > 0.9
    assert report["letter_mass"] == pytest.approx(0.9)
    assert report["parse_rate"] == 1.0
    assert report["verdict"] == "position-driven; too few personas"
    assert report["mode_agreement"] is None and report["agreement"] is None


def test_quality_report_agreement_with_partner(mfq) -> None:
    parsed = parsed_table(mfq)
    original = parsed.loc[parsed["variant"] == "original"]
    sampled = original.copy()
    sampled["mode"] = "sample"
    p = sampled[[f"p_{k}" for k in range(1, 7)]].to_numpy()
    sampled[[f"p_{k}" for k in range(1, 7)]] = np.eye(6)[p.argmax(axis=1)]
    report = Q.quality_report(parsed, mfq, partner=sampled, n_boot=100)
    assert report["agreement"] == 1.0
    assert report["mode_agreement"]["n_matched"] == len(sampled)


# ----------------------------------------------------------------------------- stage


def test_quality_stage_writes_report_figure_and_mlflow(project, mfq) -> None:
    import json

    import pyarrow as pa
    import yaml

    from value_inertia.cli import main
    from value_inertia.core.config import load_params
    from value_inertia.core.table_io import write_table
    from value_inertia.pipeline import run_quality

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
    probs = sampled[[f"p_{k}" for k in range(1, 7)]].to_numpy()
    sampled[[f"p_{k}" for k in range(1, 7)]] = np.eye(6)[probs.argmax(axis=1)]
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
    from value_inertia.pipeline import run_quality

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
    report = Q.quality_report(parsed, mfq, n_boot=50)
    assert report["position"] is None and report["position_bias"] is None
    assert report["alpha"] is None and report["omega"] is None
    assert report["verdict"] == "no persona variance; too few personas"
    assert report["mrat_mean"] == pytest.approx(5.0) and report["mrat_sd"] == pytest.approx(0.0)
    assert report["parse_reasons"] == {"ambiguous": 3}
    assert report["parse_rate"] == pytest.approx(1 - 3 / len(parsed))


def test_leaderboard_columns() -> None:
    report = {"alpha": 0.8, "position_bias": 0.1, "agreement": None, "verdict": "reliable", "x": 1}
    assert Q.leaderboard_columns(report) == {
        "alpha": 0.8,
        "position_bias": 0.1,
        "agreement": None,
        "verdict": "reliable",
    }
    assert Q.leaderboard_columns(None)["verdict"] is None
