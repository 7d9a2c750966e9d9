"""The leaderboard table: rows, ranking and every output file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.leaderboard_data import DATE, MODELS, PARAMS_HASH, QUESTIONNAIRES, cached_project
from tests.quality_tables import minimal_quality_report
from value_inertia.core import paths
from value_inertia.core import registry as metric_registry
from value_inertia.core.errors import InputError
from value_inertia.publishing.board.build import build_leaderboard
from value_inertia.publishing.board.columns import arrow_schema, fixed_columns
from value_inertia.publishing.board.inputs import load_extras, load_inputs
from value_inertia.publishing.board.markdown import legend, to_markdown, write_leaderboard
from value_inertia.publishing.board.ranking import rank_within


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cached_project(tmp_path_factory)


@pytest.fixture(scope="session")
def inputs(project: Path) -> tuple[list[dict], list[dict], dict[str, dict]]:
    return load_inputs(project)


@pytest.fixture(scope="session")
def board(inputs: tuple[list[dict], list[dict], dict[str, dict]]) -> pd.DataFrame:
    metrics, clusters, models = inputs
    return build_leaderboard(metrics, clusters, models, PARAMS_HASH, "inertia", DATE)


def dims(metric: dict, key: str) -> list[float]:
    return [d[key] for d in metric["dimensions"].values()]


def small_metrics(
    model: str,
    q: str,
    inertia: list[float | None],
    steer: list[float | None],
    top2: float = 0.5,
    ci: list[float | None] | None = None,
    protocol: str | None = "p1",
    mode: str = "logprobs",
    n_personas: int = 60,
) -> dict:
    dimensions = {
        f"D{i}": {"inertia": a, "steerability": b, "top2": top2, "top1": top2 / 2}
        for i, (a, b) in enumerate(zip(inertia, steer, strict=True))
    }
    finite = [v for v in inertia if v is not None]
    return {
        "model": model,
        "questionnaire": q,
        "protocol_hash": protocol,
        "mode": mode,
        "n_personas": n_personas,
        "seeds": [111, 333, 555],
        "repeats": 2,
        "samples": 1,
        "parse_rate": 0.9,
        "letter_mass": 0.7,
        "overall": {
            "inertia": float(np.mean(finite)) if finite else None,
            "steerability": float(np.mean([s for s in steer if s is not None]))
            if any(s is not None for s in steer)
            else None,
            "top2": top2,
            "top1": top2 / 2,
            "inertia_ci": ci or [None, None],
        },
        "dimensions": dimensions,
        "levels": {},
        "seed_stability": {"111-333": 0.9, "111-555": 0.7, "333-555": None},
        "catch_items": {},
    }


# --------------------------------------------------------------------------- rows


def test_one_row_per_model_and_questionnaire(board: pd.DataFrame, inputs) -> None:
    metrics, clusters, models = inputs
    assert len(board) == len(MODELS) * len(QUESTIONNAIRES) == len(metrics)
    assert set(zip(board["model"], board["questionnaire"], strict=True)) == {
        (m, q) for m in MODELS for q in QUESTIONNAIRES
    }
    assert list(board.columns[: len(fixed_columns())]) == fixed_columns()
    by_key = {(m["model"], m["questionnaire"]): m for m in metrics}
    cl = {(c["model"], c["questionnaire"]): c for c in clusters}
    for row in board.to_dict(orient="records"):
        m = by_key[(row["model"], row["questionnaire"])]
        # Overall inertia is the mean over the questionnaire's dimensions.
        assert row["inertia"] == pytest.approx(np.mean(dims(m, "inertia")), abs=1e-6)
        assert row["steerability"] == pytest.approx(np.mean(dims(m, "steerability")), abs=1e-6)
        assert row["top2"] == pytest.approx(np.mean(dims(m, "top2")), abs=1e-6)
        for dim, values in m["dimensions"].items():
            assert row[f"inertia:{dim}"] == pytest.approx(values["inertia"])
            assert row[f"steerability:{dim}"] == pytest.approx(values["steerability"])
        assert row["parse_rate"] == pytest.approx(m["parse_rate"])
        assert (row["n_personas"], row["n_seeds"], row["personas_per_seed"]) == (8, 2, 4)
        assert row["repeats"] == 1 and row["samples"] == 1
        assert row["design"] == "4 personas x 2 seeds x 1 repeats x 1 samples"
        c = cl[(row["model"], row["questionnaire"])]
        assert row["clusters"] == c["k"]
        if c["silhouette"] is None:
            assert pd.isna(row["silhouette"])
        else:
            assert row["silhouette"] == pytest.approx(c["silhouette"])
        spec = models[row["model"]]
        assert (row["model_id"], row["backend"], row["mode"], row["api"]) == (
            spec["model"],
            spec["backend"],
            spec["mode"],
            spec["api"],
        )
        assert row["date"] == DATE and row["params_hash"] == PARAMS_HASH


def test_letter_mass_only_in_logprobs_mode(board: pd.DataFrame) -> None:
    wobbly = board[board["model"] == "wobbly-model"]
    assert wobbly["mode"].eq("sample").all() and wobbly["letter_mass"].isna().all()
    steady = board[board["model"] == "steady-model"]
    assert steady["letter_mass"].to_numpy() == pytest.approx([0.8, 0.8])


def test_dimension_columns_belong_to_their_questionnaire(board: pd.DataFrame) -> None:
    mfq = board[board["questionnaire"] == "mfq30"]
    pvq = board[board["questionnaire"] == "pvqrr"]
    assert mfq["inertia:Harm"].notna().all() and pvq["inertia:Harm"].isna().all()
    assert pvq["steerability:Hedonism"].notna().all() and mfq["steerability:Hedonism"].isna().all()
    dim_cols = [c for c in board.columns if ":" in c]
    assert len(dim_cols) == 2 * (5 + 19)
    # scoring-key order: questionnaires sorted, dimensions as in the key, inertia then steerability
    assert dim_cols[:4] == [
        "inertia:Harm",
        "steerability:Harm",
        "inertia:Fairness",
        "steerability:Fairness",
    ]


# --------------------------------------------------------------------------- ranking


def test_default_ranking_puts_the_most_inert_model_first(board: pd.DataFrame) -> None:
    # the fixture's 8 personas are below the minimum sample: shown, never ranked
    assert board["rank"].isna().all() and board["tie_group"].isna().all()
    assert set(board["rank_label"]) == {"not ranked (n = 8)"}
    ranked = board.join(rank_within(board, "inertia", min_personas=8).add_prefix("r_"))
    for q in QUESTIONNAIRES:
        rows = ranked[ranked["questionnaire"] == q]
        # logprobs and sampled results are never ranked together
        logprobs = rows[rows["mode"] == "logprobs"].sort_values("r_rank")
        assert list(logprobs["model"]) == ["steady-model", "drift.model"]
        assert list(logprobs["r_rank"]) == [1, 2] and list(logprobs["r_rank_label"]) == ["1", "2"]
        assert list(logprobs["r_tie_group"]) == [1, 2]
        assert logprobs["inertia"].is_monotonic_decreasing
        sample = rows[rows["mode"] == "sample"]
        assert list(sample["model"]) == ["wobbly-model"] and list(sample["r_rank"]) == [1]
        # the overall inertia CI from the bootstrap over personas (10 resamples in this
        # fixture): where measured, it is ordered
        measured = rows["inertia_ci_low"].notna()
        assert (rows.loc[measured, "inertia_ci_low"] <= rows.loc[measured, "inertia_ci_high"]).all()
        steady = rows[rows["model"] == "steady-model"].iloc[0]
        assert steady["inertia_ci_low"] == pytest.approx(steady["inertia"])  # every persona alike
    assert list(board["questionnaire"]) == ["mfq30"] * 3 + ["pvqrr"] * 3


def test_ranks_only_within_a_protocol_and_ties_by_ci() -> None:
    metrics = [
        small_metrics("a", "q", [0.50], [0.1], ci=[0.45, 0.55]),
        small_metrics("b", "q", [0.48], [0.1], ci=[0.40, 0.52]),  # overlaps a's CI: tied
        small_metrics("c", "q", [0.30], [0.1], ci=[0.25, 0.35]),
        small_metrics("d", "q", [0.90], [0.1], ci=[0.85, 0.95], protocol="p2"),
    ]
    metrics[0]["permeability"] = [
        {"attribute": "sex", "dimension": "D0", "effect": 0.2, "significant": True},
        {"attribute": "age", "dimension": "D1", "effect": 0.3, "significant": False},
        {"attribute": "age", "dimension": "D0", "effect": -0.01, "significant": False},
    ]
    board = build_leaderboard(metrics, [], {}, "h", "inertia", "d")
    by_model = board.set_index("model")
    assert "permeability_max" not in board.columns  # an inflated maximum over null cells
    assert by_model.loc["a", "permeable_cells"] == 1
    assert by_model.loc["a", "permeability_top"] == pytest.approx(0.2)
    assert by_model.loc["a", "permeability_top_cell"] == "sex x D0"
    assert pd.isna(by_model.loc["b", "permeability_top"])
    assert by_model.loc["d", "rank"] == 1 and by_model.loc["d", "rank_label"] == "1"
    assert list(board.loc[board["protocol_hash"] == "p1", "model"]) == ["a", "b", "c"]
    assert [by_model.loc[m, "rank_label"] for m in "abc"] == ["1-2", "1-2", "3"]
    assert [by_model.loc[m, "tie_group"] for m in "abc"] == [1, 1, 2]
    assert by_model.loc["a", "inertia_ci_low"] == pytest.approx(0.45)
    # logprobs and sample results without a protocol hash are still kept apart
    apart = build_leaderboard(
        [
            small_metrics("x", "q", [0.5], [0.1], protocol=None),
            small_metrics("y", "q", [0.6], [0.1], protocol=None, mode="sample"),
        ],
        [], {}, "h", "inertia", "d",
    )  # fmt: skip
    assert apart["rank"].tolist() == [1, 1]


def test_no_rank_below_the_minimum_sample() -> None:
    """Two personas: the numbers are shown, the rank and tie group are not."""
    metrics = [
        small_metrics("big", "q", [0.40], [0.1], ci=[0.35, 0.45], n_personas=200),
        small_metrics("tiny", "q", [0.90], [0.1], ci=[0.30, 0.95], n_personas=2),
        small_metrics("edge", "q", [0.30], [0.1], ci=[0.20, 0.42], n_personas=30),
        small_metrics("few", "q", [0.95], [0.1], n_personas=29),
    ]
    board = build_leaderboard(metrics, [], {}, "h", "inertia", "d")
    by_model = board.set_index("model")
    # ranked results first, 1..n without gaps; ties only among ranked results
    assert board["model"].tolist()[:2] == ["big", "edge"]
    assert [by_model.loc[m, "rank"] for m in ("big", "edge")] == [1, 2]
    assert [by_model.loc[m, "rank_label"] for m in ("big", "edge")] == ["1-2", "1-2"]
    for model, n in (("tiny", 2), ("few", 29)):
        assert pd.isna(by_model.loc[model, "rank"]) and pd.isna(by_model.loc[model, "tie_group"])
        assert by_model.loc[model, "rank_label"] == f"not ranked (n = {n})"
    assert by_model.loc["tiny", "inertia"] == pytest.approx(0.9)  # the numbers stay
    markdown = to_markdown(board)
    assert "not ranked (n = 2)" in markdown and "not ranked (n = 29)" in markdown


def test_quality_and_spend_columns(tmp_path: Path) -> None:
    qdir, sdir = tmp_path / "data" / "quality", tmp_path / "data" / "spend"
    qdir.mkdir(parents=True)
    sdir.mkdir(parents=True)
    quality = minimal_quality_report(
        model="a", questionnaire="q", verdict="usable", alpha=0.7, position_bias=0.1,
        agreement=0.9, debiased_inertia=0.3, protocol_hash="p1",
    )  # fmt: skip
    (qdir / "a__q.json").write_text(json.dumps(quality))
    (sdir / "a.json").write_text(json.dumps({"model": "a", "cost_usd": 1.25}))
    quality, spend = load_extras(tmp_path)
    board = build_leaderboard(
        [small_metrics("a", "q", [0.5, 0.4], [0.1, 0.1])], [], {}, "h", "inertia", "d",
        quality=quality, spend=spend,
    )  # fmt: skip
    row = board.iloc[0]
    assert pd.isna(row["permeability_top"]) and pd.isna(row["permeable_cells"])
    assert row["verdict"] == "usable" and row["alpha"] == pytest.approx(0.7)
    assert row["position_bias"] == pytest.approx(0.1) and row["cost_usd"] == pytest.approx(1.25)
    assert row["debiased_inertia"] == pytest.approx(0.3)  # beside the raw inertia
    assert load_extras(tmp_path / "nothing") == ({}, {})


def test_variant_shift_columns_only_when_present(tmp_path: Path) -> None:
    from value_inertia.publishing.board.inputs import load_variant_reports

    vdir = tmp_path / "data" / "variants"
    vdir.mkdir(parents=True)
    shift = {"inertia": 0.12, "inertia_ci": [0.05, 0.2], "steerability": -0.01}
    (vdir / "a__q.json").write_text(
        json.dumps(
            {
                "model": "a",
                "questionnaire": "q",
                "original": {"variant": "original"},
                "variants": {
                    "shuffled": {
                        "variant": "shuffled",
                        "shift": {"overall": shift, "dimensions": {}},
                    }
                },
            }
        )  # fmt: skip
    )
    (vdir / "b__q.json").write_text(
        json.dumps({"model": "b", "questionnaire": "q", "note": "only original", "variants": {}})
    )
    reports = load_variant_reports(tmp_path)
    metrics = [
        small_metrics("a", "q", [0.5, 0.4], [0.1, 0.1]),
        small_metrics("b", "q", [0.3, 0.4], [0.1, 0.1]),
    ]
    board = build_leaderboard(metrics, [], {}, "h", "inertia", "d", variants=reports)
    assert list(board.columns[: len(fixed_columns())]) == fixed_columns()
    added = ["shift_inertia_shuffled", "shift_inertia_shuffled_low", "shift_inertia_shuffled_high"]
    assert list(board.columns[len(fixed_columns()) : len(fixed_columns()) + 3]) == added
    a, b = board.set_index("model").loc["a"], board.set_index("model").loc["b"]
    assert [a[c] for c in added] == pytest.approx([0.12, 0.05, 0.2])
    assert all(pd.isna(b[c]) for c in added)
    assert arrow_schema(list(board.columns)).field("shift_inertia_shuffled").type == "double"
    plain = build_leaderboard(metrics, [], {}, "h", "inertia", "d")
    assert not any(c.startswith("shift_") for c in plain.columns)
    assert build_leaderboard(metrics, [], {}, "h", "inertia", "d", variants={}).columns.equals(
        plain.columns
    )
    (vdir / "c__q.json").write_text("{broken")
    with pytest.raises(InputError, match="c__q.json"):
        load_variant_reports(tmp_path)
    assert load_variant_reports(tmp_path / "nothing") == {}


def test_legend_comes_from_the_registry() -> None:
    text = legend("steerability")
    for name in ("inertia", "steerability", "top2"):
        assert metric_registry.get(name).description in text
    assert "overall steerability, lowest first" in text
    assert "protocol" in text and '"1-2"' in text
    with pytest.raises(ValueError, match="rank_by"):
        legend("entropy")


def test_ties_missing_values_and_other_indicators() -> None:
    metrics = [
        small_metrics("a", "q", [0.5, 0.5], [0.2, 0.2], top2=0.6),
        small_metrics("b", "q", [0.5, 0.5], [0.1, 0.1], top2=0.5),  # same inertia, less steerable
        small_metrics("c", "q", [None, None], [None, None], top2=0.9),  # no inertia: last
        small_metrics("d", "q", [0.7, 0.7], [0.3, 0.3], top2=0.4),
        small_metrics("e", "other", [0.1, 0.1], [0.0, 0.0]),  # ranked on its own
    ]
    ranked = build_leaderboard(metrics, [], {}, "h", "inertia", "d")
    q = ranked[ranked["questionnaire"] == "q"]
    assert list(q["model"]) == ["d", "b", "a", "c"] and list(q["rank"]) == [1, 2, 3, 4]
    assert ranked.loc[ranked["questionnaire"] == "other", "rank"].tolist() == [1]

    by_steer = build_leaderboard(metrics, [], {}, "h", "steerability", "d")
    assert list(by_steer[by_steer["questionnaire"] == "q"]["model"]) == ["b", "a", "d", "c"]
    by_top2 = build_leaderboard(metrics, [], {}, "h", "top2", "d")
    assert list(by_top2[by_top2["questionnaire"] == "q"]["model"]) == ["c", "a", "b", "d"]

    # identical numbers: the model name decides, so the order is reproducible
    twins = [small_metrics(n, "q", [0.4], [0.1]) for n in ("zeta", "alpha")]
    assert list(build_leaderboard(twins, [], {}, "h", "inertia", "d")["model"]) == ["alpha", "zeta"]


def test_bad_input_is_named() -> None:
    m = small_metrics("a", "q", [0.5], [0.1])
    with pytest.raises(ValueError, match="rank_by.*allowed: inertia, steerability, top2"):
        build_leaderboard([m], [], {}, "h", "entropy", "d")
    with pytest.raises(ValueError, match="two entries for model 'a', questionnaire 'q'"):
        build_leaderboard([m, m], [], {}, "h", "inertia", "d")
    with pytest.raises(InputError, match=r"metrics\[0\]: not a valid MetricsResult: model"):
        build_leaderboard([{"overall": {}}], [], {}, "h", "inertia", "d")


def test_seed_stability_and_missing_specs() -> None:
    row = build_leaderboard([small_metrics("a", "q", [0.5], [0.1])], [], {}, "h", "inertia", "d")
    r = row.iloc[0]
    assert r["seed_stability"] == pytest.approx(0.8)  # mean of the finite pairs
    assert r["design"] == "20 personas x 3 seeds x 2 repeats x 1 samples"
    assert pd.isna(r["clusters"]) and pd.isna(r["silhouette"]) and r["backend"] is None
    assert r["mode"] == "logprobs"  # falls back to the metrics' mode


# --------------------------------------------------------------------------- inputs


def test_load_inputs_reads_only_result_files(tmp_path: Path) -> None:
    mdir, cdir, sdir = (
        paths.metrics_dir(tmp_path),
        paths.clusters_dir(tmp_path),
        paths.model_specs_dir(tmp_path),
    )
    for d in (mdir, cdir, sdir):
        d.mkdir(parents=True)
    (mdir / "a__q.json").write_text(json.dumps(small_metrics("a", "q", [0.5], [0.1])))
    (mdir / "summary.json").write_text(json.dumps({"model": "x", "questionnaire": "y"}))
    (mdir / "b__q.json").write_text(json.dumps({"something": "else"}))
    (cdir / "a__q.json").write_text(json.dumps({"k": 2, "silhouette": 0.4}))
    (sdir / "a.json").write_text(json.dumps({"name": "a", "backend": "embedded"}))
    metrics, clusters, models = load_inputs(tmp_path)
    assert [m["model"] for m in metrics] == ["a"]
    assert metrics[0]["overall"]["inertia"] == 0.5 and metrics[0]["variant"] == "original"
    assert len(clusters) == 1
    assert {k: clusters[0][k] for k in ("k", "silhouette", "model", "questionnaire")} == {
        "k": 2, "silhouette": 0.4, "model": "a", "questionnaire": "q"
    }  # fmt: skip
    assert models == {"a": {"name": "a", "backend": "embedded"}}
    # an invalid metrics file: one error naming the file and the key
    (mdir / "d__q.json").write_text(json.dumps({"model": "d", "questionnaire": "q"}))
    with pytest.raises(InputError, match=r"d__q\.json: not a valid MetricsResult: mode"):
        load_inputs(tmp_path)
    (mdir / "d__q.json").unlink()
    (cdir / "e__q.json").write_text(json.dumps({"k": "many"}))
    with pytest.raises(InputError, match=r"e__q\.json: not a valid ClusterSummary: k"):
        load_inputs(tmp_path)
    (cdir / "e__q.json").unlink()
    (mdir / "c__q.json").write_text("{not json")
    with pytest.raises(InputError, match=r"c__q\.json: not valid JSON"):
        load_inputs(tmp_path)


# --------------------------------------------------------------------------- files


def logprobs_section(section: str) -> list[str]:
    """The lines of the protocol block (summary and per-dimension table) with steady-model."""
    [block] = [b for b in section.split("Protocol ")[1:] if "steady-model" in b]
    return block.splitlines()


def test_write_leaderboard_files(board: pd.DataFrame, tmp_path: Path) -> None:
    out = write_leaderboard(board, tmp_path / "lb")
    assert {p.name for p in (tmp_path / "lb").iterdir()} == {
        "leaderboard.parquet",
        "leaderboard.csv",
        "leaderboard.json",
        "leaderboard.md",
        "metric_registry.json",
        "legend.md",
    }
    # Parquet: the explicit schema, and the same content back
    table = pq.read_table(out["parquet"])
    assert table.schema.equals(arrow_schema(list(board.columns)), check_metadata=False)
    assert str(table.schema.field("rank").type) == "int64"
    assert str(table.schema.field("clusters").type) == "int64"
    assert str(table.schema.field("inertia:Harm").type) == "double"
    back = pd.read_parquet(out["parquet"])
    assert list(back.columns) == list(board.columns)
    assert list(back["model"]) == list(board["model"])
    np.testing.assert_allclose(back["inertia"], board["inertia"])
    assert back["silhouette"].isna().tolist() == board["silhouette"].isna().tolist()

    csv = pd.read_csv(out["csv"])
    assert list(csv.columns) == list(board.columns) and len(csv) == len(board)
    np.testing.assert_allclose(csv["steerability"], board["steerability"])

    records = json.loads(out["json"].read_text())
    assert [r["model"] for r in records] == list(board["model"])
    wobbly = next(r for r in records if r["model"] == "wobbly-model")
    assert wobbly["letter_mass"] is None and wobbly["inertia:Self-Direction-Thought"] is None
    assert records[0]["rank"] is None and isinstance(records[0]["clusters"], int)
    assert records[0]["rank_label"] == "not ranked (n = 8)"

    md = out["md"].read_text()
    assert md.startswith("# value-inertia leaderboard")
    assert md.index("## mfq30") < md.index("## pvqrr")
    section = md[md.index("## mfq30") : md.index("## pvqrr")]
    assert (
        "| rank | model | inertia | inertia 95% CI | inertia without letter prior | steerability |"
        in section
    )
    # logprobs and sample answers never rank together: one ranked table per protocol
    tables = [g.split("Per dimension")[0] for g in section.split("Protocol ")[1:]]
    assert len(tables) == 2
    [logprobs] = [t for t in tables if "steady-model" in t]
    assert "| not ranked (n = 8) | steady-model |" in logprobs
    assert "| not ranked (n = 8) | drift.model |" in logprobs
    assert "wobbly-model" not in logprobs
    assert "| not ranked (n = 8) | wobbly-model |" in section
    harm = [line for line in logprobs_section(section) if line.startswith("| Harm |")]
    assert harm[0].endswith("| 0.713 / 0.000 |")  # steady-model's column
    assert "| Hedonism |" not in section  # PVQ dimensions stay in their own section
    assert "What the numbers mean" in md and "highest first" in md
    assert f"parameters hash `{PARAMS_HASH}`" in md


def test_empty_leaderboard_still_writes_every_file(tmp_path: Path) -> None:
    frame = build_leaderboard([], [], {}, "h", "inertia", "d")
    assert frame.empty and list(frame.columns) == fixed_columns()
    out = write_leaderboard(frame, tmp_path)
    assert pq.read_table(out["parquet"]).num_rows == 0
    assert json.loads(out["json"].read_text()) == []
    assert "No results yet" in out["md"].read_text()


def test_current_inputs_keep_configured_variants(tmp_path: Path) -> None:
    from value_inertia.publishing.board.inputs import load_current_inputs

    mdir = paths.metrics_dir(tmp_path)
    mdir.mkdir(parents=True)
    (mdir / "a__q.json").write_text(json.dumps(small_metrics("a", "q", [0.5], [0.1])))
    shuffled = {**small_metrics("a", "q", [0.4], [0.1]), "variant": "shuffled"}
    (mdir / "a__q__shuffled.json").write_text(json.dumps(shuffled))
    both, _, _ = load_current_inputs(tmp_path, ["a"], ["q"])
    assert sorted(m["variant"] for m in both) == ["original", "shuffled"]
    only, _, _ = load_current_inputs(tmp_path, ["a"], ["q"], ["original"])
    assert [m["variant"] for m in only] == ["original"]
    board = build_leaderboard(both, [], {}, "h", "inertia", "d")
    assert len(board) == 2 and set(board["variant"]) == {"original", "shuffled"}
