"""The realtime channel's messages on the wire: ``proto/synctv/v1/realtime.proto`` in its
canonical JSON mapping (WebSocket text frames) — parsing what clients send, encoding what the
server sends.

Parsing is strict (an unknown field, a wrong type, two bodies, an oversize frame are refused with
a reason), because a client written from ``docs/realtime.md`` should hear about its mistakes
instead of having them silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from synctv.api.grpc._gen.synctv.v1 import realtime_pb2
from synctv.api.http.ws_raw import server_text_frame
from synctv.store.rooms import EventRow

MAX_MESSAGE_BYTES: Final = 64 * 1024
MAX_OP_ID: Final = 64
SUBPROTOCOL: Final = "synctv.v1"


class InvalidMessage(ValueError):
    """A client message that cannot be taken; the text says why (sent back as an error)."""


def parse_client(frame: str | bytes) -> realtime_pb2.ClientMessage:
    if isinstance(frame, bytes):
        raise InvalidMessage("send text frames (JSON), not binary ones")
    if len(frame.encode()) > MAX_MESSAGE_BYTES:
        raise InvalidMessage(f"a message is at most {MAX_MESSAGE_BYTES} bytes")
    message = realtime_pb2.ClientMessage()
    try:
        json_format.Parse(frame, message)
    except json_format.ParseError as exc:
        raise InvalidMessage(f"not a ClientMessage: {exc}") from None
    if message.WhichOneof("body") is None:
        raise InvalidMessage("the message has no body (hello, clock, playback, report, ...)")
    if len(message.op_id) > MAX_OP_ID:
        raise InvalidMessage(f"opId is at most {MAX_OP_ID} characters")
    return message


def encode(message: realtime_pb2.ServerMessage) -> str:
    """Compact canonical JSON, with fields at their default values written out (``"playing":
    false``), which the mapping allows: a client written by hand need not know the defaults."""
    return json_format.MessageToJson(
        message, indent=None, ensure_ascii=False, always_print_fields_with_no_presence=True
    )


def struct(values: dict[str, Any]) -> Struct:
    result = Struct()
    result.update(values)
    return result


def playback_state_message(state: Mapping[str, Any]) -> realtime_pb2.PlaybackStateMessage:
    """The playback state as the API shows it (``core.playlists.state_json``, or a
    ``playback_changed`` payload) as its wire message: no media ``""``, an unknown duration
    ``0``."""
    return realtime_pb2.PlaybackStateMessage(
        media_id=state.get("mediaId") or "",
        kind=state.get("kind") or "regular",
        position=state.get("position") or 0.0,
        speed=state.get("speed") or 1.0,
        playing=bool(state.get("playing")),
        version=int(state.get("version") or 0),
        duration=state.get("duration") or 0.0,
        server_time=state.get("serverTime") or 0.0,
    )


def playback_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A ``playback_changed`` payload in the shape of ``PlaybackStateMessage`` on the wire, as
    docs/realtime.md promises ("the playback state below"): ``version`` a JSON string like every
    64-bit integer, an unknown ``duration`` ``0`` and no media ``""`` (the stored row has a
    number and nulls, which a Struct would carry as ``2.0`` and ``null``)."""
    wire = json_format.MessageToDict(
        playback_state_message(payload), always_print_fields_with_no_presence=True
    )
    del wire["opId"]  # an answer's field, not the state's
    return {**payload, **wire}


class Frame:
    """A server message for many connections, encoded at most once per wire format: the
    WebSocket's JSON text on first use (:attr:`text`) and its whole WebSocket frame
    (:attr:`wire`, the same bytes for every connection: server frames are unmasked), the
    message itself for gRPC (grpclib serialises it per stream)."""

    __slots__ = ("_text", "_wire", "message")

    def __init__(self, message: realtime_pb2.ServerMessage) -> None:
        self.message = message
        self._text: str | None = None
        self._wire: bytes | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = encode(self.message)
        return self._text

    @property
    def wire(self) -> bytes:
        """The text frame carrying :attr:`text` (RFC 6455 §5.2), made once."""
        if self._wire is None:
            self._wire = server_text_frame(self.text.encode())
        return self._wire


def event_frame(event: EventRow) -> Frame:
    """One ``room_events`` row as an ``event`` message (the room hub makes each once)."""
    payload = playback_payload(event.payload) if event.type == "playback_changed" else None
    return Frame(
        realtime_pb2.ServerMessage(
            event=realtime_pb2.RoomEvent(
                seq=event.seq,
                type=event.type,
                payload=struct(event.payload if payload is None else payload),
                actor=event.actor,
                at=event.created_at.timestamp(),
            )
        )
    )


def error_message(
    code: str, message: str, op_id: str = "", details: dict[str, Any] | None = None
) -> realtime_pb2.ServerMessage:
    return realtime_pb2.ServerMessage(
        error=realtime_pb2.ErrorMessage(
            code=code, message=message, op_id=op_id, details=struct(details or {})
        )
    )


def error_frame(
    code: str, message: str, op_id: str = "", details: dict[str, Any] | None = None
) -> str:
    return encode(error_message(code, message, op_id, details))
