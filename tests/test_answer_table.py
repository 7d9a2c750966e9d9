"""The parse stage's table: original-scale mapping, rule parsing, the LLM judge."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO
from value_inertia.core.config import ModelParams, Params, PromptsParams
from value_inertia.design.personas import build_personas, load_schema
from value_inertia.design.prompts import build_prompts
from value_inertia.design.questionnaires import load_questionnaires
from value_inertia.evaluation.backends import make_backend
from value_inertia.evaluation.runner import RESPONSE_SCHEMA
from value_inertia.evaluation.store import ResponseStore
from value_inertia.scoring.answer_table import P_COLUMNS, apply_judge, parse_responses, to_table


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


def test_letter_mass_gate_unparses_low_mass_prompts() -> None:
    prompts = make_prompts(shuffle=False).head(4)
    letter_probs = [[0.5, 0.1, 0.1, 0.1, 0.1, 0.1]] * len(prompts)
    frame = responses(prompts, "logprobs", probs=letter_probs)
    frame["letter_mass"] = [0.9, 0.2, 0.05, math.nan]
    open_gate = parse_responses(frame, prompts)
    assert open_gate.rating.notna().all()
    gated = parse_responses(frame, prompts, min_letter_mass=0.1)
    assert gated.rating.notna().tolist() == [True, True, False, False]
    assert gated.reason.tolist()[2:] == ["low_letter_mass", "low_letter_mass"]
    assert gated[P_COLUMNS].iloc[2].isna().all()
    assert list(gated.letter_ratings.iloc[0]) == [1, 2, 3, 4, 5, 6]
    assert (gated.variant == "original").all()
    to_table(gated)


class ScriptedJudge:
    """A judge backend whose verdicts are known: it reads the answer it is shown."""

    verdicts = {"the fifth one": "E", "lean towards the first": "A.", "no idea": "N"}

    def __init__(self) -> None:
        self.seen: list[str] = []

    def run(self, requests, on_result) -> None:
        from value_inertia.evaluation.backends.base import Result

        for request in requests:
            text = request.payload["messages"][0]["content"]
            self.seen.append(text)
            answer = text.split("Answer given:", 1)[1]
            # a bare letter is taken as it stands
            verdict = next((v for k, v in self.verdicts.items() if k in answer), answer.strip())
            on_result(Result(key=request.key, status="ok", text=verdict))

    def close(self) -> None:
        pass


def test_judge_verdicts_map_through_the_shown_letters(tmp_path: Path) -> None:
    prompts = make_prompts(shuffle=True).head(4)
    texts = ["B", "Hmm, the fifth one I guess", "I lean towards the first", "no idea"]
    parsed = parse_responses(responses(prompts, "sample", texts=texts), prompts)
    assert parsed.rating.notna().tolist() == [True, False, False, False]
    judge = ModelParams(name="judge", api="chat", mode="sample", temperature=0.0)
    scripted = ScriptedJudge()
    with ResponseStore(tmp_path / "judge.sqlite") as store:
        judged, sent = apply_judge(parsed, prompts, judge, store, lambda: scripted, "unparsed")
        assert sent == 3 and len(scripted.seen) == 3
        shown = prompts.letter_ratings.tolist()
        # "E" is the fifth shown letter: the rating shown there, not 5
        assert judged.rating.iloc[1] == shown[1][4]
        assert judged.rating.iloc[2] == shown[2][0]
        assert pd.isna(judged.rating.iloc[3])  # "N": no option, stays unparsed
        assert judged.parser.tolist() == ["rules", "judge", "judge", "judge"]
        assert judged.rating.iloc[0] == parsed.rating.iloc[0]  # rules kept
        # the judge saw the question with its shown options and the answer
        assert prompts.option_labels.iloc[1][4] in scripted.seen[0]
        # its answers sit under the keys the judge always used (nothing stored is lost)
        from value_inertia.evaluation.store import request_key

        old_keys = {
            request_key(judge.identity(), {"messages": [{"role": "user", "content": t}]}, 0)
            for t in scripted.seen
        }
        assert store.done_keys(old_keys) == old_keys
        # scope "all": the judge also decides what the rules read, from its store
        everything, sent_all = apply_judge(
            parsed, prompts, judge, store, lambda: ScriptedJudge(), "all"
        )
    assert sent_all == 1  # only the first answer was new to the judge
    assert everything.parser.eq("judge").all()
    assert everything.rating.iloc[0] == parsed.rating.iloc[0]  # the judge read "B" as B
    assert everything.reason.iloc[3] == "judge_no_option"
