"""Auto-advance: at the end of a room's media (plus the room's ``autoPlay.delay``), play the next.

Theory of operation: one task looks at every room that is playing (``PlaylistService.playing``)
each ``POLL_SECONDS``. A room whose media has a known duration and ends within the next poll
gets a sleeper task (keyed by room and state version, so one per state) that wakes at
``end + delay`` and asks :meth:`PlaylistService.advance` for the next step. The step runs the
playlist's own rules (``playback.next_media`` in the room's mode) inside the store's transaction
on the locked row, and only if the state is still the version the sleeper saw and has ended:
a pause, seek or manual change made meanwhile wins, and of several replicas running this task
exactly one step is written. It writes the usual ``playback_changed`` event (actor ``system``).

A room playing media of unknown duration has it probed once (``DurationProber``: the media
proxy reads its first bytes) and stored; until then, and if it stays unknown, the room does not
auto-advance.

Resource handling: the sleepers and probes run in this task's own nursery (probes at most
``MAX_PROBES`` at a time); they end with it. Error handling: a failure for one room (it was
deleted, a provider is down) is logged and that room is looked at again at the next poll.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final, Protocol

import trio

from synctv.core.playlists import SYSTEM_CALLER, PlaylistService, as_state
from synctv.errors import DomainError
from synctv.store.playlists import MediaRow, PlayingRoom

log = logging.getLogger("synctv.rooms")

POLL_SECONDS: Final = 1.0
MAX_PROBES: Final = 4


class DurationProber(Protocol):
    async def probe_duration(self, item: MediaRow) -> float | None: ...


class AutoAdvance:
    """See the module docstring. ``run`` is the feature's task."""

    def __init__(
        self,
        playlists: PlaylistService,
        prober: DurationProber | None = None,
        *,
        clock: Callable[[], float] = time.time,
        poll: float = POLL_SECONDS,
    ) -> None:
        self._playlists = playlists
        self._prober = prober
        self._clock = clock
        self._poll = poll
        self._scheduled: set[tuple[str, int]] = set()
        self._probed: set[tuple[str, str]] = set()  # probes running
        self._probes = trio.CapacityLimiter(MAX_PROBES)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                try:
                    rooms = await self._playlists.playing()
                except DomainError as exc:
                    log.warning("auto-advance could not list playing rooms: %s", exc)
                    rooms = []
                for room in rooms:
                    self._look_at(room, nursery)
                await trio.sleep(self._poll)

    def _look_at(self, room: PlayingRoom, nursery: trio.Nursery) -> None:
        state = as_state(room.state)
        media_id = room.state.media_id
        if media_id is None or state.media_kind == "live":
            return
        if state.duration is None:
            key = (room.room_id, media_id)
            if not room.probed and self._prober is not None and key not in self._probed:
                self._probed.add(key)
                nursery.start_soon(self._probe, room.room_id, media_id)
            return
        left = state.seconds_to_end(self._clock())
        slot = (room.room_id, room.state.version)
        if left is None or left > self._poll or slot in self._scheduled:
            return
        self._scheduled.add(slot)
        nursery.start_soon(self._advance_at_end, room, left)

    async def _advance_at_end(self, room: PlayingRoom, left: float) -> None:
        try:
            delay = await self._delay(room.room_id)
            if delay is None:
                return
            await trio.sleep(left + delay)
            view = await self._playlists.advance(room.room_id, room.state)
            if view is not None:
                log.info("room %s auto-advanced to %s", room.room_id, view.state.media_id)
        except DomainError as exc:
            log.info("room %s did not auto-advance: %s", room.room_id, exc)
        finally:
            # Keep the slot a while: the poll may still list this version until the step lands.
            await trio.sleep(self._poll * 2)
            self._scheduled.discard((room.room_id, room.state.version))

    async def _delay(self, room_id: str) -> float | None:
        auto = (await self._playlists.rooms.access(SYSTEM_CALLER, room_id)).settings.auto_play
        return float(auto.delay) if auto.enabled else None

    async def _probe(self, room_id: str, media_id: str) -> None:
        assert self._prober is not None
        try:
            async with self._probes:
                item = await self._playlists.item(room_id, media_id)
                if item is None or item.duration is not None:
                    return
                found = await self._prober.probe_duration(item)
                await self._playlists.learn_duration(room_id, media_id, found)
                log.info("media %s of room %s: duration %s", media_id, room_id, found)
        except DomainError as exc:
            log.info("media %s of room %s: no duration probe: %s", media_id, room_id, exc)
        finally:  # stored (or failed): the row says whether to probe again, not this set
            self._probed.discard((room_id, media_id))
