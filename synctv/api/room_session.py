"""The realtime room channel's session, whatever carries it (docs/realtime.md).

The WebSocket route (``GET /ws/rooms/{room}``, :mod:`synctv.api.http.routes.room_channel`) and
the gRPC stream (``synctv.v1.RoomService.Channel``, :mod:`synctv.api.grpc.room_channel`) each
authenticate the caller their own way, take the ``hello``, and hand the rest to
:meth:`RoomSessions.run` through a :class:`Transport`: one session logic, two wire formats.

One task per connection, two loops in a nursery: the *reader* takes client messages (clock,
playback, report, chat, voice) and answers or acts through the rooms services; the *writer*
sends what the room hub queued for this connection. Either ending ends both. Chat does not hold
the reader up: a message is admitted with the access the connection keeps (dropped by every
event that may change it, read again after :data:`ACCESS_REUSE_SECONDS`), queued for its room's
group commit, and answered in order by the connection's chat task once its commit ended (at most
:data:`MAX_CHAT_IN_FLIGHT` waiting; the ones still owed at the end are waited for, unanswered).

Order of a session: send a ``welcome`` snapshot (or, when the client resumes within the replay
window, nothing: the hub replays what it missed), be present, join the hub's stream from that
sequence; leave presence and voice however it ends.

Caps: a transport takes the connection's :meth:`RoomSessions.slot` once the caller is admitted
and holds it until the connection ends; over a cap (per user, per room, per node: the
``realtime`` config section) the connection is refused with the cap's code.

Termination: the room hub tells :meth:`RoomSessions.room_event` of every event after queueing it
for the room's connections. A kick, a ban or the room's deletion end the concerned connections
at once: a ``termination`` is queued behind that event (so the client sees why, in order) and
the writer closes after sending it. Events that may take someone's access away (they left, their
role or permissions changed, the room was suspended, made private, given a password, closed to
guests) make the concerned connections check their access again, in their own task; a
connection that lost it ends with ``access_revoked``. So does one whose login session was
revoked (sign-out, "sign out other devices", an account banned, its role or password changed):
no room event says so, so each connection with a session asks every
:data:`SESSION_CHECK_SECONDS` (the revocation set, as each request does).
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import trio

from synctv import errors, metrics
from synctv.api.grpc._gen.synctv.v1 import realtime_pb2
from synctv.api.http.routes.rooms import room_out
from synctv.api.realtime_messages import (
    InvalidMessage,
    error_message,
    playback_state_message,
    struct,
)
from synctv.api.voice_signalling import VoiceSignalling
from synctv.core.chat import ChatService
from synctv.core.permissions import names
from synctv.core.playlists import PlaybackView, PlaylistService, state_json
from synctv.core.rooms import Access, Caller, RoomService
from synctv.errors import DomainError
from synctv.realtime.hub import CLOSE_TOO_SLOW, RoomHub, Subscription, TooFarBehind
from synctv.realtime.limits import IDLE_SECONDS, Cap, ConnectionCaps, Idle, TokenBucket
from synctv.realtime.presence import Presence, PresenceBook
from synctv.store.chat import NewMessage, Queued
from synctv.store.db import DatabaseUnavailable
from synctv.store.rooms import EventRow

log = logging.getLogger("synctv.realtime")

# Application close codes (docs/realtime.md); the gRPC stream ends with the status they map to.
CLOSE_IDLE: Final = 1001
CLOSE_BAD_MESSAGE: Final = 4400
CLOSE_UNAUTHENTICATED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_NO_ROOM: Final = 4404
CLOSE_TOO_MANY: Final = 4429
HELLO_TIMEOUT_SECONDS: Final = 10.0
# A resume at most this far behind is replayed; further behind, it gets a fresh snapshot.
REPLAY_WINDOW_EVENTS: Final = 1000
REPLAY_WINDOW_SECONDS: Final = 300.0
_VOICE_SIGNALLING: Final = frozenset({"voice_offer", "voice_answer", "voice_candidate"})
CLOSE_FOR: Final = {
    "authentication_required": CLOSE_UNAUTHENTICATED,
    "token_expired": CLOSE_UNAUTHENTICATED,
    "token_revoked": CLOSE_UNAUTHENTICATED,
    "room_not_found": CLOSE_NO_ROOM,
    errors.CHANNEL_USER_LIMIT: CLOSE_TOO_MANY,
    errors.CHANNEL_ROOM_LIMIT: CLOSE_TOO_MANY,
    errors.CHANNEL_NODE_LIMIT: CLOSE_TOO_MANY,
}
_CAP_REFUSALS: Final = {
    "user": (errors.CHANNEL_USER_LIMIT, "you have {} channel connections open already"),
    "room": (errors.CHANNEL_ROOM_LIMIT, "the room has {} channel connections already"),
    "node": (errors.CHANNEL_NODE_LIMIT, "this server has {} channel connections; retry later"),
}
# Events after which the connections of payload.userId check their access again.
_RECHECK_MEMBER: Final = frozenset({"member_left", "member_updated"})
# Events after which every connection of the room checks its access again.
_RECHECK_ROOM: Final = frozenset(
    {"room_suspended", "room_updated", "settings_changed", "password_changed"}
)
_CONCERNS_ACCESS: Final = (
    _RECHECK_MEMBER
    | _RECHECK_ROOM
    | {
        "room_deleted",
        "member_banned",
        "owner_transferred",
    }
)
RECHECK_RETRY_SECONDS: Final = 1.0
# How often an open connection asks whether its login session was revoked.
SESSION_CHECK_SECONDS: Final = 30.0
# The writer takes at most this many queued frames into one write.
WRITE_BATCH_FRAMES: Final = 256
# Chat messages of one connection waiting for their commit (sent, not answered yet); past it a
# message is refused with chat_in_flight_limit_reached (errors.CHANNEL_CHAT_IN_FLIGHT).
MAX_CHAT_IN_FLIGHT: Final = 64
# A connection's chat reuses its room access (read at its first message, and again by every
# re-check an event asks for) for at most this long; an event that may change it drops it at once.
ACCESS_REUSE_SECONDS: Final = 30.0


@dataclass(frozen=True)
class Ending:
    """A connection's last message (``termination``) and close code, queued by
    :meth:`RoomSessions.room_event` behind the event that caused it."""

    reason: str
    message: str
    code: int


@dataclass(eq=False)
class _Connection:
    caller: Caller
    room_id: str
    subscription: Subscription
    recheck: trio.Event = field(default_factory=trio.Event)
    # The caller's standing in the room as last read (None: to read again before the next
    # chat message), when it was read (trio clock), and a counter that every event concerning
    # it bumps (a read that started before such an event is not kept).
    access: Access | None = None
    access_at: float = 0.0
    access_generation: int = 0
    chat_in_flight: int = 0  # chat messages sent and not answered yet

    def drop_access(self) -> None:
        self.access = None
        self.access_generation += 1

    def keep_access(self, access: Access, generation: int) -> None:
        """Keep ``access``, read since ``generation`` (unless an event dropped it meanwhile)."""
        if generation == self.access_generation:
            self.access, self.access_at = access, trio.current_time()


@dataclass(eq=False)
class _ChatAnswer:
    """One chat message's answer, owed in the order the messages came: the refusal already
    known, or the group commit's outcome (``queued``), or a danmaku's own transaction
    (``own``: run in turn, then ``finished`` lets the reader go on)."""

    op_id: str
    refusal: realtime_pb2.ServerMessage | None = None
    queued: Queued | None = None
    own: NewMessage | None = None
    finished: trio.Event = field(default_factory=trio.Event)


class ChannelClosed(Exception):
    """The other side went away (or the transport closed): the session is over."""


class Transport(Protocol):
    """One connection's wire: what the session needs of a WebSocket or a gRPC stream."""

    async def receive(self) -> realtime_pb2.ClientMessage:
        """The next message; :class:`InvalidMessage` for one that cannot be taken (the session
        says why and goes on), :class:`ChannelClosed` at the end."""
        ...

    async def send(self, message: realtime_pb2.ServerMessage) -> None:
        """Send one message to this connection only (:class:`ChannelClosed` when gone)."""
        ...

    async def send_frames(self, frames: list[Any]) -> None:
        """Send, in order, what the room hub queued for this connection: frames it made for
        many connections (``realtime_messages.Frame``), and whatever :meth:`immediate`'s
        writer left to queue; in as few writes as the wire allows."""
        ...

    def immediate(self) -> Callable[[list[Any]], list[Any] | None] | None:
        """A writer the room hub may call to write frames at once, without waiting (it returns
        what it could not write, to queue); None when the wire has none."""
        ...

    async def close(self, code: int) -> None:
        """End the connection with an application close code (above)."""
        ...


def _playback_message(view: PlaybackView) -> realtime_pb2.PlaybackStateMessage:
    return playback_state_message(state_json(view.state, view.server_time))


def _unavailable(op_id: str) -> realtime_pb2.ServerMessage:
    # Fail closed: nothing was committed, so nothing is broadcast; the client may retry (the
    # connection stays, and so does its place in the room's stream).
    return error_message(
        errors.SERVICE_UNAVAILABLE.code,
        "the database is unreachable: nothing was changed; retry later",
        op_id,
    )


def _voice_signalling(message: realtime_pb2.ClientMessage | None) -> bool:
    return message is not None and message.WhichOneof("body") in _VOICE_SIGNALLING


class RoomSessions:
    def __init__(
        self,
        rooms: RoomService,
        playlists: PlaylistService,
        hub: RoomHub,
        presence: PresenceBook,
        chat: ChatService,
        voice: VoiceSignalling,
        caps: ConnectionCaps,
        session_revoked: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self._rooms = rooms
        self._playlists = playlists
        self._hub = hub
        self._presence = presence
        self._chat = chat
        self._voice = voice
        self.caps = caps
        self._session_revoked = session_revoked
        self._connections: dict[str, dict[str, _Connection]] = {}  # room -> connection id -> it

    async def admit(self, caller: Caller, room_id: str) -> Access:
        """The caller's standing in the room, if they may be in its channel (a member, an
        admitted guest, or a platform admin); :class:`DomainError` otherwise."""
        access = await self._rooms.access(caller, room_id)
        if access.role is None and not access.permissions:
            raise DomainError(errors.PERMISSION_DENIED, "join the room first")
        return access

    @contextmanager
    def slot(self, caller: Caller, room_id: str) -> Iterator[None]:
        """Hold one of the capped connection slots while the block runs; :class:`DomainError`
        (``channel_*_limit_reached``, counted) when a cap is reached."""
        refused = self.caps.take(caller.user_id, room_id)
        if refused is not None:
            metrics.ROOM_CHANNEL_REFUSED.labels(refused).inc()
            raise self._cap_error(refused)
        try:
            yield
        finally:
            self.caps.give_back(caller.user_id, room_id)

    def _cap_error(self, cap: Cap) -> DomainError:
        limit = {"user": self.caps.per_user, "room": self.caps.per_room, "node": self.caps.total}
        code, message = _CAP_REFUSALS[cap]
        return DomainError(code, message.format(limit[cap]), {"limit": limit[cap]})

    # -- termination ---------------------------------------------------------------------------

    def room_event(self, event: EventRow) -> None:
        """A room event the hub delivered (and queued for the room's connections): end or
        re-check the connections it concerns. No awaits (the hub's delivery calls it)."""
        connections = self._connections.get(event.room_id)
        if not connections or event.type not in _CONCERNS_ACCESS:
            return  # most events (playback, chat) concern nobody's access: no scan
        payload: dict[str, Any] = event.payload
        user_id = str(payload.get("userId", ""))
        concerned = [c for c in connections.values() if c.caller.user_id == user_id]
        if event.type == "room_deleted":
            message = "the room was deleted"
            for connection in list(connections.values()):
                self._end(connection, Ending("room_deleted", message, CLOSE_NO_ROOM))
        elif event.type == "member_banned" or (
            event.type == "member_left" and payload.get("reason") == "banned"
        ):
            for connection in concerned:
                ending = Ending("banned", "you were banned from this room", CLOSE_FORBIDDEN)
                self._end(connection, ending)
        elif event.type == "member_left" and payload.get("reason") == "kicked":
            for connection in concerned:
                ending = Ending("kicked", "you were removed from this room", CLOSE_FORBIDDEN)
                self._end(connection, ending)
        elif event.type in _RECHECK_MEMBER:
            for connection in concerned:
                connection.drop_access()
                connection.recheck.set()
        elif event.type in _RECHECK_ROOM:
            for connection in connections.values():
                connection.drop_access()
                connection.recheck.set()
        elif event.type == "owner_transferred":  # two roles changed; both stay members
            moved = {str(payload.get("from", "")), str(payload.get("to", ""))}
            for connection in connections.values():
                if connection.caller.user_id in moved:
                    connection.drop_access()

    def _end(self, connection: _Connection, ending: Ending) -> None:
        connection.drop_access()  # a message read before the reader stops is checked afresh
        if connection.subscription.end(ending):
            metrics.ROOM_CHANNEL_TERMINATED.labels(ending.reason).inc()

    async def _watch(self, connection: _Connection) -> None:
        """One task per connection: check its access again each time an event asks, and (with
        a login session) whether the session was revoked every :data:`SESSION_CHECK_SECONDS`;
        end the connection when either is lost."""
        session_id = connection.caller.session_id
        revoked = self._session_revoked if session_id is not None else None
        next_session_check = trio.current_time() + SESSION_CHECK_SECONDS
        while True:
            with trio.move_on_at(next_session_check if revoked is not None else math.inf):
                await connection.recheck.wait()
            ending: Ending | None = None
            if connection.recheck.is_set():
                connection.recheck = trio.Event()
                ending = await self._access_lost(connection)
            elif revoked is not None and session_id is not None:
                next_session_check = trio.current_time() + SESSION_CHECK_SECONDS
                ending = await self._session_lost(session_id, revoked)
            if ending is not None:
                self._end(connection, ending)
                return

    async def _access_lost(self, connection: _Connection) -> Ending | None:
        """The admission rule again; a database that cannot answer leaves the check owed."""
        generation = connection.access_generation
        try:
            access = await self.admit(connection.caller, connection.room_id)
        except DomainError as exc:
            code = CLOSE_FOR.get(exc.error.code, CLOSE_FORBIDDEN)
            return Ending("access_revoked", exc.message, code)
        except DatabaseUnavailable:
            connection.recheck.set()  # still owed: try again when the database is back
            await trio.sleep(RECHECK_RETRY_SECONDS)
        else:
            connection.keep_access(access, generation)
        return None

    async def _session_lost(
        self, session_id: str, revoked: Callable[[str], Awaitable[bool]]
    ) -> Ending | None:
        """A store that cannot answer leaves the connection as it is until the next time."""
        try:
            if not await revoked(session_id):
                return None
        except DomainError:
            return None  # dependency_unavailable: ask again next time
        message = "this session was revoked; sign in again"
        return Ending("access_revoked", message, CLOSE_UNAUTHENTICATED)

    async def run(
        self, transport: Transport, caller: Caller, access: Access, resume_from: int
    ) -> None:
        """The session after ``hello`` (its ``resumeFrom``), until either side ends it."""
        room = access.room
        connection_id = secrets.token_urlsafe(12)
        last_seq = room.last_event_seq
        start = last_seq
        if await self._replayable(room.id, resume_from, last_seq):
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
            await transport.send(realtime_pb2.ServerMessage(welcome=welcome))
        self._presence.arrive(
            room.id, Presence(connection_id, caller.user_id, access.role or "admin")
        )
        metrics.ROOM_CHANNEL_CONNECTIONS.inc()
        answers, owed = trio.open_memory_channel[_ChatAnswer](math.inf)
        try:
            async with self._hub.connect(room.id, start) as subscription, trio.open_nursery() as n:
                subscription.write_now = transport.immediate()
                self._voice.attach(connection_id, subscription)
                # Its access for chat is read at the first message, once it is registered here
                # (so every later event that may change it drops it).
                connection = _Connection(caller, room.id, subscription)
                self._connections.setdefault(room.id, {})[connection_id] = connection
                n.start_soon(self._watch, connection)
                n.start_soon(self._answer_chat, transport, connection, owed)

                async def write_then_stop() -> None:
                    try:
                        await self._write(transport, subscription)
                    except ChannelClosed:
                        pass
                    finally:
                        n.cancel_scope.cancel()

                n.start_soon(write_then_stop)
                try:
                    await self._read(transport, connection, connection_id, answers)
                except ChannelClosed:
                    pass  # the client left (or the writer closed): the session is over
                finally:
                    n.cancel_scope.cancel()
        except TooFarBehind:
            await transport.send(
                error_message("invalid_request", "too far behind: reconnect with 0")
            )
            await transport.close(CLOSE_BAD_MESSAGE)
        finally:
            with trio.CancelScope(shield=True):
                await self._settle_chat(room.id, owed)
            in_room = self._connections.get(room.id, {})
            in_room.pop(connection_id, None)
            if not in_room:
                self._connections.pop(room.id, None)
            self._voice.detach(room.id, connection_id)
            self._presence.leave(room.id, connection_id)
            metrics.ROOM_CHANNEL_CONNECTIONS.dec()

    async def _replayable(self, room_id: str, resume_from: int, last_seq: int) -> bool:
        """A resume within the replay window: at most :data:`REPLAY_WINDOW_EVENTS` behind, and
        the first missed event at most :data:`REPLAY_WINDOW_SECONDS` old (a client away longer
        gets a snapshot: cheaper than a long replay of what it would skip anyway)."""
        if not 0 < resume_from <= last_seq or last_seq - resume_from > REPLAY_WINDOW_EVENTS:
            return False
        if resume_from == last_seq:
            return True  # nothing missed
        first = await self._hub.first_missed_at(room_id, resume_from)
        return first is not None and time.time() - first <= REPLAY_WINDOW_SECONDS

    async def _write(self, transport: Transport, subscription: Subscription) -> None:
        """Send what the hub queued, in order, up to an :class:`Ending` (then send its
        termination and close with its code); on a slow cut, say so and close (4408).

        Each wake takes everything queued (up to :data:`WRITE_BATCH_FRAMES`) into one write:
        a connection that fell behind catches up in few writes, one that keeps up has its
        frames written by the hub's pass itself (``subscription.write_now``)."""
        ending = Ending(
            "too_slow", "the connection could not keep up with the room", CLOSE_TOO_SLOW
        )
        async with trio.open_nursery() as nursery:

            async def frames() -> None:
                nonlocal ending
                while True:
                    try:
                        batch = [await subscription.frames.receive()]
                    except trio.EndOfChannel:
                        return
                    while len(batch) < WRITE_BATCH_FRAMES:
                        try:
                            batch.append(subscription.frames.receive_nowait())
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break
                    for n, frame in enumerate(batch):
                        if isinstance(frame, Ending):
                            ending = frame
                            if n:
                                await transport.send_frames(batch[:n])
                            nursery.cancel_scope.cancel()
                            return
                    await transport.send_frames(batch)
                    subscription.written()

            nursery.start_soon(frames)
            await subscription.cut.wait()
            nursery.cancel_scope.cancel()
        termination = realtime_pb2.Termination(reason=ending.reason, message=ending.message)
        await transport.send(realtime_pb2.ServerMessage(termination=termination))
        await transport.close(ending.code)

    async def _read(
        self,
        transport: Transport,
        connection: _Connection,
        connection_id: str,
        answers: trio.MemorySendChannel[_ChatAnswer],
    ) -> None:
        caller, room_id = connection.caller, connection.room_id
        bucket = TokenBucket()
        idle = Idle(trio.current_time(), IDLE_SECONDS)
        while True:
            message: realtime_pb2.ClientMessage | None = None
            problem = ""
            with trio.move_on_at(idle.deadline()):
                try:
                    message = await transport.receive()
                except InvalidMessage as exc:
                    problem = str(exc)
            received = time.time()
            now = trio.current_time()
            if idle.expired(now):
                await transport.close(CLOSE_IDLE)
                return
            idle.heard(now)
            # A voice participant's signalling has its own, larger burst (a mesh join sends an
            # offer and its candidates to every participant at once): realtime.voice counts it.
            own_limit = _voice_signalling(message) and self._voice.joined(room_id, connection_id)
            if not own_limit and not bucket.allow(now):
                await transport.send(
                    error_message("rate_limited", "at most 50 messages per second")
                )
                continue
            if message is None:
                await transport.send(error_message("invalid_request", problem))
                continue
            if message.WhichOneof("body") == "chat":
                await self._chat_message(transport, connection, message, answers)
                continue
            try:
                await self._handle(transport, caller, room_id, connection_id, message, received)
            except DomainError as exc:
                await transport.send(
                    error_message(exc.error.code, exc.message, message.op_id, exc.details)
                )
            except DatabaseUnavailable:
                await transport.send(_unavailable(message.op_id))

    # -- chat: a connection's messages go to the room's group commit in order; the reader
    # goes on, and _answer_chat answers them in that order as their commits end -------------

    async def _chat_message(
        self,
        transport: Transport,
        connection: _Connection,
        message: realtime_pb2.ClientMessage,
        answers: trio.MemorySendChannel[_ChatAnswer],
    ) -> None:
        """Admit one chat message with the connection's access and queue it for its commit (a
        danmaku: for its own transaction, waited for, so later messages commit after it); its
        answer is owed behind the connection's earlier chat answers. Success is the
        ``chatAck``, and the ``chat_message`` event to every connection (this one too)."""
        op_id = message.op_id
        if connection.chat_in_flight >= MAX_CHAT_IN_FLIGHT:
            refusal = error_message(
                errors.CHANNEL_CHAT_IN_FLIGHT.code,
                f"{MAX_CHAT_IN_FLIGHT} chat messages are waiting for their commit already",
                op_id,
                {"limit": MAX_CHAT_IN_FLIGHT},
            )
            await transport.send(refusal)
            return
        answer = _ChatAnswer(op_id)
        try:
            access = await self._chat_access(connection)
            chat = message.chat
            admitted = await self._chat.admit(
                connection.caller,
                access,
                chat.text,
                chat.danmaku_mode or None,
                chat.danmaku_color or None,
            )
        except DomainError as exc:
            answer.refusal = error_message(exc.error.code, exc.message, op_id, exc.details)
        except DatabaseUnavailable:
            answer.refusal = _unavailable(op_id)
        else:
            if admitted.danmaku is not None:
                answer.own = admitted
            else:  # no await between the enqueue and the answer owed: never dropped
                answer.queued = self._chat.enqueue(connection.room_id, admitted)
        connection.chat_in_flight += 1
        answers.send_nowait(answer)
        if answer.own is not None:
            await answer.finished.wait()

    async def _chat_access(self, connection: _Connection) -> Access:
        """The connection's access, read again when an event dropped it or it is older than
        :data:`ACCESS_REUSE_SECONDS`."""
        now = trio.current_time()
        if connection.access is not None and now - connection.access_at < ACCESS_REUSE_SECONDS:
            return connection.access
        generation = connection.access_generation
        access = await self._rooms.access(connection.caller, connection.room_id)
        connection.keep_access(access, generation)
        return access

    async def _answer_chat(
        self,
        transport: Transport,
        connection: _Connection,
        owed: trio.MemoryReceiveChannel[_ChatAnswer],
    ) -> None:
        """Answer the connection's chat messages in order, each once its commit ended: a
        ``chatAck`` for a stored one, the refusal for the others."""
        async for answer in owed:
            outcome = await self._chat_outcome(connection.room_id, answer)
            connection.chat_in_flight -= 1
            await transport.send(outcome)

    async def _chat_outcome(self, room_id: str, answer: _ChatAnswer) -> realtime_pb2.ServerMessage:
        try:
            if answer.queued is not None:
                row = await self._chat.stored(room_id, answer.queued)
            elif answer.own is not None:
                row = await self._chat.send_admitted(room_id, answer.own)
            else:
                assert answer.refusal is not None  # neither queued nor own: refused already
                return answer.refusal
            ack = realtime_pb2.ChatAck(op_id=answer.op_id, message_id=row.id)
            return realtime_pb2.ServerMessage(chat_ack=ack)
        except DomainError as exc:
            return error_message(exc.error.code, exc.message, answer.op_id, exc.details)
        except DatabaseUnavailable:
            return _unavailable(answer.op_id)
        finally:
            answer.finished.set()

    async def _settle_chat(
        self, room_id: str, owed: trio.MemoryReceiveChannel[_ChatAnswer]
    ) -> None:
        """At the connection's end: wait for the commits still owed (one may be the room's
        next commit, for everyone in it; see ChatStore.enqueue). Nobody is left to answer; a
        danmaku not begun is dropped (never committed, nobody told)."""
        while True:
            try:
                answer = owed.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            if answer.queued is not None:
                await self._chat_outcome(room_id, answer)

    async def _handle(
        self,
        transport: Transport,
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
            await transport.send(realtime_pb2.ServerMessage(clock_ack=ack))
        elif body == "playback":
            view = await self._playback(caller, room_id, message.playback)
            state = _playback_message(view)
            state.op_id = message.op_id
            await transport.send(realtime_pb2.ServerMessage(playback_state=state))
        elif body == "report":
            report = message.report
            self._presence.report(
                room_id,
                connection_id,
                report.buffering,
                report.drift,
                trio.current_time(),
                media_id=report.media_id,
                latency=report.latency,
            )
        elif body == "chat_delete":
            await self._chat.delete(caller, room_id, message.chat_delete.message_id)
        elif body is not None and body.startswith("voice_"):
            await self._voice.handle(transport.send, caller, room_id, connection_id, message)
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
