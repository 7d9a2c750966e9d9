"""Position bias, the letter preference behind the verdict, and letter-prior debiasing."""

from __future__ import annotations

import numpy as np
import pytest

from value_inertia.analysis.metrics import inertia_index
from value_inertia.analysis.quality.debiasing import (
    debiased_inertia,
    debiased_rating_distribution,
    estimate_letter_prior,
)
from value_inertia.analysis.quality.position_bias import (
    letter_preference,
    letter_probabilities,
    position_effects,
)
from value_inertia.analysis.quality.verdict import THRESHOLDS, verdict


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
    assert letter_probabilities(p, perm)[0].tolist() == [0.0, 0.0, 0.4, 0.3, 0.2, 0.1]
    with pytest.raises(ValueError, match="row 0 .* not a permutation"):
        letter_probabilities(p, [[1, 1, 2, 3, 4, 5]])


def test_planted_position_effect_is_found() -> None:
    q, perm, items = _shuffled_answers(10, 40, position_weight=1.0, seed=0)
    out = position_effects(q, perm, items)
    # y depends on the letter only: position explains all of it
    assert out["r2_position"] == pytest.approx(1.0)
    assert out["position_share"] == pytest.approx(1.0, abs=0.01)
    assert out["top_letter"] == "A"
    assert out["top_letter_share"] == pytest.approx(0.8)
    # dividing the letter prior out of the shuffled answers leaves no inertia
    p = np.zeros_like(q)
    np.put_along_axis(p, perm - 1, q, axis=1)  # back to ratings
    assert debiased_inertia(p, estimate_letter_prior(q), perm) < 0.02


def test_no_position_effect_when_answers_follow_meaning() -> None:
    q, perm, items = _shuffled_answers(10, 40, position_weight=0.0, seed=1)
    out = position_effects(q, perm, items)
    assert out["position_share"] < 0.05
    assert out["top_letter_share"] < 0.25
    p = np.zeros_like(q)
    np.put_along_axis(p, perm - 1, q, axis=1)  # back to ratings
    # no letter preference: removing the (estimated, near-uniform) prior keeps the inertia
    prior = estimate_letter_prior(q)
    assert debiased_inertia(p, prior, perm) == pytest.approx(inertia_index(p.mean(0)), abs=0.02)


def test_half_position_half_meaning() -> None:
    q, perm, items = _shuffled_answers(10, 60, position_weight=0.5, seed=2)
    assert position_effects(q, perm, items)["position_share"] == pytest.approx(0.5, abs=0.06)


def test_position_effect_in_sampled_answers() -> None:
    planted = position_effects(*_shuffled_answers(10, 40, 1.0, seed=3, sample=True))
    absent = position_effects(*_shuffled_answers(10, 40, 0.0, seed=3, sample=True))
    assert planted["position_share"] > 0.9
    assert absent["position_share"] < 0.1


def test_uniform_answers_have_no_position_share() -> None:
    q = np.full((6, 6), 1 / 6)
    perm = np.tile(np.arange(1, 7), (6, 1))
    out = position_effects(q, perm, [1] * 6)
    assert np.isnan(out["position_share"])
    assert out["top_letter_share"] == pytest.approx(1 / 6)


# ----------------------------------------------------------------------------- calibration


def _profile(kind: str, n: int, seed: int, conc: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled answers of a known shape (benchmarks/bench_position_calibration.py)."""
    rng = np.random.default_rng(seed)
    perm = np.argsort(rng.random((n, 6)), axis=1) + 1
    peak = rng.integers(1, 7, size=n)
    m = np.exp(-conc * np.abs(np.arange(1, 7)[None, :] - peak[:, None]))
    by_letter = np.take_along_axis(m / m.sum(axis=1, keepdims=True), perm - 1, axis=1)
    if kind == "letter-D":  # D keeps 0.31-0.44 of the mass whatever option stands there
        d = rng.uniform(0.31, 0.44, size=n)
        q = by_letter.copy()
        q[:, 3] = 0
        q = q / q.sum(axis=1, keepdims=True) * (1 - d)[:, None]
        q[:, 3] = d
    else:  # meaning-driven, letter A x1.3
        q = by_letter * np.array([1.3, 1, 1, 1, 1, 1])
        q /= q.sum(axis=1, keepdims=True)
    return q, perm


@pytest.mark.parametrize("conc", [0.5, 4.0])
@pytest.mark.parametrize("n", [96, 171])
def test_letter_dominated_profile_is_flagged_mild_preference_is_not(n: int, conc: float) -> None:
    limit = THRESHOLDS["max_letter_preference"]
    for seed in range(3):
        dominated = letter_preference(*_profile("letter-D", n, seed, conc))
        mild = letter_preference(*_profile("mild", n, seed, conc))
        assert dominated["letter_preference"] >= limit
        assert dominated["p_value"] < 0.01
        assert mild["letter_preference"] < limit
        base = {"parse_rate": 1.0, "alpha": 0.8, "n_personas": 200}
        assert verdict({**base, "letter_preference": dominated["letter_preference"]}) == (
            "position-driven"
        )
        assert verdict({**base, "letter_preference": mild["letter_preference"]}) == "reliable"


def test_letter_preference_hand_computed_without_chance() -> None:
    # every answer one-hot on letter A, shown the same rating 1: TV = 0.5 (5/6 + 5 * 1/6)
    # = 5/6; random letter orders give TV of the multinomial, near 0 for 600 answers
    q = np.tile(np.eye(6)[0], (600, 1))
    perm = np.tile(np.arange(1, 7), (600, 1))
    out = letter_preference(q, perm, n_null=50)
    assert out["tv"] == pytest.approx(5 / 6)
    assert out["tv_null_median"] < 0.05
    assert out["p_value"] == pytest.approx(1 / 51)


# ----------------------------------------------------------------------------- debiasing


def _pride_answers(
    n: int, prior: np.ndarray, seed: int, sample: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Meaning m (ratings), original answers, shuffled answers and their orders: q ~ L * m."""
    rng = np.random.default_rng(seed)
    peak = np.clip(rng.normal(4.5, 1.0, size=n), 1, 6)
    m = np.exp(-1.2 * np.abs(np.arange(1, 7)[None, :] - peak[:, None]))
    m /= m.sum(axis=1, keepdims=True)
    perm = np.argsort(rng.random((n, 6)), axis=1) + 1

    def ask(by_letter: np.ndarray) -> np.ndarray:
        q = by_letter * prior
        q /= q.sum(axis=1, keepdims=True)
        if sample:
            q = np.eye(6)[[rng.choice(6, p=row) for row in q]]
        return q

    return m, ask(m), ask(np.take_along_axis(m, perm - 1, axis=1)), perm


PRIOR = np.array([0.12, 0.12, 0.12, 0.40, 0.12, 0.12])


def test_planted_letter_prior_is_recovered_and_divided_out() -> None:
    m, original, shuffled, _ = _pride_answers(2000, PRIOR, seed=0)
    truth = inertia_index(m.mean(axis=0))
    prior = estimate_letter_prior(shuffled)
    assert np.abs(prior - PRIOR).max() < 0.01
    # the pooled letter distribution alone is pulled towards 1/6
    assert shuffled.mean(axis=0)[3] < PRIOR[3] - 0.03
    raw = inertia_index(original.mean(axis=0))
    assert abs(raw - truth) > 0.05  # the letter prior inflates the raw inertia
    assert debiased_inertia(original, prior) == pytest.approx(truth, abs=0.005)
    # with the exact prior, PriDe's per-answer division gives back every meaning
    exact = debiased_rating_distribution(original, PRIOR)
    np.testing.assert_allclose(exact, m.mean(axis=0), atol=1e-12)


def test_planted_letter_prior_in_sampled_answers() -> None:
    m, original, shuffled, _ = _pride_answers(4000, PRIOR, seed=1, sample=True)
    truth = inertia_index(m.mean(axis=0))
    prior = estimate_letter_prior(shuffled)
    np.testing.assert_allclose(prior, shuffled.mean(axis=0))  # one-hot: the pooled estimate
    assert abs(inertia_index(original.mean(axis=0)) - truth) > 0.05
    assert debiased_inertia(original, prior) == pytest.approx(truth, abs=0.02)


def test_no_letter_prior_changes_nothing() -> None:
    m, original, shuffled, _ = _pride_answers(2000, np.full(6, 1 / 6), seed=2)
    prior = estimate_letter_prior(shuffled)
    assert np.abs(prior - 1 / 6).max() < 0.01
    assert debiased_inertia(original, prior) == pytest.approx(
        inertia_index(original.mean(axis=0)), abs=0.003
    )


def test_debiasing_rejects_a_bad_prior() -> None:
    with pytest.raises(ValueError, match="prior must be 6 finite non-negative"):
        debiased_rating_distribution(np.full((2, 6), 1 / 6), [0.5, 0.5])
