"""Media proxy throughput: nginx-direct vs through the proxy, cold and warm slice cache.

Starts nginx (distro package ``nginx-light``/``nginx``) on a loopback port with its own temporary
config serving a generated file (1 GiB by default), starts the proxy (hypercorn + the real
route, slice cache and upstream, behind the product's HTTP listener; ``--engine hypercorn``
serves every request with hypercorn's HTTP/1.1 as before ``synctv.api.http.h1_server``) in a
child process so its CPU time can be read from /proc, then
runs N concurrent httpx clients doing sequential and random Range reads over a working set:
first against nginx directly, then through the proxy twice (cold cache, then warm). The request
list is seeded, so every pass reads the same bytes. With ``--url`` the proxy is not started and
that proxy URL is read instead (cache and CPU figures are then null).

Prints one JSON line: MB/s to clients (nginx-direct, cold, warm), warm/nginx ratio, upstream
bytes per client byte, p50/p99 time to first byte, server CPU seconds per GB served.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trio

MIB = 1024 * 1024
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
    }}
}}
"""


@dataclass
class PassResult:
    seconds: float
    bytes: int
    ttfb: list[float]

    @property
    def mb_s(self) -> float:
        return self.bytes / MIB / self.seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_file(path: Path, size: int) -> None:
    block = random.Random(1).randbytes(MIB)
    with open(path, "wb") as out:
        for _ in range(size // MIB):
            out.write(block)


def start_nginx(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
    process = subprocess.Popen([nginx, "-p", str(tmp), "-c", str(conf)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("nginx did not start; see error.log")


def plan(args: argparse.Namespace, size: int) -> list[list[tuple[int, int]]]:
    """Per client: (start, stop) ranges; half sequential runs, half random, in a working set."""
    rng = random.Random(42)
    working = min(size, args.working_set_mb * MIB)
    per_client = []
    for client in range(args.clients):
        ranges = []
        position = (client * working // args.clients) // MIB * MIB
        for i in range(args.requests):
            if i % 2 == 0:
                length = args.sequential_mb * MIB
                start = position % (working - length)
                position += length
            else:
                length = args.random_kb * 1024
                start = rng.randrange(0, working - length)
            ranges.append((start, start + length))
        per_client.append(ranges)
    return per_client


async def run_pass(url: str, work: list[list[tuple[int, int]]]) -> PassResult:
    ttfb: list[float] = []
    total = 0
    limits = httpx.Limits(max_connections=len(work), max_keepalive_connections=len(work))
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:

        async def one(ranges: list[tuple[int, int]]) -> None:
            nonlocal total
            for start, stop in ranges:
                headers = {"range": f"bytes={start}-{stop - 1}"}
                began = time.perf_counter()
                first = True
                async with client.stream("GET", url, headers=headers) as response:
                    if response.status_code != 206:
                        raise SystemExit(f"{url}: status {response.status_code}")
                    async for chunk in response.aiter_raw():
                        if first:
                            ttfb.append(time.perf_counter() - began)
                            first = False
                        total += len(chunk)
                if total and stop - start and first:
                    raise SystemExit("empty body")

        began = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for ranges in work:
                nursery.start_soon(one, ranges)
        elapsed = time.perf_counter() - began
    return PassResult(elapsed, total, ttfb)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(base: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{base}/__stats", timeout=10).json()
    return data


# -- the proxy child process ------------------------------------------------------------------


def serve_proxy(upstream_url: str, cache_mb: int, engine: str) -> None:
    from synctv.api.http.asgi import App, Request, Response, Route, json_response
    from synctv.api.http.routes.proxy import proxy_routes
    from synctv.api.http.server import HttpListenerSettings, HttpServer
    from synctv.outbound.client import HttpUpstream
    from synctv.outbound.scope import LanScope, origin_of
    from synctv.providers.base import PlaybackSource, ResolvedSource
    from synctv.proxy.service import MediaProxy
    from synctv.proxy.slice_cache import SliceCache
    from synctv.proxy.token import ProxyTokenSigner

    class Resolver:
        async def resolve_for_proxy(self, instance_id: str, media_ref: str) -> ResolvedSource:
            origin = origin_of(upstream_url)
            lan = LanScope.parse([origin[1]]) if origin is not None else None
            return ResolvedSource(PlaybackSource(upstream_url), lan)

        def subscribe(self, listener: object) -> None:
            return None  # the bench never changes its one instance

    async def main() -> None:
        upstream = HttpUpstream(max_connections=64)
        cache = SliceCache(upstream, slice_size=2 * MIB, max_bytes=cache_mb * MIB)
        proxy = MediaProxy(
            signer=ProxyTokenSigner(os.urandom(32)),
            resolver=Resolver(),
            upstream=upstream,
            cache=cache,
        )

        async def stats_route(request: Request) -> Response:
            s = cache.statistics()
            return json_response(
                {"upstream_bytes": s.upstream_bytes, "hits": s.hits, "misses": s.misses}
            )

        app = App(
            [*proxy_routes(proxy), Route(("GET",), "/__stats", stats_route, "stats")],
            clock=time.monotonic,
        )
        listener = HttpListenerSettings(
            "proxy", "127.0.0.1", 0, max_connections=10_000, max_connections_per_address=10_000,
            own_http1=engine == "own",
        )  # fmt: skip
        async with trio.open_nursery() as nursery:
            await nursery.start(cache.run)
            binds = await nursery.start(HttpServer(app, listener).serve)
            port = int(binds[0].rsplit(":", 1)[1])
            token = proxy.issue_token("bench", "file")
            print(json.dumps({"port": port, "token": token}), flush=True)

    trio.run(main)


# -- the driver -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=24, help="per client")
    parser.add_argument("--sequential-mb", type=int, default=8)
    parser.add_argument("--random-kb", type=int, default=1536)
    parser.add_argument("--working-set-mb", type=int, default=384)
    parser.add_argument("--cache-mb", type=int, default=512)
    parser.add_argument("--url", help="read through this proxy URL instead of starting one")
    parser.add_argument("--engine", choices=("own", "hypercorn"), default="own")
    parser.add_argument("--serve-proxy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_proxy:
        serve_proxy(args.serve_proxy, args.cache_mb, args.engine)
        return

    tmp = Path(tempfile.mkdtemp(prefix="synctv-proxy-bench-"))
    os.chmod(tmp, 0o755)
    (tmp / "www").mkdir(mode=0o755)
    size = args.size_mb * MIB
    make_file(tmp / "www" / "file.bin", size)
    os.chmod(tmp / "www" / "file.bin", 0o644)
    port = free_port()
    nginx = start_nginx(tmp, port)
    child: subprocess.Popen[str] | None = None
    try:
        direct_url = f"http://127.0.0.1:{port}/file.bin"
        work = plan(args, size)
        direct = trio.run(run_pass, direct_url, work)
        base = None
        if args.url:
            proxy_url = args.url
        else:
            child = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--serve-proxy",
                    direct_url,
                    "--cache-mb",
                    str(args.cache_mb),
                    "--engine",
                    args.engine,
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert child.stdout is not None
            info = json.loads(child.stdout.readline())
            base = f"http://127.0.0.1:{info['port']}"
            proxy_url = f"{base}/proxy/{info['token']}"
        cpu0 = cpu_seconds(child.pid) if child else 0.0
        cold = trio.run(run_pass, proxy_url, work)
        cpu1 = cpu_seconds(child.pid) if child else 0.0
        after_cold = stats(base) if base else None
        warm = trio.run(run_pass, proxy_url, work)
        cpu2 = cpu_seconds(child.pid) if child else 0.0
        after_warm = stats(base) if base else None
    finally:
        if child is not None:
            child.kill()
            child.wait()
        nginx.terminate()
        nginx.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    gb = 1024**3
    result: dict[str, Any] = {
        "bench": "proxy",
        "engine": args.engine,
        "file_mb": args.size_mb,
        "clients": args.clients,
        "requests_per_client": args.requests,
        "mb_per_pass": round(cold.bytes / MIB, 1),
        "nginx_direct_mb_s": round(direct.mb_s, 1),
        "cold_mb_s": round(cold.mb_s, 1),
        "warm_mb_s": round(warm.mb_s, 1),
        "warm_over_nginx": round(warm.mb_s / direct.mb_s, 3),
        "upstream_bytes_per_client_byte_cold": None,
        "upstream_bytes_per_client_byte_total": None,
        "ttfb_ms_cold": {
            "p50": round(percentile(cold.ttfb, 0.5), 2),
            "p99": round(percentile(cold.ttfb, 0.99), 2),
        },
        "ttfb_ms_warm": {
            "p50": round(percentile(warm.ttfb, 0.5), 2),
            "p99": round(percentile(warm.ttfb, 0.99), 2),
        },
        "ttfb_ms_nginx": {
            "p50": round(percentile(direct.ttfb, 0.5), 2),
            "p99": round(percentile(direct.ttfb, 0.99), 2),
        },
        "server_cpu_s_per_gb_cold": None,
        "server_cpu_s_per_gb_warm": None,
    }
    if after_cold is not None and after_warm is not None:
        result["upstream_bytes_per_client_byte_cold"] = round(
            after_cold["upstream_bytes"] / cold.bytes, 3
        )
        result["upstream_bytes_per_client_byte_total"] = round(
            after_warm["upstream_bytes"] / (cold.bytes + warm.bytes), 3
        )
        result["server_cpu_s_per_gb_cold"] = round((cpu1 - cpu0) / (cold.bytes / gb), 3)
        result["server_cpu_s_per_gb_warm"] = round((cpu2 - cpu1) / (warm.bytes / gb), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
