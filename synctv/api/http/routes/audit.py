"""``GET /api/admin/audit``: the audit log for administrators, newest first, cursor-paginated.

Admins only (:func:`synctv.api.http.principal.require_admin`: 401 without credentials, 403 for
a non-admin). The filters and the cursor are those of ``synctv admin audit list``; a page holds
at most 500 events and ``next_cursor`` continues to older ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from synctv.api.http.principal import Principal, require_admin
from synctv.api.http.rest import ErrorBody
from synctv.core.audit import list_events
from synctv.store.audit import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, AuditLog, AuditRecord


class AuditEventModel(BaseModel):
    """One audit event."""

    id: int
    occurred_at: datetime = Field(description="When it happened (UTC).")
    actor: str = Field(description="A user id, or `cli` (management socket) or `system`.")
    actor_address: str | None = Field(
        description="The client address as resolved through trusted proxies; null for cli/system."
    )
    action: str = Field(description="What happened, `area.verb` (docs/audit.md lists them).")
    target_type: str
    target_id: str
    outcome: Literal["success", "denied", "failed"]
    details: dict[str, Any] = Field(description="Action-specific fields; never a secret.")
    request_id: str | None = Field(description="The X-Request-Id of the request that acted.")


class AuditPageModel(BaseModel):
    """A page of events, newest first."""

    events: list[AuditEventModel]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )


_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "`audit_cursor_invalid` or `invalid_parameter`"},
    401: {"model": ErrorBody, "description": "`authentication_required`"},
    403: {"model": ErrorBody, "description": "`permission_denied`: administrators only"},
}


def audit_router(audit: AuditLog) -> APIRouter:
    router = APIRouter(prefix="/api/admin", tags=["admin"])

    @router.get(
        "/audit",
        response_model=AuditPageModel,
        summary="The audit log, newest first (admins only)",
        responses=_REFUSALS,
    )
    async def list_audit(
        _: Annotated[Principal, Depends(require_admin)],
        cursor: Annotated[
            str | None, Query(max_length=64, description="`next_cursor` of the previous page")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
        since: Annotated[
            datetime | None, Query(description="RFC 3339; without a zone, UTC")
        ] = None,
        actor: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
        action: Annotated[
            str | None,
            Query(min_length=1, max_length=256, description="`live.created`, or an area: `live`"),
        ] = None,
        target: Annotated[
            str | None,
            Query(min_length=1, max_length=256, description="a target id, or `type:id`"),
        ] = None,
    ) -> AuditPageModel:
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        page = await list_events(
            audit,
            since=since,
            actor=actor,
            action=action,
            target=target,
            cursor=cursor,
            limit=limit,
        )
        return AuditPageModel(
            events=[_model(record) for record in page.records], next_cursor=page.next_cursor
        )

    return router


def _model(record: AuditRecord) -> AuditEventModel:
    return AuditEventModel(
        id=record.id,
        occurred_at=record.occurred_at.astimezone(UTC),
        actor=record.actor,
        actor_address=record.actor_address,
        action=record.action,
        target_type=record.target_type,
        target_id=record.target_id,
        outcome=record.outcome,
        details=record.details,
        request_id=record.request_id,
    )
