"""The parsed-answers table: every response mapped to the original 1-6 scale.

- ``logprobs`` mode: nothing is parsed; the six letter probabilities, permuted
  back through ``letter_ratings``, are the rating distribution ``p_1 .. p_6``;
  ``rating`` is the most probable one. No letter mass -> unparsed; letter mass
  below ``parse.min_letter_mass`` -> unparsed (``low_letter_mass``).
- ``sample`` mode: :func:`value_inertia.scoring.parsing.parse_answer` reads the free
  text; the distribution is one-hot at the parsed rating. Optionally an
  LLM judge (``parse.judge``) decides what the rules leave unparsed, or
  everything; its requests go through the evaluation backends and are cached in
  the judge's durable response store. ``parser`` records who decided.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from value_inertia.core.config import ModelParams
from value_inertia.core.protocol import AnswerMode, answer_mode
from value_inertia.design.questionnaires import N_OPTIONS, OPTION_LETTERS
from value_inertia.evaluation.backends.base import Backend
from value_inertia.evaluation.runner import materialise_responses, plan_requests, run_evaluation
from value_inertia.evaluation.store import ResponseStore
from value_inertia.scoring.parsing import parse_answer

P_COLUMNS = [f"p_{k}" for k in range(1, N_OPTIONS + 1)]

PARSED_SCHEMA = pa.schema(
    [
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("variant", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("mode", pa.string(), nullable=False),
        pa.field("condition", pa.string(), nullable=False),
        pa.field("persona_id", pa.string()),
        pa.field("seed", pa.int64()),
        pa.field("questionnaire", pa.string(), nullable=False),
        pa.field("item", pa.int64(), nullable=False),
        pa.field("dimension", pa.string()),
        pa.field("catch", pa.bool_(), nullable=False),
        pa.field("repeat", pa.int64(), nullable=False),
        pa.field("sample_index", pa.int64(), nullable=False),
        pa.field("rating", pa.int64()),
        *[pa.field(c, pa.float64()) for c in P_COLUMNS],
        pa.field("parser", pa.string(), nullable=False),
        pa.field("reason", pa.string()),
        pa.field("letter_mass", pa.float64()),
        pa.field("text", pa.string()),
        # rating shown at each letter A..F (position analyses map ratings back to letters)
        pa.field("letter_ratings", pa.list_(pa.int8()), nullable=False),
    ]
)

JUDGE_INSTRUCTION = (
    "Below is a multiple-choice question and somebody's answer to it. Which option did "
    "the answer choose? Reply with the option's letter (A-F) only, or with N if the "
    "answer chose no option or more than one."
)


def _to_original_scale(letter_probs: Sequence[float], letter_ratings: Sequence[int]) -> list[float]:
    """p over ratings 1..6 from p over letters A..F shown in ``letter_ratings`` order."""
    out = [0.0] * N_OPTIONS
    for p, rating in zip(letter_probs, letter_ratings, strict=True):
        out[int(rating) - 1] = float(p)
    return out


def _one_hot(rating: int) -> list[float]:
    return [1.0 if k == rating else 0.0 for k in range(1, N_OPTIONS + 1)]


def _modes_where(frame: pd.DataFrame, test: Callable[[AnswerMode], bool]) -> pd.Series:
    """True on the rows whose ``mode`` (its :class:`AnswerMode`) passes ``test``."""
    verdict = {name: test(answer_mode(name)) for name in frame["mode"].unique()}
    return frame["mode"].map(verdict).astype(bool)


def _joined(responses: pd.DataFrame, prompts: pd.DataFrame) -> pd.DataFrame:
    cols = [
        "prompt_id",
        "condition",
        "persona_id",
        "seed",
        "questionnaire",
        "item",
        "dimension",
        "catch",
        "repeat",
        "option_labels",
        "letter_ratings",
        "messages",
        "completion_text",
    ]
    prompts = prompts if "variant" in prompts else prompts.assign(variant="original")
    return responses.merge(
        prompts[[*cols, "variant"]], on="prompt_id", how="inner", validate="many_to_one"
    )


def collapse_logprobs_repeats(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per logprobs request: repeats of a prompt share one deterministic answer.

    In ``logprobs`` mode every repeat of a (persona, item) gets the same request
    key (:func:`value_inertia.evaluation.runner.plan_requests`), so copies would only
    pretend to be draws; the first repeat's row is kept.
    """
    if "request_key" not in frame or frame.empty:
        return frame
    order = frame.sort_values("repeat", kind="stable")
    same = ["request_key", "variant", "condition", "persona_id", "questionnaire", "item"]
    dup = _modes_where(order, lambda m: m.repeats_share_request) & order.duplicated(same)
    return order[~dup].sort_index()


def parse_responses(
    responses: pd.DataFrame, prompts: pd.DataFrame, min_letter_mass: float = 0.0
) -> pd.DataFrame:
    """Rule-based parsed table (no judge).

    In ``logprobs`` mode a response whose six letters carried less than
    ``min_letter_mass`` of the next-token probability is unparsed with reason
    ``low_letter_mass``: the model was not answering the question there.
    """
    frame = collapse_logprobs_repeats(_joined(responses, prompts))
    rows: list[dict[str, Any]] = []
    for r in frame.itertuples(index=False):
        base = {
            "prompt_id": r.prompt_id,
            "variant": r.variant,
            "model": r.model,
            "mode": r.mode,
            "condition": r.condition,
            "persona_id": r.persona_id,
            "seed": None if pd.isna(r.seed) else int(r.seed),
            "questionnaire": r.questionnaire,
            "item": int(r.item),
            "dimension": r.dimension,
            "catch": bool(r.catch),
            "repeat": int(r.repeat),
            "sample_index": int(r.sample_index),
            "letter_mass": None if pd.isna(r.letter_mass) else float(r.letter_mass),
            "text": r.text if isinstance(r.text, str) else None,
            "letter_ratings": [int(x) for x in r.letter_ratings],
        }
        probs: list[float] = [math.nan] * N_OPTIONS
        rating, parser, reason = None, "rules", None
        if r.status != "ok":
            parser, reason = "none", f"request_{r.status}"
        elif answer_mode(r.mode).letter_logprobs:
            parser = "logprobs"
            letter_p = [getattr(r, f"p_{c}") for c in OPTION_LETTERS]
            mass = r.letter_mass
            if any(pd.isna(x) for x in letter_p):
                reason = "no_letter_mass"
            elif min_letter_mass > 0 and (pd.isna(mass) or mass < min_letter_mass):
                reason = "low_letter_mass"
            else:
                probs = _to_original_scale(letter_p, r.letter_ratings)
                rating = int(np.argmax(probs)) + 1
        else:
            parsed = parse_answer(r.text, list(r.option_labels))
            if parsed.letter is None:
                reason = parsed.reason
            else:
                rating = int(r.letter_ratings[OPTION_LETTERS.index(parsed.letter)])
                probs = _one_hot(rating)
        rows.append(
            {
                **base,
                "rating": rating,
                **dict(zip(P_COLUMNS, probs, strict=True)),
                "parser": parser,
                "reason": reason,
            }
        )
    return pd.DataFrame(rows, columns=PARSED_SCHEMA.names)


def judge_prompt(question: str, answer: str) -> str:
    return f"{JUDGE_INSTRUCTION}\n\n{question}\n\nAnswer given: {answer}\n\nOption:"


def _question_of(row: Any) -> str:
    user = [m for m in row.messages if m["role"] == "user"]
    return user[-1]["content"] if user else row.completion_text


def judge_requests(parsed: pd.DataFrame, prompts: pd.DataFrame, index) -> pd.DataFrame:
    """The judge's prompts, one per answer in ``index``, shaped like the prompts table.

    The evaluation module plans, skips, sends and stores them like any prompt;
    the store key of a judge request is the one it always had (the judge's
    identity, its one user message or completion text, draw 0).
    """
    by_prompt = prompts.set_index("prompt_id")
    rows = []
    for idx in index:
        row = by_prompt.loc[parsed.at[idx, "prompt_id"]]
        text = judge_prompt(_question_of(row), str(parsed.at[idx, "text"]))
        rows.append(
            {
                "prompt_id": f"judge-{idx}",
                "messages": [{"role": "user", "content": text}],
                "completion_text": text,
                "prefix_chars": len(JUDGE_INSTRUCTION) + 2,  # shared by every judge prompt
                "repeat": 0,
            }
        )
    return pd.DataFrame(
        rows, columns=["prompt_id", "messages", "completion_text", "prefix_chars", "repeat"]
    )


def apply_judge(
    parsed: pd.DataFrame,
    prompts: pd.DataFrame,
    judge: ModelParams,
    store: ResponseStore,
    backend_factory: Callable[[], Backend],
    scope: str,
) -> tuple[pd.DataFrame, int]:
    """Let ``judge`` decide sample-mode rows (unparsed ones, or ``scope == "all"``).

    The judge's requests run through :func:`value_inertia.evaluation.runner.run_evaluation`
    (plan, skip what the judge's store holds, send the rest, store each answer)
    and are read back with :func:`~value_inertia.evaluation.runner.materialise_responses`.
    Returns the updated table and how many requests were sent (cached ones are not).
    """
    wanted = _modes_where(parsed, lambda m: m.reads_text) & parsed["text"].notna()
    if scope == "unparsed":
        wanted &= parsed["rating"].isna()
    if not wanted.any():
        return parsed, 0
    index = list(parsed.index[wanted])
    requests = judge_requests(parsed, prompts, index)
    plan = plan_requests(judge, requests)
    summary = run_evaluation(judge, requests, store, backend_factory, progress=False, plan=plan)
    answers, _ = materialise_responses(judge, requests, store, plan)
    verdict_of = {
        r["prompt_id"]: _judge_letter(r, judge.answer_mode)
        for r in answers.to_pylist()
        if r["sample_index"] == 0
    }
    by_prompt = prompts.set_index("prompt_id")
    parsed = parsed.copy()
    for idx in index:
        letter = verdict_of.get(f"judge-{idx}")
        row = by_prompt.loc[parsed.at[idx, "prompt_id"]]
        parsed.at[idx, "parser"] = "judge"
        if letter is None:
            if scope == "all":
                parsed.loc[idx, P_COLUMNS] = math.nan
                parsed.at[idx, "rating"] = None
                parsed.at[idx, "reason"] = "judge_no_option"
            continue
        rating = int(row.letter_ratings[OPTION_LETTERS.index(letter)])
        parsed.loc[idx, P_COLUMNS] = _one_hot(rating)
        parsed.at[idx, "rating"] = rating
        parsed.at[idx, "reason"] = None
    return parsed, summary.sent


def _judge_letter(answer: dict[str, Any], mode: AnswerMode) -> str | None:
    """The letter the judge named: its most probable letter (logprobs mode, when the
    letters carry at least half the mass) or a reply that starts with a letter."""
    if answer["status"] != "ok":
        return None
    if mode.letter_logprobs:
        probs = [answer[f"p_{c}"] for c in OPTION_LETTERS]
        if any(p is None or math.isnan(p) for p in probs) or (answer["letter_mass"] or 0.0) < 0.5:
            return None
        return OPTION_LETTERS[int(np.argmax(probs))]
    text = (answer["text"] or "").strip()
    return (
        text[0] if text[:1] in OPTION_LETTERS and text[1:2] in ("", ".", ")", " ", "\n") else None
    )


def to_table(parsed: pd.DataFrame) -> pa.Table:
    frame = parsed.copy()
    frame["rating"] = frame["rating"].astype("Int64")
    frame["seed"] = frame["seed"].astype("Int64")
    return pa.Table.from_pandas(frame, schema=PARSED_SCHEMA, preserve_index=False)
