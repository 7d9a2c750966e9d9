"""Seed stability and the paper's convergence across persona seeds."""

from __future__ import annotations

import numpy as np
import pytest

from value_inertia.analysis.stability import seed_convergence


def test_seed_convergence_is_the_papers_population_variance() -> None:
    """The authors compute np.var (ddof = 0) over the seeds (figures/rq2_figure.py)."""
    seeds = [np.array([1.0, 3.0]), np.array([2.0, 2.0]), np.array([0.0, 6.0])]
    v, _, _ = seed_convergence(seeds, [1, 2], 50, 0.9, np.random.default_rng(0))
    # k = 1: first personas 1, 2, 0 -> mean 1, var = (0 + 1 + 1) / 3
    # k = 2: means 2, 2, 3 -> mean 7/3, var = (1/9 + 1/9 + 4/9) / 3
    assert v[0] == pytest.approx(2 / 3)
    assert v[1] == pytest.approx(2 / 9)


def test_seed_convergence_shrinks_and_does_not_vanish_by_construction() -> None:
    rng = np.random.default_rng(5)
    seeds = [rng.standard_normal(200) for _ in range(3)]
    sizes = [10, 50, 100, 200]
    v, lo, hi = seed_convergence(seeds, sizes, 200, 0.95, np.random.default_rng(0))
    # Var across seeds of a mean of k iid N(0, 1) is about 1/k: shrinking, positive at k = n
    assert v[0] > v[-1] > 0
    assert np.all(lo <= hi)
    for k, value in zip(sizes, v, strict=True):
        means = [s[:k].mean() for s in seeds]
        assert value == pytest.approx(np.var(means))
    assert np.all(lo[1:] < 5 / np.array(sizes[1:]))


def test_seed_convergence_needs_two_seeds() -> None:
    with pytest.raises(ValueError, match="two persona seeds"):
        seed_convergence([np.ones(10)], [5], 10, 0.9, np.random.default_rng(0))
    with pytest.raises(ValueError, match="outside"):
        seed_convergence([np.ones(10), np.ones(5)], [6], 10, 0.9, np.random.default_rng(0))
