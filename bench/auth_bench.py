"""Sign-in cost on a started server pinned to one core: full OPAQUE logins per second over
REST, server CPU per login, and authenticated against unauthenticated requests per second.

    .venv/bin/python bench/auth_bench.py [--seconds 10] [--clients 4] [--connections 50]
                                         [--database-url DSN] [--redis]

Starts ``synctv serve`` as :mod:`bench.api_bench` does (its own process, embedded PostgreSQL
unless ``--database-url``; the memory state store, or with ``--redis`` a redis-server this script
starts), pins every thread of it to the first allowed core (``taskset -a``) and runs the load from
the others. The sign-in limits are set off as an operator would, since all load comes from one
address. Login clients are separate processes running our OPAQUE client with the identity KSF:
the KSF is the client's alone and the server never runs it, so the figure is the server's.

The request pair: ``GET /api/user`` with a bearer token (signature, expiry, the revocation
check in the short-lived store, then the user's row) against ``GET /api/public/settings``
without one (the same HTTP chain around a snapshot lookup). The difference is not only the
token check: it includes the row read, so it bounds the check's cost from above.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from api_bench import (
    Rig,
    cpu_seconds,
    redis_server,
    set_setting,
    started_server,
    wrk,
)  # bench/ is the script's directory

PASSWORD = b"bench password"
USERNAME = "bench"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def register(base: str) -> None:
    import httpx

    from synctv.auth import opaque

    request, state = opaque.client_registration_start(PASSWORD)
    with httpx.Client(base_url=base, timeout=30) as http:
        started = http.post(
            "/api/auth/opaque/registration/start",
            json={"username": USERNAME, "registrationRequest": b64(request)},
        )
        started.raise_for_status()
        upload = opaque.client_registration_finish(
            state,
            base64.b64decode(started.json()["registrationResponse"]),
            ksf=opaque.identity_ksf,
        ).registration_upload
        http.post(
            "/api/auth/opaque/registration/finish",
            json={"sessionId": started.json()["sessionId"], "registrationUpload": b64(upload)},
        ).raise_for_status()


def login(http: Any) -> str | None:
    """One full OPAQUE login; the access token, or None when refused."""
    from synctv.auth import opaque

    ke1, state = opaque.client_login_start(PASSWORD)
    started = http.post(
        "/api/auth/opaque/login/start", json={"username": USERNAME, "credentialRequest": b64(ke1)}
    )
    if started.status_code != 200:
        return None
    done = opaque.client_login_finish(
        state, base64.b64decode(started.json()["credentialResponse"]), ksf=opaque.identity_ksf
    )
    finished = http.post(
        "/api/auth/opaque/login/finish",
        json={
            "sessionId": started.json()["sessionId"],
            "credentialFinalization": b64(done.credential_finalization),
        },
    )
    if finished.status_code != 200:
        return None
    token: str = finished.json()["accessToken"]
    return token


def login_client(base: str, cores: set[int], until: float, results: Any) -> None:
    """A login client process: logins until ``until`` (monotonic), off the server's core."""
    import httpx

    if cores:
        os.sched_setaffinity(0, cores)
    done = failed = 0
    with httpx.Client(base_url=base, timeout=30) as http:
        while time.monotonic() < until:
            if login(http) is None:
                failed += 1
            else:
                done += 1
    results.put((done, failed))


def logins(rig: Rig, client_cores: set[int]) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    seconds = rig.args.seconds
    until = time.monotonic() + 1 + seconds  # a second for the clients to start
    clients = [
        context.Process(target=login_client, args=(rig.http_base, client_cores, until, results))
        for _ in range(rig.args.clients)
    ]
    for client in clients:
        client.start()
    time.sleep(1)
    cpu0, began = cpu_seconds(rig.pid), time.monotonic()
    counts = [results.get(timeout=seconds + 60) for _ in clients]
    cpu1, ended = cpu_seconds(rig.pid), time.monotonic()
    for client in clients:
        client.join()
    done = sum(c[0] for c in counts)
    return {
        "logins_per_s": round(done / (ended - began), 1),
        "logins": done,
        "login_errors": sum(c[1] for c in counts),
        "server_cpu_ms_per_login": round((cpu1 - cpu0) / max(done, 1) * 1000, 3),
    }


def wrk_with_token(rig: Rig, path: str, token: str) -> dict[str, Any]:
    """api_bench's wrk run with an Authorization header on every request (a wrk Lua script)."""
    workdir = Path(tempfile.mkdtemp(prefix="synctv-auth-bench-"))
    script = workdir / "auth.lua"
    script.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    try:
        return wrk(rig, path, ("-s", str(script)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure(rig: Rig, server_core: int, client_cores: set[int]) -> dict[str, Any]:
    subprocess.run(["taskset", "-a", "-p", "-c", str(server_core), str(rig.pid)],
                   capture_output=True, check=True)  # fmt: skip
    for key in ("ratelimit.authPerAddressPerMinute", "ratelimit.apiPerAddressPerMinute"):
        set_setting(rig, key, "0")
    register(rig.http_base)
    figures = logins(rig, client_cores)
    import httpx

    with httpx.Client(base_url=rig.http_base, timeout=30) as http:
        token = login(http)
    assert token is not None, "the bench user cannot sign in"
    if client_cores:
        os.sched_setaffinity(0, client_cores)  # wrk, started from here, inherits it
    plain = wrk(rig, "/api/public/settings")
    authed = wrk_with_token(rig, "/api/user", token)
    figures.update({f"unauthenticated_{k}": v for k, v in plain.items()})
    figures.update({f"authenticated_{k}": v for k, v in authed.items()})
    figures["authenticated_vs_unauthenticated_percent"] = round(
        100 * authed["requests_per_s"] / max(plain["requests_per_s"], 1e-9), 1
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4, help="login client processes")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument("--database-url", help="an existing PostgreSQL (default: embedded)")
    parser.add_argument("--redis", action="store_true", help="Redis as the short-lived store")
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        sys.exit("needs wrk and taskset (apt-get install wrk util-linux)")
    allowed = sorted(os.sched_getaffinity(0))
    server_core, client_cores = allowed[0], set(allowed[1:])
    figures: dict[str, Any] = {
        "bench": "auth_bench",
        "state_store": "redis" if args.redis else "memory",
        "server_core": server_core,
        "client_cores": sorted(client_cores),
        "clients": args.clients,
    }
    with ExitStack() as stack:
        extra = {}
        if args.redis:
            extra["SYNCTV_REDIS_URL"] = stack.enter_context(redis_server())
        rig = stack.enter_context(started_server(args, extra))
        figures.update(measure(rig, server_core, client_cores))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
