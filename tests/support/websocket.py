"""A trio-websocket client on a socket the test owns: trio-websocket's own connect leaks the
socket when the server closes first, which the suite's warnings-as-errors would report."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio
from trio_websocket import WebSocketConnection, wrap_client_stream


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
