"""Supervision boundaries: one client's bug ends that client's work, never the process.

In a nursery tree an exception that escapes a task cancels its parent, and so on up to the root:
one malformed request would stop every live stream, viewer and the embedded database. Every
connection, request and per-stream task therefore runs inside a *boundary* that turns an
unexpected exception into a log line with the traceback, a count in
``synctv_task_crashes_total{task}``, and the end of that unit of work only. Long-lived services
(listeners, caches, stores) run under :func:`restarting`, which starts them again with backoff.

What is *not* contained: ``trio.Cancelled`` and other ``BaseException`` (KeyboardInterrupt,
SystemExit) pass through untouched, because cancellation is how the tree stops work. An
exception group is contained only when every leaf is an ``Exception``; a group carrying a
``Cancelled`` is re-raised whole, so a cancelled scope still sees its cancellation.

Task names are a small fixed vocabulary (``rtmp_connection``, ``http_request`` ...): they are
metric labels, never ids or addresses (those go in ``detail``, which is logged only).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import trio

from synctv import metrics

log = logging.getLogger("synctv.supervision")

# Restart backoff for long-lived services: a quick first retry (a transient fault), doubling to
# a ceiling that keeps a permanently broken service from burning CPU or flooding the log.
RESTART_BACKOFF_INITIAL_SECONDS = 0.5
RESTART_BACKOFF_MAX_SECONDS = 30.0
# A service that ran this long before crashing starts again from the initial backoff.
RESTART_BACKOFF_RESET_AFTER_SECONDS = 60.0


def containable(exc: BaseException) -> bool:
    """True for an Exception, or a group whose every leaf is one (no Cancelled inside)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(containable(inner) for inner in exc.exceptions)
    return isinstance(exc, Exception)


def record_crash(task: str, exc: BaseException, detail: str = "") -> None:
    """Log ``exc`` with its traceback and count it under ``task``: what every boundary does."""
    metrics.TASK_CRASHES.labels(task).inc()
    where = f" ({detail})" if detail else ""
    log.error(
        "%s crashed%s: %s: %s",
        task,
        where,
        type(exc).__name__,
        exc,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"task": task},
    )


@contextlib.contextmanager
def boundary(task: str, detail: str = "") -> Iterator[None]:
    """Contain unexpected exceptions raised in the block: log, count, and carry on after it.

    Use where the block is one unit of work (a connection, a request, a stream task) whose end
    is the right answer to a bug inside it. Cancellation passes through.
    """
    try:
        yield
    except BaseException as exc:
        if not containable(exc):
            raise
        record_crash(task, exc, detail)


async def contained(task: str, async_fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """``await async_fn(*args)`` inside :func:`boundary`; the shape ``start_soon`` wants."""
    with boundary(task):
        await async_fn(*args)


class _StartRelay:
    """Passes the first run's ``started()`` on to the real task status; later runs' are noted."""

    def __init__(self, outer: trio.TaskStatus[Any]) -> None:
        self.outer = outer
        self.first = True
        self.started_once = False

    def started(self, value: Any = None) -> None:
        if self.first:
            self.outer.started(value)
        self.started_once = True


async def restarting(
    task: str,
    async_fn: Callable[..., Awaitable[Any]],
    *args: Any,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a long-lived service, starting it again with backoff after each crash.

    ``async_fn(*args, task_status=...)`` is started as by ``nursery.start``. A failure before
    the *first* ``started()`` is not contained: a service that cannot start at all (a port in
    use, an unusable directory) fails the server's start-up, where the operator sees it. After
    that each crash is logged and counted, and the service starts again after 0.5 s, 1 s, 2 s
    ... up to 30 s; a run that lasted a minute resets the backoff. A service that returns
    normally has chosen to stop, and so does this.
    """
    relay = _StartRelay(task_status)
    backoff = RESTART_BACKOFF_INITIAL_SECONDS
    while True:
        began = trio.current_time()
        try:
            await async_fn(*args, task_status=relay)
            return
        except BaseException as exc:
            if not relay.started_once or not containable(exc):
                raise
            record_crash(task, exc, f"restarting in {backoff:g} s")
        relay.first = False
        if trio.current_time() - began >= RESTART_BACKOFF_RESET_AFTER_SECONDS:
            backoff = RESTART_BACKOFF_INITIAL_SECONDS
        await trio.sleep(backoff)
        backoff = min(backoff * 2, RESTART_BACKOFF_MAX_SECONDS)
