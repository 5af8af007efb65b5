"""``synctv.v1.RoomService/Channel``: the realtime room channel as a gRPC bidirectional stream.

The same session as the WebSocket (:class:`synctv.api.room_session.RoomSessions`) over
:class:`GrpcTransport`: protobuf messages instead of JSON text, the room in the ``synctv-room``
metadata instead of the path, and a status instead of a close code at the end (the mapping is
in room.proto and docs/realtime.md). grpclib is asyncio: the handler crosses into Trio once
(``trio_as_aio``) and each receive or send crosses back (``aio_as_trio``); the reader and the
writer are two Trio tasks, as on the WebSocket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any, Final

import trio
import trio_asyncio
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from synctv import errors
from synctv.api import room_session
from synctv.api.grpc._gen.synctv.v1 import realtime_pb2
from synctv.api.grpc.bridge import CallContext
from synctv.api.grpc.status import grpc_error
from synctv.api.realtime_messages import MAX_MESSAGE_BYTES, MAX_OP_ID, Frame, InvalidMessage
from synctv.api.room_session import (
    CLOSE_BAD_MESSAGE,
    CLOSE_FORBIDDEN,
    CLOSE_IDLE,
    CLOSE_NO_ROOM,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHENTICATED,
    ChannelClosed,
    RoomSessions,
)
from synctv.core.rooms import Caller
from synctv.errors import DomainError
from synctv.realtime.hub import CLOSE_TOO_SLOW

ROOM_METADATA: Final = "synctv-room"
# Where the WebSocket closes with a code, the stream ends with this status.
STATUS_FOR_CLOSE: Final = {
    CLOSE_BAD_MESSAGE: Status.INVALID_ARGUMENT,
    CLOSE_UNAUTHENTICATED: Status.UNAUTHENTICATED,
    CLOSE_FORBIDDEN: Status.PERMISSION_DENIED,
    CLOSE_NO_ROOM: Status.NOT_FOUND,
    CLOSE_TOO_MANY: Status.RESOURCE_EXHAUSTED,
    CLOSE_TOO_SLOW: Status.RESOURCE_EXHAUSTED,
    CLOSE_IDLE: Status.DEADLINE_EXCEEDED,
}

CallerOf = Callable[[CallContext], Awaitable[Caller]]


class GrpcTransport:
    """The session's wire over a grpclib server stream."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.closed_with: int | None = None

    async def receive(self) -> realtime_pb2.ClientMessage:
        if self.closed_with is not None:
            raise ChannelClosed
        try:
            message = await trio_asyncio.aio_as_trio(self._stream.recv_message)()
        except (StreamTerminatedError, ConnectionError):
            raise ChannelClosed from None
        if message is None:  # the client half-closed: nothing more will come
            raise ChannelClosed
        if message.ByteSize() > MAX_MESSAGE_BYTES:
            raise InvalidMessage(f"a message is at most {MAX_MESSAGE_BYTES} bytes")
        if message.WhichOneof("body") is None:
            raise InvalidMessage("the message has no body (hello, clock, playback, report, ...)")
        if len(message.op_id) > MAX_OP_ID:
            raise InvalidMessage(f"opId is at most {MAX_OP_ID} characters")
        return message  # type: ignore[no-any-return]

    async def send(self, message: realtime_pb2.ServerMessage) -> None:
        if self.closed_with is not None:
            raise ChannelClosed
        try:
            await trio_asyncio.aio_as_trio(self._stream.send_message)(message)
        except (StreamTerminatedError, ConnectionError):
            raise ChannelClosed from None

    async def send_frame(self, frame: Frame) -> None:
        await self.send(frame.message)

    async def send_frames(self, frames: list[Any]) -> None:
        """One message per frame (grpclib writes each as it comes)."""
        for frame in frames:
            await self.send(frame.message)

    def immediate(self) -> None:
        """None: a gRPC stream's writes go through grpclib's flow control."""
        return None

    async def close(self, code: int) -> None:
        """Remembered: the handler ends the stream with its status once the session returns."""
        self.closed_with = code


class RoomChannelRpc:
    """The ``Channel`` handler of the RoomService servicer."""

    def __init__(self, sessions: RoomSessions, caller_of: CallerOf) -> None:
        self._sessions = sessions
        self._caller_of = caller_of

    async def handle(self, stream: Any) -> None:
        """grpclib's side (asyncio): the whole call is one crossing into Trio."""
        await trio_asyncio.trio_as_aio(self._serve)(stream)

    async def _serve(self, stream: Any) -> None:
        with ExitStack() as held:  # the connection's slot, once admitted
            await self._serve_held(stream, held)

    async def _serve_held(self, stream: Any, held: ExitStack) -> None:
        context = CallContext.of_stream(stream)
        room_id = context.metadata.get(ROOM_METADATA, "")
        try:
            if not room_id:
                raise DomainError(
                    errors.INVALID_REQUEST, f"name the room in the {ROOM_METADATA} metadata"
                )
            caller = await self._caller_of(context)
            if caller.guest_room is not None and caller.guest_room != room_id:
                raise DomainError(errors.UNAUTHENTICATED, "this token is for another room")
            access = await self._sessions.admit(caller, room_id)
            held.enter_context(self._sessions.slot(caller, room_id))
        except DomainError as exc:
            raise grpc_error(exc) from None
        transport = GrpcTransport(stream)
        hello: realtime_pb2.ClientMessage | None = None
        with trio.move_on_after(room_session.HELLO_TIMEOUT_SECONDS):
            try:
                hello = await transport.receive()
            except (InvalidMessage, ChannelClosed):
                hello = None
        if hello is None or hello.WhichOneof("body") != "hello":
            raise GRPCError(Status.INVALID_ARGUMENT, "the first message is hello")
        try:
            await self._sessions.run(transport, caller, access, hello.hello.resume_from)
        except ChannelClosed:
            pass
        code = transport.closed_with
        if code is not None and code in STATUS_FOR_CLOSE:
            raise GRPCError(STATUS_FOR_CLOSE[code], f"the channel closed ({code})")
