from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ClientMessage(_message.Message):
    __slots__ = ("op_id", "hello", "clock", "playback", "report", "chat", "chat_delete", "voice_join", "voice_leave", "voice_offer", "voice_answer", "voice_candidate")
    OP_ID_FIELD_NUMBER: _ClassVar[int]
    HELLO_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    PLAYBACK_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    CHAT_FIELD_NUMBER: _ClassVar[int]
    CHAT_DELETE_FIELD_NUMBER: _ClassVar[int]
    VOICE_JOIN_FIELD_NUMBER: _ClassVar[int]
    VOICE_LEAVE_FIELD_NUMBER: _ClassVar[int]
    VOICE_OFFER_FIELD_NUMBER: _ClassVar[int]
    VOICE_ANSWER_FIELD_NUMBER: _ClassVar[int]
    VOICE_CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    op_id: str
    hello: Hello
    clock: ClockPing
    playback: PlaybackCommand
    report: PlaybackReport
    chat: ChatSend
    chat_delete: ChatDelete
    voice_join: VoiceJoin
    voice_leave: VoiceLeave
    voice_offer: VoiceDescription
    voice_answer: VoiceDescription
    voice_candidate: VoiceCandidate
    def __init__(self, op_id: _Optional[str] = ..., hello: _Optional[_Union[Hello, _Mapping]] = ..., clock: _Optional[_Union[ClockPing, _Mapping]] = ..., playback: _Optional[_Union[PlaybackCommand, _Mapping]] = ..., report: _Optional[_Union[PlaybackReport, _Mapping]] = ..., chat: _Optional[_Union[ChatSend, _Mapping]] = ..., chat_delete: _Optional[_Union[ChatDelete, _Mapping]] = ..., voice_join: _Optional[_Union[VoiceJoin, _Mapping]] = ..., voice_leave: _Optional[_Union[VoiceLeave, _Mapping]] = ..., voice_offer: _Optional[_Union[VoiceDescription, _Mapping]] = ..., voice_answer: _Optional[_Union[VoiceDescription, _Mapping]] = ..., voice_candidate: _Optional[_Union[VoiceCandidate, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("resume_from",)
    RESUME_FROM_FIELD_NUMBER: _ClassVar[int]
    resume_from: int
    def __init__(self, resume_from: _Optional[int] = ...) -> None: ...

class ClockPing(_message.Message):
    __slots__ = ("client_sent",)
    CLIENT_SENT_FIELD_NUMBER: _ClassVar[int]
    client_sent: float
    def __init__(self, client_sent: _Optional[float] = ...) -> None: ...

class PlaybackCommand(_message.Message):
    __slots__ = ("action", "position", "speed", "media_id", "version", "expected_media_id", "client_sent", "clock_offset")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SENT_FIELD_NUMBER: _ClassVar[int]
    CLOCK_OFFSET_FIELD_NUMBER: _ClassVar[int]
    action: str
    position: float
    speed: float
    media_id: str
    version: int
    expected_media_id: str
    client_sent: float
    clock_offset: float
    def __init__(self, action: _Optional[str] = ..., position: _Optional[float] = ..., speed: _Optional[float] = ..., media_id: _Optional[str] = ..., version: _Optional[int] = ..., expected_media_id: _Optional[str] = ..., client_sent: _Optional[float] = ..., clock_offset: _Optional[float] = ...) -> None: ...

class PlaybackReport(_message.Message):
    __slots__ = ("media_id", "position", "buffering", "drift", "latency")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    BUFFERING_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    media_id: str
    position: float
    buffering: bool
    drift: float
    latency: float
    def __init__(self, media_id: _Optional[str] = ..., position: _Optional[float] = ..., buffering: _Optional[bool] = ..., drift: _Optional[float] = ..., latency: _Optional[float] = ...) -> None: ...

class ChatSend(_message.Message):
    __slots__ = ("text", "danmaku_mode", "danmaku_color")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DANMAKU_MODE_FIELD_NUMBER: _ClassVar[int]
    DANMAKU_COLOR_FIELD_NUMBER: _ClassVar[int]
    text: str
    danmaku_mode: str
    danmaku_color: str
    def __init__(self, text: _Optional[str] = ..., danmaku_mode: _Optional[str] = ..., danmaku_color: _Optional[str] = ...) -> None: ...

class ChatDelete(_message.Message):
    __slots__ = ("message_id",)
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    def __init__(self, message_id: _Optional[str] = ...) -> None: ...

class VoiceJoin(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VoiceLeave(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VoiceDescription(_message.Message):
    __slots__ = ("to", "sdp", "from_id")
    TO_FIELD_NUMBER: _ClassVar[int]
    SDP_FIELD_NUMBER: _ClassVar[int]
    FROM_ID_FIELD_NUMBER: _ClassVar[int]
    to: str
    sdp: str
    from_id: str
    def __init__(self, to: _Optional[str] = ..., sdp: _Optional[str] = ..., from_id: _Optional[str] = ...) -> None: ...

class VoiceCandidate(_message.Message):
    __slots__ = ("to", "candidate", "sdp_mid", "sdp_m_line_index", "username_fragment", "from_id")
    TO_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    SDP_MID_FIELD_NUMBER: _ClassVar[int]
    SDP_M_LINE_INDEX_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FRAGMENT_FIELD_NUMBER: _ClassVar[int]
    FROM_ID_FIELD_NUMBER: _ClassVar[int]
    to: str
    candidate: str
    sdp_mid: str
    sdp_m_line_index: int
    username_fragment: str
    from_id: str
    def __init__(self, to: _Optional[str] = ..., candidate: _Optional[str] = ..., sdp_mid: _Optional[str] = ..., sdp_m_line_index: _Optional[int] = ..., username_fragment: _Optional[str] = ..., from_id: _Optional[str] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("welcome", "clock_ack", "event", "playback_state", "error", "termination", "chat_ack", "voice_joined", "voice_peer_joined", "voice_peer_left", "voice_offer", "voice_answer", "voice_candidate", "voice_ended", "live_clock")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    CLOCK_ACK_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    PLAYBACK_STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TERMINATION_FIELD_NUMBER: _ClassVar[int]
    CHAT_ACK_FIELD_NUMBER: _ClassVar[int]
    VOICE_JOINED_FIELD_NUMBER: _ClassVar[int]
    VOICE_PEER_JOINED_FIELD_NUMBER: _ClassVar[int]
    VOICE_PEER_LEFT_FIELD_NUMBER: _ClassVar[int]
    VOICE_OFFER_FIELD_NUMBER: _ClassVar[int]
    VOICE_ANSWER_FIELD_NUMBER: _ClassVar[int]
    VOICE_CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    VOICE_ENDED_FIELD_NUMBER: _ClassVar[int]
    LIVE_CLOCK_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    clock_ack: ClockAck
    event: RoomEvent
    playback_state: PlaybackStateMessage
    error: ErrorMessage
    termination: Termination
    chat_ack: ChatAck
    voice_joined: VoiceJoined
    voice_peer_joined: VoicePeer
    voice_peer_left: VoicePeer
    voice_offer: VoiceDescription
    voice_answer: VoiceDescription
    voice_candidate: VoiceCandidate
    voice_ended: VoiceEnded
    live_clock: LiveClock
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., clock_ack: _Optional[_Union[ClockAck, _Mapping]] = ..., event: _Optional[_Union[RoomEvent, _Mapping]] = ..., playback_state: _Optional[_Union[PlaybackStateMessage, _Mapping]] = ..., error: _Optional[_Union[ErrorMessage, _Mapping]] = ..., termination: _Optional[_Union[Termination, _Mapping]] = ..., chat_ack: _Optional[_Union[ChatAck, _Mapping]] = ..., voice_joined: _Optional[_Union[VoiceJoined, _Mapping]] = ..., voice_peer_joined: _Optional[_Union[VoicePeer, _Mapping]] = ..., voice_peer_left: _Optional[_Union[VoicePeer, _Mapping]] = ..., voice_offer: _Optional[_Union[VoiceDescription, _Mapping]] = ..., voice_answer: _Optional[_Union[VoiceDescription, _Mapping]] = ..., voice_candidate: _Optional[_Union[VoiceCandidate, _Mapping]] = ..., voice_ended: _Optional[_Union[VoiceEnded, _Mapping]] = ..., live_clock: _Optional[_Union[LiveClock, _Mapping]] = ...) -> None: ...

class LiveClock(_message.Message):
    __slots__ = ("stream_id", "media_id", "media_time", "server_time", "target_latency")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TIME_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    TARGET_LATENCY_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    media_id: str
    media_time: float
    server_time: float
    target_latency: float
    def __init__(self, stream_id: _Optional[str] = ..., media_id: _Optional[str] = ..., media_time: _Optional[float] = ..., server_time: _Optional[float] = ..., target_latency: _Optional[float] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("room", "playback", "last_seq", "connection_id")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    PLAYBACK_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    room: _struct_pb2.Struct
    playback: PlaybackStateMessage
    last_seq: int
    connection_id: str
    def __init__(self, room: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., playback: _Optional[_Union[PlaybackStateMessage, _Mapping]] = ..., last_seq: _Optional[int] = ..., connection_id: _Optional[str] = ...) -> None: ...

class ClockAck(_message.Message):
    __slots__ = ("client_sent", "server_received", "server_sent")
    CLIENT_SENT_FIELD_NUMBER: _ClassVar[int]
    SERVER_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    SERVER_SENT_FIELD_NUMBER: _ClassVar[int]
    client_sent: float
    server_received: float
    server_sent: float
    def __init__(self, client_sent: _Optional[float] = ..., server_received: _Optional[float] = ..., server_sent: _Optional[float] = ...) -> None: ...

class RoomEvent(_message.Message):
    __slots__ = ("seq", "type", "payload", "actor", "at")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    type: str
    payload: _struct_pb2.Struct
    actor: str
    at: float
    def __init__(self, seq: _Optional[int] = ..., type: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., actor: _Optional[str] = ..., at: _Optional[float] = ...) -> None: ...

class PlaybackStateMessage(_message.Message):
    __slots__ = ("media_id", "kind", "position", "speed", "playing", "version", "duration", "server_time", "op_id")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    PLAYING_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    OP_ID_FIELD_NUMBER: _ClassVar[int]
    media_id: str
    kind: str
    position: float
    speed: float
    playing: bool
    version: int
    duration: float
    server_time: float
    op_id: str
    def __init__(self, media_id: _Optional[str] = ..., kind: _Optional[str] = ..., position: _Optional[float] = ..., speed: _Optional[float] = ..., playing: _Optional[bool] = ..., version: _Optional[int] = ..., duration: _Optional[float] = ..., server_time: _Optional[float] = ..., op_id: _Optional[str] = ...) -> None: ...

class ChatAck(_message.Message):
    __slots__ = ("op_id", "message_id")
    OP_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    op_id: str
    message_id: str
    def __init__(self, op_id: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class ErrorMessage(_message.Message):
    __slots__ = ("code", "message", "op_id", "details")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OP_ID_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    op_id: str
    details: _struct_pb2.Struct
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., op_id: _Optional[str] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class VoiceJoined(_message.Message):
    __slots__ = ("connection_id", "participants", "max_participants")
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    MAX_PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    connection_id: str
    participants: _containers.RepeatedCompositeFieldContainer[VoicePeer]
    max_participants: int
    def __init__(self, connection_id: _Optional[str] = ..., participants: _Optional[_Iterable[_Union[VoicePeer, _Mapping]]] = ..., max_participants: _Optional[int] = ...) -> None: ...

class VoicePeer(_message.Message):
    __slots__ = ("connection_id", "user_id", "reason")
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    connection_id: str
    user_id: str
    reason: str
    def __init__(self, connection_id: _Optional[str] = ..., user_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class VoiceEnded(_message.Message):
    __slots__ = ("reason", "message")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    reason: str
    message: str
    def __init__(self, reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Termination(_message.Message):
    __slots__ = ("reason", "message")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    reason: str
    message: str
    def __init__(self, reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...
