"""Runtime settings in PostgreSQL (table ``runtime_settings``, migration 0005).

The store sees values as JSON whose secret fields are already sealed (``synctv.core``
validates and seals). A change is one transaction: the rows change, one audit row per key is
written (``synctv.store.audit``; if it fails, nothing changes), and ``NOTIFY synctv_settings``
with the key is sent, which PostgreSQL delivers to every listening process when (and only if) the
transaction commits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from synctv.store.audit import AuditActor, AuditEvent, write_audit
from synctv.store.db import Database

CHANNEL = "synctv_settings"

# (key, stored JSON or None when unset) -> what the audit row may show (secrets masked).
Mask = Callable[[str, Any], Any]


@dataclass(frozen=True, slots=True)
class StoredSetting:
    key: str
    value: Any  # JSON, secret fields sealed
    version: int
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class SettingWrite:
    """Set ``key`` to ``value`` (sealed JSON), or remove its row (back to default) when None."""

    key: str
    value: Any | None


class SettingsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def load_all(self) -> list[StoredSetting]:
        return await self._db.run(_load_all)

    async def load(self, key: str) -> StoredSetting | None:
        return await self._db.run(_load, key)

    async def apply(
        self, writes: Sequence[SettingWrite], *, by: AuditActor, action: str, mask: Mask
    ) -> dict[str, StoredSetting | None]:
        """Write every change, its audit row and its notification in one transaction.

        Returns each key's previous row (None: it was unset).
        """
        return await self._db.run(_apply, list(writes), by, action, mask)

    async def rewrite_sealed(
        self, rewrite: Callable[[str, Any], Any | None], *, by: AuditActor, key_id: str
    ) -> list[str]:
        """Apply ``rewrite(key, stored)`` to every row in one transaction (None: leave the row);
        each rewritten row gets a ``credentials.key_rotated`` audit row. Returns the keys."""
        return await self._db.run(_rewrite_sealed, rewrite, by, key_id)


_COLUMNS = "key, value::text AS value, version, updated_at, updated_by"


def _row(record: Any) -> StoredSetting:
    return StoredSetting(
        key=record["key"],
        value=json.loads(record["value"]),
        version=record["version"],
        updated_at=record["updated_at"],
        updated_by=record["updated_by"],
    )


async def _load_all(conn: Any) -> list[StoredSetting]:
    records = await conn.fetch(f"SELECT {_COLUMNS} FROM runtime_settings ORDER BY key")
    return [_row(r) for r in records]


async def _load(conn: Any, key: str) -> StoredSetting | None:
    record = await conn.fetchrow(f"SELECT {_COLUMNS} FROM runtime_settings WHERE key = $1", key)
    return None if record is None else _row(record)


async def _apply(
    conn: Any, writes: list[SettingWrite], by: AuditActor, action: str, mask: Mask
) -> dict[str, StoredSetting | None]:
    previous: dict[str, StoredSetting | None] = {}
    for write in writes:
        record = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM runtime_settings WHERE key = $1 FOR UPDATE", write.key
        )
        old = None if record is None else _row(record)
        previous[write.key] = old
        if write.value is None:
            await conn.execute("DELETE FROM runtime_settings WHERE key = $1", write.key)
        else:
            await conn.execute(
                """
                INSERT INTO runtime_settings (key, value, updated_by) VALUES ($1, $2::jsonb, $3)
                ON CONFLICT (key) DO UPDATE SET
                    value = excluded.value,
                    version = runtime_settings.version + 1,
                    updated_at = now(),
                    updated_by = excluded.updated_by
                """,
                write.key,
                json.dumps(write.value, separators=(",", ":")),
                by.actor,
            )
        details = {
            "old": mask(write.key, None if old is None else old.value),
            "new": mask(write.key, write.value),
        }
        await write_audit(
            conn,
            AuditEvent(by, action, target_type="setting", target_id=write.key, details=details),
        )
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, write.key)
    return previous


async def _rewrite_sealed(
    conn: Any, rewrite: Callable[[str, Any], Any | None], by: AuditActor, key_id: str
) -> list[str]:
    records = await conn.fetch(f"SELECT {_COLUMNS} FROM runtime_settings ORDER BY key FOR UPDATE")
    rewritten = []
    for record in records:
        row = _row(record)
        value = rewrite(row.key, row.value)
        if value is None:
            continue
        # The same value under another key: no new version, no notification.
        await conn.execute(
            "UPDATE runtime_settings SET value = $2::jsonb WHERE key = $1",
            row.key,
            json.dumps(value, separators=(",", ":")),
        )
        await write_audit(
            conn,
            AuditEvent(
                by,
                "credentials.key_rotated",
                target_type="setting",
                target_id=row.key,
                details={"key_id": key_id},
            ),
        )
        rewritten.append(row.key)
    return rewritten
