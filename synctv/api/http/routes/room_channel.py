"""``GET /ws/rooms/{room}``: the realtime room channel over a WebSocket (docs/realtime.md).

One task per connection, two loops in a nursery: the *reader* takes client messages (hello,
clock, playback, report, chat, chat_delete) and answers or acts through the rooms services; the
*writer* sends what the room hub queued for this connection. Either ending ends both. There are
no server pings: hypercorn's ``websocket_ping_interval`` breaks its trio worker's upgrades
(measured: the doctor's WebSocket check fails with it on); clients report every 2 s, which keeps
NATs open, and the idle limit closes a connection that sent nothing for 300 s.

Order of a connection: authenticate (the REST authenticator: ``Authorization: Bearer``, or a
one-time ``?ticket=`` from ``POST /api/tickets`` for browsers, bound to this room), check
the caller may be in the room (a member, an admitted guest, or a platform admin; anyone else is
refused as if the room did not exist), accept with the ``synctv.v1`` subprotocol, wait for
``hello``, then send a ``welcome`` snapshot (or replay what the client missed since its
``resumeFrom`` when the room's log still has it) and join the hub's stream from that sequence.

Refusals after the handshake close the connection with an application code: 4401 not signed in,
4403 not allowed, 4404 no such room, 4400 a protocol error (no hello, a bad first message),
4408 too slow to keep up; a kick, a ban or the room's deletion are sent as ``termination``
first (their events reach the connection through the hub).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Annotated, Any, Final

import trio
from fastapi import APIRouter, Path
from pydantic import Field

from synctv import errors, metrics
from synctv.api.grpc._gen.synctv.v1 import realtime_pb2
from synctv.api.http.asgi import WebSocketRoute
from synctv.api.http.principal import socket_principal
from synctv.api.http.routes.auth import CamelModel, refusals
from synctv.api.http.routes.rooms import Who, room_out
from synctv.api.http.routes.voice_channel import VoiceSignalling
from synctv.api.http.websocket import WebSocket, WebSocketClosed
from synctv.api.realtime_messages import (
    MAX_MESSAGE_BYTES,
    SUBPROTOCOL,
    InvalidMessage,
    encode,
    error_frame,
    parse_client,
    struct,
)
from synctv.core.chat import ChatService
from synctv.core.permissions import Permission, names
from synctv.core.playlists import PlaybackView, PlaylistService, state_json
from synctv.core.rooms import Access, Caller, RoomService
from synctv.errors import DomainError
from synctv.realtime.hub import CLOSE_TOO_SLOW, RoomHub, Subscription, TooFarBehind
from synctv.realtime.limits import IDLE_SECONDS, Idle, TokenBucket
from synctv.realtime.presence import Presence, PresenceBook
from synctv.store.db import DatabaseUnavailable

log = logging.getLogger("synctv.realtime")

CLOSE_BAD_MESSAGE: Final = 4400
CLOSE_UNAUTHENTICATED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_NO_ROOM: Final = 4404
HELLO_TIMEOUT_SECONDS: Final = 10.0
# A resume at most this far behind is replayed; further behind, it gets a fresh snapshot.
REPLAY_WINDOW_EVENTS: Final = 1000
_VOICE_SIGNALLING: Final = frozenset({"voice_offer", "voice_answer", "voice_candidate"})
_CLOSE_FOR: Final = {
    "authentication_required": CLOSE_UNAUTHENTICATED,
    "token_expired": CLOSE_UNAUTHENTICATED,
    "token_revoked": CLOSE_UNAUTHENTICATED,
    "room_not_found": CLOSE_NO_ROOM,
}


def _playback_message(view: PlaybackView) -> realtime_pb2.PlaybackStateMessage:
    state = state_json(view.state, view.server_time)
    return realtime_pb2.PlaybackStateMessage(
        media_id=state["mediaId"] or "",
        kind=state["kind"],
        position=state["position"],
        speed=state["speed"],
        playing=state["playing"],
        version=state["version"],
        duration=state["duration"] or 0.0,
        server_time=state["serverTime"],
    )


def _voice_signalling(message: realtime_pb2.ClientMessage | None) -> bool:
    return message is not None and message.WhichOneof("body") in _VOICE_SIGNALLING


class RoomChannel:
    def __init__(
        self,
        rooms: RoomService,
        playlists: PlaylistService,
        hub: RoomHub,
        presence: PresenceBook,
        chat: ChatService,
        voice: VoiceSignalling,
    ) -> None:
        self._rooms = rooms
        self._playlists = playlists
        self._hub = hub
        self._presence = presence
        self._chat = chat
        self._voice = voice

    def route(self) -> WebSocketRoute:
        return WebSocketRoute("/ws/rooms/{room_id}", self.serve, "room_channel")

    async def serve(self, socket: WebSocket) -> None:
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
            )
            access = await self._rooms.access(caller, room_id)
        except DomainError as exc:
            await self._refuse(socket, exc, offered)
            return
        if access.role is None and not access.permissions:
            await self._refuse(
                socket, DomainError(errors.PERMISSION_DENIED, "join the room first"), offered
            )
            return
        await socket.accept(SUBPROTOCOL if SUBPROTOCOL in offered else None)
        if SUBPROTOCOL not in offered:
            await socket.send(error_frame("invalid_request", f"use the {SUBPROTOCOL} subprotocol"))
            await socket.close(CLOSE_BAD_MESSAGE)
            return
        with trio.move_on_after(HELLO_TIMEOUT_SECONDS) as waited:
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
        await self._session(socket, caller, access, hello.hello.resume_from)

    async def _refuse(self, socket: WebSocket, exc: DomainError, offered: list[str]) -> None:
        """Accept, say why, close with the code: a browser sees neither the status of a refused
        upgrade nor its body, so the reason travels in the connection itself."""
        await socket.accept(SUBPROTOCOL if SUBPROTOCOL in offered else None)
        await socket.send(error_frame(exc.error.code, exc.message, details=exc.details))
        await socket.close(_CLOSE_FOR.get(exc.error.code, CLOSE_FORBIDDEN))

    async def _session(
        self, socket: WebSocket, caller: Caller, access: Access, resume_from: int
    ) -> None:
        room = access.room
        connection_id = secrets.token_urlsafe(12)
        last_seq = room.last_event_seq
        start = last_seq
        if 0 < resume_from <= last_seq and last_seq - resume_from <= REPLAY_WINDOW_EVENTS:
            start = resume_from  # the hub sends the missed events before the stream
        else:
            view = await self._playlists.state(caller, room.id)
            welcome = realtime_pb2.Welcome(
                room=struct(
                    {
                        "room": room_out(room).model_dump(mode="json", by_alias=True),
                        "myRole": access.role,
                        "myPermissions": names(access.permissions),
                    }
                ),
                playback=_playback_message(view),
                last_seq=last_seq,
                connection_id=connection_id,
            )
            await socket.send(encode(realtime_pb2.ServerMessage(welcome=welcome)))
        self._presence.arrive(
            room.id, Presence(connection_id, caller.user_id, access.role or "admin")
        )
        metrics.ROOM_CHANNEL_CONNECTIONS.inc()
        try:
            async with self._hub.connect(room.id, start) as subscription, trio.open_nursery() as n:
                self._voice.attach(connection_id, subscription)

                async def write_then_stop() -> None:
                    try:
                        await self._write(socket, subscription)
                    except WebSocketClosed:
                        pass
                    finally:
                        n.cancel_scope.cancel()

                n.start_soon(write_then_stop)
                try:
                    await self._read(socket, caller, room.id, connection_id)
                except WebSocketClosed:
                    pass  # the client left (or the writer closed): the session is over
                finally:
                    n.cancel_scope.cancel()
        except TooFarBehind:
            await socket.send(error_frame("invalid_request", "too far behind: reconnect with 0"))
            await socket.close(CLOSE_BAD_MESSAGE)
        finally:
            self._voice.detach(room.id, connection_id)
            self._presence.leave(room.id, connection_id)
            metrics.ROOM_CHANNEL_CONNECTIONS.dec()

    async def _write(self, socket: WebSocket, subscription: Subscription) -> None:
        """Send what the hub queued, in order; on a slow cut, say so and close (4408)."""
        async with trio.open_nursery() as nursery:

            async def frames() -> None:
                async for frame in subscription.frames:
                    await socket.send(frame)

            nursery.start_soon(frames)
            await subscription.cut.wait()
            nursery.cancel_scope.cancel()
        termination = realtime_pb2.Termination(
            reason="too_slow", message="the connection could not keep up with the room"
        )
        await socket.send(encode(realtime_pb2.ServerMessage(termination=termination)))
        await socket.close(CLOSE_TOO_SLOW)

    async def _read(
        self, socket: WebSocket, caller: Caller, room_id: str, connection_id: str
    ) -> None:
        bucket = TokenBucket()
        idle = Idle(trio.current_time(), IDLE_SECONDS)
        while True:
            with trio.move_on_at(idle.deadline()):
                frame = await socket.receive()
            received = time.time()
            now = trio.current_time()
            if idle.expired(now):
                await socket.close(1001)
                return
            idle.heard(now)
            try:
                message = parse_client(frame)
            except InvalidMessage as exc:
                message = None
                problem = str(exc)
            # A voice participant's signalling has its own, larger burst (a mesh join sends an
            # offer and its candidates to every participant at once): realtime.voice counts it.
            own_limit = _voice_signalling(message) and self._voice.joined(room_id, connection_id)
            if not own_limit and not bucket.allow(now):
                await socket.send(error_frame("rate_limited", "at most 50 messages per second"))
                continue
            if message is None:
                await socket.send(error_frame("invalid_request", problem))
                continue
            try:
                await self._handle(socket, caller, room_id, connection_id, message, received)
            except DomainError as exc:
                await socket.send(
                    error_frame(exc.error.code, exc.message, message.op_id, exc.details)
                )
            except DatabaseUnavailable:
                # Fail closed: nothing was committed, so nothing is broadcast; the client may
                # retry (the connection stays, and so does its place in the room's stream).
                await socket.send(
                    error_frame(
                        errors.SERVICE_UNAVAILABLE.code,
                        "the database is unreachable: nothing was changed; retry later",
                        message.op_id,
                    )
                )

    async def _handle(
        self,
        socket: WebSocket,
        caller: Caller,
        room_id: str,
        connection_id: str,
        message: realtime_pb2.ClientMessage,
        received: float,
    ) -> None:
        body = message.WhichOneof("body")
        if body == "clock":
            ack = realtime_pb2.ClockAck(
                client_sent=message.clock.client_sent,
                server_received=received,
                server_sent=time.time(),
            )
            await socket.send(encode(realtime_pb2.ServerMessage(clock_ack=ack)))
        elif body == "playback":
            view = await self._playback(caller, room_id, message.playback)
            state = _playback_message(view)
            state.op_id = message.op_id
            reply = realtime_pb2.ServerMessage(playback_state=state)
            await socket.send(encode(reply))
        elif body == "report":
            report = message.report
            self._presence.report(
                room_id, connection_id, report.buffering, report.drift, trio.current_time()
            )
        elif body == "chat":
            # Success is the chat_message event, to every connection (this one too).
            chat = message.chat
            await self._chat.send(
                caller, room_id, chat.text, chat.danmaku_mode or None, chat.danmaku_color or None
            )
        elif body == "chat_delete":
            await self._chat.delete(caller, room_id, message.chat_delete.message_id)
        elif body is not None and body.startswith("voice_"):
            await self._voice.handle(socket, caller, room_id, connection_id, message)
        else:
            raise DomainError(
                errors.INVALID_REQUEST, f"{body} is not available on this server version yet"
            )

    async def _playback(
        self, caller: Caller, room_id: str, command: realtime_pb2.PlaybackCommand
    ) -> PlaybackView:
        action = command.action
        version = command.version or None
        if action in ("play", "pause", "seek", "speed"):
            return await self._playlists.control(
                caller,
                room_id,
                action,  # type: ignore[arg-type]
                position=command.position,
                speed=command.speed or None,
                version=version,
                expected_media_id=command.expected_media_id or None,
                client_sent_at=command.client_sent or None,
                clock_offset=command.clock_offset if command.client_sent else None,
            )
        if action == "start":
            return await self._playlists.start(caller, room_id, command.media_id, version=version)
        if action in ("next", "previous"):
            return await self._playlists.step(caller, room_id, action == "previous", version)
        raise DomainError(errors.INVALID_PARAMETER, f"unknown playback action {action!r}")


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
