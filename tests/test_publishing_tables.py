"""Pure parts of publishing: merging published tables, ranks with tie groups, public fields."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from value_inertia.core.config import ModelParams
from value_inertia.publishing.hub_tables import merge_frames, model_key, public_model, rerank, scrub

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
    assert public["model_key"] == model_key(public)
    assert public["model_key"].startswith("local-llama|meta-llama/Llama-3.1-8B-Instruct|")
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
