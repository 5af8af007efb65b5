"""A scripted stand-in for the server side of the room channel (docs/realtime.md), to check a
client against the document: a small trio-websocket server whose every connection is handed to
a test's script, after checking the handshake the document asks for (path, subprotocol,
credentials). The script plays the server's messages and reads the client's."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio
from trio_websocket import WebSocketConnection, WebSocketRequest, serve_websocket

SUBPROTOCOL = "synctv.v1"


@dataclass
class FakeClock:
    """The fake server's clock: the machine's, shifted by ``offset`` seconds."""

    offset: float = 0.0

    def now(self) -> float:
        return time.time() + self.offset


@dataclass
class Peer:
    """One accepted client connection, as the script sees it."""

    ws: WebSocketConnection
    path: str
    headers: dict[str, str]
    clock: FakeClock

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_message(json.dumps(message))

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        with trio.fail_after(timeout):
            decoded: dict[str, Any] = json.loads(await self.ws.get_message())
        return decoded

    async def answer_clock(self, uplink: float = 0.0, downlink: float = 0.0) -> dict[str, Any]:
        """Take one ``clock`` ping and answer it, as if the ping took ``uplink`` seconds to
        arrive and the answer ``downlink`` seconds to leave (asymmetric paths)."""
        ping = await self.receive()
        await trio.sleep(uplink)
        received = self.clock.now()
        ack = {"clientSent": ping["clock"]["clientSent"], "serverReceived": received}
        ack["serverSent"] = self.clock.now()
        await trio.sleep(downlink)
        await self.send({"clockAck": ack})
        return ping

    def playback(self, **fields: Any) -> dict[str, Any]:
        """A playback state stamped with this server's time now."""
        state = {
            "mediaId": "m1", "kind": "regular", "position": 0.0, "speed": 1.0, "playing": False,
            "version": "1", "duration": 600.0, "serverTime": self.clock.now(),
        }  # fmt: skip
        state.update(fields)
        return state


Script = Callable[[Peer], Awaitable[None]]


@dataclass
class FakeRoomServer:
    base: str
    connections: list[Peer] = field(default_factory=list)


@asynccontextmanager
async def fake_room_server(
    scripts: list[Script], clock: FakeClock | None = None
) -> AsyncIterator[FakeRoomServer]:
    """Serve on loopback; the n-th connection runs ``scripts[n]``, then is closed (1000)."""
    clock = clock or FakeClock()
    pending = list(scripts)
    fake = FakeRoomServer("")

    async def handler(request: WebSocketRequest) -> None:
        assert SUBPROTOCOL in request.proposed_subprotocols, request.proposed_subprotocols
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        ws = await request.accept(subprotocol=SUBPROTOCOL)
        peer = Peer(ws, request.path, headers, clock)
        fake.connections.append(peer)
        await pending.pop(0)(peer)
        await ws.aclose()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(serve_websocket, handler, "127.0.0.1", 0, None))
        fake.base = f"http://127.0.0.1:{server.port}"
        yield fake
        nursery.cancel_scope.cancel()
