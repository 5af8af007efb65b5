"""The server's live_clock task: which rooms get one, what it says, when it looks again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import trio

from synctv.api.live_clock import LOOKUP_TTL_SECONDS, REPORT_FRESH_SECONDS, LiveClocks
from synctv.cli.watch import live_line
from synctv.core.room_live import LiveNow
from synctv.realtime.hub import MAX_QUEUED_FRAMES, RoomHub
from synctv.realtime.presence import Presence, PresenceBook
from synctv.store.db import DatabaseUnavailable
from synctv.store.rooms import EventRow


class Hub:
    """What the task uses of the room hub: the rooms with connections, and a broadcast."""

    def __init__(self, rooms: list[str]) -> None:
        self.room_ids = rooms
        self.sent: list[tuple[str, Any]] = []

    def rooms(self) -> list[str]:
        return list(self.room_ids)

    def broadcast(self, room_id: str, frame: Any) -> int:
        self.sent.append((room_id, frame.message.live_clock))
        return 2


class Rooms:
    def __init__(self, live: dict[str, LiveNow]) -> None:
        self.live = live
        self.lookups = 0
        self.down = False

    async def current_live(self, room_id: str) -> LiveNow | None:
        self.lookups += 1
        if self.down:
            raise DatabaseUnavailable("down")
        return self.live.get(room_id)


def event(room_id: str, kind: str) -> EventRow:
    return EventRow(room_id, 1, kind, {}, "u", datetime.now(UTC))


async def test_rooms_playing_a_stream_of_this_node_get_its_clock_and_target() -> None:
    now = [100.0]
    hub = Hub(["r1", "r2", "r3"])
    presence = PresenceBook()
    rooms = Rooms({"r1": LiveNow("m1", "s1", None), "r2": LiveNow("m2", "elsewhere", None)})
    clocks = {"s1": (12.5, 1_700_000_000.25)}
    task = LiveClocks(
        hub,  # type: ignore[arg-type]
        presence,
        rooms.current_live,
        clocks.get,
        clock=lambda: now[0],
    )
    for n, latency in enumerate((0.0, 1.4, 2.5)):
        presence.arrive("r1", Presence(f"c{n}", f"u{n}", "member"))
        media = "m1" if n < 2 else "old"  # the last one reports on other media: not counted
        presence.report("r1", f"c{n}", False, 0.0, now[0], media_id=media, latency=latency)
    await task.tick()
    # r2 plays a stream not publishing here, r3 no stream: only r1 gets one.
    [(room, message)] = hub.sent
    assert room == "r1"
    assert (message.stream_id, message.media_id) == ("s1", "m1")
    assert (message.media_time, message.server_time) == (12.5, 1_700_000_000.25)
    assert message.target_latency == pytest.approx(1.4)
    assert task.sent == 2
    # Reports go stale: the target falls back to the 1 s floor.
    now[0] += REPORT_FRESH_SECONDS + 1
    await task.tick()
    assert hub.sent[-1][1].target_latency == 1.0
    # The room fixes its target (liveTargetLatency): the settings event makes it count at once.
    rooms.live["r1"] = LiveNow("m1", "s1", 4.5)
    task.room_event(event("r1", "settings_changed"))
    await task.tick()
    assert hub.sent[-1][1].target_latency == 4.5


async def test_the_stream_is_looked_up_again_after_a_change_or_the_ttl_only() -> None:
    now = [0.0]
    hub = Hub(["r1"])
    rooms = Rooms({})
    task = LiveClocks(
        hub,  # type: ignore[arg-type]
        PresenceBook(),
        rooms.current_live,
        lambda _stream: (1.0, 2.0),
        clock=lambda: now[0],
    )
    await task.tick()
    await task.tick()
    assert (rooms.lookups, hub.sent) == (1, [])
    # The room starts playing its stream: the playback event makes the next tick look again.
    rooms.live["r1"] = LiveNow("m1", "s1", None)
    task.room_event(event("r1", "chat_message"))
    await task.tick()
    assert rooms.lookups == 1
    task.room_event(event("r1", "playback_changed"))
    await task.tick()
    assert rooms.lookups == 2
    assert len(hub.sent) == 1
    # Without events, once per TTL; a database outage keeps what was known.
    now[0] += LOOKUP_TTL_SECONDS
    rooms.down = True
    await task.tick()
    assert (rooms.lookups, len(hub.sent)) == (3, 2)
    # A room nobody is in any more is forgotten.
    hub.room_ids = []
    await task.tick()
    assert task._known == {}


async def test_the_room_hub_offers_a_broadcast_to_the_rooms_connections_with_event_bounds() -> None:
    cut: list[int] = []
    hub = RoomHub(None, None, str, on_slow=lambda: cut.append(1))  # type: ignore[arg-type]
    assert hub.broadcast("r1", "frame") == 0  # nobody there
    async with hub.connect("r1", 0) as one, hub.connect("r1", 0) as two:
        assert hub.rooms() == ["r1"]
        assert hub.broadcast("r1", "clock") == 2
        assert one.frames.receive_nowait() == "clock"
        assert two.frames.receive_nowait() == "clock"
        # One that never reads is cut at the bound, as for events; the other is not.
        for _ in range(MAX_QUEUED_FRAMES + 1):
            hub.broadcast("r1", "clock")
            while True:
                try:
                    one.frames.receive_nowait()
                except trio.WouldBlock:
                    break
        assert two.cut.is_set()
        assert not one.cut.is_set()
        assert cut == [1]
    assert hub.rooms() == []


def test_synctv_watch_shows_a_live_streams_target_position_and_latency() -> None:
    line = live_line({"mediaId": "m1", "version": "3"}, 3_725.4, 1.346)
    assert line == "● m1  live 1:02:05  latency 1.35 s  v3"
