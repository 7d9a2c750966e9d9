"""Analysis of synthetic parsed tables: macro metrics, MRAT, seeds, Cohen's d, convergence."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from value_inertia.analysis.analyze import (
    analyze,
    run_analysis,
)
from value_inertia.analysis.matrix import P_COLUMNS, persona_item_matrix, persona_scores
from value_inertia.analysis.permeability import cohens_d_grid, cohens_d_table
from value_inertia.analysis.stability import convergence_sizes
from value_inertia.analysis.summary import flatten_metrics
from value_inertia.core.paths import questionnaire_dir
from value_inertia.design.questionnaires import Questionnaire, load_questionnaire

SEEDS = (111, 333)
N_PER_SEED = 6
OPTS = ["o1", "o2", "o3", "o4", "o5", "o6"]

# A distribution function gets (condition, persona index or -1 for baseline, seed, item, repeat)
DistFn = Callable[[str, int, int, int, int], np.ndarray]


def tiny_questionnaire() -> Questionnaire:
    """Two dimensions of three items each, one catch item, one roll-up level."""
    items = [{"number": n, "text": f"item {n}", "block": "b"} for n in range(1, 8)]
    items[3]["catch"] = True  # item 4
    return Questionnaire.model_validate(
        {
            "id": "tiny",
            "name": "Tiny",
            "citation": "none",
            "license": "none",
            "blocks": {"b": {"stem": "How much?", "options": OPTS}},
            "items": items,
            "dimensions": {"A": [1, 2, 3], "B": [5, 6, 7]},
            "rollups": {"all": {"AB": ["A", "B"]}},
        }
    )


def make_personas(n_per_seed: int = N_PER_SEED, seeds: tuple[int, ...] = SEEDS) -> pd.DataFrame:
    rows = []
    religions = ["none", "Muslim", "Jewish"]
    for s in seeds:
        for i in range(n_per_seed):
            employed = i % 3 != 0
            rows.append(
                {
                    "persona_id": f"p{s}-{i}",
                    "seed": s,
                    "index": i,
                    "sex": "female" if i % 2 == 0 else "male",
                    "age": 20 + 5 * i,
                    "income_level": 1 + i % 10,
                    "religion": religions[i % 3],
                    "employment": "full-time" if employed else "not employed",
                    "occupation": "managers" if employed else None,
                    "description": "someone",
                }
            )
    frame = pd.DataFrame(rows)
    frame["age"] = frame["age"].astype("Int64")
    frame["income_level"] = frame["income_level"].astype("Int64")
    return frame


def make_parsed(
    q: Questionnaire,
    personas: pd.DataFrame,
    dist: DistFn,
    *,
    repeats: int = 1,
    baseline_repeats: int = 2,
    mode: str = "logprobs",
) -> pd.DataFrame:
    """A parsed table: one row per (condition, persona, item, repeat) with p_1..p_6."""
    rows = []
    numbers = [it.number for it in q.items]

    def add(cond: str, pid: str | None, seed: int | None, idx: int, item: int, rep: int) -> None:
        p = np.asarray(dist(cond, idx, seed or -1, item, rep), dtype=float)
        if mode == "sample":
            onehot = np.zeros(6)
            onehot[int(np.argmax(p))] = 1.0
            p = onehot
        rows.append(
            {
                "prompt_id": f"{cond}-{pid}-{item}-{rep}",
                "model": "m",
                "mode": mode,
                "condition": cond,
                "persona_id": pid,
                "seed": seed,
                "questionnaire": q.id,
                "item": item,
                "dimension": q.item_dimension[item],
                "catch": q.item_dimension[item] is None,
                "repeat": rep,
                "sample_index": 0,
                "rating": int(np.argmax(p)) + 1,
                **{c: float(v) for c, v in zip(P_COLUMNS, p, strict=True)},
                "parser": "logprobs" if mode == "logprobs" else "letter",
                "reason": None,
                "letter_mass": 0.9 if mode == "logprobs" else np.nan,
            }
        )

    for rec in personas.itertuples(index=False):
        for item in numbers:
            for rep in range(repeats):
                add("persona", rec.persona_id, int(rec.seed), int(rec.index), item, rep)
    for item in numbers:
        for rep in range(baseline_repeats):
            add("baseline", None, None, -1, item, rep)
    frame = pd.DataFrame(rows)
    frame["seed"] = frame["seed"].astype("Int64")
    frame["rating"] = frame["rating"].astype("Int64")
    return frame


def one_hot(k: int) -> np.ndarray:
    p = np.zeros(6)
    p[k - 1] = 1.0
    return p


def softmax_around(centre: float, width: float = 1.0) -> np.ndarray:
    """A smooth distribution over 1..6 peaked at ``centre``."""
    logits = -((np.arange(1, 7) - centre) ** 2) / (2 * width**2)
    e = np.exp(logits - logits.max())
    return e / e.sum()


KW = {"n_boot": 200, "confidence": 0.95, "seed": 7}


@pytest.fixture(scope="module")
def q() -> Questionnaire:
    return tiny_questionnaire()


@pytest.fixture(scope="module")
def personas() -> pd.DataFrame:
    return make_personas()


def varied(cond: str, idx: int, seed: int, item: int, rep: int) -> np.ndarray:
    """Persona- and item-dependent answers; baseline fixed near 4."""
    if cond == "baseline":
        return softmax_around(4.0)
    rng = np.random.default_rng([idx, seed, item, rep])
    return softmax_around(1 + 5 * rng.random(), width=0.8)


def test_constant_answer_has_full_inertia(q: Questionnaire, personas: pd.DataFrame) -> None:
    parsed = make_parsed(q, personas, lambda *_: one_hot(3))
    result = analyze(parsed, personas, q, **KW)
    json.dumps(result, allow_nan=False)
    for groups in [result["dimensions"], result["levels"]["all"]]:
        for m in groups.values():
            assert m["inertia"] == pytest.approx(1.0)
            assert m["top1"] == pytest.approx(1.0)
            assert m["top2"] == pytest.approx(1.0)
            assert m["mean_rating"] == pytest.approx(3.0)
            assert m["steerability"] == pytest.approx(0.0, abs=1e-9)
            assert m["distribution"] == pytest.approx([0, 0, 1, 0, 0, 0])
            assert m["mrat"] == pytest.approx(0.0, abs=1e-9)
            lo, hi = m["inertia_ci"]
            assert lo <= m["inertia"] + 1e-9 and m["inertia"] - 1e-9 <= hi
    assert result["overall"]["inertia"] == pytest.approx(1.0)
    assert result["catch_items"] == {"4": {"mean_rating": 3.0, "baseline_mean_rating": 3.0}}


def test_header_fields(q: Questionnaire, personas: pd.DataFrame) -> None:
    parsed = make_parsed(q, personas, varied, repeats=2)
    result = analyze(parsed, personas, q, **KW)
    assert result["model"] == "m"
    assert result["questionnaire"] == "tiny"
    assert result["mode"] == "logprobs"
    assert result["n_personas"] == len(personas)
    assert result["seeds"] == list(SEEDS)
    assert result["repeats"] == 2
    assert result["samples"] == 1
    assert result["letter_mass"] == pytest.approx(0.9)
    assert result["parse_rate"] == 1.0
    assert set(result["dimensions"]) == {"A", "B"}
    assert set(result["levels"]) == {"all"}
    assert set(result["levels"]["all"]) == {"AB"}
    for key in ("protocol_hash", "protocol", "variant", "permeability", "seed_spread"):
        assert key in result
    assert result["variant"] == "original" and result["protocol_hash"] is None
    assert result["permeability"] == []  # no attributes given
    keys = {
        "inertia", "inertia_ci", "steerability", "steerability_ci", "top2", "top1",
        "mean_rating", "baseline_mean_rating", "mrat", "mrat_ci", "distribution",
        "baseline_distribution",
    }  # fmt: skip
    assert set(result["dimensions"]["A"]) == keys
    assert set(result["levels"]["all"]["AB"]) == keys
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_pooled_distribution_is_mean_of_rows(q: Questionnaire, personas: pd.DataFrame) -> None:
    parsed = make_parsed(q, personas, varied)
    result = analyze(parsed, personas, q, **KW)
    rows = parsed.loc[(parsed["condition"] == "persona") & parsed["item"].isin([1, 2, 3])]
    expected = rows[P_COLUMNS].to_numpy().mean(axis=0)
    assert result["dimensions"]["A"]["distribution"] == pytest.approx(expected, abs=1e-6)
    entropy = -(expected * np.log2(expected)).sum()
    assert result["dimensions"]["A"]["inertia"] == pytest.approx(1 - entropy / np.log2(6), abs=1e-6)
    rollup_rows = parsed.loc[(parsed["condition"] == "persona") & ~parsed["catch"]]
    pooled = rollup_rows[P_COLUMNS].to_numpy().mean(axis=0)
    assert result["levels"]["all"]["AB"]["distribution"] == pytest.approx(pooled, abs=1e-6)
    assert result["dimensions"]["A"]["baseline_distribution"] == pytest.approx(
        softmax_around(4.0), abs=1e-6
    )


def test_identical_persona_and_baseline_give_zero_steerability(
    q: Questionnaire, personas: pd.DataFrame
) -> None:
    parsed = make_parsed(q, personas, lambda *_: softmax_around(2.5, width=1.3))
    result = analyze(parsed, personas, q, **KW)
    for m in result["dimensions"].values():
        assert m["steerability"] == pytest.approx(0.0, abs=1e-9)
        assert 0 < m["inertia"] < 1
    assert result["overall"]["steerability"] == pytest.approx(0.0, abs=1e-9)


def test_steerability_is_none_without_baseline(q: Questionnaire, personas: pd.DataFrame) -> None:
    parsed = make_parsed(q, personas, varied, baseline_repeats=0)
    result = analyze(parsed, personas, q, **KW)
    assert result["dimensions"]["A"]["steerability"] is None
    assert result["dimensions"]["A"]["baseline_distribution"] is None
    assert result["overall"]["steerability"] is None
    assert result["parse_rate_baseline"] is None


def test_mrat_sums_to_zero_with_equal_item_counts(q: Questionnaire, personas: pd.DataFrame) -> None:
    parsed = make_parsed(q, personas, varied)
    scores = persona_scores(parsed, q)
    assert list(scores.columns) == ["A", "B", "mrat:A", "mrat:B"]
    assert scores.index.name == "persona_id"
    assert len(scores) == len(personas)
    np.testing.assert_allclose(scores[["mrat:A", "mrat:B"]].sum(axis=1), 0.0, atol=1e-9)
    centre = scores[["A", "B"]].mean(axis=1)
    np.testing.assert_allclose(scores["mrat:A"], scores["A"] - centre, atol=1e-9)
    result = analyze(parsed, personas, q, **KW)
    total = sum(m["mrat"] for m in result["dimensions"].values())
    assert total == pytest.approx(0.0, abs=1e-5)
    assert result["dimensions"]["A"]["mrat"] == pytest.approx(scores["mrat:A"].mean(), abs=1e-6)


def test_mrat_on_mfq30_sums_to_zero(personas: pd.DataFrame) -> None:
    mfq = load_questionnaire(questionnaire_dir() / "mfq30.yaml")
    parsed = make_parsed(mfq, personas.head(4), varied, baseline_repeats=1)
    scores = persona_scores(parsed, mfq)
    mrat_cols = [f"mrat:{d}" for d in mfq.dimensions]
    np.testing.assert_allclose(scores[mrat_cols].sum(axis=1), 0.0, atol=1e-9)
    matrix = persona_item_matrix(parsed, mfq)
    assert 6 not in matrix.columns and 22 not in matrix.columns
    assert matrix.shape == (4, 30)
    result = analyze(parsed, personas, mfq, n_boot=20, confidence=0.9, seed=0)
    assert result["levels"] == {}
    assert set(result["catch_items"]) == {"6", "22"}
    assert set(result["dimensions"]) == set(mfq.dimensions)


def test_confidence_intervals_contain_point_estimates(
    q: Questionnaire, personas: pd.DataFrame
) -> None:
    result = analyze(make_parsed(q, personas, varied), personas, q, **KW)
    groups = [*result["dimensions"].values(), *result["levels"]["all"].values()]
    for m in groups:
        for key in ("inertia", "steerability", "mrat"):
            lo, hi = m[f"{key}_ci"]
            assert lo is not None and hi is not None
            assert lo <= m[key] <= hi, (key, lo, m[key], hi)
    for m in result["dimensions"].values():
        for key in ("inertia", "steerability", "mrat"):
            lo, hi = m[f"{key}_ci"]
            assert lo < hi
    # the single roll-up group holds every scored item: its MRAT is 0 for every persona
    assert result["levels"]["all"]["AB"]["mrat_ci"] == [0.0, 0.0]


def test_bootstrap_is_reproducible(q: Questionnaire, personas: pd.DataFrame) -> None:
    parsed = make_parsed(q, personas, varied)
    assert analyze(parsed, personas, q, **KW) == analyze(parsed, personas, q, **KW)


def test_seed_stability_is_one_for_identical_item_answers(
    q: Questionnaire, personas: pd.DataFrame
) -> None:
    def by_item(cond: str, idx: int, seed: int, item: int, rep: int) -> np.ndarray:
        return softmax_around(1 + item % 6, width=0.7)

    result = analyze(make_parsed(q, personas, by_item), personas, q, **KW)
    assert result["seed_stability"] == {"111-333": pytest.approx(1.0)}

    single = personas.loc[personas["seed"] == 111]
    result_one = analyze(make_parsed(q, single, by_item), single, q, **KW)
    assert result_one["seeds"] == [111]
    assert result_one["seed_stability"] == {}


def test_unparsed_rows_lower_parse_rate_exactly(q: Questionnaire, personas: pd.DataFrame) -> None:
    parsed = make_parsed(q, personas, lambda *_: one_hot(5))
    persona_idx = parsed.index[parsed["condition"] == "persona"]
    baseline_idx = parsed.index[parsed["condition"] == "baseline"]
    drop = list(persona_idx[:5]) + list(baseline_idx[:1])
    parsed.loc[drop, P_COLUMNS] = np.nan
    parsed.loc[drop, "rating"] = pd.NA
    result = analyze(parsed, personas, q, **KW)
    n_p, n_b = len(persona_idx), len(baseline_idx)
    assert result["parse_rate"] == round((n_p + n_b - 6) / (n_p + n_b), 6)
    assert result["parse_rate_persona"] == round((n_p - 5) / n_p, 6)
    assert result["parse_rate_baseline"] == round((n_b - 1) / n_b, 6)
    # unparsed rows do not enter any distribution
    for m in result["dimensions"].values():
        assert m["distribution"] == pytest.approx([0, 0, 0, 0, 1, 0])
        assert m["inertia"] == pytest.approx(1.0)


def test_sample_mode_counts(q: Questionnaire, personas: pd.DataFrame) -> None:
    def alternate(cond: str, idx: int, seed: int, item: int, rep: int) -> np.ndarray:
        return one_hot(2 if (idx + rep) % 2 == 0 else 6)

    parsed = make_parsed(q, personas, alternate, repeats=2, mode="sample")
    result = analyze(parsed, personas, q, **KW)
    assert result["mode"] == "sample"
    assert result["letter_mass"] is None
    dist = result["dimensions"]["A"]["distribution"]
    assert dist == pytest.approx([0, 0.5, 0, 0, 0, 0.5])
    assert result["dimensions"]["A"]["inertia"] == pytest.approx(1 - 1 / np.log2(6), abs=1e-6)
    assert result["dimensions"]["A"]["top2"] == pytest.approx(1.0)
    assert result["dimensions"]["A"]["top1"] == pytest.approx(0.5)


def test_other_questionnaires_are_ignored(q: Questionnaire, personas: pd.DataFrame) -> None:
    parsed = make_parsed(q, personas, lambda *_: one_hot(1))
    other = parsed.assign(questionnaire="other", **{c: 1 / 6 for c in P_COLUMNS})
    result = analyze(pd.concat([parsed, other], ignore_index=True), personas, q, **KW)
    assert result["dimensions"]["A"]["inertia"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no rows for questionnaire"):
        analyze(other, personas, q, **KW)


def planted(cond: str, idx: int, seed: int, item: int, rep: int) -> np.ndarray:
    """Women answer higher on dimension A; Jewish personas (idx % 3 == 2) higher on B."""
    if cond == "baseline":
        return softmax_around(3.0)
    rng = np.random.default_rng([idx, seed, item, rep, 1])
    centre = 3.0 + 0.3 * rng.standard_normal()
    if item in (1, 2, 3) and idx % 2 == 0:
        centre += 2.0
    if item in (5, 6, 7) and idx % 3 == 2:
        centre += 2.0
    return softmax_around(centre, width=0.6)


def test_cohens_d_only_for_two_group_contrasts(q: Questionnaire) -> None:
    personas = make_personas(10)
    scores = persona_scores(make_parsed(q, personas, planted), q)
    attrs = ["sex", "religion", "age", "occupation"]
    grid = cohens_d_grid(scores, personas, attrs, ["A", "B"])
    assert list(grid.index) == attrs and list(grid.columns) == ["A", "B"]
    # sex: female (first in sorted order) vs male, women planted higher on A (MRAT-centred:
    # higher on A means lower on B relative to the persona's own mean)
    assert grid.loc["sex", "A"] > 1.0
    assert grid.loc["sex", "B"] < -1.0
    # religion has three categories: no single contrast, no d (omega-squared covers it)
    assert grid.loc[["religion"]].isna().all().all()
    contrast = grid.attrs["contrast"]
    assert contrast["sex"]["A"] == "female vs male"
    assert contrast["religion"]["B"] is None
    assert contrast["age"]["A"].startswith("> ")
    # occupation: null for the not employed -> its own category "none": two categories
    assert contrast["occupation"]["A"] == "managers vs none"
    long = cohens_d_table(scores, personas, attrs, ["A", "B"])
    assert list(long.columns) == ["attribute", "dimension", "d", "contrast", "n_a", "n_b"]
    row = long.loc[(long["attribute"] == "age") & (long["dimension"] == "A")].iloc[0]
    assert row["n_a"] + row["n_b"] == len(personas)
    # a minimum group size: too small groups give no d
    small = cohens_d_table(scores, personas, ["sex"], ["A"], min_group_size=len(personas))
    assert np.isnan(small["d"].iloc[0]) and small["contrast"].iloc[0] == "female vs male"


def test_permeability_grid_finds_planted_effects(q: Questionnaire) -> None:
    personas = make_personas(30)
    parsed = make_parsed(q, personas, planted, baseline_repeats=1)
    attrs = ["sex", "religion", "age", "employment"]
    out = run_analysis(parsed, personas, q, **KW, attributes=attrs, n_permutations=199)
    table = out.permeability
    assert len(table) == len(attrs) * 2
    cell = table.set_index(["attribute", "dimension"])
    assert cell.loc[("sex", "A"), "effect"] > 0.3 and cell.loc[("sex", "A"), "significant"]
    assert cell.loc[("religion", "B"), "effect"] > 0.2
    assert cell.loc[("religion", "B"), "significant"]
    assert cell.loc[("religion", "B"), "n_groups"] == 3
    assert np.isnan(cell.loc[("religion", "B"), "cohens_d"])  # three categories: no d
    assert cell.loc[("sex", "A"), "cohens_d"] > 2.0
    # BH q >= p, and age (no planted effect) is not significant on A
    assert (table["q_value"] >= table["p_value"] - 1e-12).all()
    assert not cell.loc[("age", "A"), "significant"]
    assert abs(cell.loc[("age", "A"), "effect"]) < 0.15
    # the metrics file carries the grid in the agreed shape
    cells = out.metrics.permeability
    assert {(c.attribute, c.dimension) for c in cells} == set(cell.index)
    first = cells[0].model_dump()
    for key in ("attribute", "dimension", "effect", "p_value", "q_value", "n_groups", "method"):
        assert key in first
    assert first["method"] == "omega_squared"


def test_seed_spread_per_seed_values(q: Questionnaire, personas: pd.DataFrame) -> None:
    def by_seed(cond: str, idx: int, seed: int, item: int, rep: int) -> np.ndarray:
        if cond == "baseline":
            return one_hot(3)
        return one_hot(3) if seed == 111 else np.full(6, 1 / 6)

    result = analyze(make_parsed(q, personas, by_seed), personas, q, **KW)
    spread = result["seed_spread"]
    assert spread["per_seed"]["111"]["A"]["inertia"] == pytest.approx(1.0)
    assert spread["per_seed"]["333"]["A"]["inertia"] == pytest.approx(0.0, abs=1e-9)
    assert spread["per_seed"]["111"]["A"]["steerability"] == pytest.approx(0.0, abs=1e-9)
    assert spread["dimensions"]["A"]["inertia_range"] == pytest.approx(1.0)
    assert spread["dimensions"]["A"]["inertia_sd"] == pytest.approx(1 / np.sqrt(2))
    assert spread["overall"]["inertia_range"] == pytest.approx(1.0)
    # the pooled inertia lies between the seeds'
    assert 0 < result["dimensions"]["A"]["inertia"] < 1
    single = personas.loc[personas["seed"] == 111]
    one = analyze(make_parsed(q, single, by_seed), single, q, **KW)["seed_spread"]
    assert list(one["per_seed"]) == ["111"]
    assert one["dimensions"]["A"]["inertia_sd"] is None


def test_overall_inertia_has_a_joint_bootstrap_ci(q: Questionnaire, personas: pd.DataFrame) -> None:
    result = analyze(make_parsed(q, personas, varied), personas, q, **KW)
    lo, hi = result["overall"]["inertia_ci"]
    assert lo < result["overall"]["inertia"] < hi
    lo_s, hi_s = result["overall"]["steerability_ci"]
    assert lo_s < result["overall"]["steerability"] < hi_s
    constant = analyze(make_parsed(q, personas, lambda *_: one_hot(2)), personas, q, **KW)
    assert constant["overall"]["inertia_ci"] == pytest.approx([1.0, 1.0])


def test_convergence_across_seeds(q: Questionnaire) -> None:
    personas = make_personas(20)
    out = run_analysis(make_parsed(q, personas, varied), personas, q, **KW)
    table = out.convergence
    assert list(table.columns) == ["dimension", "k", "variance", "band_low", "band_high"]
    part = table.loc[table["dimension"] == "A"]
    assert part["k"].tolist() == [4, 8, 12, 16, 20]
    assert (part["variance"] > 0).all()  # not 0 at k = n by construction
    assert (part["band_low"] <= part["band_high"]).all()
    # V(k) is the variance across the two seeds of the mean of the first k MRAT scores
    mrat = out.scores["mrat:A"]
    firsts = [
        mrat.reindex([f"p{s}-{i}" for i in range(20)]).mean() for s in SEEDS
    ]  # fmt: skip
    assert part["variance"].iloc[-1] == pytest.approx(
        np.var(firsts), rel=1e-6
    )  # ddof = 0, as the paper
    info = out.metrics.convergence
    assert info.enough_seeds and info.n_seeds == 2 and info.sizes == [4, 8, 12, 16, 20]

    single = personas.loc[personas["seed"] == 111]
    one = run_analysis(make_parsed(q, single, varied), single, q, **KW)
    assert one.convergence.empty
    assert not one.metrics.convergence.enough_seeds
    assert "two seeds" in one.metrics.convergence.note


def test_tables_without_a_seed_column_take_seeds_from_the_personas(q: Questionnaire) -> None:
    personas = make_personas(10)
    parsed = make_parsed(q, personas, varied).drop(columns=["seed"])
    out = run_analysis(parsed, personas, q, **KW)
    assert out.metrics.seeds == list(SEEDS)
    assert out.metrics.convergence.enough_seeds and not out.convergence.empty


def test_convergence_sizes() -> None:
    assert convergence_sizes(0) == []
    assert convergence_sizes(200) == list(range(10, 201, 10))
    assert convergence_sizes(10) == [2, 4, 6, 8, 10]
    assert convergence_sizes(25) == [5, 10, 15, 20, 25]
    assert convergence_sizes(35) == [10, 20, 30, 35]
    big = convergence_sizes(1041)
    assert len(big) <= 25 and big[0] == 50 and big[-1] == 1041
    assert convergence_sizes(3) == [1, 2, 3]


def test_variant_rows_are_analysed_apart(q: Questionnaire, personas: pd.DataFrame) -> None:
    original = make_parsed(q, personas, lambda *_: one_hot(1)).assign(variant="original")
    shuffled = make_parsed(q, personas, lambda *_: np.full(6, 1 / 6)).assign(variant="shuffled")
    both = pd.concat([original, shuffled], ignore_index=True)
    a = analyze(both, personas, q, **KW)
    b = analyze(both, personas, q, **KW, variant="shuffled")
    assert a["variant"] == "original" and a["overall"]["inertia"] == pytest.approx(1.0)
    assert b["variant"] == "shuffled" and b["overall"]["inertia"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="variant 'reversed'"):
        analyze(both, personas, q, **KW, variant="reversed")


def test_protocol_and_flat_metrics(q: Questionnaire, personas: pd.DataFrame) -> None:
    from value_inertia.core.protocol import Protocol

    proto = Protocol({"answers": {"mode": "logprobs"}})
    out = run_analysis(make_parsed(q, personas, varied), personas, q, **KW, protocol=proto)
    assert out.metrics.protocol_hash == proto.hash and out.metrics.protocol == proto.fields
    flat = flatten_metrics(out.metrics)
    assert flat["inertia.A"] == pytest.approx(out.metrics.dimensions["A"].inertia)
    assert flat["overall.inertia"] == pytest.approx(out.metrics.overall.inertia)
    assert flat["parse_rate"] == 1.0
    assert "overall.inertia_ci_low" in flat and "mrat.B" in flat
    assert all(isinstance(v, float) for v in flat.values())
