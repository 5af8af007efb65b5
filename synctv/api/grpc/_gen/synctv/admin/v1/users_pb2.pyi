from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResetPasswordResponse(_message.Message):
    __slots__ = ("reset_url", "expires_in_secs")
    RESET_URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECS_FIELD_NUMBER: _ClassVar[int]
    reset_url: str
    expires_in_secs: int
    def __init__(self, reset_url: _Optional[str] = ..., expires_in_secs: _Optional[int] = ...) -> None: ...

class UserRef(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: str
    def __init__(self, user: _Optional[str] = ...) -> None: ...

class ListUsersRequest(_message.Message):
    __slots__ = ("search", "role", "status", "banned", "page", "page_size")
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BANNED_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    search: str
    role: str
    status: str
    banned: str
    page: int
    page_size: int
    def __init__(self, search: _Optional[str] = ..., role: _Optional[str] = ..., status: _Optional[str] = ..., banned: _Optional[str] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("id", "username", "role", "status", "banned", "has_password", "created_at", "ban")
    ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BANNED_FIELD_NUMBER: _ClassVar[int]
    HAS_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    BAN_FIELD_NUMBER: _ClassVar[int]
    id: str
    username: str
    role: str
    status: str
    banned: bool
    has_password: bool
    created_at: str
    ban: AccountBan
    def __init__(self, id: _Optional[str] = ..., username: _Optional[str] = ..., role: _Optional[str] = ..., status: _Optional[str] = ..., banned: _Optional[bool] = ..., has_password: _Optional[bool] = ..., created_at: _Optional[str] = ..., ban: _Optional[_Union[AccountBan, _Mapping]] = ...) -> None: ...

class AccountBan(_message.Message):
    __slots__ = ("reason", "banned_by", "banned_by_name", "banned_at", "until")
    REASON_FIELD_NUMBER: _ClassVar[int]
    BANNED_BY_FIELD_NUMBER: _ClassVar[int]
    BANNED_BY_NAME_FIELD_NUMBER: _ClassVar[int]
    BANNED_AT_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    reason: str
    banned_by: str
    banned_by_name: str
    banned_at: str
    until: str
    def __init__(self, reason: _Optional[str] = ..., banned_by: _Optional[str] = ..., banned_by_name: _Optional[str] = ..., banned_at: _Optional[str] = ..., until: _Optional[str] = ...) -> None: ...

class ListUsersResponse(_message.Message):
    __slots__ = ("users", "total")
    USERS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[Account]
    total: int
    def __init__(self, users: _Optional[_Iterable[_Union[Account, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class CreateUserStartRequest(_message.Message):
    __slots__ = ("username", "role", "registration_request")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_REQUEST_FIELD_NUMBER: _ClassVar[int]
    username: str
    role: str
    registration_request: bytes
    def __init__(self, username: _Optional[str] = ..., role: _Optional[str] = ..., registration_request: _Optional[bytes] = ...) -> None: ...

class CreateUserStartResponse(_message.Message):
    __slots__ = ("session_id", "registration_response")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    registration_response: bytes
    def __init__(self, session_id: _Optional[str] = ..., registration_response: _Optional[bytes] = ...) -> None: ...

class CreateUserFinishRequest(_message.Message):
    __slots__ = ("session_id", "registration_upload")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_UPLOAD_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    registration_upload: bytes
    def __init__(self, session_id: _Optional[str] = ..., registration_upload: _Optional[bytes] = ...) -> None: ...

class SetRoleRequest(_message.Message):
    __slots__ = ("user", "role")
    USER_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    user: str
    role: str
    def __init__(self, user: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class BanUserRequest(_message.Message):
    __slots__ = ("user", "reason", "until")
    USER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    user: str
    reason: str
    until: str
    def __init__(self, user: _Optional[str] = ..., reason: _Optional[str] = ..., until: _Optional[str] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("id", "created_at", "last_used_at", "client_address", "user_agent")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    created_at: str
    last_used_at: str
    client_address: str
    user_agent: str
    def __init__(self, id: _Optional[str] = ..., created_at: _Optional[str] = ..., last_used_at: _Optional[str] = ..., client_address: _Optional[str] = ..., user_agent: _Optional[str] = ...) -> None: ...

class SessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ...) -> None: ...

class RevokeSessionsResponse(_message.Message):
    __slots__ = ("revoked",)
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    revoked: int
    def __init__(self, revoked: _Optional[int] = ...) -> None: ...
