"""The layers around the tree: signals, the data_dir lock, the asyncio bridge, the database.

Signals: the watcher runs from the very start, so a signal never meets Python's default handling
(a KeyboardInterrupt mid start-up, or SIGTERM killing the process with PostgreSQL left running).
The first SIGINT/SIGTERM stops gracefully: during start-up it cancels the start-up (PostgreSQL
still gets its fast shutdown); once serving it calls :meth:`Controller.shutdown`. The second
aborts: :meth:`Controller.abort`, no drain.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import trio
import trio_asyncio

from synctv import metrics
from synctv.app.feature import RouteFactory
from synctv.app.tree import Controller, serve_tree
from synctv.config import Config
from synctv.state import open_state
from synctv.store.db import open_database
from synctv.store.embedded_pg import run_embedded_postgres
from synctv.store.migrations import migrate
from synctv.store.secrets import load_or_create_secrets

log = logging.getLogger("synctv.app")

T = TypeVar("T")

# flock'd by the process that owns data_dir (serve or migrate); holds that process's pid.
LOCK_NAME = "synctv.lock"


class DataDirInUse(Exception):
    """Another synctv process holds the data_dir lock; nothing was touched."""


async def serve(
    config: Config,
    *,
    extra_routes: RouteFactory | None = None,
    handle_signals: bool = True,
    task_status: trio.TaskStatus[Controller] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the server until shut down. ``extra_routes`` is the embedding (and test) seam.

    Returns normally after a graceful stop, including one that a signal caused during start-up.
    """
    await _stoppable(partial(_serve_database, config, extra_routes, task_status), handle_signals)


async def migrate_only(config: Config, *, handle_signals: bool = True) -> list[int] | None:
    """``synctv migrate``: apply pending migrations; ``None`` when a signal stopped it first."""
    return await _stoppable(partial(_migrate_database, config), handle_signals)


@contextlib.contextmanager
def prepare_data_dir(config: Config) -> Iterator[None]:
    """Own ``data_dir`` for as long as the block runs: lock it first, then make it private.

    The lock comes before anything in the directory is touched: a second instance must not get
    as far as stopping the running server's PostgreSQL as a "leftover". It is an exclusive
    ``flock`` on ``data_dir/synctv.lock``, which the kernel drops when the process dies however
    it dies (kill -9 included), so a crash never leaves a stale lock; the descriptor is
    close-on-exec, so PostgreSQL (a child) never holds it. Raises :class:`DataDirInUse`.
    """
    config.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(config.data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise DataDirInUse(
                f"another synctv is running with data_dir {config.data_dir} (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.chmod(config.data_dir, 0o700)  # secrets, the admin socket and the database live here
        yield
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


@dataclass
class _Lifecycle:
    """What a signal means as the process moves from start-up to serving."""

    scope: trio.CancelScope = field(default_factory=trio.CancelScope)  # all but the watcher
    controller: Controller | None = None  # set once serving

    def serving(self, controller: Controller) -> None:
        self.controller = controller

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.shutdown()
        else:
            log.info("stopping: start-up cancelled")
            self.scope.cancel()

    def abort(self) -> None:
        if self.controller is not None:
            self.controller.abort()
        else:  # start-up is already cancelled: PostgreSQL's fast shutdown is what remains
            self.scope.cancel()


async def _stoppable(work: Callable[[_Lifecycle], Awaitable[T]], handle_signals: bool) -> T | None:
    """Run ``work`` under the signal watcher; ``None`` when a signal cancelled it before the end.

    The watcher outlives ``work``: signals that arrive while PostgreSQL stops are still ours.
    """
    life = _Lifecycle()
    result: T | None = None
    async with trio.open_nursery() as watcher:
        if handle_signals:
            await watcher.start(_watch_signals, life)
        with life.scope:
            result = await work(life)
        watcher.cancel_scope.cancel()
    return result


async def _serve_database(
    config: Config,
    extra_routes: RouteFactory | None,
    task_status: trio.TaskStatus[Controller],
    life: _Lifecycle,
) -> None:
    with prepare_data_dir(config):
        log.info("starting", extra={"data_dir": str(config.data_dir)})
        secrets = load_or_create_secrets(config)
        async with trio_asyncio.open_loop() as loop, trio.open_nursery() as infra:
            loop.set_exception_handler(_AsyncioErrors().handle)
            dsn, kind = await _database_dsn(config, infra)
            async with (
                open_database(
                    dsn,
                    min_size=config.database.pool_min_size,
                    max_size=config.database.pool_max_size,
                    connect_timeout=config.database.connect_timeout_seconds,
                    query_timeout=config.database.query_timeout_seconds,
                ) as db,
                open_state(config.redis) as state,
            ):
                applied = await migrate(db)
                if applied:
                    log.info("applied migrations %s", applied)
                await serve_tree(
                    config, secrets, db, state, kind, extra_routes, life.serving, task_status
                )
            infra.cancel_scope.cancel()


async def _migrate_database(config: Config, life: _Lifecycle) -> list[int]:
    with prepare_data_dir(config):
        async with trio_asyncio.open_loop(), trio.open_nursery() as infra:
            dsn, _ = await _database_dsn(config, infra)
            async with open_database(
                dsn, min_size=1, max_size=2, connect_timeout=config.database.connect_timeout_seconds
            ) as db:
                applied = await migrate(db)
            infra.cancel_scope.cancel()
    return applied


async def _database_dsn(config: Config, infra: trio.Nursery) -> tuple[str, str]:
    if config.database.url is not None:
        return config.database.url.get_secret_value(), "external"
    cluster = await infra.start(run_embedded_postgres, config.data_dir / "postgres")
    return cluster.dsn, "embedded"


class _AsyncioErrors:
    """The asyncio loop's exception handler: log and count, never raise.

    trio-asyncio's default handler re-raises into the loop's nursery, which is the root of
    everything: an ``accept()`` of the management socket failing with EMFILE (asyncio reports it
    here and retries by itself a second later) would end the process. Repeats of one message are
    logged once per interval.
    """

    INTERVAL_SECONDS = 10.0

    def __init__(self) -> None:
        self._last_logged: dict[str, float] = {}

    def handle(self, loop: object, context: dict[str, Any]) -> None:
        message = str(context.get("message") or "unhandled error in the asyncio loop")
        error = context.get("exception")
        metrics.TASK_CRASHES.labels("asyncio_loop").inc()
        now = time.monotonic()
        last = self._last_logged.get(message)
        if last is not None and now - last < self.INTERVAL_SECONDS:
            return
        if len(self._last_logged) > 256:  # bounded: messages are few, but never trust that
            self._last_logged.clear()
        self._last_logged[message] = now
        exc_info = (type(error), error, error.__traceback__) if error is not None else None
        log.error("asyncio: %s: %s", message, error or "", exc_info=exc_info)


async def _watch_signals(
    life: _Lifecycle, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        received = 0
        async for signum in signals:
            received += 1
            log.info("received %s", signal.Signals(signum).name)
            if received == 1:
                life.stop()
            else:
                life.abort()
