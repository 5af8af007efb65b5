"""The audit log's write side: one row per change, written inside the change's own transaction.

A store function that changes something takes an :class:`AuditEvent` and calls
:func:`write_audit` on the same connection, inside the transaction ``Database.run`` opened, so
the change and its row commit together or not at all (fail closed: a change that cannot be
audited does not happen). ``details`` is public to admins: never put a secret in it.

Action names are ``area.verb`` (``settings.changed``, ``provider.added``, ``live.key_rotated``);
declare each one in :data:`ACTIONS` so a typo fails a test instead of writing a row nobody finds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Outcome = Literal["success", "denied", "failed"]

# The actors that are not users.
SYSTEM = "system"  # the server itself (retention, start-up)
CLI = "cli"  # the management socket (synctv admin ...)


@dataclass(frozen=True, slots=True)
class AuditActor:
    """Who acts: a user's public id, or :data:`SYSTEM` / :data:`CLI`; where from; which request."""

    actor: str
    address: str | None = None
    request_id: str | None = None


SYSTEM_ACTOR = AuditActor(SYSTEM)
CLI_ACTOR = AuditActor(CLI)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    by: AuditActor
    action: str
    target_type: str = ""
    target_id: str = ""
    outcome: Outcome = "success"
    details: dict[str, Any] = field(default_factory=dict)

    def with_outcome(self, outcome: Outcome, **details: Any) -> AuditEvent:
        return replace(self, outcome=outcome, details={**self.details, **details})


class UndeclaredAuditAction(ValueError):
    pass


# Every action written anywhere, one per line; the identity and rooms issues add theirs here.
ACTIONS: frozenset[str] = frozenset(
    {
        "settings.changed",
        "settings.reset",
        "settings.imported",
        "provider.added",
        "provider.updated",
        "provider.removed",
        "credentials.key_rotated",
        "live.created",
        "live.key_rotated",
        "live.kicked",
        "live.deleted",
        "audit.pruned",
    }
)


async def write_audit(conn: Any, event: AuditEvent) -> None:
    """Insert ``event`` on ``conn`` (asyncpg, inside the caller's transaction). asyncio side."""
    if event.action not in ACTIONS:
        raise UndeclaredAuditAction(f"audit action {event.action!r} is not declared")
    await conn.execute(
        "INSERT INTO audit_events (actor, actor_address, action, target_type, target_id,"
        " outcome, details, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)",
        event.by.actor,
        event.by.address,
        event.action,
        event.target_type,
        event.target_id,
        event.outcome,
        json.dumps(event.details, separators=(",", ":"), sort_keys=True),
        event.by.request_id,
    )
