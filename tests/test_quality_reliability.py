"""Alpha and omega: known values, the persona minimum, identification, ipsatized scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.quality_tables import table_from_scores
from value_inertia.analysis.quality.reliability import (
    MIN_PERSONAS,
    cronbach_alpha,
    ipsatize,
    mcdonald_omega,
    one_factor,
    reliability,
)
from value_inertia.analysis.quality.report import quality_report
from value_inertia.design.questionnaires import load_questionnaire

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mfq():
    return load_questionnaire(ROOT / "data/questionnaires/mfq30.yaml")


def test_alpha_hand_computed() -> None:
    # item variances 5/3, 4/3, 2/3 (sum 11/3); row sums 6, 8, 11, 13 have variance 29/3
    # alpha = 3/2 * (1 - (11/3) / (29/3)) = 27/29
    x = [[1, 2, 3], [2, 2, 4], [3, 4, 4], [4, 4, 5]]
    assert cronbach_alpha(x) == pytest.approx(27 / 29, abs=1e-12)
    # a persona with a missing answer is dropped (listwise), not imputed
    assert cronbach_alpha([*x, [np.nan, 1, 6]]) == pytest.approx(27 / 29, abs=1e-12)


def _congeneric(n: int, loadings: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    true = rng.normal(size=n)
    noise = rng.normal(size=(n, loadings.size)) * np.sqrt(1 - loadings**2)
    return 3.5 + true[:, None] * loadings + noise


def test_parallel_items_match_spearman_brown() -> None:
    # 6 parallel items, reliability of one item rho = 0.5 -> alpha = omega = 6 rho / (1 + 5 rho)
    x = _congeneric(8000, np.full(6, np.sqrt(0.5)), seed=1)
    expected = 6 * 0.5 / (1 + 5 * 0.5)
    assert cronbach_alpha(x) == pytest.approx(expected, abs=0.01)
    assert mcdonald_omega(x) == pytest.approx(expected, abs=0.01)


def test_congeneric_items_omega_above_alpha() -> None:
    # unequal loadings: omega = (sum l)^2 / ((sum l)^2 + sum psi) = 8.1225 / 12.15,
    # alpha (population) = 6/5 (1 - 6 / 12.15): alpha underestimates
    lam = np.array([0.95, 0.9, 0.3, 0.3, 0.2, 0.2])
    x = _congeneric(20000, lam, seed=2)
    omega_true = lam.sum() ** 2 / (lam.sum() ** 2 + (1 - lam**2).sum())
    alpha_true = 6 / 5 * (1 - 6 / 12.15)
    assert mcdonald_omega(x) == pytest.approx(omega_true, abs=0.01)
    assert cronbach_alpha(x) == pytest.approx(alpha_true, abs=0.01)
    assert mcdonald_omega(x) > cronbach_alpha(x) + 0.03


def test_omega_matches_sklearn_factor_analysis() -> None:
    from sklearn.decomposition import FactorAnalysis

    x = _congeneric(500, np.array([0.8, 0.7, 0.6, 0.5]), seed=3)
    fa = FactorAnalysis(n_components=1, tol=1e-12, max_iter=20000).fit(x)
    load = fa.components_[0]
    expected = load.sum() ** 2 / (load.sum() ** 2 + fa.noise_variance_.sum())
    assert mcdonald_omega(x) == pytest.approx(expected, abs=1e-4)


def test_reliability_ci_covers_truth_and_shrinks() -> None:
    lam = np.full(4, np.sqrt(0.5))
    truth = 4 * 0.5 / (1 + 3 * 0.5)
    small = reliability(_congeneric(60, lam, 4), 500, 0.95, np.random.default_rng(0))
    large = reliability(_congeneric(600, lam, 5), 500, 0.95, np.random.default_rng(0))
    for r in (small, large):
        for key in ("alpha", "omega"):
            lo, hi = r[f"{key}_ci"]
            assert lo <= r[key] <= hi
            assert lo <= truth <= hi
    width = {k: r["alpha_ci"][1] - r["alpha_ci"][0] for k, r in (("s", small), ("l", large))}
    assert width["l"] < width["s"] / 2
    assert (small["n_personas"], small["n_items"]) == (60, 4)


def test_reliability_undefined_without_variance() -> None:
    same = np.full((40, 3), 4.0)
    assert np.isnan(cronbach_alpha(same))
    assert np.isnan(mcdonald_omega(same))
    r = reliability(same, 50, 0.9, np.random.default_rng(0))
    assert r["alpha_ci"] is None and r["omega_ci"] is None


def test_reliability_not_reported_below_the_persona_minimum() -> None:
    # 2 personas: a rank-1 covariance (omega would be exactly 1, alpha anything)
    two = _congeneric(2, np.full(6, 0.8), seed=6)
    r = reliability(two, 50, 0.95, np.random.default_rng(0))
    assert np.isnan(r["alpha"]) and np.isnan(r["omega"])
    assert r["alpha_ci"] is None and r["omega_ci"] is None
    assert r["note"] == f"not measured: 2 personas < {MIN_PERSONAS}"
    at_minimum = reliability(_congeneric(MIN_PERSONAS, np.full(6, 0.8), 7), 50, 0.95,
                             np.random.default_rng(0))  # fmt: skip
    assert np.isfinite(at_minimum["alpha"]) and at_minimum["note"] is None


def test_omega_only_where_the_one_factor_model_is_identified() -> None:
    two_items = _congeneric(500, np.array([0.8, 0.7]), seed=8)
    assert np.isnan(mcdonald_omega(two_items))
    r = reliability(two_items, 50, 0.95, np.random.default_rng(0))
    assert np.isfinite(r["alpha"]) and np.isnan(r["omega"]) and r["omega_ci"] is None
    assert "not identified" in r["note"]
    assert np.isfinite(mcdonald_omega(_congeneric(500, np.array([0.8, 0.7, 0.6]), seed=8)))


def test_ipsatize_hand_computed() -> None:
    out = ipsatize([[1, 2, 6], [4, np.nan, 6], [np.nan, np.nan, np.nan]])
    assert out[0].tolist() == [-2.0, -1.0, 3.0]
    assert out[1, 0] == -1.0 and np.isnan(out[1, 1]) and out[1, 2] == 1.0
    assert np.isnan(out[2]).all()


def test_scale_use_alone_gives_no_consistency(mfq) -> None:
    # personas differ only in how high they answer everything (acquiescence) plus item
    # noise: on raw expected ratings alpha = omega = 0.86 (issue 19); on MRAT-centred scores
    # nothing is consistent
    rng = np.random.default_rng(9)
    n = 200
    scores = 3.5 + rng.normal(0, 0.8, size=(n, 1)) + rng.normal(0, 0.5, size=(n, 30))
    raw_alpha = np.mean([cronbach_alpha(scores[:, 6 * d : 6 * d + 6]) for d in range(5)])
    assert raw_alpha > 0.8  # what the raw scores would report
    report = quality_report(table_from_scores(mfq, scores), mfq, model="m", n_boot=50)
    assert report.alpha is not None and report.omega is not None
    assert report.alpha < 0.05 and report.omega < 0.1
    assert report.reliability_scores == "ipsatized (MRAT-centred)"
    assert "unreliable" in report.verdict


def test_planted_one_factor_recovers_its_omega(mfq) -> None:
    # Harm (the first 6 scored items) follows one factor with loadings l, the other items
    # are noise, every persona has its own scale use c. The known omega is that of the
    # population covariance of the ipsatized items: A (L L' + 0.6^2 11' + I psi) A',
    # A = I - 11'/30 (c cancels), restricted to Harm's items.
    rng = np.random.default_rng(10)
    n, k = 1500, 30
    lam = np.zeros(k)
    lam[:6] = [0.9, 0.8, 0.8, 0.7, 0.6, 0.5]
    psi = np.full(k, 0.25)
    f = rng.normal(size=(n, 1))
    c = rng.normal(0, 0.6, size=(n, 1))
    scores = 3.5 + c + f * lam + rng.normal(size=(n, k)) * np.sqrt(psi)
    a = np.eye(k) - np.ones((k, k)) / k
    cov = a @ (np.outer(lam, lam) + 0.36 * np.ones((k, k)) + np.diag(psi)) @ a.T

    def known(block: slice) -> float:
        load, uniq = one_factor(cov[block, block])
        return float(load.sum() ** 2 / (load.sum() ** 2 + uniq.sum()))

    report = quality_report(table_from_scores(mfq, scores), mfq, model="m", n_boot=50)
    harm = report.dimensions["Harm"]
    assert harm.omega == pytest.approx(known(slice(0, 6)), abs=0.02)
    assert known(slice(0, 6)) > 0.8
    assert harm.omega_ci is not None
    lo, hi = harm.omega_ci
    assert lo <= known(slice(0, 6)) <= hi
    # a noise dimension only shares the factor's echo in the MRAT: its own known value
    purity = report.dimensions["Purity"].omega
    assert purity == pytest.approx(known(slice(24, 30)), abs=0.05)
    assert purity < 0.4


@pytest.mark.parametrize(
    ("bad", "message"),
    [([1, 2, 3], "2-D"), ([[1], [2]], "at least 2 item columns"), ([[1, np.inf]] * 3, "infinite")],
)
def test_reliability_rejects_bad_matrix(bad: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cronbach_alpha(bad)
