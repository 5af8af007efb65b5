"""HTTP request path: requests/s of a trivial JSON route through the listener + our ASGI layer.

    .venv/bin/python bench/http_micro.py [--seconds 10] [--connections 50] [--asgi-module PATH]
        [--engine own|hypercorn]

Serves ``GET /ping`` with ``synctv.api.http.asgi.App`` (router, error mapping, the disconnect
pump, the observe hook) on one core in a child process, drives it with wrk (Debian's package) from
another process, and prints one JSON line: requests/s, latency p50/p99, server CPU s per 10k
requests. ``--asgi-module`` loads another version of asgi.py (e.g. from ``git show``) to compare.
``--engine hypercorn`` serves plain requests with hypercorn's HTTP/1.1 as before
``synctv.api.http.h1_server`` (``HttpListenerSettings.own_http1=False``); the default is the
listener's own HTTP/1.1 loop.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def serve(port: int, asgi_module: str | None, engine: str = "own") -> None:
    """Child process: the ASGI layer on hypercorn's trio worker."""
    import trio
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    sys.path.insert(0, os.environ.get("SYNCTV_BENCH_TREE", str(ROOT)))
    if asgi_module:
        spec = importlib.util.spec_from_file_location("asgi_under_test", asgi_module)
        assert spec is not None
        assert spec.loader is not None
        asgi = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = asgi  # dataclasses look their module up while executing
        spec.loader.exec_module(asgi)
    else:
        from synctv.api.http import asgi

    async def ping(request: object) -> object:
        return asgi.json_response({"ok": True})

    counted = [0]

    def observe(*record: object) -> None:  # older trees pass four values, newer one record
        counted[0] += 1

    routes = [asgi.Route(("GET",), "/ping", ping, "ping")]
    try:  # the product's whole chain (CORS, request id, FastAPI behind) where the tree has it
        if asgi_module:
            raise ImportError("an asgi.py under test: that App alone")
        from synctv.api.http.web import build_web_app
        from synctv.config import ServerConfig
    except ImportError:
        app = asgi.App(routes, observe=observe, clock=trio.current_time)
    else:
        app = build_web_app(ServerConfig(), routes=routes, observe=observe, clock=trio.current_time)
    try:  # the product's listener (accept loop, caps, supervision) where the tree has one
        from synctv.api.http.server import HttpListenerSettings, HttpServer
    except ImportError:  # older trees: hypercorn's own serve
        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = None
        trio.run(hypercorn_serve, app, config)
        return
    settings = HttpListenerSettings(
        "http", "127.0.0.1", port, max_connections=10_000, max_connections_per_address=10_000
    )
    if engine == "hypercorn":
        settings = dataclasses.replace(settings, own_http1=False)
    trio.run(HttpServer(app, settings).serve)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--asgi-module")
    parser.add_argument("--engine", choices=("own", "hypercorn"), default="own")
    parser.add_argument("--label", default="current")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.asgi_module, args.engine)
        return
    if shutil.which("wrk") is None:
        sys.exit("needs wrk (apt-get install wrk)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = [sys.executable, __file__, "--serve", str(port), "--engine", args.engine]
    if args.asgi_module:
        child += ["--asgi-module", args.asgi_module]
    server = subprocess.Popen(child, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/ping"
        subprocess.run(["wrk", "-t1", "-c10", "-d2s", url], capture_output=True, check=True)  # warm
        cpu0 = cpu_seconds(server.pid)
        out = subprocess.run(
            ["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        cpu1 = cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait()
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    print(json.dumps({
        "bench": "http_micro", "asgi": args.label, "engine": args.engine, "connections": args.connections,
        "requests_per_s": rps, "latency_p50": p50.group(1) if p50 else None,
        "latency_p99": p99.group(1) if p99 else None,
        "server_cpu_s_per_10k_requests": round((cpu1 - cpu0) / total * 10_000, 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
