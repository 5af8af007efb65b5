"""The database as the server reaches it (schema version, clock skew) and Redis."""

from __future__ import annotations

import time

import trio

from synctv.cli.doctor_checks.result import (
    CHECK_TIMEOUT_SECONDS,
    CheckResult,
    fail,
    ok,
)
from synctv.config import Config
from synctv.store import embedded_pg

# Clock skew between this machine and the database at or above this fails: sync positions and
# token expiry are computed from both clocks.
MAX_CLOCK_SKEW_SECONDS = 1.0


async def check_database(config: Config) -> list[CheckResult]:
    """Reachable as the server reaches it; schema at this code's version; clocks agree."""
    from synctv.store.db import DatabaseUnavailable, open_database
    from synctv.store.migrations import latest_version, schema_version

    url = config.database.url
    embedded = url is None
    dsn = (
        url.get_secret_value()
        if url is not None
        else embedded_pg.client_dsn(config.data_dir / "postgres")
    )
    kind = "embedded PostgreSQL" if embedded else "database.url"
    try:
        with trio.fail_after(CHECK_TIMEOUT_SECONDS + 1):
            async with open_database(
                dsn, min_size=1, max_size=1, connect_timeout=CHECK_TIMEOUT_SECONDS
            ) as db:
                before = time.time()
                db_now = await db.fetchval("SELECT extract(epoch FROM clock_timestamp())::float8")
                after = time.time()
                version = await schema_version(db)
    except (DatabaseUnavailable, trio.TooSlowError, OSError) as exc:
        fix = (
            "the embedded database runs inside `synctv serve`: start the server"
            if embedded
            else "check database.url (host, port, user, password) and that PostgreSQL runs"
        )
        reason = "no answer" if isinstance(exc, trio.TooSlowError) else _scrub(str(exc), dsn)
        return [fail("database", f"cannot reach the {kind}: {reason}", fix)]
    out = [ok("database", f"{kind} answers")]
    expected = latest_version()
    if version == expected:
        out.append(ok("schema", f"schema version {version} (current)"))
    elif version is None or version < expected:
        found = "no schema yet" if version is None else f"schema version {version}"
        out.append(fail("schema", f"{found}, this SyncTV needs version {expected}",
                        "run `synctv migrate` (or restart `synctv serve`, which migrates)"))  # fmt: skip
    else:
        out.append(fail("schema", f"schema version {version} is newer than this SyncTV "
                        f"({expected})", "upgrade synctv to the release that migrated it"))  # fmt: skip
    out.append(clock_result(float(db_now), before, after))
    return out


def clock_result(database_now: float, before: float, after: float) -> CheckResult:
    """The database's clock against ours, taken at the midpoint of the query's round trip
    (``before``/``after``: this machine's ``time.time()`` around it)."""
    skew = database_now - (before + after) / 2
    if abs(skew) < 0.0005:
        line = "database clock matches this machine's"
    else:
        line = f"database clock is {abs(skew):.3f} s {'ahead' if skew > 0 else 'behind'}"
    if abs(skew) >= MAX_CLOCK_SKEW_SECONDS:
        return fail("clock", f"{line} (limit {MAX_CLOCK_SKEW_SECONDS:g} s)",
                    "enable time sync (chrony or systemd-timesyncd) on both machines")  # fmt: skip
    return ok("clock", f"{line} (limit {MAX_CLOCK_SKEW_SECONDS:g} s)")


def _scrub(text: str, dsn: str) -> str:
    """Never print the DSN (it may carry a password)."""
    return text.replace(dsn, "<database.url>").strip().splitlines()[0] if text.strip() else text


async def check_redis(config: Config) -> CheckResult | None:
    if config.redis.url is None:
        return None
    from synctv.state import StateUnavailable, open_state

    try:
        with trio.fail_after(CHECK_TIMEOUT_SECONDS + 1):
            async with open_state(config.redis) as state:
                await state.get("doctor-probe")
    except (StateUnavailable, trio.TooSlowError, OSError) as exc:
        reason = "no answer" if isinstance(exc, trio.TooSlowError) else str(exc)
        return fail("redis", f"Redis (redis.url) does not answer: {reason}",
                    "start redis-server, or fix redis.url")  # fmt: skip
    return ok("redis", "Redis (redis.url) answers")
