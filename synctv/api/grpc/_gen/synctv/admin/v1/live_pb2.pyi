from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LiveStream(_message.Message):
    __slots__ = ("stream_id", "app", "room_id", "title", "created_at_ms")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    app: str
    room_id: str
    title: str
    created_at_ms: int
    def __init__(self, stream_id: _Optional[str] = ..., app: _Optional[str] = ..., room_id: _Optional[str] = ..., title: _Optional[str] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

class LiveStreamUrls(_message.Message):
    __slots__ = ("publish_server", "http_flv", "hls", "rtmp_play")
    PUBLISH_SERVER_FIELD_NUMBER: _ClassVar[int]
    HTTP_FLV_FIELD_NUMBER: _ClassVar[int]
    HLS_FIELD_NUMBER: _ClassVar[int]
    RTMP_PLAY_FIELD_NUMBER: _ClassVar[int]
    publish_server: str
    http_flv: str
    hls: str
    rtmp_play: str
    def __init__(self, publish_server: _Optional[str] = ..., http_flv: _Optional[str] = ..., hls: _Optional[str] = ..., rtmp_play: _Optional[str] = ...) -> None: ...

class LiveStreamStatus(_message.Message):
    __slots__ = ("live", "bitrate_bps", "viewers")
    LIVE_FIELD_NUMBER: _ClassVar[int]
    BITRATE_BPS_FIELD_NUMBER: _ClassVar[int]
    VIEWERS_FIELD_NUMBER: _ClassVar[int]
    live: bool
    bitrate_bps: int
    viewers: int
    def __init__(self, live: _Optional[bool] = ..., bitrate_bps: _Optional[int] = ..., viewers: _Optional[int] = ...) -> None: ...

class CreateLiveStreamRequest(_message.Message):
    __slots__ = ("room_id", "title")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    title: str
    def __init__(self, room_id: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class CreateLiveStreamResponse(_message.Message):
    __slots__ = ("stream", "stream_key", "urls")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    STREAM_KEY_FIELD_NUMBER: _ClassVar[int]
    URLS_FIELD_NUMBER: _ClassVar[int]
    stream: LiveStream
    stream_key: str
    urls: LiveStreamUrls
    def __init__(self, stream: _Optional[_Union[LiveStream, _Mapping]] = ..., stream_key: _Optional[str] = ..., urls: _Optional[_Union[LiveStreamUrls, _Mapping]] = ...) -> None: ...

class ListLiveStreamsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListedLiveStream(_message.Message):
    __slots__ = ("stream", "status", "urls")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    URLS_FIELD_NUMBER: _ClassVar[int]
    stream: LiveStream
    status: LiveStreamStatus
    urls: LiveStreamUrls
    def __init__(self, stream: _Optional[_Union[LiveStream, _Mapping]] = ..., status: _Optional[_Union[LiveStreamStatus, _Mapping]] = ..., urls: _Optional[_Union[LiveStreamUrls, _Mapping]] = ...) -> None: ...

class ListLiveStreamsResponse(_message.Message):
    __slots__ = ("streams",)
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    streams: _containers.RepeatedCompositeFieldContainer[ListedLiveStream]
    def __init__(self, streams: _Optional[_Iterable[_Union[ListedLiveStream, _Mapping]]] = ...) -> None: ...

class RotateLiveStreamKeyRequest(_message.Message):
    __slots__ = ("stream_id",)
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    def __init__(self, stream_id: _Optional[str] = ...) -> None: ...

class RotateLiveStreamKeyResponse(_message.Message):
    __slots__ = ("stream_key", "urls")
    STREAM_KEY_FIELD_NUMBER: _ClassVar[int]
    URLS_FIELD_NUMBER: _ClassVar[int]
    stream_key: str
    urls: LiveStreamUrls
    def __init__(self, stream_key: _Optional[str] = ..., urls: _Optional[_Union[LiveStreamUrls, _Mapping]] = ...) -> None: ...

class KickLiveStreamRequest(_message.Message):
    __slots__ = ("stream_id",)
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    def __init__(self, stream_id: _Optional[str] = ...) -> None: ...

class KickLiveStreamResponse(_message.Message):
    __slots__ = ("kicked",)
    KICKED_FIELD_NUMBER: _ClassVar[int]
    kicked: bool
    def __init__(self, kicked: _Optional[bool] = ...) -> None: ...

class DeleteLiveStreamRequest(_message.Message):
    __slots__ = ("stream_id",)
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    def __init__(self, stream_id: _Optional[str] = ...) -> None: ...

class DeleteLiveStreamResponse(_message.Message):
    __slots__ = ("kicked",)
    KICKED_FIELD_NUMBER: _ClassVar[int]
    kicked: bool
    def __init__(self, kicked: _Optional[bool] = ...) -> None: ...
