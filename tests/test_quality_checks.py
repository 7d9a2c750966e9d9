"""Mode agreement against its expectation, attention checks, scale use, the verdict."""

from __future__ import annotations

import numpy as np
import pytest

from value_inertia.analysis.metrics import inertia_index
from value_inertia.analysis.quality.answers import parse_summary, scale_use
from value_inertia.analysis.quality.attention import catch_wrong_share
from value_inertia.analysis.quality.mode_agreement import mode_agreement
from value_inertia.analysis.quality.verdict import verdict
from value_inertia.core import registry as metric_registry

# ----------------------------------------------------------------------------- mode agreement


def test_mode_agreement_identical_modes() -> None:
    p = np.eye(6)[[0, 1, 2, 3, 4, 5] * 5]
    out = mode_agreement(
        p, np.tile(np.arange(1, 7), 5), list(range(30)), 200, 0.9, np.random.default_rng(0)
    )
    assert out["agreement"] == 1.0 and out["expected_agreement"] == 1.0
    assert out["shortfall"] == 0.0 and out["shortfall_significant"] is False
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
    out = mode_agreement(p, sampled, rng.integers(0, 200, size=n).tolist(), 300, 0.95, rng)
    # sampling from the logprob distribution agrees with its argmax max p = 70% of the time
    assert out["agreement"] == pytest.approx(0.7, abs=0.03)
    assert out["expected_agreement"] == pytest.approx(0.7)
    lo, hi = out["expected_agreement_ci"]
    assert lo <= 0.7 <= hi
    assert out["shortfall_significant"] is False
    # the probability of the sampled answer: E = sum p^2, not the expected agreement
    assert out["mean_sampled_probability"] == pytest.approx(0.7**2 + 5 * 0.06**2, abs=0.02)
    assert "likelihood" not in out
    assert out["jsd"] < 0.01
    lo, hi = out["inertia_difference_ci"]
    assert lo <= 0.0 <= hi


def _flat_model(rng: np.random.Generator, n_personas: int, items: int, follow: bool):
    """SmolLM2-like flat distributions (max p about 0.38); samples follow them or not."""
    n = n_personas * items
    logits = rng.normal(0, 0.6, size=(n, 6))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if follow:
        sampled = (p.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1).clip(0, 5) + 1
    else:  # the sampled answer ignores the distribution: uniform
        sampled = rng.integers(1, 7, size=n)
    return p, sampled, np.repeat(np.arange(n_personas), items).tolist()


def test_consistent_flat_model_is_not_mode_dependent() -> None:
    # agreement about 0.4 < 0.5 (today's fixed threshold) but exactly what the model's own
    # distribution predicts: no flag
    rng = np.random.default_rng(2)
    p, sampled, groups = _flat_model(rng, 40, 30, follow=True)
    out = mode_agreement(p, sampled, groups, 400, 0.95, rng)
    assert out["agreement"] < 0.5
    assert out["expected_agreement"] == pytest.approx(out["agreement"], abs=0.05)
    assert out["shortfall_significant"] is False
    summary = {"parse_rate": 1.0, "alpha": 0.8, "n_personas": 40, "letter_preference": 0.0}
    assert verdict({**summary, "mode_shortfall_significant": False}) == "reliable"


def test_planted_shortfall_is_flagged() -> None:
    rng = np.random.default_rng(3)
    p, sampled, groups = _flat_model(rng, 40, 30, follow=False)
    out = mode_agreement(p, sampled, groups, 400, 0.95, rng)
    assert out["shortfall"] > 0.15 and out["shortfall_significant"] is True
    lo, hi = out["shortfall_ci"]
    assert 0 < lo < out["shortfall"] < hi
    summary = {"parse_rate": 1.0, "alpha": 0.8, "n_personas": 40, "letter_preference": 0.0}
    assert verdict({**summary, "mode_shortfall_significant": True}) == "mode-dependent"


def test_shortfall_false_flags_stay_near_the_nominal_rate() -> None:
    # null simulation: samples drawn from the logprob distributions, 30 personas x 10 items;
    # the 95% CI lies above 0 in about 2.5% of data sets (one side); 300 data sets, so
    # the share has a standard error of 0.009
    rng = np.random.default_rng(4)
    flags = []
    for _ in range(300):
        p, sampled, groups = _flat_model(rng, 30, 10, follow=True)
        flags.append(mode_agreement(p, sampled, groups, 20, 0.95, rng)["shortfall_significant"])
    assert np.mean(flags) <= 0.05


def test_mode_agreement_disagreeing_modes() -> None:
    p = np.tile(np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1]), (50, 1))
    sampled = np.full(50, 6)  # always the last option: never the argmax, all mass on one
    out = mode_agreement(p, sampled, list(range(50)), 200, 0.95, np.random.default_rng(0))
    assert out["agreement"] == 0.0 and out["shortfall"] == pytest.approx(0.5)
    assert out["inertia_difference"] == pytest.approx(1.0 - inertia_index(p[0]))
    lo, hi = out["inertia_difference_ci"]
    assert lo > 0
    with pytest.raises(ValueError, match="whole numbers in 1..6"):
        mode_agreement(p, np.full(50, 7), list(range(50)), 10, 0.9, np.random.default_rng(0))


# ----------------------------------------------------------------------------- attention


def test_catch_wrong_share_hand_computed() -> None:
    p = np.array(
        [
            [0.0, 0.0, 0.2, 0.3, 0.5, 0.0],  # expected high: 0.2 on the wrong side (1-3)
            [0.1, 0.1, 0.1, 0.7, 0.0, 0.0],  # expected low: 0.7 on the wrong side (4-6)
            [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],  # expected high: right
        ]
    )
    out = catch_wrong_share(p, ["high", "low", "high"], [22, 6, 22])
    assert out["wrong_share"] == pytest.approx(0.9 / 3)
    assert out["items"]["22"]["wrong_share"] == pytest.approx(0.1)
    assert out["items"]["22"]["mean_rating"] == pytest.approx((4.3 + 6.0) / 2)
    assert out["items"]["6"] == {
        "expected": "low",
        "n_answers": 1,
        "mean_rating": pytest.approx(3.4),
        "wrong_share": pytest.approx(0.7),
    }
    with pytest.raises(ValueError, match="'low' or 'high'"):
        catch_wrong_share(p, ["high", "up", "high"], [22, 6, 22])


# ----------------------------------------------------------------------------- scale use


def test_scale_use_hand_computed() -> None:
    # MRATs: 2, 5, 5 (NaN skipped) -> mean 4, SD sqrt(3), acquiescence 0.5
    out = scale_use([[1, 3, np.nan], [5, 5, 5], [4, 6, 5]])
    assert out["mrat_mean"] == pytest.approx(4.0)
    assert out["mrat_sd"] == pytest.approx(np.sqrt(3))
    assert out["acquiescence"] == pytest.approx(0.5)


def test_parse_summary_counts_reasons() -> None:
    out = parse_summary(
        [1, np.nan, 3, np.nan, np.nan], [None, "ambiguous", None, "no_option", "ambiguous"]
    )
    assert out["parse_rate"] == pytest.approx(0.4)
    assert out["reasons"] == {"ambiguous": 2, "no_option": 1}


# ----------------------------------------------------------------------------- verdict

OK = {"parse_rate": 1.0, "alpha": 0.8, "n_personas": 30, "letter_preference": 0.0}


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (OK, "reliable"),
        ({**OK, "letter_mass": 0.9, "catch_status": "none"}, "reliable"),
        ({**OK, "letter_mass": 0.26}, "low letter mass"),
        ({**OK, "parse_rate": 0.5}, "low parse rate"),
        # a check that was not made is reported, never passed
        ({**OK, "letter_preference": None}, "position bias not measured"),
        ({**OK, "letter_preference": 0.13}, "position-driven"),
        ({**OK, "letter_preference": 0.12}, "reliable"),
        ({**OK, "mode_shortfall_significant": True}, "mode-dependent"),
        ({**OK, "mode_shortfall_significant": None}, "reliable"),
        ({**OK, "alpha": 0.3}, "unreliable"),
        ({**OK, "alpha": None}, "no persona variance"),
        # below the minimum alpha is not computed: "too few personas", not "no variance"
        ({**OK, "alpha": None, "n_personas": 29}, "too few personas"),
        ({**OK, "alpha": None, "n_personas": 2}, "too few personas"),
        ({**OK, "catch_status": "measured", "catch_wrong_share": 0.26}, "fails attention checks"),
        ({**OK, "catch_status": "measured", "catch_wrong_share": 0.25}, "reliable"),
        ({**OK, "catch_status": "not measured"}, "attention checks not measured"),
        (
            {**OK, "letter_mass": 0.2, "letter_preference": None, "alpha": 0.2},
            "low letter mass; position bias not measured; unreliable",
        ),
    ],
)
def test_verdict(summary: dict, expected: str) -> None:
    assert verdict(summary) == expected


def test_quality_metrics_are_registered() -> None:
    names = metric_registry.names("quality")
    for key in (
        "alpha",
        "omega",
        "position_bias",
        "top_letter_share",
        "letter_preference",
        "debiased_inertia",
        "agreement",
        "expected_agreement",
        "agreement_jsd",
        "inertia_difference",
        "letter_mass",
        "parse_rate",
        "mrat_mean",
        "mrat_sd",
        "acquiescence",
        "catch_wrong_share",
    ):
        assert key in names
    assert metric_registry.get("letter_preference").higher_is_better is False
    assert metric_registry.get("debiased_inertia").higher_is_better is True
    assert metric_registry.get("catch_wrong_share").higher_is_better is False
