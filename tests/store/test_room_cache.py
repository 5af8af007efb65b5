"""The room read cache: what it keeps and for how long, that a load racing a change is not kept,
and, on a real PostgreSQL, that a change made elsewhere (another replica, ``synctv admin``) reaches
it through the room events' NOTIFY while one made here is seen at once, and that a lost LISTEN
connection, supervised as the app runs it, serves nothing stale and is listened on again."""

from __future__ import annotations

import logging
from functools import partial

import pytest
import trio

from synctv import metrics
from synctv.core.rooms import Caller, RoomService
from synctv.store import room_cache
from synctv.store.db import Database
from synctv.store.room_cache import RoomReadCache
from synctv.store.rooms import RoomStore
from synctv.supervision import restarting
from tests.support.postgres import terminate_listening
from tests.support.rooms import rooms_on
from tests.support.waiting import eventually


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def listening_cache(clock: Clock, **options: float) -> RoomReadCache[str]:
    cache: RoomReadCache[str] = RoomReadCache(clock=clock, **options)  # type: ignore[arg-type]
    cache.listening = True
    return cache


class Loads:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> str:
        self.count += 1
        return f"value {self.count}"


async def test_keeps_per_room_and_caller_until_invalidated_or_old() -> None:
    clock, load = Clock(), Loads()
    cache = listening_cache(clock, max_age=1.0)
    assert await cache.get("r1", "u1", load) == "value 1"
    assert await cache.get("r1", "u1", load) == "value 1"  # kept
    assert await cache.get("r1", "u2", load) == "value 2"  # another caller: its own entry
    assert await cache.get("r2", "u1", load) == "value 3"
    cache.invalidate("r1")  # both callers of r1 go, r2 stays
    assert await cache.get("r1", "u1", load) == "value 4"
    assert await cache.get("r1", "u2", load) == "value 5"
    assert await cache.get("r2", "u1", load) == "value 3"
    cache.notified("r2:17")  # a room event's NOTIFY payload
    assert await cache.get("r2", "u1", load) == "value 6"
    clock.now += 1.0  # max_age: never older than that, notified or not
    assert await cache.get("r2", "u1", load) == "value 7"
    assert (cache.hits, cache.misses) == (2, 7)


async def test_nothing_is_kept_while_not_listening() -> None:
    clock, load = Clock(), Loads()
    cache = listening_cache(clock)
    cache.listening = False
    assert await cache.get("r1", "u1", load) == "value 1"
    assert await cache.get("r1", "u1", load) == "value 2"


async def test_a_load_that_raced_a_change_is_answered_but_not_kept() -> None:
    clock = Clock()
    cache = listening_cache(clock)
    changed = trio.Event()
    loads = 0

    async def slow_load() -> str:
        nonlocal loads
        loads += 1
        await changed.wait()
        return f"read before the change ({loads})"

    async with trio.open_nursery() as nursery:
        results: list[str] = []

        async def reader() -> None:
            results.append(await cache.get("r1", "u1", slow_load))

        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        cache.invalidate("r1")  # the room changed while the read was under way
        changed.set()
    assert results == ["read before the change (1)"]

    async def fresh() -> str:
        return "fresh"

    assert await cache.get("r1", "u1", fresh) == "fresh"

    # Nor across a clear (a lost LISTEN); another room's change does not matter.
    async def load_then(action: str) -> str:
        if action == "clear":
            cache.clear()
        else:
            cache.invalidate("other room")
        return action

    assert await cache.get("r2", "u1", lambda: load_then("clear")) == "clear"
    assert await cache.get("r2", "u1", fresh) == "fresh"
    assert await cache.get("r3", "u1", lambda: load_then("other")) == "other"
    assert await cache.get("r3", "u1", fresh) == "other"


async def test_bounded() -> None:
    clock, load = Clock(), Loads()
    cache = listening_cache(clock, max_entries=3)
    for room in ("a", "b", "c", "d"):
        await cache.get(room, None, load)
    assert await cache.get("d", None, load) == "value 4"  # the fourth cleared the three
    assert await cache.get("a", None, load) == "value 5"
    for n in range(5):
        cache.invalidate(f"room {n}")  # the generations are bounded too
    assert await cache.get("a", None, load) == "value 6"


@pytest.mark.slow
async def test_changes_here_at_once_and_from_elsewhere_by_notification(database: Database) -> None:
    plain, _, owner = await rooms_on(database)  # "another replica": no cache
    cache: RoomReadCache[object] = RoomReadCache(clock=trio.current_time, max_age=3600)
    cached = RoomService(RoomStore(database, cache), plain._limits, plain._passwords)
    guest = Caller("guest-0000000000000", "user")
    async with trio.open_nursery() as nursery:
        await nursery.start(cache.run, database)

        async def listening() -> bool:
            return cache.listening

        await eventually(listening)
        room = await plain.create(owner, name="before")
        assert (await cached.view(owner, room.id)).room.name == "before"

        async def kept() -> bool:  # once the creation's own notification has come and gone
            hits = cache.hits
            await cached.view(owner, room.id)
            await cached.view(owner, room.id)
            return cache.hits > hits

        await eventually(kept)

        # Changed here: the next view sees it, with no wait for the notification.
        await cached.update(owner, room.id, name="here")
        assert (await cached.view(owner, room.id)).room.name == "here"

        # Changed by another replica: seen once its NOTIFY arrives (max_age is an hour here).
        await plain.update(owner, room.id, name="elsewhere")

        async def renamed() -> bool:
            return (await cached.view(owner, room.id)).room.name == "elsewhere"

        await eventually(renamed)

        # Membership: a join and a ban made elsewhere reach the caller's own entry.
        assert (await cached.view(guest, room.id)).role is None
        await plain.join(guest, room.id)

        async def joined() -> bool:
            return (await cached.view(guest, room.id)).role == "member"

        await eventually(joined)
        assert (await cached.view(owner, room.id)).room.member_count == 2
        await plain.ban(owner, room.id, guest.user_id)

        async def banned() -> bool:
            return (await cached.view(guest, room.id)).role is None

        await eventually(banned)
        assert (await cached.view(owner, room.id)).room.member_count == 1

        # Settings changed here apply to the very next view.
        assert (await cached.view(owner, room.id)).settings.chat_enabled
        await cached.patch_settings(owner, room.id, {"chatEnabled": False})
        assert not (await cached.view(owner, room.id)).settings.chat_enabled
        nursery.cancel_scope.cancel()
    assert not cache.listening


@pytest.mark.slow
async def test_a_lost_listen_serves_nothing_stale_and_listens_again(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Long enough a gap before listening again to look at the cache while it is down.
    monkeypatch.setattr(room_cache, "RECONNECT_SECONDS", 3.0)
    plain, _, owner = await rooms_on(database)  # "another replica": no cache
    cache: RoomReadCache[object] = RoomReadCache(clock=trio.current_time, max_age=3600)
    cached = RoomService(RoomStore(database, cache), plain._limits, plain._passwords)
    crashes = metrics.TASK_CRASHES.labels("room_read_cache")
    crashes_before = crashes._value.get()
    async with trio.open_nursery() as app:  # supervised as synctv.app.tree starts it
        await app.start(restarting, "room_read_cache", partial(cache.run, database))

        async def listening() -> bool:
            return cache.listening

        async def down() -> bool:
            return not cache.listening

        await eventually(listening)
        room = await plain.create(owner, name="before")

        async def kept() -> bool:
            hits = cache.hits
            await cached.view(owner, room.id)
            await cached.view(owner, room.id)
            return cache.hits > hits

        await eventually(kept)

        # The listening backend goes away (as in a PostgreSQL restart or a failover).
        assert await terminate_listening(database) == 1
        await eventually(down)
        # Changed elsewhere while nobody listens (its notification is lost): the view reads it,
        # what was kept before is gone, and nothing is kept meanwhile.
        await database.execute("UPDATE rooms SET name = 'while away' WHERE id = $1", room.id)
        await database.execute("SELECT pg_notify('synctv_room_events', $1 || ':0')", room.id)
        hits = cache.hits
        assert (await cached.view(owner, room.id)).room.name == "while away"
        assert (await cached.view(owner, room.id)).room.name == "while away"
        assert cache.hits == hits
        assert not cache.listening  # all of it seen while down

        # It listens again by itself: it keeps again, and hears another replica's change.
        await eventually(listening)
        await eventually(kept)
        await plain.update(owner, room.id, name="elsewhere")

        async def renamed() -> bool:
            return (await cached.view(owner, room.id)).room.name == "elsewhere"

        await eventually(renamed)
        # The loss was handled where it happens (a warning), not as a crash of the task, and
        # the nursery the app's tasks share carried on.
        assert crashes._value.get() == crashes_before
        assert any(
            r.name == "synctv.store.room_cache" and r.levelno == logging.WARNING
            for r in caplog.records
        )
        app.cancel_scope.cancel()
    assert not cache.listening
