"""Events a session returns from ``receive_data``: frozen, slotted, named in the past tense.

A driver ``match``es on them. Server sessions produce the first group; client sessions
(``ClientSession``, used by tests and relays) the second; both produce the media, metadata,
acknowledgement, ping and close events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from synctv.media.amf0 import Amf0Value
from synctv.rtmp.messages import UserControlMessage

__all__ = [
    "AcknowledgementReceived",
    "AudioReceived",
    "ConnectAccepted",
    "ConnectRejected",
    "ConnectRequested",
    "DataReceived",
    "Event",
    "MetadataReceived",
    "PeerClosed",
    "PingResponseReceived",
    "PlayRequested",
    "PublishRequested",
    "ResultReceived",
    "StatusReceived",
    "StreamCreated",
    "StreamDeleted",
    "UnknownCommandReceived",
    "UnknownMessageReceived",
    "UserControlReceived",
    "VideoReceived",
]

# -- server role ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectRequested:
    """The client sent ``connect`` (already answered with NetConnection.Connect.Success)."""

    app: str
    tc_url: str
    command_object: dict[str, Amf0Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PublishRequested:
    """``publish`` on a stream: answer with ``accept_publish`` or ``reject_publish``.

    ``stream_key`` is the publishing name without its query string; ``query`` is the part after
    ``?`` (empty if none), kept raw for the driver to parse. ``request_id`` goes back to the
    answer, which is a no-op (False) once the request is stale (see session.py).
    """

    stream_id: int
    stream_key: str
    query: str = ""
    publish_type: str = "live"
    request_id: int = 0


@dataclass(frozen=True, slots=True)
class PlayRequested:
    """``play`` on a stream: answer with ``accept_play`` or ``reject_play`` and ``request_id``."""

    stream_id: int
    stream_name: str
    query: str = ""
    start: float = -2.0
    duration: float = -1.0
    reset: bool = True
    request_id: int = 0


@dataclass(frozen=True, slots=True)
class StreamDeleted:
    """A publishing or playing stream ended (FCUnpublish, closeStream, deleteStream)."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class UnknownCommandReceived:
    """A command the session does not handle (answered with ``_error`` if it had a transaction)."""

    name: str
    stream_id: int = 0
    transaction_id: float = 0.0
    args: tuple[Amf0Value, ...] = ()


# -- client role ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectAccepted:
    """The server answered ``connect`` with ``_result``."""

    properties: Amf0Value = None
    information: Amf0Value = None


@dataclass(frozen=True, slots=True)
class ConnectRejected:
    """The server answered ``connect`` with ``_error``."""

    information: Amf0Value = None


@dataclass(frozen=True, slots=True)
class StreamCreated:
    """The server answered ``createStream``: publish or play on ``stream_id`` next."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class StatusReceived:
    """``onStatus`` (NetStream.Publish.Start, NetStream.Play.StreamNotFound ...)."""

    stream_id: int
    level: str
    code: str
    description: str = ""
    info: dict[str, Amf0Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResultReceived:
    """Any other command from the server (``_result``/``_error`` of other calls, onFCPublish ...)."""

    name: str
    transaction_id: float
    stream_id: int = 0
    args: tuple[Amf0Value, ...] = ()


@dataclass(frozen=True, slots=True)
class UserControlReceived:
    """A user control event other than ping (StreamBegin, StreamEOF, SetBufferLength ...)."""

    message: UserControlMessage


# -- both roles -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetadataReceived:
    """``@setDataFrame``/``onMetaData`` data: decoded, plus the AMF0 bytes to forward.

    ``payload`` is the body starting at the ``onMetaData`` string (what an FLV script tag and
    an RTMP player expect), sliced from the wire without re-encoding.
    """

    stream_id: int
    metadata: dict[str, Amf0Value]
    payload: bytes
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class DataReceived:
    """Another data message (onTextData, onCuePoint, |RtmpSampleAccess ...)."""

    stream_id: int
    timestamp: int
    values: tuple[Amf0Value, ...]
    payload: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class AudioReceived:
    """An audio message: an FLV audio tag body."""

    stream_id: int
    timestamp: int
    payload: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class VideoReceived:
    """A video message: an FLV video tag body."""

    stream_id: int
    timestamp: int
    payload: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class AcknowledgementReceived:
    """The peer acknowledged ``sequence_number`` bytes (drivers can use it to spot slow peers)."""

    sequence_number: int


@dataclass(frozen=True, slots=True)
class PingResponseReceived:
    """The peer answered a ``ping()`` (the timestamp we sent comes back)."""

    timestamp: int


@dataclass(frozen=True, slots=True)
class UnknownMessageReceived:
    """A message type the session does not interpret (shared object, aggregate ...)."""

    type_id: int
    stream_id: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class PeerClosed:
    """The peer closed its side (``receive_data(b"")``)."""


Event = (
    ConnectRequested
    | PublishRequested
    | PlayRequested
    | StreamDeleted
    | UnknownCommandReceived
    | ConnectAccepted
    | ConnectRejected
    | StreamCreated
    | StatusReceived
    | ResultReceived
    | UserControlReceived
    | MetadataReceived
    | DataReceived
    | AudioReceived
    | VideoReceived
    | AcknowledgementReceived
    | PingResponseReceived
    | UnknownMessageReceived
    | PeerClosed
)
