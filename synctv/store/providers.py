"""Provider instances in PostgreSQL (table ``provider_instances``, migration 0003).

The store sees credentials only as ciphertext plus a key id; encryption is the provider
service's job (``synctv.providers.crypto``). Every method is one unit of work, one bridge
crossing (see ``synctv.store.db``). Every change writes its audit row (``provider.added``,
``provider.updated``, ``provider.removed``, ``credentials.key_rotated``) in its own transaction:
names, kinds and which fields changed, never a credential nor a config value.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from synctv.store.audit import AuditActor, AuditEvent, write_audit
from synctv.store.db import Database

_COLUMNS = (
    "id::text AS id, kind, name, config::text AS config, credentials, credentials_key_id, "
    "lan_service, created_at, updated_at"
)


class ProviderNameTaken(Exception):
    """Another instance already has this name."""


@dataclass(frozen=True, slots=True)
class ProviderInstanceRow:
    id: str
    kind: str
    name: str
    config: Mapping[str, Any]
    credentials: bytes | None
    credentials_key_id: str | None
    lan_service: bool
    created_at: datetime
    updated_at: datetime


# (row id, ciphertext, key id) -> new (ciphertext, key id), or None to leave the row as it is.
Reencrypt = Callable[[str, bytes, str], tuple[bytes, str] | None]


class ProviderInstanceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(
        self,
        *,
        instance_id: str,
        kind: str,
        name: str,
        config: Mapping[str, Any],
        credentials: tuple[bytes, str] | None,
        lan_service: bool,
        by: AuditActor,
    ) -> ProviderInstanceRow:
        return await self._db.run(
            _insert, instance_id, kind, name, json.dumps(config), credentials, lan_service, by
        )

    async def list_all(self) -> list[ProviderInstanceRow]:
        return await self._db.run(_list)

    async def get(self, id_or_name: str) -> ProviderInstanceRow | None:
        return await self._db.run(_get, id_or_name)

    async def update(
        self,
        instance_id: str,
        *,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        credentials: tuple[bytes, str] | None = None,
        clear_credentials: bool = False,
        lan_service: bool | None = None,
        by: AuditActor,
    ) -> ProviderInstanceRow | None:
        changed = [
            field
            for field, value in (
                ("name", name),
                ("config", config),
                ("credentials", credentials if not clear_credentials else True),
                ("lan_service", lan_service),
            )
            if value is not None
        ]
        return await self._db.run(
            _update,
            instance_id,
            name,
            None if config is None else json.dumps(config),
            credentials,
            clear_credentials,
            lan_service,
            AuditEvent(
                by, "provider.updated", "provider", instance_id, details={"changed": changed}
            ),
        )

    async def delete(self, instance_id: str, *, by: AuditActor) -> bool:
        return await self._db.run(_delete, instance_id, by)

    async def reencrypt_all(self, reencrypt: Reencrypt, *, audit: AuditEvent) -> tuple[int, int]:
        """Apply ``reencrypt`` to every row with credentials, in one transaction (all or none),
        with ``audit`` (its details completed with the counts) written in it.

        Returns (rows changed, rows left as they were).
        """
        return await self._db.run(_reencrypt_all, reencrypt, audit)

    async def record(self, event: AuditEvent) -> None:
        """Write an audit row on its own: an attempt that changed nothing (refused, failed)."""
        await self._db.run(write_audit, event)


def _row(record: Any) -> ProviderInstanceRow:
    credentials = record["credentials"]
    return ProviderInstanceRow(
        id=record["id"],
        kind=record["kind"],
        name=record["name"],
        config=json.loads(record["config"]),
        credentials=None if credentials is None else bytes(credentials),
        credentials_key_id=record["credentials_key_id"],
        lan_service=record["lan_service"],
        created_at=record["created_at"],
        updated_at=record["updated_at"],
    )


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


async def _insert(
    conn: Any,
    instance_id: str,
    kind: str,
    name: str,
    config: str,
    credentials: tuple[bytes, str] | None,
    lan_service: bool,
    by: AuditActor,
) -> ProviderInstanceRow:
    blob, key_id = credentials if credentials is not None else (None, None)
    try:
        record = await conn.fetchrow(
            f"INSERT INTO provider_instances (id, kind, name, config, credentials,"
            f" credentials_key_id, lan_service) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)"
            f" RETURNING {_COLUMNS}",
            uuid.UUID(instance_id),
            kind,
            name,
            config,
            blob,
            key_id,
            lan_service,
        )
    except asyncpg.UniqueViolationError:
        raise ProviderNameTaken(name) from None
    row = _row(record)
    details = {"kind": kind, "name": name, "has_credentials": blob is not None,
               "lan_service": lan_service}  # fmt: skip
    await write_audit(conn, AuditEvent(by, "provider.added", "provider", row.id, details=details))
    return row


async def _list(conn: Any) -> list[ProviderInstanceRow]:
    records = await conn.fetch(f"SELECT {_COLUMNS} FROM provider_instances ORDER BY name")
    return [_row(r) for r in records]


async def _get(conn: Any, id_or_name: str) -> ProviderInstanceRow | None:
    as_id = _as_uuid(id_or_name)
    if as_id is not None:
        record = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM provider_instances WHERE id = $1", as_id
        )
        if record is not None:
            return _row(record)
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM provider_instances WHERE name = $1", id_or_name
    )
    return None if record is None else _row(record)


async def _update(
    conn: Any,
    instance_id: str,
    name: str | None,
    config: str | None,
    credentials: tuple[bytes, str] | None,
    clear_credentials: bool,
    lan_service: bool | None,
    audit: AuditEvent,
) -> ProviderInstanceRow | None:
    blob, key_id = credentials if credentials is not None else (None, None)
    try:
        record = await conn.fetchrow(
            f"""
            UPDATE provider_instances SET
                name = coalesce($2, name),
                config = coalesce($3::jsonb, config),
                credentials = CASE WHEN $6 THEN NULL ELSE coalesce($4, credentials) END,
                credentials_key_id =
                    CASE WHEN $6 THEN NULL ELSE coalesce($5, credentials_key_id) END,
                lan_service = coalesce($7, lan_service),
                updated_at = now()
            WHERE id = $1
            RETURNING {_COLUMNS}
            """,
            uuid.UUID(instance_id),
            name,
            config,
            blob,
            key_id,
            clear_credentials,
            lan_service,
        )
    except asyncpg.UniqueViolationError:
        raise ProviderNameTaken(name or "") from None
    if record is None:
        return None
    row = _row(record)
    await write_audit(conn, audit.with_outcome("success", name=row.name, kind=row.kind))
    return row


async def _delete(conn: Any, instance_id: str, by: AuditActor) -> bool:
    record = await conn.fetchrow(
        "DELETE FROM provider_instances WHERE id = $1 RETURNING kind, name",
        uuid.UUID(instance_id),
    )
    if record is None:
        return False
    details = {"kind": record["kind"], "name": record["name"]}
    await write_audit(
        conn, AuditEvent(by, "provider.removed", "provider", instance_id, details=details)
    )
    return True


async def _reencrypt_all(conn: Any, reencrypt: Reencrypt, audit: AuditEvent) -> tuple[int, int]:
    records = await conn.fetch(
        "SELECT id::text AS id, credentials, credentials_key_id FROM provider_instances"
        " WHERE credentials IS NOT NULL ORDER BY id FOR UPDATE"
    )
    changed = kept = 0
    for record in records:
        result = reencrypt(record["id"], bytes(record["credentials"]), record["credentials_key_id"])
        if result is None:
            kept += 1
            continue
        await conn.execute(
            "UPDATE provider_instances SET credentials = $2, credentials_key_id = $3,"
            " updated_at = now() WHERE id = $1",
            uuid.UUID(record["id"]),
            result[0],
            result[1],
        )
        changed += 1
    await write_audit(conn, audit.with_outcome("success", rotated=changed, already_current=kept))
    return changed, kept
