"""Login sessions: one row per sign-in, the refresh token's rotation, revocation.

A session keeps the jti of the one refresh token that is valid now. :func:`rotate_q` swaps it
for a new one only if the presented jti is that one; presenting any other (an old, already used
token: it was copied) revokes the session in the same transaction (reuse detection). Every
revocation writes its ``session.revoked`` audit row in its own transaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from synctv.store.audit import ACTIONS, AuditActor, AuditEvent, write_audit
from synctv.store.db import Database
from synctv.store.users import _BANNED
from synctv.store.users import _COLUMNS as _USER_COLUMNS

_COLUMNS = (
    "id, user_id, created_at, last_used_at, client_address, user_agent, refresh_counter, revoked_at"
)
# Long user agents are cut, not refused: the header is the client's, the row is ours.
MAX_USER_AGENT = 512
_LOGIN_ACTION = "user.login"
assert _LOGIN_ACTION in ACTIONS  # written by _OPEN_LOGIN's SQL, not through write_audit


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    user_id: str
    created_at: datetime
    last_used_at: datetime
    client_address: str | None
    user_agent: str
    refresh_counter: int
    revoked_at: datetime | None


class Rotation(enum.Enum):
    ROTATED = "rotated"
    REUSED = "reused"  # an older refresh token: the session is now revoked
    REVOKED = "revoked"  # the session was revoked before (or does not exist)


def _row(record: Any) -> SessionRow:
    return SessionRow(
        id=record["id"],
        user_id=record["user_id"],
        created_at=record["created_at"],
        last_used_at=record["last_used_at"],
        client_address=record["client_address"],
        user_agent=record["user_agent"],
        refresh_counter=record["refresh_counter"],
        revoked_at=record["revoked_at"],
    )


async def create_q(
    conn: Any,
    session_id: str,
    user_id: str,
    client_address: str | None,
    user_agent: str,
    refresh_jti: str,
) -> SessionRow:
    record = await conn.fetchrow(
        "INSERT INTO login_sessions (id, user_id, client_address, user_agent, refresh_jti)"
        f" VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
        session_id,
        user_id,
        client_address,
        user_agent[:MAX_USER_AGENT],
        refresh_jti,
    )
    return _row(record)


# A successful password check as ONE statement (one round trip, atomic on its own: no
# BEGIN/COMMIT): read the account as it is *now* (a ban or a deletion since the login started
# wins; FOR SHARE holds it until the statement ends), open the session only for an active
# account, and write the ``user.login`` audit row either way (success, or denied with the
# reason). It was a transaction of five round trips (BEGIN, SELECT, INSERT, INSERT, COMMIT).
_OPEN_LOGIN = f"""
WITH account AS (
    SELECT {_USER_COLUMNS}, {_BANNED} FROM users WHERE id = $1 AND deleted_at IS NULL FOR SHARE
), verdict AS (
    SELECT CASE WHEN banned THEN 'banned' WHEN status <> 'active' THEN status
                ELSE 'success' END AS outcome
    FROM account
), opened AS (
    INSERT INTO login_sessions (id, user_id, client_address, user_agent, refresh_jti)
    SELECT $2, $1, $3, $4, $5 FROM verdict WHERE outcome = 'success'
), audited AS (
    INSERT INTO audit_events (actor, actor_address, action, target_type, target_id, outcome,
                              details, request_id)
    SELECT $6, $7, '{_LOGIN_ACTION}', 'user', $1,
           CASE WHEN outcome = 'success' THEN 'success' ELSE 'denied' END,
           CASE WHEN outcome = 'success' THEN '{{}}'::jsonb
                ELSE jsonb_build_object('reason', outcome) END,
           $8
    FROM verdict
)
SELECT account.*, verdict.outcome FROM account, verdict
"""


async def open_login_q(
    conn: Any,
    session_id: str,
    user_id: str,
    client_address: str | None,
    user_agent: str,
    refresh_jti: str,
    by: AuditActor,
) -> tuple[Any, str]:
    """Open a login session after a successful password check (:data:`_OPEN_LOGIN`). Returns
    (the users row or None, outcome: "success", "missing", "banned", "pending_review")."""
    user = await conn.fetchrow(
        _OPEN_LOGIN,
        user_id,
        session_id,
        client_address,
        user_agent[:MAX_USER_AGENT],
        refresh_jti,
        by.actor,
        by.address,
        by.request_id,
    )
    if user is None:
        return None, "missing"
    return user, str(user["outcome"])


async def _revoke(conn: Any, session_id: str, reason: str, by: AuditActor) -> str | None:
    """Revoke a live session; its user's id, or None when it was not live."""
    user_id: str | None = await conn.fetchval(
        "UPDATE login_sessions SET revoked_at = now(), revoked_reason = $2"
        " WHERE id = $1 AND revoked_at IS NULL RETURNING user_id",
        session_id,
        reason,
    )
    if user_id is not None:
        details = {"user_id": user_id, "reason": reason}
        await write_audit(
            conn, AuditEvent(by, "session.revoked", "session", session_id, details=details)
        )
    return user_id


async def rotate_q(
    conn: Any, session_id: str, presented_jti: str, new_jti: str, by: AuditActor
) -> Rotation:
    record = await conn.fetchrow(
        "SELECT refresh_jti, revoked_at FROM login_sessions WHERE id = $1 FOR UPDATE", session_id
    )
    if record is None or record["revoked_at"] is not None:
        return Rotation.REVOKED
    if record["refresh_jti"] != presented_jti:
        await _revoke(conn, session_id, "refresh_token_reused", by)
        return Rotation.REUSED
    await conn.execute(
        "UPDATE login_sessions SET refresh_jti = $2, refresh_counter = refresh_counter + 1,"
        " last_used_at = now() WHERE id = $1",
        session_id,
        new_jti,
    )
    return Rotation.ROTATED


async def revoke_q(conn: Any, session_id: str, user_id: str, reason: str, by: AuditActor) -> bool:
    """Revoke ``user_id``'s session ``session_id``; False when it is not theirs or not live."""
    owner = await conn.fetchval(
        "SELECT user_id FROM login_sessions WHERE id = $1 AND revoked_at IS NULL FOR UPDATE",
        session_id,
    )
    if owner != user_id:
        return False
    return await _revoke(conn, session_id, reason, by) is not None


async def revoke_all_q(conn: Any, user_id: str, reason: str, by: AuditActor) -> list[str]:
    """Revoke every live session of ``user_id`` (ban, role or password change, admin request);
    the ids revoked, each with its audit row, in one transaction."""
    ids: list[str] = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM login_sessions WHERE user_id = $1 AND revoked_at IS NULL"
            " ORDER BY id FOR UPDATE",
            user_id,
        )
    ]
    for session_id in ids:
        await _revoke(conn, session_id, reason, by)
    return ids


async def list_q(conn: Any, user_id: str) -> list[SessionRow]:
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM login_sessions WHERE user_id = $1 AND revoked_at IS NULL"
        " ORDER BY created_at DESC, id",
        user_id,
    )
    return [_row(r) for r in records]


class SessionStore:
    """Trio-native repository over ``login_sessions``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        session_id: str,
        user_id: str,
        client_address: str | None,
        user_agent: str,
        refresh_jti: str,
    ) -> SessionRow:
        return await self._db.run(
            create_q, session_id, user_id, client_address, user_agent, refresh_jti
        )

    async def open_login(
        self,
        *,
        session_id: str,
        user_id: str,
        client_address: str | None,
        user_agent: str,
        refresh_jti: str,
        by: AuditActor,
    ) -> tuple[Any, str]:
        return await self._db.run_on_connection(
            open_login_q, session_id, user_id, client_address, user_agent, refresh_jti, by
        )

    async def rotate(
        self, session_id: str, presented_jti: str, new_jti: str, by: AuditActor
    ) -> Rotation:
        return await self._db.run(rotate_q, session_id, presented_jti, new_jti, by)

    async def revoke(self, session_id: str, user_id: str, reason: str, by: AuditActor) -> bool:
        return await self._db.run(revoke_q, session_id, user_id, reason, by)

    async def revoke_all(self, user_id: str, reason: str, by: AuditActor) -> list[str]:
        return await self._db.run(revoke_all_q, user_id, reason, by)

    async def list_live(self, user_id: str) -> list[SessionRow]:
        return await self._db.run_on_connection(list_q, user_id)
