"""The room channel spoken by hand, for tests that check the protocol as docs/realtime.md writes
it: JSON text frames over a plain WebSocket (trio-websocket), without ``synctv.client``.

Also the people and rooms those tests need, over REST from their own loopback addresses.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_client_stream

from tests.support.websocket import ws_client

SUBPROTOCOL = "synctv.v1"


@asynccontextmanager
async def channel(
    base: str,
    room: str,
    token: str | None = None,
    *,
    protocols: Sequence[str] = (SUBPROTOCOL,),
    query: str = "",
) -> AsyncIterator[WebSocketConnection]:
    """A WebSocket to ``/ws/rooms/{room}``, with ``Authorization: Bearer`` when ``token``."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with ws_client(base, f"/ws/rooms/{room}{query}", headers, list(protocols)) as ws:
        yield ws


async def send(ws: WebSocketConnection, message: dict[str, Any]) -> None:
    await ws.send_message(json.dumps(message))


async def receive(ws: WebSocketConnection, timeout: float = 10) -> dict[str, Any]:
    with trio.fail_after(timeout):
        message = await ws.get_message()
    assert isinstance(message, str), "every frame is a text frame"
    decoded: dict[str, Any] = json.loads(message)
    return decoded


async def receive_body(ws: WebSocketConnection, body: str, timeout: float = 10) -> dict[str, Any]:
    """The next message, which must have ``body``; that body."""
    message = await receive(ws, timeout)
    assert list(message) == [body], message
    got: dict[str, Any] = message[body]
    return got


async def silent(ws: WebSocketConnection, seconds: float) -> None:
    """Nothing arrives for ``seconds``."""
    with trio.move_on_after(seconds):
        extra = await ws.get_message()
        raise AssertionError(f"nothing more was owed: {extra!r}")


async def closed_with(ws: WebSocketConnection, timeout: float = 10) -> int | None:
    """Read until the server closes; its close code (messages on the way are dropped)."""
    with trio.fail_after(timeout):
        try:
            while True:
                await ws.get_message()
        except ConnectionClosed as closed:
            return closed.reason.code if closed.reason else None


async def refused(ws: WebSocketConnection) -> tuple[str, int | None]:
    """(error code, close code) of a connection the server refuses."""
    error = await receive_body(ws, "error")
    return error["code"], await closed_with(ws)


async def hello(ws: WebSocketConnection, resume_from: int | None = None) -> None:
    body = {} if resume_from is None else {"resumeFrom": str(resume_from)}
    await send(ws, {"hello": body})


@dataclass(frozen=True)
class Account:
    id: str
    token: str
    address: str  # the loopback address its REST calls come from

    async def call(self, base: str, method: str, path: str, body: Any = None) -> httpx.Response:
        transport = httpx.AsyncHTTPTransport(local_address=self.address)
        async with httpx.AsyncClient(base_url=base, transport=transport, timeout=30) as http:
            return await http.request(
                method, path, json=body, headers={"authorization": f"Bearer {self.token}"}
            )

    async def ok(self, base: str, method: str, path: str, body: Any = None) -> Any:
        response = await self.call(base, method, path, body)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None


@dataclass(frozen=True)
class Site:
    """A running server and three accounts on it: an owner, a member and a visitor."""

    base: str
    owner: Account
    member: Account
    visitor: Account
    data_dir: Path  # for the admin CLI (management socket)


async def room_with_media(base: str, owner: Account, member: Account | None) -> tuple[str, str]:
    """(room id, media id): a public room of ``owner``'s playing one URL, ``member`` joined."""
    with trio.fail_after(5):  # a raised room limit takes effect when its notification arrives
        while (made := await owner.call(base, "POST", "/api/rooms", {"name": "c"})).status_code:
            if made.json().get("code") != "room_limit_reached":
                break
            await trio.sleep(0.1)
    assert made.status_code < 300, made.text
    room = made.json()["room"]["id"]
    if member is not None:
        await member.ok(base, "PUT", f"/api/rooms/{room}/members/@me")
    items = {"items": [{"name": "a", "source": {"kind": "url", "url": "https://h.test/a"}}]}
    media = (await owner.ok(base, "POST", f"/api/rooms/{room}/media", items))["media"][0]["id"]
    await owner.ok(base, "POST", f"/api/rooms/{room}/playback/start", {"mediaId": media})
    return room, media


async def answer_and_event(ws: WebSocketConnection) -> tuple[dict[str, Any], dict[str, Any]]:
    """A command's ``playbackState`` answer and its ``playback_changed`` event, which arrive in
    either order (the answer is the reader's, the event the room's stream)."""
    got: dict[str, dict[str, Any]] = {}
    while len(got) < 2:
        message = await receive(ws)
        (body,) = message
        assert body in {"playbackState", "event"}, message
        assert body not in got, message
        got[body] = message[body]
    assert got["event"]["type"] == "playback_changed"
    return got["playbackState"], got["event"]


@asynccontextmanager
async def killable_channel(
    base: str, room: str, token: str
) -> AsyncIterator[tuple[WebSocketConnection, Callable[[], None]]]:
    """A channel and a ``kill()`` that drops its TCP connection at once (RST, no close
    handshake), as a client whose process dies or whose network vanishes."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    linger = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close sends RST

    def kill() -> None:
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        stream.socket.close()

    async with stream, trio.open_nursery() as nursery:
        ws = await wrap_client_stream(
            nursery,
            stream,
            host,
            f"/ws/rooms/{room}",
            subprotocols=[SUBPROTOCOL],
            extra_headers=[(b"authorization", f"Bearer {token}".encode())],
        )
        try:
            yield ws, kill
        finally:
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def slow_channel(base: str, room: str, token: str) -> AsyncIterator[WebSocketConnection]:
    """A channel whose socket asks the kernel for the smallest receive buffer, so that a test
    that stops reading fills the path to it quickly."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    await sock.connect((host, int(port)))
    stream = trio.SocketStream(sock)
    async with stream, trio.open_nursery() as nursery:
        ws = await wrap_client_stream(
            nursery,
            stream,
            host,
            f"/ws/rooms/{room}",
            subprotocols=[SUBPROTOCOL],
            extra_headers=[(b"authorization", f"Bearer {token}".encode())],
        )
        try:
            yield ws
        finally:
            await ws.aclose()
            nursery.cancel_scope.cancel()
