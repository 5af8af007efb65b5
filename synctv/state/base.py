"""The short-lived shared state interface: what services may rely on, whichever backend runs.

Short-lived state is everything that may be lost on restart but must be shared between the nodes
of a cluster when there is more than one: login tickets, OPAQUE login state, rate-limit windows,
realtime fan-out. Two backends implement :class:`ShortLivedState`: ``memory.MemoryState`` (one
node) and ``redis.RedisState``; one test suite runs against both.

Error handling: a backend that cannot answer raises :class:`StateUnavailable`; callers fail closed
(refuse the login, refuse the request) rather than guess.
"""

from __future__ import annotations

import math
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

import trio

from synctv.state.ratelimit import RateDecision, RateLimitRule

# Messages queued per subscriber before new ones are dropped: a realtime event is small, and a
# subscriber this far behind is better served by a resync than by a growing buffer.
DEFAULT_SUBSCRIBER_QUEUE_MESSAGES = 256


class StateUnavailable(Exception):
    """The backend did not answer in time or at all; the operation may or may not have happened."""


@dataclass(frozen=True, slots=True)
class StateStatistics:
    """A snapshot for metrics (trio's ``statistics()`` convention)."""

    backend: str
    # Keys held; None where only the server knows (Redis) and asking would cost a round trip.
    keys: int | None
    subscribers: int
    # Messages a slow subscriber lost because its queue was full.
    dropped_messages: int
    # Keys removed to stay under the key bound (memory only).
    evicted_keys: int
    # Operations that raised StateUnavailable (Redis only).
    unavailable_errors: int


class Subscription:
    """The messages of one channel for one subscriber, through a bounded queue.

    The backend side calls :meth:`offer` (never blocks: a full queue drops the message, so a slow
    subscriber costs memory up to its bound and no more) and :meth:`close` or :meth:`fail` when the
    feed ends. The subscriber iterates: iteration stops after ``close`` and raises the
    :class:`StateUnavailable` given to ``fail``.
    """

    def __init__(self, channel: str, queue_messages: int) -> None:
        if queue_messages < 1:
            raise ValueError("queue_messages must be at least 1")
        self.channel = channel
        self._send, self._receive = trio.open_memory_channel[bytes](queue_messages)
        self._failure: StateUnavailable | None = None
        self.dropped = 0

    def offer(self, message: bytes) -> bool:
        """Queue a message without waiting; False (and counted) when the queue is full or closed."""
        try:
            self._send.send_nowait(message)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            self.dropped += 1
            return False
        return True

    def close(self) -> None:
        """End the feed: the subscriber reads what is queued, then iteration stops."""
        self._send.close()

    def fail(self, error: StateUnavailable) -> None:
        """End the feed with an error the subscriber sees after the queued messages."""
        if self._failure is None:
            self._failure = error
        self._send.close()

    @property
    def failure(self) -> StateUnavailable | None:
        return self._failure

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            if self._failure is not None:
                raise StateUnavailable(str(self._failure)) from self._failure
            raise StopAsyncIteration from None


class ShortLivedState(Protocol):
    """Trio-native key/value with TTLs, take-once tickets, rate windows and pub/sub.

    Keys and channels are plain strings; backends may prefix them. A ``ttl_seconds`` of None
    means the key lives until deleted (or evicted, for the memory backend).
    """

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl_seconds: float | None) -> None:
        """Store unconditionally, replacing any value and TTL."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove; True when the key existed."""
        ...

    async def set_if_absent(self, key: str, value: bytes, ttl_seconds: float | None) -> bool:
        """Store only if no live value exists (ticket issue); True when stored."""
        ...

    async def take(self, key: str) -> bytes | None:
        """Get and delete atomically: of concurrent takers exactly one gets the value."""
        ...

    async def incr_window(self, key: str, window_seconds: float) -> int:
        """Count one hit in a fixed window and return the window's count.

        The window opens at the first hit and the key expires with it; the next hit opens a new
        window at 1. The key must not hold a non-counter value (ValueError).
        """
        ...

    async def check_rate(self, rule: RateLimitRule, key: str) -> RateDecision:
        """Count one request for ``key`` under ``rule`` (GCRA, :mod:`synctv.state.ratelimit`)
        atomically, if allowed; the refusal says when to retry."""
        ...

    async def publish(self, channel: str, message: bytes) -> int:
        """Send to the channel's current subscribers; returns how many there were."""
        ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe for the duration of the context; messages published after entry arrive in
        order, unless the subscriber's bounded queue is full (then they are dropped and counted).
        """
        ...

    def statistics(self) -> StateStatistics: ...

    async def aclose(self) -> None:
        """Release connections and end all subscriptions."""
        ...


def check_ttl(ttl_seconds: float | None) -> None:
    """Reject TTLs the backends would disagree on (zero, negative, NaN, infinite)."""
    if ttl_seconds is not None and not (0 < ttl_seconds < math.inf):
        raise ValueError(f"ttl_seconds must be positive and finite, got {ttl_seconds!r}")


def check_window(window_seconds: float) -> None:
    if not (0 < window_seconds < math.inf):
        raise ValueError(f"window_seconds must be positive and finite, got {window_seconds!r}")


def parse_counter(value: bytes) -> int:
    """The integer a counter key holds; ValueError for any other value (as Redis INCR refuses)."""
    try:
        return int(value)
    except ValueError:
        raise ValueError("key holds a value that is not a counter") from None
