"""asyncpg behind a Trio-native facade: the one place SQL crosses into asyncio.

asyncpg runs on a native asyncio loop in a thread of its own (:mod:`synctv.store.asyncio_thread`),
not under trio-asyncio: that costs a fraction of the CPU per query (the module says how much).

Resource handling: every unit of work (acquire → transaction → queries → release) is ONE asyncio
coroutine run once on that loop. Cancelling the Trio caller cancels that whole coroutine and waits
for it, which asyncpg handles cleanly (it sends a cancel request for the running query and
the pool resets the connection); cancelling around half of it (a bare ``pool.acquire()``) leaves a
connection stuck in a failed transaction, which is why no other shape is offered.

Error handling: connection-level failures (server gone, refused, timed out) become
:class:`DatabaseUnavailable`, so callers fail closed with one exception type; SQL errors
(constraint violations and such) propagate as asyncpg raised them, for the repository to map.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

import asyncpg
import trio

from synctv.store.asyncio_thread import AsyncioThread, running_asyncio_thread

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("synctv.store.db")

# A closed pool may wait for in-flight queries; past this, connections are terminated.
_POOL_CLOSE_TIMEOUT_SECONDS = 5.0
# A listening connection that received nothing for this long is checked with SELECT 1, so a
# silently dead connection (no FIN) is noticed and its missed notifications reloaded.
_LISTEN_KEEPALIVE_SECONDS = 15.0

_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    # A pooled connection whose server went away mid-protocol (a PostgreSQL restart under
    # idle and listening connections) reports "cannot switch to state N; another operation is
    # in progress" on its next use: the connection is gone, not the query wrong.
    asyncpg.InternalClientError,
)


class DatabaseUnavailable(Exception):
    """The database cannot be reached or did not answer in time."""


@dataclass(frozen=True, slots=True)
class PoolStatistics:
    size: int
    idle: int
    max_size: int


class Database:
    """A pool of connections; use :func:`open_database` to get one."""

    def __init__(self, pool: Any, query_timeout: float, loop_thread: AsyncioThread) -> None:
        self._pool = pool
        self._aio = loop_thread
        self.query_timeout = query_timeout
        # Logged on change only: one line when the database goes away and one when it is back,
        # however many requests and readiness probes fail in between.
        self.available = True

    async def run(
        self,
        work: Callable[Concatenate[Any, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``work(connection, *args)`` inside one transaction, as one bridge crossing."""
        pool = self._pool

        async def unit() -> T:
            async with pool.acquire() as conn, conn.transaction():
                return await work(conn, *args, **kwargs)

        return await self._cross(unit)

    async def run_on_connection(
        self,
        work: Callable[Concatenate[Any, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``work(connection, *args)`` with no surrounding transaction (it opens its own)."""
        pool = self._pool

        async def unit() -> T:
            async with pool.acquire() as conn:
                return await work(conn, *args, **kwargs)

        return await self._cross(unit)

    async def listen(
        self,
        channel: str,
        deliver: Callable[[str], None],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """``LISTEN channel`` on a pool connection held for as long as this runs.

        Each notification's payload is passed to ``deliver``, a plain function called in the
        Trio thread in the order the notifications arrived (hand the payload to a Trio memory
        channel and return).
        ``task_status.started()`` once the LISTEN is active: a notification sent after that is
        seen. Runs until cancelled; raises :class:`DatabaseUnavailable` when the connection is
        lost (or stops answering), since notifications sent meanwhile are gone and the caller
        must assume it missed some.
        """
        pool = self._pool
        ready = trio.Event()
        token = trio.lowlevel.current_trio_token()

        async def unit() -> None:
            async with pool.acquire() as conn:
                lost = asyncio.Event()

                def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
                    token.run_sync_soon(deliver, payload)

                def on_lost(_conn: Any) -> None:
                    lost.set()

                conn.add_termination_listener(on_lost)
                await conn.add_listener(channel, on_notify)
                try:
                    token.run_sync_soon(ready.set)
                    while not lost.is_set():
                        try:
                            await asyncio.wait_for(lost.wait(), _LISTEN_KEEPALIVE_SECONDS)
                        except TimeoutError:  # quiet: make sure the connection is still there
                            await asyncio.wait_for(conn.fetchval("SELECT 1"), self.query_timeout)
                finally:
                    # Back to the pool clean (UNLISTEN); a lost connection has nothing to undo
                    # (the pool has already taken it back, and says so with InterfaceError).
                    with contextlib.suppress(*_UNAVAILABLE, asyncpg.PostgresError):
                        conn.remove_termination_listener(on_lost)
                        await conn.remove_listener(channel, on_notify)

        async def listening() -> None:
            try:
                await self._aio.call(unit)
            except _UNAVAILABLE as exc:
                raise DatabaseUnavailable(_describe(exc)) from exc

        async with trio.open_nursery() as nursery:
            nursery.start_soon(listening)
            await ready.wait()
            task_status.started()
        raise DatabaseUnavailable(f"the connection listening on {channel} was lost")

    async def fetch(self, sql: str, *args: object) -> list[Any]:
        return await self._cross(lambda: self._pool.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: object) -> Any:
        return await self._cross(lambda: self._pool.fetchrow(sql, *args))

    async def fetchval(self, sql: str, *args: object) -> Any:
        return await self._cross(lambda: self._pool.fetchval(sql, *args))

    async def execute(self, sql: str, *args: object) -> str:
        return await self._cross(lambda: self._pool.execute(sql, *args))

    async def ping(self, timeout: float) -> bool:
        """Whether the database answers ``SELECT 1`` within ``timeout`` seconds."""
        with trio.move_on_after(timeout):
            try:
                return bool(await self.fetchval("SELECT 1") == 1)
            except DatabaseUnavailable:
                return False
        return False

    def statistics(self) -> PoolStatistics:
        return PoolStatistics(
            size=self._pool.get_size(),
            idle=self._pool.get_idle_size(),
            max_size=self._pool.get_max_size(),
        )

    async def _cross(self, unit: Callable[[], Awaitable[T]]) -> T:
        # The time limit is Trio's: cancelling the unit is the same clean cancellation as a
        # cancelled caller, and costs nothing on the asyncio side while it does not fire.
        try:
            with trio.move_on_after(self.query_timeout) as limit:
                result: T = await self._aio.call(unit)
            if limit.cancelled_caught:
                raise TimeoutError
        except _UNAVAILABLE as exc:
            error = DatabaseUnavailable(_describe(exc))
            if self.available and not isinstance(exc, TimeoutError):  # slow is not down
                self.available = False
                log.warning("database down: %s", _first_line(str(error)))
            raise error from exc
        if not self.available:
            self.available = True
            log.info("database up again")
        return result


async def _keep_session(_connection: Any) -> None:
    """A connection goes back to the pool without asyncpg's reset query (one round trip and about
    75 µs of CPU per unit of work). asyncpg still ends an open transaction and drops listeners;
    what the query would also undo never outlives a unit here: no code sets session variables,
    :meth:`Database.listen` UNLISTENs itself, and the migrator releases its advisory lock."""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "database did not answer in time"
    return f"database unavailable: {exc or type(exc).__name__}"


@asynccontextmanager
async def open_database(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    connect_timeout: float = 10.0,
    query_timeout: float = 30.0,
) -> AsyncIterator[Database]:
    """Start the database's asyncio thread, create the pool there, and close both on exit.

    Raises :class:`DatabaseUnavailable` when the first connections cannot be made.
    """

    async def create() -> Any:
        return await asyncpg.create_pool(
            dsn,
            min_size=min(min_size, max_size),
            max_size=max_size,
            timeout=connect_timeout,
            command_timeout=query_timeout,
            reset=_keep_session,
        )

    async with running_asyncio_thread("synctv-database") as loop_thread:
        try:
            pool = await loop_thread.call(create)
        except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:
            raise DatabaseUnavailable(f"cannot connect to the database: {exc}") from exc
        try:
            yield Database(pool, query_timeout, loop_thread)
        finally:

            async def close() -> None:
                try:
                    await asyncio.wait_for(pool.close(), _POOL_CLOSE_TIMEOUT_SECONDS)
                except (TimeoutError, *_UNAVAILABLE):
                    pool.terminate()

            with trio.CancelScope(shield=True):
                await loop_thread.call(close)
