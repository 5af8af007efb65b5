"""Rate-limit rules and their arithmetic: GCRA, pure, in integer microseconds.

Why GCRA (the generic cell rate algorithm, a token bucket written as one number): a key's whole
state is its *theoretical arrival time* (TAT), so a check is one read-modify-write of one integer.
That makes the Redis check one short Lua script (atomic, one round trip, O(1) memory per key),
the memory check one dict operation (cheap enough for STUN's per-packet path), and both give an
exact ``retry_after``. A sliding log would cost O(limit) memory per key; a fixed window lets
twice the limit through across a window edge.

A rule allows ``limit`` requests per ``period_seconds`` sustained, and ``burst`` at once (default
``limit``): exactly a token bucket of capacity ``burst`` refilled at ``limit / period``.

:func:`gcra_step` is the one definition of the arithmetic; ``synctv.state.redis`` runs the same
steps in Lua with the Redis server's clock, and :class:`GcraTable` runs it in this process for
the memory backend and for STUN (which always limits in memory: it is per-packet UDP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MICROSECONDS = 1_000_000
# Keys a memory table remembers before forgetting the least recently seen one. Forgetting only
# makes a key start afresh (more lenient), so a flood of distinct keys costs bounded memory.
DEFAULT_MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    """``limit`` requests per ``period_seconds``, ``burst`` of them back to back.

    ``name`` keeps keys of different rules apart and labels metrics (a short bounded name).
    """

    name: str
    limit: float
    period_seconds: float
    burst: float | None = None
    # Derived once: the spacing between requests and how far ahead of it a key may run.
    interval_us: int = field(init=False, repr=False, compare=False)
    tolerance_us: int = field(init=False, repr=False, compare=False)
    # Names this rule's buckets in the store: a changed rule gets fresh ones (see ``bucket``).
    bucket: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise ValueError(f"rule name must be non-empty without ':', got {self.name!r}")
        if not (0 < self.limit < math.inf) or not (0 < self.period_seconds < math.inf):
            raise ValueError(
                f"rule {self.name}: limit and period must be positive and finite,"
                f" got {self.limit!r} per {self.period_seconds!r} s"
            )
        burst = self.limit if self.burst is None else self.burst
        if not (1 <= burst < math.inf):
            raise ValueError(f"rule {self.name}: burst must be at least 1, got {burst!r}")
        interval = max(1, round(self.period_seconds * MICROSECONDS / self.limit))
        object.__setattr__(self, "interval_us", interval)
        tolerance = max(interval, round(interval * burst))
        object.__setattr__(self, "tolerance_us", tolerance)
        # The numbers are part of the name so that a setting change takes effect at once: a
        # TAT stored under the old spacing would otherwise carry the old rule's debt forward.
        # Every key starts the new rule with a full burst; the old buckets expire unused.
        object.__setattr__(self, "bucket", f"{self.name}.{interval}.{tolerance}")

    @property
    def effective_burst(self) -> float:
        return self.limit if self.burst is None else self.burst


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The answer to one check. ``retry_after_seconds`` is 0 when allowed; ``remaining`` is how
    many more requests would be allowed right now (0 when refused)."""

    allowed: bool
    retry_after_seconds: float
    remaining: int

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` as HTTP wants it: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(self.retry_after_seconds)))


def gcra_step(tat_us: int | None, now_us: int, rule: RateLimitRule) -> tuple[RateDecision, int]:
    """One check at ``now_us`` for a key whose stored TAT is ``tat_us`` (None: never seen).

    Returns the decision and the TAT to store (unchanged when refused: a refused request costs
    nothing, so a client that keeps retrying too early is not locked out for longer).
    """
    tat = now_us if tat_us is None or tat_us < now_us else tat_us
    new_tat = tat + rule.interval_us
    allow_at = new_tat - rule.tolerance_us
    if now_us < allow_at:
        return RateDecision(False, (allow_at - now_us) / MICROSECONDS, 0), tat
    remaining = (now_us - allow_at) // rule.interval_us
    return RateDecision(True, 0.0, remaining), new_tat


class GcraTable:
    """Per-key TATs in this process, bounded, least recently seen forgotten first.

    Pure (the caller passes ``now`` in seconds on any monotonic scale) and synchronous, so STUN's
    packet path calls it directly and :class:`~synctv.state.memory.MemoryState` wraps it.
    """

    def __init__(self, *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.max_keys = max_keys
        self.evictions = 0
        # Insertion order is recency order: a hit re-inserts its key at the end.
        self._tats: dict[tuple[str, str], int] = {}

    def __len__(self) -> int:
        return len(self._tats)

    def check(self, rule: RateLimitRule, key: str, now: float) -> RateDecision:
        now_us = int(now * MICROSECONDS)
        tats = self._tats
        slot = (rule.bucket, key)
        tat = tats.pop(slot, None)
        if tat is None:
            self._make_room()
        decision, tats[slot] = gcra_step(tat, now_us, rule)
        return decision

    def allow(self, rule: RateLimitRule, key: str, now: float) -> bool:
        """:meth:`check` for the packet path: the same arithmetic, no decision object."""
        now_us = int(now * MICROSECONDS)
        tats = self._tats
        slot = (rule.bucket, key)
        tat = tats.pop(slot, None)
        if tat is None:
            self._make_room()
            tat = now_us
        elif tat < now_us:
            tat = now_us
        new_tat = tat + rule.interval_us
        if new_tat - rule.tolerance_us > now_us:
            tats[slot] = tat
            return False
        tats[slot] = new_tat
        return True

    def _make_room(self) -> None:
        if len(self._tats) >= self.max_keys:
            del self._tats[next(iter(self._tats))]
            self.evictions += 1

    def forget(self, rule: RateLimitRule, key: str) -> bool:
        return self._tats.pop((rule.bucket, key), None) is not None
