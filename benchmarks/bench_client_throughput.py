"""Client throughput: our OpenAI backend at concurrency C vs one request at a time.

A local OpenAI-compatible endpoint (``latency_server.py``, in its own process)
answers every request after a fixed latency L. We send N unique logprobs
requests (``api: completions``, ``max_tokens=1``, ``logprobs=20``):

* through ``OpenAIBackend.run`` at each concurrency C (what ``evaluate`` does),
* through the synchronous ``openai`` client in a plain loop, one request at a
  time (what the paper's code did),

and report requests/s, the speed-up over the loop and the share of the ideal
C / L. Before that, the server alone is loaded with many concurrent raw-socket
and httpx requests to show that it can do far more than C / L (so the figures
measure the client, not the server). Target: >= 80% of C / L at C = 64.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import resource
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import openai
from latency_server import start_subprocess

from value_inertia.core.config import ModelParams
from value_inertia.evaluation.backends.base import Request, Result
from value_inertia.evaluation.backends.openai_backend import OpenAIBackend

MODEL = "latency-bench"
PROMPT = (
    "Let's role-play. You are the person described below. Answer the question as this "
    "person would, based on who you are.\n\nYou are a woman. You are 47 years old. Your "
    "household income is at level 6 on a scale from 1 to 10. You have children. You are "
    "married. Your highest education is a bachelor's degree. You work full-time, as a "
    "professional. You are Asian. You are Buddhist. You were born in Japan. You live in "
    "Japan.\n\nQuestion: When you decide whether something is right or wrong, to what "
    'extent are the following considerations relevant to your thinking?\n"Whether or not '
    'someone suffered emotionally"\nOptions:\nA. Not at all relevant\nB. Not very relevant\n'
    "C. Slightly relevant\nD. Somewhat relevant\nE. Very relevant\nF. Extremely relevant\n"
    "Your response should always point to a specific letter option.\nAnswer:"
)


def prompt(tag: str, i: int) -> str:
    return f"[{tag} #{i}] {PROMPT}"


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dataclass
class Row:
    client: str
    concurrency: int
    latency: float
    requests: int
    ok: int
    wall_s: float
    cpu_s: float
    server_count: int
    server_max_in_flight: int = -1

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def ideal(self) -> float:
        return self.concurrency / self.latency if self.latency > 0 else float("inf")

    @property
    def pct_ideal(self) -> float:
        return 100.0 * self.rps / self.ideal if self.latency > 0 else float("nan")


# --------------------------------------------------------------------------- clients


def run_backend(base_url: str, n: int, concurrency: int, latency: float, tag: str) -> Row:
    model = ModelParams(
        name="bench",
        backend="openai",
        base_url=base_url,
        model=MODEL,
        mode="logprobs",
        api="completions",
        concurrency=concurrency,
        timeout_s=60,
        max_retries=2,
    )
    requests = [Request(key=f"{tag}-{i}", payload={"prompt": prompt(tag, i)}) for i in range(n)]
    results: list[Result] = []
    backend = OpenAIBackend(model)
    c0, t0 = cpu_s(), time.perf_counter()
    backend.run(requests, results.append)
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    backend.close()
    ok = sum(1 for r in results if r.status == "ok" and r.probs is not None)
    if len(results) != n:
        raise SystemExit(f"backend returned {len(results)} results for {n} requests")
    return Row("OpenAIBackend (async)", concurrency, latency, n, ok, wall, cpu, -1)


def run_sequential(base_url: str, n: int, latency: float, tag: str) -> Row:
    client = openai.OpenAI(base_url=base_url, api_key="no-key", max_retries=0, timeout=60)
    ok = 0
    c0, t0 = cpu_s(), time.perf_counter()
    for i in range(n):
        resp = client.completions.create(
            model=MODEL, prompt=prompt(tag, i), max_tokens=1, logprobs=20, temperature=0.0
        )
        lp = resp.choices[0].logprobs
        ok += bool(lp and lp.top_logprobs and lp.top_logprobs[0])
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    client.close()
    return Row("sync openai loop", 1, latency, n, ok, wall, cpu, -1)


async def _raw_load(port: int, n: int, connections: int) -> int:
    """Minimal HTTP/1.1 keep-alive load generator: the cheapest possible client."""
    body = b'{"model":"latency-bench","prompt":"x","max_tokens":1,"logprobs":20,"temperature":0}'
    req = (
        f"POST /v1/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body
    remaining = [n]
    ok = [0]

    async def conn() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while remaining[0] > 0:
            remaining[0] -= 1
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            ok[0] += head.startswith(b"HTTP/1.1 200")
        writer.close()

    await asyncio.gather(*(conn() for _ in range(connections)))
    return ok[0]


def run_raw(port: int, n: int, connections: int, latency: float) -> Row:
    c0, t0 = cpu_s(), time.perf_counter()
    ok = asyncio.run(_raw_load(port, n, connections))
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    return Row("raw asyncio sockets", connections, latency, n, ok, wall, cpu, -1)


async def _httpx_load(base_url: str, n: int, connections: int, per_pool: int) -> int:
    """``connections`` workers over ceil(connections / per_pool) httpx clients (pools)."""
    pools = [
        httpx.AsyncClient(
            limits=httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool),
            timeout=60,
        )
        for _ in range(-(-connections // per_pool))
    ]
    body = {"model": MODEL, "prompt": "x", "max_tokens": 1, "logprobs": 20, "temperature": 0}
    ok = 0
    remaining = [n]

    async def worker(i: int) -> None:
        nonlocal ok
        client = pools[i % len(pools)]
        while remaining[0] > 0:
            remaining[0] -= 1
            r = await client.post(f"{base_url}/completions", json=body)
            ok += r.status_code == 200

    try:
        await asyncio.gather(*(worker(i) for i in range(connections)))
    finally:
        for client in pools:
            await client.aclose()
    return ok


def run_httpx(base_url: str, n: int, connections: int, latency: float, per_pool: int) -> Row:
    c0, t0 = cpu_s(), time.perf_counter()
    ok = asyncio.run(_httpx_load(base_url, n, connections, per_pool))
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    pools = -(-connections // per_pool)
    name = "httpx, 1 pool" if pools == 1 else f"httpx, {pools} pools of {per_pool}"
    return Row(name, connections, latency, n, ok, wall, cpu, -1)


# --------------------------------------------------------------------------- driver


def measured(server, row_fn) -> Row:
    server.reset()
    row = row_fn()
    stats = server.stats()
    row.server_count = stats["requests"]
    row.server_max_in_flight = stats["max_in_flight"]
    return row


def fmt_table(rows: list[Row], baseline: Row | None) -> str:
    out = [
        "| client | C | L (s) | requests | ok | server saw | wall (s) | req/s | ideal C/L "
        "| % of ideal | x sequential | client CPU ms/req | server max in flight |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r.rps / baseline.rps:.1f}" if baseline and baseline.rps else "-"
        ideal = f"{r.ideal:.0f}" if r.latency > 0 else "inf"
        pct = f"{r.pct_ideal:.1f}%" if r.latency > 0 else "-"
        out.append(
            f"| {r.client} | {r.concurrency} | {r.latency:g} | {r.requests} | {r.ok} "
            f"| {r.server_count} | {r.wall_s:.2f} | {r.rps:.1f} | {ideal} | {pct} | {ratio} "
            f"| {1000 * r.cpu_s / max(r.requests, 1):.2f} | {r.server_max_in_flight} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    ap.add_argument("--latency", type=float, default=0.05, help="server latency L (s)")
    ap.add_argument(
        "--concurrency", default="64", help="comma-separated concurrencies C, e.g. 1,8,64"
    )
    ap.add_argument(
        "--sequential-requests",
        type=int,
        default=None,
        help="requests for the sequential loop (default: --requests; at L=0.05 2,000 take 100 s)",
    )
    ap.add_argument(
        "--server-check-connections",
        type=int,
        default=256,
        help="connections for the server-capacity check",
    )
    ap.add_argument(
        "--no-ceiling", action="store_true", help="skip the L=0 client CPU ceiling measurement"
    )
    args = ap.parse_args(argv)
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    n, lat = args.requests, args.latency
    n_seq = args.sequential_requests or n
    check_n = max(n, 16 * args.server_check_connections)
    httpx_n = min(n, 1000)
    K = args.server_check_connections

    print(
        f"# Client throughput — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"openai {openai.__version__}, httpx {httpx.__version__}\n"
    )
    server_rows: list[Row] = []
    with start_subprocess(latency=lat) as server:
        # 1. the server alone: far more than C/L?
        server_rows.append(measured(server, lambda: run_raw(server.port, check_n, K, lat)))
        cmax = max(concurrencies)
        server_rows.append(
            measured(server, lambda: run_httpx(server.base_url, httpx_n, cmax, lat, cmax))
        )
        server_rows.append(
            measured(server, lambda: run_httpx(server.base_url, httpx_n, cmax, lat, 8))
        )
        # 2. our backend at each C
        rows: list[Row] = []
        for c in concurrencies:
            rows.append(
                measured(server, lambda c=c: run_backend(server.base_url, n, c, lat, f"c{c}"))
            )
        # 3. the paper's way: one request at a time
        baseline = measured(server, lambda: run_sequential(server.base_url, n_seq, lat, "seq"))
    ceiling: list[Row] = []
    if not args.no_ceiling:
        with start_subprocess(latency=0.0) as server0:
            ceiling.append(measured(server0, lambda: run_raw(server0.port, check_n, 64, 0.0)))
            ceiling.append(
                measured(
                    server0,
                    lambda: run_backend(server0.base_url, n, max(concurrencies), 0.0, "ceil"),
                )
            )

    print("## Server alone (load generators against the latency server)\n")
    print(fmt_table(server_rows, None))
    raw = server_rows[0]
    need = max(c / lat for c in concurrencies)
    print(
        f"\nServer sustained {raw.rps:.0f} req/s with {K} raw connections at L={lat:g} s "
        f"({raw.rps / need:.1f}x the largest C/L = {need:.0f} req/s; ideal {K / lat:.0f}). "
        "The httpx rows show what a bare httpx client achieves at C connections in one "
        "pool vs split over pools of 8."
    )
    print("\n## OpenAIBackend vs the sequential loop\n")
    print(fmt_table([*rows, baseline], baseline))
    if ceiling:
        print("\n## L = 0: CPU ceilings (server-side and client-side, requests/s)\n")
        print(fmt_table(ceiling, None))
    at64 = [r for r in rows if r.concurrency == 64]
    if at64:
        r = at64[0]
        verdict = "MET" if r.pct_ideal >= 80 else "MISSED"
        print(f"\nTarget >= 80% of C/L at C=64: {r.pct_ideal:.1f}% -> {verdict}")
    bad = [r for r in [*server_rows, *rows, baseline, *ceiling] if r.ok != r.requests]
    if bad:
        print(f"\nWARNING: {len(bad)} measurement(s) had failed requests", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
