"""A short-lived cache of what one caller reads of one room, invalidated by the room's events.

Why: ``GET /api/rooms/{id}`` is read far more often than a room changes, and its one database
round trip (the room row and the caller's membership) crosses to the database's asyncio thread
and back: 190–310 µs of CPU per query measured alone, less on a saturated server, where the
threads' wake-ups are shared by many queries.

Invalidation. Every change to a room row or its members is a transaction that appends a room
event, and that transaction sends ``NOTIFY synctv_room_events, '<room>:<seq>'``
(:func:`synctv.store.rooms.append_event`), delivered by PostgreSQL after the commit to every
replica (and for changes made by ``synctv admin``). :meth:`RoomReadCache.run` listens on that
channel and drops the room's entries on each notification. Writes made through this process's
:class:`~synctv.store.rooms.RoomStore` also drop the room at once (:meth:`invalidate`), so the
next request on this replica sees the change even before the notification arrives; another
replica sees it once the notification reaches it (milliseconds).

Safety nets: nothing is cached while the LISTEN is not active (before it starts, and from a lost
connection until it is back: notifications sent meanwhile are gone, so the cache is cleared);
an entry lives at most ``max_age`` seconds whatever happens; a load that raced an invalidation
of its room is returned but not kept (per-room generations, plus a global epoch for clears).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, Generic, TypeVar

import trio

from synctv.store.db import Database, DatabaseUnavailable

log = logging.getLogger("synctv.store.room_cache")

CHANNEL: Final = "synctv_room_events"  # synctv.store.rooms.append_event's NOTIFY channel
DEFAULT_MAX_AGE_SECONDS: Final = 1.0
DEFAULT_MAX_ENTRIES: Final = 10_000
RECONNECT_SECONDS: Final = 1.0

V = TypeVar("V")


class RoomReadCache(Generic[V]):
    """Values keyed by ``(room_id, user_id)``; a room's entries go together."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self._clock = clock
        self._max_age = max_age
        self._max_entries = max_entries
        self._rooms: dict[str, dict[str | None, tuple[float, V]]] = {}
        self._size = 0
        # Bumped per room by an invalidation, and globally by a clear: a load that started
        # before either is not kept.
        self._generations: dict[str, int] = {}
        self._epoch = 0
        self.listening = False
        self.hits = self.misses = 0

    async def get(self, room_id: str, user_id: str | None, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value, else ``load()`` (kept when nothing changed the room meanwhile)."""
        entries = self._rooms.get(room_id)
        if entries is not None:
            found = entries.get(user_id)
            if found is not None and found[0] > self._clock():
                self.hits += 1
                return found[1]
        self.misses += 1
        epoch, generation = self._epoch, self._generations.get(room_id, 0)
        value = await load()
        if (
            self.listening
            and epoch == self._epoch
            and generation == self._generations.get(room_id, 0)
        ):
            self._keep(room_id, user_id, value)
        return value

    def _keep(self, room_id: str, user_id: str | None, value: V) -> None:
        if self._size >= self._max_entries:
            self.clear()
        entries = self._rooms.setdefault(room_id, {})
        if user_id not in entries:
            self._size += 1
        entries[user_id] = (self._clock() + self._max_age, value)

    def invalidate(self, room_id: str) -> None:
        """Drop the room's entries; loads of it under way are not kept."""
        entries = self._rooms.pop(room_id, None)
        if entries is not None:
            self._size -= len(entries)
        if len(self._generations) >= self._max_entries:
            self.clear()  # bounds the generations too (the epoch covers loads under way)
        else:
            self._generations[room_id] = self._generations.get(room_id, 0) + 1

    def clear(self) -> None:
        self._rooms.clear()
        self._generations.clear()
        self._size = 0
        self._epoch += 1

    def notified(self, payload: str) -> None:
        """A NOTIFY payload (``room:seq``)."""
        room_id, _, _ = payload.partition(":")
        self.invalidate(room_id)

    async def run(
        self, db: Database, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen for room events until cancelled; caches only while the LISTEN is active.
        Reports started at once: a database down from the start must not hold the tree's."""
        task_status.started()
        while True:
            try:
                await db.listen(CHANNEL, self.notified, task_status=_Listening(self))
            except* DatabaseUnavailable as group:
                log.warning("room read cache: listening stopped (%s); not caching", group)
            finally:
                self.listening = False
                self.clear()
            await trio.sleep(RECONNECT_SECONDS)


class _Listening:
    """The ``task_status`` handed to :meth:`Database.listen`: caching starts with the LISTEN
    (cleared first: what was loaded before it may have missed a change)."""

    def __init__(self, cache: RoomReadCache[Any]) -> None:
        self._cache = cache

    def started(self, value: None = None) -> None:
        self._cache.clear()
        self._cache.listening = True
