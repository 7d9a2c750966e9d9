"""The statistics core: scipy-backed divergences, resampling, intervals, tie groups."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from scipy import stats as sps

from value_inertia.analysis import stats as S
from value_inertia.analysis.quality.verdict import THRESHOLDS

LOG2_6 = math.log2(6)


def _hand_entropy(p: np.ndarray) -> float:
    q = p / p.sum()
    nz = q[q > 0]
    return float(-(nz * np.log2(nz)).sum())


def _hand_jsd(p: np.ndarray, q: np.ndarray) -> float:
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / m[nz])).sum())

    return float(np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, 1.0))


def _random_distributions(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(6, 0.5), size=n)
    p[rng.random((n, 6)) < 0.2] = 0.0  # zeros, as one-hot and sparse answers have
    p[:, 0] += 1e-3
    return p / p.sum(axis=1, keepdims=True)


def test_entropy_and_jsd_equal_the_hand_written_formulas() -> None:
    ps, qs = _random_distributions(300, 0), _random_distributions(300, 1)
    for p, q in zip(ps, qs, strict=True):
        assert S.entropy_bits(p) == pytest.approx(_hand_entropy(p), abs=1e-12)
        assert S.jsd_bits(p, q) == pytest.approx(_hand_jsd(p, q), abs=1e-12)
    assert S.jsd_bits(ps[0], ps[0]) == 0.0
    assert S.jsd_bits(np.eye(6)[0], np.eye(6)[5]) == pytest.approx(1.0)
    # the row-wise versions agree with the scalar ones (rows need not be normalised)
    sums = ps * 7.0
    assert np.allclose(S.entropy_rows(sums), [_hand_entropy(p) for p in ps], atol=1e-12)
    assert np.allclose(S.jsd_rows(qs[0], sums), [_hand_jsd(qs[0], p) for p in ps], atol=1e-12)


def test_resample_counts_draw_n_personas_per_resample_reproducibly() -> None:
    counts = S.resample_counts(12, 500, np.random.default_rng(4))
    assert counts.shape == (500, 12)
    assert np.all(counts.sum(axis=1) == 12)
    # each persona is drawn once per resample on average
    assert counts.mean() == pytest.approx(1.0, abs=0.05)
    assert np.array_equal(counts, S.resample_counts(12, 500, np.random.default_rng(4)))
    with pytest.raises(ValueError):
        S.resample_counts(0, 10, np.random.default_rng(0))


def test_percentile_interval_hand_value_and_no_draws() -> None:
    assert S.percentile_interval(np.arange(101.0), 0.9) == pytest.approx((5.0, 95.0))
    assert all(math.isnan(v) for v in S.percentile_interval([np.nan], 0.9))
    with pytest.raises(ValueError):
        S.percentile_interval([1.0], 1.5)


def _inertia_rows(sums: np.ndarray) -> np.ndarray:
    p = sums / sums.sum(axis=1, keepdims=True)
    return 1.0 - sps.entropy(p, base=2, axis=1) / LOG2_6


def test_studentized_interval_of_a_mean_is_near_the_normal_theory_interval() -> None:
    x = np.random.default_rng(2).normal(0.0, 1.0, size=400)
    lo, hi = S.studentized_interval(
        x, lambda s: s[:, 0] / x.size, 1000, 0.95, np.random.default_rng(3)
    )
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert lo == pytest.approx(x.mean() - half, abs=0.2 * half)
    assert hi == pytest.approx(x.mean() + half, abs=0.2 * half)


@pytest.mark.parametrize("n", [2, 3, 5, 30])
def test_an_interval_never_has_the_estimate_on_its_end(n: int) -> None:
    """Two personas gave "0.330 [0.330, 0.617]" with the percentile bootstrap."""
    rng = np.random.default_rng(n)
    for _ in range(20):
        rows = rng.dirichlet(np.ones(6), size=n) * 6
        estimate = float(_inertia_rows(rows.sum(axis=0)[None, :])[0])
        lo, hi = S.studentized_interval(rows, _inertia_rows, 300, 0.95, rng)
        if math.isnan(lo):  # not measured (two personas): no interval at all
            assert n <= 3 and math.isnan(hi)
            continue
        assert lo < estimate < hi


def test_docstring_examples_hold() -> None:
    assert doctest.testmod(S, optionflags=doctest.ELLIPSIS).failed == 0


def _near_one_hot_rows(n_modal: int, rare: list[list[float]]) -> np.ndarray:
    """Sample-mode rows (6 answers each): n_modal personas answer E to every item,
    the ``rare`` personas carry every other answer."""
    modal = np.tile([0.0, 0, 0, 0, 6, 0], (n_modal, 1))
    return np.vstack([modal, np.array(rare, dtype=float)])


def test_the_guard_widens_an_interval_that_a_few_personas_carry() -> None:
    """27 of 30 personas give the modal answer to every item: three carry all the
    variance (n_eff about 3), and the interval is at least the t interval with
    n_eff - 1 degrees of freedom, far wider than the bootstrap-t alone."""
    rows = _near_one_hot_rows(27, [[1, 0, 0, 0, 5, 0], [0, 0, 1, 1, 4, 0], [0, 0, 0, 0, 5, 1]])
    guarded = S.studentized_interval(rows, _inertia_rows, 500, 0.95, np.random.default_rng(0))
    plain = S.studentized_interval(
        rows, _inertia_rows, 500, 0.95, np.random.default_rng(0), small_sample_guard=False
    )
    assert guarded[0] <= plain[0] and guarded[1] >= plain[1]
    assert guarded[1] - guarded[0] > 1.5 * (plain[1] - plain[0])
    estimate = float(_inertia_rows(rows.sum(axis=0)[None, :])[0])
    assert guarded[0] < estimate < guarded[1]
    influence = S._centred_influence(_inertia_rows, rows, np.ones((1, 30)))[0]
    assert 2.0 <= S.effective_personas(influence) <= 4.0


def test_the_guard_changes_little_when_many_personas_carry_the_variance() -> None:
    """200 personas, each a different distribution (logprobs mode, inertia about
    0.24): the t interval with n_eff - 1 degrees of freedom (n_eff about 60) is about
    the bootstrap-t's width."""
    base = np.array([0.02, 0.04, 0.10, 0.22, 0.50, 0.12])
    rows = np.random.default_rng(3).dirichlet(8 * base, size=200) * 6
    guarded = S.studentized_interval(rows, _inertia_rows, 500, 0.95, np.random.default_rng(1))
    plain = S.studentized_interval(
        rows, _inertia_rows, 500, 0.95, np.random.default_rng(1), small_sample_guard=False
    )
    assert (guarded[1] - guarded[0]) <= 1.1 * (plain[1] - plain[0])


def test_an_exactly_flat_pooled_distribution_is_not_a_point_interval() -> None:
    """At a flat pooled distribution the inertia's gradient is 0, so the delta-method
    SE is 0 although the personas differ: no interval (not measured), never the
    point (0, 0) that claims no uncertainty."""
    rows = np.array([[2.0, 1, 0, 1, 1, 1], [0, 1, 2, 1, 1, 1], [1, 1, 1, 1, 1, 1]] * 4)
    assert np.ptp(rows.sum(axis=0)) == 0  # pooled exactly flat, persona rows differ
    lo, hi = S.studentized_interval(rows, _inertia_rows, 200, 0.95, np.random.default_rng(0))
    assert math.isnan(lo) and math.isnan(hi)


def test_two_personas_give_no_interval_and_no_variance_gives_the_point() -> None:
    rows = np.array([[4.0, 1, 0, 0, 0, 1], [0, 1, 1, 0, 0, 4]])
    lo, hi = S.studentized_interval(rows, _inertia_rows, 500, 0.95, np.random.default_rng(0))
    assert math.isnan(lo) and math.isnan(hi)
    same = np.tile([3.0, 1, 1, 0, 0, 1], (10, 1))
    estimate = float(_inertia_rows(same.sum(axis=0)[None, :])[0])
    lo, hi = S.studentized_interval(same, _inertia_rows, 200, 0.95, np.random.default_rng(0))
    assert lo == pytest.approx(estimate) and hi == pytest.approx(estimate)


def test_studentized_inertia_interval_covers_the_truth_at_30_personas() -> None:
    """Null-free coverage check: a population with a known pooled distribution.

    Persona distributions q_i ~ Dirichlet(8 base), so E[q_i] = base and the true
    inertia is I(base); 150 simulated results of 30 personas each (seeded). The
    percentile interval this replaced covered 0.85-0.93 here
    (benchmarks/bench_ci_coverage.py); nominal 0.95, Monte Carlo SE about 0.018.
    """
    base = np.array([0.02, 0.04, 0.10, 0.22, 0.50, 0.12])
    truth = 1.0 - sps.entropy(base, base=2) / LOG2_6
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(150):
        rows = rng.dirichlet(8 * base, size=30) * 6
        lo, hi = S.studentized_interval(rows, _inertia_rows, 200, 0.95, rng)
        hits += lo <= truth <= hi
    assert hits / 150 >= 0.90


def test_tie_groups() -> None:
    assert S.tie_groups([(0.5, 0.7), (0.6, 0.8), (0.1, 0.2)]) == [(1, "1-2"), (1, "1-2"), (2, "3")]
    # groups are rank ranges: row 3 overlaps the leader, so rows 1-3 tie
    assert S.tie_groups([(0.5, 0.6), (0.40, 0.45), (0.1, 0.55)]) == [(1, "1-3")] * 3
    assert S.tie_groups([(None, None), (0.1, 0.9)]) == [(1, "1"), (2, "2")]
    assert S.tie_groups([]) == []


def test_min_personas_is_the_quality_minimum() -> None:
    assert THRESHOLDS["min_personas"] == S.MIN_PERSONAS


def test_keyed_rng_depends_on_seed_and_keys_only() -> None:
    a = S.keyed_rng(3, "Harm", "inertia").integers(0, 1000, 5)
    b = S.keyed_rng(3, "Harm", "inertia").integers(0, 1000, 5)
    c = S.keyed_rng(3, "Care", "inertia").integers(0, 1000, 5)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert S.mean_or_none([1.0, None, float("nan"), 3.0]) == 2.0
    assert S.mean_or_none([None]) is None


def test_inertia_interval_stays_inside_zero_one_near_a_flat_population() -> None:
    """A bootstrap-t interval can reach below 0 near I = 0; the analysis clips it."""
    from value_inertia.analysis.metrics import inertia_rows

    rng = np.random.default_rng(5)
    rows = rng.dirichlet(np.full(6, 200.0), size=40) * 6  # every persona close to uniform
    raw = S.studentized_interval(rows, inertia_rows, 300, 0.95, np.random.default_rng(1))
    lo, hi = S.bounded_interval(
        rows, inertia_rows, n_boot=300, confidence=0.95, rng=np.random.default_rng(1)
    )
    assert raw[0] < 0 and lo == 0.0 and hi == pytest.approx(raw[1])


def _sample_mode_rows(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n personas answering 6 items once each (one-hot counts), as in bench_ci_coverage.py."""
    q = np.clip(rng.dirichlet(8 * base, size=n), 1e-9, None)
    rows = np.zeros((n, 6))
    for _ in range(6):
        r = np.array([rng.dirichlet(20 * qi) for qi in q])
        choice = (rng.random(n)[:, None] > np.cumsum(r, axis=1)).sum(axis=1).clip(0, 5)
        rows[np.arange(n), choice] += 1
    return rows


def test_studentized_interval_covers_a_flat_population_in_sample_mode_at_30_personas() -> None:
    """Sample mode (one answer per item) at 30 personas near I = 0, its hardest cell.

    100 seeded results (true inertia I(base) = 0.018); nominal 0.95, Monte Carlo SE
    about 0.022; bench_ci_coverage.py measures 0.960 here with 400 results (0.917
    without the small-sample guard). On these data an interval of half the width
    covers 0.64 and the percentile interval 0.72 (both fail the lower bound), one
    twice as wide 1.0 (fails the upper one).
    """
    base = np.array([0.10, 0.13, 0.17, 0.22, 0.21, 0.17])
    truth = 1.0 - sps.entropy(base, base=2) / LOG2_6
    rng = np.random.default_rng(19)
    hits = 0
    for _ in range(100):
        rows = _sample_mode_rows(base, 30, rng)
        lo, hi = S.studentized_interval(rows, _inertia_rows, 200, 0.95, rng)
        hits += lo <= truth <= hi
    assert 0.88 <= hits / 100 <= 0.98


def test_the_guard_brings_near_one_hot_sample_mode_to_its_coverage_target() -> None:
    """Sample mode at 30 personas with a near one-hot population (true I = 0.850): the
    bootstrap-t alone covered 0.923-0.930 in bench_ci_coverage.py, under the 0.93
    target, because in the results that miss only about 3 personas give a non-modal
    answer. 200 seeded results, 200 resamples each (a result without an interval
    counts as a miss): the guarded interval covers at least 0.93 and at least 2
    points more than the bootstrap-t alone on the same resamples (here 0.945 vs 0.915).
    """
    base = np.array([0.003, 0.004, 0.008, 0.015, 0.95, 0.02])
    truth = 1.0 - sps.entropy(base, base=2) / LOG2_6
    rng = np.random.default_rng(23)
    guarded = plain = 0
    for _ in range(200):
        rows = _sample_mode_rows(base, 30, rng)
        seed = int(rng.integers(1 << 31))
        for guard in (True, False):
            lo, hi = S.studentized_interval(
                rows,
                _inertia_rows,
                200,
                0.95,
                np.random.default_rng(seed),
                small_sample_guard=guard,
            )
            hit = bool(lo <= truth <= hi)
            guarded += hit and guard
            plain += hit and not guard
    assert guarded / 200 >= 0.93
    assert guarded - plain >= 4
