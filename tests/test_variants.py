"""Prompt variants against original: each variant's metrics and the paired-bootstrap shift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.test_analysis import (
    make_parsed,
    make_personas,
    one_hot,
    softmax_around,
    tiny_questionnaire,
)
from value_inertia.analysis.analyze import run_analysis
from value_inertia.analysis.metrics import inertia_index, steerability
from value_inertia.analysis.variants.report import (
    flatten_variant_report,
    leaderboard_columns,
    variant_report,
)
from value_inertia.analysis.variants.shifts import inertia_of_sums, jsd_of_sums, variant_shifts
from value_inertia.core import registry as metric_registry
from value_inertia.core.protocol import Protocol

KW = {"n_boot": 200, "confidence": 0.95, "seed": 3}


@pytest.fixture(scope="module")
def q():
    return tiny_questionnaire()


@pytest.fixture(scope="module")
def personas() -> pd.DataFrame:
    return make_personas(n_per_seed=5)


def varied(cond: str, idx: int, seed: int, item: int, rep: int) -> np.ndarray:
    if cond == "baseline":
        return softmax_around(4.0)
    rng = np.random.default_rng([idx, seed, item, rep])
    return softmax_around(1 + 5 * rng.random(), width=0.8)


def both(q, personas, original, variant, name: str = "shuffled") -> pd.DataFrame:
    a = make_parsed(q, personas, original).assign(variant="original")
    b = make_parsed(q, personas, variant).assign(variant=name)
    return pd.concat([a, b], ignore_index=True)


def test_vectorised_metrics_match_the_pure_functions() -> None:
    rng = np.random.default_rng(0)
    sums = rng.random((4, 3, 6)) * 5
    sums[1, 2] = 0.0  # no answers: NaN
    base = rng.dirichlet(np.ones(6), size=3)
    inert, jsd = inertia_of_sums(sums), jsd_of_sums(base, sums)
    for i in range(4):
        for d in range(3):
            if i == 1 and d == 2:
                assert np.isnan(inert[i, d]) and np.isnan(jsd[i, d])
                continue
            assert inert[i, d] == pytest.approx(inertia_index(sums[i, d]), abs=1e-12)
            assert jsd[i, d] == pytest.approx(steerability(base[d], sums[i, d]), abs=1e-12)
    assert inertia_of_sums(one_hot(2)) == pytest.approx(1.0)
    assert jsd_of_sums(one_hot(1), one_hot(6)) == pytest.approx(1.0)


def test_identical_variants_shift_zero_with_ci_containing_zero(q, personas) -> None:
    out = variant_shifts(both(q, personas, varied, varied), q, **KW)
    assert list(out.variants) == ["shuffled"]
    block = out.variants["shuffled"]
    assert block.n_personas == len(personas) and block.shift is not None
    for values in [block.shift.overall, *block.shift.dimensions.values()]:
        for m in ("inertia", "steerability"):
            assert values.value(m) == pytest.approx(0.0, abs=1e-12)
            lo, hi = values.interval(m)
            assert lo is not None and hi is not None
            assert lo <= 0.0 <= hi and hi - lo == pytest.approx(0.0, abs=1e-9)  # paired draws


def test_values_agree_with_the_analysis_of_each_variant(q, personas) -> None:
    def other(cond, idx, seed, item, rep):
        return (
            softmax_around(2.0) if cond == "baseline" else varied(cond, idx, seed, item, rep) ** 2
        )

    parsed = both(q, personas, varied, other)
    out = variant_shifts(parsed, q, **KW)
    for name, block in [("original", out.reference), ("shuffled", out.variants["shuffled"])]:
        full = run_analysis(parsed, personas, q, variant=name, **KW).metrics
        assert block.overall.inertia == pytest.approx(full.overall.inertia, abs=1e-6)
        assert block.overall.steerability == pytest.approx(full.overall.steerability, abs=1e-6)
        for d in q.dimensions:
            assert block.dimensions[d].inertia == pytest.approx(
                full.dimensions[d].inertia, abs=1e-6
            )
    shuffled = out.variants["shuffled"]
    assert shuffled.shift is not None
    assert shuffled.overall.inertia is not None and out.reference.overall.inertia is not None
    expected = shuffled.overall.inertia - out.reference.overall.inertia
    assert shuffled.shift.overall.inertia == pytest.approx(expected, abs=1e-6)


def test_planted_shift_is_found_with_the_right_sign(q, personas) -> None:
    # the variant's answers all land on one option: inertia rises, far outside the CI
    concentrated = lambda cond, *_: softmax_around(4.0) if cond == "baseline" else one_hot(6)  # noqa: E731
    out = variant_shifts(both(q, personas, varied, concentrated), q, **KW)
    shift = out.variants["shuffled"].shift
    assert shift is not None
    lo, hi = shift.overall.interval("inertia")
    assert shift.overall.value("inertia") > 0.3 and lo > 0
    assert out.variants["shuffled"].overall.inertia == pytest.approx(1.0)
    for values in shift.dimensions.values():
        assert values.value("inertia") > 0 and values.interval("inertia")[0] > 0
    # and the other way round: uniform answers lower it
    flat = lambda *_: np.full(6, 1 / 6)  # noqa: E731
    down = variant_shifts(both(q, personas, varied, flat), q, **KW).variants["shuffled"].shift
    assert down is not None
    assert down.overall.value("inertia") < 0 and down.overall.interval("inertia")[1] < 0


def test_hand_checkable_tiny_example(q) -> None:
    # two personas; original: everyone answers 1 (I = 1); variant: persona 0 answers 1,
    # persona 1 answers 2, equal counts -> p = (1/2, 1/2, 0, ...), H = 1 bit,
    # I = 1 - 1/log2 6. Resampling both personas keeps pairs: a draw of {0, 0}
    # gives shift 0, {1, 1} shift 0, mixed draws 1/log2 6 below: the CI is
    # [-1/log2 6, 0].
    two = make_personas(n_per_seed=2, seeds=(111,))
    p1 = lambda cond, idx, *_: one_hot(1)  # noqa: E731
    p2 = lambda cond, idx, *_: one_hot(1) if cond == "baseline" or idx == 0 else one_hot(2)  # noqa: E731
    out = variant_shifts(both(q, two, p1, p2), q, n_boot=400, confidence=0.9, seed=1)
    block = out.variants["shuffled"]
    assert block.shift is not None
    expected = -1 / np.log2(6)
    assert block.overall.inertia == pytest.approx(1 + expected, abs=1e-6)
    assert block.shift.overall.inertia == pytest.approx(expected, abs=1e-6)
    assert block.shift.overall.inertia_ci == pytest.approx([expected, 0.0], abs=1e-6)
    # steerability: original equals its baseline (0); the variant's JSD(1-hot, (1/2, 1/2))
    # m = (3/4, 1/4, 0, ...)
    jsd = 0.5 * np.log2(1 / 0.75) + 0.5 * (0.5 * np.log2(0.5 / 0.75) + 0.5 * np.log2(0.5 / 0.25))
    assert block.shift.overall.steerability == pytest.approx(jsd, abs=1e-6)


def test_missing_variant_is_an_error(q, personas) -> None:
    with pytest.raises(ValueError, match="variant 'reversed'"):
        variant_shifts(both(q, personas, varied, varied), q, variants=["reversed"], **KW)


def test_report_protocols_flat_metrics_and_columns(q, personas) -> None:
    protocols = {v: Protocol({"variant": v}) for v in ("original", "shuffled")}
    concentrated = lambda cond, *_: softmax_around(4.0) if cond == "baseline" else one_hot(6)  # noqa: E731
    parsed = both(q, personas, varied, concentrated)
    report = variant_report(
        parsed, q, "m", variants=["original", "shuffled"], protocols=protocols, **KW
    )
    assert report.protocol_hash == protocols["original"].hash
    assert report.original.protocol_hash == protocols["original"].hash
    assert report.variants["shuffled"].protocol_hash == protocols["shuffled"].hash
    assert report.note is None
    flat = flatten_variant_report(report)
    shift = report.variants["shuffled"].shift
    assert flat["shift.inertia.shuffled"] == pytest.approx(shift.overall.inertia)
    assert flat["shift.inertia.shuffled.ci_low"] == pytest.approx(shift.overall.inertia_ci[0])
    assert flat["shift.inertia.shuffled.A"] == pytest.approx(shift.dimensions["A"].inertia)
    assert flat["shuffled.overall.inertia"] == pytest.approx(1.0)
    assert "shift.steerability.shuffled" in flat
    assert set(metric_registry.names("variant")) == {"shift_inertia", "shift_steerability"}
    cols = leaderboard_columns(report, ["shift_inertia"])
    assert cols["shift_inertia_shuffled"] == pytest.approx(shift.overall.inertia)
    assert cols["shift_inertia_shuffled_low"] <= cols["shift_inertia_shuffled"]
    assert cols["shift_inertia_shuffled"] <= cols["shift_inertia_shuffled_high"]

    alone = variant_report(parsed, q, "m", variants=["original"], protocols=protocols, **KW)
    assert alone.variants == {} and "only the original" in alone.note
    assert (
        flatten_variant_report(alone) == {} and leaderboard_columns(alone, ["shift_inertia"]) == {}
    )


def test_shift_figure_draws_the_cis_and_names_the_result(q, personas) -> None:
    from matplotlib.figure import Figure

    from value_inertia.analysis.plots import variants as variant_plots
    from value_inertia.analysis.variants.report import shift_table

    concentrated = lambda cond, *_: softmax_around(4.0) if cond == "baseline" else one_hot(6)  # noqa: E731
    parsed = both(q, personas, varied, concentrated)
    report = variant_report(parsed, q, "m", variants=["shuffled"], **KW)
    table = shift_table(report, "shuffled")
    assert list(table["dimension"].unique()) == ["overall", "A", "B"]
    ax = Figure().add_subplot()
    variant_plots.plot_variant_shift(
        table, ax=ax, model="m", questionnaire="tiny", variant="shuffled"
    )
    title = ax.get_title()
    assert "m" in title and "tiny" in title and "shuffled" in title
    assert [t.get_text() for t in ax.get_yticklabels()] == ["overall", "A", "B"]
    inertia = table.loc[table["metric"] == "inertia"]
    # the inertia markers sit at the shifts, the error bars span the CIs
    line = next(c for c in ax.containers if c.get_label() == "inertia shift")
    xs = line.lines[0].get_xdata()
    assert xs == pytest.approx(inertia["shift"].to_numpy())
    segments = line.lines[2][0].get_segments()
    assert [s[0][0] for s in segments] == pytest.approx(inertia["ci_low"].to_numpy())
    assert [s[1][0] for s in segments] == pytest.approx(inertia["ci_high"].to_numpy())


def test_dvc_summary_carries_the_shift(q, personas, tmp_path) -> None:
    import json

    from value_inertia.analysis.summary import write_summary
    from value_inertia.analysis.variants.report_model import write_variant_report
    from value_inertia.core.paths import variants_dir

    concentrated = lambda cond, *_: softmax_around(4.0) if cond == "baseline" else one_hot(6)  # noqa: E731
    report = variant_report(
        both(q, personas, varied, concentrated), q, "m", variants=["shuffled"], **KW
    )
    mdir = tmp_path / "data" / "metrics"
    mdir.mkdir(parents=True)
    metrics = {"model": "m", "questionnaire": "tiny", "mode": "logprobs", "n_personas": 10,
               "overall": {"inertia": 0.4}, "dimensions": {}}  # fmt: skip
    (mdir / "m__tiny.json").write_text(json.dumps(metrics))
    write_variant_report(report, variants_dir(tmp_path) / "m__tiny.json")
    out = json.loads(write_summary("m", "tiny", tmp_path).read_text())
    shift = report.variants["shuffled"].shift.overall
    assert out["shift_inertia_shuffled"] == pytest.approx(shift.inertia)
    assert set(out) == {"inertia", "shift_inertia_shuffled"}  # headline numbers only
