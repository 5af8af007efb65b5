"""A bounded table of token buckets, one per source key (pure: the caller passes ``now``).

Each key may spend ``rate`` tokens per second with a burst of ``burst`` tokens. The table holds at
most ``max_keys`` buckets and forgets the least recently used one when a new key arrives, so a
flood of spoofed source addresses costs bounded memory. An evicted key comes back with a full
bucket: eviction can only make the limiter more lenient, never block a legitimate source.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from synctv.stun.errors import StunUsageError


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBucketTable:
    """Per-key token buckets with LRU eviction. ``allow(key, now)`` costs O(1)."""

    def __init__(self, rate: float, *, burst: float, max_keys: int) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise StunUsageError("rate must be positive, burst at least 1, max_keys at least 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.evictions = 0
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, key: str, now: float) -> bool:
        """Take one token from ``key``'s bucket at time ``now`` (seconds); False when empty."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.popitem(last=False)
                self.evictions += 1
            self._buckets[key] = _Bucket(self.burst - 1, now)
            return True
        self._buckets.move_to_end(key)
        # A clock that steps back (it should not) refills nothing rather than draining.
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return True
        return False
