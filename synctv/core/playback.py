"""A room's one authoritative playback state, and the rules that change it. Pure: the clock is a
parameter (server time in seconds), nothing here reads one.

Theory of operation. The state is an *anchor*: at server time ``anchor_time`` the current media
was at ``anchor_position`` and moving at ``speed`` if ``playing``. Every reader computes
"position now" from the anchor (:meth:`PlaybackState.position_at`), so the state changes only
when someone acts, never with the passing of time, and every viewer given the same state and a
synchronised clock lands on the same frame.

Changes are optimistic: a client sends the ``version`` it saw and, for changes that only make
sense for one media (seek, play, pause, speed), the media it meant. A change made against an
older version or another media is refused with :class:`Conflict` rather than applied to
something the person did not see: two people seeking at once get one winner and one clear
refusal, and a seek aimed at the previous episode never jumps the new one.

A seek may carry the time the client sent it and the client's measured clock offset (the
realtime channel measures it): the target is then advanced by the transit time while playing, so
the seeker and everyone else land where the seeker meant *now*, not where they were when the
message left. Transit time is bounded (:data:`MAX_TRANSIT_SECONDS`) so a wrong clock cannot
move the target far.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

MIN_SPEED: Final = 0.25
MAX_SPEED: Final = 4.0
# A seek's transit compensation is at most this: more means a wrong clock, not a slow network.
MAX_TRANSIT_SECONDS: Final = 5.0
# Positions a client may send: never negative, at most a week (longer is a broken client).
MAX_POSITION_SECONDS: Final = 86_400.0 * 7

MediaKind = Literal["regular", "live"]


class PlaybackRefused(ValueError):
    """A change that cannot apply (the message says why)."""


class Conflict(PlaybackRefused):
    """The change was made against a state the room has left (another version or media)."""


class NoMedia(PlaybackRefused):
    """Play, pause, seek or speed with nothing selected."""


class LiveNotSeekable(PlaybackRefused):
    """A seek or a speed change on a live stream."""


@dataclass(frozen=True, slots=True)
class PlaybackState:
    """The anchor. ``media_id`` None means nothing is selected (the room shows its playlist)."""

    media_id: str | None = None
    media_kind: MediaKind = "regular"
    anchor_position: float = 0.0
    anchor_time: float = 0.0
    speed: float = 1.0
    playing: bool = False
    version: int = 0
    duration: float | None = None  # known length of the current media, for clamping and the end

    def position_at(self, now: float) -> float:
        """Where the media is at server time ``now`` (clamped to the media's known length)."""
        position = self.anchor_position
        if self.playing:
            position += max(0.0, now - self.anchor_time) * self.speed
        if self.duration is not None:
            position = min(position, self.duration)
        return position

    def ended_at(self, now: float) -> bool:
        """Playing regular media with a known length has reached its end at ``now``."""
        return (
            self.playing
            and self.media_kind == "regular"
            and self.duration is not None
            and self.position_at(now) >= self.duration
        )

    def seconds_to_end(self, now: float) -> float | None:
        """How long until the end at the current speed (for scheduling auto-advance)."""
        if not self.playing or self.duration is None or self.media_kind == "live":
            return None
        return max(0.0, (self.duration - self.position_at(now)) / self.speed)


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the client saw when it acted; each None skips that check."""

    version: int | None = None
    media_id: str | None = None


def _check(state: PlaybackState, seen: Expectation, needs_media: bool) -> None:
    if seen.version is not None and seen.version != state.version:
        raise Conflict(
            f"the playback state changed (version {state.version}, you saw {seen.version})"
        )
    if seen.media_id is not None and seen.media_id != state.media_id:
        raise Conflict("the room is playing other media than the one this change was meant for")
    if needs_media and state.media_id is None:
        raise NoMedia("nothing is selected to play")


def _position(value: float) -> float:
    if not math.isfinite(value) or value < 0 or value > MAX_POSITION_SECONDS:
        raise PlaybackRefused(f"position must be between 0 and {MAX_POSITION_SECONDS:.0f} s")
    return value


def _anchored(
    state: PlaybackState, now: float, *, playing: bool | None = None, speed: float | None = None
) -> PlaybackState:
    """Re-anchor at ``now`` (so the change starts from where the media is) and bump the
    version."""
    return replace(
        state,
        anchor_position=state.position_at(now),
        anchor_time=now,
        playing=state.playing if playing is None else playing,
        speed=state.speed if speed is None else speed,
        version=state.version + 1,
    )


def play(state: PlaybackState, now: float, seen: Expectation = Expectation()) -> PlaybackState:
    _check(state, seen, needs_media=True)
    if state.ended_at(now):  # play at the end starts over, like every player does
        return replace(
            state, anchor_position=0.0, anchor_time=now, playing=True, version=state.version + 1
        )
    return _anchored(state, now, playing=True)


def pause(state: PlaybackState, now: float, seen: Expectation = Expectation()) -> PlaybackState:
    _check(state, seen, needs_media=True)
    return _anchored(state, now, playing=False)


def set_speed(
    state: PlaybackState, now: float, speed: float, seen: Expectation = Expectation()
) -> PlaybackState:
    _check(state, seen, needs_media=True)
    if not math.isfinite(speed) or not MIN_SPEED <= speed <= MAX_SPEED:
        raise PlaybackRefused(f"speed must be between {MIN_SPEED} and {MAX_SPEED}")
    if state.media_kind == "live" and speed != 1.0:
        raise LiveNotSeekable("a live stream plays at its own speed")
    return _anchored(state, now, speed=speed)


def transit_seconds(now: float, client_sent_at: float | None, clock_offset: float | None) -> float:
    """How long a message took to arrive, from the client's send time on its own clock and its
    measured offset (server = client + offset); 0 when either is unknown, bounded otherwise."""
    if client_sent_at is None or clock_offset is None:
        return 0.0
    transit = now - (client_sent_at + clock_offset)
    if not math.isfinite(transit):
        return 0.0
    return min(max(transit, 0.0), MAX_TRANSIT_SECONDS)


def seek(
    state: PlaybackState,
    now: float,
    position: float,
    seen: Expectation = Expectation(),
    transit: float = 0.0,
) -> PlaybackState:
    """Move to ``position`` (as meant when sent: advanced by ``transit`` while playing)."""
    _check(state, seen, needs_media=True)
    if state.media_kind == "live":
        raise LiveNotSeekable("a live stream cannot be sought; it plays at the live edge")
    target = _position(position)
    if state.playing:
        target += transit * state.speed
    if state.duration is not None:
        target = min(target, state.duration)
    return replace(state, anchor_position=target, anchor_time=now, version=state.version + 1)


def change_media(
    state: PlaybackState,
    now: float,
    media_id: str,
    kind: MediaKind,
    duration: float | None,
    start_at: float = 0.0,
    playing: bool = True,
    seen: Expectation = Expectation(),
) -> PlaybackState:
    """Select other media (start, next, previous, from history); ``start_at`` is the position
    remembered for it, if any. Speed resets to 1 for live media, stays otherwise."""
    _check(state, seen, needs_media=False)
    start = 0.0 if kind == "live" else _position(start_at)
    if duration is not None and start >= duration:
        start = 0.0  # remembered at the very end: start over rather than end at once
    return PlaybackState(
        media_id=media_id,
        media_kind=kind,
        anchor_position=start,
        anchor_time=now,
        speed=1.0 if kind == "live" else state.speed,
        playing=playing,
        version=state.version + 1,
        duration=duration,
    )


def stop(state: PlaybackState, now: float, seen: Expectation = Expectation()) -> PlaybackState:
    """Nothing selected (the current media was removed, or the playlist cleared)."""
    _check(state, seen, needs_media=False)
    return PlaybackState(anchor_time=now, speed=state.speed, version=state.version + 1)


AutoPlayMode = Literal["sequential", "repeat_one", "repeat_all", "shuffle"]


def next_media(
    order: Sequence[str],
    current: str | None,
    mode: AutoPlayMode,
    choose: Callable[[int], int],
    backwards: bool = False,
    manual: bool = False,
) -> str | None:
    """What plays after ``current`` in the playlist ``order`` (auto-advance, next, previous).

    ``choose(n)`` picks an index below ``n`` for shuffle (randomness is the caller's). None: the
    end of a sequential playlist, or nothing to play. A current media no longer in the playlist
    continues from the start (or the end, backwards). ``manual`` (a person pressed next or
    previous) moves on even in ``repeat_one``, wrapping around like ``repeat_all``.
    """
    if not order:
        return None
    if mode == "repeat_one":
        if not manual and current in order:
            return current
        mode = "repeat_all"
    if mode == "shuffle":
        others = [item for item in order if item != current] or list(order)
        return others[choose(len(others))]
    step = -1 if backwards else 1
    if current not in order:
        return order[-1] if backwards else order[0]
    index = order.index(current) + step
    if 0 <= index < len(order):
        return order[index]
    if mode == "repeat_all":
        return order[index % len(order)]
    return None
