"""Sign-in cost on a started server: full OPAQUE logins per second over REST, server CPU per
login, and what checking a token adds to a request.

    .venv/bin/python bench/auth_bench.py [--seconds 10] [--clients 4] [--database-url DSN]

Starts ``synctv serve`` as a user does (``api_bench.started_server``), turns the sign-in limits
off (``ratelimit.*`` 0, as an operator would for a load test), registers ``--clients`` accounts,
and pins the server's threads to CPU 0. Then:

* **logins**: ``--clients`` processes on the other CPUs each sign in again and again (login/start,
  client finish, login/finish). The clients use a cheap key-stretching function: the memory-hard
  Argon2id is the client's cost by design and is not what is measured. ``logins_per_s`` is what
  the clients achieved; ``server_cpu_ms_per_login`` the server's CPU time per login, from /proc,
  so ``logins_per_s_per_server_core = 1000 / server_cpu_ms_per_login`` is the server's capacity
  even when the clients cannot saturate it (goal: ≥ 300).
* **token check**: wrk on ``GET /api/auth/whoami`` with a bearer token (signature, expiry, the
  revocation set; no database) against ``GET /api/public/settings`` without one (the same chain
  and a body of similar size): goal, within 10 % requests/s.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import shutil
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from api_bench import (
    cpu_seconds,
    one_server_core,
    register,
    set_setting,
    started_server,
    wrk,
)

from synctv.auth import opaque

PASSWORD = b"bench password"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def login_loop(base: str, name: str, until: float, results: Any) -> None:
    """One client process: sign in until ``until`` (wall clock); report the count and errors.
    Runs off CPU 0, which the server has to itself. The HTTP client is the standard library's
    (keep-alive, a few µs per request): with httpx the clients, not the server, set the pace,
    and a server that is not kept busy spends more CPU per login (less work per wake-up), so
    the figure would say more about the clients than about the server."""
    cpus = os.cpu_count() or 1
    if cpus > 1:
        os.sched_setaffinity(0, set(range(1, cpus)))
    done = errors = 0
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
    headers = {"content-type": "application/json"}

    def post(path: str, body: dict[str, str]) -> tuple[int, Any]:
        connection.request("POST", path, json.dumps(body), headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())

    while time.time() < until:
        ke1, state = opaque.client_login_start(PASSWORD)
        status, started = post(
            "/api/auth/opaque/login/start", {"username": name, "credentialRequest": b64(ke1)}
        )
        if status != 200:
            errors += 1
            continue
        ke3 = opaque.client_login_finish(
            state, base64.b64decode(started["credentialResponse"]), ksf=opaque.identity_ksf
        ).credential_finalization
        status, _ = post(
            "/api/auth/opaque/login/finish",
            {"sessionId": started["sessionId"], "credentialFinalization": b64(ke3)},
        )
        if status == 200:
            done += 1
        else:
            errors += 1
    connection.close()
    results.put((done, errors))


def logins(rig: Any, args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    until = time.time() + args.seconds + 2  # processes start within the first seconds
    processes = [
        context.Process(target=login_loop, args=(rig.http_base, name, until, results))
        for name in names
    ]
    for process in processes:
        process.start()
    time.sleep(2)  # warm-up: imports and first connections
    cpu0, wall0 = cpu_seconds(rig.pid), time.time()
    counted = [results.get(timeout=args.seconds + 60) for _ in processes]
    wall, cpu = time.time() - wall0, cpu_seconds(rig.pid) - cpu0
    for process in processes:
        process.join(timeout=10)
    total = sum(done for done, _ in counted)
    # The warm-up logins are in the total but not in the timed window: count only the share of
    # the window (the rate was steady by then).
    timed = total * wall / (wall + 2)
    cpu_ms = cpu / max(timed, 1) * 1000
    return {
        "login_clients": len(names),
        "logins": total,
        "login_errors": sum(errors for _, errors in counted),
        "logins_per_s": round(timed / wall, 1),
        "server_cpu_ms_per_login": round(cpu_ms, 3),
        "logins_per_s_per_server_core": round(1000 / cpu_ms, 1) if cpu_ms else None,
    }


def token_check(rig: Any, token: str) -> dict[str, Any]:
    with one_server_core(rig) as pin:
        plain = wrk(rig, "/api/public/settings", None, pin)
        checked = wrk(rig, "/api/auth/whoami", {"Authorization": f"Bearer {token}"}, pin)
    figures = {f"unauthenticated_{k}": v for k, v in plain.items()}
    figures.update({f"authenticated_{k}": v for k, v in checked.items()})
    figures["authenticated_vs_unauthenticated_rps"] = round(
        checked["requests_per_s"] / max(plain["requests_per_s"], 1e-9), 3
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--connections", type=int, default=20, help="wrk connections")
    parser.add_argument("--database-url", help="an existing PostgreSQL (default: embedded)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk (apt-get install wrk)")
    figures: dict[str, Any] = {"bench": "auth_bench"}
    with started_server(args) as rig:
        for key in (
            "ratelimit.apiPerAddressPerMinute",
            "ratelimit.authPerAddressPerMinute",
            "ratelimit.registrationPerAddressPerHour",
        ):
            set_setting(rig, key, "0")
        names = [f"bench{n}" for n in range(args.clients)]
        tokens = [register(rig.http_base, name, PASSWORD) for name in names]
        with one_server_core(rig):
            figures.update(logins(rig, args, names))
        figures.update(token_check(rig, tokens[0]))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
