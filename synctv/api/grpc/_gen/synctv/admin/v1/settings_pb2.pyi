from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Setting(_message.Message):
    __slots__ = ("key", "value_json", "default_json", "is_set", "public", "has_secrets", "rule", "description", "version", "updated_at_ms", "updated_by")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_JSON_FIELD_NUMBER: _ClassVar[int]
    IS_SET_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    HAS_SECRETS_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    key: str
    value_json: str
    default_json: str
    is_set: bool
    public: bool
    has_secrets: bool
    rule: str
    description: str
    version: int
    updated_at_ms: int
    updated_by: str
    def __init__(self, key: _Optional[str] = ..., value_json: _Optional[str] = ..., default_json: _Optional[str] = ..., is_set: _Optional[bool] = ..., public: _Optional[bool] = ..., has_secrets: _Optional[bool] = ..., rule: _Optional[str] = ..., description: _Optional[str] = ..., version: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., updated_by: _Optional[str] = ...) -> None: ...

class ListSettingsRequest(_message.Message):
    __slots__ = ("group", "include_secrets")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SECRETS_FIELD_NUMBER: _ClassVar[int]
    group: str
    include_secrets: bool
    def __init__(self, group: _Optional[str] = ..., include_secrets: _Optional[bool] = ...) -> None: ...

class ListSettingsResponse(_message.Message):
    __slots__ = ("settings",)
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: _containers.RepeatedCompositeFieldContainer[Setting]
    def __init__(self, settings: _Optional[_Iterable[_Union[Setting, _Mapping]]] = ...) -> None: ...

class GetSettingRequest(_message.Message):
    __slots__ = ("key", "include_secrets")
    KEY_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SECRETS_FIELD_NUMBER: _ClassVar[int]
    key: str
    include_secrets: bool
    def __init__(self, key: _Optional[str] = ..., include_secrets: _Optional[bool] = ...) -> None: ...

class SetSettingRequest(_message.Message):
    __slots__ = ("key", "value", "plain_text")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PLAIN_TEXT_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    plain_text: bool
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ..., plain_text: _Optional[bool] = ...) -> None: ...

class ResetSettingRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class SettingChange(_message.Message):
    __slots__ = ("key", "old_json", "new_json")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OLD_JSON_FIELD_NUMBER: _ClassVar[int]
    NEW_JSON_FIELD_NUMBER: _ClassVar[int]
    key: str
    old_json: str
    new_json: str
    def __init__(self, key: _Optional[str] = ..., old_json: _Optional[str] = ..., new_json: _Optional[str] = ...) -> None: ...

class ExportSettingsRequest(_message.Message):
    __slots__ = ("include_secrets",)
    INCLUDE_SECRETS_FIELD_NUMBER: _ClassVar[int]
    include_secrets: bool
    def __init__(self, include_secrets: _Optional[bool] = ...) -> None: ...

class ExportSettingsResponse(_message.Message):
    __slots__ = ("document_json",)
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    def __init__(self, document_json: _Optional[str] = ...) -> None: ...

class ImportSettingsRequest(_message.Message):
    __slots__ = ("document_json",)
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    def __init__(self, document_json: _Optional[str] = ...) -> None: ...

class ImportSettingsResponse(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[SettingChange]
    def __init__(self, changes: _Optional[_Iterable[_Union[SettingChange, _Mapping]]] = ...) -> None: ...
