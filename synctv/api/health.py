"""Liveness and readiness, served on their own port (``health.port``).

``/health/live`` answers 200 while the process runs. ``/health/ready`` answers 200 only while the
database answers, the schema is at the version this code expects, and the node is not shutting
down; otherwise 503. The body names each check, so an operator sees *which* one failed.

Orchestrators probe with a timeout of about a second, and a stalled database must read as "not
ready", not as a probe that hangs (19 s with PostgreSQL stopped by SIGSTOP). So the route never
waits on a check: :meth:`Readiness.run` refreshes the result in the background every
``REFRESH_SECONDS`` and the route answers from it at once. A result older than
``STALE_AFTER_SECONDS`` (the refresher itself is stuck) is reported as not ready; shutting down
is applied at once, without waiting for a refresh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from synctv import metrics
from synctv.api.http.asgi import Request, Response, Route, json_response
from synctv.store.db import Database, DatabaseUnavailable
from synctv.store.migrations import schema_version

# A check that has not answered within this is failed (the database may hang, not refuse).
CHECK_TIMEOUT_SECONDS = 2.0
# How often the background refresher runs the checks.
REFRESH_SECONDS = 1.0
# A cached result older than this is not believed: two missed refreshes plus a check timeout.
STALE_AFTER_SECONDS = 2 * REFRESH_SECONDS + CHECK_TIMEOUT_SECONDS

Check = Callable[[], Awaitable[tuple[bool, str]]]


@dataclass
class Readiness:
    """Runs the checks; ``shutting_down`` flips readiness to 503 at the first signal."""

    db: Database
    expected_schema: int
    extra_checks: dict[str, Check] = field(default_factory=dict)
    shutting_down: bool = False
    _cached: dict[str, dict[str, object]] | None = None
    _cached_at: float = 0.0
    _refresh_started: float | None = None  # set while a refresh runs

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Refresh the cached result forever; ``started`` once the first result is in."""
        await self._refresh()
        task_status.started()
        while True:
            await trio.sleep(REFRESH_SECONDS)
            await self._refresh()

    async def _refresh(self) -> None:
        self._refresh_started = trio.current_time()
        try:
            _, self._cached = await self.evaluate()
        finally:
            self._refresh_started = None
        self._cached_at = trio.current_time()

    def current(self) -> tuple[bool, dict[str, dict[str, object]]]:
        """The latest background result, at once (never waits on a check)."""
        if self._cached is None:
            results: dict[str, dict[str, object]] = {
                "checks": {"ok": False, "detail": "not run yet"}
            }
        else:
            results = dict(self._cached)
            now = trio.current_time()
            age = now - self._cached_at
            # A check can hang past its own timeout (a stopped database holds the connection
            # it would cancel on): a refresh running that long is itself the answer.
            running = 0.0 if self._refresh_started is None else now - self._refresh_started
            if age > STALE_AFTER_SECONDS or running > CHECK_TIMEOUT_SECONDS:
                results["checks"] = {
                    "ok": False,
                    "detail": f"checks have not answered for {max(age, running):.0f} s",
                }
                for name in ("database", "migrations"):
                    if name in results:
                        results[name] = {"ok": False, "detail": "not answering"}
        return self._conclude(results)

    async def evaluate(self) -> tuple[bool, dict[str, dict[str, object]]]:
        results: dict[str, dict[str, object]] = {}
        results["database"] = await self._timed(self._database)
        if results["database"]["ok"]:
            results["migrations"] = await self._timed(self._migrations)
        else:
            results["migrations"] = {"ok": False, "detail": "database unavailable"}
        for name, check in self.extra_checks.items():
            results[name] = await self._timed(check)
        return self._conclude(results)

    def _conclude(
        self, results: dict[str, dict[str, object]]
    ) -> tuple[bool, dict[str, dict[str, object]]]:
        """Add the shutdown check (always current), set the ready gauge, say whether ready."""
        results["shutdown"] = {
            "ok": not self.shutting_down,
            "detail": "shutting down" if self.shutting_down else "running",
        }
        ready = all(bool(r["ok"]) for r in results.values())
        metrics.NODE_READY.set(1 if ready else 0)
        return ready, results

    async def _timed(self, check: Check) -> dict[str, object]:
        with trio.move_on_after(CHECK_TIMEOUT_SECONDS):
            ok, detail = await check()
            return {"ok": ok, "detail": detail}
        return {"ok": False, "detail": f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"}

    async def _database(self) -> tuple[bool, str]:
        if await self.db.ping(CHECK_TIMEOUT_SECONDS):
            return True, "ok"
        return False, "database does not answer"

    async def _migrations(self) -> tuple[bool, str]:
        try:
            version = await schema_version(self.db)
        except DatabaseUnavailable as exc:
            return False, str(exc)
        if version != self.expected_schema:
            return False, f"schema version {version}, expected {self.expected_schema}"
        return True, f"schema version {version}"


def health_routes(readiness: Readiness) -> list[Route]:
    async def live(request: Request) -> Response:
        return json_response({"status": "alive"})

    async def ready(request: Request) -> Response:
        ok, checks = readiness.current()
        body = {"status": "ready" if ok else "not_ready", "checks": checks}
        return json_response(body, 200 if ok else 503, [("cache-control", "no-store")])

    return [
        Route(("GET",), "/health/live", live, "health_live"),
        Route(("GET",), "/health/ready", ready, "health_ready"),
    ]
