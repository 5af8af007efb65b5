"""ASGI WebSocket connections for the dispatcher's WebSocket routes (the realtime room channel).

A route handler gets a :class:`WebSocket`, must :meth:`~WebSocket.accept` within the handshake
timeout (else the upgrade is refused: hypercorn answers 403), then receives and sends messages.
A message larger than the maximum closes the connection with 1009 (hypercorn is configured with
the same bound, so an oversized frame never reaches memory whole); a client that leaves makes
:meth:`~WebSocket.receive` raise :class:`WebSocketClosed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from synctv.api.http.asgi_types import Receive, Scope, Send
from synctv.api.http.ws_raw import CONNECTION_WRITER, ConnectionWriter

# RFC 6455 §7.4.1 close codes used here.
CLOSE_NORMAL = 1000
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011


class WebSocketClosed(Exception):
    """The connection is closed (by the client, or by us for a protocol reason)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"websocket closed with {code}")
        self.code = code


@dataclass(slots=True)
class WebSocket:
    """One WebSocket connection; ``handshake`` is cancelled at the handshake deadline."""

    scope: Scope
    _receive: Receive
    _send: Send
    max_message_bytes: int
    handshake: trio.CancelScope
    request_id: str = ""
    path_params: dict[str, str] = field(default_factory=dict)
    accepted: bool = False
    closed: bool = False

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def client_host(self) -> str | None:
        client = self.scope.get("client")
        return str(client[0]) if client else None

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode("latin-1")
        for key, value in self.scope["headers"]:
            if key == wanted:
                return bytes(value).decode("latin-1")
        return None

    async def accept(self, subprotocol: str | None = None) -> None:
        """Complete the handshake (echoing the request id); the handshake deadline ends."""
        headers = [(b"x-request-id", self.request_id.encode("latin-1"))]
        await self._send(
            {"type": "websocket.accept", "subprotocol": subprotocol, "headers": headers}
        )
        self.accepted = True
        self.handshake.deadline = float("inf")

    def raw_writer(self) -> ConnectionWriter | None:
        """The connection's raw frame writer (:mod:`synctv.api.http.ws_raw`) once accepted, for
        frames encoded once for many connections; None over HTTP/2, TLS or another server."""
        if not self.accepted or self.closed or self.scope.get("http_version") != "1.1":
            return None
        writer = (self.scope.get("state") or {}).get(CONNECTION_WRITER)
        return writer if isinstance(writer, ConnectionWriter) else None

    async def receive(self) -> str | bytes:
        """The next message; raises :class:`WebSocketClosed` when the connection ends."""
        if self.closed:
            raise WebSocketClosed(CLOSE_NORMAL)
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.closed = True
            raise WebSocketClosed(int(message.get("code", CLOSE_NORMAL)))
        text, data = message.get("text"), message.get("bytes")
        payload: str | bytes = text if text is not None else bytes(data or b"")
        size = len(payload.encode()) if isinstance(payload, str) else len(payload)
        if size > self.max_message_bytes:
            await self.close(CLOSE_MESSAGE_TOO_BIG)
            raise WebSocketClosed(CLOSE_MESSAGE_TOO_BIG)
        return payload

    async def send(self, payload: str | bytes) -> None:
        if self.closed:
            raise WebSocketClosed(CLOSE_NORMAL)
        if isinstance(payload, str):
            await self._send({"type": "websocket.send", "text": payload})
        else:
            await self._send({"type": "websocket.send", "bytes": payload})

    async def close(self, code: int = CLOSE_NORMAL) -> None:
        """Close (before :meth:`accept`, this refuses the upgrade); once only."""
        if self.closed:
            return
        self.closed = True
        await self._send({"type": "websocket.close", "code": code})
