"""Pure parts of publishing: merging published tables, ranks with tie groups, public fields."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from value_inertia.core.config import ConfigError, ModelParams, Params
from value_inertia.publishing.dataset import check_distinct_results
from value_inertia.publishing.privacy import scrub
from value_inertia.publishing.tables.identity import model_identity, result_file
from value_inertia.publishing.tables.merge import merge_frames, rerank
from value_inertia.publishing.tables.public import public_model
from value_inertia.publishing.tables.results import measurement

KEY = ["model_key", "questionnaire", "variant", "protocol_hash"]


def row(model: str, inertia: float, lo: float | None = None, hi: float | None = None, **kw):
    return {
        "model": model,
        "model_key": model,
        "questionnaire": kw.get("questionnaire", "mfq30"),
        "variant": "original",
        "protocol_hash": kw.get("protocol_hash", "p1"),
        "inertia": inertia,
        "steerability": kw.get("steerability", 0.1),
        "top2": 0.5,
        "inertia_ci_low": math.nan if lo is None else lo,
        "inertia_ci_high": math.nan if hi is None else hi,
        "contributor": kw.get("contributor", "me"),
        "n_personas": kw.get("n_personas", 30),
        "rank": 0,
        **{k: kw[k] for k in ("ci_level", "n_bootstrap") if k in kw},
    }


def test_merge_replaces_only_rows_with_the_same_key() -> None:
    remote = pd.DataFrame(
        [
            row("a", 0.5, contributor="other"),
            row("b", 0.4, contributor="other"),
            row("a", 0.3, protocol_hash="p2", contributor="other"),  # another protocol: kept
        ]
    )
    local = pd.DataFrame([row("a", 0.9), row("c", 0.2)])
    merged = merge_frames(remote, local, KEY)
    got = {(r.model, r.protocol_hash): (r.inertia, r.contributor) for r in merged.itertuples()}
    assert got == {
        ("a", "p1"): (0.9, "me"),
        ("b", "p1"): (0.4, "other"),
        ("a", "p2"): (0.3, "other"),
        ("c", "p1"): (0.2, "me"),
    }
    assert merge_frames(None, local, KEY).equals(local)
    # a missing key column reads as empty, on both sides alike
    no_variant = local.drop(columns=["variant"])
    assert len(merge_frames(no_variant, no_variant, KEY)) == len(local)


def test_rerank_within_protocol_with_tie_groups() -> None:
    frame = pd.DataFrame(
        [
            row("low", 0.30, 0.25, 0.35),
            row("top", 0.80, 0.70, 0.90),
            row("close", 0.75, 0.72, 0.78),  # reaches top's lower bound: tied with it
            row("mid", 0.60, 0.55, 0.65),
            row("alone", 0.10, protocol_hash="p2"),  # another protocol: ranked on its own
        ]
    )
    ranked = rerank(frame)
    by = ranked.set_index("model")
    assert by.loc[["top", "close", "mid", "low"], "rank"].tolist() == [1, 2, 3, 4]
    assert by.loc[["top", "close", "mid", "low"], "rank_label"].tolist() == ["1-2", "1-2", "3", "4"]
    assert by.at["top", "tie_group"] == by.at["close", "tie_group"] != by.at["mid", "tie_group"]
    assert by.at["alone", "rank"] == 1 and by.at["alone", "rank_label"] == "1"
    # without CIs every model is its own group
    plain = rerank(frame.assign(inertia_ci_low=math.nan, inertia_ci_high=math.nan))
    assert sorted(plain["rank_label"]) == ["1", "1", "2", "3", "4"]


def test_rerank_leaves_results_below_the_minimum_sample_unranked() -> None:
    frame = pd.DataFrame(
        [
            row("tiny", 0.95, 0.3, 0.99, n_personas=2),
            row("top", 0.80, 0.70, 0.90),
            row("low", 0.30, 0.25, 0.35),
            row("old", 0.99, n_personas=None),  # a remote row without its persona count
        ]
    )
    ranked = rerank(frame).set_index("model")
    assert ranked.loc[["top", "low"], "rank"].tolist() == [1, 2]
    assert ranked.loc[["top", "low"], "rank_label"].tolist() == ["1", "2"]
    assert pd.isna(ranked.at["tiny", "rank"]) and pd.isna(ranked.at["tiny", "tie_group"])
    assert ranked.at["tiny", "rank_label"] == "not ranked (n = 2)"
    assert ranked.at["old", "rank_label"] == "not ranked (n unknown)"


def test_public_model_leaves_private_fields_out() -> None:
    private = ModelParams(
        name="local-llama",
        backend="openai",
        model="/home/me/models/llama-8b-q4.gguf",
        base_url="http://gpu-7.corp.internal:8011/v1",
        api_key_env="CORP_KEY",
        public_id="meta-llama/Llama-3.1-8B-Instruct",
        quantization="Q4_K_M",
    )
    public = public_model(private)
    text = repr(public)
    for secret in ("/home/me", "gpu-7", "corp.internal", "CORP_KEY", "base_url", "api_key"):
        assert secret not in text
    assert public["public_id"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert public["license"] == "llama3"  # known from the public id
    assert public["model_key"].startswith("served-") and public["identity"] == "served"
    assert public_model(ModelParams(name="g", model="gemma3-270m-q4-k-m"))["license"] == "gemma"
    assert public_model(ModelParams(name="x", model="/srv/x.gguf"))["license"] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"base_url": "http://h:1/v1", "n": 3}, {"n": 3}),
        ({"model": "/srv/private/m.gguf"}, {"model": "[local]"}),
        ({"model": "acme/model-1b"}, {"model": "acme/model-1b"}),
        ([{"endpoint": "x", "api_key_env": "K", "t": "https://corp/x"}], [{"t": "[local]"}]),
    ],
)
def test_scrub_masks_paths_urls_and_private_keys(value: object, expected: object) -> None:
    assert scrub(value) == expected


WEIGHTS_A, WEIGHTS_B = "a" * 64, "b" * 64


def test_identity_is_the_weights_or_the_served_model_never_the_name() -> None:
    """Two weights under one name are two models; renaming keeps the model."""
    gemma = ModelParams(name="gemma", model="gemma3-270m-q4-k-m")
    renamed = ModelParams(name="my-gemma", model="/elsewhere/copy.gguf")
    key_a = model_identity(gemma, WEIGHTS_A)["model_key"]
    assert key_a == f"weights-{WEIGHTS_A[:16]}"
    assert model_identity(renamed, WEIGHTS_A)["model_key"] == key_a  # same weights, new name
    assert model_identity(gemma, WEIGHTS_B)["model_key"] != key_a  # same name, new weights
    # an API model: the served id, its revision and public id; not the name, not the address
    served = {"backend": "openai", "base_url": "http://a:1/v1", "model": "org/m"}
    key = model_identity(ModelParams(name="x", **served))["model_key"]
    assert key.startswith("served-")
    moved = {**served, "base_url": "http://b:2/v1"}
    assert model_identity(ModelParams(name="y", **moved))["model_key"] == key
    for change in ({"revision": "r2"}, {"public_id": "org/m-v2"}, {"model": "org/other"}):
        other = ModelParams(name="x", **{**served, **change})
        assert model_identity(other)["model_key"] != key, change
    # a private served id (a path) never shows in the key
    private = ModelParams(name="x", **{**served, "model": "/srv/private/m.gguf"})
    assert "srv" not in model_identity(private)["model_key"]
    # embedded without a recorded digest: declared, and still not the name
    declared = model_identity(ModelParams(name="n1", model="m.gguf"))
    assert declared["identity"] == "declared" and declared["weights_sha256"] is None
    assert model_identity(ModelParams(name="n2", model="m.gguf")) == declared


def test_result_files_are_keyed_by_identity_and_protocol() -> None:
    one = result_file("parsed", "weights-ab", "mfq30", "original", "p1", "parquet")
    other = result_file("parsed", "weights-ab", "mfq30", "original", "p2", "parquet")
    assert one != other and one.startswith("data/parsed/weights-ab/")
    assert result_file("parsed", "weights-cd", "mfq30", "original", "p1", "parquet") != one


def test_rows_of_other_ci_levels_never_share_a_tie_group() -> None:
    """A 90% and a 95% interval (or 10 and 1000 resamples) are not compared: separate groups."""
    frame = pd.DataFrame(
        [
            row("a95", 0.80, 0.70, 0.90, ci_level=0.95, n_bootstrap=1000),
            row("b95", 0.75, 0.72, 0.78, ci_level=0.95, n_bootstrap=1000),
            row("c90", 0.76, 0.74, 0.79, ci_level=0.90, n_bootstrap=1000),
            row("d10", 0.77, 0.74, 0.79, ci_level=0.95, n_bootstrap=10),
        ]
    )
    by = rerank(frame).set_index("model")
    assert by.loc[["a95", "b95"], "rank_label"].tolist() == ["1-2", "1-2"]
    assert by.at["c90", "rank"] == 1 and by.at["c90", "rank_label"] == "1"
    assert by.at["d10", "rank"] == 1 and by.at["d10", "rank_label"] == "1"
    # the same rows without those columns would all tie with the leader
    same = rerank(frame.drop(columns=["ci_level", "n_bootstrap"])).set_index("model")
    assert set(same["rank_label"]) == {"1-4"}


def test_ci_level_comes_from_the_protocol_when_it_records_it() -> None:
    params = Params.model_validate(
        {"analyze": {"confidence": 0.9, "bootstrap": 200}, "models": [{"name": "m"}]}
    )
    assert measurement({"questionnaire": "mfq30"}, params) == (0.9, 200)
    recorded = {"analysis": {"confidence": 0.95, "bootstrap": 1000}}
    assert measurement(recorded, params) == (0.95, 1000)


def test_one_model_twice_under_one_protocol_is_refused() -> None:
    board = pd.DataFrame([row("a", 0.5), row("b", 0.4)]).assign(model_key="weights-same")
    with pytest.raises(ConfigError, match=r"models a, b: the same model"):
        check_distinct_results(board)
    check_distinct_results(board.assign(protocol_hash=["p1", "p2"]))  # two protocols: fine
