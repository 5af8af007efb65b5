from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProviderInstance(_message.Message):
    __slots__ = ("id", "kind", "name", "config_json", "lan_service", "has_credentials", "credentials_key_id", "created_at_ms", "updated_at_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    LAN_SERVICE_FIELD_NUMBER: _ClassVar[int]
    HAS_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    name: str
    config_json: str
    lan_service: bool
    has_credentials: bool
    credentials_key_id: str
    created_at_ms: int
    updated_at_ms: int
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., name: _Optional[str] = ..., config_json: _Optional[str] = ..., lan_service: _Optional[bool] = ..., has_credentials: _Optional[bool] = ..., credentials_key_id: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ...) -> None: ...

class AddProviderRequest(_message.Message):
    __slots__ = ("kind", "name", "config_json", "credentials_json", "lan_service")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_JSON_FIELD_NUMBER: _ClassVar[int]
    LAN_SERVICE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    config_json: str
    credentials_json: str
    lan_service: bool
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., config_json: _Optional[str] = ..., credentials_json: _Optional[str] = ..., lan_service: _Optional[bool] = ...) -> None: ...

class ListProvidersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListProvidersResponse(_message.Message):
    __slots__ = ("instances", "kinds")
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedCompositeFieldContainer[ProviderInstance]
    kinds: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, instances: _Optional[_Iterable[_Union[ProviderInstance, _Mapping]]] = ..., kinds: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateProviderRequest(_message.Message):
    __slots__ = ("instance", "name", "config_json", "credentials_json", "clear_credentials", "lan_service")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_JSON_FIELD_NUMBER: _ClassVar[int]
    CLEAR_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    LAN_SERVICE_FIELD_NUMBER: _ClassVar[int]
    instance: str
    name: str
    config_json: str
    credentials_json: str
    clear_credentials: bool
    lan_service: bool
    def __init__(self, instance: _Optional[str] = ..., name: _Optional[str] = ..., config_json: _Optional[str] = ..., credentials_json: _Optional[str] = ..., clear_credentials: _Optional[bool] = ..., lan_service: _Optional[bool] = ...) -> None: ...

class RemoveProviderRequest(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: str
    def __init__(self, instance: _Optional[str] = ...) -> None: ...

class RemoveProviderResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResolveProviderMediaRequest(_message.Message):
    __slots__ = ("instance", "media_ref")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    MEDIA_REF_FIELD_NUMBER: _ClassVar[int]
    instance: str
    media_ref: str
    def __init__(self, instance: _Optional[str] = ..., media_ref: _Optional[str] = ...) -> None: ...

class ResolveProviderMediaResponse(_message.Message):
    __slots__ = ("source_json",)
    SOURCE_JSON_FIELD_NUMBER: _ClassVar[int]
    source_json: str
    def __init__(self, source_json: _Optional[str] = ...) -> None: ...

class RotateProviderKeyRequest(_message.Message):
    __slots__ = ("old_key_hex", "new_key_hex")
    OLD_KEY_HEX_FIELD_NUMBER: _ClassVar[int]
    NEW_KEY_HEX_FIELD_NUMBER: _ClassVar[int]
    old_key_hex: str
    new_key_hex: str
    def __init__(self, old_key_hex: _Optional[str] = ..., new_key_hex: _Optional[str] = ...) -> None: ...

class RotateProviderKeyResponse(_message.Message):
    __slots__ = ("rotated", "already_current", "new_key_id")
    ROTATED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_CURRENT_FIELD_NUMBER: _ClassVar[int]
    NEW_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    rotated: int
    already_current: int
    new_key_id: str
    def __init__(self, rotated: _Optional[int] = ..., already_current: _Optional[int] = ..., new_key_id: _Optional[str] = ...) -> None: ...
