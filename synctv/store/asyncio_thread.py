"""A native asyncio event loop in its own thread, called from Trio.

Why not trio-asyncio for the database: asyncpg under trio-asyncio's loop spends about 700 µs of
CPU per query in the emulated loop and its transports, plus about 265 µs crossing the bridge
(measured with ``bench/auth_bench.py``: 7.1 ms of server CPU per OPAQUE login, most of it in
the login's database queries). asyncpg on the standard library's own loop needs a fraction of
that; the price is one thread and two cross-thread wake-ups per unit of work.

Cancellation keeps the database's rule (see :mod:`synctv.store.db`): a cancelled Trio caller
cancels the whole asyncio task and *waits for it to end*, so a connection goes back to the pool
only after asyncpg has cleaned it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import trio

T = TypeVar("T")

log = logging.getLogger("synctv.store.asyncio_thread")

# How long a cancelled caller waits for its asyncio task to finish cleaning up (asyncpg cancels
# the running query and resets the connection: milliseconds) before giving up on it.
CANCEL_GRACE_SECONDS = 30.0


class AsyncioThread:
    """One asyncio loop running in a daemon thread; :meth:`call` runs a coroutine there."""

    def __init__(self, name: str) -> None:
        # The class itself, not the policy: trio-asyncio's policy (installed when it is imported)
        # refuses to make a loop inside Trio, and this one is not its kind anyway.
        self.loop = asyncio.SelectorEventLoop()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            self.loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()
            self._stopped.set()

    def start(self) -> None:
        self._thread.start()

    async def stop(self) -> None:
        """Stop the loop (cancelling what still runs there) and wait for the thread to end."""
        with contextlib.suppress(RuntimeError):  # already closed
            self.loop.call_soon_threadsafe(self.loop.stop)
        await trio.to_thread.run_sync(self._stopped.wait, abandon_on_cancel=True)

    async def call(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work()`` on the loop and return its result (or raise its exception).

        If the Trio caller is cancelled, the asyncio task is cancelled and awaited to its end
        before :class:`trio.Cancelled` propagates.
        """
        token = trio.lowlevel.current_trio_token()
        finished = trio.Event()
        outcome: list[Any] = []  # [True, value] or [False, exception]

        def settle(task: asyncio.Task[T]) -> None:
            # A done callback, not a finally in the coroutine: a task cancelled before its first
            # step never runs its body (so no finally), but its done callbacks always run.
            if task.cancelled():
                outcome[:] = [False, asyncio.CancelledError()]
            elif (error := task.exception()) is not None:
                outcome[:] = [False, error]
            else:
                outcome[:] = [True, task.result()]
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(finished.set)

        async def runner() -> T:
            return await work()

        tasks: list[asyncio.Task[T]] = []

        def start() -> None:
            task = self.loop.create_task(runner())
            task.add_done_callback(settle)
            tasks.append(task)

        self.loop.call_soon_threadsafe(start)
        try:
            await finished.wait()
        except trio.Cancelled:
            self.loop.call_soon_threadsafe(lambda: tasks[0].cancel())
            with trio.CancelScope(shield=True) as grace:
                grace.deadline = trio.current_time() + CANCEL_GRACE_SECONDS
                await finished.wait()
            if grace.cancelled_caught:  # never seen; a bound, so a shutdown cannot hang on it
                log.error(
                    "an asyncio task did not end %.0f s after its cancellation",
                    CANCEL_GRACE_SECONDS,
                )
            raise
        ok, value = outcome
        if ok:
            return value  # type: ignore[no-any-return]
        if isinstance(value, asyncio.CancelledError):  # cancelled from the loop's side (stop)
            raise RuntimeError("the database loop was stopped") from value
        raise value


@asynccontextmanager
async def running_asyncio_thread(name: str) -> AsyncIterator[AsyncioThread]:
    """Start an :class:`AsyncioThread` for the duration of the block."""
    thread = AsyncioThread(name)
    thread.start()
    try:
        yield thread
    finally:
        with trio.CancelScope(shield=True):
            await thread.stop()
