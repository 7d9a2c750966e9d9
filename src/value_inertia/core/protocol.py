"""Protocol identity: a hash over everything that changes what is measured.

Two results are comparable (and ranked together on the leaderboard) only when
they share a ``protocol_hash``. The hash covers:

* the questionnaire file's bytes (sha256) and the persona schema file's bytes;
* the persona sample: ``n`` per seed and the seeds;
* the prompt template: every ``prompts`` setting except the lists of
  questionnaires and variants to run (preamble, preamble_text, forced_choice,
  shuffle_options, shuffle_seed, repeats, baseline_repeats, ...) and the
  prompt ``variant`` of this result;
* how answers are drawn: mode, and in ``sample`` mode temperature,
  max_tokens and samples (logprobs mode measures the raw next-token
  distribution, whatever the temperature);
* how answers are read: ``parse.min_letter_mass`` (the letter-mass gate),
  :data:`PARSER_VERSION` (the version of :mod:`value_inertia.scoring.parsing`) and,
  in ``sample`` mode with ``parse.judge`` set, the judge: its model identity
  (:meth:`~value_inertia.core.config.ModelParams.identity`, not its name) and
  ``parse.judge_scope``. The key is added only when a judge reads the answers,
  so results read by the rules alone keep the hash they always had.

Not the model's identity (name, weights, endpoint, and ``api``: chat vs
completions is how a chat or a base model receives the same prompt content):
different models under the same protocol are exactly what the leaderboard
compares.

``hash = sha256(canonical JSON of fields)[:16]``, canonical = sorted keys, no
whitespace, so the same settings give the same hash on every machine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from value_inertia.core import paths
from value_inertia.core.errors import InputError
from value_inertia.core.naming import DEFAULT_VARIANT

PROTOCOL_VERSION = 1  # bump when the set of hashed fields changes
# The answer parser's version (value_inertia.scoring.parsing): bump whenever a change there
# can turn the same text into a different rating. Kept here, below the parser, so that
# core imports nothing from the layers above it.
PARSER_VERSION = "2"
HASH_LENGTH = 16
# prompts settings that choose what to run rather than how one prompt looks
_NOT_PROTOCOL_PROMPTS = frozenset({"questionnaires", "variants"})


@dataclass(frozen=True)
class Protocol:
    """A measurement protocol: ``fields`` (readable, JSON-ready) and their ``hash``."""

    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def hash(self) -> str:
        return protocol_hash(self.fields)


def protocol_hash(fields: dict[str, Any]) -> str:
    """First 16 hex digits of sha256 over the canonical JSON of ``fields``."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def file_digest(path: Path, what: str) -> str:
    """``sha256:<hex>`` of the file's bytes; a missing file is an :class:`InputError`."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found (needed for the protocol hash)") from None
    return "sha256:" + hashlib.sha256(data).hexdigest()


def protocol_for(
    params: Any,
    model: Any,
    questionnaire_id: str,
    variant: str = DEFAULT_VARIANT,
    root: Path | None = None,
) -> Protocol:
    """The :class:`Protocol` of one result (model, questionnaire, variant) under ``params``.

    ``params`` is a :class:`value_inertia.core.config.Params`; ``model`` a
    :class:`~value_inertia.core.config.ModelParams` or a model name in ``params``.
    Files are read below ``root`` (default: the project root).
    """
    base = Path(root) if root is not None else paths.project_root()
    spec = params.model(model) if isinstance(model, str) else model
    prompts = {
        k: v
        for k, v in params.prompts.model_dump(mode="json").items()
        if k not in _NOT_PROTOCOL_PROMPTS
    }
    sample = spec.mode == "sample"
    fields: dict[str, Any] = {
        "protocol_version": PROTOCOL_VERSION,
        "questionnaire": {
            "id": questionnaire_id,
            "file": file_digest(
                paths.questionnaire_dir(base) / f"{questionnaire_id}.yaml", "questionnaire file"
            ),
        },
        "personas": {
            "schema": file_digest(base / params.personas.schema_path, "persona schema"),
            "n": int(params.personas.n),
            "seeds": [int(s) for s in params.personas.seeds],
        },
        "prompts": {**prompts, "variant": variant},
        # Not here: `api` (chat vs completions is how the same prompt content reaches a
        # chat or a base model, like the model's own chat template: part of the model's
        # identity, so base and chat models can be compared) and, in logprobs mode, the
        # temperature (the measured distribution is the raw next-token softmax whatever
        # the sampler's temperature says; see the README).
        "answers": {
            "mode": spec.mode,
            "temperature": float(spec.temperature) if sample else None,
            "max_tokens": int(spec.max_tokens) if sample else None,
            "samples": int(spec.samples) if sample else None,
        },
        "parse": {
            "min_letter_mass": params.parse.min_letter_mass,
            "parser_version": str(PARSER_VERSION),
        },
    }
    if sample and params.parse.judge:
        # the judge decides ratings the rules could not (or, scope "all", every rating)
        fields["parse"]["judge"] = {
            "model": params.model(params.parse.judge).identity(),
            "scope": params.parse.judge_scope,
        }
    return Protocol(fields)
