"""OpenID Connect identities: the (issuer, subject) pairs that sign in to an account.

The pair is the provider's stable name for a person (OIDC Core 5.7); an email or a preferred
username may change hands, so neither is ever used to find an account. Linking, first-login
sign-up and unlinking each write their audit row in the same transaction as the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from synctv.store.audit import AuditActor, AuditEvent, write_audit
from synctv.store.db import Database
from synctv.store.users import Role, Status, UserRow, by_id_q, insert_q

_COLUMNS = "id, user_id, provider, issuer, subject, created_at, last_used_at"


@dataclass(frozen=True, slots=True)
class IdentityRow:
    id: int
    user_id: str
    provider: str
    issuer: str
    subject: str
    created_at: datetime
    last_used_at: datetime


class IdentityTaken(Exception):
    """This (issuer, subject) already signs in to an account (maybe another one)."""


class LastSignInMethod(Exception):
    """Unlinking would leave an account with no password and no identity: nobody could sign in."""


def _row(record: Any) -> IdentityRow:
    return IdentityRow(
        id=record["id"],
        user_id=record["user_id"],
        provider=record["provider"],
        issuer=record["issuer"],
        subject=record["subject"],
        created_at=record["created_at"],
        last_used_at=record["last_used_at"],
    )


async def _link_q(
    conn: Any, user_id: str, provider: str, issuer: str, subject: str, by: AuditActor
) -> IdentityRow | None:
    record = await conn.fetchrow(
        "INSERT INTO user_identities (user_id, provider, issuer, subject)"
        f" VALUES ($1, $2, $3, $4) ON CONFLICT (issuer, subject) DO NOTHING RETURNING {_COLUMNS}",
        user_id,
        provider,
        issuer,
        subject,
    )
    if record is None:
        return None
    details = {"provider": provider, "identity": record["id"]}
    await write_audit(conn, AuditEvent(by, "identity.linked", "user", user_id, details=details))
    return _row(record)


async def link_q(
    conn: Any, user_id: str, provider: str, issuer: str, subject: str, by: AuditActor
) -> IdentityRow | None:
    """Link an identity to an existing account; ``None`` when the pair is linked already."""
    return await _link_q(conn, user_id, provider, issuer, subject, by)


async def sign_in_q(conn: Any, issuer: str, subject: str) -> UserRow | None:
    """The account this identity signs in to (its last use stamped), or ``None``."""
    user_id = await conn.fetchval(
        "UPDATE user_identities SET last_used_at = now() WHERE issuer = $1 AND subject = $2"
        " RETURNING user_id",
        issuer,
        subject,
    )
    if user_id is None:
        return None
    user: UserRow | None = await by_id_q(conn, user_id)
    return user


async def sign_up_q(
    conn: Any,
    *,
    user_id: str,
    username: str,
    username_key: str,
    role: Role,
    status: Status,
    provider: str,
    issuer: str,
    subject: str,
    by: AuditActor,
) -> tuple[UserRow, IdentityRow] | None:
    """Create an account with no password and its first identity, both or neither.

    ``None`` when the name is taken (the caller picks another); :class:`IdentityTaken` when a
    concurrent first login created the identity first (the transaction rolls back).
    """
    user = await insert_q(conn, user_id, username, username_key, role, status, None, by)
    if user is None:
        return None
    identity = await _link_q(conn, user_id, provider, issuer, subject, by)
    if identity is None:
        raise IdentityTaken(issuer)
    return user, identity


async def list_q(conn: Any, user_id: str) -> list[IdentityRow]:
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM user_identities WHERE user_id = $1 ORDER BY created_at, id",
        user_id,
    )
    return [_row(record) for record in records]


async def unlink_q(conn: Any, user_id: str, identity_id: int, by: AuditActor) -> bool:
    """Remove one of the user's identities; ``False`` when it is not theirs (or gone).

    The user's row is locked first so two concurrent unlinks cannot each see the other identity
    and together remove the last way to sign in.
    """
    has_password = await conn.fetchval(
        "SELECT opaque_record IS NOT NULL FROM users WHERE id = $1 FOR UPDATE", user_id
    )
    if has_password is None:
        return False
    provider = await conn.fetchval(
        "SELECT provider FROM user_identities WHERE id = $1 AND user_id = $2",
        identity_id,
        user_id,
    )
    if provider is None:
        return False
    others = await conn.fetchval(
        "SELECT count(*) FROM user_identities WHERE user_id = $1 AND id <> $2",
        user_id,
        identity_id,
    )
    if not has_password and others == 0:
        raise LastSignInMethod(user_id)
    await conn.execute("DELETE FROM user_identities WHERE id = $1", identity_id)
    details = {"provider": provider, "identity": identity_id}
    await write_audit(conn, AuditEvent(by, "identity.unlinked", "user", user_id, details=details))
    return True


class IdentityStore:
    """Trio-native repository over ``user_identities``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def sign_in(self, issuer: str, subject: str) -> UserRow | None:
        return await self._db.run(sign_in_q, issuer, subject)

    async def sign_up(
        self,
        *,
        user_id: str,
        username: str,
        username_key: str,
        role: Role,
        status: Status,
        provider: str,
        issuer: str,
        subject: str,
        by: AuditActor,
    ) -> tuple[UserRow, IdentityRow] | None:
        return await self._db.run(
            sign_up_q,
            user_id=user_id,
            username=username,
            username_key=username_key,
            role=role,
            status=status,
            provider=provider,
            issuer=issuer,
            subject=subject,
            by=by,
        )

    async def link(
        self, user_id: str, provider: str, issuer: str, subject: str, by: AuditActor
    ) -> IdentityRow:
        row = await self._db.run(link_q, user_id, provider, issuer, subject, by)
        if row is None:
            raise IdentityTaken(issuer)
        return row

    async def list(self, user_id: str) -> list[IdentityRow]:
        return await self._db.run(list_q, user_id)

    async def unlink(self, user_id: str, identity_id: int, by: AuditActor) -> bool:
        return await self._db.run(unlink_q, user_id, identity_id, by)
