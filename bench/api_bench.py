"""REST API cost on a started server: ``GET /api/public/settings`` requests/s, the cost of the
general rate-limit check (memory backend) per request, ``GET /api/rooms/{id}`` (a room with the
caller's permissions, authenticated) on one server core, and the latency of adding 100 media in
one request.

    .venv/bin/python bench/api_bench.py [--seconds 10] [--connections 50] [--database-url DSN]

Starts ``synctv serve`` as a user does (its own process, a fresh data_dir under /tmp, embedded
PostgreSQL unless ``--database-url``), waits for readiness, drives it with wrk (Debian's package)
and prints one JSON line: requests/s, latency p50/p99, server CPU s per 10k requests. The route
answers from the process's settings snapshot, so this is the whole HTTP chain (request id,
CORS, access log and metrics, FastAPI) around a dict lookup.

Each figure is one function in :data:`MEASUREMENTS` taking the running :class:`Rig`. The server's
REST limit (``ratelimit.apiPerAddressPerMinute``, 600/min per address by default) would refuse
wrk's load from one address, so the plain figure runs with it set to 0 (off) through ``synctv
admin settings set``, as an operator would, and the ``limited_`` figures with it on at a limit
never reached: the difference in server CPU per request is the check's cost on the memory
backend. Then the same two runs on a second server whose short-lived state is a redis-server
this script starts (``--no-redis`` skips it): the check's cost on Redis, one Lua round trip
through the trio-asyncio bridge. ``bench/ratelimit_cost.py`` takes the check apart further.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The servers of one run may share a database (--database-url): like replicas, they must share
# the secrets that stored accounts depend on, or the second refuses to start (a changed OPAQUE
# setup would lock every account out).
SHARED_SECRETS = {
    "SYNCTV_SECURITY_OPAQUE_SERVER_SETUP": os.urandom(64).hex(),
    "SYNCTV_SECURITY_JWT_SECRET": os.urandom(48).hex(),
}


@dataclass(frozen=True)
class Rig:
    """A started server: where it answers and which process to charge CPU to."""

    http_base: str
    pid: int
    data_dir: Path
    args: argparse.Namespace


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, limit: float = 10.0) -> None:
    """Until something accepts on the loopback ``port`` (exits the bench after ``limit`` s)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def started_server(
    args: argparse.Namespace, extra_env: dict[str, str] | None = None
) -> Iterator[Rig]:
    data_dir = Path(tempfile.mkdtemp(prefix="synctv-api-bench-"))
    http, health = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCTV_")}
    env.update({
        "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT)),
        "SYNCTV_DATA_DIR": str(data_dir),
        "SYNCTV_SERVER_HOST": "127.0.0.1", "SYNCTV_SERVER_PORT": str(http),
        "SYNCTV_HEALTH_HOST": "127.0.0.1", "SYNCTV_HEALTH_PORT": str(health),
        "SYNCTV_METRICS_PORT": "0", "SYNCTV_GRPC_PORT": "0",
        "SYNCTV_LIVESTREAM_RTMP_HOST": "127.0.0.1", "SYNCTV_LIVESTREAM_RTMP_PORT": "0",
        "SYNCTV_WEBRTC_STUN_HOST": "127.0.0.1", "SYNCTV_WEBRTC_STUN_PORT": "0",
        "SYNCTV_LOG_LEVEL": "warning",
        **SHARED_SECRETS,
    })  # fmt: skip
    if args.database_url:
        env["SYNCTV_DATABASE_URL"] = args.database_url
    env.update(extra_env or {})
    server = subprocess.Popen(
        [sys.executable, "-m", "synctv", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_ready(f"http://127.0.0.1:{health}/health/ready", server)
        yield Rig(f"http://127.0.0.1:{http}", server.pid, data_dir, args)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
        shutil.rmtree(data_dir, ignore_errors=True)


def wait_ready(url: str, server: subprocess.Popen[bytes], limit: float = 90.0) -> None:
    import httpx

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            assert server.stderr is not None
            sys.exit(f"the server exited: {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sys.exit(f"the server was not ready within {limit} s")


def wrk(
    rig: Rig, path: str, headers: dict[str, str] | None = None, pin: list[str] | None = None
) -> dict[str, Any]:
    """Drive ``path`` with wrk; requests/s, latency and server CPU per 10k requests."""
    url = rig.http_base + path
    options = [f"-H{name}: {value}" for name, value in (headers or {}).items()]
    prefix = pin or []
    subprocess.run(
        [*prefix, "wrk", "-t1", "-c10", "-d1s", *options, url], capture_output=True, check=True
    )  # warm
    cpu0 = cpu_seconds(rig.pid)
    out = subprocess.run(
        [*prefix, "wrk", "-t1", f"-c{rig.args.connections}", f"-d{rig.args.seconds}s",
         "--latency", *options, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    cpu1 = cpu_seconds(rig.pid)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    return {
        "requests_per_s": rps,
        "requests": total,
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
        "latency_p50": p50.group(1) if p50 else None,
        "latency_p99": p99.group(1) if p99 else None,
        "server_cpu_s_per_10k_requests": round((cpu1 - cpu0) / max(total, 1) * 10_000, 3),
    }


def set_setting(rig: Rig, key: str, value: str) -> None:
    """Change a runtime setting over the management socket, and give the listener time to
    deliver it (it does within a second)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCTV_")}
    env["SYNCTV_DATA_DIR"] = str(rig.data_dir)
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", str(ROOT))
    subprocess.run(
        [sys.executable, "-m", "synctv", "admin", "settings", "set", key, value],
        env=env, capture_output=True, check=True,
    )  # fmt: skip
    time.sleep(1.5)


def public_settings(rig: Rig) -> dict[str, Any]:
    set_setting(rig, "ratelimit.apiPerAddressPerMinute", "0")
    return {f"public_settings_{k}": v for k, v in wrk(rig, "/api/public/settings").items()}


def limited_public_settings(rig: Rig) -> dict[str, Any]:
    set_setting(rig, "ratelimit.apiPerAddressPerMinute", "1000000")
    figures = {f"limited_{k}": v for k, v in wrk(rig, "/api/public/settings").items()}
    return figures


def signed_up(rig: Rig) -> dict[str, str]:
    """Register one account over REST with our OPAQUE client (a cheap KSF: the client's cost is
    not what is measured); its bearer header."""
    import base64

    import httpx

    from synctv.auth import opaque

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    name = f"bench{rig.pid}{int(time.time() * 1000) % 100_000}"
    request, state = opaque.client_registration_start(b"bench password")
    with httpx.Client(base_url=rig.http_base, timeout=30) as client:
        started = client.post(
            "/api/auth/opaque/registration/start",
            json={"username": name, "registrationRequest": b64(request)},
        ).json()
        upload = opaque.client_registration_finish(
            state, base64.b64decode(started["registrationResponse"]), ksf=opaque.identity_ksf
        ).registration_upload
        done = client.post(
            "/api/auth/opaque/registration/finish",
            json={"sessionId": started["sessionId"], "registrationUpload": b64(upload)},
        ).json()
    return {"Authorization": f"Bearer {done['accessToken']}"}


@contextmanager
def one_server_core(rig: Rig) -> Iterator[list[str]]:
    """Pin every thread of the server to CPU 0 and hand back the prefix that runs the load
    generator on the other CPUs; unpinned afterwards. No pinning on a one-CPU machine."""
    cpus = os.cpu_count() or 1
    if cpus < 2 or shutil.which("taskset") is None:
        yield []
        return
    subprocess.run(
        ["taskset", "-a", "-p", "-c", "0", str(rig.pid)], capture_output=True, check=True
    )
    try:
        yield ["taskset", "-c", f"1-{cpus - 1}"]
    finally:
        subprocess.run(
            ["taskset", "-a", "-p", "-c", f"0-{cpus - 1}", str(rig.pid)], capture_output=True
        )


def room_with_permissions(rig: Rig) -> dict[str, Any]:
    """``GET /api/rooms/{id}``: the room and the caller's role and permissions, one database
    round trip plus the token check, on one server core (goal: 1,000 requests/s)."""
    import httpx

    set_setting(rig, "ratelimit.apiPerAddressPerMinute", "0")
    auth = signed_up(rig)
    room = httpx.post(
        rig.http_base + "/api/rooms", json={"name": "bench room"}, headers=auth, timeout=30
    ).json()["room"]["id"]
    with one_server_core(rig) as pin:
        figures = wrk(rig, f"/api/rooms/{room}", auth, pin)
    return {f"room_get_{k}": v for k, v in figures.items()}


def batch_add_media(rig: Rig) -> dict[str, Any]:
    """``POST /api/rooms/{id}/media`` with 100 items (one transaction): latency over
    ``--batches`` calls, one at a time (goal: p99 under 50 ms)."""
    import httpx

    auth = signed_up(rig)
    items = [
        {"name": f"episode {n}", "source": {"kind": "url", "url": f"https://cdn.test/{n}.mp4"}}
        for n in range(100)
    ]
    timings = []
    with httpx.Client(base_url=rig.http_base, headers=auth, timeout=30) as client:
        room = client.post("/api/rooms", json={"name": "bench batch"}).json()["room"]["id"]
        for _ in range(rig.args.batches):
            started = time.perf_counter()
            response = client.post(f"/api/rooms/{room}/media", json={"items": items})
            timings.append(time.perf_counter() - started)
            assert response.status_code == 201, response.text
    timings.sort()
    return {
        "batch_add_100_calls": len(timings),
        "batch_add_100_p50_ms": round(timings[len(timings) // 2] * 1000, 1),
        "batch_add_100_p99_ms": round(
            timings[min(len(timings) - 1, int(len(timings) * 0.99))] * 1000, 1
        ),
    }


# One function per figure, in the order they run.
MEASUREMENTS: list[Callable[[Rig], dict[str, Any]]] = [
    public_settings,
    limited_public_settings,
    room_with_permissions,
    batch_add_media,
]


@contextmanager
def redis_server() -> Iterator[str]:
    """A throw-away redis-server on a free loopback port; yields its URL (also used by
    ratelimit_cost.py)."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("needs redis-server (apt-get install redis-server)")
    workdir = tempfile.mkdtemp(prefix="synctv-api-bench-redis-")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def check_cost_us(figures: dict[str, Any], plain: str, limited: str) -> float:
    """Server CPU per request added by the limit: CPU-s per 10k requests -> µs per request."""
    key = "server_cpu_s_per_10k_requests"
    return round((float(figures[f"{limited}_{key}"]) - float(figures[f"{plain}_{key}"])) * 100, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--database-url", help="an existing PostgreSQL (default: embedded)")
    parser.add_argument("--batches", type=int, default=50, help="batch adds of 100 to time")
    parser.add_argument(
        "--no-redis", action="store_true", help="skip the Redis-backed runs (no redis-server)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk (apt-get install wrk)")
    figures: dict[str, Any] = {"bench": "api_bench", "connections": args.connections}
    with started_server(args) as rig:
        for measure in MEASUREMENTS:
            figures.update(measure(rig))
    figures["rate_limit_check_memory_cpu_us_per_request"] = check_cost_us(
        figures, "public_settings", "limited"
    )
    if not args.no_redis:
        with redis_server() as url, started_server(args, {"SYNCTV_REDIS_URL": url}) as rig:
            for measure in MEASUREMENTS:
                figures.update({f"redis_{k}": v for k, v in measure(rig).items()})
        figures["rate_limit_check_redis_cpu_us_per_request"] = check_cost_us(
            figures, "redis_public_settings", "redis_limited"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
