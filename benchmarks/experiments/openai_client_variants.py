"""Experiment: where OpenAIBackend loses throughput at high concurrency, and what helps.

Not a deliverable benchmark: an evidence script for a proposed fix. Against the
latency server (own process), the same N logprobs requests at concurrency C go
through:

* ``stock``: ``OpenAIBackend`` as it is (one httpx pool of C connections);
* ``pools8``: the same backend, but its workers spread over ceil(C / 8)
  ``AsyncOpenAI`` clients of 8 connections each (httpcore's pool does O(pool
  size) work per request: ``AsyncConnectionPool._assign_requests_to_connections``
  walks every connection and calls ``has_expired()`` -> ``is_socket_readable``);
* ``aiohttp``: one ``AsyncOpenAI`` over the aiohttp transport (``httpx_aiohttp``,
  what ``openai.DefaultAioHttpClient`` uses; skipped if it is not importable);
* ``direct-aiohttp``: no openai client at all (aiohttp session + json, the
  backend's retry loop kept), the floor for a Python asyncio client;
* ``+raw``: the pools8 / aiohttp variants, posting with ``client.post(..., cast_to=httpx.Response)``
  and ``json.loads`` instead of ``client.completions.create`` (skips openai's
  request transform and pydantic response models).

The variants subclass OpenAIBackend and override ``_run_all`` / ``_logprobs_call``;
they are experiments, not library code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import openai
from bench_client_throughput import MODEL, cpu_s, prompt
from latency_server import start_subprocess

from value_inertia.core.config import ModelParams
from value_inertia.evaluation.backends.base import Request, Result, distribution_from_logprobs
from value_inertia.evaluation.backends.openai_backend import OpenAIBackend
from value_inertia.evaluation.backends.openai_wire import MalformedReply


class Pools8(OpenAIBackend):
    per_pool = 8

    def _http_clients(self) -> list:
        m = self.model
        limits = httpx.Limits(
            max_connections=self.per_pool, max_keepalive_connections=self.per_pool
        )
        n = math.ceil(m.concurrency / self.per_pool)
        return [httpx.AsyncClient(limits=limits, timeout=m.timeout_s) for _ in range(n)]

    async def _run_all(self, requests, on_result) -> None:
        m = self.model
        https = self._http_clients()
        clients = [
            openai.AsyncOpenAI(
                base_url=m.base_url,
                api_key=self._api_key,
                max_retries=0,
                timeout=m.timeout_s,
                http_client=h,
            )
            for h in https
        ]
        queue: asyncio.Queue = asyncio.Queue()
        for unit in self._units(requests):
            queue.put_nowait(unit)

        async def worker(i: int) -> None:
            client = clients[i % len(clients)]
            while True:
                try:
                    unit = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                for result in await self._send_unit(client, None, unit):
                    on_result(result)

        try:
            await asyncio.gather(*(worker(i) for i in range(m.concurrency)))
        finally:
            for h in https:
                await h.aclose()


class Aiohttp(Pools8):
    def _http_clients(self) -> list:
        from httpx_aiohttp import HttpxAiohttpClient

        m = self.model
        limits = httpx.Limits(max_connections=m.concurrency)
        return [HttpxAiohttpClient(timeout=m.timeout_s, limits=limits)]


class RawMixin:
    async def _logprobs_call(self, client: openai.AsyncOpenAI, request: Request) -> Result:
        m = self.model  # type: ignore[attr-defined]
        body = {
            "model": m.model,
            "prompt": request.payload["prompt"],
            "max_tokens": 1,
            "logprobs": m.top_logprobs,
            "temperature": m.temperature,
        }
        resp = await client.post("/completions", body=body, cast_to=httpx.Response)
        data = json.loads(resp.content)
        choice = data["choices"][0]
        lp = choice.get("logprobs")
        if not lp or not lp.get("top_logprobs"):
            raise MalformedReply("reply has no logprobs")
        probs, mass = distribution_from_logprobs(dict(lp["top_logprobs"][0] or {}))
        usage = data.get("usage") or {}
        return Result(
            key=request.key,
            status="ok",
            text=choice.get("text"),
            probs=probs,
            letter_mass=mass,
            finish_reason=choice.get("finish_reason"),
            tokens_in=usage.get("prompt_tokens"),
            tokens_out=usage.get("completion_tokens"),
        )


class Pools8Raw(RawMixin, Pools8):
    pass


class AiohttpRaw(RawMixin, Aiohttp):
    pass


class Direct(OpenAIBackend):
    """No openai client at all: one aiohttp session, JSON in and out (retries kept)."""

    async def _run_all(self, requests, on_result) -> None:
        import aiohttp

        m = self.model
        connector = aiohttp.TCPConnector(limit=m.concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            self._session = session
            queue: asyncio.Queue = asyncio.Queue()
            for unit in self._units(requests):
                queue.put_nowait(unit)

            async def worker() -> None:
                while True:
                    try:
                        unit = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    for result in await self._send_unit(None, None, unit):
                        on_result(result)

            await asyncio.gather(*(worker() for _ in range(m.concurrency)))

    async def _logprobs_call(self, client, request: Request) -> Result:
        m = self.model
        body = {
            "model": m.model,
            "prompt": request.payload["prompt"],
            "max_tokens": 1,
            "logprobs": m.top_logprobs,
            "temperature": m.temperature,
        }
        headers = {"Authorization": f"Bearer {self._api_key}"}
        async with self._session.post(
            f"{m.base_url}/completions", json=body, headers=headers
        ) as resp:
            resp.raise_for_status()
            data = json.loads(await resp.read())
        choice = data["choices"][0]
        lp = choice.get("logprobs")
        if not lp or not lp.get("top_logprobs"):
            raise MalformedReply("reply has no logprobs")
        probs, mass = distribution_from_logprobs(dict(lp["top_logprobs"][0] or {}))
        usage = data.get("usage") or {}
        return Result(
            key=request.key,
            status="ok",
            text=choice.get("text"),
            probs=probs,
            letter_mass=mass,
            finish_reason=choice.get("finish_reason"),
            tokens_in=usage.get("prompt_tokens"),
            tokens_out=usage.get("completion_tokens"),
        )


VARIANTS = {
    "stock": OpenAIBackend,
    "pools8": Pools8,
    "pools8+raw": Pools8Raw,
    "aiohttp": Aiohttp,
    "aiohttp+raw": AiohttpRaw,
    "direct-aiohttp": Direct,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args(argv)
    try:
        import httpx_aiohttp  # noqa: F401

        have_aiohttp = True
    except ImportError:
        have_aiohttp = False
    n, c, lat = args.requests, args.concurrency, args.latency
    print(f"N={n}, C={c}, L={lat} s, ideal C/L = {c / lat:.0f} req/s\n")
    print("| variant | ok | wall (s) | req/s | % of C/L | client CPU ms/req |")
    print("|---|---:|---:|---:|---:|---:|")
    with start_subprocess(latency=lat) as server:
        for name in args.variants.split(","):
            if name.startswith("aiohttp") and not have_aiohttp:
                print(f"| {name} | skipped: httpx_aiohttp not importable | | | | |")
                continue
            model = ModelParams(
                name="bench",
                backend="openai",
                base_url=server.base_url,
                model=MODEL,
                concurrency=c,
                timeout_s=60,
            )
            reqs = [
                Request(key=f"{name}{i}", payload={"prompt": prompt(name, i)}) for i in range(n)
            ]
            out: list[Result] = []
            c0, t0 = cpu_s(), time.perf_counter()
            VARIANTS[name](model).run(reqs, out.append)
            wall, cpu = time.perf_counter() - t0, cpu_s() - c0
            ok = sum(r.status == "ok" for r in out)
            pct = 100 * n / wall / (c / lat)
            print(
                f"| {name} | {ok} | {wall:.2f} | {n / wall:.1f} | {pct:.1f}% "
                f"| {1000 * cpu / n:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
