"""Protocol identity: a hash over everything that changes what is measured.

Two results are comparable (and ranked together on the leaderboard) only when
they share a ``protocol_hash``. The hash covers:

* the questionnaire file's bytes (sha256) and the persona schema file's bytes;
* the persona sample: ``n`` per seed and the seeds;
* the prompt template: every ``prompts`` setting except the lists of
  questionnaires and variants to run (preamble, preamble_text, forced_choice,
  shuffle_options, shuffle_seed, repeats, baseline_repeats, ...) and the
  prompt ``variant`` of this result. In ``logprobs`` mode ``repeats`` and
  ``baseline_repeats`` are left out when the prompt does not change with the
  repeat (no option shuffling in this variant): the repeats of one prompt
  collapse to one deterministic request, so they measure nothing more;
* how answers are drawn: mode, and in ``sample`` mode temperature,
  max_tokens, samples and the sampler settings the backend sends
  (:meth:`AnswerMode.sampler`: no top-k,
  top-p or min-p truncation, no penalties); logprobs mode measures the raw
  next-token distribution, whatever the temperature;
* how uncertainty is reported: the CI level (``analyze.confidence``) and the
  bootstrap count (``analyze.bootstrap``), which every published interval
  depends on;
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
from value_inertia.core.naming import DEFAULT_VARIANT, variant_params

PROTOCOL_VERSION = 2  # bump when the set of hashed fields changes (2: sampler, CI, repeats)
# The answer parser's version (value_inertia.scoring.parsing): bump whenever a change there
# can turn the same text into a different rating. Kept here, below the parser, so that
# core imports nothing from the layers above it.
PARSER_VERSION = "3"
HASH_LENGTH = 16

# Sample mode draws from the model's own next-token distribution: every truncation
# (top-k, top-p, min-p, typical-p) and every penalty is off, whatever the engine's
# defaults (llama-cpp-python's create_completion: top_k 40, top_p 0.95, min_p 0.05).
# The settings are part of the store key (ModelParams.identity) and of the protocol
# hash (core.protocol), so answers drawn under other settings are never mixed in.
EMBEDDED_SAMPLER: dict[str, float | int] = {
    "top_k": 0,  # llama.cpp: k <= 0 keeps the whole vocabulary
    "top_p": 1.0,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_penalty": 1.0,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
}
# What an OpenAI-compatible request carries: the fields the OpenAI API itself accepts.
# top_k / min_p / repetition penalties are server settings there (see the README's
# "Sampling" section for vLLM, llama.cpp's server and Ollama).
OPENAI_SAMPLER: dict[str, float | int] = {"top_p": 1.0}


@dataclass(frozen=True)
class AnswerMode:
    """How one answer mode draws and reads answers: :data:`LOGPROBS` or :data:`SAMPLE`.

    A model's ``mode`` (params: ``logprobs`` | ``sample``) names one of the two
    instances (:func:`answer_mode`, ``ModelParams.answer_mode``); every place that
    behaves differently by mode asks it instead of comparing the name:

    * ``logprobs``: one request asks for the next-token probabilities of the option
      letters (one output token); the distribution is deterministic, so the repeats
      of a prompt share one request and ``samples`` does not count; the letters'
      share of the next-token mass (letter mass) is part of every answer.
    * ``sample``: a request asks for free text (``max_tokens``), drawn ``samples``
      times per repeat with the sampler settings of :meth:`sampler` (no truncation);
      the text is parsed afterwards (rules, optionally a judge), and time and output
      tokens depend on how much the model writes.
    """

    #: the params value and the ``mode`` column of the response and parsed tables
    name: str
    #: a request asks for the letters' next-token logprobs (else: free text)
    letter_logprobs: bool
    #: settings the mode defaults to when params leave them out (before the field defaults)
    defaults: tuple[tuple[str, float | int], ...] = ()

    @property
    def reads_text(self) -> bool:
        """Answers are free text, parsed by the rules (and a judge, when one is set)."""
        return not self.letter_logprobs

    @property
    def has_letter_mass(self) -> bool:
        """Each answer carries its letter mass (the quality report's and the metrics' check)."""
        return self.letter_logprobs

    @property
    def repeats_share_request(self) -> bool:
        """The repeats of one prompt are one deterministic request (one answer)."""
        return self.letter_logprobs

    @property
    def fixed_tokens_out(self) -> int | None:
        """Output tokens of every request when the mode fixes them (1: one letter),
        None when they depend on what the model writes (time and cost then too)."""
        return 1 if self.letter_logprobs else None

    def tokens_out_prior(self, max_tokens: int) -> float:
        """Output tokens per request before any measurement: the fixed count, else
        ``max_tokens`` (a bound)."""
        fixed = self.fixed_tokens_out
        return float(max_tokens if fixed is None else fixed)

    def request_max_tokens(self, max_tokens: int) -> int:
        """``max_tokens`` a request asks for: 1 (the letter) or the model's ``max_tokens``."""
        return 1 if self.letter_logprobs else max_tokens

    def request_top_logprobs(self, top_logprobs: int) -> int | None:
        """How many top logprobs a request asks for (None: none, free text)."""
        return top_logprobs if self.letter_logprobs else None

    def draws_per_prompt(self, samples: int) -> int:
        """Requests per prompt row: ``samples`` draws, or 1 (the distribution itself)."""
        return 1 if self.letter_logprobs else samples

    def draw_index(self, repeat: int, samples: int, sample: int) -> int:
        """The draw number in a request's store key: every repeat and sample is its own
        draw (repeat 0 keeps the old keys); logprobs repeats collapse to ``sample``."""
        return sample if self.repeats_share_request else repeat * samples + sample

    def repeats_in_protocol(self, prompt_varies_with_repeat: bool) -> bool:
        """Whether ``repeats`` / ``baseline_repeats`` change what is measured: always
        for drawn answers; for logprobs only when the prompt changes with the repeat
        (option shuffling)."""
        return not self.repeats_share_request or prompt_varies_with_repeat

    def sampler(self, backend: str) -> dict[str, float | int] | None:
        """The sampler settings a request is sent with (None in logprobs mode)."""
        if self.letter_logprobs:
            return None
        return dict(EMBEDDED_SAMPLER if backend == "embedded" else OPENAI_SAMPLER)

    def protocol_answers(self, spec: Any) -> dict[str, Any]:
        """The protocol's ``answers`` fields for the model ``spec`` (a ``ModelParams``):
        the sampler's settings count for drawn answers only."""
        drawn = not self.letter_logprobs
        return {
            "mode": self.name,
            "temperature": float(spec.temperature) if drawn else None,
            "max_tokens": int(spec.max_tokens) if drawn else None,
            "samples": int(spec.samples) if drawn else None,
            "sampler": self.sampler(spec.backend),
        }


LOGPROBS = AnswerMode("logprobs", letter_logprobs=True)
# sample mode asks for the model's own answer distribution (temperature 1.0), and chat
# models often explain before they answer (max_tokens 256); see the README
SAMPLE = AnswerMode(
    "sample", letter_logprobs=False, defaults=(("temperature", 1.0), ("max_tokens", 256))
)
ANSWER_MODES: dict[str, AnswerMode] = {m.name: m for m in (LOGPROBS, SAMPLE)}


def answer_mode(name: str) -> AnswerMode:
    """The :class:`AnswerMode` called ``name`` (a params value or a ``mode`` column entry)."""
    try:
        return ANSWER_MODES[name]
    except KeyError:
        raise ValueError(
            f"unknown answer mode {name!r}; allowed: {', '.join(ANSWER_MODES)}"
        ) from None


# prompts settings that choose what to run rather than how one prompt looks
_NOT_PROTOCOL_PROMPTS = frozenset({"questionnaires", "variants"})
_REPEAT_PROMPTS = frozenset({"repeats", "baseline_repeats"})


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
    mode = answer_mode(spec.mode)
    if not mode.repeats_in_protocol(variant_params(params.prompts, variant).shuffle_options):
        # logprobs: every repeat of a prompt is the same request (one answer)
        prompts = {k: v for k, v in prompts.items() if k not in _REPEAT_PROMPTS}
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
        "answers": mode.protocol_answers(spec),
        "intervals": {
            "confidence": float(params.analyze.confidence),
            "bootstrap": int(params.analyze.bootstrap),
        },
        "parse": {
            "min_letter_mass": params.parse.min_letter_mass,
            "parser_version": str(PARSER_VERSION),
        },
    }
    if mode.reads_text and params.parse.judge:
        # the judge decides ratings the rules could not (or, scope "all", every rating)
        fields["parse"]["judge"] = {
            "model": params.model(params.parse.judge).identity(),
            "scope": params.parse.judge_scope,
        }
    return Protocol(fields)
