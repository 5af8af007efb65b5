"""RTMP sessions, sans-IO: ``ServerSession`` (publishers and players); ``SessionBase`` is shared
with ``ClientSession`` (client.py).

Theory of operation
-------------------
A session owns one connection's handshake (handshake.py), chunk decoder and encoder (chunk.py)
and message codec (messages.py). The driver feeds it bytes and writes what it queues::

    session = ServerSession(os.urandom(HANDSHAKE_RANDOM_SIZE))
    while not session.closed:
        data = await stream.receive_some(65536)
        for event in session.receive_data(data):      # b"" (EOF) → PeerClosed
            match event:
                case PublishRequested(): ... session.accept_publish(sid, event.request_id)
                case VideoReceived(): ... hub.publish(...)
        await stream.send_all(session.data_to_send())

Two small state machines, each an enum plus a transition table below:

* the connection (``SessionState``): HANDSHAKE → AWAIT_CONNECT → CONNECTED → CLOSED. Control
  messages (§5.4 types 1..6 and user control) are allowed once the handshake is done; any other
  message before ``connect`` (server) is a protocol error. CLOSED is reached by EOF, by
  ``reject_publish`` or ``close()``; input after that is ignored. Errors end in ERROR.
* each message stream made by ``createStream`` (``StreamState``): CREATED → PUBLISH_PENDING →
  PUBLISHING, or CREATED → PLAY_PENDING → PLAYING, and back to CREATED on closeStream,
  FCUnpublish or deleteStream (deleteStream also forgets the stream).

Remote inputs outside a table raise ``RtmpProtocolError``; local ones ``RtmpLocalProtocolError``;
either way the session moves to ERROR.

Answering requests: drivers answer after a whole ``receive_data`` call, and one read can hold
``play, closeStream, play``, so each PublishRequested/PlayRequested carries a ``request_id``
that ``accept_*``/``reject_*`` take back. An answer to a request that is no longer its stream's
pending one (withdrawn, superseded, answered, or the session closed) is a no-op returning
False; only an id never issued is misuse. ``send_*`` to a stream not playing returns False.

What the server answers by itself (§7.2): ``connect`` (Window Ack Size, Set Peer Bandwidth, Set
Chunk Size ``OUTGOING_CHUNK_SIZE``, ``_result`` NetConnection.Connect.Success), ``releaseStream``,
``FCPublish`` (``onFCPublish`` + ``_result``), ``createStream``, ``FCUnpublish``, ping requests,
acknowledgements once the peer announced a window, and ``_error`` for unknown commands.

Fan-out: ``encode_media_chunks`` encodes an audio/video/data message once, with fmt 0 headers on
chunk streams no session encoder uses, so the same bytes can be written to every playing
viewer (see its docstring for the conditions).
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Final

from synctv.media import amf0
from synctv.media.amf0 import Amf0Value
from synctv.media.errors import ProtocolError
from synctv.rtmp.chunk import (
    DEFAULT_MAX_MESSAGE_SIZE,
    ChunkDecoder,
    ChunkEncoder,
    RawMessage,
    encode_fmt0,
)
from synctv.rtmp.errors import RtmpLocalProtocolError, RtmpProtocolError
from synctv.rtmp.events import (
    AcknowledgementReceived,
    AudioReceived,
    ConnectRequested,
    DataReceived,
    Event,
    MetadataReceived,
    PeerClosed,
    PingResponseReceived,
    PlayRequested,
    PublishRequested,
    StreamDeleted,
    UnknownCommandReceived,
    UnknownMessageReceived,
    VideoReceived,
)
from synctv.rtmp.handshake import ClientHandshake, ServerHandshake
from synctv.rtmp.messages import (
    AbortMessage,
    Acknowledgement,
    AggregateMessage,
    AudioMessage,
    BandwidthLimit,
    CommandMessage,
    DataMessage,
    Message,
    MessageType,
    PingRequest,
    PingResponse,
    SetBufferLength,
    SetChunkSize,
    SetPeerBandwidth,
    StreamBegin,
    StreamDry,
    StreamEof,
    StreamIsRecorded,
    UnknownUserControl,
    UserControlMessage,
    VideoMessage,
    WindowAcknowledgementSize,
    decode_message,
    encode_message,
    rebase_aggregate,
)

__all__ = [
    "CLIENT_TRANSITIONS",
    "FANOUT_CSIDS",
    "OUTGOING_CHUNK_SIZE",
    "SERVER_TRANSITIONS",
    "SETUP_MAX_MESSAGE_SIZE",
    "STREAM_TRANSITIONS",
    "ConnectionInput",
    "ConnectionMachine",
    "ServerSession",
    "SessionBase",
    "SessionState",
    "StreamInput",
    "StreamMachine",
    "StreamState",
    "encode_media_chunks",
]

# Chunk size we announce on connect. 4096 keeps a typical video frame in 1-10 chunks (128, the
# default, costs a header per 128 bytes) and is what OBS and FFmpeg use.
OUTGOING_CHUNK_SIZE: Final = 4096
# Window we ask the peer to acknowledge; the value FMS, nginx-rtmp and FFmpeg use.
DEFAULT_WINDOW_ACK_SIZE: Final = 2_500_000
# Message streams one connection may hold at once. Encoders use one; a player may reopen a few.
MAX_STREAMS: Final = 8
# Largest message a server session reads before a publish is accepted (and for a player, ever):
# until then the peer is unauthenticated, and the limit is what one connection can make us hold.
# Commands before that are small AMF0: OBS's connect (app, flashVer, swfUrl, tcUrl, pageUrl,
# codec masks, Enhanced RTMP's fourCcList) is 300-600 bytes, FFmpeg's 140, and publish/play a key
# or name with its query; 16 KiB leaves room for tcUrl/pageUrl with long token queries, yet 60
# connections x 2 partial messages hold under 2 MiB (with 10 MiB per message it was 600 MiB).
# Players only ever send commands, so they keep this limit while playing.
SETUP_MAX_MESSAGE_SIZE: Final = 16 * 1024
# Our own outstanding calls (client role); a peer that never answers cannot grow the table.
MAX_PENDING_CALLS: Final = 64

_U32_MASK: Final = 0xFFFFFFFF  # RTMP timestamps are u32 milliseconds and wrap (§5.3.1.2.1)

# Chunk stream ids, by convention (FFmpeg and nginx-rtmp use the same split).
CSID_CONTROL: Final = 2  # §5.4 protocol control and user control messages must use 2
CSID_COMMAND: Final = 3  # NetConnection commands
CSID_AUDIO: Final = 4
CSID_STREAM: Final = 5  # NetStream commands (onStatus) and data messages
CSID_VIDEO: Final = 6
# Chunk streams for shared fan-out bytes; never used by a session's ChunkEncoder.
FANOUT_CSIDS: Final = {
    MessageType.AUDIO: 7,
    MessageType.VIDEO: 8,
    MessageType.DATA_AMF0: 9,
}


PUBLISH_BAD_NAME: Final = "NetStream.Publish.BadName"  # a refused publish's default status


class SessionState(Enum):
    """Connection state (see the module comment)."""

    HANDSHAKE = auto()
    AWAIT_CONNECT = auto()
    CONNECTED = auto()
    CLOSED = auto()
    ERROR = auto()


class ConnectionInput(Enum):
    """What moves the connection machine. CLOSE is local; the rest come from the peer."""

    HANDSHAKE_DONE = auto()
    CONTROL = auto()  # protocol control / user control message
    CONNECT = auto()  # server: `connect` command; client: `_result` to our connect
    MESSAGE = auto()  # any other message
    CLOSE = auto()  # reject_publish(), close(), or the server refused our connect
    EOF = auto()


_S = SessionState
_C = ConnectionInput
SERVER_TRANSITIONS: Final[dict[tuple[SessionState, ConnectionInput], SessionState]] = {
    (_S.HANDSHAKE, _C.HANDSHAKE_DONE): _S.AWAIT_CONNECT,
    (_S.AWAIT_CONNECT, _C.CONTROL): _S.AWAIT_CONNECT,
    (_S.AWAIT_CONNECT, _C.CONNECT): _S.CONNECTED,
    (_S.CONNECTED, _C.CONTROL): _S.CONNECTED,
    (_S.CONNECTED, _C.MESSAGE): _S.CONNECTED,
    # CLOSE and EOF end every state but ERROR; CLOSED then ignores input (bytes in flight).
    **{(state, _C.CLOSE): _S.CLOSED for state in _S if state is not _S.ERROR},
    **{(state, _C.EOF): _S.CLOSED for state in _S if state is not _S.ERROR},
}
CLIENT_TRANSITIONS: Final[dict[tuple[SessionState, ConnectionInput], SessionState]] = {
    **SERVER_TRANSITIONS,
    # a server may send onBWDone and the like before answering connect
    (_S.AWAIT_CONNECT, _C.MESSAGE): _S.AWAIT_CONNECT,
}


class ConnectionMachine:
    """The connection state machine: ``process(input)`` or raise and move to ERROR."""

    def __init__(self, table: dict[tuple[SessionState, ConnectionInput], SessionState]) -> None:
        self.state = SessionState.HANDSHAKE
        self._table = table

    def process(self, event: ConnectionInput, what: str = "") -> SessionState:
        try:
            self.state = self._table[(self.state, event)]
        except KeyError:
            state, self.state = self.state, SessionState.ERROR
            text = f"{what or event.name} is not allowed in state {state.name}"
            if event is ConnectionInput.CLOSE:
                raise RtmpLocalProtocolError(text) from None
            raise RtmpProtocolError(text) from None
        return self.state


class StreamState(Enum):
    """Message stream state (see the module comment)."""

    CREATED = auto()
    PUBLISH_PENDING = auto()
    PUBLISHING = auto()
    PLAY_PENDING = auto()
    PLAYING = auto()
    ERROR = auto()


class StreamInput(Enum):
    """What moves a stream machine. ACCEPT_*/REJECT_* are local; the rest come from the peer."""

    PUBLISH = auto()
    PLAY = auto()
    ACCEPT_PUBLISH = auto()
    REJECT_PUBLISH = auto()
    ACCEPT_PLAY = auto()
    REJECT_PLAY = auto()
    MEDIA = auto()  # audio, video or data from the peer
    CLOSE_STREAM = auto()  # closeStream, FCUnpublish, deleteStream


_T = StreamState
_I = StreamInput
STREAM_TRANSITIONS: Final[dict[tuple[StreamState, StreamInput], StreamState]] = {
    (_T.CREATED, _I.PUBLISH): _T.PUBLISH_PENDING,
    (_T.CREATED, _I.PLAY): _T.PLAY_PENDING,
    (_T.CREATED, _I.CLOSE_STREAM): _T.CREATED,
    (_T.PUBLISH_PENDING, _I.ACCEPT_PUBLISH): _T.PUBLISHING,
    (_T.PUBLISH_PENDING, _I.REJECT_PUBLISH): _T.CREATED,
    (_T.PUBLISH_PENDING, _I.MEDIA): _T.PUBLISH_PENDING,  # may share a read with `publish`
    (_T.PUBLISH_PENDING, _I.CLOSE_STREAM): _T.CREATED,
    (_T.PUBLISHING, _I.MEDIA): _T.PUBLISHING,
    (_T.PUBLISHING, _I.CLOSE_STREAM): _T.CREATED,
    (_T.PLAY_PENDING, _I.ACCEPT_PLAY): _T.PLAYING,
    (_T.PLAY_PENDING, _I.REJECT_PLAY): _T.CREATED,
    (_T.PLAY_PENDING, _I.CLOSE_STREAM): _T.CREATED,
    (_T.PLAYING, _I.CLOSE_STREAM): _T.CREATED,
}
_LOCAL_STREAM_INPUTS: Final = frozenset(
    {_I.ACCEPT_PUBLISH, _I.REJECT_PUBLISH, _I.ACCEPT_PLAY, _I.REJECT_PLAY}
)
_ACTIVE: Final = frozenset({_T.PUBLISH_PENDING, _T.PUBLISHING, _T.PLAY_PENDING, _T.PLAYING})


class StreamMachine:
    """One message stream's state machine, plus what the driver needs to know about it."""

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id
        self.state = StreamState.CREATED
        self.name = ""  # publishing/playing name (without query) while active
        self.pending_request = 0  # request id of the unanswered publish/play; 0 = none

    def process(self, event: StreamInput) -> StreamState:
        try:
            self.state = STREAM_TRANSITIONS[(self.state, event)]
        except KeyError:
            state, self.state = self.state, StreamState.ERROR
            text = f"{event.name} is not allowed on stream {self.stream_id} in state {state.name}"
            if event in _LOCAL_STREAM_INPUTS:
                raise RtmpLocalProtocolError(text) from None
            raise RtmpProtocolError(text) from None
        return self.state


def encode_media_chunks(
    type_id: int,
    stream_id: int,
    timestamp: int,
    payload: bytes | bytearray | memoryview,
    *,
    chunk_size: int = OUTGOING_CHUNK_SIZE,
) -> bytes:
    """Encode an audio (8), video (9) or AMF0 data (18) message once, for many viewers.

    Every message gets a fmt 0 header on a chunk stream reserved for fan-out (``FANOUT_CSIDS``),
    so the bytes do not depend on what a viewer was sent before. Write them to any viewer whose
    ``ServerSession`` (a) is playing ``stream_id`` (``stream_state(stream_id)`` is PLAYING; the
    first createStream of a connection is always stream 1), (b) announced ``chunk_size`` as its
    outgoing chunk size (every ServerSession announces ``OUTGOING_CHUNK_SIZE``), and (c) had its
    ``data_to_send()`` written first, so the shared bytes follow the play replies.

    ``timestamp`` is the hub's timeline (ms, never wraps); the wire carries it mod 2**32
    (§5.3.1.2.1: u32, wraps after ~49.7 days).
    """
    try:
        csid = FANOUT_CSIDS[MessageType(type_id)]
    except (ValueError, KeyError):
        raise RtmpLocalProtocolError(f"type {type_id} is not audio, video or AMF0 data") from None
    return encode_fmt0(csid, timestamp & _U32_MASK, type_id, stream_id, payload, chunk_size)


_STREAM_EVENTS: Final = (StreamBegin, StreamEof, StreamDry, SetBufferLength, StreamIsRecorded)
_USER_CONTROL: Final = (*_STREAM_EVENTS, UnknownUserControl)  # all but ping (§7.1.7)


def _split_name(name: str) -> tuple[str, str]:
    key, _, query = name.partition("?")
    return key, query


def _status(level: str, code: str, description: str, **more: Amf0Value) -> dict[str, Amf0Value]:
    return {"level": level, "code": code, "description": description, **more}


class SessionBase:
    """What both roles share: handshake, chunk codec, control messages, output buffer."""

    def __init__(
        self,
        handshake: ServerHandshake | ClientHandshake,
        table: dict[tuple[SessionState, ConnectionInput], SessionState],
        max_message_size: int,
    ) -> None:
        self._handshake = handshake
        self._machine = ConnectionMachine(table)
        self._decoder = ChunkDecoder(max_message_size=max_message_size)
        self._encoder = ChunkEncoder()
        self._out = bytearray()
        self._deferred = bytearray()  # messages queued before the handshake finished
        self._peer_closed = False

    @property
    def state(self) -> SessionState:
        return self._machine.state

    @property
    def buffered(self) -> int:
        """Bytes of incomplete input held: handshake packet, chunk header, partial messages."""
        return self._handshake.buffered + self._decoder.buffered

    @property
    def closed(self) -> bool:
        """True once the driver should flush ``data_to_send()`` and close the connection."""
        return self.state in (SessionState.CLOSED, SessionState.ERROR)

    @property
    def outgoing_chunk_size(self) -> int:
        return self._encoder.chunk_size

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer now (handshake replies, control messages, replies, media)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Feed bytes from the peer; ``b""`` means EOF. Returns the events they complete.

        Raises ``RtmpProtocolError`` on malformed input (the session moves to ERROR and events
        of the same call are lost; close the connection).
        """
        if self.state is SessionState.ERROR:
            raise RtmpLocalProtocolError("session is in ERROR state")
        if not data:
            return self._eof()
        if self.state is SessionState.CLOSED:
            return []
        events: list[Event] = []
        try:
            if self.state is SessionState.HANDSHAKE:
                data = self._receive_handshake(data)
            for raw in self._decoder.receive_data(data):
                self._dispatch(raw, events)
                if self.closed:  # the client's connect was refused
                    break
            sequence = self._decoder.acknowledgement_due()
            if sequence is not None:
                self._send(CSID_CONTROL, Acknowledgement(sequence))
        except ProtocolError:
            self._machine.state = SessionState.ERROR
            raise
        return events

    def close(self) -> None:
        """Close from our side (e.g. kick a publisher); flush ``data_to_send()`` then close."""
        if self.state is not SessionState.ERROR:
            self._machine.process(ConnectionInput.CLOSE)

    def _eof(self) -> list[Event]:
        if self._peer_closed:
            return []
        self._peer_closed = True
        self._machine.process(ConnectionInput.EOF)
        return [PeerClosed()]

    def _receive_handshake(self, data: bytes | bytearray | memoryview) -> bytes:
        self._handshake.receive_data(data)
        self._out += self._handshake.data_to_send()
        if not self._handshake.done:
            return b""
        self._machine.process(ConnectionInput.HANDSHAKE_DONE)
        self._out += self._deferred
        self._deferred.clear()
        return self._handshake.unused_data

    def _send(self, csid: int, msg: Message, stream_id: int = 0) -> None:
        type_id, body = encode_message(msg)
        self._send_raw(csid, type_id, body, stream_id)

    def _send_raw(
        self, csid: int, type_id: int, body: bytes, stream_id: int = 0, timestamp: int = 0
    ) -> None:
        out = self._deferred if self.state is SessionState.HANDSHAKE else self._out
        self._encoder.encode_into(out, csid, timestamp & _U32_MASK, type_id, stream_id, body)

    def _send_command(
        self, csid: int, stream_id: int, name: str, txn: float, *args: Amf0Value
    ) -> None:
        obj, rest = (args[0], args[1:]) if args else (None, ())
        self._send(csid, CommandMessage(name, txn, obj, rest), stream_id)

    def _dispatch(self, raw: RawMessage, events: list[Event]) -> None:
        msg = decode_message(raw.type_id, raw.payload)
        if MessageType.SET_CHUNK_SIZE <= raw.type_id <= MessageType.SET_PEER_BANDWIDTH:
            self._machine.process(ConnectionInput.CONTROL, f"message type {raw.type_id}")
            self._on_control(msg, events)
        elif isinstance(msg, AggregateMessage):
            self._machine.process(ConnectionInput.MESSAGE, f"message type {raw.type_id}")
            self._on_aggregate(raw, msg, events)
        else:
            self._on_message(raw, msg, events)

    def _on_aggregate(self, raw: RawMessage, msg: AggregateMessage, events: list[Event]) -> None:
        """§7.1.6: each sub-message as if it came alone, on the aggregate's message stream."""
        for part in rebase_aggregate(msg, raw.timestamp):
            sub = RawMessage(
                raw.chunk_stream_id, part.timestamp, part.type_id, raw.stream_id, part.payload
            )
            self._on_message(sub, decode_message(part.type_id, part.payload), events)

    def _on_control(self, msg: Message, events: list[Event]) -> None:
        match msg:
            case WindowAcknowledgementSize(size):
                self._decoder.set_window(size)
            case Acknowledgement(sequence):
                events.append(AcknowledgementReceived(sequence))
            case PingRequest(timestamp):
                self._send(CSID_CONTROL, PingResponse(timestamp))
            case PingResponse(timestamp):
                events.append(PingResponseReceived(timestamp))
            case SetChunkSize() | AbortMessage() | SetPeerBandwidth():
                pass  # chunk size and abort were applied by the decoder; we do not throttle
            case _ if isinstance(msg, _USER_CONTROL):
                self._on_user_control(msg, events)

    def _on_user_control(self, msg: UserControlMessage, events: list[Event]) -> None:
        """Stream Begin, Set Buffer Length ...: servers ignore them, clients report them."""

    def _on_message(self, raw: RawMessage, msg: Message, events: list[Event]) -> None:
        raise NotImplementedError  # pragma: no cover

    def _data_event(self, raw: RawMessage, msg: DataMessage) -> Event:
        """``@setDataFrame``/``onMetaData`` become MetadataReceived; other data DataReceived."""
        values, body = msg.values, msg.payload
        if values and values[0] == "@setDataFrame":
            try:
                _, offset = amf0.decode_value(body, 0)
            except amf0.Amf0Error as exc:  # pragma: no cover - body was decoded already
                raise RtmpProtocolError(str(exc)) from exc
            values, body = values[1:], body[offset:]
        if values and values[0] == "onMetaData":
            meta = values[1] if len(values) > 1 and isinstance(values[1], dict) else {}
            return MetadataReceived(raw.stream_id, dict(meta), body, raw.timestamp)
        return DataReceived(raw.stream_id, raw.timestamp, msg.values, msg.payload)


class ServerSession(SessionBase):
    """The server side of one RTMP connection (publisher or player).

    ``random_bytes``: at least ``handshake.HANDSHAKE_RANDOM_SIZE`` bytes from ``os.urandom``.
    ``max_message_size`` bounds one message (and so one video frame) once a publish is accepted;
    before that, and on a connection that plays, ``setup_max_message_size`` does (a header
    announcing more is a ``RtmpProtocolError`` before any of the body is read).
    ``window_ack_size`` is the acknowledgement window we announce on connect.
    """

    def __init__(
        self,
        random_bytes: bytes,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        setup_max_message_size: int = SETUP_MAX_MESSAGE_SIZE,
        window_ack_size: int = DEFAULT_WINDOW_ACK_SIZE,
        chunk_size: int = OUTGOING_CHUNK_SIZE,
        epoch_ms: int = 0,
    ) -> None:
        super().__init__(
            ServerHandshake(random_bytes, epoch_ms=epoch_ms),
            SERVER_TRANSITIONS,
            min(setup_max_message_size, max_message_size),
        )
        self.max_message_size = max_message_size
        self.window_ack_size = window_ack_size
        self._chunk_size = chunk_size
        self._streams: dict[int, StreamMachine] = {}
        self._next_stream_id = 1
        self._last_request = 0  # request ids are 1, 2, ... in the order requests arrived
        self.app = ""

    def stream_state(self, stream_id: int) -> StreamState | None:
        """The state of a message stream, or None if there is no such stream."""
        stream = self._streams.get(stream_id)
        return None if stream is None else stream.state

    # -- driver actions -------------------------------------------------------------------

    def accept_publish(self, stream_id: int, request_id: int) -> bool:
        """Answer a PublishRequested with NetStream.Publish.Start. False if it is stale."""
        stream = self._answerable(stream_id, request_id)
        if stream is None:
            return False
        self._process(stream, StreamInput.ACCEPT_PUBLISH)
        self._decoder.set_max_message_size(self.max_message_size)  # media from here on
        self._on_status(
            stream_id, "status", "NetStream.Publish.Start", f"{stream.name} is now published."
        )
        return True

    def reject_publish(
        self,
        stream_id: int,
        request_id: int,
        code: str = PUBLISH_BAD_NAME,
        description: str = "Publishing is not allowed.",
    ) -> bool:
        """Answer a PublishRequested with an error onStatus, then close. False if stale."""
        stream = self._answerable(stream_id, request_id)
        if stream is None:
            return False
        self._process(stream, StreamInput.REJECT_PUBLISH)
        self._on_status(stream_id, "error", code, description)
        self._machine.process(ConnectionInput.CLOSE)
        return True

    def accept_play(self, stream_id: int, request_id: int) -> bool:
        """Answer a PlayRequested: Stream Begin, Play.Reset/Start, |RtmpSampleAccess (or False)."""
        stream = self._answerable(stream_id, request_id)
        if stream is None:
            return False
        self._process(stream, StreamInput.ACCEPT_PLAY)
        self._send(CSID_CONTROL, StreamBegin(stream_id))
        name = stream.name
        self._on_status(
            stream_id, "status", "NetStream.Play.Reset", f"Playing and resetting {name}."
        )
        self._on_status(stream_id, "status", "NetStream.Play.Start", f"Started playing {name}.")
        sample_access = DataMessage(("|RtmpSampleAccess", True, True))
        self._send(CSID_STREAM, sample_access, stream_id)
        return True

    def reject_play(
        self,
        stream_id: int,
        request_id: int,
        code: str = "NetStream.Play.StreamNotFound",
        description: str = "Stream not found.",
    ) -> bool:
        """Answer a PlayRequested with an error onStatus (False if stale); the stream may play
        something else."""
        stream = self._answerable(stream_id, request_id)
        if stream is None:
            return False
        self._process(stream, StreamInput.REJECT_PLAY)
        self._on_status(stream_id, "error", code, description)
        return True

    def notify_stream_eof(self, stream_id: int) -> bool:
        """Stream EOF (§7.1.7 event 1): the publisher left; players keep playing (nginx-rtmp's
        behaviour during a reconnect). False if the stream is not playing (as for the next two)."""
        return self._notify(stream_id, StreamEof(stream_id))

    def notify_stream_begin(self, stream_id: int) -> bool:
        """Stream Begin (§7.1.7 event 0): the publisher is back."""
        return self._notify(stream_id, StreamBegin(stream_id))

    def notify_unpublished(self, stream_id: int) -> bool:
        """NetStream.Play.UnpublishNotify: the stream is over (FFmpeg and librtmp players end)."""
        stream = self._playing(stream_id)
        if stream is not None:
            description = f"{stream.name} is now unpublished."
            self._on_status(stream_id, "status", "NetStream.Play.UnpublishNotify", description)
        return stream is not None

    def send_metadata(self, stream_id: int, amf0_body: bytes, timestamp: int = 0) -> bool:
        """Queue a data message (``MetadataReceived.payload``: "onMetaData" + values)."""
        return self._send_to_player(
            CSID_STREAM, MessageType.DATA_AMF0, amf0_body, stream_id, timestamp
        )

    def send_audio(self, stream_id: int, timestamp: int, payload: bytes) -> bool:
        """Queue an audio message for a playing stream. False (dropped) if it is not playing."""
        return self._send_to_player(CSID_AUDIO, MessageType.AUDIO, payload, stream_id, timestamp)

    def send_video(self, stream_id: int, timestamp: int, payload: bytes) -> bool:
        """Queue a video message for a playing stream. False (dropped) if it is not playing."""
        return self._send_to_player(CSID_VIDEO, MessageType.VIDEO, payload, stream_id, timestamp)

    def ping(self, timestamp: int) -> None:
        """Queue a Ping Request; the peer's answer is a PingResponseReceived event."""
        self._send(CSID_CONTROL, PingRequest(timestamp & _U32_MASK))

    # -- internals ------------------------------------------------------------------------

    def _answerable(self, stream_id: int, request_id: int) -> StreamMachine | None:
        """The stream whose pending request ``request_id`` is, or None if it is stale."""
        if not 0 < request_id <= self._last_request:
            self._machine.state = SessionState.ERROR
            raise RtmpLocalProtocolError(f"request {request_id} was never made")
        if self.closed:
            return None
        stream = self._streams.get(stream_id)
        if stream is None or stream.pending_request != request_id:
            return None  # withdrawn, superseded, answered already, or the stream deleted
        stream.pending_request = 0
        return stream

    def _process(self, stream: StreamMachine, event: StreamInput) -> None:
        try:
            stream.process(event)
        except ProtocolError:
            self._machine.state = SessionState.ERROR
            raise

    def _playing(self, stream_id: int) -> StreamMachine | None:
        stream = self._streams.get(stream_id)
        if self.state is not SessionState.CONNECTED or stream is None:
            return None
        return stream if stream.state is StreamState.PLAYING else None

    def _notify(self, stream_id: int, event: UserControlMessage) -> bool:
        if self._playing(stream_id) is None:
            return False
        self._send(CSID_CONTROL, event)
        return True

    def _send_to_player(
        self, csid: int, type_id: int, body: bytes, stream_id: int, timestamp: int
    ) -> bool:
        if self.state is not SessionState.CONNECTED:
            return False
        if self.stream_state(stream_id) is not StreamState.PLAYING:
            return False
        self._send_raw(csid, type_id, body, stream_id, timestamp)
        return True

    def _on_status(self, stream_id: int, level: str, code: str, description: str) -> None:
        info = _status(level, code, description, details=self._streams[stream_id].name)
        self._send_command(CSID_STREAM, stream_id, "onStatus", 0.0, None, info)

    def _on_message(self, raw: RawMessage, msg: Message, events: list[Event]) -> None:
        if isinstance(msg, CommandMessage) and msg.name == "connect":
            self._machine.process(ConnectionInput.CONNECT, "connect")
            self._on_connect(msg, events)
            return
        self._machine.process(ConnectionInput.MESSAGE, f"message type {raw.type_id}")
        match msg:
            case CommandMessage():
                self._on_command(raw.stream_id, msg, events)
            case AudioMessage(payload):
                self._media(raw, AudioReceived(raw.stream_id, raw.timestamp, payload), events)
            case VideoMessage(payload):
                self._media(raw, VideoReceived(raw.stream_id, raw.timestamp, payload), events)
            case DataMessage():
                self._media(raw, self._data_event(raw, msg), events)
            case _:
                events.append(UnknownMessageReceived(raw.type_id, raw.stream_id, raw.timestamp))

    def _media(self, raw: RawMessage, event: Event, events: list[Event]) -> None:
        stream = self._streams.get(raw.stream_id)
        if stream is None:
            raise RtmpProtocolError(f"media on stream {raw.stream_id}, which was never created")
        self._process(stream, StreamInput.MEDIA)
        events.append(event)

    def _on_connect(self, cmd: CommandMessage, events: list[Event]) -> None:
        obj = cmd.command_object if isinstance(cmd.command_object, dict) else {}
        app, tc_url = obj.get("app", ""), obj.get("tcUrl", "")
        self.app = app if isinstance(app, str) else ""
        self._send(CSID_CONTROL, WindowAcknowledgementSize(self.window_ack_size))
        self._send(CSID_CONTROL, SetPeerBandwidth(self.window_ack_size, BandwidthLimit.DYNAMIC))
        self._send(CSID_CONTROL, SetChunkSize(self._chunk_size))
        self._encoder.set_chunk_size(self._chunk_size)
        properties: dict[str, Amf0Value] = {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0}
        info = _status("status", "NetConnection.Connect.Success", "Connection succeeded.")
        info["objectEncoding"] = 0.0  # we answer in AMF0 whatever the client offered
        self._send_command(CSID_COMMAND, 0, "_result", cmd.transaction_id, properties, info)
        events.append(
            ConnectRequested(self.app, tc_url if isinstance(tc_url, str) else "", dict(obj))
        )

    def _on_command(self, stream_id: int, cmd: CommandMessage, events: list[Event]) -> None:
        name, txn, args = cmd.name, cmd.transaction_id, cmd.args
        first = args[0] if args else None
        match name:
            case "releaseStream":
                self._reply(txn, None)
            case "FCPublish":
                info = _status("status", "NetStream.Publish.Start", str(first))
                self._send_command(CSID_COMMAND, 0, "onFCPublish", 0.0, None, info)
                self._reply(txn, None)
            case "createStream":
                self._create_stream(txn)
            case "publish":
                self._publish(stream_id, first, args, events)
            case "play":
                self._play(stream_id, first, args, events)
            case "FCUnpublish":
                self._fc_unpublish(first, events)
                self._reply(txn, None)
            case "closeStream":
                self._close_stream(stream_id, events)
            case "deleteStream":
                self._delete_stream(first, events)
            case "_result" | "_error" | "onStatus":
                events.append(UnknownCommandReceived(name, stream_id, txn, args))
            case _:
                events.append(UnknownCommandReceived(name, stream_id, txn, args))
                if txn:
                    info = _status(
                        "error", "NetConnection.Call.Failed", f"Unknown command {name!r}."
                    )
                    self._send_command(CSID_COMMAND, stream_id, "_error", txn, None, info)

    def _reply(self, txn: float, *args: Amf0Value) -> None:
        if txn:
            self._send_command(CSID_COMMAND, 0, "_result", txn, *args)

    def _create_stream(self, txn: float) -> None:
        if len(self._streams) >= MAX_STREAMS:
            info = _status("error", "NetConnection.Call.Failed", "Too many streams.")
            self._send_command(CSID_COMMAND, 0, "_error", txn, None, info)
            return
        stream_id = self._next_stream_id
        self._next_stream_id += 1
        self._streams[stream_id] = StreamMachine(stream_id)
        self._send_command(CSID_COMMAND, 0, "_result", txn, None, float(stream_id))

    def _request(
        self, stream_id: int, name: Amf0Value, event: StreamInput
    ) -> tuple[StreamMachine, str]:
        """Move a stream to PUBLISH/PLAY_PENDING with a fresh request id; return it and the
        name's query string."""
        stream = self._streams.get(stream_id)
        if stream is None:
            raise RtmpProtocolError(f"{event.name} on stream {stream_id}, which was never created")
        if not isinstance(name, str | None):
            raise RtmpProtocolError(f"{event.name}: stream name is not a string")
        self._process(stream, event)
        self._last_request += 1
        stream.pending_request = self._last_request
        stream.name, query = _split_name(name or "")
        return stream, query

    def _publish(
        self, stream_id: int, name: Amf0Value, args: tuple[Amf0Value, ...], events: list[Event]
    ) -> None:
        stream, query = self._request(stream_id, name, StreamInput.PUBLISH)
        kind = args[1] if len(args) > 1 and isinstance(args[1], str) else "live"
        events.append(PublishRequested(stream_id, stream.name, query, kind, stream.pending_request))

    def _play(
        self, stream_id: int, name: Amf0Value, args: tuple[Amf0Value, ...], events: list[Event]
    ) -> None:
        stream, query = self._request(stream_id, name, StreamInput.PLAY)
        start = args[1] if len(args) > 1 and isinstance(args[1], float) else -2.0
        duration = args[2] if len(args) > 2 and isinstance(args[2], float) else -1.0
        reset = args[3] if len(args) > 3 and isinstance(args[3], bool) else True
        events.append(
            PlayRequested(
                stream_id, stream.name, query, start, duration, reset, stream.pending_request
            )
        )

    def _close_stream(self, stream_id: int, events: list[Event]) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return  # closing what does not exist is harmless; FFmpeg does it on teardown
        was = stream.state
        self._process(stream, StreamInput.CLOSE_STREAM)
        stream.pending_request = 0  # a pending publish/play is withdrawn
        if was in _ACTIVE:
            events.append(StreamDeleted(stream_id))

    def _fc_unpublish(self, name: Amf0Value, events: list[Event]) -> None:
        key = _split_name(name)[0] if isinstance(name, str) else None
        for stream in list(self._streams.values()):
            if stream.name == key and stream.state in (
                StreamState.PUBLISH_PENDING,
                StreamState.PUBLISHING,
            ):
                self._close_stream(stream.stream_id, events)

    def _delete_stream(self, stream_id: Amf0Value, events: list[Event]) -> None:
        if isinstance(stream_id, float) and stream_id.is_integer():
            self._close_stream(int(stream_id), events)
            self._streams.pop(int(stream_id), None)
