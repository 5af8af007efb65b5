"""Live in step, the server's part: the ``live_clock`` message (docs/realtime.md).

Every second, each room with connections on this node whose current media is a live stream
publishing on this node gets one ``live_clock``: the stream's newest frame, when it arrived at
ingest (the livestream hub's ingest clock, injected as ``media_clock``: the livestream layer knows
no rooms) and the room's target latency (the largest safe latency its players reported for that
media in their last reports, at least 1 s: ``synctv.realtime.sync.room_target_latency``; or the
room's ``liveTargetLatency`` setting when it has one). The
message is encoded once per room and offered to its connections through the room hub, with the
same bounds as events; it is not an event (no sequence, never replayed: the next one replaces it).

Which stream a room plays is read from the database (``current_live``), remembered for
:data:`LOOKUP_TTL_SECONDS`, and forgotten at once when the room's playback or playlist changes
or settings change (:meth:`LiveClocks.room_event`, told of every event by the room hub).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import trio

from synctv.api.grpc._gen.synctv.v1 import realtime_pb2
from synctv.api.realtime_messages import Frame
from synctv.core.room_live import LiveNow
from synctv.realtime.hub import RoomHub
from synctv.realtime.presence import PresenceBook
from synctv.realtime.sync import room_target_latency
from synctv.store.db import DatabaseUnavailable
from synctv.store.rooms import EventRow

INTERVAL_SECONDS: Final = 1.0
LOOKUP_TTL_SECONDS: Final = 10.0
# Players report every 2 s; a latency older than this is from a player that stopped reporting.
REPORT_FRESH_SECONDS: Final = 10.0
_FORGET_ON: Final = frozenset(
    {"playback_changed", "media_removed", "playlist_cleared", "settings_changed"}
)

# room id -> its current media when that is a live stream, else None
CurrentLive = Callable[[str], Awaitable[LiveNow | None]]
# stream id -> (media time, server time) of its newest frame; None when not publishing here
MediaClock = Callable[[str], tuple[float, float] | None]


class LiveClocks:
    def __init__(
        self,
        hub: RoomHub,
        presence: PresenceBook,
        current_live: CurrentLive,
        media_clock: MediaClock,
        *,
        clock: Callable[[], float] = trio.current_time,
        interval: float = INTERVAL_SECONDS,
    ) -> None:
        self._hub = hub
        self._presence = presence
        self._current_live = current_live
        self._media_clock = media_clock
        self._clock = clock
        self._interval = interval
        # room id -> (looked up at, what current_live said)
        self._known: dict[str, tuple[float, LiveNow | None]] = {}
        self._forgotten = 0  # changes seen: a lookup that raced one is not remembered
        self.sent = 0  # frames offered to connections, for tests and statistics

    def room_event(self, event: EventRow) -> None:
        """The room hub delivered an event: a playback or playlist change forgets the room's
        stream (looked up again at the next tick)."""
        if event.type in _FORGET_ON:
            self._known.pop(event.room_id, None)
            self._forgotten += 1

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await self.tick()
            await trio.sleep(self._interval)

    async def tick(self) -> None:
        """One round: a ``live_clock`` to each room playing a stream that publishes here."""
        now = self._clock()
        rooms = set(self._hub.rooms())
        for room_id in [r for r in self._known if r not in rooms]:
            del self._known[room_id]
        for room_id in rooms:
            live = await self._lookup(room_id, now)
            if live is None:
                continue
            mapping = self._media_clock(live.stream_id)
            if mapping is None:
                continue
            target = live.target_latency
            if target is None:
                presence = self._presence.room(room_id)
                target = room_target_latency(
                    presence.latencies(live.media_id, now - REPORT_FRESH_SECONDS)
                )
            message = realtime_pb2.LiveClock(
                stream_id=live.stream_id,
                media_id=live.media_id,
                media_time=mapping[0],
                server_time=mapping[1],
                target_latency=target,
            )
            frame = Frame(realtime_pb2.ServerMessage(live_clock=message))
            self.sent += self._hub.broadcast(room_id, frame)

    async def _lookup(self, room_id: str, now: float) -> LiveNow | None:
        known = self._known.get(room_id)
        if known is not None and now - known[0] < LOOKUP_TTL_SECONDS:
            return known[1]
        forgotten = self._forgotten
        try:
            live = await self._current_live(room_id)
        except DatabaseUnavailable:
            return known[1] if known is not None else None  # keep what we knew; retry next tick
        if forgotten == self._forgotten:
            self._known[room_id] = (now, live)
        return live
