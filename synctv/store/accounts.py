"""Account administration and the first-start setup token: the SQL behind
:mod:`synctv.auth.accounts`. Each change is one transaction with its audit row.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Any

from synctv.store.audit import AuditActor, AuditEvent, write_audit
from synctv.store.db import Database
from synctv.store.users import _BANNED, _COLUMNS, Role, UserBan, UserRow, _row


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def new_setup_token_q(conn: Any, token: str) -> bool:
    """Store a setup token (its hash) while no account exists, replacing unused older ones;
    False (nothing stored) once an account exists."""
    await conn.execute("LOCK TABLE setup_tokens IN EXCLUSIVE MODE")
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE deleted_at IS NULL)"):
        return False
    await conn.execute("DELETE FROM setup_tokens WHERE used_at IS NULL")
    await conn.execute("INSERT INTO setup_tokens (token_hash) VALUES ($1)", token_hash(token))
    return True


async def setup_token_valid_q(conn: Any, token: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT used_at IS NULL AND NOT EXISTS (SELECT 1 FROM users WHERE deleted_at IS NULL)"
            " FROM setup_tokens WHERE token_hash = $1",
            token_hash(token),
        )
    )


async def create_root_q(
    conn: Any,
    token: str,
    user_id: str,
    username: str,
    username_key: str,
    opaque_record: bytes,
    by: AuditActor,
) -> UserRow | None:
    """The first account, as root, spending the setup token in the same transaction; None when
    the token is unknown or spent, or an account exists already."""
    await conn.execute("LOCK TABLE setup_tokens IN EXCLUSIVE MODE")
    used = await conn.fetchval(
        "UPDATE setup_tokens SET used_at = now(), used_by = NULL WHERE token_hash = $1"
        " AND used_at IS NULL AND NOT EXISTS (SELECT 1 FROM users WHERE deleted_at IS NULL)"
        " RETURNING true",
        token_hash(token),
    )
    if not used:
        return None
    record = await conn.fetchrow(
        "INSERT INTO users (id, username, username_key, display_name, role, opaque_record)"
        f" VALUES ($1, $2, $3, $2, 'root', $4) RETURNING {_COLUMNS}, false AS banned",
        user_id,
        username,
        username_key,
        opaque_record,
    )
    await conn.execute(
        "UPDATE setup_tokens SET used_by = $2 WHERE token_hash = $1", token_hash(token), user_id
    )
    details = {"username": username, "role": "root", "via": "setup_link"}
    await write_audit(conn, AuditEvent(by, "user.registered", "user", user_id, details=details))
    return _row(record)


async def list_q(
    conn: Any,
    search: str,
    role: str | None,
    status: str | None,
    banned: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[UserRow], int]:
    conditions = ["deleted_at IS NULL", "(username_key LIKE $1 OR id = $2)"]
    args: list[object] = [
        "%" + search.casefold().replace("%", "").replace("_", "\\_") + "%",
        search,
    ]
    if role is not None:
        args.append(role)
        conditions.append(f"role = ${len(args)}")
    if status is not None:
        args.append(status)
        conditions.append(f"status = ${len(args)}")
    where = " AND ".join(conditions)
    having = "" if banned is None else f" WHERE banned = {'true' if banned else 'false'}"
    inner = f"SELECT {_COLUMNS}, {_BANNED} FROM users WHERE {where}"
    total: int = await conn.fetchval(f"SELECT count(*) FROM ({inner}) AS u{having}", *args)
    records = await conn.fetch(
        f"SELECT * FROM ({inner}) AS u{having} ORDER BY created_at, id"
        f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    users = [_row(r) for r in records]
    bans = await bans_in_force_q(conn, [u.id for u in users if u.banned])
    return [replace(u, ban=bans.get(u.id)) for u in users], total


async def bans_in_force_q(conn: Any, user_ids: list[str]) -> dict[str, UserBan]:
    """The ban in force on each of ``user_ids`` that has one (the latest, if several)."""
    if not user_ids:
        return {}
    records = await conn.fetch(
        "SELECT DISTINCT ON (b.user_id) b.user_id, b.reason, b.banned_by,"
        " a.username AS banned_by_name, b.created_at, b.until FROM user_bans b"
        " LEFT JOIN users a ON a.id = b.banned_by"
        " WHERE b.user_id = ANY($1::text[]) AND b.lifted_at IS NULL"
        " AND (b.until IS NULL OR b.until > now())"
        " ORDER BY b.user_id, b.created_at DESC, b.id DESC",
        user_ids,
    )
    return {
        r["user_id"]: UserBan(
            r["reason"], r["banned_by"], r["banned_by_name"], r["created_at"], r["until"]
        )
        for r in records
    }


async def set_role_q(conn: Any, user_id: str, role: Role, by: AuditActor) -> str | None:
    """The previous role, or None when there is no such account."""
    previous: str | None = await conn.fetchval(
        "SELECT role FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE", user_id
    )
    if previous is None:
        return None
    await conn.execute(
        "UPDATE users SET role = $2, updated_at = now() WHERE id = $1", user_id, role
    )
    details = {"from": previous, "to": role}
    await write_audit(conn, AuditEvent(by, "user.role_changed", "user", user_id, details=details))
    return previous


async def ban_q(
    conn: Any, user_id: str, reason: str, until: datetime | None, by: AuditActor
) -> bool:
    exists = await conn.fetchval(
        "SELECT true FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE", user_id
    )
    if not exists:
        return False
    await conn.execute(
        "UPDATE user_bans SET lifted_at = now(), lifted_by = $2 WHERE user_id = $1"
        " AND lifted_at IS NULL",
        user_id,
        by.actor,
    )
    await conn.execute(
        "INSERT INTO user_bans (user_id, reason, banned_by, until) VALUES ($1, $2, $3, $4)",
        user_id,
        reason,
        by.actor,
        until,
    )
    details: dict[str, object] = {"reason": reason}
    if until is not None:
        details["until"] = until.isoformat()
    await write_audit(conn, AuditEvent(by, "user.banned", "user", user_id, details=details))
    return True


async def unban_q(conn: Any, user_id: str, by: AuditActor) -> bool:
    lifted = await conn.fetch(
        "UPDATE user_bans SET lifted_at = now(), lifted_by = $2 WHERE user_id = $1"
        " AND lifted_at IS NULL RETURNING id",
        user_id,
        by.actor,
    )
    if lifted:
        await write_audit(conn, AuditEvent(by, "user.unbanned", "user", user_id))
    return bool(lifted)


async def delete_q(conn: Any, user_id: str, action: str, by: AuditActor) -> bool:
    """Soft delete (the name is free again); ``action`` is user.deleted or user.rejected."""
    deleted = await conn.fetchval(
        "UPDATE users SET deleted_at = now(), updated_at = now() WHERE id = $1"
        " AND deleted_at IS NULL RETURNING true",
        user_id,
    )
    if deleted:
        await write_audit(conn, AuditEvent(by, action, "user", user_id))
    return bool(deleted)


async def approve_q(conn: Any, user_id: str, by: AuditActor) -> bool:
    approved = await conn.fetchval(
        "UPDATE users SET status = 'active', updated_at = now() WHERE id = $1"
        " AND status = 'pending_review' AND deleted_at IS NULL RETURNING true",
        user_id,
    )
    if approved:
        await write_audit(conn, AuditEvent(by, "user.approved", "user", user_id))
    return bool(approved)


async def set_password_q(conn: Any, user_id: str, record: bytes, by: AuditActor) -> bool:
    """A new OPAQUE record; the password version moves on (older tokens carry the old one)."""
    changed = await conn.fetchval(
        "UPDATE users SET opaque_record = $2, password_version = password_version + 1,"
        " must_reset_password = false, updated_at = now() WHERE id = $1 AND deleted_at IS NULL"
        " RETURNING true",
        user_id,
        record,
    )
    if changed:
        await write_audit(conn, AuditEvent(by, "user.password_changed", "user", user_id))
    return bool(changed)


async def reset_password_q(
    conn: Any, user_id: str, token: str, valid_seconds: int, by: AuditActor
) -> bool:
    """Clear the account's password (its record goes; the version moves on) and keep one reset
    token for it (earlier unused ones stop working)."""
    reset = await conn.fetchval(
        "UPDATE users SET opaque_record = NULL, must_reset_password = true,"
        " password_version = password_version + 1, updated_at = now()"
        " WHERE id = $1 AND deleted_at IS NULL RETURNING true",
        user_id,
    )
    if not reset:
        return False
    await conn.execute(
        "UPDATE password_reset_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL",
        user_id,
    )
    await conn.execute(
        "INSERT INTO password_reset_tokens (token_hash, user_id, created_by, expires_at)"
        " VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        token_hash(token),
        user_id,
        by.actor,
        float(valid_seconds),
    )
    await write_audit(conn, AuditEvent(by, "user.password_reset", "user", user_id))
    return True


async def reset_token_user_q(conn: Any, token: str) -> str | None:
    """The account a live reset token is for (unused, unexpired), or None."""
    user_id: str | None = await conn.fetchval(
        "SELECT t.user_id FROM password_reset_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()"
        " AND u.deleted_at IS NULL",
        token_hash(token),
    )
    return user_id


async def complete_reset_q(
    conn: Any, token: str, user_id: str, record: bytes, by: AuditActor
) -> bool:
    """Spend the token and store the new record, in one transaction."""
    spent = await conn.fetchval(
        "UPDATE password_reset_tokens SET used_at = now() WHERE token_hash = $1 AND user_id = $2"
        " AND used_at IS NULL AND expires_at > now() RETURNING true",
        token_hash(token),
        user_id,
    )
    if not spent:
        return False
    return await set_password_q(conn, user_id, record, by)


async def count_roots_q(conn: Any) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM users WHERE role = 'root' AND deleted_at IS NULL"
    )
    return count


class AccountStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def new_setup_token(self, token: str) -> bool:
        return await self._db.run(new_setup_token_q, token)

    async def setup_token_valid(self, token: str) -> bool:
        return await self._db.run_on_connection(setup_token_valid_q, token)

    async def create_root(
        self,
        token: str,
        user_id: str,
        username: str,
        username_key: str,
        opaque_record: bytes,
        by: AuditActor,
    ) -> UserRow | None:
        return await self._db.run(
            create_root_q, token, user_id, username, username_key, opaque_record, by
        )

    async def list_users(
        self,
        search: str = "",
        role: str | None = None,
        status: str | None = None,
        banned: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[UserRow], int]:
        return await self._db.run_on_connection(list_q, search, role, status, banned, limit, offset)

    async def ban_in_force(self, user_id: str) -> UserBan | None:
        bans = await self._db.run_on_connection(bans_in_force_q, [user_id])
        return bans.get(user_id)

    async def set_role(self, user_id: str, role: Role, by: AuditActor) -> str | None:
        return await self._db.run(set_role_q, user_id, role, by)

    async def ban(self, user_id: str, reason: str, until: datetime | None, by: AuditActor) -> bool:
        return await self._db.run(ban_q, user_id, reason, until, by)

    async def unban(self, user_id: str, by: AuditActor) -> bool:
        return await self._db.run(unban_q, user_id, by)

    async def delete(self, user_id: str, action: str, by: AuditActor) -> bool:
        return await self._db.run(delete_q, user_id, action, by)

    async def approve(self, user_id: str, by: AuditActor) -> bool:
        return await self._db.run(approve_q, user_id, by)

    async def set_password(self, user_id: str, record: bytes, by: AuditActor) -> bool:
        return await self._db.run(set_password_q, user_id, record, by)

    async def reset_password(
        self, user_id: str, token: str, valid_seconds: int, by: AuditActor
    ) -> bool:
        return await self._db.run(reset_password_q, user_id, token, valid_seconds, by)

    async def reset_token_user(self, token: str) -> str | None:
        return await self._db.run_on_connection(reset_token_user_q, token)

    async def complete_reset(self, token: str, user_id: str, record: bytes, by: AuditActor) -> bool:
        return await self._db.run(complete_reset_q, token, user_id, record, by)

    async def count_roots(self) -> int:
        return await self._db.run_on_connection(count_roots_q)
