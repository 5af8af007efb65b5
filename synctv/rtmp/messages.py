"""Typed RTMP message bodies: ``decode_message(type_id, payload)`` and ``encode_message(msg)``.

A message here is only the body; its envelope (chunk stream, timestamp, message stream id) is
``chunk.RawMessage``. Protocol control messages are RTMP 1.0 §5.4, user control events §6.2 (the
event list is §7.1.7), audio/video/data/command messages §7.1, aggregate messages §7.1.6 (their
sub-messages decoded by ``decode_aggregate``; the session rebases their timestamps). Types we do
not model (shared objects 16/19, anything unassigned) decode to ``UnknownMessage`` so the
session can surface them without failing.

Malformed bodies raise ``RtmpProtocolError`` (AMF0 errors are wrapped); values we cannot encode
raise ``RtmpLocalProtocolError``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, TypeAlias

from synctv.media import amf0
from synctv.media.amf0 import Amf0Value
from synctv.rtmp.errors import RtmpLocalProtocolError, RtmpProtocolError

__all__ = [
    "AGGREGATE_TYPES",
    "MAX_SET_CHUNK_SIZE",
    "AbortMessage",
    "Acknowledgement",
    "AggregateMessage",
    "AggregatePart",
    "AudioMessage",
    "BandwidthLimit",
    "CommandMessage",
    "DataMessage",
    "Message",
    "MessageType",
    "PingRequest",
    "PingResponse",
    "SetBufferLength",
    "SetChunkSize",
    "SetPeerBandwidth",
    "StreamBegin",
    "StreamDry",
    "StreamEof",
    "StreamIsRecorded",
    "UnknownMessage",
    "UnknownUserControl",
    "UserControlEvent",
    "UserControlMessage",
    "VideoMessage",
    "WindowAcknowledgementSize",
    "decode_aggregate",
    "decode_message",
    "decode_set_chunk_size",
    "encode_message",
    "rebase_aggregate",
]

# §5.4.1: the chunk size is 31 bits; zero and the top bit are invalid.
MAX_SET_CHUNK_SIZE: Final = 0x7FFFFFFF

_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_PEER_BW = struct.Struct(">IB")  # §5.4.5: window size u32, limit type u8
_USER_CONTROL = struct.Struct(">HI")  # §6.2: event type u16, then (mostly) one u32
_BUFFER_LENGTH = struct.Struct(">HII")  # §7.1.7 SetBufferLength: stream id u32, buffer ms u32
# §7.1.6 aggregate sub-message header, the FLV tag header layout: type u8, length u24,
# timestamp u24 + extended u8 (the top 8 bits), stream id u24; the body; a u32 back pointer.
_SUB_HEADER_SIZE: Final = 11
_BACK_POINTER_SIZE: Final = 4


class MessageType(IntEnum):
    """Message type ids (§5.4, §7.1)."""

    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACK_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF3 = 15
    SHARED_OBJECT_AMF3 = 16
    COMMAND_AMF3 = 17
    DATA_AMF0 = 18
    SHARED_OBJECT_AMF0 = 19
    COMMAND_AMF0 = 20
    AGGREGATE = 22


class UserControlEvent(IntEnum):
    """User control event types (§7.1.7)."""

    STREAM_BEGIN = 0
    STREAM_EOF = 1
    STREAM_DRY = 2
    SET_BUFFER_LENGTH = 3
    STREAM_IS_RECORDED = 4
    PING_REQUEST = 6
    PING_RESPONSE = 7


class BandwidthLimit(IntEnum):
    """§5.4.5 Set Peer Bandwidth limit types."""

    HARD = 0
    SOFT = 1
    DYNAMIC = 2


@dataclass(frozen=True, slots=True)
class SetChunkSize:
    """§5.4.1: the sender's chunk size from now on (1..0x7FFFFFFF)."""

    chunk_size: int


@dataclass(frozen=True, slots=True)
class AbortMessage:
    """§5.4.2: drop the partly received message on a chunk stream."""

    chunk_stream_id: int


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """§5.4.3: bytes received so far (u32, wraps)."""

    sequence_number: int


@dataclass(frozen=True, slots=True)
class WindowAcknowledgementSize:
    """§5.4.4: acknowledge after this many bytes from the sender."""

    size: int


@dataclass(frozen=True, slots=True)
class SetPeerBandwidth:
    """§5.4.5: limit the receiver's output window."""

    size: int
    limit_type: BandwidthLimit


@dataclass(frozen=True, slots=True)
class StreamBegin:
    """§7.1.7 event 0: a stream became functional."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class StreamEof:
    """§7.1.7 event 1: playback of a stream ended."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class StreamDry:
    """§7.1.7 event 2: no more data on a stream for now."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class SetBufferLength:
    """§7.1.7 event 3: the client's buffer, in milliseconds."""

    stream_id: int
    buffer_ms: int


@dataclass(frozen=True, slots=True)
class StreamIsRecorded:
    """§7.1.7 event 4: the stream is a recorded one."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class PingRequest:
    """§7.1.7 event 6: the peer must answer with a PingResponse carrying ``timestamp``."""

    timestamp: int


@dataclass(frozen=True, slots=True)
class PingResponse:
    """§7.1.7 event 7: the answer to a PingRequest."""

    timestamp: int


@dataclass(frozen=True, slots=True)
class UnknownUserControl:
    """A user control event type we do not model (e.g. buffer empty/ready, SWF verification)."""

    event_type: int
    data: bytes


UserControlMessage: TypeAlias = (
    StreamBegin
    | StreamEof
    | StreamDry
    | SetBufferLength
    | StreamIsRecorded
    | PingRequest
    | PingResponse
    | UnknownUserControl
)


@dataclass(frozen=True, slots=True)
class AudioMessage:
    """§7.1.4 type 8: one FLV audio tag body."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class VideoMessage:
    """§7.1.5 type 9: one FLV video tag body."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class DataMessage:
    """§7.1.2 type 18 (15 with ``amf3``): AMF0 values, e.g. ``@setDataFrame``, ``onMetaData``.

    ``payload`` is the AMF0 body as received (after the AMF3 format byte), so metadata can be
    forwarded byte for byte.
    """

    values: tuple[Amf0Value, ...]
    payload: bytes = field(default=b"", compare=False, repr=False)
    amf3: bool = False


@dataclass(frozen=True, slots=True)
class CommandMessage:
    """§7.1.1 type 20 (17 with ``amf3``): name, transaction id, command object, arguments."""

    name: str
    transaction_id: float
    command_object: Amf0Value = None
    args: tuple[Amf0Value, ...] = ()
    amf3: bool = False


# Sub-message types an aggregate may carry: audio, video, data (what FMS, Wowza and relays
# put in them). Control and command messages inside an aggregate are a protocol error.
AGGREGATE_TYPES: Final = frozenset({8, 9, 15, 18})


@dataclass(frozen=True, slots=True)
class AggregatePart:
    """One sub-message of an aggregate: its own type, timestamp (as written), body."""

    type_id: int
    timestamp: int
    payload: bytes
    stream_id: int = 0


@dataclass(frozen=True, slots=True)
class AggregateMessage:
    """§7.1.6 type 22: several audio/video/data messages in one (``decode_aggregate``)."""

    parts: tuple[AggregatePart, ...]


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A message type we do not interpret (shared objects, aggregate, unassigned ids)."""

    type_id: int
    payload: bytes


Message: TypeAlias = (
    SetChunkSize
    | AbortMessage
    | Acknowledgement
    | WindowAcknowledgementSize
    | SetPeerBandwidth
    | UserControlMessage
    | AudioMessage
    | VideoMessage
    | DataMessage
    | CommandMessage
    | AggregateMessage
    | UnknownMessage
)


def _u32(payload: bytes, what: str) -> int:
    if len(payload) != 4:
        raise RtmpProtocolError(f"{what} body must be 4 bytes, got {len(payload)}")
    value: int = _U32.unpack(payload)[0]
    return value


def decode_set_chunk_size(payload: bytes) -> SetChunkSize:
    """§5.4.1 body: u32 with the top bit clear, non-zero."""
    size = _u32(payload, "SetChunkSize")
    if size == 0 or size > MAX_SET_CHUNK_SIZE:
        raise RtmpProtocolError(f"invalid chunk size {size:#x}: must be 1..0x7FFFFFFF")
    return SetChunkSize(size)


def _decode_user_control(payload: bytes) -> UserControlMessage:
    if len(payload) < 2:
        raise RtmpProtocolError(f"UserControl body too short ({len(payload)} bytes)")
    (event_type,) = _U16.unpack_from(payload)
    if event_type not in UserControlEvent._value2member_map_:
        return UnknownUserControl(event_type, payload[2:])
    if event_type == UserControlEvent.SET_BUFFER_LENGTH:
        if len(payload) != _BUFFER_LENGTH.size:
            raise RtmpProtocolError(f"SetBufferLength body must be 10 bytes, got {len(payload)}")
        _, stream_id, buffer_ms = _BUFFER_LENGTH.unpack(payload)
        return SetBufferLength(stream_id, buffer_ms)
    if len(payload) != _USER_CONTROL.size:
        raise RtmpProtocolError(
            f"UserControl event {event_type} must be 6 bytes, got {len(payload)}"
        )
    value = _USER_CONTROL.unpack(payload)[1]
    match UserControlEvent(event_type):
        case UserControlEvent.STREAM_BEGIN:
            return StreamBegin(value)
        case UserControlEvent.STREAM_EOF:
            return StreamEof(value)
        case UserControlEvent.STREAM_DRY:
            return StreamDry(value)
        case UserControlEvent.STREAM_IS_RECORDED:
            return StreamIsRecorded(value)
        case UserControlEvent.PING_REQUEST:
            return PingRequest(value)
        case _:
            return PingResponse(value)


def _amf_body(payload: bytes, amf3: bool) -> bytes:
    if not amf3:
        return payload
    # Types 15/17 start with a format byte; 0 means the rest is AMF0 (what Flash sends).
    if not payload or payload[0] != 0:
        raise RtmpProtocolError("AMF3 message without the 0x00 format byte is not supported")
    return payload[1:]


def _decode_amf0(body: bytes) -> list[Amf0Value]:
    try:
        return amf0.decode(body)
    except amf0.Amf0Error as exc:
        raise RtmpProtocolError(f"bad AMF0 in message body: {exc}") from exc


def _decode_command(payload: bytes, amf3: bool) -> CommandMessage:
    values = _decode_amf0(_amf_body(payload, amf3))
    if len(values) < 2 or not isinstance(values[0], str):
        raise RtmpProtocolError("command must start with a name string and a transaction id")
    name, txn = values[0], values[1]
    if isinstance(txn, bool) or not isinstance(txn, float):
        raise RtmpProtocolError(f"command {name!r}: transaction id is not a number")
    command_object = values[2] if len(values) > 2 else None
    return CommandMessage(name, txn, command_object, tuple(values[3:]), amf3)


def decode_aggregate(payload: bytes) -> AggregateMessage:
    """§7.1.6 body: sub-messages back to back, each header + body + u32 back pointer.

    Every header, body and back pointer must lie inside ``payload`` and every sub-message
    must be audio, video or data (``AGGREGATE_TYPES``); anything else is an
    ``RtmpProtocolError``. The back pointer's value is not checked: encoders disagree on it.
    """
    parts: list[AggregatePart] = []
    end, pos = len(payload), 0
    while pos < end:
        if end - pos < _SUB_HEADER_SIZE:
            raise RtmpProtocolError(
                f"aggregate: {end - pos} bytes left at offset {pos}, less than a header"
            )
        type_id = payload[pos]
        size = int.from_bytes(payload[pos + 1 : pos + 4], "big")
        timestamp = int.from_bytes(payload[pos + 4 : pos + 7], "big") | (payload[pos + 7] << 24)
        stream_id = int.from_bytes(payload[pos + 8 : pos + 11], "big")
        body = pos + _SUB_HEADER_SIZE
        if size + _BACK_POINTER_SIZE > end - body:
            raise RtmpProtocolError(
                f"aggregate: sub-message of {size} bytes at offset {pos} overruns the message"
            )
        if type_id not in AGGREGATE_TYPES:
            raise RtmpProtocolError(
                f"aggregate: sub-message type {type_id} is not audio/video/data"
            )
        parts.append(AggregatePart(type_id, timestamp, payload[body : body + size], stream_id))
        pos = body + size + _BACK_POINTER_SIZE
    return AggregateMessage(tuple(parts))


def rebase_aggregate(msg: AggregateMessage, timestamp: int) -> list[AggregatePart]:
    """The sub-messages with the timestamps they play at: the first takes the aggregate's
    ``timestamp`` and the others keep their offset from it, mod 2**32 (as FFmpeg and
    nginx-rtmp rebase them)."""
    if not msg.parts:
        return []
    base = msg.parts[0].timestamp
    return [
        AggregatePart(
            p.type_id, (timestamp + p.timestamp - base) & 0xFFFFFFFF, p.payload, p.stream_id
        )
        for p in msg.parts
    ]


def _encode_aggregate(msg: AggregateMessage) -> bytes:
    out = bytearray()
    for part in msg.parts:
        size = len(part.payload)
        if part.type_id not in AGGREGATE_TYPES:
            raise RtmpLocalProtocolError(f"aggregate part of type {part.type_id}")
        if size > 0xFFFFFF or not 0 <= part.stream_id <= 0xFFFFFF:
            raise RtmpLocalProtocolError("aggregate part length or stream id does not fit u24")
        ts = _check_u32(part.timestamp, "aggregate part timestamp")
        out.append(part.type_id)
        out += size.to_bytes(3, "big")
        out += (ts & 0xFFFFFF).to_bytes(3, "big")
        out.append(ts >> 24)
        out += part.stream_id.to_bytes(3, "big")
        out += part.payload
        out += (size + _SUB_HEADER_SIZE).to_bytes(4, "big")
    return bytes(out)


def decode_message(type_id: int, payload: bytes) -> Message:
    """Decode one message body of type ``type_id``. Unknown types become ``UnknownMessage``."""
    match type_id:
        case MessageType.SET_CHUNK_SIZE:
            return decode_set_chunk_size(payload)
        case MessageType.ABORT:
            return AbortMessage(_u32(payload, "Abort"))
        case MessageType.ACKNOWLEDGEMENT:
            return Acknowledgement(_u32(payload, "Acknowledgement"))
        case MessageType.USER_CONTROL:
            return _decode_user_control(payload)
        case MessageType.WINDOW_ACK_SIZE:
            return WindowAcknowledgementSize(_u32(payload, "WindowAcknowledgementSize"))
        case MessageType.SET_PEER_BANDWIDTH:
            if len(payload) != _PEER_BW.size:
                raise RtmpProtocolError(
                    f"SetPeerBandwidth body must be 5 bytes, got {len(payload)}"
                )
            size, limit = _PEER_BW.unpack(payload)
            if limit not in BandwidthLimit._value2member_map_:
                raise RtmpProtocolError(f"SetPeerBandwidth limit type {limit} is not 0, 1 or 2")
            return SetPeerBandwidth(size, BandwidthLimit(limit))
        case MessageType.AUDIO:
            return AudioMessage(payload)
        case MessageType.VIDEO:
            return VideoMessage(payload)
        case MessageType.DATA_AMF0 | MessageType.DATA_AMF3:
            body = _amf_body(payload, type_id == MessageType.DATA_AMF3)
            return DataMessage(tuple(_decode_amf0(body)), body, type_id == MessageType.DATA_AMF3)
        case MessageType.COMMAND_AMF0 | MessageType.COMMAND_AMF3:
            return _decode_command(payload, type_id == MessageType.COMMAND_AMF3)
        case MessageType.AGGREGATE:
            return decode_aggregate(payload)
        case _:
            return UnknownMessage(type_id, payload)


def _check_u32(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise RtmpLocalProtocolError(f"{what} {value} does not fit in a u32")
    return value


def _encode_user_control(msg: UserControlMessage) -> bytes:
    match msg:
        case SetBufferLength(stream_id, buffer_ms):
            return _BUFFER_LENGTH.pack(
                UserControlEvent.SET_BUFFER_LENGTH,
                _check_u32(stream_id, "stream id"),
                _check_u32(buffer_ms, "buffer length"),
            )
        case UnknownUserControl(event_type, data):
            if not 0 <= event_type <= 0xFFFF:
                raise RtmpLocalProtocolError(f"user control event type {event_type} is not u16")
            return _U16.pack(event_type) + data
        case StreamBegin(value):
            event = UserControlEvent.STREAM_BEGIN
        case StreamEof(value):
            event = UserControlEvent.STREAM_EOF
        case StreamDry(value):
            event = UserControlEvent.STREAM_DRY
        case StreamIsRecorded(value):
            event = UserControlEvent.STREAM_IS_RECORDED
        case PingRequest(value):
            event = UserControlEvent.PING_REQUEST
        case PingResponse(value):
            event = UserControlEvent.PING_RESPONSE
    return _USER_CONTROL.pack(event, _check_u32(value, "user control value"))


def _encode_amf0(values: tuple[Amf0Value, ...], amf3: bool) -> bytes:
    try:
        body = amf0.encode(*values)
    except amf0.Amf0EncodeError as exc:
        raise RtmpLocalProtocolError(str(exc)) from exc
    return b"\x00" + body if amf3 else body


def encode_message(msg: Message) -> tuple[int, bytes]:
    """Return (type id, body bytes) for ``msg``."""
    match msg:
        case SetChunkSize(size):
            if not 1 <= size <= MAX_SET_CHUNK_SIZE:
                raise RtmpLocalProtocolError(f"chunk size {size} outside 1..0x7FFFFFFF")
            return MessageType.SET_CHUNK_SIZE, _U32.pack(size)
        case AbortMessage(csid):
            return MessageType.ABORT, _U32.pack(_check_u32(csid, "chunk stream id"))
        case Acknowledgement(seq):
            return MessageType.ACKNOWLEDGEMENT, _U32.pack(_check_u32(seq, "sequence number"))
        case WindowAcknowledgementSize(size):
            return MessageType.WINDOW_ACK_SIZE, _U32.pack(_check_u32(size, "window size"))
        case SetPeerBandwidth(size, limit):
            return MessageType.SET_PEER_BANDWIDTH, _PEER_BW.pack(
                _check_u32(size, "bandwidth"), limit
            )
        case AudioMessage(payload):
            return MessageType.AUDIO, payload
        case VideoMessage(payload):
            return MessageType.VIDEO, payload
        case DataMessage(values, _, amf3):
            type_id = MessageType.DATA_AMF3 if amf3 else MessageType.DATA_AMF0
            return type_id, _encode_amf0(values, amf3)
        case CommandMessage(name, txn, command_object, args, amf3):
            type_id = MessageType.COMMAND_AMF3 if amf3 else MessageType.COMMAND_AMF0
            return type_id, _encode_amf0((name, txn, command_object, *args), amf3)
        case AggregateMessage():
            return MessageType.AGGREGATE, _encode_aggregate(msg)
        case UnknownMessage(type_id, payload):
            if not 0 <= type_id <= 0xFF:
                raise RtmpLocalProtocolError(f"message type {type_id} is not u8")
            return type_id, payload
        case _:
            return MessageType.USER_CONTROL, _encode_user_control(msg)
