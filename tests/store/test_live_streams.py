"""The live_streams repository against a real PostgreSQL: rows, constraints, lookups by key hash."""

from __future__ import annotations

import hashlib

import asyncpg
import pytest

from synctv.store.audit import CLI_ACTOR
from synctv.store.db import Database
from synctv.store.live_streams import LiveStreamExists, LiveStreamStore


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def test_insert_get_list_rekey_delete(database: Database) -> None:
    store = LiveStreamStore(database)
    first = await store.insert(
        stream_id="s1", app="live", room_id=None, title="one", key_hash=digest("k1"), by=CLI_ACTOR
    )
    second = await store.insert(
        stream_id="s2", app="room7", room_id="room7", title="", key_hash=digest("k2"), by=CLI_ACTOR
    )
    assert (first.stream_id, first.app, first.room_id, first.title) == ("s1", "live", None, "one")
    assert second.room_id == "room7"
    assert await store.get("s1") == first
    assert await store.get("nope") is None
    assert [row.stream_id for row in await store.list()] == ["s1", "s2"]

    found = await store.find_by_key_hash(digest("k2"))
    assert found == (second, digest("k2"))
    assert await store.find_by_key_hash(digest("k3")) is None

    assert await store.set_key_hash("s2", digest("k3"), by=CLI_ACTOR)
    assert await store.find_by_key_hash(digest("k2")) is None
    assert await store.find_by_key_hash(digest("k3")) is not None
    assert not await store.set_key_hash("nope", digest("k4"), by=CLI_ACTOR)

    assert await store.delete("s1", by=CLI_ACTOR)
    assert not await store.delete("s1", by=CLI_ACTOR)
    assert [row.stream_id for row in await store.list()] == ["s2"]


async def test_duplicate_id_or_key_hash_is_reported(database: Database) -> None:
    store = LiveStreamStore(database)
    await store.insert(
        stream_id="s1", app="live", room_id=None, title="", key_hash=digest("k"), by=CLI_ACTOR
    )
    with pytest.raises(LiveStreamExists):
        await store.insert(
            stream_id="s1",
            app="live",
            room_id=None,
            title="",
            key_hash=digest("other"),
            by=CLI_ACTOR,
        )
    with pytest.raises(LiveStreamExists):
        await store.insert(
            stream_id="s2", app="live", room_id=None, title="", key_hash=digest("k"), by=CLI_ACTOR
        )


@pytest.mark.parametrize(
    ("app", "room_id", "key_hash"),
    [
        ("room1", None, digest("k")),  # a stream without a room publishes on "live"
        ("live", "room1", digest("k")),  # a room's stream publishes on the room id
        ("live", None, b"short"),  # only SHA-256 digests are stored
    ],
)
async def test_schema_constraints(
    database: Database, app: str, room_id: str | None, key_hash: bytes
) -> None:
    store = LiveStreamStore(database)
    with pytest.raises(asyncpg.CheckViolationError):
        await store.insert(
            stream_id="s", app=app, room_id=room_id, title="", key_hash=key_hash, by=CLI_ACTOR
        )
