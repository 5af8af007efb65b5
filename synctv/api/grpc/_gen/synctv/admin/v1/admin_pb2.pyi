from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("node_id", "version", "uptime_seconds", "ready", "database_status", "database_kind", "schema_version", "expected_schema_version", "state_backend")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    DATABASE_STATUS_FIELD_NUMBER: _ClassVar[int]
    DATABASE_KIND_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_BACKEND_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    version: str
    uptime_seconds: float
    ready: bool
    database_status: str
    database_kind: str
    schema_version: int
    expected_schema_version: int
    state_backend: str
    def __init__(self, node_id: _Optional[str] = ..., version: _Optional[str] = ..., uptime_seconds: _Optional[float] = ..., ready: _Optional[bool] = ..., database_status: _Optional[str] = ..., database_kind: _Optional[str] = ..., schema_version: _Optional[int] = ..., expected_schema_version: _Optional[int] = ..., state_backend: _Optional[str] = ...) -> None: ...
