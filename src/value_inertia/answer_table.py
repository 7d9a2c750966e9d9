"""The parsed-answers table: every response mapped to the original 1-6 scale.

- ``logprobs`` mode: nothing is parsed; the six letter probabilities, permuted
  back through ``letter_ratings``, are the rating distribution ``p_1 .. p_6``;
  ``rating`` is the most probable one. No letter mass -> unparsed.
- ``sample`` mode: :func:`value_inertia.parsing.parse_answer` reads the free
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

from value_inertia.backends.base import Backend, Request, Result
from value_inertia.config import ModelParams
from value_inertia.parsing import parse_answer
from value_inertia.questionnaires import N_OPTIONS, OPTION_LETTERS
from value_inertia.store import ResponseStore, request_key

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
    key (:func:`value_inertia.evaluation.plan_requests`), so copies would only
    pretend to be draws; the first repeat's row is kept.
    """
    if "request_key" not in frame or frame.empty:
        return frame
    order = frame.sort_values("repeat", kind="stable")
    same = ["request_key", "variant", "condition", "persona_id", "questionnaire", "item"]
    dup = (order["mode"] == "logprobs") & order.duplicated(same)
    return order[~dup].sort_index()


def parse_responses(responses: pd.DataFrame, prompts: pd.DataFrame) -> pd.DataFrame:
    """Rule-based parsed table (no judge)."""
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
        elif r.mode == "logprobs":
            parser = "logprobs"
            letter_p = [getattr(r, f"p_{c}") for c in OPTION_LETTERS]
            if any(pd.isna(x) for x in letter_p):
                reason = "no_letter_mass"
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


def apply_judge(
    parsed: pd.DataFrame,
    prompts: pd.DataFrame,
    judge: ModelParams,
    store: ResponseStore,
    backend_factory: Callable[[], Backend],
    scope: str,
) -> tuple[pd.DataFrame, int]:
    """Let ``judge`` decide sample-mode rows (unparsed ones, or ``scope == "all"``).

    Returns the updated table and how many requests were sent (cached ones are not).
    """
    wanted = (parsed["mode"] == "sample") & parsed["text"].notna()
    if scope == "unparsed":
        wanted &= parsed["rating"].isna()
    if not wanted.any():
        return parsed, 0
    by_prompt = prompts.set_index("prompt_id")
    identity = judge.identity()
    keys: dict[int, str] = {}
    requests: dict[str, Request] = {}
    for idx in parsed.index[wanted]:
        row = by_prompt.loc[parsed.at[idx, "prompt_id"]]
        text = judge_prompt(_question_of(row), str(parsed.at[idx, "text"]))
        payload: dict[str, Any] = (
            {"messages": [{"role": "user", "content": text}]}
            if judge.api == "chat"
            else {"prompt": text}
        )
        key = request_key(identity, payload, 0)
        keys[idx] = key
        requests.setdefault(key, Request(key=key, payload=payload))
    done = store.done_keys(requests)
    pending = [r for k, r in requests.items() if k not in done]
    if pending:
        backend = backend_factory()

        def on_result(result: Result) -> None:
            store.put(result.key, result.status, result.record())

        try:
            backend.run(pending, on_result)
        finally:
            backend.close()
    verdicts = store.get_many(set(keys.values()))
    parsed = parsed.copy()
    for idx, key in keys.items():
        status, record = verdicts.get(key, ("missing", {}))
        letter = _judge_letter(status, record, judge.mode)
        row = by_prompt.loc[parsed.at[idx, "prompt_id"]]
        if letter is None:
            if scope == "all":
                parsed.loc[idx, P_COLUMNS] = math.nan
                parsed.at[idx, "rating"] = None
                parsed.at[idx, "reason"] = "judge_no_option"
            parsed.at[idx, "parser"] = "judge"
            continue
        rating = int(row.letter_ratings[OPTION_LETTERS.index(letter)])
        parsed.loc[idx, P_COLUMNS] = _one_hot(rating)
        parsed.at[idx, "rating"] = rating
        parsed.at[idx, "reason"] = None
        parsed.at[idx, "parser"] = "judge"
    return parsed, len(pending)


def _judge_letter(status: str, record: dict[str, Any], mode: str) -> str | None:
    if status != "ok":
        return None
    if mode == "logprobs":
        probs = record.get("probs")
        if not probs or (record.get("letter_mass") or 0.0) < 0.5:
            return None
        return OPTION_LETTERS[int(np.argmax(probs))]
    text = (record.get("text") or "").strip()
    return (
        text[0] if text[:1] in OPTION_LETTERS and text[1:2] in ("", ".", ")", " ", "\n") else None
    )


def to_table(parsed: pd.DataFrame) -> pa.Table:
    frame = parsed.copy()
    frame["rating"] = frame["rating"].astype("Int64")
    frame["seed"] = frame["seed"].astype("Int64")
    return pa.Table.from_pandas(frame, schema=PARSED_SCHEMA, preserve_index=False)
