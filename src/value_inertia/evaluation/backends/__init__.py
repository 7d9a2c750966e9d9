"""Model backends: one interface (:mod:`.base`), an in-process and an HTTP implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from value_inertia.core.config import ModelParams, Params
    from value_inertia.evaluation.backends.base import Backend


def make_backend(model: ModelParams, params: Params) -> Backend:
    """The backend that answers ``model``'s requests (imported lazily: llama.cpp or openai)."""
    if model.backend == "embedded":
        # lazy: only the backend in use loads its client library (openai, httpx: ~0.5 s)
        from value_inertia.evaluation.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(
            model, n_ctx=params.evaluate.n_ctx, n_threads=params.evaluate.n_threads
        )
    # lazy: only the backend in use loads its client library (openai, httpx: ~0.5 s)
    from value_inertia.evaluation.backends.openai_backend import OpenAIBackend

    return OpenAIBackend(model)
