"""What a check returns, and the helpers every check shares (where to connect, how to
name a network failure in a few words).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

# One check never waits longer than this (a firewall that drops packets answers with silence).
CHECK_TIMEOUT_SECONDS = 5.0


class Status(enum.IntEnum):
    """Ordered by severity; the exit status of ``synctv doctor`` is the worst one."""

    OK = 0
    WARN = 1
    FAIL = 2


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    message: str
    fix: str = ""
    # Values worth copying (the URLs to paste into OBS or a player), shown under the line.
    details: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "status": self.status.name.lower(),
            "message": self.message,
            "fix": self.fix or None,
        }
        if self.details:
            out["details"] = self.details
        return out


def ok(name: str, message: str, **details: str) -> CheckResult:
    return CheckResult(name, Status.OK, message, details=details)


def warn(name: str, message: str, fix: str, **details: str) -> CheckResult:
    return CheckResult(name, Status.WARN, message, fix, details)


def fail(name: str, message: str, fix: str, **details: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, message, fix, details)


def worst(results: Sequence[CheckResult]) -> Status:
    return max((r.status for r in results), default=Status.OK)


def connect_host(bind_host: str) -> str:
    """Where to reach a listener from this machine: a wildcard bind answers on loopback."""
    if bind_host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if bind_host in ("::", "[::]"):
        return "::1"
    return bind_host.strip("[]")


def hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _refused(exc: BaseException | None, depth: int = 0) -> bool:
    if exc is None or depth > 8:
        return False
    if isinstance(exc, ConnectionRefusedError):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_refused(inner, depth + 1) for inner in exc.exceptions)
    return _refused(exc.__cause__ or exc.__context__, depth + 1)


def describe(exc: BaseException) -> str:
    # httpx and trio wrap the socket error ("all attempts to connect failed"): name the cause.
    if _refused(exc):
        return "connection refused (nothing listens there)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def synctv_report(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and body.get("server") == "synctv" else None
