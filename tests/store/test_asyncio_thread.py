"""The database's asyncio thread, called from Trio: results and errors cross; a cancelled caller
waits for its asyncio task to end — including a task cancelled before it ever ran, whose body
(and so any finally in it) never executes."""

from __future__ import annotations

import asyncio

import pytest
import trio

from synctv.store.asyncio_thread import CANCEL_GRACE_SECONDS, running_asyncio_thread


async def test_results_and_errors_cross() -> None:
    async with running_asyncio_thread("test-loop") as thread:

        async def answer() -> int:
            await asyncio.sleep(0)
            return 42

        async def fail() -> None:
            raise ValueError("from asyncio")

        assert await thread.call(answer) == 42
        with pytest.raises(ValueError, match="from asyncio"):
            await thread.call(fail)


async def test_a_cancelled_caller_waits_for_its_task_to_end() -> None:
    ended = []

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            await asyncio.sleep(0.05)  # asyncpg cleaning a connection up, say
            ended.append(True)

    async with running_asyncio_thread("test-loop") as thread:
        with trio.move_on_after(0.1):
            await thread.call(slow)
        assert ended == [True]


async def test_a_call_cancelled_before_its_task_runs_returns_at_once() -> None:
    """The caller is cancelled before the loop thread even creates the task: the task is
    cancelled before its first step, never runs, and the caller must still be released (it
    used to wait for a signal from the body that never ran)."""
    async with running_asyncio_thread("test-loop") as thread:
        started = trio.current_time()
        for _ in range(50):
            with trio.CancelScope() as scope:
                scope.cancel()
                await thread.call(lambda: asyncio.sleep(1))
        assert trio.current_time() - started < min(5.0, CANCEL_GRACE_SECONDS)
