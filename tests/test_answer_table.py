"""The parse stage's table: original-scale mapping, rule parsing, the LLM judge."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO
from value_inertia.answer_table import P_COLUMNS, apply_judge, parse_responses, to_table
from value_inertia.config import ModelParams, Params, PromptsParams
from value_inertia.evaluation import RESPONSE_SCHEMA
from value_inertia.personas import build_personas, load_schema
from value_inertia.pipeline import make_backend
from value_inertia.prompts import build_prompts
from value_inertia.questionnaires import load_questionnaires
from value_inertia.store import ResponseStore


def make_prompts(shuffle: bool) -> pd.DataFrame:
    schema = load_schema(REPO / "data/schemas/persona_attributes.yaml")
    personas = build_personas(schema, 1, [1]).to_pandas()
    qs = load_questionnaires(["mfq30"], REPO)
    params = PromptsParams(questionnaires=["mfq30"], shuffle_options=shuffle)
    return build_prompts(params, qs, personas).to_pandas()


def responses(prompts: pd.DataFrame, mode: str, texts=None, probs=None) -> pd.DataFrame:
    rows = []
    for i, r in enumerate(prompts.itertuples()):
        p = probs[i] if probs is not None else [math.nan] * 6
        rows.append(
            {
                "prompt_id": r.prompt_id,
                "model": "m",
                "backend": "embedded",
                "mode": mode,
                "sample_index": 0,
                "request_key": str(i),
                "status": "ok",
                "text": texts[i] if texts is not None else None,
                **{f"p_{c}": v for c, v in zip("ABCDEF", p, strict=True)},
                "letter_mass": 0.5 if probs is not None else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=RESPONSE_SCHEMA.names)


def test_logprobs_map_back_through_the_shuffle() -> None:
    prompts = make_prompts(shuffle=True).head(10)
    letter_probs = [[0.5, 0.2, 0.1, 0.1, 0.05, 0.05]] * len(prompts)
    parsed = parse_responses(responses(prompts, "logprobs", probs=letter_probs), prompts)
    assert (parsed.parser == "logprobs").all()
    for row, prompt in zip(parsed.itertuples(), prompts.itertuples(), strict=True):
        # letter A carried 0.5, and A showed the rating letter_ratings[0]
        assert row.rating == prompt.letter_ratings[0]
        assert getattr(row, f"p_{prompt.letter_ratings[0]}") == 0.5
        assert getattr(row, f"p_{prompt.letter_ratings[1]}") == 0.2
    assert np.allclose(parsed[P_COLUMNS].sum(axis=1), 1.0)
    to_table(parsed)  # the explicit schema accepts it


def test_sample_text_is_parsed_and_unreadable_kept_with_reason() -> None:
    prompts = make_prompts(shuffle=True).head(4)
    shown = prompts.option_labels.tolist()
    texts = ["B", f"I would say {shown[1][4]} really.", "", "A or C, hard to say"]
    texts[1] = f"{shown[1][4]}"  # the label of letter E, without the letter
    parsed = parse_responses(responses(prompts, "sample", texts=texts), prompts)
    assert parsed.rating.iloc[0] == prompts.letter_ratings.iloc[0][1]
    assert parsed.rating.iloc[1] == prompts.letter_ratings.iloc[1][4]
    assert parsed.reason.iloc[2] == "empty" and pd.isna(parsed.rating.iloc[2])
    assert parsed.reason.iloc[3] == "ambiguous"
    assert parsed[P_COLUMNS].iloc[0].sum() == 1.0
    assert parsed[P_COLUMNS].iloc[2].isna().all()


@pytest.mark.slow  # loads the embedded model
def test_judge_decides_unparsed_rows_and_is_cached(tmp_path: Path) -> None:
    prompts = make_prompts(shuffle=False).head(3)
    texts = ["C", "Hmm, hard to say. The fifth one, I guess?", "no idea"]
    parsed = parse_responses(responses(prompts, "sample", texts=texts), prompts)
    assert parsed.rating.isna().sum() == 2
    judge = ModelParams(name="judge")  # the embedded Gemma in logprobs mode
    params = Params()
    store_path = tmp_path / "judge.sqlite"
    with ResponseStore(store_path) as store:
        judged, sent = apply_judge(
            parsed, prompts, judge, store, lambda: make_backend(judge, params), "unparsed"
        )
        assert sent == 2
        assert judged.parser.tolist()[0] == "rules"
        assert judged.parser.tolist()[1:] == ["judge", "judge"]
        assert judged.rating.iloc[0] == 3
        again, sent_again = apply_judge(
            parsed, prompts, judge, store, lambda: make_backend(judge, params), "unparsed"
        )
    assert sent_again == 0
    pd.testing.assert_frame_equal(judged, again)
