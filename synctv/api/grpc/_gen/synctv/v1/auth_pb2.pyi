from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RegistrationStartRequest(_message.Message):
    __slots__ = ("username", "registration_request")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_REQUEST_FIELD_NUMBER: _ClassVar[int]
    username: str
    registration_request: bytes
    def __init__(self, username: _Optional[str] = ..., registration_request: _Optional[bytes] = ...) -> None: ...

class RegistrationStartResponse(_message.Message):
    __slots__ = ("session_id", "registration_response")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    registration_response: bytes
    def __init__(self, session_id: _Optional[str] = ..., registration_response: _Optional[bytes] = ...) -> None: ...

class RegistrationFinishRequest(_message.Message):
    __slots__ = ("session_id", "registration_upload")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_UPLOAD_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    registration_upload: bytes
    def __init__(self, session_id: _Optional[str] = ..., registration_upload: _Optional[bytes] = ...) -> None: ...

class RegistrationFinishResponse(_message.Message):
    __slots__ = ("status", "user", "tokens")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    status: str
    user: User
    tokens: Tokens
    def __init__(self, status: _Optional[str] = ..., user: _Optional[_Union[User, _Mapping]] = ..., tokens: _Optional[_Union[Tokens, _Mapping]] = ...) -> None: ...

class LoginStartRequest(_message.Message):
    __slots__ = ("username", "credential_request")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_REQUEST_FIELD_NUMBER: _ClassVar[int]
    username: str
    credential_request: bytes
    def __init__(self, username: _Optional[str] = ..., credential_request: _Optional[bytes] = ...) -> None: ...

class LoginStartResponse(_message.Message):
    __slots__ = ("session_id", "credential_response")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    credential_response: bytes
    def __init__(self, session_id: _Optional[str] = ..., credential_response: _Optional[bytes] = ...) -> None: ...

class LoginFinishRequest(_message.Message):
    __slots__ = ("session_id", "credential_finalization")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FINALIZATION_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    credential_finalization: bytes
    def __init__(self, session_id: _Optional[str] = ..., credential_finalization: _Optional[bytes] = ...) -> None: ...

class Tokens(_message.Message):
    __slots__ = ("access_token", "refresh_token")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    refresh_token: str
    def __init__(self, access_token: _Optional[str] = ..., refresh_token: _Optional[str] = ...) -> None: ...

class SignedIn(_message.Message):
    __slots__ = ("user", "tokens")
    USER_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    user: User
    tokens: Tokens
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., tokens: _Optional[_Union[Tokens, _Mapping]] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("id", "username", "display_name", "role", "status", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    username: str
    display_name: str
    role: str
    status: str
    created_at: str
    def __init__(self, id: _Optional[str] = ..., username: _Optional[str] = ..., display_name: _Optional[str] = ..., role: _Optional[str] = ..., status: _Optional[str] = ..., created_at: _Optional[str] = ...) -> None: ...

class RefreshRequest(_message.Message):
    __slots__ = ("refresh_token",)
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    def __init__(self, refresh_token: _Optional[str] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("id", "created_at", "last_used_at", "client_address", "user_agent", "current")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    created_at: str
    last_used_at: str
    client_address: str
    user_agent: str
    current: bool
    def __init__(self, id: _Optional[str] = ..., created_at: _Optional[str] = ..., last_used_at: _Optional[str] = ..., client_address: _Optional[str] = ..., user_agent: _Optional[str] = ..., current: _Optional[bool] = ...) -> None: ...

class Sessions(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ...) -> None: ...

class RevokeSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class CreateTicketRequest(_message.Message):
    __slots__ = ("room_id",)
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    def __init__(self, room_id: _Optional[str] = ...) -> None: ...

class Ticket(_message.Message):
    __slots__ = ("ticket", "room_id", "expires_in_secs")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECS_FIELD_NUMBER: _ClassVar[int]
    ticket: str
    room_id: str
    expires_in_secs: int
    def __init__(self, ticket: _Optional[str] = ..., room_id: _Optional[str] = ..., expires_in_secs: _Optional[int] = ...) -> None: ...

class PasswordChangeStartRequest(_message.Message):
    __slots__ = ("registration_request",)
    REGISTRATION_REQUEST_FIELD_NUMBER: _ClassVar[int]
    registration_request: bytes
    def __init__(self, registration_request: _Optional[bytes] = ...) -> None: ...

class PasswordChangeFinishRequest(_message.Message):
    __slots__ = ("session_id", "registration_upload")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_UPLOAD_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    registration_upload: bytes
    def __init__(self, session_id: _Optional[str] = ..., registration_upload: _Optional[bytes] = ...) -> None: ...
