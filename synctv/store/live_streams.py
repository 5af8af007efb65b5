"""Live stream rows: the SQL behind :class:`synctv.livestream.registry.LiveStreamRegistry`.

Each ``*_q`` function is one asyncio unit of work taking an asyncpg connection; it is run through
:meth:`Database.run` (one bridge crossing, one transaction). :class:`LiveStreamStore` is the
Trio-native face the service layer uses. Keys never reach this module in plain text: callers pass
the key's hash (``bytea``, 32 bytes). Every change writes its audit row (``live.created``,
``live.key_rotated``, ``live.deleted``) in its own transaction; neither the key nor its hash is
ever in one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from synctv.store.audit import AuditActor, AuditEvent, write_audit
from synctv.store.db import Database

_COLUMNS = "stream_id, app, room_id, title, created_at"


@dataclass(frozen=True, slots=True)
class LiveStreamRow:
    stream_id: str
    app: str
    room_id: str | None
    title: str
    created_at: datetime


class LiveStreamExists(Exception):
    """The stream id (or key hash) is already taken: a collision of random values."""


def _row(record: Any) -> LiveStreamRow:
    return LiveStreamRow(
        stream_id=record["stream_id"],
        app=record["app"],
        room_id=record["room_id"],
        title=record["title"],
        created_at=record["created_at"],
    )


async def insert_q(
    conn: Any,
    stream_id: str,
    app: str,
    room_id: str | None,
    title: str,
    key_hash: bytes,
    by: AuditActor,
) -> LiveStreamRow | None:
    """Insert a stream; ``None`` when the id or key hash already exists."""
    record = await conn.fetchrow(
        f"INSERT INTO live_streams (stream_id, app, room_id, title, key_hash) "
        f"VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
        stream_id,
        app,
        room_id,
        title,
        key_hash,
    )
    if record is None:
        return None
    details = {"app": app, "room_id": room_id, "title": title}
    await write_audit(
        conn, AuditEvent(by, "live.created", "live_stream", stream_id, details=details)
    )
    return _row(record)


async def get_q(conn: Any, stream_id: str) -> LiveStreamRow | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM live_streams WHERE stream_id = $1", stream_id
    )
    return None if record is None else _row(record)


async def list_q(conn: Any, room_id: str | None = None) -> list[LiveStreamRow]:
    """Every stream, or (``room_id``) the streams of one room."""
    if room_id is None:
        records = await conn.fetch(
            f"SELECT {_COLUMNS} FROM live_streams ORDER BY created_at, stream_id"
        )
    else:
        records = await conn.fetch(
            f"SELECT {_COLUMNS} FROM live_streams WHERE room_id = $1"
            " ORDER BY created_at, stream_id",
            room_id,
        )
    return [_row(r) for r in records]


async def find_by_key_hash_q(conn: Any, key_hash: bytes) -> tuple[LiveStreamRow, bytes] | None:
    """The stream whose key hashes to ``key_hash``, with the stored hash (to compare again)."""
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS}, key_hash FROM live_streams WHERE key_hash = $1", key_hash
    )
    return None if record is None else (_row(record), bytes(record["key_hash"]))


async def set_key_hash_q(conn: Any, stream_id: str, key_hash: bytes, by: AuditActor) -> bool:
    status: str = await conn.execute(
        "UPDATE live_streams SET key_hash = $2, key_rotated_at = now() WHERE stream_id = $1",
        stream_id,
        key_hash,
    )
    if status != "UPDATE 1":
        return False
    await write_audit(conn, AuditEvent(by, "live.key_rotated", "live_stream", stream_id))
    return True


async def delete_q(conn: Any, stream_id: str, by: AuditActor) -> bool:
    record = await conn.fetchrow(
        "DELETE FROM live_streams WHERE stream_id = $1 RETURNING app, title", stream_id
    )
    if record is None:
        return False
    details = {"app": record["app"], "title": record["title"]}
    await write_audit(
        conn, AuditEvent(by, "live.deleted", "live_stream", stream_id, details=details)
    )
    return True


class LiveStreamStore:
    """Trio-native repository over ``live_streams``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(
        self,
        *,
        stream_id: str,
        app: str,
        room_id: str | None,
        title: str,
        key_hash: bytes,
        by: AuditActor,
    ) -> LiveStreamRow:
        row = await self._db.run(insert_q, stream_id, app, room_id, title, key_hash, by)
        if row is None:
            raise LiveStreamExists(stream_id)
        return row

    async def get(self, stream_id: str) -> LiveStreamRow | None:
        return await self._db.run(get_q, stream_id)

    async def list(self, room_id: str | None = None) -> list[LiveStreamRow]:
        return await self._db.run(list_q, room_id)

    async def find_by_key_hash(self, key_hash: bytes) -> tuple[LiveStreamRow, bytes] | None:
        return await self._db.run(find_by_key_hash_q, key_hash)

    async def set_key_hash(self, stream_id: str, key_hash: bytes, *, by: AuditActor) -> bool:
        return await self._db.run(set_key_hash_q, stream_id, key_hash, by)

    async def delete(self, stream_id: str, *, by: AuditActor) -> bool:
        return await self._db.run(delete_q, stream_id, by)

    async def record(self, event: AuditEvent) -> None:
        """Write an audit row on its own: a kick, or an attempt that changed nothing."""
        await self._db.run(write_audit, event)
