"""Rooms, members, bans, kick cool-downs and join requests: the SQL behind :mod:`synctv.core.rooms`.

Every mutation is one transaction (one bridge crossing) that also appends its ``room_events`` row
(:func:`append_event`): the room's ``last_event_seq`` is bumped under the room row's lock, so a
room's events are numbered 1, 2, 3 … with no gap and no duplicate, in commit order. If the event
cannot be written the change rolls back with it (fail closed).

The rules (who may do what) live in :mod:`synctv.core.rooms`; this module only refuses what the
data itself forbids (limits checked under a lock, so that two concurrent requests cannot both
pass a count). Outcomes a caller must tell apart are returned as enums, never raised as SQL
errors.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from synctv.store.audit import AuditActor, AuditEvent, write_audit
from synctv.store.db import Database
from synctv.store.room_cache import RoomReadCache

T = TypeVar("T")

MemberRole = Literal["creator", "admin", "member"]

_ROOM_COLUMNS = (
    "r.id, r.name, r.description, r.is_public, r.owner_id, r.settings, r.password_record IS NOT"
    " NULL AS has_password, r.password_version, r.last_event_seq, r.created_at, r.updated_at,"
    " r.closed_at, r.suspended_at, r.suspend_reason, (SELECT count(*) FROM room_members m WHERE m.room_id = r.id) AS member_count"
)


@dataclass(frozen=True, slots=True)
class RoomRow:
    id: str
    name: str
    description: str
    is_public: bool
    owner_id: str
    settings: dict[str, Any]
    has_password: bool
    password_version: int
    last_event_seq: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    member_count: int
    suspended_at: datetime | None = None
    suspend_reason: str = ""


@dataclass(frozen=True, slots=True)
class MemberRow:
    room_id: str
    user_id: str
    username: str
    role: MemberRole
    added: tuple[str, ...]
    removed: tuple[str, ...]
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class BanRow:
    """A room ban: who, why, by whom (``banned_by`` is an account id; its name when it still
    exists), since when, and until when (None: until lifted)."""

    user_id: str
    username: str
    reason: str
    banned_by: str
    banned_by_name: str | None
    banned_at: datetime
    until: datetime | None = None


# A room ban in force now (alias b): open-ended or not yet over.
_BAN_IN_FORCE = "(b.until IS NULL OR b.until > now())"
# A room's ban list holds its newest bans up to this many (a list, not an unbounded dump).
MAX_BANS_LISTED = 1000


@dataclass(frozen=True, slots=True)
class EventRow:
    room_id: str
    seq: int
    type: str
    payload: dict[str, Any]
    actor: str
    created_at: datetime


class Created(enum.Enum):
    CREATED = "created"
    LIMIT_REACHED = "limit_reached"


class Joined(enum.Enum):
    JOINED = "joined"
    ALREADY = "already"  # idempotent: a member joining again changes nothing
    PENDING = "pending"  # a join request waits for review
    FULL = "full"
    BANNED = "banned"
    COOLDOWN = "cooldown"
    GONE = "gone"  # deleted or closed meanwhile


@dataclass(frozen=True, slots=True)
class JoinOutcome:
    outcome: Joined
    until: datetime | None = None  # the end of a kick cool-down


def _room(record: Any) -> RoomRow:
    return RoomRow(
        id=record["id"],
        name=record["name"],
        description=record["description"],
        is_public=record["is_public"],
        owner_id=record["owner_id"],
        settings=json.loads(record["settings"]),
        has_password=record["has_password"],
        password_version=record["password_version"],
        last_event_seq=record["last_event_seq"],
        created_at=record["created_at"],
        updated_at=record["updated_at"],
        closed_at=record["closed_at"],
        member_count=record["member_count"],
        suspended_at=record["suspended_at"],
        suspend_reason=record["suspend_reason"],
    )


def _member(record: Any) -> MemberRow:
    return MemberRow(
        room_id=record["room_id"],
        user_id=record["user_id"],
        username=record["username"],
        role=record["role"],
        added=tuple(record["added"]),
        removed=tuple(record["removed"]),
        joined_at=record["joined_at"],
    )


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


async def append_event(
    conn: Any, room_id: str, event_type: str, payload: dict[str, Any], actor: str
) -> int:
    """Append a room event in the caller's transaction; its sequence number."""
    seq: int = await conn.fetchval(
        "UPDATE rooms SET last_event_seq = last_event_seq + 1 WHERE id = $1"
        " RETURNING last_event_seq",
        room_id,
    )
    await insert_event(conn, room_id, seq, event_type, payload, actor)
    return seq


async def insert_event(
    conn: Any, room_id: str, seq: int, event_type: str, payload: dict[str, Any], actor: str
) -> None:
    """Write the event row of a sequence the caller took (``rooms.last_event_seq``, in this
    transaction) and notify it, in one statement (one round trip while the room is locked)."""
    # The NOTIFY is delivered by PostgreSQL after the commit only: the room hub's cue to read
    # the new rows.
    await conn.execute(
        "WITH written AS (INSERT INTO room_events (room_id, seq, type, payload, actor)"
        " VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING seq)"
        " SELECT pg_notify('synctv_room_events', $6) FROM written",
        room_id,
        seq,
        event_type,
        _json(payload),
        actor,
        f"{room_id}:{seq}",
    )


async def insert_events(
    conn: Any, room_id: str, event_type: str, events: list[tuple[int, dict[str, Any], str]]
) -> None:
    """Write several event rows of one type, each ``(seq, payload, actor)`` with a sequence the
    caller took, and one notification (the hub reads every row after what it delivered), in
    one statement."""
    last = max(seq for seq, _, _ in events)
    await conn.execute(
        "WITH written AS (INSERT INTO room_events (room_id, seq, type, payload, actor)"
        " SELECT $1, e.seq, $2, e.payload::jsonb, e.actor"
        " FROM unnest($3::bigint[], $4::text[], $5::text[]) AS e(seq, payload, actor))"
        " SELECT pg_notify('synctv_room_events', $6)",
        room_id,
        event_type,
        [seq for seq, _, _ in events],
        [_json(payload) for _, payload, _ in events],
        [actor for _, _, actor in events],
        f"{room_id}:{last}",
    )


async def _lock_room(conn: Any, room_id: str) -> bool:
    """Lock a live room's row for this transaction; False when it is gone or closed."""
    found = await conn.fetchval(
        "SELECT true FROM rooms WHERE id = $1 AND deleted_at IS NULL AND closed_at IS NULL"
        " FOR UPDATE",
        room_id,
    )
    return bool(found)


async def create_q(
    conn: Any,
    room_id: str,
    owner_id: str,
    name: str,
    description: str,
    is_public: bool,
    settings: dict[str, Any],
    max_rooms: int,
    by: AuditActor,
    password_record: bytes | None = None,
) -> tuple[Created, RoomRow | None]:
    # The owner's user row is the lock: two creates by one person run one after the other, so
    # the count below cannot be passed twice.
    await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", owner_id)
    owned: int = await conn.fetchval(
        "SELECT count(*) FROM rooms WHERE owner_id = $1 AND deleted_at IS NULL", owner_id
    )
    if owned >= max_rooms:
        return Created.LIMIT_REACHED, None
    await conn.execute(
        "INSERT INTO rooms (id, name, description, is_public, owner_id, settings,"
        " password_record, password_version) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
        room_id,
        name,
        description,
        is_public,
        owner_id,
        _json(settings),
        password_record,
        0 if password_record is None else 1,
    )
    await conn.execute(
        "INSERT INTO room_members (room_id, user_id, role) VALUES ($1, $2, 'creator')",
        room_id,
        owner_id,
    )
    payload = {"name": name, "isPublic": is_public, "ownerId": owner_id}
    await append_event(conn, room_id, "room_created", payload, by.actor)
    await write_audit(conn, AuditEvent(by, "room.created", "room", room_id, details=payload))
    return Created.CREATED, await room_q(conn, room_id)


async def room_q(conn: Any, room_id: str) -> RoomRow | None:
    record = await conn.fetchrow(
        f"SELECT {_ROOM_COLUMNS} FROM rooms r WHERE r.id = $1 AND r.deleted_at IS NULL", room_id
    )
    return _room(record) if record is not None else None


async def room_and_member_q(
    conn: Any, room_id: str, user_id: str | None
) -> tuple[RoomRow | None, MemberRow | None]:
    """The room and the caller's membership in one round trip (every room request needs both)."""
    record = await conn.fetchrow(
        f"SELECT {_ROOM_COLUMNS}, m.user_id AS m_user, m.role AS m_role, m.added AS m_added,"
        " m.removed AS m_removed, m.joined_at AS m_joined, u.username AS m_username"
        " FROM rooms r LEFT JOIN room_members m ON m.room_id = r.id AND m.user_id = $2"
        " LEFT JOIN users u ON u.id = m.user_id"
        " WHERE r.id = $1 AND r.deleted_at IS NULL",
        room_id,
        user_id,
    )
    if record is None:
        return None, None
    member = None
    if record["m_user"] is not None:
        member = MemberRow(
            room_id=room_id,
            user_id=record["m_user"],
            username=record["m_username"],
            role=record["m_role"],
            added=tuple(record["m_added"]),
            removed=tuple(record["m_removed"]),
            joined_at=record["m_joined"],
        )
    return _room(record), member


def _like(search: str) -> str:
    return "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def discover_q(conn: Any, search: str, limit: int, offset: int) -> tuple[list[RoomRow], int]:
    """Public open rooms, newest first, whose name contains ``search`` (case-insensitive)."""
    pattern = _like(search)
    where = (
        "r.is_public AND r.deleted_at IS NULL AND r.closed_at IS NULL AND r.suspended_at IS NULL"
        " AND r.name ILIKE $1"
    )
    total: int = await conn.fetchval(f"SELECT count(*) FROM rooms r WHERE {where}", pattern)
    records = await conn.fetch(
        f"SELECT {_ROOM_COLUMNS} FROM rooms r WHERE {where}"
        " ORDER BY r.created_at DESC, r.id LIMIT $2 OFFSET $3",
        pattern,
        limit,
        offset,
    )
    return [_room(r) for r in records], total


async def all_rooms_q(conn: Any, search: str, limit: int, offset: int) -> tuple[list[RoomRow], int]:
    """Every live room (public or not, suspended or not), newest first: the operator's view."""
    where = "r.deleted_at IS NULL AND (r.name ILIKE $1 OR r.id = $2)"
    total: int = await conn.fetchval(
        f"SELECT count(*) FROM rooms r WHERE {where}", _like(search), search
    )
    records = await conn.fetch(
        f"SELECT {_ROOM_COLUMNS} FROM rooms r WHERE {where}"
        " ORDER BY r.created_at DESC, r.id LIMIT $3 OFFSET $4",
        _like(search),
        search,
        limit,
        offset,
    )
    return [_room(r) for r in records], total


async def suspend_q(conn: Any, room_id: str, reason: str | None, by: AuditActor) -> bool:
    """Suspend (reason given) or restore (None) a room; False when there is no such room."""
    changed = await conn.fetchval(
        "UPDATE rooms SET suspended_at = CASE WHEN $2::text IS NULL THEN NULL ELSE now() END,"
        " suspend_reason = coalesce($2, ''), updated_at = now()"
        " WHERE id = $1 AND deleted_at IS NULL RETURNING true",
        room_id,
        reason,
    )
    if not changed:
        return False
    action = "room.suspended" if reason is not None else "room.restored"
    details = {"reason": reason} if reason is not None else {}
    await append_event(conn, room_id, action.replace(".", "_"), details, by.actor)
    await write_audit(conn, AuditEvent(by, action, "room", room_id, details=details))
    return True


async def my_rooms_q(conn: Any, user_id: str) -> list[tuple[RoomRow, MemberRole]]:
    records = await conn.fetch(
        f"SELECT {_ROOM_COLUMNS}, m.role AS m_role FROM rooms r JOIN room_members m"
        " ON m.room_id = r.id AND m.user_id = $1 WHERE r.deleted_at IS NULL"
        " ORDER BY m.joined_at DESC, r.id",
        user_id,
    )
    return [(_room(r), r["m_role"]) for r in records]


async def _may_not_add(conn: Any, room_id: str, user_id: str) -> JoinOutcome | None:
    """Lock the room; why ``user_id`` cannot be added to it (gone, already in, banned), or
    None when they can."""
    if not await _lock_room(conn, room_id):
        return JoinOutcome(Joined.GONE)
    if await conn.fetchval(
        "SELECT true FROM room_members WHERE room_id = $1 AND user_id = $2", room_id, user_id
    ):
        return JoinOutcome(Joined.ALREADY)
    if await conn.fetchval(
        f"SELECT true FROM room_bans b WHERE room_id = $1 AND user_id = $2 AND {_BAN_IN_FORCE}",
        room_id,
        user_id,
    ):
        return JoinOutcome(Joined.BANNED)
    return None


async def join_q(
    conn: Any, room_id: str, user_id: str, max_members: int, needs_review: bool, by: AuditActor
) -> JoinOutcome:
    blocked = await _may_not_add(conn, room_id, user_id)
    if blocked is not None:
        return blocked
    until = await conn.fetchval(
        "SELECT until FROM room_kick_cooldowns WHERE room_id = $1 AND user_id = $2"
        " AND until > now()",
        room_id,
        user_id,
    )
    if until is not None:
        return JoinOutcome(Joined.COOLDOWN, until)
    if needs_review:
        inserted = await conn.fetchval(
            "INSERT INTO room_join_requests (room_id, user_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING RETURNING true",
            room_id,
            user_id,
        )
        if inserted:
            await append_event(conn, room_id, "join_requested", {"userId": user_id}, by.actor)
        return JoinOutcome(Joined.PENDING)
    return await _add_member(conn, room_id, user_id, "member", max_members, by.actor)


async def _add_member(
    conn: Any, room_id: str, user_id: str, role: MemberRole, max_members: int, actor: str
) -> JoinOutcome:
    """Insert a member under the room lock (held by the caller), within ``max_members``."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM room_members WHERE room_id = $1", room_id
    )
    if count >= max_members:
        return JoinOutcome(Joined.FULL)
    await conn.execute(
        "INSERT INTO room_members (room_id, user_id, role) VALUES ($1, $2, $3)",
        room_id,
        user_id,
        role,
    )
    await conn.execute(
        "DELETE FROM room_join_requests WHERE room_id = $1 AND user_id = $2", room_id, user_id
    )
    await append_event(conn, room_id, "member_joined", {"userId": user_id, "role": role}, actor)
    return JoinOutcome(Joined.JOINED)


async def add_member_q(
    conn: Any, room_id: str, user_id: str, role: MemberRole, max_members: int, actor: str
) -> JoinOutcome:
    """A manager adds someone directly (or approves their request): bans still apply."""
    blocked = await _may_not_add(conn, room_id, user_id)
    if blocked is not None:
        return blocked
    return await _add_member(conn, room_id, user_id, role, max_members, actor)


async def leave_q(conn: Any, room_id: str, user_id: str, reason: str, actor: str) -> bool:
    """Remove a (non-creator) member; False when they were not one."""
    if not await _lock_room(conn, room_id):
        return False
    removed = await conn.fetchval(
        "DELETE FROM room_members WHERE room_id = $1 AND user_id = $2 AND role <> 'creator'"
        " RETURNING true",
        room_id,
        user_id,
    )
    if removed:
        await append_event(
            conn, room_id, "member_left", {"userId": user_id, "reason": reason}, actor
        )
    return bool(removed)


async def kick_q(
    conn: Any, room_id: str, user_id: str, cooldown_seconds: int, reason: str, actor: str
) -> bool:
    if not await leave_q(conn, room_id, user_id, "kicked", actor):
        return False
    await conn.execute(
        "INSERT INTO room_kick_cooldowns (room_id, user_id, until, kicked_by, reason)"
        " VALUES ($1, $2, now() + make_interval(secs => $3), $4, $5)"
        " ON CONFLICT (room_id, user_id) DO UPDATE SET until = EXCLUDED.until,"
        " kicked_by = EXCLUDED.kicked_by, reason = EXCLUDED.reason",
        room_id,
        user_id,
        float(cooldown_seconds),
        actor,
        reason,
    )
    return True


async def ban_q(
    conn: Any, room_id: str, user_id: str, reason: str, until: datetime | None, actor: str
) -> bool:
    """Ban (again: the new ban, its reason and end, replaces the old one); False when there is
    no such account."""
    if not await conn.fetchval(
        "SELECT true FROM users WHERE id = $1 AND deleted_at IS NULL", user_id
    ):
        return False
    await leave_q(conn, room_id, user_id, "banned", actor)
    await conn.execute(
        "INSERT INTO room_bans (room_id, user_id, reason, banned_by, until)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id, user_id) DO UPDATE SET"
        " reason = EXCLUDED.reason, banned_by = EXCLUDED.banned_by, created_at = now(),"
        " until = EXCLUDED.until",
        room_id,
        user_id,
        reason,
        actor,
        until,
    )
    await conn.execute(
        "DELETE FROM room_join_requests WHERE room_id = $1 AND user_id = $2", room_id, user_id
    )
    await append_event(conn, room_id, "member_banned", {"userId": user_id}, actor)
    return True


async def unban_q(conn: Any, room_id: str, user_id: str, actor: str) -> bool:
    lifted = await conn.fetchval(
        f"DELETE FROM room_bans b WHERE room_id = $1 AND user_id = $2 RETURNING {_BAN_IN_FORCE}",
        room_id,
        user_id,
    )
    if lifted:  # an ended ban's row goes too, but it was no ban any more: not found
        await append_event(conn, room_id, "member_unbanned", {"userId": user_id}, actor)
    return bool(lifted)


async def bans_q(conn: Any, room_id: str) -> list[BanRow]:
    records = await conn.fetch(
        "SELECT b.user_id, u.username, b.reason, b.banned_by, a.username AS banned_by_name,"
        " b.created_at, b.until FROM room_bans b JOIN users u ON u.id = b.user_id"
        " LEFT JOIN users a ON a.id = b.banned_by"
        f" WHERE b.room_id = $1 AND {_BAN_IN_FORCE} ORDER BY b.created_at DESC, b.user_id"
        " LIMIT $2",
        room_id,
        MAX_BANS_LISTED,
    )
    return [
        BanRow(
            r["user_id"],
            r["username"],
            r["reason"],
            r["banned_by"],
            r["banned_by_name"],
            r["created_at"],
            r["until"],
        )
        for r in records
    ]


async def reject_request_q(conn: Any, room_id: str, user_id: str, actor: str) -> bool:
    rejected = await conn.fetchval(
        "DELETE FROM room_join_requests WHERE room_id = $1 AND user_id = $2 RETURNING true",
        room_id,
        user_id,
    )
    if rejected:
        await append_event(conn, room_id, "join_rejected", {"userId": user_id}, actor)
    return bool(rejected)


async def join_requests_q(conn: Any, room_id: str) -> list[tuple[str, str, datetime]]:
    records = await conn.fetch(
        "SELECT j.user_id, u.username, j.requested_at FROM room_join_requests j"
        " JOIN users u ON u.id = j.user_id WHERE j.room_id = $1 ORDER BY j.requested_at, j.user_id",
        room_id,
    )
    return [(r["user_id"], r["username"], r["requested_at"]) for r in records]


async def members_q(conn: Any, room_id: str, limit: int, offset: int) -> list[MemberRow]:
    records = await conn.fetch(
        "SELECT m.room_id, m.user_id, u.username, m.role, m.added, m.removed, m.joined_at"
        " FROM room_members m JOIN users u ON u.id = m.user_id WHERE m.room_id = $1"
        " ORDER BY CASE m.role WHEN 'creator' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END,"
        " m.joined_at, m.user_id LIMIT $2 OFFSET $3",
        room_id,
        limit,
        offset,
    )
    return [_member(r) for r in records]


async def set_member_q(
    conn: Any,
    room_id: str,
    user_id: str,
    role: MemberRole,
    added: list[str],
    removed: list[str],
    actor: str,
) -> bool:
    changed = await conn.fetchval(
        "UPDATE room_members SET role = $3, added = $4, removed = $5"
        " WHERE room_id = $1 AND user_id = $2 AND role <> 'creator' RETURNING true",
        room_id,
        user_id,
        role,
        added,
        removed,
    )
    if changed:
        payload = {"userId": user_id, "role": role, "added": added, "removed": removed}
        await append_event(conn, room_id, "member_updated", payload, actor)
    return bool(changed)


async def transfer_q(conn: Any, room_id: str, from_user: str, to_user: str, actor: str) -> bool:
    """Make ``to_user`` (a member) the creator; the previous creator becomes an admin."""
    if not await _lock_room(conn, room_id):
        return False
    target = await conn.fetchval(
        "SELECT role FROM room_members WHERE room_id = $1 AND user_id = $2 FOR UPDATE",
        room_id,
        to_user,
    )
    if target is None or target == "creator":
        return False
    await conn.execute(
        "UPDATE room_members SET role = 'admin', added = '{}', removed = '{}'"
        " WHERE room_id = $1 AND user_id = $2",
        room_id,
        from_user,
    )
    await conn.execute(
        "UPDATE room_members SET role = 'creator', added = '{}', removed = '{}'"
        " WHERE room_id = $1 AND user_id = $2",
        room_id,
        to_user,
    )
    await conn.execute(
        "UPDATE rooms SET owner_id = $2, updated_at = now() WHERE id = $1", room_id, to_user
    )
    payload = {"from": from_user, "to": to_user}
    await append_event(conn, room_id, "owner_transferred", payload, actor)
    return True


async def update_room_q(
    conn: Any, room_id: str, changes: dict[str, Any], event_type: str, actor: str
) -> RoomRow | None:
    """Update name/description/is_public/settings (the keys given); None when the room is gone."""
    columns = {"name", "description", "is_public", "settings"}
    if not changes or not set(changes) <= columns:
        raise ValueError(f"cannot update {sorted(set(changes) - columns)}")
    if not await _lock_room(conn, room_id):
        return None
    assignments, values = [], []
    for index, (column, value) in enumerate(sorted(changes.items()), start=2):
        cast = "::jsonb" if column == "settings" else ""
        assignments.append(f"{column} = ${index}{cast}")
        values.append(_json(value) if column == "settings" else value)
    await conn.execute(
        f"UPDATE rooms SET {', '.join(assignments)}, updated_at = now() WHERE id = $1",
        room_id,
        *values,
    )
    payload = {("isPublic" if k == "is_public" else k): v for k, v in changes.items()}
    await append_event(conn, room_id, event_type, payload, actor)
    return await room_q(conn, room_id)


async def delete_q(conn: Any, room_id: str, by: AuditActor) -> bool:
    if not await _lock_room(conn, room_id):
        return False
    await append_event(conn, room_id, "room_deleted", {}, by.actor)
    await conn.execute(
        "UPDATE rooms SET deleted_at = now(), updated_at = now() WHERE id = $1", room_id
    )
    await write_audit(conn, AuditEvent(by, "room.deleted", "room", room_id))
    return True


async def password_record_q(conn: Any, room_id: str) -> bytes | None:
    record: bytes | None = await conn.fetchval(
        "SELECT password_record FROM rooms WHERE id = $1 AND deleted_at IS NULL", room_id
    )
    return record


async def set_password_q(conn: Any, room_id: str, record: bytes | None, actor: str) -> bool:
    """Set or clear (None) the room's password record; members stay members."""
    if not await _lock_room(conn, room_id):
        return False
    await conn.execute(
        "UPDATE rooms SET password_record = $2, password_version = password_version + 1,"
        " updated_at = now() WHERE id = $1",
        room_id,
        record,
    )
    payload = {"hasPassword": record is not None}
    await append_event(conn, room_id, "password_changed", payload, actor)
    return True


async def events_after_q(conn: Any, room_id: str, after: int, limit: int) -> list[EventRow]:
    records = await conn.fetch(
        "SELECT room_id, seq, type, payload, actor, created_at FROM room_events"
        " WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        room_id,
        after,
        limit,
    )
    return [
        EventRow(
            r["room_id"], r["seq"], r["type"], json.loads(r["payload"]), r["actor"], r["created_at"]
        )
        for r in records
    ]


class RoomStore:
    """Trio-native repository over the room tables: each change is one transaction; a read is
    one statement with no transaction around it (BEGIN and COMMIT would triple its round trips,
    and a single statement sees one snapshot anyway)."""

    def __init__(self, db: Database, cache: RoomReadCache[Any] | None = None) -> None:
        self._db = db
        # Reads kept for a moment (RoomService.view): every write here drops its room's entries
        # when it ends, whatever the outcome (a failed or cancelled commit may still have landed).
        self._cache = cache

    @property
    def cache(self) -> RoomReadCache[Any] | None:
        return self._cache

    async def _write(self, query: Callable[..., Awaitable[T]], room_id: str, *args: Any) -> T:
        try:
            return await self._db.run(query, room_id, *args)
        finally:
            if self._cache is not None:
                self._cache.invalidate(room_id)

    async def create(
        self,
        *,
        room_id: str,
        owner_id: str,
        name: str,
        description: str,
        is_public: bool,
        settings: dict[str, Any],
        max_rooms: int,
        by: AuditActor,
        password_record: bytes | None = None,
    ) -> tuple[Created, RoomRow | None]:
        return await self._write(
            create_q,
            room_id,
            owner_id,
            name,
            description,
            is_public,
            settings,
            max_rooms,
            by,
            password_record,
        )

    async def password_record(self, room_id: str) -> bytes | None:
        return await self._db.run_on_connection(password_record_q, room_id)

    async def set_password(self, room_id: str, record: bytes | None, actor: str) -> bool:
        return await self._write(set_password_q, room_id, record, actor)

    async def room(self, room_id: str) -> RoomRow | None:
        return await self._db.run_on_connection(room_q, room_id)

    async def room_and_member(
        self, room_id: str, user_id: str | None
    ) -> tuple[RoomRow | None, MemberRow | None]:
        return await self._db.run_on_connection(room_and_member_q, room_id, user_id)

    async def discover(self, search: str, limit: int, offset: int) -> tuple[list[RoomRow], int]:
        return await self._db.run_on_connection(discover_q, search, limit, offset)

    async def all_rooms(self, search: str, limit: int, offset: int) -> tuple[list[RoomRow], int]:
        return await self._db.run_on_connection(all_rooms_q, search, limit, offset)

    async def suspend(self, room_id: str, reason: str | None, by: AuditActor) -> bool:
        return await self._write(suspend_q, room_id, reason, by)

    async def my_rooms(self, user_id: str) -> list[tuple[RoomRow, MemberRole]]:
        return await self._db.run_on_connection(my_rooms_q, user_id)

    async def join(
        self, room_id: str, user_id: str, max_members: int, needs_review: bool, by: AuditActor
    ) -> JoinOutcome:
        return await self._write(join_q, room_id, user_id, max_members, needs_review, by)

    async def add_member(
        self, room_id: str, user_id: str, role: MemberRole, max_members: int, actor: str
    ) -> JoinOutcome:
        return await self._write(add_member_q, room_id, user_id, role, max_members, actor)

    async def leave(self, room_id: str, user_id: str, reason: str, actor: str) -> bool:
        return await self._write(leave_q, room_id, user_id, reason, actor)

    async def kick(
        self, room_id: str, user_id: str, cooldown_seconds: int, reason: str, actor: str
    ) -> bool:
        return await self._write(kick_q, room_id, user_id, cooldown_seconds, reason, actor)

    async def ban(
        self, room_id: str, user_id: str, reason: str, until: datetime | None, actor: str
    ) -> bool:
        return await self._write(ban_q, room_id, user_id, reason, until, actor)

    async def unban(self, room_id: str, user_id: str, actor: str) -> bool:
        return await self._write(unban_q, room_id, user_id, actor)

    async def bans(self, room_id: str) -> list[BanRow]:
        return await self._db.run_on_connection(bans_q, room_id)

    async def reject_request(self, room_id: str, user_id: str, actor: str) -> bool:
        return await self._write(reject_request_q, room_id, user_id, actor)

    async def join_requests(self, room_id: str) -> list[tuple[str, str, datetime]]:
        return await self._db.run_on_connection(join_requests_q, room_id)

    async def members(self, room_id: str, limit: int, offset: int) -> list[MemberRow]:
        return await self._db.run_on_connection(members_q, room_id, limit, offset)

    async def set_member(
        self,
        room_id: str,
        user_id: str,
        role: MemberRole,
        added: list[str],
        removed: list[str],
        actor: str,
    ) -> bool:
        return await self._write(set_member_q, room_id, user_id, role, added, removed, actor)

    async def transfer(self, room_id: str, from_user: str, to_user: str, actor: str) -> bool:
        return await self._write(transfer_q, room_id, from_user, to_user, actor)

    async def update(
        self, room_id: str, changes: dict[str, Any], event_type: str, actor: str
    ) -> RoomRow | None:
        return await self._write(update_room_q, room_id, changes, event_type, actor)

    async def delete(self, room_id: str, by: AuditActor) -> bool:
        return await self._write(delete_q, room_id, by)

    async def events_after(self, room_id: str, after: int, limit: int) -> list[EventRow]:
        return await self._db.run_on_connection(events_after_q, room_id, after, limit)
