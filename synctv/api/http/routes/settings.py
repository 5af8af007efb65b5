"""Runtime settings over REST: ``GET /api/public/settings`` for anyone (the login page reads the
server's name and whether sign-up is open), and the admin routes under ``/api/admin/settings``.

The public route answers from the process's snapshot (a dict lookup; ``bench/api_bench.py``
measures it); the admin routes go to the database through :class:`SettingsService`, the same
operations as ``synctv admin settings``, audited as the signed-in administrator. Secret fields
are never returned over REST (export them with the CLI, on the 0600 socket).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from synctv.api.http.principal import Principal, audit_actor, require_admin
from synctv.core.runtime_settings import (
    RuntimeSettings,
    SettingChange,
    SettingsService,
    SettingView,
)


class SettingModel(BaseModel):
    """One setting; ``value`` leaves secret fields out."""

    key: str = Field(examples=["user.enableGuest"])
    value: Any
    default: Any
    is_set: bool
    public: bool
    has_secrets: bool
    rule: str
    description: str
    version: int
    updated_at: datetime | None
    updated_by: str


class SettingChangeModel(BaseModel):
    key: str
    old: Any
    new: Any


class SetSettingBody(BaseModel):
    """The new value as JSON; a secret field left out (or ``"***"``) keeps its stored value."""

    value: Any


class ExportModel(BaseModel):
    format: int
    settings: dict[str, Any]


class ImportModel(BaseModel):
    changes: list[SettingChangeModel]


AdminPrincipal = Annotated[Principal, Depends(require_admin)]


def settings_router(snapshot: RuntimeSettings, service: SettingsService) -> APIRouter:
    router = APIRouter(tags=["settings"])

    @router.get(
        "/api/public/settings",
        response_model=dict[str, Any],
        summary="Public runtime settings (no sign-in needed)",
    )
    async def public_settings() -> JSONResponse:
        return JSONResponse(dict(snapshot.public()), headers={"cache-control": "no-cache"})

    @router.get("/api/admin/settings", summary="Every runtime setting (administrators)")
    async def list_settings(
        _principal: AdminPrincipal, group: Annotated[str | None, Query()] = None
    ) -> list[SettingModel]:
        return [_model(view) for view in await service.list_all(group)]

    @router.get("/api/admin/settings/export", summary="Stored settings as an import document")
    async def export_settings(_principal: AdminPrincipal) -> ExportModel:
        return ExportModel.model_validate(await service.export(include_secrets=False))

    @router.post("/api/admin/settings/import", summary="Apply a document: all of it, or nothing")
    async def import_settings(
        request: Request, principal: AdminPrincipal, document: dict[str, Any]
    ) -> ImportModel:
        changes = await service.import_document(document, audit_actor(request, principal))
        return ImportModel(changes=[_change(c) for c in changes])

    @router.get("/api/admin/settings/{key}", summary="One runtime setting")
    async def get_setting(key: str, _principal: AdminPrincipal) -> SettingModel:
        return _model(await service.get(key))

    @router.put("/api/admin/settings/{key}", summary="Change a runtime setting")
    async def put_setting(
        key: str, body: SetSettingBody, request: Request, principal: AdminPrincipal
    ) -> SettingChangeModel:
        return _change(await service.set(key, body.value, audit_actor(request, principal)))

    @router.delete("/api/admin/settings/{key}", summary="Reset a runtime setting to its default")
    async def reset_setting(
        key: str, request: Request, principal: AdminPrincipal
    ) -> SettingChangeModel:
        return _change(await service.reset(key, audit_actor(request, principal)))

    return router


def _model(view: SettingView) -> SettingModel:
    return SettingModel(
        key=view.key,
        value=view.value,
        default=view.default,
        is_set=view.is_set,
        public=view.public,
        has_secrets=view.has_secrets,
        rule=view.rule,
        description=view.description,
        version=view.version,
        updated_at=view.updated_at,
        updated_by=view.updated_by,
    )


def _change(change: SettingChange) -> SettingChangeModel:
    return SettingChangeModel(key=change.key, old=change.old, new=change.new)
