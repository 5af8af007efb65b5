"""``AuditAdmin`` servicer: the audit log over the management socket (``synctv admin audit``).

Thin: turns the request's empty fields into "no filter" and each record into a message; the
filtering, paging and refusals are :func:`synctv.core.audit.list_events`'s.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from synctv.api.grpc._gen.synctv.admin.v1 import audit_grpc, audit_pb2
from synctv.api.grpc.bridge import unary
from synctv.core.audit import list_events
from synctv.store.audit import AuditLog, AuditRecord


class AuditAdmin(audit_grpc.AuditAdminBase):
    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    @unary
    async def List(
        self, request: audit_pb2.ListAuditEventsRequest
    ) -> audit_pb2.ListAuditEventsResponse:
        since = (
            datetime.fromtimestamp(request.since_ms / 1000, tz=UTC) if request.since_ms else None
        )
        page = await list_events(
            self._audit,
            since=since,
            actor=request.actor or None,
            action=request.action or None,
            target=request.target or None,
            cursor=request.cursor or None,
            limit=request.limit or None,
        )
        return audit_pb2.ListAuditEventsResponse(
            events=[_message(record) for record in page.records],
            next_cursor=page.next_cursor or "",
        )


def _message(record: AuditRecord) -> audit_pb2.AuditEvent:
    return audit_pb2.AuditEvent(
        id=record.id,
        occurred_at=record.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        actor=record.actor,
        actor_address=record.actor_address or "",
        action=record.action,
        target_type=record.target_type,
        target_id=record.target_id,
        outcome=record.outcome,
        details_json=json.dumps(record.details, separators=(",", ":"), sort_keys=True),
        request_id=record.request_id or "",
    )
