"""Tests for value_inertia.analysis.metrics, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from value_inertia.analysis import metrics as m

ONE_HOT_A = [1, 0, 0, 0, 0, 0]
ONE_HOT_F = [0, 0, 0, 0, 0, 1]
UNIFORM = [1 / 6] * 6


# --- normalise / counts ---------------------------------------------------------


def test_normalise_counts_to_probabilities():
    np.testing.assert_allclose(m.normalise([2, 0, 6, 0, 0, 2]), [0.2, 0, 0.6, 0, 0, 0.2])


@pytest.mark.parametrize(
    "bad",
    [[0] * 6, [1, -1, 0, 0, 0, 0], [np.nan, 1, 0, 0, 0, 0], [], [1, 2, 3], [np.inf, 0, 0, 0, 0, 0]],
    ids=["all-zero", "negative", "nan", "empty", "wrong-length", "inf"],
)
def test_normalise_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        m.normalise(bad)


# --- inertia ----------------------------------------------------------------------


def test_inertia_one_hot_is_one_and_uniform_is_zero():
    assert m.inertia_index(ONE_HOT_A) == pytest.approx(1.0)
    assert m.inertia_index(UNIFORM) == pytest.approx(0.0, abs=1e-12)
    assert m.inertia_index([5, 5, 5, 5, 5, 5]) == pytest.approx(0.0, abs=1e-12)


def test_inertia_two_way_split():
    # H = 1 bit -> I = 1 - 1/log2(6)
    assert m.inertia_index([0.5, 0.5, 0, 0, 0, 0]) == pytest.approx(1 - 1 / math.log2(6))
    assert m.inertia_index([0, 3, 0, 0, 3, 0]) == pytest.approx(0.6131471927654584)


def test_entropy_bits_hand_value():
    # [1/2, 1/4, 1/4]: H = 0.5*1 + 2*0.25*2 = 1.5 bits
    assert m.entropy_bits([2, 1, 1, 0, 0, 0]) == pytest.approx(1.5)


# --- steerability (JSD) -------------------------------------------------------------


def test_jsd_identical_is_zero_and_disjoint_is_one():
    assert m.steerability([1, 2, 3, 0, 0, 0], [2, 4, 6, 0, 0, 0]) == pytest.approx(0.0, abs=1e-12)
    assert m.steerability(ONE_HOT_A, ONE_HOT_F) == pytest.approx(1.0)
    assert m.steerability([1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1]) == pytest.approx(1.0)


def test_jsd_hand_value():
    # p = (1, 0, ...), q = (1/2, 1/2, 0, ...), m = (3/4, 1/4, 0, ...)
    # JSD = 1/2 log2(4/3) + 1/4 log2(2/3) + 1/4 log2(2) = 0.311278...
    expected = 0.5 * math.log2(4 / 3) + 0.25 * math.log2(2 / 3) + 0.25
    assert expected == pytest.approx(0.3112781244591328)
    assert m.steerability(ONE_HOT_A, [1, 1, 0, 0, 0, 0]) == pytest.approx(expected)


def test_jsd_is_symmetric_and_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, q = rng.random(6), rng.random(6)
        s = m.steerability(p, q)
        assert s == pytest.approx(m.steerability(q, p))
        assert s == pytest.approx(jensenshannon(p, q, base=2) ** 2)
        assert 0.0 <= s <= 1.0


# --- concentration, expected rating ------------------------------------------------------


def test_top2_and_top1_with_counts():
    counts = [10, 50, 5, 30, 5, 0]  # total 100
    assert m.top2_concentration(counts) == pytest.approx(0.8)
    assert m.top1_share(counts) == pytest.approx(0.5)
    assert m.top2_concentration(ONE_HOT_F) == pytest.approx(1.0)
    assert m.top1_share(UNIFORM) == pytest.approx(1 / 6)


def test_expected_rating():
    assert m.expected_rating(ONE_HOT_F) == pytest.approx(6.0)
    assert m.expected_rating(UNIFORM) == pytest.approx(3.5)
    assert m.expected_rating([1, 0, 0, 0, 0, 1]) == pytest.approx(3.5)
    assert m.expected_rating([0, 1, 3, 0, 0, 0]) == pytest.approx(2.75)


# --- MRAT ------------------------------------------------------------------------


def test_mrat_scores_hand_example():
    # Items: x, x, y, catch (None -> ignored).
    ratings = np.array([[1.0, 3.0, 5.0, 6.0], [2.0, np.nan, 4.0, 1.0]])
    names, scores = m.mrat_scores(ratings, ["x", "x", "y", None])
    assert names == ["x", "y"]
    # persona 0: scored mean (1+3+5)/3 = 3; x = 2 - 3 = -1; y = 5 - 3 = 2
    # persona 1: scored mean (2+4)/2 = 3 (NaN skipped); x = 2 - 3 = -1; y = 4 - 3 = 1
    np.testing.assert_allclose(scores, [[-1.0, 2.0], [-1.0, 1.0]])


def test_mrat_first_appearance_order_and_missing_dimension():
    ratings = np.array([[4.0, 2.0, np.nan]])
    names, scores = m.mrat_scores(ratings, ["b", "a", "c"])
    assert names == ["b", "a", "c"]
    np.testing.assert_allclose(scores[0, :2], [1.0, -1.0])
    assert np.isnan(scores[0, 2])


def test_mrat_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="dimension_of_item"):
        m.mrat_scores(np.ones((2, 3)), ["a", "b"])


# --- seed stability ------------------------------------------------------------------------


def test_pearson_r():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert m.pearson_r(x, 2 * x + 1) == pytest.approx(1.0)
    assert m.pearson_r(x, -x) == pytest.approx(-1.0)
    # hand: x = (1,2,3), y = (1,3,2): r = 1 / (sqrt(2) sqrt(2)) = 0.5
    assert m.pearson_r([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    # NaN pairs are dropped: same as above
    assert m.pearson_r([1, 2, np.nan, 3], [1, 3, 7, 2]) == pytest.approx(0.5)


def test_pearson_r_undefined_cases_are_nan():
    assert math.isnan(m.pearson_r([1, 2], [2, 1]))
    assert math.isnan(m.pearson_r([3, 3, 3, 3], [1, 2, 3, 4]))
    assert math.isnan(m.pearson_r([1, 2, 3, 4], [5, 5, 5, 5]))


# --- Cohen's d ----------------------------------------------------------------------------


def test_cohens_d_hand_examples():
    assert m.cohens_d([1, 2, 3], [4, 5, 6]) == pytest.approx(-3.0)
    # a: mean 5, s^2 = 20/3; b: mean 2, s^2 = 2; pooled = sqrt((3*20/3 + 1*2)/4) = sqrt(5.5)
    assert m.cohens_d([2, 4, 6, 8], [1, 3]) == pytest.approx(3 / math.sqrt(5.5))
    assert m.cohens_d([2, 4, 6, 8, np.nan], [1, 3]) == pytest.approx(3 / math.sqrt(5.5))


def test_cohens_d_undefined_cases_are_nan():
    assert math.isnan(m.cohens_d([1], [1, 2, 3]))
    assert math.isnan(m.cohens_d([2, 2], [2, 2, 2]))
