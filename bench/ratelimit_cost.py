"""The cost of one rate-limit check, per backend and per HTTP request; prints one JSON line.

    .venv/bin/python bench/ratelimit_cost.py [--checks 20000] [--seconds 5] [--connections 50]
                                             [--rounds 2]

Checks: ``--checks`` sequential ``check_rate`` calls on one key (always allowed: the rule is
huge) against ``MemoryState`` and against ``RedisState`` on a redis-server this script starts on
a free loopback port (one Lua script per check through the trio-asyncio bridge), plus the same
number on 32 concurrent tasks for Redis (round trips overlap), and the bare in-process table STUN
calls per datagram (``GcraTable.allow``). HTTP: ``GET /api/webrtc/ice-servers`` (a real REST
route through the whole chain) served by the product's listener in a child process, driven by
wrk for ``--seconds``: without the limit, with it on memory, with it on Redis, interleaved for
``--rounds``; best requests/s and least server CPU per request of each mode (shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import trio
import trio_asyncio
from api_bench import free_port, redis_server, wait_for_port  # bench/ is the script's directory

from synctv.state.memory import MemoryState
from synctv.state.ratelimit import GcraTable, RateLimitRule
from synctv.state.redis import open_redis_state

# Never refuses: the figures are the cost of counting, not of refusing.
HUGE = RateLimitRule("bench", 1e12, 60.0)
CONCURRENT_TASKS = 32
ICE = "/api/webrtc/ice-servers"


# --- the child: the web app with or without the limit ------------------------------------------


def serve(port: int, mode: str, redis_url: str | None) -> None:
    from synctv.api.http.routes.webrtc import webrtc_router
    from synctv.api.http.server import HttpListenerSettings, HttpServer
    from synctv.api.http.web import build_web_app
    from synctv.config import ServerConfig, WebRTCConfig
    from synctv.state.base import ShortLivedState
    from synctv.state.limits import LimitBook, RateLimits

    def app_for(state: ShortLivedState | None) -> HttpServer:
        limit = None
        if state is not None:
            book = LimitBook({"ratelimit.apiPerAddressPerMinute": HUGE.limit})
            limit = RateLimits(state, book).check_api
        app = build_web_app(
            ServerConfig(),
            routes=[],
            api_routers=[webrtc_router(WebRTCConfig(), bound_stun_port=lambda: 3478)],
            observe=None,
            clock=trio.current_time,
            api_limit=limit,
        )
        settings = HttpListenerSettings(
            "http", "127.0.0.1", port, max_connections=10_000, max_connections_per_address=10_000
        )
        return HttpServer(app, settings)

    async def main() -> None:
        if mode == "off":
            await app_for(None).serve()
        elif mode == "memory":
            await app_for(MemoryState()).serve()
        else:
            assert redis_url is not None
            async with (
                trio_asyncio.open_loop(),
                open_redis_state(redis_url, key_prefix="bench:", timeout_seconds=5.0) as state,
            ):
                await app_for(state).serve()

    trio.run(main)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_run(mode: str, redis_url: str, seconds: int, connections: int) -> tuple[float, float]:
    """Requests/s and server CPU microseconds per request for one wrk run."""
    port = free_port()
    child = [sys.executable, __file__, "--serve", str(port), "--mode", mode, "--redis", redis_url]
    server = subprocess.Popen(child, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}{ICE}"
        subprocess.run(["wrk", "-t1", "-c10", "-d1s", url], capture_output=True, check=True)
        cpu0 = cpu_seconds(server.pid)
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        cpu1 = cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait()
    if "Non-2xx" in out:
        sys.exit(f"{mode}: some answers were not 200:\n{out}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    assert rps is not None, out
    assert total is not None, out
    return float(rps.group(1)), (cpu1 - cpu0) / int(total.group(1)) * 1e6


# --- the checks themselves ---------------------------------------------------------------------


def table_ns_per_check(checks: int) -> float:
    table = GcraTable()
    allow = table.allow
    now = 0.0
    started = time.perf_counter()
    for _ in range(checks):
        allow(HUGE, "198.51.100.7", now)
        now += 1e-6
    return (time.perf_counter() - started) / checks * 1e9


async def sequential(state: object, checks: int) -> tuple[float, float]:
    """Wall and this process's CPU seconds for ``checks`` checks, one after another."""
    check = state.check_rate  # type: ignore[attr-defined]
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(checks):
        await check(HUGE, "198.51.100.7")
    return time.perf_counter() - started, time.process_time() - cpu


async def concurrent(state: object, checks: int) -> float:
    """Wall seconds for ``checks`` checks spread over CONCURRENT_TASKS tasks."""
    check = state.check_rate  # type: ignore[attr-defined]
    per_task = max(1, checks // CONCURRENT_TASKS)

    async def worker() -> None:
        for _ in range(per_task):
            await check(HUGE, "198.51.100.7")

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(CONCURRENT_TASKS):
            nursery.start_soon(worker)
    return (time.perf_counter() - started) / (per_task * CONCURRENT_TASKS) * checks


async def measure_checks(checks: int, redis_url: str) -> dict[str, float]:
    memory = MemoryState()
    await sequential(memory, min(checks, 1000))  # warm
    memory_s, memory_cpu = await sequential(memory, checks)
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(redis_url, key_prefix="bench:", timeout_seconds=5.0) as redis,
    ):
        await sequential(redis, min(checks, 200))  # warm: script loaded, pool filled
        redis_s, redis_cpu = await sequential(redis, checks)
        redis_concurrent_s = await concurrent(redis, checks)
    return {
        "memory_checks_per_s": round(checks / memory_s),
        "memory_us_per_check": round(memory_s / checks * 1e6, 2),
        "memory_cpu_us_per_check": round(memory_cpu / checks * 1e6, 2),
        "redis_checks_per_s": round(checks / redis_s),
        "redis_us_per_check": round(redis_s / checks * 1e6, 1),
        # This process only (the bridge and redis-py), not redis-server's share.
        "redis_client_cpu_us_per_check": round(redis_cpu / checks * 1e6, 1),
        f"redis_checks_per_s_{CONCURRENT_TASKS}_tasks": round(checks / redis_concurrent_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.mode, args.redis)
        return
    if shutil.which("wrk") is None:
        sys.exit("needs wrk (apt-get install wrk)")
    figures: dict[str, object] = {"bench": "ratelimit_cost", "checks": args.checks}
    with redis_server() as redis_url:
        figures["stun_table_ns_per_check"] = round(table_ns_per_check(args.checks))
        figures.update(trio.run(measure_checks, args.checks, redis_url))
        # Modes interleaved, best of --rounds: the machine is shared, so drift and
        # neighbours' bursts hit every mode alike and the best run is the least disturbed.
        runs: dict[str, list[tuple[float, float]]] = {"off": [], "memory": [], "redis": []}
        for _ in range(args.rounds):
            for mode, results in runs.items():
                results.append(http_run(mode, redis_url, args.seconds, args.connections))
    rps = {mode: max(r for r, _ in results) for mode, results in runs.items()}
    cpu = {mode: round(min(c for _, c in results), 1) for mode, results in runs.items()}
    figures["http_requests_per_s"] = rps
    figures["http_server_cpu_us_per_request"] = cpu
    figures["http_server_cpu_us_added_by_limit"] = {
        mode: round(cpu[mode] - cpu["off"], 1) for mode in ("memory", "redis")
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
