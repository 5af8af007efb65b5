"""``GET /ws/rooms/{room}``: the realtime room channel over a WebSocket (docs/realtime.md).

This is the WebSocket's part: authenticate (the REST authenticator: ``Authorization: Bearer``,
or a one-time ``?ticket=`` from ``POST /api/tickets`` for browsers, bound to this room), check
the caller may be in the room (a member, an admitted guest, or a platform admin; anyone else is
refused as if the room did not exist), accept with the ``synctv.v1`` subprotocol, wait for
``hello``; then :class:`synctv.api.room_session.RoomSessions` runs the session over
:class:`WebSocketTransport` (JSON text frames). There are no server pings: hypercorn's
``websocket_ping_interval`` breaks its trio worker's upgrades (measured: the doctor's WebSocket
check fails with it on); clients report every 2 s, which keeps NATs open, and the idle limit
closes a connection that sent nothing for 300 s.

Refusals after the handshake close the connection with an application code: 4401 not signed in,
4403 not allowed, 4404 no such room, 4429 a connection cap reached, 4400 a protocol error (no
hello, a bad first message), 4408 too slow to keep up; a kick, a ban, the room's deletion or a
lost access are sent as ``termination`` first (their events reach the connection through the
hub), then closed 4403 or 4404.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Annotated, Any

import trio
from fastapi import APIRouter, Path
from pydantic import Field

from synctv import errors
from synctv.api import room_session
from synctv.api.grpc._gen.synctv.v1 import realtime_pb2
from synctv.api.http.asgi import WebSocketRoute
from synctv.api.http.principal import socket_principal
from synctv.api.http.routes.auth import CamelModel, refusals
from synctv.api.http.routes.rooms import Who
from synctv.api.http.websocket import WebSocket, WebSocketClosed
from synctv.api.http.ws_raw import ConnectionWriter
from synctv.api.realtime_messages import (
    MAX_MESSAGE_BYTES,
    SUBPROTOCOL,
    Frame,
    InvalidMessage,
    encode,
    error_frame,
    parse_client,
)
from synctv.api.room_session import (
    CLOSE_BAD_MESSAGE,
    CLOSE_FOR,
    CLOSE_FORBIDDEN,
    ChannelClosed,
    RoomSessions,
)
from synctv.core.permissions import Permission
from synctv.core.rooms import Caller, RoomService
from synctv.errors import DomainError
from synctv.realtime.presence import PresenceBook


class WebSocketTransport:
    """The session's wire over a WebSocket: canonical JSON in text frames.

    Frames the room hub made for many connections are written below ASGI when the connection
    allows it (:mod:`synctv.api.http.ws_raw`: a plain HTTP/1.1 connection on our server): the
    frame's bytes made once for every connection, several frames in one write, written by the
    hub's pass itself while the socket takes them (:meth:`immediate`). Elsewhere (HTTP/2, TLS,
    another ASGI server) every message is one ASGI ``websocket.send``, as the connection's own
    messages (welcome, answers, errors) always are."""

    def __init__(self, socket: WebSocket) -> None:
        self._socket = socket
        self._writer: ConnectionWriter | None = None

    async def receive(self) -> realtime_pb2.ClientMessage:
        try:
            frame = await self._socket.receive()
        except WebSocketClosed:
            raise ChannelClosed from None
        return parse_client(frame)

    async def send(self, message: realtime_pb2.ServerMessage) -> None:
        await self._send_text(encode(message))

    async def send_frame(self, frame: Frame) -> None:
        await self._send_text(frame.text)

    async def send_frames(self, frames: list[Any]) -> None:
        writer = self._writer
        if writer is None:
            for frame in frames:
                await self._send_text(frame.text)
            return
        if self._socket.closed:
            raise ChannelClosed
        # A bytes item is the rest of a write that immediate() began: it goes first, whole.
        await writer.write(b"".join(f if type(f) is bytes else f.wire for f in frames))

    def immediate(self) -> Callable[[list[Any]], list[Any] | None] | None:
        self._writer = self._socket.raw_writer()
        return None if self._writer is None else self._write_now

    def _write_now(self, frames: list[Any]) -> list[Any] | None:
        writer = self._writer
        if writer is None or self._socket.closed:
            return frames
        data = frames[0].wire if len(frames) == 1 else b"".join(f.wire for f in frames)
        written = writer.try_write(data)
        if written == len(data):
            return None
        return frames if written == 0 else [data[written:]]

    async def close(self, code: int) -> None:
        try:
            await self._socket.close(code)
        except WebSocketClosed:
            raise ChannelClosed from None

    async def _send_text(self, text: str) -> None:
        try:
            await self._socket.send(text)
        except WebSocketClosed:
            raise ChannelClosed from None


class RoomChannel:
    def __init__(self, sessions: RoomSessions) -> None:
        self._sessions = sessions

    def route(self) -> WebSocketRoute:
        return WebSocketRoute("/ws/rooms/{room_id}", self.serve, "room_channel")

    async def serve(self, socket: WebSocket) -> None:
        with ExitStack() as held:  # the connection's slot, once admitted
            await self._serve(socket, held)

    async def _serve(self, socket: WebSocket, held: ExitStack) -> None:
        room_id = socket.path_params["room_id"]
        # The channel's own bound (docs/realtime.md: 64 KiB, close 1009), below the server's
        # general WebSocket one; the socket closes with 1009 itself.
        socket.max_message_bytes = MAX_MESSAGE_BYTES
        offered = [p.strip() for p in (socket.header("sec-websocket-protocol") or "").split(",")]
        try:
            principal = await socket_principal(socket.scope)
            if principal.room_id is not None and principal.room_id != room_id:
                raise DomainError(
                    errors.UNAUTHENTICATED, "this ticket or token is for another room"
                )
            caller = Caller(
                principal.user_id,
                principal.role,
                principal.room_id if principal.role == "guest" else None,
                socket.client_host,
                socket.request_id,
                principal.session_id,
            )
            access = await self._sessions.admit(caller, room_id)
            held.enter_context(self._sessions.slot(caller, room_id))
        except DomainError as exc:
            await self._refuse(socket, exc, offered)
            return
        await socket.accept(SUBPROTOCOL if SUBPROTOCOL in offered else None)
        if SUBPROTOCOL not in offered:
            await socket.send(error_frame("invalid_request", f"use the {SUBPROTOCOL} subprotocol"))
            await socket.close(CLOSE_BAD_MESSAGE)
            return
        with trio.move_on_after(room_session.HELLO_TIMEOUT_SECONDS) as waited:
            first = await socket.receive()
        if waited.cancelled_caught:
            await socket.send(error_frame("invalid_request", "send hello first"))
            await socket.close(CLOSE_BAD_MESSAGE)
            return
        try:
            hello = parse_client(first)
            if hello.WhichOneof("body") != "hello":
                raise InvalidMessage("the first message is hello")
        except InvalidMessage as exc:
            await socket.send(error_frame("invalid_request", str(exc)))
            await socket.close(CLOSE_BAD_MESSAGE)
            return
        try:
            await self._sessions.run(
                WebSocketTransport(socket), caller, access, hello.hello.resume_from
            )
        except ChannelClosed:
            pass

    async def _refuse(self, socket: WebSocket, exc: DomainError, offered: list[str]) -> None:
        """Accept, say why, close with the code: a browser sees neither the status of a refused
        upgrade nor its body, so the reason travels in the connection itself."""
        await socket.accept(SUBPROTOCOL if SUBPROTOCOL in offered else None)
        await socket.send(error_frame(exc.error.code, exc.message, details=exc.details))
        await socket.close(CLOSE_FOR.get(exc.error.code, CLOSE_FORBIDDEN))


class PresenceOut(CamelModel):
    connection_id: str
    user_id: str
    role: str
    buffering: bool
    drift: float | None = Field(
        description="Seconds ahead (+) or behind (-) the room; null: no report yet."
    )


class RoomPresenceOut(CamelModel):
    online: list[PresenceOut]
    worst_drift: float | None = Field(description="The largest absolute drift, seconds.")
    buffering: list[str] = Field(description="User ids whose players are buffering.")


def presence_router(rooms: RoomService, book: PresenceBook) -> APIRouter:
    router = APIRouter(prefix="/api/rooms", tags=["rooms"])

    @router.get(
        "/{room_id}/presence",
        response_model=RoomPresenceOut,
        responses=refusals(
            (401, "`authentication_required`"),
            (403, "`permission_denied` (view_members)"),
            (404, "`room_not_found`"),
        ),
    )
    async def presence(who: Who, room_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Any:
        """Who is connected to the room's channel now, each player's buffering state and drift
        (``view_members``)."""
        access = await rooms.access(who, room_id)
        access.require(Permission.VIEW_MEMBERS)
        room = book.room(room_id)
        return RoomPresenceOut(
            online=[
                PresenceOut(
                    connection_id=p.connection_id,
                    user_id=p.user_id,
                    role=p.role,
                    buffering=p.buffering,
                    drift=p.drift,
                )
                for p in room.members()
            ],
            worst_drift=room.worst_drift(),
            buffering=room.buffering(),
        )

    return router
