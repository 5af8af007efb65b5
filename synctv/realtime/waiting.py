"""The driver of wait for everyone (:mod:`synctv.realtime.wait_rules` decides; this acts).

One task for the node: the presence book tells it which rooms to look at (a player started or
stopped buffering, a buffering connection left); it reads the room's state, asks the rules, and
pauses or resumes through the playlist service, which writes the change and its event like any
other (so it reaches every member, on every node, through the room hub). What it paused is
remembered here, per room, as the version its pause wrote; a later change by anybody wins.
"""

from __future__ import annotations

import logging
import math

import trio

from synctv.core.playlists import PlaylistService
from synctv.errors import DomainError
from synctv.realtime import wait_rules
from synctv.realtime.presence import PresenceBook
from synctv.store.db import DatabaseUnavailable

log = logging.getLogger("synctv.realtime.waiting")

RETRY_SECONDS = 1.0


class RoomWaiter:
    def __init__(self, presence: PresenceBook, playlists: PlaylistService) -> None:
        self._presence = presence
        self._playlists = playlists
        self._dirty: set[str] = set()
        self._later: dict[str, float] = {}  # room → when to look again (Trio clock)
        self._paused: dict[str, int] = {}  # room → the version our pause wrote
        self._wake = trio.Event()

    def look_at(self, room_id: str) -> None:
        """Presence changed in ``room_id`` (called from the presence book; never blocks)."""
        self._dirty.add(room_id)
        self._wake.set()

    def waiting(self, room_id: str) -> bool:
        return room_id in self._paused

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Until cancelled (a supervised task: a restart forgets what it paused, so such a room
        stays paused, which is the safe side)."""
        task_status.started()
        while True:
            next_at = min(self._later.values(), default=math.inf)
            with trio.move_on_at(next_at):
                await self._wake.wait()
            self._wake = trio.Event()
            now = trio.current_time()
            due = {room for room, at in self._later.items() if at <= now}
            for room in due:
                del self._later[room]
            rooms, self._dirty = self._dirty | due, set()
            for room in rooms:
                try:
                    await self._look(room)
                except DomainError as exc:  # the room went away, or a change raced ours
                    self._paused.pop(room, None)
                    log.debug("wait for everyone in %s: %s", room, exc.message)
                except DatabaseUnavailable:  # look again in a second; the wait stays as it was
                    self._later[room] = trio.current_time() + RETRY_SECONDS

    async def _look(self, room_id: str) -> None:
        view = await self._playlists.wait_view(room_id)
        if view is None:
            self._paused.pop(room_id, None)
            return
        enabled, playing, version = view
        room = wait_rules.RoomNow(enabled, playing, version)
        since = self._presence.room(room_id).buffering_since()
        decision = wait_rules.decide(trio.current_time(), room, since, self._paused.get(room_id))
        if isinstance(decision, wait_rules.Pause):
            self._paused[room_id] = await self._playlists.wait_pause(
                room_id, decision.waiting_for, version
            )
        elif isinstance(decision, wait_rules.Resume):
            del self._paused[room_id]
            await self._playlists.wait_resume(room_id, decision.version)
        elif isinstance(decision, wait_rules.Forget):
            del self._paused[room_id]
        elif isinstance(decision, wait_rules.LookAgainAt):
            self._later[room_id] = decision.at
