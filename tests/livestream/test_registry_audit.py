"""Live stream changes write one audit row in their transaction (never the key nor its hash);
a kick is recorded on its own; a change whose row cannot be written does not happen."""

from __future__ import annotations

import asyncpg
import pytest

from synctv.livestream.registry import LiveStreamNotFound, LiveStreamRegistry, hash_publish_key
from synctv.store.audit import CLI_ACTOR, AuditActor
from synctv.store.db import Database
from tests.support.audit import audit_rows, everything_as_text, forbid

BOB = AuditActor("u_bob", address="192.0.2.5", request_id="req-9")


async def test_create_rotate_kick_delete_rows_without_the_key(database: Database) -> None:
    registry = LiveStreamRegistry(database)
    record, key = await registry.create(room_id="room-1", title="Friday", by=BOB)
    new_key = await registry.rotate_key(record.stream_id, by=CLI_ACTOR)
    await registry.record_kick(record.stream_id, by=CLI_ACTOR, kicked=True)
    await registry.record_kick(record.stream_id, by=CLI_ACTOR, kicked=False, reason="not_live")
    assert await registry.delete(record.stream_id, by=CLI_ACTOR)

    sid = record.stream_id
    rows = await audit_rows(database)
    assert [(r["action"], r["outcome"], r["target_type"], r["target_id"]) for r in rows] == [
        ("live.created", "success", "live_stream", sid),
        ("live.key_rotated", "success", "live_stream", sid),
        ("live.kicked", "success", "live_stream", sid),
        ("live.kicked", "failed", "live_stream", sid),
        ("live.deleted", "success", "live_stream", sid),
    ]
    assert (rows[0]["actor"], rows[0]["actor_address"], rows[0]["request_id"]) == (
        "u_bob",
        "192.0.2.5",
        "req-9",
    )
    assert rows[0]["details"] == {"app": "room-1", "room_id": "room-1", "title": "Friday"}
    assert rows[1]["details"] == {}
    assert rows[3]["details"] == {"reason": "not_live"}
    assert rows[4]["details"] == {"app": "room-1", "title": "Friday"}
    text = await everything_as_text(database)
    for secret in (key, new_key, hash_publish_key(key).hex(), hash_publish_key(new_key).hex()):
        assert secret not in text


async def test_changes_to_a_missing_stream_are_recorded_as_failed(database: Database) -> None:
    registry = LiveStreamRegistry(database)
    with pytest.raises(LiveStreamNotFound):
        await registry.rotate_key("nosuchstream", by=CLI_ACTOR)
    assert not await registry.delete("nosuchstream", by=CLI_ACTOR)
    assert not await registry.delete("not a valid id!", by=CLI_ACTOR)
    rows = await audit_rows(database)
    assert [(r["action"], r["outcome"], r["target_id"], r["details"]) for r in rows] == [
        ("live.key_rotated", "failed", "nosuchstream", {"reason": "stream_not_found"}),
        ("live.deleted", "failed", "nosuchstream", {"reason": "stream_not_found"}),
        ("live.deleted", "failed", "not a valid id!", {"reason": "stream_not_found"}),
    ]


async def test_a_change_whose_audit_row_fails_does_not_happen(database: Database) -> None:
    registry = LiveStreamRegistry(database)
    record, key = await registry.create(room_id=None, title="", by=CLI_ACTOR)
    sid = record.stream_id

    await forbid(database, "live.created")
    with pytest.raises(asyncpg.CheckViolationError, match="test_refuse"):
        await registry.create(room_id=None, title="second", by=CLI_ACTOR)
    assert [s.stream_id for s in await registry.list()] == [sid]
    await database.execute("ALTER TABLE audit_events DROP CONSTRAINT test_refuse")

    await forbid(database, "live.key_rotated")
    with pytest.raises(asyncpg.CheckViolationError, match="test_refuse"):
        await registry.rotate_key(sid, by=CLI_ACTOR)
    assert await registry.authorize_publish("live", key) is not None  # the old key still works
    await database.execute("ALTER TABLE audit_events DROP CONSTRAINT test_refuse")

    await forbid(database, "live.deleted")
    with pytest.raises(asyncpg.CheckViolationError, match="test_refuse"):
        await registry.delete(sid, by=CLI_ACTOR)
    assert await registry.get(sid) is not None
    assert await registry.authorize_publish("live", key) is not None
    assert [r["action"] for r in await audit_rows(database)] == ["live.created"]
