"""One evaluation session: a model's checked response store and the backend that answers it.

The evaluate stage and the judge (the parse stage's LLM reader) ask a model the
same way; :func:`evaluation_session` is the one place that opens that:

1. the model's API key is read (a missing key stops here, before anything is sent);
2. the model's durable response store is opened (and locked);
3. the embedded model's weights are checked against the weights the store's answers
   were made with (:func:`~value_inertia.evaluation.backends.embedded.check_store_weights`:
   other weights never reuse stored answers);
4. the backend is made only when a request must be sent (:attr:`EvaluationSession.backend`
   is a factory): the OpenAI Batch API for ``transport: batch``, else the model's
   backend (embedded or openai).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from value_inertia.core import paths
from value_inertia.core.config import ModelParams, Params
from value_inertia.evaluation.backends import make_backend
from value_inertia.evaluation.backends.base import Backend
from value_inertia.evaluation.backends.embedded import check_store_weights
from value_inertia.evaluation.batch import BatchBackend, Poll
from value_inertia.evaluation.store import ResponseStore


@dataclass(frozen=True)
class EvaluationSession:
    """An open session: the model, its checked store, and a factory for its backend."""

    model: ModelParams
    store: ResponseStore
    backend: Callable[[], Backend]


def session_backend(
    params: Params, model: ModelParams, store: ResponseStore, *, online: bool = False
) -> Backend:
    """The backend that answers ``model``: the Batch API when its transport is ``batch``
    (and ``online`` is not asked for), else :func:`make_backend`."""
    if model.is_batch() and not online:
        poll = Poll(first_s=min(5.0, model.batch_poll_max_s), max_s=model.batch_poll_max_s)
        return BatchBackend(model, store, poll)
    return make_backend(model, params)


@contextmanager
def evaluation_session(
    params: Params, model: ModelParams, root: Path | None = None, *, online: bool = False
) -> Iterator[EvaluationSession]:
    """Open ``model``'s session below ``root`` (default: the project root); the store is
    closed when the block ends. ``online``: send requests one by one even when the
    model's transport is ``batch`` (the judge: the parse stage waits for its answers)."""
    params.api_key(model)  # a missing key stops here, before anything is sent
    with ResponseStore(paths.store_path(model.name, root)) as store:
        check_store_weights(store, model)  # other weights never reuse stored answers
        yield EvaluationSession(
            model, store, lambda: session_backend(params, model, store, online=online)
        )
