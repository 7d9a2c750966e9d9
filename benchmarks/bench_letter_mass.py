"""Letter mass of the default embedded models, and how much of " A" is not the letter.

For each default model (Gemma 3 270M with completion prompts, SmolLM2-135M-Instruct
through its chat template) and a few personas x both questionnaires (persona
prompts, original variant), in logprobs mode:

- the letter mass: the next-token probability the six option letters carry
  (its distribution, and the share of prompts below several gate thresholds);
- the " A" ambiguity (PVQ-RR: option C reads "A little like you", and "A" is
  also the article): a second forward pass over the prompt followed by the
  most probable A token gives the probability that a word follows it ("A
  little ...", "A person ..."), i.e. the share of the A mass that is not the
  letter A. Reported: the A share of the letter mass, P(word | A), P(" little" | A),
  and the letter mass with the word-continued part of A removed.

Usage: python benchmarks/bench_letter_mass.py [--personas 2] [--items 0] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from value_inertia.core.config import ModelParams, PromptsParams  # noqa: E402
from value_inertia.design.personas import build_personas, load_schema  # noqa: E402
from value_inertia.design.prompts import build_prompts  # noqa: E402
from value_inertia.design.questionnaires import load_questionnaires  # noqa: E402
from value_inertia.evaluation.backends.base import Request  # noqa: E402
from value_inertia.evaluation.backends.embedded import EmbeddedBackend  # noqa: E402

MODELS = [
    ModelParams(name="gemma3-270m", model="gemma3-270m-q4-k-m", api="completions"),
    ModelParams(name="smollm2-135m", model="smollm2-135m", api="chat"),
]
GATES = (0.05, 0.1, 0.2, 0.3, 0.5)


def word_mask(backend: EmbeddedBackend) -> tuple[np.ndarray, list[int]]:
    """Vocabulary mask of tokens that continue "A" as a word (" little", " person", "bout")."""
    llm = backend.llm
    n = llm.n_vocab()
    mask = np.zeros(n, dtype=bool)
    little = []
    for t in range(n):
        piece = llm.detokenize([t]).decode("utf-8", errors="ignore")
        if re.match(r"^ ?[A-Za-z]", piece):
            mask[t] = True
            if piece.strip().lower() == "little":
                little.append(t)
    return mask, little


def softmax(logits: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max())
    return p / p.sum()


def measure(model: ModelParams, prompts, threads: int) -> dict:
    backend = EmbeddedBackend(model, n_threads=threads)
    mask, little = word_mask(backend)
    a_ids = backend._letter_tokens[0]
    masses, a_share, p_word, p_little, corrected = [], [], [], [], []
    by_q: dict[str, list[float]] = {}
    start = time.perf_counter()
    for row in prompts.itertuples(index=False):
        payload = (
            {"messages": [dict(m) for m in row.messages]}
            if model.api == "chat"
            else {"prompt": row.completion_text}
        )
        request = Request(key="x", payload=payload, prefix_chars=int(row.prefix_chars))
        text = backend.prompt_text(request)
        chat = model.api == "chat"
        prefix = backend.chat_prefix_chars(request, text) if chat else request.prefix_chars
        tokens, prefix_len = backend.split_tokens(text, prefix, chat)
        probs = softmax(backend.last_logits(tokens, prefix_len))
        letter = np.array([probs[ids].sum() for ids in backend._letter_tokens])
        mass = float(letter.sum())
        masses.append(mass)
        by_q.setdefault(row.questionnaire, []).append(mass)
        if row.questionnaire != "pvqrr":
            continue
        a_tok = max(a_ids, key=lambda t: probs[t])
        # second pass: the prompt, then the A token; what comes next?
        after = softmax(backend.last_logits([*tokens, a_tok], len(tokens)))
        pw = float(after[mask].sum())
        a_mass = float(probs[a_ids].sum())
        a_share.append(a_mass / mass if mass > 0 else np.nan)
        p_word.append(pw)
        p_little.append(float(after[little].sum()) if little else 0.0)
        corrected.append(mass - a_mass * pw)
    elapsed = time.perf_counter() - start
    backend.close()
    m = np.array(masses)
    out = {
        "model": model.name,
        "api": model.api,
        "prompts": len(m),
        "seconds": round(elapsed, 1),
        "letter_mass": {
            "mean": round(float(m.mean()), 3),
            "p10": round(float(np.quantile(m, 0.1)), 3),
            "median": round(float(np.median(m)), 3),
            "p90": round(float(np.quantile(m, 0.9)), 3),
            "min": round(float(m.min()), 3),
            "max": round(float(m.max()), 3),
        },
        "mean_by_questionnaire": {q: round(float(np.mean(v)), 3) for q, v in by_q.items()},
        "share_below": {str(g): round(float((m < g).mean()), 3) for g in GATES},
    }
    if p_word:
        out["pvqrr_A"] = {
            "A_share_of_letter_mass": round(float(np.nanmean(a_share)), 3),
            "p_word_after_A": round(float(np.mean(p_word)), 3),
            "p_little_after_A": round(float(np.mean(p_little)), 3),
            "letter_mass_mean": round(float(np.mean(by_q["pvqrr"])), 3),
            "letter_mass_without_word_A": round(float(np.mean(corrected)), 3),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--personas", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--items", type=int, default=0, help="first N items per questionnaire")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    schema = load_schema(ROOT / "data/schemas/persona_attributes.yaml")
    personas = build_personas(schema, args.personas, [111]).to_pandas()
    qs = load_questionnaires(["mfq30", "pvqrr"], ROOT)
    prompts = build_prompts(PromptsParams(), qs, personas).to_pandas()
    prompts = prompts[prompts.condition == "persona"]
    if args.items:
        prompts = prompts.groupby(["persona_id", "questionnaire"], group_keys=False).head(
            args.items
        )
    results = [measure(m, prompts, args.threads) for m in MODELS]
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
