"""One OpenAI-compatible request as a JSON body, and its reply as a :class:`Result`.

Shared by the online client (:mod:`value_inertia.evaluation.backends.openai_backend`)
and the batch transport (:mod:`value_inertia.evaluation.batch`): the same body is
posted or written to a batch file, the same reader turns a reply into a result.
Sample-mode bodies carry :data:`~value_inertia.core.protocol.OPENAI_SAMPLER`
(``top_p: 1``: no nucleus truncation).
"""

from __future__ import annotations

from typing import Any

from value_inertia.core.config import ModelParams
from value_inertia.core.protocol import OPENAI_SAMPLER
from value_inertia.evaluation.backends.base import Result, distribution_from_logprobs


class MalformedReply(Exception):
    """A 200 reply that cannot be used: empty, not JSON, or missing its choices."""


# -- one request, as a body and a reply (shared with the batch transport) --------------
def request_body(
    model: ModelParams, payload: dict[str, Any], n: int = 1
) -> tuple[str, dict[str, Any]]:
    """The endpoint path and the JSON body of one request (what the client posts)."""
    body: dict[str, Any] = {"model": model.model, "temperature": model.temperature}
    if model.api == "chat":
        endpoint = "/v1/chat/completions"
        body["messages"] = payload["messages"]
    else:
        endpoint = "/v1/completions"
        body["prompt"] = payload["prompt"]
    mode = model.answer_mode
    body["max_tokens"] = mode.request_max_tokens(model.max_tokens)
    if mode.letter_logprobs:
        if model.api == "chat":
            body["logprobs"] = True
            body["top_logprobs"] = model.top_logprobs
        else:
            body["logprobs"] = model.top_logprobs
    else:
        body.update(OPENAI_SAMPLER)  # top_p 1: no nucleus truncation (README: Sampling)
        if n > 1:
            body["n"] = n
    return endpoint, body


def parse_reply(model: ModelParams, key: str, resp: Any) -> Result:
    """A reply (an ``openai`` Completion or ChatCompletion) as a :class:`Result`.

    Raises :class:`MalformedReply` when the reply cannot be used.
    """
    choice = _first_choice(resp)
    usage = getattr(resp, "usage", None)
    tokens: dict[str, Any] = {
        "tokens_in": usage.prompt_tokens if usage else None,
        "tokens_out": usage.completion_tokens if usage else None,
    }
    if model.answer_mode.letter_logprobs:
        if model.api == "chat":
            content = getattr(choice.logprobs, "content", None) if choice.logprobs else None
            if not content:
                raise MalformedReply("reply has no logprobs (does the server support them?)")
            top = {t.token: t.logprob for t in (content[0].top_logprobs or [])}
            if not top:
                top = {content[0].token: content[0].logprob}
            text = choice.message.content if choice.message else None
        else:
            lp = choice.logprobs
            if lp is None or not lp.top_logprobs:
                raise MalformedReply("reply has no logprobs (does the server support them?)")
            top = dict(lp.top_logprobs[0] or {})
            text = choice.text
        probs, mass = distribution_from_logprobs(top)
        return Result(
            key=key,
            status="ok",
            text=text,
            probs=probs,
            letter_mass=mass,
            finish_reason=choice.finish_reason,
            **tokens,
        )
    if model.api == "chat":
        texts = [(c.message.content if c.message else None) or "" for c in resp.choices]
    else:
        texts = [c.text or "" for c in resp.choices]
    return Result(
        key=key,
        status="ok",
        text=texts[0],
        finish_reason=choice.finish_reason,
        extra={"texts": texts},
        **tokens,
    )


def parse_reply_body(model: ModelParams, key: str, body: dict[str, Any]) -> Result:
    """A reply given as JSON (a batch output line's ``response.body``)."""
    from openai.types import Completion
    from openai.types.chat import ChatCompletion

    kind = ChatCompletion if model.api == "chat" else Completion
    try:
        resp = kind.model_validate(body)
    except Exception as exc:  # any shape problem is a malformed reply
        raise MalformedReply(f"reply body is not a {kind.__name__}: {exc}") from None
    result = parse_reply(model, key, resp)
    result.extra.pop("texts", None)
    return result


def _first_choice(resp: Any) -> Any:
    choices = getattr(resp, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise MalformedReply("reply has no choices")
    return choices[0]
