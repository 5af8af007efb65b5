"""The checks of ``synctv doctor``: plain async functions returning :class:`CheckResult`.

Each check answers one question users of watch-together servers keep asking in issue trackers
(OBS cannot reach the RTMP port, the push URL shows 127.0.0.1, WebSockets die behind a reverse
proxy, every client looks like the proxy, the clock is off, the disk is full) with OK / WARN /
FAIL and, when not OK, one line a newcomer can act on. They run from the server's machine with
the server's config: the ports come from the config (a port of 0 cannot be checked), the
database is reached the way the server reaches it, the public URL from outside the way a browser
does. Nothing here prints; :mod:`synctv.cli.doctor` renders the results.

They run inside ``trio_asyncio.open_loop()`` (asyncpg, grpclib and Redis live on asyncio).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from synctv.cli.doctor_checks.database import check_database, check_redis
from synctv.cli.doctor_checks.ports import (
    check_grpc,
    check_health,
    check_http,
    check_management_socket,
    check_rtmp,
    check_stun,
)
from synctv.cli.doctor_checks.reach import check_public_urls, check_public_websocket
from synctv.cli.doctor_checks.result import (
    CHECK_TIMEOUT_SECONDS,
    CheckResult,
    Status,
    describe,
    fail,
    worst,
)
from synctv.cli.doctor_checks.storage import check_disk, check_embedded_data_dir, check_secrets
from synctv.config import Config

__all__ = ["CheckResult", "Status", "run_checks", "worst"]

# A whole check (some make two or three exchanges) is cut off after this, and reported.
RUN_TIMEOUT_SECONDS = 3 * CHECK_TIMEOUT_SECONDS


async def run_checks(config: Config, public_url: str | None = None) -> list[CheckResult]:
    """Every check, concurrently; results in a fixed order (ports, URLs, database, storage).

    A check that raises or hangs becomes its own FAIL line: the doctor always finishes and
    reports everything else.
    """
    slots: list[list[CheckResult]] = []

    def later(name: str, check: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        slot: list[CheckResult] = []
        slots.append(slot)

        async def run() -> None:
            found: object = None
            with trio.move_on_after(RUN_TIMEOUT_SECONDS) as scope:
                try:
                    found = await check()
                except Exception as exc:
                    found = fail(name, f"the check itself failed: {describe(exc)}",
                                 "this is a bug in synctv doctor: please report this line")  # fmt: skip
            if scope.cancelled_caught:
                found = fail(name, f"no result within {RUN_TIMEOUT_SECONDS:g} s",
                             "something on the way does not answer: a firewall, a stuck service")  # fmt: skip
            if isinstance(found, CheckResult):
                slot.append(found)
            elif isinstance(found, list):
                slot.extend(found)

        return run

    runs = [
        later("http", lambda: check_http(config)),
        later("health", lambda: check_health(config)),
        later("rtmp", lambda: check_rtmp(config)),
        later("stun", lambda: check_stun(config)),
        later("grpc", lambda: check_grpc(config)),
        later("management socket", lambda: check_management_socket(config)),
        later("public urls", lambda: _now(check_public_urls(config, public_url))),
        later("websocket", lambda: check_public_websocket(config, public_url)),
        later("database", lambda: check_database(config)),
        later("embedded postgres dir", lambda: _now(check_embedded_data_dir(config))),
        later("redis", lambda: check_redis(config)),
        later("disk", lambda: _now(check_disk(config))),
        later("secrets", lambda: _now(check_secrets(config))),
    ]
    async with trio.open_nursery() as nursery:
        for run in runs:
            nursery.start_soon(run)
    return [result for slot in slots for result in slot]


async def _now(value: object) -> object:
    return value
