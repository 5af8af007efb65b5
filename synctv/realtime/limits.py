"""Per-connection limits of the realtime channel, as pure rules (the clock is passed in).

* **Rate**: a token bucket of :data:`MESSAGES_PER_SECOND` with a burst of the same size; a
  message over it is refused with ``rate_limited`` (the connection stays: a client that types
  fast should slow down, not reconnect).
* **Keep-alive**: a ping every :data:`PING_SECONDS`, jittered by ±10 % so that ten thousand
  connections opened in the same second do not ping in the same second forever after.
* **Idle**: a connection that sent nothing for :data:`IDLE_SECONDS` (reports come every 2 s, so
  only a dead or forgotten client is idle) is closed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

MESSAGES_PER_SECOND: Final = 50.0
PING_SECONDS: Final = 25.0
PING_JITTER: Final = 0.10
IDLE_SECONDS: Final = 300.0


@dataclass
class TokenBucket:
    rate: float = MESSAGES_PER_SECOND
    burst: float = MESSAGES_PER_SECOND
    tokens: float = field(default=-1.0)
    updated: float | None = None

    def allow(self, now: float) -> bool:
        """Take one token at ``now`` (monotonic seconds); False when none is left."""
        if self.updated is None:
            self.tokens, self.updated = self.burst, now
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1.0 - 1e-9:  # float sums of elapsed * rate fall just short
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False


def next_ping(now: float, uniform: Callable[[float, float], float]) -> float:
    """When to ping next; ``uniform(a, b)`` is the caller's randomness."""
    return now + PING_SECONDS * uniform(1.0 - PING_JITTER, 1.0 + PING_JITTER)


@dataclass
class Idle:
    last_heard: float
    limit: float = IDLE_SECONDS

    def heard(self, now: float) -> None:
        self.last_heard = now

    def expired(self, now: float) -> bool:
        return now - self.last_heard >= self.limit

    def deadline(self) -> float:
        return self.last_heard + self.limit
