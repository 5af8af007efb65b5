"""Waiting in tests for what has no event to wait on: a state in another process or task."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Polls ``check`` for up to 10 s (a notification arrives in milliseconds)."""
    for _ in range(1000):
        if await check():
            return
        await trio.sleep(0.01)
    raise AssertionError("not seen within 10 s")
