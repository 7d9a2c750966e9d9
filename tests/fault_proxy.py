"""A small fault-injecting HTTP proxy for tests, in front of a real server.

It speaks plain HTTP/1.1 (Content-Length bodies, keep-alive) on 127.0.0.1,
forwards requests to ``upstream`` with httpx, and counts what reaches the
upstream server. Faults are consumed one per incoming request, in order, from
``faults``; when the list is empty requests pass through untouched.

Faults: "429" (with Retry-After: 1), "500", "503", "timeout" (answers after
``slow_s``; the client should time out first), "reset" (closes the connection
without answering), "truncated" (forwards, then sends half the JSON body),
"empty" (200 with an empty body), "malformed" (200 with JSON that is not a
completion), "no_logprobs" (forwards, strips logprobs), "bad_letter" (forwards,
replaces the top logprobs by tokens that are no option letter), "slow" (forwards,
then answers after ``slow_s / 4``), "trickle" (forwards, then sends the body a few
bytes at a time, ``trickle_bytes`` every ``trickle_interval_s``: every single read
is quick but the whole reply takes minutes), "401" (answers 401 and echoes the
request's Authorization header in the error body, as a careless server would),
"pass" (no fault; holds a place in the list).

``faults_for`` maps a prompt text to its own fault list: a request whose
``prompt`` is a key takes its faults from there (one per attempt) before the
shared list, so a test can script each request whatever the order of arrival.
``in_flight`` counts POSTs being handled (a killed client's request goes on to
the server; tests wait for ``in_flight == 0`` before they count).
``authorizations`` keeps the Authorization header of every POST (tests use it to
prove that a key really went over the wire).

``isolate=True`` makes the upstream llama.cpp server answer every prompt the same
way whatever it answered before: llama-cpp-python reuses the KV cache of the
longest prefix shared with the previous prompt, and how the rest is batched
changes the logits slightly. Before each forwarded POST the proxy sends a short
unrelated prompt, so every real prompt is evaluated whole after the BOS token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import Counter
from typing import Any

import httpx


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        faults: list[str] | None = None,
        slow_s: float = 3.0,
        trickle_bytes: int = 8,
        trickle_interval_s: float = 0.5,
        isolate: bool = False,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: list[str] = list(faults or [])
        self.faults_for: dict[str, list[str]] = {}
        self.slow_s = slow_s
        self.trickle_bytes = trickle_bytes
        self.trickle_interval_s = trickle_interval_s
        self.authorizations: list[str] = []
        self.isolate = isolate
        self.in_flight = 0
        self.received = 0
        self.forwarded = 0
        self.forwarded_bodies: list[dict[str, Any]] = []
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    # -- control -------------------------------------------------------------
    def add_faults(self, *faults: str) -> None:
        with self._lock:
            self.faults.extend(faults)

    def _next_fault(self, body: bytes) -> str | None:
        with self._lock:
            self.received += 1
            if self.faults_for:
                try:
                    prompt = json.loads(body or b"{}").get("prompt")
                except ValueError:
                    prompt = None
                own = self.faults_for.get(prompt) if isinstance(prompt, str) else None
                if own:
                    return own.pop(0)
            return self.faults.pop(0) if self.faults else None

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # -- server ----------------------------------------------------------------
    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._client = httpx.AsyncClient(timeout=300)
        self._upstream_lock = asyncio.Lock()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if method == "POST":
                    with self._lock:
                        self.in_flight += 1
                try:
                    if not await self._respond(method, path, headers, body, writer):
                        return
                finally:
                    if method == "POST":
                        with self._lock:
                            self.in_flight -= 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    async def _respond(
        self, method: str, path: str, headers: dict[str, str], body: bytes, writer: Any
    ) -> bool:
        fault = self._next_fault(body) if method == "POST" else None
        if method == "POST":
            with self._lock:
                self.authorizations.append(headers.get("authorization", ""))
        if fault == "pass":
            fault = None
        if fault:
            self.injected[fault] += 1
        if fault == "401":
            echo = "Incorrect API key provided: " + headers.get("authorization", "")
            self._write(writer, 401, json.dumps({"error": {"message": echo}}).encode())
            return True
        if fault in ("429", "500", "503"):
            extra = {"Retry-After": "1"} if fault == "429" else {}
            self._write(writer, int(fault), b'{"error": {"message": "injected"}}', extra)
            return True
        if fault == "reset":
            writer.transport.abort()
            return False
        if fault == "empty":
            self._write(writer, 200, b"")
            return True
        if fault == "malformed":
            self._write(writer, 200, b'{"object": "nonsense", "data": 42}')
            return True
        if fault == "timeout":
            await asyncio.sleep(self.slow_s)
            self._write(writer, 504, b'{"error": "too late"}')
            return True
        async with self._upstream_lock if self.isolate else contextlib.nullcontext():
            if self.isolate and method == "POST":
                model = json.loads(body or b"{}").get("model")
                flush = {"model": model, "prompt": "Hello", "max_tokens": 1}
                await self._client.post(self.upstream + "/completions", json=flush)
            upstream = await self._client.request(
                method,
                self.upstream + path.removeprefix("/v1"),
                content=body,
                headers={"content-type": headers.get("content-type", "application/json")},
            )
        if method == "POST":
            with self._lock:
                self.forwarded += 1
                self.forwarded_bodies.append(json.loads(body or b"{}"))
        payload = upstream.content
        if fault == "truncated":
            payload = payload[: len(payload) // 2]
        elif fault in ("no_logprobs", "bad_letter"):
            data = json.loads(payload)
            for choice in data.get("choices", []):
                if fault == "no_logprobs":
                    choice["logprobs"] = None
                elif choice.get("logprobs") and "top_logprobs" in choice["logprobs"]:
                    choice["logprobs"]["top_logprobs"] = [{" G": -0.2, " Zebra": -1.9}]
                elif choice.get("logprobs") and choice["logprobs"].get("content"):
                    for c in choice["logprobs"]["content"]:
                        c["token"] = " G"
                        c["top_logprobs"] = [{"token": " G", "logprob": -0.2, "bytes": None}]
            payload = json.dumps(data).encode()
        elif fault == "slow":
            await asyncio.sleep(self.slow_s / 4)
        elif fault == "trickle":
            self._write(writer, upstream.status_code, b"", {}, length=len(payload))
            for i in range(0, len(payload), self.trickle_bytes):
                writer.write(payload[i : i + self.trickle_bytes])
                await writer.drain()  # raises once the client has hung up
                await asyncio.sleep(self.trickle_interval_s)
            return True
        self._write(writer, upstream.status_code, payload)
        return True

    @staticmethod
    def _write(
        writer: Any,
        status: int,
        body: bytes,
        extra: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        head = [f"HTTP/1.1 {status} X", "Content-Type: application/json"]
        head.append(f"Content-Length: {len(body) if length is None else length}")
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
