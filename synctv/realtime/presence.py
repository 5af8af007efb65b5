"""Who is in a room right now on this node, and how far each player is from the room's state.

Each open channel connection is present; its last ``report`` (every 2 s) says whether its player
buffers and how far it drifts. The room's *worst drift* is what a host looks at to know whether
everyone sees the same frame. In memory: a connection's presence ends with it. (The cluster
issue adds the other nodes' connections.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Presence:
    connection_id: str
    user_id: str
    role: str
    buffering: bool = False
    drift: float | None = None
    reported_at: float | None = None
    buffering_since: float | None = None  # when its player last started buffering
    # Live media: the latency its player can hold (seconds, its last report), and of what.
    latency: float | None = None
    media_id: str = ""


@dataclass
class RoomPresence:
    connections: dict[str, Presence] = field(default_factory=dict)

    def members(self) -> list[Presence]:
        return sorted(self.connections.values(), key=lambda p: (p.user_id, p.connection_id))

    def worst_drift(self) -> float | None:
        drifts = [abs(p.drift) for p in self.connections.values() if p.drift is not None]
        return max(drifts, default=None)

    def latencies(self, media_id: str, since: float) -> list[float]:
        """The safe latencies reported for ``media_id`` at or after ``since`` (live in step)."""
        return [
            p.latency
            for p in self.connections.values()
            if p.latency is not None
            and p.media_id == media_id
            and p.reported_at is not None
            and p.reported_at >= since
        ]

    def buffering(self) -> list[str]:
        return sorted({p.user_id for p in self.connections.values() if p.buffering})

    def buffering_since(self) -> dict[str, float]:
        """User id → when the first of their buffering players started (wait for everyone)."""
        since: dict[str, float] = {}
        for p in self.connections.values():
            if p.buffering and p.buffering_since is not None:
                since[p.user_id] = min(p.buffering_since, since.get(p.user_id, p.buffering_since))
        return since


class PresenceBook:
    def __init__(
        self,
        on_drift: Callable[[float], None] = lambda _d: None,
        on_change: Callable[[str], None] = lambda _room: None,
    ) -> None:
        self._rooms: dict[str, RoomPresence] = {}
        self._on_drift = on_drift
        # Called with the room id when a connection leaves or its buffering state flips: the
        # wait-for-everyone driver looks at the room again.
        self._on_change = on_change

    def arrive(self, room_id: str, presence: Presence) -> None:
        self._rooms.setdefault(room_id, RoomPresence()).connections[presence.connection_id] = (
            presence
        )

    def leave(self, room_id: str, connection_id: str) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        gone = room.connections.pop(connection_id, None)
        if not room.connections:
            del self._rooms[room_id]
        if gone is not None and gone.buffering:
            self._on_change(room_id)

    def report(
        self,
        room_id: str,
        connection_id: str,
        buffering: bool,
        drift: float,
        now: float,
        *,
        media_id: str = "",
        latency: float = 0.0,
    ) -> None:
        room = self._rooms.get(room_id)
        presence = room.connections.get(connection_id) if room is not None else None
        if presence is None:
            return
        flipped = buffering != presence.buffering
        if buffering and not presence.buffering:
            presence.buffering_since = now
        elif not buffering:
            presence.buffering_since = None
        presence.buffering = buffering
        if drift == drift and abs(drift) < 86_400:  # not NaN, not absurd
            presence.drift = drift
            self._on_drift(abs(drift))
        presence.reported_at = now
        presence.media_id = media_id
        # 0 (or nonsense): no live latency measured by this player.
        presence.latency = latency if 0.0 < latency < 86_400 else None
        if flipped:
            self._on_change(room_id)

    def rooms(self) -> list[str]:
        """The rooms with someone present on this node."""
        return list(self._rooms)

    def room(self, room_id: str) -> RoomPresence:
        return self._rooms.get(room_id, RoomPresence())

    def connections(self) -> int:
        return sum(len(r.connections) for r in self._rooms.values())
