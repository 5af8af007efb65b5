"""``SettingsAdmin`` servicer: runtime settings over the management socket.

Thin: JSON text in and out around :class:`SettingsService`, whose :class:`DomainError` codes
reach the client as they are. Every change is audited as the CLI (``synctv.store.audit.CLI``):
whoever can open the 0600 socket is the operator.
"""

from __future__ import annotations

import json
from typing import Any

from synctv import errors
from synctv.api.grpc._gen.synctv.admin.v1 import settings_grpc, settings_pb2
from synctv.api.grpc.bridge import unary
from synctv.core.runtime_settings import SettingChange, SettingsService, SettingView
from synctv.errors import DomainError
from synctv.store.audit import CLI_ACTOR


class SettingsAdmin(settings_grpc.SettingsAdminBase):
    def __init__(self, service: SettingsService) -> None:
        self._service = service

    @unary
    async def List(
        self, request: settings_pb2.ListSettingsRequest
    ) -> settings_pb2.ListSettingsResponse:
        views = await self._service.list_all(
            request.group or None, include_secrets=request.include_secrets
        )
        return settings_pb2.ListSettingsResponse(settings=[_setting(v) for v in views])

    @unary
    async def Get(self, request: settings_pb2.GetSettingRequest) -> settings_pb2.Setting:
        view = await self._service.get(request.key, include_secrets=request.include_secrets)
        return _setting(view)

    @unary
    async def Set(self, request: settings_pb2.SetSettingRequest) -> settings_pb2.SettingChange:
        if request.plain_text:
            change = await self._service.set_text(request.key, request.value, CLI_ACTOR)
        else:
            change = await self._service.set(request.key, _json(request.value), CLI_ACTOR)
        return _change(change)

    @unary
    async def Reset(self, request: settings_pb2.ResetSettingRequest) -> settings_pb2.SettingChange:
        return _change(await self._service.reset(request.key, CLI_ACTOR))

    @unary
    async def Export(
        self, request: settings_pb2.ExportSettingsRequest
    ) -> settings_pb2.ExportSettingsResponse:
        document = await self._service.export(include_secrets=request.include_secrets)
        return settings_pb2.ExportSettingsResponse(document_json=_dumps(document))

    @unary
    async def Import(
        self, request: settings_pb2.ImportSettingsRequest
    ) -> settings_pb2.ImportSettingsResponse:
        changes = await self._service.import_document(_json(request.document_json), CLI_ACTOR)
        return settings_pb2.ImportSettingsResponse(changes=[_change(c) for c in changes])


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise DomainError(errors.INVALID_JSON, "the value is not valid JSON") from None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _setting(view: SettingView) -> settings_pb2.Setting:
    return settings_pb2.Setting(
        key=view.key,
        value_json=_dumps(view.value),
        default_json=_dumps(view.default),
        is_set=view.is_set,
        public=view.public,
        has_secrets=view.has_secrets,
        rule=view.rule,
        description=view.description,
        version=view.version,
        updated_at_ms=int(view.updated_at.timestamp() * 1000) if view.updated_at else 0,
        updated_by=view.updated_by,
    )


def _change(change: SettingChange) -> settings_pb2.SettingChange:
    return settings_pb2.SettingChange(
        key=change.key, old_json=_dumps(change.old), new_json=_dumps(change.new)
    )
