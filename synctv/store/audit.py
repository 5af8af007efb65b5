"""The audit log's write side: one row per change, written inside the change's own transaction.

A store function that changes something takes an :class:`AuditEvent` and calls
:func:`write_audit` on the same connection, inside the transaction ``Database.run`` opened, so
the change and its row commit together or not at all (fail closed: a change that cannot be
audited does not happen). ``details`` is public to admins: never put a secret in it.

Action names are ``area.verb`` (``settings.changed``, ``provider.added``, ``live.key_rotated``);
declare each one in :data:`ACTIONS` so a typo fails a test instead of writing a row nobody finds.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from synctv.store.db import Database

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
        "user.registered",
        "user.login",
        "session.revoked",
        "user.role_changed",
        "user.banned",
        "user.unbanned",
        "user.deleted",
        "user.rejected",
        "user.approved",
        "user.password_changed",
        "user.password_reset",
        "user.identity_linked",
        "user.identity_unlinked",
        "room.created",
        "room.deleted",
        "room.suspended",
        "room.restored",
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


# -- the read side and retention ---------------------------------------------------------------

# A page is at most this many rows: a listing is one indexed range scan, never the whole table.
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
# Retention deletes at most this many rows per transaction, so no lock is held for long and the
# writers of new rows never wait behind a purge of a year of history.
PRUNE_BATCH_SIZE = 1000
# Filter values are compared to columns of this size at most (actor is at most 128 characters).
_MAX_FILTER_LENGTH = 256


class InvalidCursor(ValueError):
    """A pagination cursor this server did not issue (or one that was altered)."""


class InvalidAuditFilter(ValueError):
    """A filter value that cannot match anything (too long, or the wrong shape)."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of the log, as readers see it."""

    id: int
    occurred_at: datetime
    actor: str
    actor_address: str | None
    action: str
    target_type: str
    target_id: str
    outcome: Outcome
    details: dict[str, Any]
    request_id: str | None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What to list; every field that is set must match (AND).

    ``action`` is an exact action (``live.created``) or an area (``live``: every ``live.*``).
    ``target`` is a target id (``abc123``) or ``type:id`` (``live_stream:abc123``).
    """

    since: datetime | None = None
    actor: str | None = None
    action: str | None = None
    target: str | None = None

    def __post_init__(self) -> None:
        for name in ("actor", "action", "target"):
            value = getattr(self, name)
            if value is not None and (not value or len(value) > _MAX_FILTER_LENGTH):
                raise InvalidAuditFilter(f"{name} must be 1-{_MAX_FILTER_LENGTH} characters")
        if self.since is not None and self.since.tzinfo is None:
            raise InvalidAuditFilter("since must carry a time zone")


@dataclass(frozen=True, slots=True)
class AuditPage:
    records: list[AuditRecord]
    next_cursor: str | None  # None: this was the last page


def encode_cursor(occurred_at: datetime, row_id: int) -> str:
    """The position after a row: its (occurred_at, id), opaque to clients (url-safe text)."""
    micros = _epoch_micros(occurred_at)
    return base64.urlsafe_b64encode(f"{micros}.{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        micros_text, id_text = text.split(".")
        micros, row_id = int(micros_text), int(id_text)
        if micros < 0 or row_id < 1 or len(cursor) > 64:
            raise ValueError
        return _EPOCH + timedelta(microseconds=micros), row_id
    except (ValueError, UnicodeDecodeError, OverflowError, binascii.Error):
        raise InvalidCursor("not a cursor from this server") from None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def clamp_page_size(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE_SIZE
    return max(1, min(limit, MAX_PAGE_SIZE))


_RECORD_COLUMNS = (
    "id, occurred_at, actor, actor_address, action, target_type, target_id, outcome,"
    " details::text AS details, request_id"
)


def _record(row: Any) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        occurred_at=row["occurred_at"],
        actor=row["actor"],
        actor_address=row["actor_address"],
        action=row["action"],
        target_type=row["target_type"],
        target_id=row["target_id"],
        outcome=row["outcome"],
        details=json.loads(row["details"]),
        request_id=row["request_id"],
    )


def _where(where: AuditFilter, after: tuple[datetime, int] | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if where.since is not None:
        clauses.append(f"occurred_at >= {arg(where.since)}")
    if where.actor is not None:
        clauses.append(f"actor = {arg(where.actor)}")
    if where.action is not None:
        if "." in where.action:
            clauses.append(f"action = {arg(where.action)}")
        else:  # an area: every action under it (the index on action serves the prefix)
            clauses.append(f"action LIKE {arg(_like_prefix(where.action))}")
    if where.target is not None:
        kind, sep, target_id = where.target.partition(":")
        if sep:
            clauses.append(f"(target_type = {arg(kind)} AND target_id = {arg(target_id)})")
        else:
            clauses.append(f"target_id = {arg(where.target)}")
    if after is not None:
        moment, row_id = after
        clauses.append(f"(occurred_at, id) < ({arg(moment)}, {arg(row_id)})")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _like_prefix(area: str) -> str:
    escaped = area.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + ".%"


async def list_q(
    conn: Any, where: AuditFilter, after: tuple[datetime, int] | None, limit: int
) -> AuditPage:
    sql, args = _where(where, after)
    rows = await conn.fetch(
        f"SELECT {_RECORD_COLUMNS} FROM audit_events{sql}"
        f" ORDER BY occurred_at DESC, id DESC LIMIT {limit + 1:d}",
        *args,
    )
    records = [_record(row) for row in rows[:limit]]
    more = len(rows) > limit
    last = records[-1] if records else None
    cursor = encode_cursor(last.occurred_at, last.id) if more and last is not None else None
    return AuditPage(records, cursor)


async def prune_batch_q(
    conn: Any, retention_days: int, batch_size: int, deleted_before: int, by: AuditActor
) -> int:
    """Delete up to ``batch_size`` rows older than the retention (database clock).

    The batch that finds fewer rows than it may delete is the last one: when the whole run
    deleted anything, that batch writes the one ``audit.pruned`` row in its own transaction,
    so the row and the last deletions commit together (or not at all).
    """
    status: str = await conn.execute(
        "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events"
        " WHERE occurred_at < now() - make_interval(days => $1)"
        " ORDER BY occurred_at LIMIT $2)",
        retention_days,
        batch_size,
    )
    deleted = int(status.split()[-1])
    total = deleted_before + deleted
    if deleted < batch_size and total > 0:
        details = {"deleted": total, "retention_days": retention_days}
        await write_audit(conn, AuditEvent(by, "audit.pruned", "audit_log", "", details=details))
    return deleted


class AuditLog:
    """The Trio-native face of the log: record a row on its own, list, prune.

    Changes write their rows through :func:`write_audit` in their own transaction; :meth:`record`
    is for events that change nothing in the database (a kick, a refused attempt).
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, event: AuditEvent) -> None:
        await self._db.run(write_audit, event)

    async def list(
        self, where: AuditFilter, *, cursor: str | None = None, limit: int | None = None
    ) -> AuditPage:
        """Newest first; ``cursor`` is a previous page's ``next_cursor``."""
        after = decode_cursor(cursor) if cursor else None
        return await self._db.run(list_q, where, after, clamp_page_size(limit))

    async def prune(
        self, retention_days: int, *, batch_size: int = PRUNE_BATCH_SIZE, by: AuditActor
    ) -> int:
        """Delete every row older than ``retention_days``, batch by batch; returns how many."""
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        total = 0
        while True:
            deleted = await self._db.run(prune_batch_q, retention_days, batch_size, total, by)
            total += deleted
            if deleted < batch_size:
                return total
