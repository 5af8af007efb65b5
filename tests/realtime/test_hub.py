"""The room hub on a real PostgreSQL: NOTIFY after commit, rows as the source of truth, order,
catch-up of a late subscriber, no duplicates for a fresher snapshot, the slow cut, and a lost
LISTEN connection, supervised as the app runs it: no crash, listened on again, caught up."""

from __future__ import annotations

import logging

import pytest
import trio

from synctv import metrics
from synctv.api.realtime_messages import event_frame
from synctv.realtime import hub as hub_module
from synctv.realtime.hub import RoomHub, TooFarBehind
from synctv.store.db import Database
from synctv.supervision import restarting
from tests.support.postgres import listening_backends, terminate_listening
from tests.support.rooms import rooms_on
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


async def frames(subscription: hub_module.Subscription, count: int) -> list[dict[str, object]]:
    import json

    got = []
    with trio.fail_after(10):
        for _ in range(count):
            got.append(json.loads((await subscription.frames.receive()).text)["event"])
    return got


async def test_events_arrive_in_order_once(database: Database) -> None:
    rooms, store, owner = await rooms_on(database)
    room = await rooms.create(owner, name="hub")
    hub = RoomHub(database, store, event_frame)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.connect(room.id, room.last_event_seq) as first:
            await rooms.update(owner, room.id, name="renamed")
            await rooms.patch_settings(owner, room.id, {"chatEnabled": False})
            got = await frames(first, 2)
            assert [(f["seq"], f["type"]) for f in got] == [
                ("2", "room_updated"),
                ("3", "settings_changed"),
            ]
            assert got[0]["payload"] == {"name": "renamed"}

            # A late subscriber with an older snapshot gets the gap first, then the stream;
            # one with a fresher snapshot (seq 4) gets nothing it already has.
            async with hub.connect(room.id, 1) as late, hub.connect(room.id, 4) as fresh:
                await rooms.update(owner, room.id, description="d")  # seq 4
                await rooms.update(owner, room.id, description="e")  # seq 5
                assert [f["seq"] for f in await frames(late, 4)] == ["2", "3", "4", "5"]
                assert [f["seq"] for f in await frames(first, 2)] == ["4", "5"]
                assert [f["seq"] for f in await frames(fresh, 1)] == ["5"]
                with pytest.raises(trio.WouldBlock):
                    fresh.frames.receive_nowait()
        nursery.cancel_scope.cancel()
    assert hub.statistics()["rooms"] == 0


async def test_a_connection_that_stays_full_is_cut(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "QUEUE_FRAMES", 3)
    monkeypatch.setattr(hub_module, "MAX_QUEUED_FRAMES", 4)
    monkeypatch.setattr(hub_module, "SLOW_DEADLINE_SECONDS", 0.2)
    rooms, store, owner = await rooms_on(database)
    room = await rooms.create(owner, name="slow")
    cut_count = []
    hub = RoomHub(database, store, event_frame, on_slow=lambda: cut_count.append(1))
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.connect(room.id, 1) as stuck, hub.connect(room.id, 1) as reader:
            # Three fill the stuck queue, the fourth finds it full, the fifth comes past the
            # deadline: cut. The reader keeps up and is never cut.
            for n in range(5):
                await rooms.update(owner, room.id, name=f"n{n}")
                with trio.fail_after(5):
                    await reader.frames.receive()
                await trio.sleep(0.25)
            with trio.fail_after(5):
                await stuck.cut.wait()
            assert not reader.cut.is_set()
            # Joining the room's stream from further back than a queue may hold: the caller must
            # send a snapshot instead.
            with pytest.raises(TooFarBehind):
                async with hub.connect(room.id, 1):
                    pass
        nursery.cancel_scope.cancel()
    assert cut_count == [1]
    assert hub.slow_cut == 1


async def test_a_lost_listen_is_no_crash_listens_again_and_catches_up(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Long enough a gap before listening again to commit events while nobody listens.
    monkeypatch.setattr(hub_module, "RECONNECT_SECONDS", 3.0)
    rooms, store, owner = await rooms_on(database)
    room = await rooms.create(owner, name="hub")
    hub = RoomHub(database, store, event_frame)
    crashes = metrics.TASK_CRASHES.labels("room_hub")
    crashes_before = crashes._value.get()
    async with trio.open_nursery() as app:  # supervised as synctv.app.tree starts it
        await app.start(restarting, "room_hub", hub.run)
        async with hub.connect(room.id, room.last_event_seq) as subscription:
            await rooms.update(owner, room.id, name="before")  # seq 2
            assert [f["seq"] for f in await frames(subscription, 1)] == ["2"]
            (first_listener,) = await listening_backends(database)

            # The listening backend goes away (as in a PostgreSQL restart or a failover).
            assert await terminate_listening(database) == 1

            async def stopped() -> bool:
                return any(
                    r.name == "synctv.realtime" and r.levelno == logging.WARNING
                    for r in caplog.records
                )

            await eventually(stopped)
            # Committed while nobody listens: their NOTIFYs reach no one.
            delivered = hub.delivered_events
            await rooms.update(owner, room.id, name="while away")  # seq 3
            await rooms.update(owner, room.id, description="also away")  # seq 4
            assert await listening_backends(database) == []
            assert hub.delivered_events == delivered

            # It listens again by itself, on a new connection ...
            async def listening_again() -> bool:
                backends = await listening_backends(database)
                return len(backends) == 1 and backends != [first_listener]

            await eventually(listening_again)
            # ... and catches up on what it missed with nothing more committed: rows, not
            # notifications, are the source of truth.
            got = await frames(subscription, 2)
            assert [(f["seq"], f["type"]) for f in got] == [
                ("3", "room_updated"),
                ("4", "room_updated"),
            ]
            assert got[0]["payload"] == {"name": "while away"}

            # An event committed once it is back arrives by its notification, once.
            await rooms.update(owner, room.id, name="back")  # seq 5
            assert [f["seq"] for f in await frames(subscription, 1)] == ["5"]
            with pytest.raises(trio.WouldBlock):
                subscription.frames.receive_nowait()
        # The loss was handled where it happens (a warning), not as a crash of the task (no
        # restart), and the nursery the app's tasks share carried on.
        assert crashes._value.get() == crashes_before
        assert not app.cancel_scope.cancel_called
        app.cancel_scope.cancel()
