"""A trio-websocket client on a socket the test owns: trio-websocket's own connect leaks the
socket when the server closes first, which the suite's warnings-as-errors would report."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_client_stream


@asynccontextmanager
async def ws_client(
    base: str,
    resource: str,
    headers: dict[str, str] | None = None,
    subprotocols: Sequence[str] | None = None,
) -> AsyncIterator[WebSocketConnection]:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    extra = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    async with (
        await trio.open_tcp_stream(host, int(port)) as stream,
        trio.open_nursery() as nursery,
    ):
        connection = await wrap_client_stream(
            nursery, stream, host, resource, subprotocols=subprotocols, extra_headers=extra
        )
        try:
            yield connection
        finally:
            await connection.aclose()
            nursery.cancel_scope.cancel()


async def open_with(base: str, room: str, ticket: str) -> tuple[dict[str, Any], int | None]:
    """Open the channel with ``?ticket=``; the first message and the close code (None: open)."""
    async with ws_client(
        base, f"/ws/rooms/{room}?ticket={ticket}", subprotocols=["synctv.v1"]
    ) as ws:
        await ws.send_message(json.dumps({"hello": {}}))
        with trio.fail_after(10):
            first = json.loads(await ws.get_message())
        with trio.move_on_after(1):  # a refused connection closes at once; an open one stays
            try:
                await ws.get_message()
            except ConnectionClosed as closed:
                return first, closed.reason.code
        return first, None
