"""A tiny OpenAI-compatible endpoint that only adds a fixed latency per request.

It answers ``POST /v1/completions`` and ``POST /v1/chat/completions`` after
``--latency`` seconds with a valid reply: with ``logprobs`` requested, the top
logprobs hold the six option letters " A" .. " F" (a fixed distribution rotated
by a hash of the prompt, so replies differ between prompts); otherwise a short
text, ``n`` choices if asked. ``GET /v1/models`` lists one model;
``GET /stats`` returns the request counts as JSON and ``POST /stats/reset``
zeroes them.

It is a raw asyncio HTTP/1.1 server (keep-alive, Content-Length bodies, no
chunked uploads) so that the server costs a few tens of microseconds per
request and is never what a client benchmark measures.

Standalone::

    .venv/bin/python benchmarks/latency_server.py --latency 0.05 --port 8077

Imported::

    from latency_server import start_subprocess
    with start_subprocess(latency=0.05) as server:
        server.base_url  # http://127.0.0.1:<port>/v1
        server.stats()   # {"requests": ..., "by_path": {...}}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx

LETTERS = "ABCDEF"
BASE_PROBS = [0.46, 0.22, 0.12, 0.09, 0.06, 0.03]  # the rest (0.02) is "other" tokens
BASE_LOGPROBS = [math.log(p) for p in BASE_PROBS]
READY_PREFIX = "LATENCY_SERVER_READY"


@dataclass
class ServerState:
    latency: float
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    by_path: Counter = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        return {
            "latency_s": self.latency,
            "requests": self.requests,
            "max_in_flight": self.max_in_flight,
            "by_path": dict(self.by_path),
        }

    def reset(self) -> None:
        self.requests = 0
        self.max_in_flight = self.in_flight
        self.by_path.clear()


def _rotation(body: dict[str, Any]) -> int:
    text = body.get("prompt")
    if text is None:
        text = json.dumps(body.get("messages"), sort_keys=True)
    return zlib.crc32(str(text).encode()) % len(LETTERS)


def _prompt_tokens(body: dict[str, Any]) -> int:
    text = body.get("prompt")
    if text is None:
        text = " ".join(str(m.get("content", "")) for m in body.get("messages") or [])
    return max(1, len(str(text)) // 4)


def completion_reply(body: dict[str, Any]) -> dict[str, Any]:
    rot = _rotation(body)
    lps = BASE_LOGPROBS[-rot:] + BASE_LOGPROBS[:-rot] if rot else BASE_LOGPROBS
    best = LETTERS[lps.index(max(lps))]
    n_in = _prompt_tokens(body)
    model = body.get("model", "latency-bench")
    created = int(time.time())
    if body.get("logprobs"):
        k = int(body["logprobs"])
        top = {f" {letter}": lp for letter, lp in zip(LETTERS, lps, strict=True)}
        top = dict(list(top.items())[: max(k, 1)])
        choices = [
            {
                "text": f" {best}",
                "index": 0,
                "logprobs": {
                    "tokens": [f" {best}"],
                    "token_logprobs": [max(lps)],
                    "top_logprobs": [top],
                    "text_offset": [0],
                },
                "finish_reason": "length",
            }
        ]
        n_out = 1
    else:
        n = int(body.get("n") or 1)
        choices = [
            {"text": f" {best}. Because.", "index": i, "logprobs": None, "finish_reason": "stop"}
            for i in range(n)
        ]
        n_out = 4 * n
    return {
        "id": f"cmpl-{created}-{rot}",
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out},
    }


def chat_reply(body: dict[str, Any]) -> dict[str, Any]:
    rot = _rotation(body)
    lps = BASE_LOGPROBS[-rot:] + BASE_LOGPROBS[:-rot] if rot else BASE_LOGPROBS
    best = LETTERS[lps.index(max(lps))]
    n_in = _prompt_tokens(body)
    created = int(time.time())
    if body.get("logprobs"):
        k = int(body.get("top_logprobs") or 1)
        top = [
            {"token": letter, "logprob": lp, "bytes": list(letter.encode())}
            for letter, lp in zip(LETTERS, lps, strict=True)
        ][: max(k, 1)]
        logprobs = {
            "content": [
                {
                    "token": best,
                    "logprob": max(lps),
                    "bytes": list(best.encode()),
                    "top_logprobs": top,
                }
            ]
        }
        choices = [
            {
                "index": 0,
                "message": {"role": "assistant", "content": best},
                "logprobs": logprobs,
                "finish_reason": "length",
            }
        ]
        n_out = 1
    else:
        n = int(body.get("n") or 1)
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": f"{best}. Because."},
                "logprobs": None,
                "finish_reason": "stop",
            }
            for i in range(n)
        ]
        n_out = 4 * n
    return {
        "id": f"chatcmpl-{created}-{rot}",
        "object": "chat.completion",
        "created": created,
        "model": body.get("model", "latency-bench"),
        "choices": choices,
        "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out},
    }


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


def _response(status: int, payload: Any, keep_alive: bool) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        f"connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection; requests on it are answered in order."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.queue: asyncio.Queue[tuple[str, str, bytes, bool] | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:
        self.queue.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                self._close()
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            conn = headers.get("connection", "").lower()
            keep = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
            self.queue.put_nowait((method, target.split("?", 1)[0], body, keep))

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    async def _serve(self) -> None:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            method, path, body, keep = item
            status, payload = await self._handle(method, path, body)
            if self.transport is None or self.transport.is_closing():
                return
            self.transport.write(_response(status, payload, keep))
            if not keep:
                self._close()
                return

    async def _handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        st = self.state
        path = path.rstrip("/")
        if path == "/stats":
            if method == "POST":
                st.reset()
            return 200, st.snapshot()
        if path in ("/v1/models", "/models") and method == "GET":
            return 200, {
                "object": "list",
                "data": [{"id": "latency-bench", "object": "model", "owned_by": "bench"}],
            }
        kind = {
            "/v1/completions": "completions",
            "/completions": "completions",
            "/v1/chat/completions": "chat",
            "/chat/completions": "chat",
        }.get(path)
        if kind is None:
            return 404, {"error": {"message": f"no route {path}", "type": "not_found"}}
        if method != "POST":
            return 405, {"error": {"message": "POST only", "type": "method"}}
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": {"message": "body is not JSON", "type": "invalid_request"}}
        st.requests += 1
        st.by_path[path] += 1
        st.in_flight += 1
        st.max_in_flight = max(st.max_in_flight, st.in_flight)
        try:
            if st.latency > 0:
                await asyncio.sleep(st.latency)
        finally:
            st.in_flight -= 1
        return 200, completion_reply(data) if kind == "completions" else chat_reply(data)


async def serve(
    latency: float,
    host: str = "127.0.0.1",
    port: int = 0,
    ready: threading.Event | None = None,
    holder: dict[str, Any] | None = None,
) -> None:
    """Serve forever (until cancelled). ``holder`` receives ``port``, ``state``, ``loop``."""
    state = ServerState(latency=latency)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(state), host, port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    if holder is not None:
        holder.update(port=bound, state=state, loop=loop, task=asyncio.current_task())
    if ready is not None:
        ready.set()
    print(f"{READY_PREFIX} {bound}", flush=True)
    async with server:
        await server.serve_forever()


# --------------------------------------------------------------------------- handles


class _Handle:
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=10).json()

    def reset(self) -> dict[str, Any]:
        return httpx.post(f"http://127.0.0.1:{self.port}/stats", timeout=10).json()


class ProcessServer(_Handle):
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc, self.port = proc, port

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ThreadServer(_Handle):
    def __init__(self, latency: float) -> None:
        self._ready = threading.Event()
        self._holder: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._main, args=(latency,), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("latency server thread did not start")
        self.port = self._holder["port"]

    def _main(self, latency: float) -> None:
        with suppress(asyncio.CancelledError):
            asyncio.run(serve(latency, ready=self._ready, holder=self._holder))

    def stop(self) -> None:
        loop, task = self._holder["loop"], self._holder["task"]
        if not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        self._thread.join(5)


@contextmanager
def start_subprocess(latency: float, port: int = 0) -> Iterator[ProcessServer]:
    """The server in its own process (own GIL, own core): the way to benchmark a client."""
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--latency", str(latency), "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(READY_PREFIX):
        proc.kill()
        raise RuntimeError(f"latency server did not start: {line!r}")
    server = ProcessServer(proc, int(line.split()[1]))
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def start_thread(latency: float) -> Iterator[ThreadServer]:
    """The server in a thread of this process (shares the GIL: fine for tests, not for timing)."""
    server = ThreadServer(latency)
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=0.05, help="seconds per request (0.05)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8077, help="0 picks a free port (8077)")
    args = ap.parse_args(argv)
    with suppress(KeyboardInterrupt):
        asyncio.run(serve(args.latency, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
