"""Wait for everyone (room setting ``waitForEveryone``): when to pause the room for a buffering
member and when to let it play on. Pure: the driver (:mod:`synctv.realtime.waiting`) passes the
time, who buffers since when, and the room's state; it gets back one decision.

Rules (docs/realtime.md, "Wait for everyone"):

* the room is playing and a member's player has buffered for :data:`BUFFERING_GRACE_SECONDS`
  or longer → pause, *waiting for* every member buffering that long;
* the room was paused by this rule (its state still has the version that pause wrote) and no
  member buffers any more → play again, from where it paused;
* anybody else changing the state meanwhile (a pause, a seek, other media) ends the wait: the
  room stays as they left it;
* someone buffering for less than the grace → look again when it would be reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

BUFFERING_GRACE_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class RoomNow:
    """What the driver read of the room: the setting, whether it plays, its state's version."""

    wait_for_everyone: bool
    playing: bool
    version: int


@dataclass(frozen=True, slots=True)
class Pause:
    waiting_for: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Resume:
    version: int  # the version this rule's pause wrote: a later change wins


@dataclass(frozen=True, slots=True)
class LookAgainAt:
    at: float


@dataclass(frozen=True, slots=True)
class Forget:
    """Someone else changed the room while it waited: the wait is over, nothing to do."""


@dataclass(frozen=True, slots=True)
class Nothing:
    pass


Decision = Pause | Resume | LookAgainAt | Forget | Nothing


def decide(
    now: float,
    room: RoomNow,
    buffering_since: Mapping[str, float],
    paused_at_version: int | None,
) -> Decision:
    """``buffering_since``: user id → when their player started buffering (earliest connection).
    ``paused_at_version``: the version this rule's pause wrote, or None when not waiting."""
    if paused_at_version is not None:
        if room.version != paused_at_version or room.playing:
            return Forget()
        if not buffering_since:
            return Resume(paused_at_version)
        return Nothing()
    if not room.wait_for_everyone or not room.playing or not buffering_since:
        return Nothing()
    long_enough = tuple(
        sorted(u for u, since in buffering_since.items() if now - since >= BUFFERING_GRACE_SECONDS)
    )
    if long_enough:
        return Pause(long_enough)
    return LookAgainAt(min(buffering_since.values()) + BUFFERING_GRACE_SECONDS)
