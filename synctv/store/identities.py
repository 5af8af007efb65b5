"""OpenID Connect identities linked to accounts: the SQL behind :mod:`synctv.auth.oidc_login`.
Each change is one transaction with its audit row."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from synctv.store.audit import AuditActor, AuditEvent, write_audit
from synctv.store.db import Database
from synctv.store.users import _BANNED, _COLUMNS, UserRow, _row


@dataclass(frozen=True, slots=True)
class IdentityRow:
    id: str
    user_id: str
    provider: str
    issuer: str
    subject: str
    email: str | None
    created_at: datetime
    last_used_at: datetime


def _identity(record: Any) -> IdentityRow:
    return IdentityRow(
        record["id"],
        record["user_id"],
        record["provider"],
        record["issuer"],
        record["subject"],
        record["email"],
        record["created_at"],
        record["last_used_at"],
    )


async def user_for_q(conn: Any, issuer: str, subject: str) -> UserRow | None:
    """The live account linked to (issuer, subject); marks the identity used."""
    user_id = await conn.fetchval(
        "UPDATE user_identities SET last_used_at = now() WHERE issuer = $1 AND subject = $2"
        " RETURNING user_id",
        issuer,
        subject,
    )
    if user_id is None:
        return None
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS}, {_BANNED} FROM users WHERE id = $1 AND deleted_at IS NULL", user_id
    )
    return _row(record) if record is not None else None


async def _link(
    conn: Any, user_id: str, provider: str, issuer: str, subject: str, email: str | None
) -> str | None:
    identity_id = secrets.token_urlsafe(16)
    inserted = await conn.fetchval(
        "INSERT INTO user_identities (id, user_id, provider, issuer, subject, email)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (issuer, subject) DO NOTHING"
        " RETURNING id",
        identity_id,
        user_id,
        provider,
        issuer,
        subject,
        email,
    )
    return str(inserted) if inserted is not None else None


async def link_q(
    conn: Any,
    user_id: str,
    provider: str,
    issuer: str,
    subject: str,
    email: str | None,
    by: AuditActor,
) -> str | None:
    """Link an identity to an account; None when it is linked already (to anyone)."""
    linked = await _link(conn, user_id, provider, issuer, subject, email)
    if linked is not None:
        details = {"provider": provider}
        await write_audit(
            conn, AuditEvent(by, "user.identity_linked", "user", user_id, details=details)
        )
    return linked


async def create_user_q(
    conn: Any,
    user_id: str,
    username: str,
    username_key: str,
    pending: bool,
    provider: str,
    issuer: str,
    subject: str,
    email: str | None,
    by: AuditActor,
) -> UserRow | None:
    """A new account (no password) signed up through a provider, with its identity; None when
    the name is taken meanwhile or the identity was linked meanwhile."""
    record = await conn.fetchrow(
        "INSERT INTO users (id, username, username_key, display_name, role, status)"
        f" VALUES ($1, $2, $3, $2, 'user', $4) ON CONFLICT DO NOTHING"
        f" RETURNING {_COLUMNS}, false AS banned",
        user_id,
        username,
        username_key,
        "pending_review" if pending else "active",
    )
    if record is None:
        return None
    if await _link(conn, user_id, provider, issuer, subject, email) is None:
        raise _Raced
    details = {"username": username, "via": provider, "status": record["status"]}
    await write_audit(conn, AuditEvent(by, "user.registered", "user", user_id, details=details))
    return _row(record)


class _Raced(Exception):
    """The identity was linked by a concurrent sign-in: roll the new account back."""


async def list_q(conn: Any, user_id: str) -> list[IdentityRow]:
    records = await conn.fetch(
        "SELECT id, user_id, provider, issuer, subject, email, created_at, last_used_at"
        " FROM user_identities WHERE user_id = $1 ORDER BY created_at, id",
        user_id,
    )
    return [_identity(r) for r in records]


async def unlink_q(conn: Any, user_id: str, identity_id: str, by: AuditActor) -> str:
    """'unlinked', 'missing', or 'last' (the account would have no way left to sign in)."""
    owned = await conn.fetchval(
        "SELECT provider FROM user_identities WHERE id = $1 AND user_id = $2 FOR UPDATE",
        identity_id,
        user_id,
    )
    if owned is None:
        return "missing"
    has_password = await conn.fetchval(
        "SELECT opaque_record IS NOT NULL FROM users WHERE id = $1", user_id
    )
    others = await conn.fetchval(
        "SELECT count(*) FROM user_identities WHERE user_id = $1 AND id <> $2",
        user_id,
        identity_id,
    )
    if not has_password and others == 0:
        return "last"
    await conn.execute("DELETE FROM user_identities WHERE id = $1", identity_id)
    details = {"provider": owned}
    await write_audit(
        conn, AuditEvent(by, "user.identity_unlinked", "user", user_id, details=details)
    )
    return "unlinked"


class IdentityStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def user_for(self, issuer: str, subject: str) -> UserRow | None:
        return await self._db.run(user_for_q, issuer, subject)

    async def link(
        self,
        user_id: str,
        provider: str,
        issuer: str,
        subject: str,
        email: str | None,
        by: AuditActor,
    ) -> str | None:
        return await self._db.run(link_q, user_id, provider, issuer, subject, email, by)

    async def create_user(
        self,
        *,
        user_id: str,
        username: str,
        username_key: str,
        pending: bool,
        provider: str,
        issuer: str,
        subject: str,
        email: str | None,
        by: AuditActor,
    ) -> UserRow | None:
        try:
            return await self._db.run(
                create_user_q,
                user_id,
                username,
                username_key,
                pending,
                provider,
                issuer,
                subject,
                email,
                by,
            )
        except _Raced:
            return None

    async def list_for(self, user_id: str) -> list[IdentityRow]:
        return await self._db.run_on_connection(list_q, user_id)

    async def unlink(self, user_id: str, identity_id: str, by: AuditActor) -> str:
        return await self._db.run(unlink_q, user_id, identity_id, by)
