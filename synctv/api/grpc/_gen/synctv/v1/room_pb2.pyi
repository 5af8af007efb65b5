from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from synctv.api.grpc._gen.synctv.v1 import realtime_pb2 as _realtime_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RoomRef(_message.Message):
    __slots__ = ("room_id",)
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    def __init__(self, room_id: _Optional[str] = ...) -> None: ...

class MemberRef(_message.Message):
    __slots__ = ("room_id", "user_id")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    user_id: str
    def __init__(self, room_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class MediaRef(_message.Message):
    __slots__ = ("room_id", "media_id")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    media_id: str
    def __init__(self, room_id: _Optional[str] = ..., media_id: _Optional[str] = ...) -> None: ...

class Room(_message.Message):
    __slots__ = ("id", "name", "description", "is_public", "has_password", "owner_id", "member_count", "settings", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IS_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    HAS_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    is_public: bool
    has_password: bool
    owner_id: str
    member_count: int
    settings: _struct_pb2.Struct
    created_at: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., is_public: _Optional[bool] = ..., has_password: _Optional[bool] = ..., owner_id: _Optional[str] = ..., member_count: _Optional[int] = ..., settings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at: _Optional[str] = ...) -> None: ...

class RoomEnvelope(_message.Message):
    __slots__ = ("room",)
    ROOM_FIELD_NUMBER: _ClassVar[int]
    room: Room
    def __init__(self, room: _Optional[_Union[Room, _Mapping]] = ...) -> None: ...

class RoomAccess(_message.Message):
    __slots__ = ("room", "my_role", "my_permissions")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    MY_ROLE_FIELD_NUMBER: _ClassVar[int]
    MY_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    room: Room
    my_role: str
    my_permissions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, room: _Optional[_Union[Room, _Mapping]] = ..., my_role: _Optional[str] = ..., my_permissions: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateRoomRequest(_message.Message):
    __slots__ = ("name", "description", "is_public", "settings", "password")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IS_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    is_public: bool
    settings: _struct_pb2.Struct
    password: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., is_public: _Optional[bool] = ..., settings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., password: _Optional[str] = ...) -> None: ...

class DiscoverRoomsRequest(_message.Message):
    __slots__ = ("q", "page", "page_size")
    Q_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    q: str
    page: int
    page_size: int
    def __init__(self, q: _Optional[str] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class DiscoverRoomsResponse(_message.Message):
    __slots__ = ("rooms", "total", "page", "page_size")
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    rooms: _containers.RepeatedCompositeFieldContainer[Room]
    total: int
    page: int
    page_size: int
    def __init__(self, rooms: _Optional[_Iterable[_Union[Room, _Mapping]]] = ..., total: _Optional[int] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class MyRoom(_message.Message):
    __slots__ = ("room", "role")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    room: Room
    role: str
    def __init__(self, room: _Optional[_Union[Room, _Mapping]] = ..., role: _Optional[str] = ...) -> None: ...

class MyRooms(_message.Message):
    __slots__ = ("rooms",)
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    rooms: _containers.RepeatedCompositeFieldContainer[MyRoom]
    def __init__(self, rooms: _Optional[_Iterable[_Union[MyRoom, _Mapping]]] = ...) -> None: ...

class UpdateRoomRequest(_message.Message):
    __slots__ = ("room_id", "name", "description", "is_public")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IS_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    name: str
    description: str
    is_public: bool
    def __init__(self, room_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., is_public: _Optional[bool] = ...) -> None: ...

class UpdateRoomSettingsRequest(_message.Message):
    __slots__ = ("room_id", "patch")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    PATCH_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    patch: _struct_pb2.Struct
    def __init__(self, room_id: _Optional[str] = ..., patch: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SetRoomPasswordRequest(_message.Message):
    __slots__ = ("room_id", "password")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    password: str
    def __init__(self, room_id: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class RoomPasswordRegistrationStartRequest(_message.Message):
    __slots__ = ("room_id", "registration_request")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_REQUEST_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    registration_request: bytes
    def __init__(self, room_id: _Optional[str] = ..., registration_request: _Optional[bytes] = ...) -> None: ...

class RoomPasswordRegistrationStartResponse(_message.Message):
    __slots__ = ("session_id", "registration_response")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    registration_response: bytes
    def __init__(self, session_id: _Optional[str] = ..., registration_response: _Optional[bytes] = ...) -> None: ...

class RoomPasswordRegistrationFinishRequest(_message.Message):
    __slots__ = ("room_id", "session_id", "registration_upload")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_UPLOAD_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    session_id: str
    registration_upload: bytes
    def __init__(self, room_id: _Optional[str] = ..., session_id: _Optional[str] = ..., registration_upload: _Optional[bytes] = ...) -> None: ...

class RoomPasswordLoginStartRequest(_message.Message):
    __slots__ = ("room_id", "credential_request")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_REQUEST_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    credential_request: bytes
    def __init__(self, room_id: _Optional[str] = ..., credential_request: _Optional[bytes] = ...) -> None: ...

class RoomPasswordLoginStartResponse(_message.Message):
    __slots__ = ("session_id", "credential_response")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    credential_response: bytes
    def __init__(self, session_id: _Optional[str] = ..., credential_response: _Optional[bytes] = ...) -> None: ...

class RoomPasswordLoginFinishRequest(_message.Message):
    __slots__ = ("room_id", "session_id", "credential_finalization")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FINALIZATION_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    session_id: str
    credential_finalization: bytes
    def __init__(self, room_id: _Optional[str] = ..., session_id: _Optional[str] = ..., credential_finalization: _Optional[bytes] = ...) -> None: ...

class JoinRoomRequest(_message.Message):
    __slots__ = ("room_id", "password")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    password: str
    def __init__(self, room_id: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class JoinRoomResponse(_message.Message):
    __slots__ = ("room", "status")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    room: Room
    status: str
    def __init__(self, room: _Optional[_Union[Room, _Mapping]] = ..., status: _Optional[str] = ...) -> None: ...

class ListMembersRequest(_message.Message):
    __slots__ = ("room_id", "page", "page_size")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    page: int
    page_size: int
    def __init__(self, room_id: _Optional[str] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("user_id", "username", "role", "added", "removed", "joined_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    JOINED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    username: str
    role: str
    added: _containers.RepeatedScalarFieldContainer[str]
    removed: _containers.RepeatedScalarFieldContainer[str]
    joined_at: str
    def __init__(self, user_id: _Optional[str] = ..., username: _Optional[str] = ..., role: _Optional[str] = ..., added: _Optional[_Iterable[str]] = ..., removed: _Optional[_Iterable[str]] = ..., joined_at: _Optional[str] = ...) -> None: ...

class Members(_message.Message):
    __slots__ = ("members",)
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[Member]
    def __init__(self, members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ...) -> None: ...

class AddMemberRequest(_message.Message):
    __slots__ = ("room_id", "user_id", "role")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    user_id: str
    role: str
    def __init__(self, room_id: _Optional[str] = ..., user_id: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class UpdateMemberRequest(_message.Message):
    __slots__ = ("room_id", "user_id", "role", "added", "removed")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    user_id: str
    role: str
    added: _struct_pb2.ListValue
    removed: _struct_pb2.ListValue
    def __init__(self, room_id: _Optional[str] = ..., user_id: _Optional[str] = ..., role: _Optional[str] = ..., added: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ..., removed: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ...) -> None: ...

class KickMemberRequest(_message.Message):
    __slots__ = ("room_id", "user_id", "cooldown_seconds", "reason")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    user_id: str
    cooldown_seconds: int
    reason: str
    def __init__(self, room_id: _Optional[str] = ..., user_id: _Optional[str] = ..., cooldown_seconds: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class BanUserRequest(_message.Message):
    __slots__ = ("room_id", "user_id", "reason", "until")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    user_id: str
    reason: str
    until: str
    def __init__(self, room_id: _Optional[str] = ..., user_id: _Optional[str] = ..., reason: _Optional[str] = ..., until: _Optional[str] = ...) -> None: ...

class RoomBan(_message.Message):
    __slots__ = ("user_id", "username", "reason", "banned_by", "banned_by_name", "banned_at", "until")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BANNED_BY_FIELD_NUMBER: _ClassVar[int]
    BANNED_BY_NAME_FIELD_NUMBER: _ClassVar[int]
    BANNED_AT_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    username: str
    reason: str
    banned_by: str
    banned_by_name: str
    banned_at: str
    until: str
    def __init__(self, user_id: _Optional[str] = ..., username: _Optional[str] = ..., reason: _Optional[str] = ..., banned_by: _Optional[str] = ..., banned_by_name: _Optional[str] = ..., banned_at: _Optional[str] = ..., until: _Optional[str] = ...) -> None: ...

class RoomBans(_message.Message):
    __slots__ = ("bans",)
    BANS_FIELD_NUMBER: _ClassVar[int]
    bans: _containers.RepeatedCompositeFieldContainer[RoomBan]
    def __init__(self, bans: _Optional[_Iterable[_Union[RoomBan, _Mapping]]] = ...) -> None: ...

class JoinRequestEntry(_message.Message):
    __slots__ = ("user_id", "username", "requested_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    username: str
    requested_at: str
    def __init__(self, user_id: _Optional[str] = ..., username: _Optional[str] = ..., requested_at: _Optional[str] = ...) -> None: ...

class JoinRequests(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[JoinRequestEntry]
    def __init__(self, requests: _Optional[_Iterable[_Union[JoinRequestEntry, _Mapping]]] = ...) -> None: ...

class TransferOwnershipRequest(_message.Message):
    __slots__ = ("room_id", "new_owner_id")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    new_owner_id: str
    def __init__(self, room_id: _Optional[str] = ..., new_owner_id: _Optional[str] = ...) -> None: ...

class OnlineMember(_message.Message):
    __slots__ = ("connection_id", "user_id", "role", "buffering", "drift")
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    BUFFERING_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    connection_id: str
    user_id: str
    role: str
    buffering: bool
    drift: float
    def __init__(self, connection_id: _Optional[str] = ..., user_id: _Optional[str] = ..., role: _Optional[str] = ..., buffering: _Optional[bool] = ..., drift: _Optional[float] = ...) -> None: ...

class RoomPresence(_message.Message):
    __slots__ = ("online", "worst_drift", "buffering")
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    WORST_DRIFT_FIELD_NUMBER: _ClassVar[int]
    BUFFERING_FIELD_NUMBER: _ClassVar[int]
    online: _containers.RepeatedCompositeFieldContainer[OnlineMember]
    worst_drift: float
    buffering: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, online: _Optional[_Iterable[_Union[OnlineMember, _Mapping]]] = ..., worst_drift: _Optional[float] = ..., buffering: _Optional[_Iterable[str]] = ...) -> None: ...

class Media(_message.Message):
    __slots__ = ("id", "playlist_id", "position", "name", "source", "proxy_mode", "kind", "duration", "added_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    PLAYLIST_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PROXY_MODE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    ADDED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    playlist_id: str
    position: str
    name: str
    source: _struct_pb2.Struct
    proxy_mode: str
    kind: str
    duration: float
    added_by: str
    def __init__(self, id: _Optional[str] = ..., playlist_id: _Optional[str] = ..., position: _Optional[str] = ..., name: _Optional[str] = ..., source: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., proxy_mode: _Optional[str] = ..., kind: _Optional[str] = ..., duration: _Optional[float] = ..., added_by: _Optional[str] = ...) -> None: ...

class NewMedia(_message.Message):
    __slots__ = ("name", "source", "proxy_mode")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PROXY_MODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: _struct_pb2.Struct
    proxy_mode: str
    def __init__(self, name: _Optional[str] = ..., source: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., proxy_mode: _Optional[str] = ...) -> None: ...

class AddMediaRequest(_message.Message):
    __slots__ = ("room_id", "playlist_id", "items")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    PLAYLIST_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    playlist_id: str
    items: _containers.RepeatedCompositeFieldContainer[NewMedia]
    def __init__(self, room_id: _Optional[str] = ..., playlist_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[NewMedia, _Mapping]]] = ...) -> None: ...

class MediaList(_message.Message):
    __slots__ = ("media",)
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    media: _containers.RepeatedCompositeFieldContainer[Media]
    def __init__(self, media: _Optional[_Iterable[_Union[Media, _Mapping]]] = ...) -> None: ...

class ListMediaRequest(_message.Message):
    __slots__ = ("room_id", "playlist_id")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    PLAYLIST_ID_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    playlist_id: str
    def __init__(self, room_id: _Optional[str] = ..., playlist_id: _Optional[str] = ...) -> None: ...

class Folder(_message.Message):
    __slots__ = ("id", "parent_id", "name", "position")
    ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    id: str
    parent_id: str
    name: str
    position: str
    def __init__(self, id: _Optional[str] = ..., parent_id: _Optional[str] = ..., name: _Optional[str] = ..., position: _Optional[str] = ...) -> None: ...

class Playlist(_message.Message):
    __slots__ = ("playlist_id", "folders", "media")
    PLAYLIST_ID_FIELD_NUMBER: _ClassVar[int]
    FOLDERS_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    playlist_id: str
    folders: _containers.RepeatedCompositeFieldContainer[Folder]
    media: _containers.RepeatedCompositeFieldContainer[Media]
    def __init__(self, playlist_id: _Optional[str] = ..., folders: _Optional[_Iterable[_Union[Folder, _Mapping]]] = ..., media: _Optional[_Iterable[_Union[Media, _Mapping]]] = ...) -> None: ...

class CreatePlaylistRequest(_message.Message):
    __slots__ = ("room_id", "name", "parent_id")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    name: str
    parent_id: str
    def __init__(self, room_id: _Optional[str] = ..., name: _Optional[str] = ..., parent_id: _Optional[str] = ...) -> None: ...

class MoveMediaRequest(_message.Message):
    __slots__ = ("room_id", "media_id", "playlist_id", "before", "after")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    PLAYLIST_ID_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    media_id: str
    playlist_id: str
    before: str
    after: str
    def __init__(self, room_id: _Optional[str] = ..., media_id: _Optional[str] = ..., playlist_id: _Optional[str] = ..., before: _Optional[str] = ..., after: _Optional[str] = ...) -> None: ...

class PlaybackState(_message.Message):
    __slots__ = ("media_id", "kind", "position", "speed", "playing", "version", "duration", "server_time")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    PLAYING_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    media_id: str
    kind: str
    position: float
    speed: float
    playing: bool
    version: int
    duration: float
    server_time: float
    def __init__(self, media_id: _Optional[str] = ..., kind: _Optional[str] = ..., position: _Optional[float] = ..., speed: _Optional[float] = ..., playing: _Optional[bool] = ..., version: _Optional[int] = ..., duration: _Optional[float] = ..., server_time: _Optional[float] = ...) -> None: ...

class Playback(_message.Message):
    __slots__ = ("state", "playback", "media")
    STATE_FIELD_NUMBER: _ClassVar[int]
    PLAYBACK_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    state: PlaybackState
    playback: LivePlayback
    media: MediaPlayback
    def __init__(self, state: _Optional[_Union[PlaybackState, _Mapping]] = ..., playback: _Optional[_Union[LivePlayback, _Mapping]] = ..., media: _Optional[_Union[MediaPlayback, _Mapping]] = ...) -> None: ...

class MediaPlayback(_message.Message):
    __slots__ = ("media_id", "kind", "via", "url", "urls", "headers", "removed_headers", "subtitles", "duration", "expires_at", "refresh_at")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    URLS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_HEADERS_FIELD_NUMBER: _ClassVar[int]
    SUBTITLES_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REFRESH_AT_FIELD_NUMBER: _ClassVar[int]
    media_id: str
    kind: str
    via: str
    url: str
    urls: _containers.RepeatedCompositeFieldContainer[MediaLink]
    headers: _containers.ScalarMap[str, str]
    removed_headers: _containers.RepeatedScalarFieldContainer[str]
    subtitles: _containers.RepeatedCompositeFieldContainer[Subtitle]
    duration: float
    expires_at: float
    refresh_at: float
    def __init__(self, media_id: _Optional[str] = ..., kind: _Optional[str] = ..., via: _Optional[str] = ..., url: _Optional[str] = ..., urls: _Optional[_Iterable[_Union[MediaLink, _Mapping]]] = ..., headers: _Optional[_Mapping[str, str]] = ..., removed_headers: _Optional[_Iterable[str]] = ..., subtitles: _Optional[_Iterable[_Union[Subtitle, _Mapping]]] = ..., duration: _Optional[float] = ..., expires_at: _Optional[float] = ..., refresh_at: _Optional[float] = ...) -> None: ...

class MediaLink(_message.Message):
    __slots__ = ("via", "url", "expires_at")
    VIA_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    via: str
    url: str
    expires_at: float
    def __init__(self, via: _Optional[str] = ..., url: _Optional[str] = ..., expires_at: _Optional[float] = ...) -> None: ...

class Subtitle(_message.Message):
    __slots__ = ("name", "url", "format")
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    name: str
    url: str
    format: str
    def __init__(self, name: _Optional[str] = ..., url: _Optional[str] = ..., format: _Optional[str] = ...) -> None: ...

class LivePlayback(_message.Message):
    __slots__ = ("kind", "stream_id", "flv_url", "hls_url", "rtmp_url", "expires_at", "live")
    KIND_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    FLV_URL_FIELD_NUMBER: _ClassVar[int]
    HLS_URL_FIELD_NUMBER: _ClassVar[int]
    RTMP_URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    stream_id: str
    flv_url: str
    hls_url: str
    rtmp_url: str
    expires_at: int
    live: bool
    def __init__(self, kind: _Optional[str] = ..., stream_id: _Optional[str] = ..., flv_url: _Optional[str] = ..., hls_url: _Optional[str] = ..., rtmp_url: _Optional[str] = ..., expires_at: _Optional[int] = ..., live: _Optional[bool] = ...) -> None: ...

class ControlPlaybackRequest(_message.Message):
    __slots__ = ("room_id", "op", "position", "speed", "version", "expected_media_id", "client_sent_at", "clock_offset")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SENT_AT_FIELD_NUMBER: _ClassVar[int]
    CLOCK_OFFSET_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    op: str
    position: float
    speed: float
    version: int
    expected_media_id: str
    client_sent_at: float
    clock_offset: float
    def __init__(self, room_id: _Optional[str] = ..., op: _Optional[str] = ..., position: _Optional[float] = ..., speed: _Optional[float] = ..., version: _Optional[int] = ..., expected_media_id: _Optional[str] = ..., client_sent_at: _Optional[float] = ..., clock_offset: _Optional[float] = ...) -> None: ...

class StartPlaybackRequest(_message.Message):
    __slots__ = ("room_id", "media_id", "version")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    media_id: str
    version: int
    def __init__(self, room_id: _Optional[str] = ..., media_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class StepPlaybackRequest(_message.Message):
    __slots__ = ("room_id", "version")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    version: int
    def __init__(self, room_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("media_id", "name", "chosen_by", "started_at", "last_position")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_BY_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_POSITION_FIELD_NUMBER: _ClassVar[int]
    media_id: str
    name: str
    chosen_by: str
    started_at: str
    last_position: float
    def __init__(self, media_id: _Optional[str] = ..., name: _Optional[str] = ..., chosen_by: _Optional[str] = ..., started_at: _Optional[str] = ..., last_position: _Optional[float] = ...) -> None: ...

class PlaybackHistory(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ...) -> None: ...

class ChatMessageRef(_message.Message):
    __slots__ = ("room_id", "message_id")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    message_id: str
    def __init__(self, room_id: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class Danmaku(_message.Message):
    __slots__ = ("mode", "color", "media_id", "position")
    MODE_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    mode: str
    color: str
    media_id: str
    position: float
    def __init__(self, mode: _Optional[str] = ..., color: _Optional[str] = ..., media_id: _Optional[str] = ..., position: _Optional[float] = ...) -> None: ...

class ChatMessage(_message.Message):
    __slots__ = ("id", "sender_id", "sender_name", "text", "sent_at", "danmaku")
    ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    DANMAKU_FIELD_NUMBER: _ClassVar[int]
    id: str
    sender_id: str
    sender_name: str
    text: str
    sent_at: float
    danmaku: Danmaku
    def __init__(self, id: _Optional[str] = ..., sender_id: _Optional[str] = ..., sender_name: _Optional[str] = ..., text: _Optional[str] = ..., sent_at: _Optional[float] = ..., danmaku: _Optional[_Union[Danmaku, _Mapping]] = ...) -> None: ...

class SendChatMessageRequest(_message.Message):
    __slots__ = ("room_id", "text", "danmaku_mode", "danmaku_color")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DANMAKU_MODE_FIELD_NUMBER: _ClassVar[int]
    DANMAKU_COLOR_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    text: str
    danmaku_mode: str
    danmaku_color: str
    def __init__(self, room_id: _Optional[str] = ..., text: _Optional[str] = ..., danmaku_mode: _Optional[str] = ..., danmaku_color: _Optional[str] = ...) -> None: ...

class ListChatMessagesRequest(_message.Message):
    __slots__ = ("room_id", "before", "limit")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    before: str
    limit: int
    def __init__(self, room_id: _Optional[str] = ..., before: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ChatHistory(_message.Message):
    __slots__ = ("messages", "next_before")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    next_before: str
    def __init__(self, messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., next_before: _Optional[str] = ...) -> None: ...

class DanmakuTimelineRequest(_message.Message):
    __slots__ = ("room_id", "media_id", "start", "end")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    media_id: str
    start: float
    end: float
    def __init__(self, room_id: _Optional[str] = ..., media_id: _Optional[str] = ..., start: _Optional[float] = ..., end: _Optional[float] = ...) -> None: ...

class DanmakuTimeline(_message.Message):
    __slots__ = ("danmaku", "truncated")
    DANMAKU_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    danmaku: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    truncated: bool
    def __init__(self, danmaku: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class LiveStreamRef(_message.Message):
    __slots__ = ("room_id", "stream_id")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    stream_id: str
    def __init__(self, room_id: _Optional[str] = ..., stream_id: _Optional[str] = ...) -> None: ...

class CreateLiveStreamRequest(_message.Message):
    __slots__ = ("room_id", "title")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    title: str
    def __init__(self, room_id: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class LiveStream(_message.Message):
    __slots__ = ("stream_id", "flv_url", "hls_url", "rtmp_url", "expires_at", "live", "title", "created_at", "rtmp_server", "diagnostics")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    FLV_URL_FIELD_NUMBER: _ClassVar[int]
    HLS_URL_FIELD_NUMBER: _ClassVar[int]
    RTMP_URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    RTMP_SERVER_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTICS_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    flv_url: str
    hls_url: str
    rtmp_url: str
    expires_at: int
    live: bool
    title: str
    created_at: str
    rtmp_server: str
    diagnostics: LiveDiagnostics
    def __init__(self, stream_id: _Optional[str] = ..., flv_url: _Optional[str] = ..., hls_url: _Optional[str] = ..., rtmp_url: _Optional[str] = ..., expires_at: _Optional[int] = ..., live: _Optional[bool] = ..., title: _Optional[str] = ..., created_at: _Optional[str] = ..., rtmp_server: _Optional[str] = ..., diagnostics: _Optional[_Union[LiveDiagnostics, _Mapping]] = ...) -> None: ...

class StreamWarning(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class LiveDiagnostics(_message.Message):
    __slots__ = ("encoder", "video_codec", "video_profile", "video_level", "width", "height", "frame_rate", "bitrate_kbps", "announced_kbps", "keyframe_interval_ms", "audio_codec", "warnings", "viewers")
    ENCODER_FIELD_NUMBER: _ClassVar[int]
    VIDEO_CODEC_FIELD_NUMBER: _ClassVar[int]
    VIDEO_PROFILE_FIELD_NUMBER: _ClassVar[int]
    VIDEO_LEVEL_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    BITRATE_KBPS_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCED_KBPS_FIELD_NUMBER: _ClassVar[int]
    KEYFRAME_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CODEC_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    VIEWERS_FIELD_NUMBER: _ClassVar[int]
    encoder: str
    video_codec: str
    video_profile: str
    video_level: str
    width: int
    height: int
    frame_rate: float
    bitrate_kbps: float
    announced_kbps: float
    keyframe_interval_ms: int
    audio_codec: str
    warnings: _containers.RepeatedCompositeFieldContainer[StreamWarning]
    viewers: LiveViewers
    def __init__(self, encoder: _Optional[str] = ..., video_codec: _Optional[str] = ..., video_profile: _Optional[str] = ..., video_level: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., frame_rate: _Optional[float] = ..., bitrate_kbps: _Optional[float] = ..., announced_kbps: _Optional[float] = ..., keyframe_interval_ms: _Optional[int] = ..., audio_codec: _Optional[str] = ..., warnings: _Optional[_Iterable[_Union[StreamWarning, _Mapping]]] = ..., viewers: _Optional[_Union[LiveViewers, _Mapping]] = ...) -> None: ...

class LiveViewers(_message.Message):
    __slots__ = ("flv", "hls", "rtmp", "total")
    FLV_FIELD_NUMBER: _ClassVar[int]
    HLS_FIELD_NUMBER: _ClassVar[int]
    RTMP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    flv: int
    hls: int
    rtmp: int
    total: int
    def __init__(self, flv: _Optional[int] = ..., hls: _Optional[int] = ..., rtmp: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class CreatedLiveStream(_message.Message):
    __slots__ = ("stream_id", "flv_url", "hls_url", "rtmp_url", "expires_at", "live", "title", "created_at", "rtmp_server", "stream_key", "media_id")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    FLV_URL_FIELD_NUMBER: _ClassVar[int]
    HLS_URL_FIELD_NUMBER: _ClassVar[int]
    RTMP_URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    RTMP_SERVER_FIELD_NUMBER: _ClassVar[int]
    STREAM_KEY_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    flv_url: str
    hls_url: str
    rtmp_url: str
    expires_at: int
    live: bool
    title: str
    created_at: str
    rtmp_server: str
    stream_key: str
    media_id: str
    def __init__(self, stream_id: _Optional[str] = ..., flv_url: _Optional[str] = ..., hls_url: _Optional[str] = ..., rtmp_url: _Optional[str] = ..., expires_at: _Optional[int] = ..., live: _Optional[bool] = ..., title: _Optional[str] = ..., created_at: _Optional[str] = ..., rtmp_server: _Optional[str] = ..., stream_key: _Optional[str] = ..., media_id: _Optional[str] = ...) -> None: ...

class LiveStreams(_message.Message):
    __slots__ = ("streams",)
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    streams: _containers.RepeatedCompositeFieldContainer[LiveStream]
    def __init__(self, streams: _Optional[_Iterable[_Union[LiveStream, _Mapping]]] = ...) -> None: ...

class IceServer(_message.Message):
    __slots__ = ("urls", "username", "credential")
    URLS_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    urls: _containers.RepeatedScalarFieldContainer[str]
    username: str
    credential: str
    def __init__(self, urls: _Optional[_Iterable[str]] = ..., username: _Optional[str] = ..., credential: _Optional[str] = ...) -> None: ...

class BuiltinStun(_message.Message):
    __slots__ = ("url", "transports", "reachable", "problem")
    URL_FIELD_NUMBER: _ClassVar[int]
    TRANSPORTS_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    url: str
    transports: _containers.RepeatedScalarFieldContainer[str]
    reachable: bool
    problem: str
    def __init__(self, url: _Optional[str] = ..., transports: _Optional[_Iterable[str]] = ..., reachable: _Optional[bool] = ..., problem: _Optional[str] = ...) -> None: ...

class VoiceIceServers(_message.Message):
    __slots__ = ("ice_servers", "builtin_stun", "turn_expires_at", "max_participants")
    ICE_SERVERS_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_STUN_FIELD_NUMBER: _ClassVar[int]
    TURN_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    MAX_PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    ice_servers: _containers.RepeatedCompositeFieldContainer[IceServer]
    builtin_stun: BuiltinStun
    turn_expires_at: int
    max_participants: int
    def __init__(self, ice_servers: _Optional[_Iterable[_Union[IceServer, _Mapping]]] = ..., builtin_stun: _Optional[_Union[BuiltinStun, _Mapping]] = ..., turn_expires_at: _Optional[int] = ..., max_participants: _Optional[int] = ...) -> None: ...

class RoomProvider(_message.Message):
    __slots__ = ("id", "name", "kind", "browsable")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BROWSABLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    kind: str
    browsable: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., browsable: _Optional[bool] = ...) -> None: ...

class RoomProviders(_message.Message):
    __slots__ = ("instances",)
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedCompositeFieldContainer[RoomProvider]
    def __init__(self, instances: _Optional[_Iterable[_Union[RoomProvider, _Mapping]]] = ...) -> None: ...

class BrowseRoomProviderRequest(_message.Message):
    __slots__ = ("room_id", "instance", "path")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    instance: str
    path: str
    def __init__(self, room_id: _Optional[str] = ..., instance: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class ProviderEntry(_message.Message):
    __slots__ = ("name", "path", "is_dir", "size")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    IS_DIR_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    path: str
    is_dir: bool
    size: int
    def __init__(self, name: _Optional[str] = ..., path: _Optional[str] = ..., is_dir: _Optional[bool] = ..., size: _Optional[int] = ...) -> None: ...

class RoomProviderListing(_message.Message):
    __slots__ = ("instance", "path", "entries")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    instance: RoomProvider
    path: str
    entries: _containers.RepeatedCompositeFieldContainer[ProviderEntry]
    def __init__(self, instance: _Optional[_Union[RoomProvider, _Mapping]] = ..., path: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[ProviderEntry, _Mapping]]] = ...) -> None: ...
