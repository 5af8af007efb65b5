"""STUN Binding throughput and latency over UDP loopback; prints one JSON line.

By default the server runs in this process (Trio, 127.0.0.1, ephemeral port, rate limit lifted so
one client source is not throttled) and a client in a separate process keeps ``--window``
requests in flight for ``--seconds``: each reply is matched by transaction id, its round trip
recorded, and a new request sent. Requests unanswered after 200 ms count as lost and are
replaced. ``--host/--port`` targets a running server instead (its own rate limit then applies).

On a machine with two or more CPUs the in-process server is pinned to CPU 0 and the client to
CPU 1 (``--no-pin`` turns that off), so the figure is what one core of server does;
``server_cpu_s`` is the server process's CPU time over the run (its client-waiting thread only
blocks on a pipe), and ``requests_per_server_cpu_second`` divides the answered requests by it.

    .venv/bin/python bench/stun.py [--seconds 5] [--window 32] [--no-pin] [--host H --port P]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import struct
import time
from multiprocessing.connection import Connection

import trio

from synctv.config import WebRTCConfig
from synctv.stun.server import StunServer

LOSS_TIMEOUT = 0.2
COOKIE = bytes.fromhex("2112a442")
SERVER_CPU, CLIENT_CPU = 0, 1


def _pin(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def _pinning_available() -> bool:
    return hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2


def _request(n: int) -> tuple[bytes, bytes]:
    tid = n.to_bytes(12, "big")
    return struct.pack(">HH", 0x0001, 0) + COOKIE + tid, tid


def client(
    host: str, port: int, seconds: float, window: int, out: Connection, cpu: int | None
) -> None:
    """Blocking client loop (runs in its own process so it does not share the server's GIL)."""
    _pin(cpu)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.connect((host, port))
    sock.settimeout(LOSS_TIMEOUT)
    pending: dict[bytes, float] = {}
    latencies: list[float] = []
    sent = lost = counter = 0

    def send_one() -> None:
        nonlocal sent, counter
        counter += 1
        data, tid = _request(counter)
        pending[tid] = time.perf_counter()
        sock.send(data)
        sent += 1

    deadline = time.perf_counter() + seconds
    for _ in range(window):
        send_one()
    while time.perf_counter() < deadline:
        try:
            reply = sock.recv(2048)
        except TimeoutError:
            lost += len(pending)
            pending.clear()
            for _ in range(window):
                send_one()
            continue
        started = pending.pop(reply[8:20], None)
        if started is not None:
            latencies.append(time.perf_counter() - started)
            send_one()
    sock.close()
    out.send({"sent": sent, "answered": len(latencies), "lost": lost, "latencies": latencies})


def run_client(
    host: str, port: int, seconds: float, window: int, cpu: int | None = None
) -> dict[str, object]:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=client, args=(host, port, seconds, window, sender, cpu))
    process.start()
    result: dict[str, object] = receiver.recv()
    process.join()
    return result


async def run_in_process(args: argparse.Namespace) -> tuple[dict[str, object], dict[str, object]]:
    config = WebRTCConfig(
        stun_host="127.0.0.1", stun_port=0, stun_rate_limit_per_second=args.rate_limit
    )
    server = StunServer(config)
    pin = args.pin and _pinning_available()
    if pin:
        _pin(SERVER_CPU)
    async with trio.open_nursery() as nursery:
        endpoints = await nursery.start(server.serve)
        cpu_before = time.process_time()
        result = await trio.to_thread.run_sync(
            run_client,
            "127.0.0.1",
            endpoints.port,
            args.seconds,
            args.window,
            CLIENT_CPU if pin else None,
        )
        cpu_seconds = time.process_time() - cpu_before
        nursery.cancel_scope.cancel()
    stats = server.statistics()
    answered = result["answered"]
    assert isinstance(answered, int)
    server_side: dict[str, object] = {
        "pinned": pin,
        "server_cpu_s": round(cpu_seconds, 3),
        "requests_per_server_cpu_second": round(answered / cpu_seconds) if cpu_seconds else None,
        "server_requests": stats.requests,
        "server_drops": {k: v for k, v in stats.drops.items() if v},
    }
    return result, server_side


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=32, help="requests in flight")
    parser.add_argument("--host", help="target a running server instead of an in-process one")
    parser.add_argument("--port", type=int, default=3478)
    parser.add_argument(
        "--rate-limit", type=float, default=1e9, help="in-process server's per-source rate"
    )
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin server and client to CPUs"
    )
    args = parser.parse_args()
    server_side: dict[str, object] = {}
    if args.host:
        result = run_client(args.host, args.port, args.seconds, args.window)
    else:
        result, server_side = trio.run(run_in_process, args)
    latencies = sorted(result.pop("latencies"))  # type: ignore[call-overload]
    answered = len(latencies)
    quantiles = statistics.quantiles(latencies, n=100) if answered >= 2 else [0.0] * 99
    print(
        json.dumps(
            {
                "bench": "stun_udp_binding",
                "target": f"{args.host}:{args.port}" if args.host else "in-process 127.0.0.1",
                "seconds": args.seconds,
                "window": args.window,
                "requests_per_second": round(answered / args.seconds),
                **result,
                "p50_ms": round(quantiles[49] * 1000, 3),
                "p99_ms": round(quantiles[98] * 1000, 3),
                **server_side,
            }
        )
    )


if __name__ == "__main__":
    main()
