"""The duration probe's read through the proxy stops once it has its bytes, however the proxy
delivers the body: from a child task of its own nursery too (as the real proxy does), where an
exception raised to stop it would come back wrapped in an ExceptionGroup."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio
import trio.lowlevel

from synctv.proxy.room_media import _fetch

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def test_the_read_stops_at_its_length_from_a_child_task() -> None:
    chunks_sent = 0

    async def serve(_token: str, _method: str, _headers: dict[str, str], send: Send) -> None:
        async def respond() -> None:
            nonlocal chunks_sent
            await send({"type": "http.response.start", "status": 206, "headers": []})
            for _ in range(1000):
                chunks_sent += 1
                await send({"type": "http.response.body", "body": b"x" * 1024, "more_body": True})
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(respond)

    status, data = await _fetch(serve, "token", 0, 10 * 1024)
    assert status == 206
    assert data == b"x" * 10 * 1024
    assert chunks_sent < 20  # it stopped reading, it did not drain the whole response
