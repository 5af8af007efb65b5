"""Waiting in tests for what has no event to wait on: a state in another process or task."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import trio


async def eventually(check: Callable[[], Awaitable[bool] | bool], seconds: float = 10) -> None:
    """Polls ``check`` (sync or async) every 10 ms for up to ``seconds`` (a notification
    arrives in milliseconds)."""
    with trio.move_on_after(seconds):
        while True:
            seen = check()
            if inspect.isawaitable(seen):
                seen = await seen
            if seen:
                return
            await trio.sleep(0.01)
    raise AssertionError(f"not seen within {seconds:g} s")
