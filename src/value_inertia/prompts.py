"""Prompt rendering: one row per (condition, persona, questionnaire, item, repeat).

Each prompt exists twice in one row: as chat messages (system = role-play
preamble + persona, user = question) for chat models, and as completion-style
text ending in ``Answer:`` for base models. Options are lettered A-F; with
``shuffle_options`` the letters are permuted per prompt and ``letter_ratings``
records which rating (1-6, original scale) each letter A..F stands for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from value_inertia.config import PromptsParams
from value_inertia.questionnaires import N_OPTIONS, OPTION_LETTERS, Item, Questionnaire

FORCED_CHOICE = "Your response should always point to a specific letter option."

PROMPT_SCHEMA = pa.schema(
    [
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("condition", pa.string(), nullable=False),
        pa.field("persona_id", pa.string()),
        pa.field("seed", pa.int64()),
        pa.field("questionnaire", pa.string(), nullable=False),
        pa.field("item", pa.int64(), nullable=False),
        pa.field("block", pa.string(), nullable=False),
        pa.field("dimension", pa.string()),
        pa.field("catch", pa.bool_(), nullable=False),
        pa.field("repeat", pa.int64(), nullable=False),
        pa.field(
            "messages",
            pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
            nullable=False,
        ),
        pa.field("completion_text", pa.string(), nullable=False),
        pa.field("option_labels", pa.list_(pa.string()), nullable=False),
        pa.field("letter_ratings", pa.list_(pa.int8()), nullable=False),
        pa.field("prefix_chars", pa.int64(), nullable=False),
    ]
)


def stable_hash(*parts: object, length: int = 16) -> str:
    payload = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Persona:
    persona_id: str
    seed: int
    description: str


def letter_ratings_for(params: PromptsParams, identity: tuple[object, ...]) -> list[int]:
    """Rating (1-6) shown at each letter A..F: identity order unless shuffling."""
    ratings = list(range(1, N_OPTIONS + 1))
    if not params.shuffle_options:
        return ratings
    digest = hashlib.sha256(json.dumps([params.shuffle_seed, *identity]).encode()).digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(digest[:8], "little")))
    return [int(x) for x in rng.permutation(ratings)]


def question_text(
    q: Questionnaire, item: Item, letter_ratings: list[int], forced_choice: bool
) -> str:
    labels = q.options_for(item)
    lines = [f"Question: {q.blocks[item.block].stem}", f'"{item.text}"', "Options:"]
    for letter, rating in zip(OPTION_LETTERS, letter_ratings, strict=True):
        lines.append(f"{letter}. {labels[rating - 1]}")
    if forced_choice:
        lines.append(FORCED_CHOICE)
    return "\n".join(lines)


def render(
    params: PromptsParams,
    q: Questionnaire,
    item: Item,
    persona: Persona | None,
    letter_ratings: list[int],
) -> tuple[list[dict[str, str]], str, int]:
    """Chat messages, completion-style text, and the length of the text's shared prefix.

    The shared prefix (persona context and the block's question stem) is the
    same for every item of a block for one persona; the embedded backend keeps
    its KV cache between such prompts.
    """
    question = question_text(q, item, letter_ratings, params.forced_choice)
    context_parts = []
    if persona is not None:
        if params.preamble:
            context_parts.append(params.preamble_text.strip())
        context_parts.append(persona.description)
    context = "\n\n".join(context_parts)
    messages = []
    if context:
        messages.append({"role": "system", "content": context})
    messages.append({"role": "user", "content": question})
    head = f"{context}\n\n" if context else ""
    completion = head + question + "\nAnswer:"
    prefix_chars = len(head) + len(question.split("\n", 1)[0]) + 1
    return messages, completion, prefix_chars


def _rows_for(
    params: PromptsParams, q: Questionnaire, persona: Persona | None, repeats: int
) -> Iterator[dict[str, object]]:
    condition = "persona" if persona is not None else "baseline"
    pid = persona.persona_id if persona is not None else None
    for item in q.items:
        for repeat in range(repeats):
            identity = (condition, pid, q.id, item.number, repeat)
            ratings = letter_ratings_for(params, identity)
            messages, completion, prefix_chars = render(params, q, item, persona, ratings)
            yield {
                "prompt_id": stable_hash(*identity, completion),
                "condition": condition,
                "persona_id": pid,
                "seed": persona.seed if persona is not None else None,
                "questionnaire": q.id,
                "item": item.number,
                "block": item.block,
                "dimension": q.item_dimension[item.number],
                "catch": item.catch,
                "repeat": repeat,
                "messages": messages,
                "completion_text": completion,
                "option_labels": [q.options_for(item)[r - 1] for r in ratings],
                "letter_ratings": ratings,
                "prefix_chars": prefix_chars,
            }


def build_prompts(
    params: PromptsParams, questionnaires: dict[str, Questionnaire], personas: pd.DataFrame
) -> pa.Table:
    """All prompts, grouped by persona so that a shared prefix stays together."""
    people = [
        Persona(str(r.persona_id), int(r.seed), str(r.description))
        for r in personas.itertuples(index=False)
    ]
    rows: list[dict[str, object]] = []
    for qid in params.questionnaires:
        rows.extend(_rows_for(params, questionnaires[qid], None, params.baseline_repeats))
    for persona in people:
        for qid in params.questionnaires:
            rows.extend(_rows_for(params, questionnaires[qid], persona, params.repeats))
    return pa.Table.from_pylist(rows, schema=PROMPT_SCHEMA)
