"""Liveness and readiness, served on their own port (``health.port``).

``/health/live`` answers 200 while the process runs. ``/health/ready`` answers 200 only while the
database answers, the schema is at the version this code expects, and the node is not shutting
down; otherwise 503. The body names each check, so an operator sees *which* one failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from synctv import metrics
from synctv.api.http.asgi import Request, Response, Route, json_response
from synctv.store.db import Database, DatabaseUnavailable
from synctv.store.migrations import schema_version

# A readiness probe must answer quickly even when the database hangs.
CHECK_TIMEOUT_SECONDS = 2.0

Check = Callable[[], Awaitable[tuple[bool, str]]]


@dataclass
class Readiness:
    """Runs the checks; ``shutting_down`` flips readiness to 503 at the first signal."""

    db: Database
    expected_schema: int
    extra_checks: dict[str, Check] = field(default_factory=dict)
    shutting_down: bool = False

    async def evaluate(self) -> tuple[bool, dict[str, dict[str, object]]]:
        results: dict[str, dict[str, object]] = {}
        results["database"] = await self._timed(self._database)
        if results["database"]["ok"]:
            results["migrations"] = await self._timed(self._migrations)
        else:
            results["migrations"] = {"ok": False, "detail": "database unavailable"}
        for name, check in self.extra_checks.items():
            results[name] = await self._timed(check)
        results["shutdown"] = {
            "ok": not self.shutting_down,
            "detail": "shutting down" if self.shutting_down else "running",
        }
        ready = all(bool(r["ok"]) for r in results.values())
        metrics.READY.set(1 if ready else 0)
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
        ok, checks = await readiness.evaluate()
        body = {"status": "ready" if ok else "not_ready", "checks": checks}
        return json_response(body, 200 if ok else 503, [("cache-control", "no-store")])

    return [
        Route(("GET",), "/health/live", live, "health_live"),
        Route(("GET",), "/health/ready", ready, "health_ready"),
    ]
