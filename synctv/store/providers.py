"""Provider instances in PostgreSQL (table ``provider_instances``, migration 0003).

The store sees credentials only as ciphertext plus a key id; encryption is the provider
service's job (``synctv.providers.crypto``). Every method is one unit of work, one bridge
crossing (see ``synctv.store.db``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

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
    ) -> ProviderInstanceRow:
        return await self._db.run(
            _insert, instance_id, kind, name, json.dumps(config), credentials, lan_service
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
    ) -> ProviderInstanceRow | None:
        return await self._db.run(
            _update,
            instance_id,
            name,
            None if config is None else json.dumps(config),
            credentials,
            clear_credentials,
            lan_service,
        )

    async def delete(self, instance_id: str) -> bool:
        return await self._db.run(_delete, instance_id)

    async def reencrypt_all(self, reencrypt: Reencrypt) -> tuple[int, int]:
        """Apply ``reencrypt`` to every row with credentials, in one transaction (all or none).

        Returns (rows changed, rows left as they were).
        """
        return await self._db.run(_reencrypt_all, reencrypt)


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
    return _row(record)


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
    return None if record is None else _row(record)


async def _delete(conn: Any, instance_id: str) -> bool:
    status = await conn.execute(
        "DELETE FROM provider_instances WHERE id = $1", uuid.UUID(instance_id)
    )
    return bool(status == "DELETE 1")


async def _reencrypt_all(conn: Any, reencrypt: Reencrypt) -> tuple[int, int]:
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
    return changed, kept
