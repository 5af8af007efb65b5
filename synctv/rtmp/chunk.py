"""RTMP chunk streams: ``ChunkDecoder`` (bytes → ``RawMessage``) and ``ChunkEncoder`` (back).

Theory of operation
-------------------
RTMP 1.0 §5.3 splits every message into chunks of at most the sender's chunk size (128 until a
Set Chunk Size message, §5.4.1, changes it). A chunk is a basic header (§5.3.1.1: fmt u2 and a
chunk stream id in 1, 2 or 3 bytes, ids 2..65599), a message header whose size depends on fmt
(§5.3.1.2: 11, 7, 3 or 0 bytes), an optional extended timestamp (§5.3.1.3: u32, present when the
24-bit field is 0xFFFFFF) and payload. Headers compress against the previous header on the same
chunk stream: fmt 1 keeps the message stream id, fmt 2 also the length and type, fmt 3 keeps
everything and continues a message or starts one with the previous timestamp delta (after a
fmt 0 header, that "delta" is the fmt 0 timestamp field).

Chunk streams interleave: a video message may be split by audio chunks on another chunk stream,
so each stream keeps its own partial payload. Set Chunk Size and Abort (§5.4.2) change how the
*next* chunk is read, so the decoder applies them itself, at once, and still returns them.

Extended timestamps on fmt 3 chunks: FFmpeg, librtmp (OBS) and Flash repeat the extended
timestamp on every fmt 3 chunk whose header had one; a few encoders do not. When a chunk stream
first needs to know, the decoder peeks at the next four bytes: equal to the stored field means
present; anything else means absent. The answer is remembered per chunk stream.

The decoder counts bytes for the acknowledgement window (§5.4.3/§5.4.4): once the peer announced
a window (``set_window``), ``acknowledgement_due()`` returns the sequence number to acknowledge
each time another window's worth has arrived. Only bytes after the handshake are counted.

The encoder picks the smallest header per chunk stream (fmt 0 on a new stream, a stream id
change or a backwards timestamp; fmt 1 when length or type change; fmt 3 for a repeat of the
previous delta; fmt 2 otherwise). It never sends a fmt 3 header for a new message right after a
fmt 0 one, because decoders disagree on the delta that implies. ``encode_fmt0`` is the stateless
variant for bytes shared between many receivers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from synctv.rtmp.errors import RtmpLocalProtocolError, RtmpProtocolError
from synctv.rtmp.messages import MessageType, decode_set_chunk_size

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MAX_CHUNK_SIZE",
    "MAX_CHUNK_STREAMS",
    "MAX_HEADER_SIZE",
    "ChunkDecoder",
    "ChunkEncoder",
    "RawMessage",
    "encode_fmt0",
]

DEFAULT_CHUNK_SIZE: Final = 128  # §5.4.1: the chunk size both sides start with
# §5.4.1: sizes above 0xFFFFFF act as 0xFFFFFF, since no message is longer (length is u24).
MAX_CHUNK_SIZE: Final = 0xFFFFFF
# Largest message we accept by default. The u24 length field caps it just under 16 MiB anyway;
# drivers lower it (``max_message_size``) to bound per-connection memory.
DEFAULT_MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024
# Chunk streams a peer may use. Encoders use 2..8; each one costs a small header record, so a
# peer walking through all 65598 ids must be refused rather than remembered.
MAX_CHUNK_STREAMS: Final = 64
# Longest chunk header: a 3-byte basic header, an 11-byte fmt 0 message header and a 4-byte
# extended timestamp (§5.3.1). The decoder never holds more unparsed input than this.
MAX_HEADER_SIZE: Final = 3 + 11 + 4
MIN_CSID: Final = 2  # §5.3.1.1: 0 and 1 announce the 2- and 3-byte forms
MAX_CSID: Final = 65599  # §5.3.1.1: 3-byte form, 255 * 256 + 255 + 64
_EXTENDED: Final = 0xFFFFFF  # §5.3.1.3: the 24-bit timestamp value that means "extended follows"
_U32_MASK: Final = 0xFFFFFFFF
_HEADER_SIZES: Final = (11, 7, 3, 0)  # §5.3.1.2.1-4 by fmt

_U24 = struct.Struct(">I")  # read as u32 over 4 bytes and shift, or pack and drop the top byte
_U32 = struct.Struct(">I")
_STREAM_ID = struct.Struct("<I")  # §5.3.1.2.1: message stream id is little-endian


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One reassembled message: its envelope and undecoded body (see messages.py)."""

    chunk_stream_id: int
    timestamp: int
    type_id: int
    stream_id: int
    payload: bytes


class _InStream:
    """What the decoder remembers about one chunk stream."""

    __slots__ = (
        "ext_on_continuation",
        "extended",
        "field",
        "length",
        "parts",
        "received",
        "stream_id",
        "timestamp",
        "type_id",
    )

    def __init__(self) -> None:
        self.timestamp = 0  # absolute timestamp of the current (or last) message
        self.field = 0  # last timestamp field read: absolute after fmt 0, else the delta
        self.extended = False  # the last fmt 0-2 header used an extended timestamp
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.parts: bytearray | None = None  # payload of a message in progress
        self.received = 0
        self.ext_on_continuation: bool | None = None  # learnt on first need


def _u24(buf: bytearray | memoryview, offset: int) -> int:
    return (buf[offset] << 16) | (buf[offset + 1] << 8) | buf[offset + 2]


class ChunkDecoder:
    """Reassemble messages from chunk bytes (incremental; any split of the input works).

    ``receive_data`` returns the messages completed by the bytes so far. Input is consumed as it
    arrives: chunk headers are parsed from the caller's bytes, and a body goes straight into its
    message's buffer (allocated once, at the declared length, when the first body byte arrives;
    a message whose body is all in one read is sliced out with no buffer at all). So the decoder
    keeps at most one incomplete chunk header of input (``unparsed`` <= ``MAX_HEADER_SIZE``),
    whatever the chunk size, plus the partial messages (``max_buffered`` in total). After a
    ``RtmpProtocolError`` the decoder is unusable.
    """

    def __init__(
        self,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_chunk_streams: int = MAX_CHUNK_STREAMS,
    ) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.max_message_size = max_message_size
        # Partial payloads across interleaved chunk streams: two whole messages' worth.
        self.max_buffered = 2 * max_message_size
        self.max_chunk_streams = max_chunk_streams
        self.bytes_received = 0
        self._window = 0
        self._last_ack = 0
        self._streams: dict[int, _InStream] = {}
        self._buffered = 0  # declared lengths of the messages with a body buffer
        self._buf = bytearray()  # an incomplete chunk header (<= MAX_HEADER_SIZE bytes)
        self._current: _InStream | None = None  # the chunk stream whose chunk body is being read
        self._current_csid = 0
        self._chunk_left = 0  # body bytes of the current chunk still to read
        self._fresh = False  # the current chunk starts its message (no body buffer yet)
        self._failed: RtmpProtocolError | None = None

    def set_max_message_size(self, size: int) -> None:
        """Change the message limit (and the partial-message budget) for headers read from now
        on; a message already announced keeps the limit it was announced under."""
        self.max_message_size = size
        self.max_buffered = 2 * size

    @property
    def unparsed(self) -> int:
        """Input bytes held back: the start of a chunk header (never more than ``MAX_HEADER_SIZE``)."""
        return len(self._buf)

    @property
    def buffered(self) -> int:
        """Bytes held: unparsed input plus partial message buffers (0 at a message boundary)."""
        return len(self._buf) + self._buffered

    def set_window(self, size: int) -> None:
        """Acknowledge every ``size`` bytes from now on (the peer's Window Ack Size); 0 = never."""
        self._window = size
        self._last_ack = self.bytes_received

    def acknowledgement_due(self) -> int | None:
        """The sequence number to acknowledge now, if a window's worth arrived since the last."""
        if self._window and self.bytes_received - self._last_ack >= self._window:
            self._last_ack = self.bytes_received
            return self.bytes_received & _U32_MASK
        return None

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[RawMessage]:
        """Feed bytes; return every message they complete, in completion order."""
        if self._failed is not None:
            raise RtmpLocalProtocolError(f"chunk decoder already failed: {self._failed}")
        messages: list[RawMessage] = []
        try:
            with memoryview(data) as view:
                self.bytes_received += len(view)
                self._consume(view, messages)
        except RtmpProtocolError as exc:
            self._failed = exc
            raise
        return messages

    def _consume(self, view: memoryview, out: list[RawMessage]) -> None:
        pos, end = 0, len(view)
        while True:
            if self._current is not None:
                pos = self._read_body(view, pos, out)
                if self._current is not None:  # the chunk continues in the next read
                    return
            elif pos >= end:
                return
            elif self._buf:  # complete a header split across reads: never more than one
                take = min(MAX_HEADER_SIZE - len(self._buf), end - pos)
                self._buf += view[pos : pos + take]
                pos += take
                used = self._read_header(self._buf, 0)
                if used == 0:  # still incomplete, so every byte of this read is held
                    return
                # What followed the header (body, or more: the extended timestamp test looks
                # ahead) is input again, before the rest of this read.
                rest = bytes(self._buf[used:])
                self._buf.clear()
                with memoryview(rest) as again:
                    self._consume(again, out)
            else:
                used = self._read_header(view, pos)
                if used == 0:
                    self._buf += view[pos:]  # less than one header
                    return
                pos += used

    def _stream(self, csid: int, fmt: int) -> _InStream:
        stream = self._streams.get(csid)
        if stream is not None:
            return stream
        if fmt != 0:
            raise RtmpProtocolError(
                f"fmt {fmt} header on chunk stream {csid}, which has no fmt 0 yet"
            )
        if len(self._streams) >= self.max_chunk_streams:
            raise RtmpProtocolError(f"more than {self.max_chunk_streams} chunk streams in use")
        return _InStream()

    def _read_header(self, buf: bytearray | memoryview, pos: int) -> int:
        """Parse one chunk header at ``pos`` and make its chunk the current one; return the
        header's size, or 0 if it is not all here yet (nothing is changed then)."""
        end = len(buf)
        # §5.3.1.1 basic header
        fmt, csid = buf[pos] >> 6, buf[pos] & 0x3F
        p = pos + 1
        if csid < 2:
            width = 1 + csid
            if p + width > end:
                return 0
            csid = 64 + buf[p] + (buf[p + 1] << 8 if width == 2 else 0)
            p += width
        if p + _HEADER_SIZES[fmt] > end:
            return 0
        stream = self._stream(csid, fmt)
        if stream.parts is not None and fmt != 3:
            raise RtmpProtocolError(f"fmt {fmt} header on chunk stream {csid} inside a message")
        # §5.3.1.2 message header
        length, type_id, stream_id = stream.length, stream.type_id, stream.stream_id
        if fmt == 3:
            field, extended = stream.field, stream.extended
        else:
            field = _u24(buf, p)
            extended = field == _EXTENDED
            if fmt <= 1:
                length, type_id = _u24(buf, p + 3), buf[p + 6]
            if fmt == 0:
                stream_id = _STREAM_ID.unpack_from(buf, p + 7)[0]
            p += _HEADER_SIZES[fmt]
        # §5.3.1.3 extended timestamp
        ext_mode = stream.ext_on_continuation
        if extended and (fmt != 3 or ext_mode is not False):
            if p + 4 > end:
                return 0
            value = _U32.unpack_from(buf, p)[0]
            if fmt != 3:
                field = value
            elif ext_mode is None:
                ext_mode = value == field
            p += 4 if fmt != 3 or ext_mode else 0
        new_message = stream.parts is None
        if new_message and length > self.max_message_size:
            # Refused at the header: not one byte of the body is read or buffered.
            raise RtmpProtocolError(
                f"message of {length} bytes exceeds the {self.max_message_size} limit"
            )
        # The whole header is here: commit.
        if csid not in self._streams:
            self._streams[csid] = stream
        stream.ext_on_continuation = ext_mode
        if new_message:
            stream.timestamp = field if fmt == 0 else (stream.timestamp + field) & _U32_MASK
            stream.field, stream.extended = field, extended
            stream.length, stream.type_id, stream.stream_id = length, type_id, stream_id
            stream.received = 0
        self._current, self._current_csid, self._fresh = stream, csid, new_message
        self._chunk_left = min(self.chunk_size, length - stream.received)
        return p - pos

    def _read_body(self, view: memoryview, pos: int, out: list[RawMessage]) -> int:
        """Take what is here of the current chunk's body; return the new position."""
        stream = self._current
        assert stream is not None
        take = min(self._chunk_left, len(view) - pos)
        if self._fresh:
            if take == stream.length:  # the whole message is here: no buffer needed
                self._current = None
                self._emit(stream, bytes(view[pos : pos + take]), out)
                return pos + take
            if take == 0:
                return pos  # allocate when the body starts arriving
            if self._buffered + stream.length > self.max_buffered:
                raise RtmpProtocolError(f"more than {self.max_buffered} bytes of partial messages")
            # Allocated once at its final size: growing by appends would copy and fragment.
            stream.parts = bytearray(stream.length)
            self._buffered += stream.length
            self._fresh = False
        parts = stream.parts
        assert parts is not None
        received = stream.received
        parts[received : received + take] = view[pos : pos + take]
        stream.received = received + take
        self._chunk_left -= take
        if self._chunk_left:
            return pos + take
        self._current = None
        if stream.received == stream.length:
            payload = bytes(parts)
            stream.parts = None
            self._buffered -= stream.length
            self._emit(stream, payload, out)
        return pos + take

    def _emit(self, stream: _InStream, payload: bytes, out: list[RawMessage]) -> None:
        out.append(
            RawMessage(
                self._current_csid, stream.timestamp, stream.type_id, stream.stream_id, payload
            )
        )
        self._apply_control(stream.type_id, payload)

    def _apply_control(self, type_id: int, payload: bytes) -> None:
        """Apply Set Chunk Size and Abort before the next chunk is read."""
        if type_id == MessageType.SET_CHUNK_SIZE:
            self.chunk_size = min(decode_set_chunk_size(payload).chunk_size, MAX_CHUNK_SIZE)
        elif type_id == MessageType.ABORT and len(payload) == 4:
            stream = self._streams.get(_U32.unpack(payload)[0])
            if stream is not None and stream.parts is not None:
                stream.parts = None
                self._buffered -= stream.length


def _basic_header(fmt: int, csid: int) -> bytes:
    """§5.3.1.1: 1 byte for ids 2..63, 2 bytes for 64..319, 3 bytes up to 65599."""
    if csid < 64:
        return bytes(((fmt << 6) | csid,))
    if csid < 320:
        return bytes((fmt << 6, csid - 64))
    return bytes(((fmt << 6) | 1, (csid - 64) & 0xFF, (csid - 64) >> 8))


def _check_envelope(csid: int, timestamp: int, type_id: int, stream_id: int, size: int) -> None:
    if not MIN_CSID <= csid <= MAX_CSID:
        raise RtmpLocalProtocolError(f"chunk stream id {csid} outside {MIN_CSID}..{MAX_CSID}")
    if not 0 <= timestamp <= _U32_MASK:
        raise RtmpLocalProtocolError(f"timestamp {timestamp} does not fit in a u32")
    if not 0 <= type_id <= 0xFF:
        raise RtmpLocalProtocolError(f"message type {type_id} does not fit in a u8")
    if not 0 <= stream_id <= _U32_MASK:
        raise RtmpLocalProtocolError(f"message stream id {stream_id} does not fit in a u32")
    if size > MAX_CHUNK_SIZE:
        raise RtmpLocalProtocolError(f"message of {size} bytes does not fit the u24 length")


def _check_chunk_size(size: int) -> int:
    if not 1 <= size <= MAX_CHUNK_SIZE:
        raise RtmpLocalProtocolError(f"chunk size {size} outside 1..{MAX_CHUNK_SIZE}")
    return size


def _write(
    out: bytearray,
    fmt: int,
    csid: int,
    fields: bytes,
    field: int,
    payload: bytes | bytearray | memoryview,
    chunk_size: int,
) -> None:
    """Append one message: first chunk with ``fields`` after its 24-bit timestamp, then fmt 3s."""
    extended = field >= _EXTENDED
    ext = _U32.pack(field) if extended else b""
    out += _basic_header(fmt, csid)
    if fmt != 3:
        out += _U24.pack(_EXTENDED if extended else field)[1:]
        out += fields
    out += ext
    continuation = _basic_header(3, csid) + ext  # extended timestamp repeated, as FFmpeg does
    with memoryview(payload) as view:
        out += view[:chunk_size]
        for start in range(chunk_size, len(view), chunk_size):
            out += continuation
            out += view[start : start + chunk_size]


def _fmt0_fields(length: int, type_id: int, stream_id: int) -> bytes:
    # §5.3.1.2.1 after the timestamp: length u24, type u8, stream id u32 LE
    return _U24.pack(length)[1:] + bytes((type_id,)) + _STREAM_ID.pack(stream_id)


def encode_fmt0(
    csid: int,
    timestamp: int,
    type_id: int,
    stream_id: int,
    payload: bytes | bytearray | memoryview,
    chunk_size: int,
) -> bytes:
    """Encode one message with a full fmt 0 header and no per-receiver state.

    The bytes depend only on the arguments, so they can be shared by every receiver whose
    incoming chunk size is ``chunk_size``. Use a chunk stream id no ``ChunkEncoder`` writing to
    the same peer uses, or that encoder's header compression would be wrong.
    """
    size = len(payload)
    _check_envelope(csid, timestamp, type_id, stream_id, size)
    out = bytearray()
    _write(
        out,
        0,
        csid,
        _fmt0_fields(size, type_id, stream_id),
        timestamp,
        payload,
        _check_chunk_size(chunk_size),
    )
    return bytes(out)


class _OutStream:
    __slots__ = ("delta", "length", "stream_id", "timestamp", "type_id")

    def __init__(self, timestamp: int, length: int, type_id: int, stream_id: int) -> None:
        self.timestamp = timestamp
        self.delta: int | None = None  # None after fmt 0: fmt 3 must not follow directly
        self.length = length
        self.type_id = type_id
        self.stream_id = stream_id


class ChunkEncoder:
    """Split messages into chunks with header compression per chunk stream.

    ``chunk_size`` is our outgoing chunk size; announce a change with a SetChunkSize message
    *before* calling ``set_chunk_size`` (the announcement itself goes out at the old size).
    """

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.chunk_size = _check_chunk_size(chunk_size)
        self._streams: dict[int, _OutStream] = {}

    def set_chunk_size(self, size: int) -> None:
        """Use ``size`` for every chunk encoded from now on (1..0xFFFFFF)."""
        self.chunk_size = _check_chunk_size(size)

    def encode(
        self,
        csid: int,
        timestamp: int,
        type_id: int,
        stream_id: int,
        payload: bytes | bytearray | memoryview,
    ) -> bytes:
        """Encode one message on chunk stream ``csid``."""
        out = bytearray()
        self.encode_into(out, csid, timestamp, type_id, stream_id, payload)
        return bytes(out)

    def encode_into(
        self,
        out: bytearray,
        csid: int,
        timestamp: int,
        type_id: int,
        stream_id: int,
        payload: bytes | bytearray | memoryview,
    ) -> None:
        """Append one encoded message to ``out`` (saves a copy when queueing several)."""
        size = len(payload)
        _check_envelope(csid, timestamp, type_id, stream_id, size)
        prev = self._streams.get(csid)
        if prev is None or prev.stream_id != stream_id or timestamp < prev.timestamp:
            fmt, field, fields = 0, timestamp, _fmt0_fields(size, type_id, stream_id)
            self._streams[csid] = _OutStream(timestamp, size, type_id, stream_id)
        else:
            field = timestamp - prev.timestamp
            if prev.length != size or prev.type_id != type_id:
                fmt, fields = 1, _U24.pack(size)[1:] + bytes((type_id,))  # §5.3.1.2.2
            elif prev.delta == field:
                fmt, fields = 3, b""  # §5.3.1.2.4
            else:
                fmt, fields = 2, b""  # §5.3.1.2.3
            prev.timestamp, prev.delta = timestamp, field
            prev.length, prev.type_id = size, type_id
        _write(out, fmt, csid, fields, field, payload, self.chunk_size)

    def encode_message(self, message: RawMessage) -> bytes:
        """Encode a ``RawMessage`` (convenience for relays and tests)."""
        return self.encode(
            message.chunk_stream_id,
            message.timestamp,
            message.type_id,
            message.stream_id,
            message.payload,
        )
