"""LiveStreamRegistry against a real PostgreSQL: keys, publish authorization, directory cache."""

from __future__ import annotations

import hashlib
import re

import pytest
import trio

from synctv.livestream.registry import (
    InvalidLiveStream,
    LiveStreamNotFound,
    LiveStreamRecord,
    LiveStreamRegistry,
    PublishAuthorizer,
    StreamDirectory,
)
from synctv.store.audit import CLI_ACTOR
from synctv.store.db import Database


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def registry_with_clock(
    database: Database, **kwargs: float
) -> tuple[LiveStreamRegistry, FakeClock]:
    clock = FakeClock()
    return LiveStreamRegistry(database, clock=clock, **kwargs), clock  # type: ignore[arg-type]


async def test_create_gives_unguessable_id_and_key(database: Database) -> None:
    registry = LiveStreamRegistry(database)
    record, key = await registry.create(room_id=None, title="  Friday night  ", by=CLI_ACTOR)
    assert re.fullmatch(r"[a-z2-7]{24}", record.stream_id)  # 120 bits, base32
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key)  # 256 bits, url-safe base64
    assert record.app == "live"
    assert record.room_id is None
    assert record.title == "Friday night"
    assert record.created_at_ms > 1_600_000_000_000

    in_room, other_key = await registry.create(room_id="room-42", title="", by=CLI_ACTOR)
    assert (in_room.app, in_room.room_id) == ("room-42", "room-42")
    assert other_key != key
    assert in_room.stream_id != record.stream_id
    assert await registry.list() == [record, in_room]


async def test_key_is_stored_only_as_its_sha256(database: Database) -> None:
    registry = LiveStreamRegistry(database)
    record, key = await registry.create(room_id=None, title="t", by=CLI_ACTOR)
    row = await database.fetchrow(
        "SELECT key_hash, row_to_json(s)::text AS everything FROM live_streams s "
        "WHERE stream_id = $1",
        record.stream_id,
    )
    assert bytes(row["key_hash"]) == hashlib.sha256(key.encode()).digest()
    assert key not in row["everything"]


@pytest.mark.parametrize(
    ("room_id", "title", "problem"),
    [
        ("", "t", "room id"),
        ("has space", "t", "room id"),
        ("x" * 65, "t", "room id"),
        (None, "x" * 201, "longer than"),
        (None, "bell\x07", "control characters"),
    ],
)
async def test_create_rejects_bad_input(
    database: Database, room_id: str | None, title: str, problem: str
) -> None:
    registry = LiveStreamRegistry(database)
    with pytest.raises(InvalidLiveStream, match=problem):
        await registry.create(room_id=room_id, title=title, by=CLI_ACTOR)
    assert await registry.list() == []


async def test_authorize_publish(database: Database) -> None:
    registry = LiveStreamRegistry(database)
    authorizer: PublishAuthorizer = registry
    free, free_key = await registry.create(room_id=None, title="", by=CLI_ACTOR)
    roomed, room_key = await registry.create(room_id="r1", title="", by=CLI_ACTOR)

    assert await authorizer.authorize_publish("live", free_key) == free
    assert await authorizer.authorize_publish("r1", room_key) == roomed
    # The key identifies the stream; the app must be that stream's app.
    assert await authorizer.authorize_publish("r1", free_key) is None
    assert await authorizer.authorize_publish("live", room_key) is None
    assert await authorizer.authorize_publish("live", free_key + "x") is None
    assert await authorizer.authorize_publish("live", "") is None
    assert await authorizer.authorize_publish("live", "k" * 10_000) is None
    # The stream id is public: it is not a key.
    assert await authorizer.authorize_publish("live", free.stream_id) is None


async def test_rotated_key_replaces_the_old_one(database: Database) -> None:
    registry = LiveStreamRegistry(database)
    record, old = await registry.create(room_id=None, title="", by=CLI_ACTOR)
    new = await registry.rotate_key(record.stream_id, by=CLI_ACTOR)
    assert new != old
    assert await registry.authorize_publish("live", old) is None
    assert await registry.authorize_publish("live", new) == record
    with pytest.raises(LiveStreamNotFound):
        await registry.rotate_key("no-such-stream", by=CLI_ACTOR)
    with pytest.raises(LiveStreamNotFound):
        await registry.rotate_key("not a valid id!", by=CLI_ACTOR)


async def test_deleted_stream_is_refused_and_gone(database: Database) -> None:
    registry = LiveStreamRegistry(database)
    record, key = await registry.create(room_id=None, title="", by=CLI_ACTOR)
    kept, kept_key = await registry.create(room_id=None, title="", by=CLI_ACTOR)
    assert await registry.get(record.stream_id) == record  # now cached
    assert await registry.delete(record.stream_id, by=CLI_ACTOR)
    assert await registry.authorize_publish("live", key) is None
    assert await registry.get(record.stream_id) is None  # the cache was invalidated
    assert not await registry.delete(record.stream_id, by=CLI_ACTOR)
    assert not await registry.delete("not a valid id!", by=CLI_ACTOR)
    assert await registry.list() == [kept]
    assert await registry.authorize_publish("live", kept_key) == kept


async def test_directory_caches_for_the_ttl(database: Database) -> None:
    registry, clock = registry_with_clock(database, cache_ttl_seconds=5.0)
    directory: StreamDirectory = registry
    record, _ = await registry.create(room_id=None, title="", by=CLI_ACTOR)

    assert await directory.get(record.stream_id) == record
    # Removed behind the registry's back (another node): still served from the cache ...
    await database.execute("DELETE FROM live_streams WHERE stream_id = $1", record.stream_id)
    assert await directory.get(record.stream_id) == record
    stats = registry.cache_statistics()
    assert (stats.hits, stats.misses, stats.entries) == (1, 1, 1)
    # ... until the TTL runs out.
    clock.now += 5.1
    assert await directory.get(record.stream_id) is None


async def test_negative_answers_are_cached_and_create_invalidates(database: Database) -> None:
    registry, _clock = registry_with_clock(database)
    assert await registry.get("a" * 24) is None
    assert await registry.get("a" * 24) is None
    assert registry.cache_statistics().hits == 1
    # Junk ids are answered without the database and are not cached.
    assert await registry.get("../../etc/passwd") is None
    assert registry.cache_statistics().entries == 1
    record, _ = await registry.create(room_id=None, title="", by=CLI_ACTOR)
    assert await registry.get(record.stream_id) == record


async def test_cache_is_bounded(database: Database) -> None:
    registry, clock = registry_with_clock(database, cache_max_entries=2)
    records = [
        (await registry.create(room_id=None, title=str(i), by=CLI_ACTOR))[0] for i in range(3)
    ]
    for record in records:
        assert await registry.get(record.stream_id) == record
        clock.now += 0.1
    assert registry.cache_statistics().entries == 2
    # The oldest entry went first; the newest two are hits.
    hits = registry.cache_statistics().hits
    assert await registry.get(records[2].stream_id) == records[2]
    assert await registry.get(records[1].stream_id) == records[1]
    assert registry.cache_statistics().hits == hits + 2


async def test_lookup_racing_a_delete_does_not_cache_the_stale_record(
    database: Database,
) -> None:
    registry, _clock = registry_with_clock(database)
    record, _ = await registry.create(room_id=None, title="", by=CLI_ACTOR)
    store = registry._store
    real_get = store.get
    fetched, release = trio.Event(), trio.Event()

    async def slow_get(stream_id: str) -> object:
        row = await real_get(stream_id)
        fetched.set()
        await release.wait()
        return row

    store.get = slow_get  # type: ignore[method-assign]
    results: list[LiveStreamRecord | None] = []
    async with trio.open_nursery() as nursery:

        async def lookup() -> None:
            results.append(await registry.get(record.stream_id))

        nursery.start_soon(lookup)
        await fetched.wait()
        store.get = real_get  # type: ignore[method-assign]
        assert await registry.delete(record.stream_id, by=CLI_ACTOR)
        release.set()
    assert results == [record]  # read before the delete ...
    assert await registry.get(record.stream_id) is None  # ... but not cached past it
