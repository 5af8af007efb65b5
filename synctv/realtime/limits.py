"""Per-connection limits of the realtime channel, as pure rules (the clock is passed in).

* **Rate**: a token bucket of :data:`MESSAGES_PER_SECOND` with a burst of the same size; a
  message over it is refused with ``rate_limited`` (the connection stays: a client that types
  fast should slow down, not reconnect).
* **Keep-alive**: a ping every :data:`PING_SECONDS`, jittered by ±10 % so that ten thousand
  connections opened in the same second do not ping in the same second forever after.
* **Idle**: a connection that sent nothing for :data:`IDLE_SECONDS` (reports come every 2 s, so
  only a dead or forgotten client is idle) is closed.
* **Connection caps**: :class:`ConnectionCaps` counts this node's open connections per user, per
  room and in all (the ``realtime`` config section); a connection over any is refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

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


Cap = Literal["user", "room", "node"]


@dataclass
class ConnectionCaps:
    """This node's room channel connections, counted per user, per room and in all.

    :meth:`take` checks the three caps and counts the connection in one step (no await between
    them: two connections racing for the last slot cannot both get it); :meth:`give_back` when
    it ends, however it ends. The caps are attributes, read at each :meth:`take`."""

    per_user: int
    per_room: int
    total: int
    _users: Counter[str] = field(default_factory=Counter)
    _rooms: Counter[str] = field(default_factory=Counter)
    _open: int = 0

    def take(self, user_id: str, room_id: str) -> Cap | None:
        """Count a connection of ``user_id`` to ``room_id``; or, when one cap is reached (the
        user's first, then the room's, then the node's), count nothing and name it."""
        if self._users[user_id] >= self.per_user:
            return "user"
        if self._rooms[room_id] >= self.per_room:
            return "room"
        if self._open >= self.total:
            return "node"
        self._users[user_id] += 1
        self._rooms[room_id] += 1
        self._open += 1
        return None

    def give_back(self, user_id: str, room_id: str) -> None:
        for counts, key in ((self._users, user_id), (self._rooms, room_id)):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]
        self._open -= 1

    def statistics(self) -> dict[str, int]:
        return {"connections": self._open, "users": len(self._users), "rooms": len(self._rooms)}
