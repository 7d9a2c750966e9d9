"""Prompt rendering: one row per (variant, condition, persona, questionnaire, item, repeat).

Each prompt exists twice in one row: as chat messages (system = role-play
preamble + persona, user = question) for chat models, and as completion-style
text ending in ``Answer:`` for base models. Options are lettered A-F; with
``shuffle_options`` the letters are permuted per prompt and ``letter_ratings``
records which rating (1-6, original scale) each letter A..F stands for.

Prompt variants (``prompts.variants``, see
:data:`~value_inertia.core.naming.VARIANTS`) are built side by side in one table
with a ``variant`` column. The ``original`` variant is the prompt as configured;
its prompt ids and texts are those of a table built without variants, so answers
already stored stay valid. Every other variant changes one thing and has its own
prompt ids (the variant name is hashed in).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from value_inertia.core.config import PromptsParams
from value_inertia.core.naming import variant_params
from value_inertia.design.questionnaires import N_OPTIONS, OPTION_LETTERS, Item, Questionnaire

FORCED_CHOICE = "Your response should always point to a specific letter option."

PROMPT_SCHEMA = pa.schema(
    [
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("variant", pa.string(), nullable=False),
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


def letter_ratings_for(
    params: PromptsParams, identity: tuple[object, ...], variant: str = "original"
) -> list[int]:
    """Rating (1-6) shown at each letter A..F: scale order, reversed, or shuffled."""
    ratings = list(range(1, N_OPTIONS + 1))
    if variant == "reversed":
        return ratings[::-1]
    if not params.shuffle_options:
        return ratings
    digest = hashlib.sha256(json.dumps([params.shuffle_seed, *identity]).encode()).digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(digest[:8], "little")))
    return [int(x) for x in rng.permutation(ratings)]


def stem_for(params: PromptsParams, q: Questionnaire, item: Item) -> str:
    return params.stems.get(q.id, {}).get(item.block, q.blocks[item.block].stem)


def question_text(
    q: Questionnaire,
    item: Item,
    letter_ratings: list[int],
    forced_choice: bool,
    stem: str | None = None,
) -> str:
    labels = q.options_for(item)
    stem = stem if stem is not None else q.blocks[item.block].stem
    lines = [f"Question: {stem}", f'"{item.text}"', "Options:"]
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
    stem = stem_for(params, q, item)
    context_parts = []
    if persona is not None:
        if params.preamble:
            context_parts.append(params.preamble_text.strip())
        context_parts.append(persona.description)
        if params.closing_text:
            context_parts.append(params.closing_text.strip())
    context = "\n\n".join(context_parts)
    head = f"{context}\n\n" if context else ""
    if params.layout == "inline":
        return _render_inline(params, q, item, head, stem, letter_ratings)
    question = question_text(q, item, letter_ratings, params.forced_choice, stem)
    messages = []
    if context:
        messages.append({"role": "system", "content": context})
    messages.append({"role": "user", "content": question})
    completion = head + question + "\nAnswer:"
    prefix_chars = len(head) + len(question.split("\n", 1)[0]) + 1
    return messages, completion, prefix_chars


def _render_inline(
    params: PromptsParams,
    q: Questionnaire,
    item: Item,
    head: str,
    stem: str,
    letter_ratings: list[int],
) -> tuple[list[dict[str, str]], str, int]:
    """One user message: context, then "Question: <stem> '<item>' A. .. B. .. F. ..? Answer:"."""
    labels = q.options_for(item)
    options = " ".join(
        f"{letter}. {labels[r - 1]}"
        for letter, r in zip(OPTION_LETTERS, letter_ratings, strict=True)
    )
    lead = f"Question: {stem} \n"
    question = f"{lead}'{item.text}' {options}?"
    if params.forced_choice:
        question += f" {FORCED_CHOICE}"
    text = head + question + " Answer:"
    return [{"role": "user", "content": text}], text, len(head) + len(lead)


def _rows_for(
    params: PromptsParams,
    q: Questionnaire,
    persona: Persona | None,
    repeats: int,
    variant: str = "original",
) -> Iterator[dict[str, object]]:
    condition = "persona" if persona is not None else "baseline"
    pid = persona.persona_id if persona is not None else None
    for item in q.items:
        for repeat in range(repeats):
            identity = (condition, pid, q.id, item.number, repeat)
            ratings = letter_ratings_for(params, identity, variant)
            messages, completion, prefix_chars = render(params, q, item, persona, ratings)
            # the original variant keeps the ids it had before variants existed
            extra = () if variant == "original" else (variant,)
            yield {
                "prompt_id": stable_hash(*identity, completion, *extra),
                "variant": variant,
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
    for variant in params.variants:
        vp = variant_params(params, variant)
        for qid in params.questionnaires:
            q = questionnaires[qid]
            rows.extend(_rows_for(vp, q, None, params.baseline_repeats, variant))
        for persona in people:
            for qid in params.questionnaires:
                rows.extend(_rows_for(vp, questionnaires[qid], persona, params.repeats, variant))
    return pa.Table.from_pylist(rows, schema=PROMPT_SCHEMA)


def select_variants(prompts: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """The prompts of ``variants`` (a table without a variant column is all original)."""
    if "variant" not in prompts:
        return prompts if "original" in variants else prompts.iloc[0:0]
    return prompts[prompts["variant"].isin(variants)].reset_index(drop=True)
