"""In-process short-lived state: the single-node default when no Redis is configured.

Theory of operation: one dict in write order (oldest first) holds the entries; a heap of
``(expires_at, write_seq, key)`` finds expired ones without scanning. A read of an expired key
removes it (lazy expiry); :meth:`MemoryState.purge_expired` removes the rest in bounded batches,
called by :meth:`MemoryState.run` when the app starts it, or by the owner. Overwrites leave stale
heap items behind; they are recognised by ``write_seq`` and the heap is rebuilt when stale items
outnumber live entries. When ``max_keys`` is reached, an expired entry is dropped if there is
one, otherwise the least recently written key is evicted (and counted).

Every operation finishes without awaiting after its checkpoint, so each is atomic with respect to
other tasks: ``take`` needs no lock to have exactly one winner.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from synctv.state.base import (
    DEFAULT_SUBSCRIBER_QUEUE_MESSAGES,
    StateStatistics,
    StateUnavailable,
    Subscription,
    check_ttl,
    check_window,
    parse_counter,
)
from synctv.state.ratelimit import GcraTable, RateDecision, RateLimitRule

# Keys held before the oldest is evicted: ~1 M small tickets/counters is a few hundred MB at most.
DEFAULT_MAX_KEYS = 1_000_000
# Expired keys removed per purge call, so one call never stalls the event loop for long.
PURGE_BATCH_KEYS = 10_000
# How often run() purges; expired keys are invisible to reads in between, this only frees memory.
PURGE_INTERVAL_SECONDS = 10.0
# Stale heap items tolerated beyond the live entry count before the heap is rebuilt.
HEAP_SLACK_ITEMS = 1_024


@dataclass(slots=True)
class _Entry:
    value: bytes
    expires_at: float | None
    write_seq: int


class MemoryState:
    """:class:`~synctv.state.base.ShortLivedState` in this process's memory (single node only).

    ``clock`` returns seconds on any monotonic scale; tests inject a fake one. No background task
    runs unless the app starts :meth:`run` in its nursery.
    """

    def __init__(
        self,
        clock: Callable[[], float] = trio.current_time,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        subscriber_queue_messages: int = DEFAULT_SUBSCRIBER_QUEUE_MESSAGES,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._clock = clock
        self._max_keys = max_keys
        self._queue_messages = subscriber_queue_messages
        self._entries: dict[str, _Entry] = {}
        self._expiries: list[tuple[float, int, str]] = []
        self._write_seq = 0
        self._channels: dict[str, set[Subscription]] = {}
        self._dropped = 0
        self._evicted = 0
        # Its own bound (synctv.state.ratelimit.DEFAULT_MAX_KEYS): forgetting a rate key only
        # makes that key start afresh, so it needs no share of the ticket store's bound.
        self._rates = GcraTable()
        self._closed = False

    # -- key/value --------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        await self._checkpoint()
        entry = self._live(key, self._clock())
        return None if entry is None else entry.value

    async def set(self, key: str, value: bytes, ttl_seconds: float | None) -> None:
        check_ttl(ttl_seconds)
        await self._checkpoint()
        now = self._clock()
        self._store(key, value, None if ttl_seconds is None else now + ttl_seconds, now)

    async def delete(self, key: str) -> bool:
        await self._checkpoint()
        return self._live(key, self._clock()) is not None and self._pop(key) is not None

    async def set_if_absent(self, key: str, value: bytes, ttl_seconds: float | None) -> bool:
        check_ttl(ttl_seconds)
        await self._checkpoint()
        now = self._clock()
        if self._live(key, now) is not None:
            return False
        self._store(key, value, None if ttl_seconds is None else now + ttl_seconds, now)
        return True

    async def take(self, key: str) -> bytes | None:
        await self._checkpoint()
        if self._live(key, self._clock()) is None:
            return None
        entry = self._pop(key)
        return None if entry is None else entry.value

    async def incr_window(self, key: str, window_seconds: float) -> int:
        check_window(window_seconds)
        await self._checkpoint()
        now = self._clock()
        entry = self._live(key, now)
        if entry is None:
            self._store(key, b"1", now + window_seconds, now)
            return 1
        count = parse_counter(entry.value) + 1
        entry.value = str(count).encode()
        if entry.expires_at is None:  # as Redis PEXPIRE NX: a counter without TTL gets one
            entry.expires_at = now + window_seconds
            heapq.heappush(self._expiries, (entry.expires_at, entry.write_seq, key))
        return count

    async def check_rate(self, rule: RateLimitRule, key: str) -> RateDecision:
        await self._checkpoint()
        return self._rates.check(rule, key, self._clock())

    # -- expiry and bounds ------------------------------------------------------------------

    def purge_expired(self, now: float, *, limit: int = PURGE_BATCH_KEYS) -> int:
        """Remove up to ``limit`` entries expired at ``now``; returns how many were removed."""
        removed = 0
        heap = self._expiries
        while heap and heap[0][0] <= now and removed < limit:
            _, write_seq, key = heapq.heappop(heap)
            entry = self._entries.get(key)
            if entry is not None and entry.write_seq == write_seq:
                del self._entries[key]
                removed += 1
        return removed

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Purge expired keys periodically, forever; start it in the app's nursery."""
        task_status.started()
        while True:
            await trio.sleep(PURGE_INTERVAL_SECONDS)
            while self.purge_expired(self._clock()) == PURGE_BATCH_KEYS:
                await trio.lowlevel.checkpoint()

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= now:
            del self._entries[key]
            return None
        return entry

    def _pop(self, key: str) -> _Entry | None:
        return self._entries.pop(key, None)

    def _store(self, key: str, value: bytes, expires_at: float | None, now: float) -> None:
        if self._entries.pop(key, None) is None and len(self._entries) >= self._max_keys:
            self._make_room(now)
        self._write_seq += 1
        self._entries[key] = _Entry(value, expires_at, self._write_seq)
        if expires_at is not None:
            heapq.heappush(self._expiries, (expires_at, self._write_seq, key))
            if len(self._expiries) > 2 * len(self._entries) + HEAP_SLACK_ITEMS:
                self._rebuild_heap()

    def _make_room(self, now: float) -> None:
        if self.purge_expired(now, limit=1):
            return
        oldest = next(iter(self._entries))
        del self._entries[oldest]
        self._evicted += 1

    def _rebuild_heap(self) -> None:
        self._expiries = [
            (entry.expires_at, entry.write_seq, key)
            for key, entry in self._entries.items()
            if entry.expires_at is not None
        ]
        heapq.heapify(self._expiries)

    # -- pub/sub ----------------------------------------------------------------------------

    async def publish(self, channel: str, message: bytes) -> int:
        await self._checkpoint()
        subscribers = self._channels.get(channel, ())
        for subscription in subscribers:
            if not subscription.offer(message):
                self._dropped += 1
        return len(subscribers)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        await self._checkpoint()
        subscription = Subscription(channel, self._queue_messages)
        self._channels.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscription.close()
            subscribers = self._channels.get(channel)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._channels[channel]

    # -- lifecycle --------------------------------------------------------------------------

    def statistics(self) -> StateStatistics:
        return StateStatistics(
            backend="memory",
            keys=len(self._entries),
            subscribers=sum(len(s) for s in self._channels.values()),
            dropped_messages=self._dropped,
            evicted_keys=self._evicted + self._rates.evictions,
            unavailable_errors=0,
        )

    async def aclose(self) -> None:
        """End every subscription and refuse further use; the data is dropped."""
        self._closed = True
        for subscribers in self._channels.values():
            for subscription in subscribers:
                subscription.close()
        self._channels.clear()
        self._entries.clear()
        self._expiries.clear()
        await trio.lowlevel.checkpoint()

    async def _checkpoint(self) -> None:
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise StateUnavailable("memory state is closed")
