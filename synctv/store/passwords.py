"""A user's own password change: the new OPAQUE record, the bumped password version and the
audit row, in one transaction."""

from __future__ import annotations

from typing import Any

from synctv.store.audit import AuditActor, AuditEvent, write_audit
from synctv.store.db import Database


async def change_password_q(
    conn: Any, user_id: str, opaque_record: bytes, by: AuditActor
) -> int | None:
    """The new password version; None when the account is gone."""
    version: int | None = await conn.fetchval(
        "UPDATE users SET opaque_record = $2, password_version = password_version + 1,"
        " updated_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING password_version",
        user_id,
        opaque_record,
    )
    if version is not None:
        details = {"password_version": version}
        event = AuditEvent(by, "user.password_changed", "user", user_id, details=details)
        await write_audit(conn, event)
    return version


class PasswordStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def change(self, user_id: str, opaque_record: bytes, by: AuditActor) -> int | None:
        return await self._db.run(change_password_q, user_id, opaque_record, by)
