"""A trio-websocket client on a socket the test owns: trio-websocket's own connect leaks the
socket when the server closes first, which the suite's warnings-as-errors would report; and the
room channel's open, send, receive and refusal steps as the channel tests take them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_client_stream

if TYPE_CHECKING:
    from tests.support.rooms import Member


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


@asynccontextmanager
async def channel(
    base: str, room: str, who: Member | None, protocol: str = "synctv.v1"
) -> AsyncIterator[WebSocketConnection]:
    """The room channel, with ``who``'s bearer token (None: no credentials)."""
    headers = {"authorization": who.header} if who is not None else {}
    async with ws_client(base, f"/ws/rooms/{room}", headers, [protocol]) as ws:
        yield ws


async def receive(ws: WebSocketConnection) -> dict[str, Any]:
    with trio.fail_after(10):
        return json.loads(await ws.get_message())  # type: ignore[no-any-return]


async def send(ws: WebSocketConnection, message: dict[str, Any]) -> None:
    await ws.send_message(json.dumps(message))


async def refused(ws: WebSocketConnection) -> tuple[str, int | None]:
    """The refusal's error code and the close code that follows it."""
    error = await receive(ws)
    with trio.fail_after(10), pytest.raises(ConnectionClosed):
        await ws.get_message()
    assert ws.closed is not None
    return error["error"]["code"], ws.closed.code


async def nothing_more(ws: WebSocketConnection, seconds: float = 0.5) -> None:
    """Nothing arrives within ``seconds``."""
    with trio.move_on_after(seconds):
        extra = await ws.get_message()
        raise AssertionError(f"nothing more was owed: {extra}")
