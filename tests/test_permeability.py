"""Selective permeability (omega-squared + permutation p) and seed convergence, on simulations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from value_inertia.analysis import metrics as m
from value_inertia.analysis import omega_squared as om
from value_inertia.core import registry as metric_registry

N = 200


def null_sims(k: int, sims: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Effects and p-values of ``sims`` data sets with no true effect and k categories."""
    effects, ps = [], []
    for s in range(sims):
        scores = rng.standard_normal(N)
        groups = rng.integers(0, k, size=N)
        r = om.permeability(scores, groups, n_permutations=99, seed=s)
        effects.append(r.effect)
        ps.append(r.p_value)
    return np.array(effects), np.array(ps)


@pytest.mark.parametrize("k", [2, 65])
def test_null_effect_is_near_zero_whatever_the_number_of_categories(k: int) -> None:
    effects, ps = null_sims(k, 300, np.random.default_rng(k))
    # chance-corrected: centred on 0 for 2 and for 65 categories (the largest one-vs-rest
    # Cohen's d has median 1.52 for 65 categories against 0.10 for 2)
    assert abs(float(np.mean(effects))) < 0.025  # 4 standard errors at k = 65
    assert float(np.median(np.abs(effects))) < 0.08
    # about 5 % false positives at p <= 0.05 (binomial sd with 300 sims: 1.3 %)
    assert 0.015 <= float(np.mean(ps <= 0.05)) <= 0.09
    assert (effects < 0).any()  # can be negative by chance: not a clipped statistic


def test_largest_one_vs_rest_d_would_have_been_inflated() -> None:
    """The old statistic grows with k on the same null data; omega-squared does not."""
    rng = np.random.default_rng(1)
    scores = rng.standard_normal(N)
    groups = rng.integers(0, 65, size=N)
    max_d = max(
        abs(m.cohens_d(scores[groups == g], scores[groups != g]))
        for g in np.unique(groups)
        if (groups == g).sum() >= 2
    )
    assert max_d > 0.8
    assert abs(om.permeability(scores, groups, 99, 0).effect) < 0.15


@pytest.mark.parametrize("k", [2, 65])
def test_planted_effect_is_found(k: int) -> None:
    rng = np.random.default_rng(3)
    groups = rng.integers(0, k, size=N)
    scores = rng.standard_normal(N) + 1.0 * (groups % 2)  # odd categories score higher
    r = om.permeability(scores, groups, n_permutations=199, seed=0)
    assert r.p_value <= 0.01
    assert r.effect > 0.1
    assert r.n == N and r.n_groups == len(np.unique(groups))
    # the population omega^2 of a two-group shift of 1 SD with equal groups is 0.2
    if k == 2:
        assert r.effect == pytest.approx(0.2, abs=0.1)


def test_known_answer_anova() -> None:
    """Hand-computed: groups {1,2,3} and {4,5,6}: SS_b = 13.5, SS_w = 4, SS_t = 17.5."""
    r = om.permeability([1, 2, 3, 4, 5, 6], ["a", "a", "a", "b", "b", "b"], 200, 0)
    ms_w = 4 / 4
    assert r.f_statistic == pytest.approx(13.5 / ms_w)
    assert r.effect == pytest.approx((13.5 - ms_w) / (17.5 + ms_w))
    # 20 distinct splits, 2 of them as extreme: p about 0.1
    assert 0.03 < r.p_value < 0.2
    assert r.method == "omega_squared"


def test_degenerate_inputs_are_nan_and_bad_ones_raise() -> None:
    one = om.permeability([1.0, 2.0, 3.0], ["a", "a", "a"], 10, 0)
    assert math.isnan(one.effect) and math.isnan(one.p_value) and one.n_groups == 1
    flat = om.permeability([2.0] * 6, list("aabbcc"), 10, 0)
    assert math.isnan(flat.effect)
    # NaN scores are dropped with their labels; None is a category of its own
    r = om.permeability([1, 2, np.nan, 4, 5, 6, 1], ["a", "a", "b", None, None, None, "a"], 50, 0)
    assert r.n == 6 and r.n_groups == 2
    with pytest.raises(ValueError, match="groups has"):
        om.permeability([1.0, 2.0], ["a"], 10, 0)
    with pytest.raises(ValueError, match="n_permutations"):
        om.permeability([1.0, 2.0], ["a", "b"], 0, 0)


def test_permutation_p_value_is_reproducible() -> None:
    rng = np.random.default_rng(4)
    scores, groups = rng.standard_normal(50), rng.integers(0, 3, 50)
    assert om.permeability(scores, groups, 99, 7) == om.permeability(scores, groups, 99, 7)


def test_benjamini_hochberg() -> None:
    q = om.benjamini_hochberg([0.01, 0.04, 0.03, np.nan, 0.5])
    # m = 4 finite: sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, 0.0533, 0.0533, 0.5
    assert q[0] == pytest.approx(0.04)
    assert q[1] == pytest.approx(0.04 * 4 / 3)
    assert q[2] == pytest.approx(0.04 * 4 / 3)
    assert math.isnan(q[3])
    assert q[4] == pytest.approx(0.5)


def test_permeability_is_registered() -> None:
    spec = metric_registry.get("permeability")
    assert "permeability" in metric_registry.names("permeability")
    assert "omega" in spec.formula
    assert om.permeability.metric_spec is spec  # type: ignore[attr-defined]


def test_grid_shares_permutations_and_matches_single_cells() -> None:
    rng = np.random.default_rng(6)
    scores = rng.standard_normal((80, 3))
    scores[:, 1] += np.arange(80) % 2  # planted on dimension 1 for the first grouping
    codes = [np.arange(80) % 2, rng.integers(0, 5, 80)]
    grid = om.permeability_many(scores, codes, n_permutations=199, seed=1)
    assert len(grid) == 2 and all(len(row) == 3 for row in grid)
    for a in range(2):
        for d in range(3):
            single = om.permeability(scores[:, d], codes[a], n_permutations=199, seed=1)
            assert grid[a][d].effect == pytest.approx(single.effect)
            assert grid[a][d].f_statistic == pytest.approx(single.f_statistic)
            assert abs(grid[a][d].p_value - single.p_value) < 0.15
    assert grid[0][1].p_value <= 0.01 and grid[0][1].effect > 0.1
    one = om.permeability_many(scores[:, :1], codes[:1], n_permutations=199, seed=1)[0][0]
    assert one == om.permeability(scores[:, 0], codes[0], n_permutations=199, seed=1)
    with pytest.raises(ValueError, match="finite"):
        om.permeability_many(np.array([[np.nan], [1.0]]), [np.array([0, 1])], 9, 0)


# --------------------------------------------------------------------------- BH resolution

# Category counts of the default persona schema's 12 attributes (integer ones in 4 bins,
# occupation with "none"), and PVQ-RR's 19 values: the 228-cell grid BH corrects over.
SCHEMA_CATEGORIES = [2, 4, 4, 2, 6, 9, 3, 11, 6, 8, 65, 65]
PVQ_RR_DIMENSIONS = 19
RELIGION = SCHEMA_CATEGORIES.index(8)


def _grid_marks(rng: np.random.Generator, planted_sd: float, seed: int) -> np.ndarray:
    """BH marks (q <= 0.05) of one simulated PVQ-RR-sized grid of 200 personas.

    ``planted_sd``: the SD of the religion category means added to dimension 0
    (evenly spaced means, scaled to that SD; 0 = no effect anywhere).
    """
    codes = [rng.integers(0, k, size=N) for k in SCHEMA_CATEGORIES]
    codes = [om._group_codes(c) for c in codes]  # drop empty categories
    scores = rng.standard_normal((N, PVQ_RR_DIMENSIONS))
    means = np.linspace(-1.0, 1.0, SCHEMA_CATEGORIES[RELIGION])
    means = planted_sd * means / means.std()
    scores[:, 0] += means[codes[RELIGION]]
    grid = om.permeability_many(scores, codes, 200, seed, max_permutations=5000)
    p = np.array([[cell.p_value for cell in row] for row in grid])
    return (om.benjamini_hochberg(p.ravel()) <= 0.05).reshape(p.shape)


def test_strong_effect_resolves_far_below_the_bh_threshold_with_default_arguments() -> None:
    rng = np.random.default_rng(11)
    groups = rng.integers(0, 8, size=N)
    scores = rng.standard_normal(N) + 0.8 * (groups % 2)
    r = om.permeability(scores, groups)
    # BH over 228 cells needs p <= 0.05 / 228 = 2.2e-4 for a lone true effect; a fixed
    # 1,000 permutations cannot go below 1 / 1001 = 1e-3
    assert r.p_value < 0.05 / 228 / 100
    assert r.p_method == om.P_F_TAIL and r.n_permutations == om.MAX_PERMUTATIONS


def test_weak_effect_keeps_its_permutation_p_value() -> None:
    """A resolved cell (>= 10 exceedances) keeps its permutation p; 1,000 draws suffice."""
    rng = np.random.default_rng(12)
    groups = rng.integers(0, 3, size=N)
    r = om.permeability(rng.standard_normal(N), groups)
    assert r.p_method == om.P_PERMUTATION and r.n_permutations == 1000
    assert r.p_value > 0.01


def test_f_tail_is_refused_where_the_permutations_contradict_it() -> None:
    # 2 exceedances in 20,000 draws: p about 1e-4; an F tail of 1e-9 is outside its CI
    p, how = om.tail_p_value(40.0, 1, 198, exceedances=2, draws=20_000)
    assert how == om.P_PERMUTATION and p == pytest.approx(3 / 20_001)
    p, how = om.tail_p_value(15.0, 1, 198, exceedances=2, draws=20_000)
    assert how == om.P_F_TAIL and p == pytest.approx(float(stats.f.sf(15.0, 1, 198)))
    p, how = om.tail_p_value(2.0, 1, 198, exceedances=30, draws=1000)
    assert how == om.P_PERMUTATION and p == pytest.approx(31 / 1001)


def test_planted_effect_in_one_cell_of_a_pvq_rr_grid_is_marked() -> None:
    rng = np.random.default_rng(13)
    sims = 30
    marked = [_grid_marks(rng, 0.5, s) for s in range(sims)]
    power = float(np.mean([g[RELIGION, 0] for g in marked]))
    assert power >= 0.95
    # the other 227 cells hold no effect: false discoveries stay rare
    false = float(np.mean([g.sum() - g[RELIGION, 0] for g in marked]))
    assert false < 0.5


def test_null_pvq_rr_grid_marks_about_five_percent_of_grids_or_fewer() -> None:
    rng = np.random.default_rng(14)
    sims = 60
    any_marked = [bool(_grid_marks(rng, 0.0, s).any()) for s in range(sims)]
    # BH under the global null: P(any mark) <= 0.05; P(>= 8 of 60 | 0.05) = 0.01
    assert sum(any_marked) <= 7


def test_permeability_table_records_how_each_p_value_was_reached() -> None:
    from value_inertia.analysis.permeability import permeability_table

    rng = np.random.default_rng(15)
    ids = [f"p{i}" for i in range(N)]
    religion = rng.choice(["none", "christian", "muslim", "buddhist"], size=N)
    sex = rng.choice(["female", "male"], size=N)
    personas = pd.DataFrame({"persona_id": ids, "religion": religion, "sex": sex})
    scores = pd.DataFrame(
        {"A": rng.standard_normal(N) + 1.0 * (religion == "muslim"), "B": rng.standard_normal(N)},
        index=pd.Index(ids, name="persona_id"),
    )
    table = permeability_table(scores, personas, ["religion", "sex"], ["A", "B"]).set_index(
        ["attribute", "dimension"]
    )
    strong = table.loc[("religion", "A")]
    assert strong["p_value"] < 0.05 / 228 / 100 and bool(strong["significant"])
    assert strong["p_method"] == om.P_F_TAIL and strong["n_permutations"] == om.MAX_PERMUTATIONS
    null = table.drop(("religion", "A"))
    assert (null["p_method"] == om.P_PERMUTATION).all() and not null["significant"].any()
