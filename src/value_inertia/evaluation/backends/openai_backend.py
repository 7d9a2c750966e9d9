"""Any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp's server, Ollama, TGI).

Async ``openai`` client with bounded concurrency, a client-side rate limit
(``aiolimiter``), and retries with exponential backoff and jitter
(``tenacity``) on 429, 5xx, timeouts, dropped connections and malformed
replies, honouring ``Retry-After``. ``timeout_s`` bounds each attempt as a
whole, so a reply that trickles in byte by byte is given up like a silent one.
A request that still fails is reported as failed with its error; it is never
dropped.

Fail fast: the first request goes alone, as a probe, before the others fan out.
While nothing has been answered, an error that retrying cannot fix (connection
refused, HTTP 401/403/404, model not found) stops the run at once; once answers
have come, a long streak of such errors (the server went away) stops it too.
Either way every result so far is reported and :class:`StopSending` says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Sequence
from typing import Any

import httpx
import openai
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_random_exponential

from value_inertia.core.config import ModelParams
from value_inertia.core.redaction import redact
from value_inertia.evaluation.backends.base import (
    Request,
    Result,
    ResultCallback,
    StopSending,
    error_kind,
    is_fatal,
    should_stop,
)
from value_inertia.evaluation.backends.openai_wire import MalformedReply, parse_reply, request_body

RETRY_AFTER_CAP_S = 120.0
CONNECTIONS_PER_POOL = 8


class ReplyTimeout(Exception):
    """No complete reply within ``timeout_s`` (httpx's timeouts bound each read, not the whole)."""


def _causes(exc: BaseException) -> list[BaseException]:
    chain = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 10:
        chain.append(chain[-1].__cause__)
    return chain


def _refused(exc: BaseException) -> bool:
    """Nothing listens at the address (or the name does not resolve)."""
    return isinstance(exc, openai.APIConnectionError) and any(
        isinstance(e, httpx.ConnectError) for e in _causes(exc)
    )


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 425, 429) or exc.status_code >= 500
    return isinstance(
        exc,
        openai.APITimeoutError
        | openai.APIConnectionError
        | MalformedReply
        | ReplyTimeout
        | openai.APIResponseValidationError
        | json.JSONDecodeError
        | httpx.TransportError,
    )


def _retry_after(exc: BaseException | None) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_CAP_S)
    except ValueError:
        return None


class _Wait:
    """Retry-After when the server sends it, else exponential backoff with full jitter."""

    def __init__(self) -> None:
        self._backoff = wait_random_exponential(multiplier=0.5, max=30)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = _retry_after(exc)
        return after if after is not None else self._backoff(state)


def _describe(exc: BaseException, secret_vars: tuple[str, ...] = ()) -> str:
    """The error as recorded: redacted (a server may echo the key back), then shortened."""
    if isinstance(exc, openai.APIStatusError):
        return redact(f"HTTP {exc.status_code}: {exc.message}", secret_vars)[:500]
    text = f"{type(exc).__name__}: {exc}"
    causes = _causes(exc)
    if len(causes) > 1:  # "Connection error." alone does not say that nothing listens
        cause = next((e for e in causes if isinstance(e, httpx.HTTPError)), causes[-1])
        text += f" ({type(cause).__name__}: {cause})"
    return redact(text, secret_vars)[:500]


class OpenAIBackend:
    def __init__(self, model: ModelParams) -> None:
        self.model = model
        self._api_key = model.api_key() or "no-key"
        self._secret_vars = (model.api_key_env,) if model.api_key_env else ()
        self._n_supported: bool | None = None
        self._answered = 0  # ok results so far
        self._fatal_streak = 0  # fatal errors in a row
        self._stop_reason: str | None = None

    def close(self) -> None:
        pass

    def run(self, requests: Sequence[Request], on_result: ResultCallback) -> None:
        asyncio.run(self._run_all(requests, on_result))
        if self._stop_reason is not None:
            raise StopSending(self._stop_reason)

    def _fatal_streak_limit(self) -> int:
        return max(8, 2 * self.model.concurrency)

    def _note(self, result: Result) -> None:
        """Track outcomes; decide whether to stop taking new requests."""
        if result.status == "ok":
            self._answered += 1
            self._fatal_streak = 0
            return
        if not is_fatal(result.error):
            self._fatal_streak = 0
            return
        self._fatal_streak += 1
        if self._stop_reason is not None:
            return
        kind = error_kind(result.error)
        where = f"{self.model.base_url} (model {self.model.model!r})"
        if self._answered == 0:
            self._stop_reason = (
                f"stopped early: {where} answered nothing and the first error is one that "
                f"retrying cannot fix ({kind})"
            )
        elif self._fatal_streak >= self._fatal_streak_limit():
            self._stop_reason = (
                f"stopped early: {self._fatal_streak} errors in a row that retrying cannot "
                f"fix from {where} ({kind})"
            )

    # -- scheduling ------------------------------------------------------
    async def _run_all(self, requests: Sequence[Request], on_result: ResultCallback) -> None:
        m = self.model
        # Several small connection pools instead of one large one: httpx checks every
        # connection of a pool on each request, which costs ~10 ms of CPU per request
        # at 64 connections and ~2 ms at 8 (benchmarks/bench_client_throughput.py).
        n_pools = math.ceil(m.concurrency / CONNECTIONS_PER_POOL)
        per_pool = math.ceil(m.concurrency / n_pools)
        limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
        async with contextlib.AsyncExitStack() as stack:
            clients = []
            for _ in range(n_pools):
                http = await stack.enter_async_context(
                    httpx.AsyncClient(limits=limits, timeout=m.timeout_s)
                )
                clients.append(
                    openai.AsyncOpenAI(
                        base_url=m.base_url,
                        api_key=self._api_key,
                        max_retries=0,
                        timeout=m.timeout_s,
                        # openai's annotation names httpx2's client; httpx's works the same
                        http_client=http,  # type: ignore[arg-type]
                    )
                )
            limiter = (
                AsyncLimiter(1, 60.0 / m.requests_per_minute) if m.requests_per_minute else None
            )
            queue: asyncio.Queue[list[Request]] = asyncio.Queue()
            units = self._units(requests)
            for unit in units[1:]:
                queue.put_nowait(unit)

            def report(results: list[Result]) -> None:
                for result in results:
                    self._note(result)
                    on_result(result)

            # the probe: one request alone, so a dead endpoint costs one request, not all
            if units and not should_stop(self):
                report(await self._send_unit(clients[0], limiter, units[0]))

            async def worker(client: openai.AsyncOpenAI) -> None:
                while self._stop_reason is None and not should_stop(self):
                    try:
                        unit = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    report(await self._send_unit(client, limiter, unit))

            await asyncio.gather(*(worker(clients[i % n_pools]) for i in range(m.concurrency)))

    def _units(self, requests: Sequence[Request]) -> list[list[Request]]:
        """Sample mode groups the samples of one payload into one request (``n``)."""
        if self.model.answer_mode.letter_logprobs:
            return [[r] for r in requests]
        groups: dict[str, list[Request]] = {}
        for r in requests:
            groups.setdefault(json.dumps(r.payload, sort_keys=True), []).append(r)
        return list(groups.values())

    async def _send_unit(
        self, client: openai.AsyncOpenAI, limiter: AsyncLimiter | None, unit: list[Request]
    ) -> list[Result]:
        if self.model.answer_mode.letter_logprobs:
            return [await self._with_retries(client, limiter, unit[0], self._logprobs_call)]
        results: list[Result] = []
        pending = list(unit)
        while pending:
            batch = pending if self._n_supported is not False else pending[:1]
            got = await self._with_retries(
                client, limiter, batch[0], self._sample_call, n=len(batch)
            )
            texts = got.extra.pop("texts", None)
            if got.status != "ok" or texts is None:
                for r in batch:
                    results.append(Result(**{**got.__dict__, "key": r.key}))
                pending = pending[len(batch) :]
                continue
            if len(batch) > 1:
                self._n_supported = len(texts) >= len(batch)
            for i, (r, text) in enumerate(zip(batch, texts, strict=False)):
                res = Result(**{**got.__dict__, "key": r.key, "text": text})
                if i > 0:  # usage belongs to the one request that carried all samples
                    res.tokens_in, res.extra = 0, {"shared_request": True}
                results.append(res)
            pending = pending[min(len(texts), len(batch)) :]
        return results

    async def _with_retries(
        self,
        client: openai.AsyncOpenAI,
        limiter: AsyncLimiter | None,
        request: Request,
        call: Any,
        **kw: Any,
    ) -> Result:
        attempts = 0
        start = time.perf_counter()
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.model.max_retries + 1),
                wait=_Wait(),
                retry=retry_if_exception(self._retryable),
                reraise=True,
            ):
                with attempt:
                    attempts += 1
                    if limiter is not None:
                        await limiter.acquire()
                    try:
                        async with asyncio.timeout(self.model.timeout_s):
                            result = await call(client, request, **kw)
                    except TimeoutError:
                        raise ReplyTimeout(
                            f"no complete reply within {self.model.timeout_s:g} s"
                        ) from None
        except Exception as exc:  # out of retries, or not retryable
            return Result(
                key=request.key,
                status="failed",
                attempts=attempts,
                latency_s=time.perf_counter() - start,
                error=_describe(exc, self._secret_vars),
            )
        result.attempts = attempts
        result.latency_s = time.perf_counter() - start
        return result

    def _retryable(self, exc: BaseException) -> bool:
        # a refused connection is retried only once the endpoint has answered
        # (a restart mid-run); before that, retrying only delays the verdict
        if _refused(exc) and self._answered == 0:
            return False
        return _retryable(exc)

    # -- the calls ---------------------------------------------------------
    async def _logprobs_call(self, client: openai.AsyncOpenAI, request: Request) -> Result:
        _, body = request_body(self.model, request.payload)
        create = (
            client.chat.completions.create
            if self.model.api == "chat"
            else (client.completions.create)
        )
        return parse_reply(self.model, request.key, await create(**body))

    async def _sample_call(
        self, client: openai.AsyncOpenAI, request: Request, n: int = 1
    ) -> Result:
        _, body = request_body(self.model, request.payload, n=n)
        create = (
            client.chat.completions.create
            if self.model.api == "chat"
            else (client.completions.create)
        )
        return parse_reply(self.model, request.key, await create(**body))
