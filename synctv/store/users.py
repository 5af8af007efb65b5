"""User rows and the OPAQUE setup fingerprint: the SQL behind :mod:`synctv.core.identity`.

Each ``*_q`` function is one asyncio unit of work on an asyncpg connection, run through
:meth:`Database.run` (one bridge crossing, one transaction). :class:`UserStore` is the
Trio-native face. Names arrive already normalised (``username_key``); this module checks
nothing about them beyond what the table's constraints do. A registration writes its audit row
(``user.registered``) in its own transaction; the OPAQUE record is never in one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from synctv.store.audit import AuditActor, AuditEvent, write_audit
from synctv.store.db import Database

Role = Literal["root", "admin", "user"]
Status = Literal["active", "pending_review"]

_COLUMNS = (
    "id, username, username_key, display_name, role, status, opaque_record, password_version,"
    " must_reset_password, created_at, updated_at"
)
# A ban in force now: not lifted, and open-ended or not yet over.
_BANNED = (
    "EXISTS (SELECT 1 FROM user_bans b WHERE b.user_id = users.id AND b.lifted_at IS NULL"
    " AND (b.until IS NULL OR b.until > now())) AS banned"
)


@dataclass(frozen=True, slots=True)
class UserBan:
    """The ban in force on an account: why, by whom (an account id, or ``system``/``cli``; the
    account's name when it is one that still exists), since when, and until when (None: until
    lifted)."""

    reason: str
    banned_by: str
    banned_by_name: str | None
    banned_at: datetime
    until: datetime | None


@dataclass(frozen=True, slots=True, repr=False)
class UserRow:
    id: str
    username: str
    username_key: str
    display_name: str
    role: Role
    status: Status
    opaque_record: bytes | None
    password_version: int
    must_reset_password: bool
    created_at: datetime
    updated_at: datetime
    banned: bool
    # The ban in force, on the administrators' reads only (AccountService); None elsewhere.
    ban: UserBan | None = None

    def __repr__(self) -> str:  # the record is not a secret, but it has no place in a log
        return f"UserRow(id={self.id!r}, role={self.role!r}, status={self.status!r})"


class UsernameTaken(Exception):
    """A live account already has this name (compared by ``username_key``)."""


def row_of(record: Any) -> UserRow:
    return _row(record)


def _row(record: Any) -> UserRow:
    stored = record["opaque_record"]
    return UserRow(
        id=record["id"],
        username=record["username"],
        username_key=record["username_key"],
        display_name=record["display_name"],
        role=record["role"],
        status=record["status"],
        opaque_record=None if stored is None else bytes(stored),
        password_version=record["password_version"],
        must_reset_password=record["must_reset_password"],
        created_at=record["created_at"],
        updated_at=record["updated_at"],
        banned=record["banned"],
    )


async def insert_q(
    conn: Any,
    user_id: str,
    username: str,
    username_key: str,
    role: Role,
    status: Status,
    opaque_record: bytes,
    by: AuditActor,
) -> UserRow | None:
    """Insert an account; ``None`` when a live account has the name already."""
    record = await conn.fetchrow(
        "INSERT INTO users (id, username, username_key, display_name, role, status,"
        " opaque_record) VALUES ($1, $2, $3, $2, $4, $5, $6)"
        f" ON CONFLICT DO NOTHING RETURNING {_COLUMNS}, false AS banned",
        user_id,
        username,
        username_key,
        role,
        status,
        opaque_record,
    )
    if record is None:
        return None
    details = {"username": username, "role": role, "status": status}
    await write_audit(conn, AuditEvent(by, "user.registered", "user", user_id, details=details))
    return _row(record)


async def by_key_q(conn: Any, username_key: str) -> UserRow | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS}, {_BANNED} FROM users WHERE username_key = $1 AND deleted_at IS NULL",
        username_key,
    )
    return None if record is None else _row(record)


async def by_id_q(conn: Any, user_id: str) -> UserRow | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS}, {_BANNED} FROM users WHERE id = $1 AND deleted_at IS NULL", user_id
    )
    return None if record is None else _row(record)


async def count_q(conn: Any) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM users WHERE deleted_at IS NULL")
    return count


async def set_role_q(conn: Any, user_id: str, role: Role) -> bool:
    """Change a role without an audit row: the admin commands (which audit) come later; tests
    and the first-account setup use this."""
    status: str = await conn.execute(
        "UPDATE users SET role = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL",
        user_id,
        role,
    )
    return status == "UPDATE 1"


async def ban_q(conn: Any, user_id: str, reason: str, by: str) -> None:
    await conn.execute(
        "INSERT INTO user_bans (user_id, reason, banned_by) VALUES ($1, $2, $3)",
        user_id,
        reason,
        by,
    )


async def check_setup_fingerprint_q(conn: Any, fingerprint: str) -> str | None:
    """Record ``fingerprint`` if none is stored and return None; otherwise the stored one when it
    differs while accounts with records exist (a stored one with no records is replaced)."""
    stored = await conn.fetchval("SELECT fingerprint FROM opaque_server_setup FOR UPDATE")
    if stored == fingerprint:
        return None
    if stored is not None:
        has_records = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM users WHERE opaque_record IS NOT NULL"
            " AND deleted_at IS NULL)"
        )
        if has_records:
            return str(stored)
    await conn.execute(
        "INSERT INTO opaque_server_setup (singleton, fingerprint) VALUES (true, $1)"
        " ON CONFLICT (singleton) DO UPDATE SET fingerprint = $1, recorded_at = now()",
        fingerprint,
    )
    return None


class UserStore:
    """Trio-native repository over ``users``, ``user_bans`` and ``opaque_server_setup``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(
        self,
        *,
        user_id: str,
        username: str,
        username_key: str,
        role: Role,
        status: Status,
        opaque_record: bytes,
        by: AuditActor,
    ) -> UserRow:
        row = await self._db.run(
            insert_q, user_id, username, username_key, role, status, opaque_record, by
        )
        if row is None:
            raise UsernameTaken(username)
        return row

    # Reads are one statement without a transaction around them (BEGIN and COMMIT would triple
    # the round trips of every sign-in).
    async def by_key(self, username_key: str) -> UserRow | None:
        return await self._db.run_on_connection(by_key_q, username_key)

    async def by_id(self, user_id: str) -> UserRow | None:
        return await self._db.run_on_connection(by_id_q, user_id)

    async def count(self) -> int:
        return await self._db.run_on_connection(count_q)

    async def set_role(self, user_id: str, role: Role) -> bool:
        return await self._db.run(set_role_q, user_id, role)

    async def ban(self, user_id: str, reason: str, by: str) -> None:
        await self._db.run(ban_q, user_id, reason, by)

    async def check_setup_fingerprint(self, fingerprint: str) -> str | None:
        return await self._db.run(check_setup_fingerprint_q, fingerprint)
