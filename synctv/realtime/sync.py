"""Keeping a player in step with its room: the clock estimate and the drift correction.

Pure (no clock, no I/O): the reference client, the browser client (which ports these rules, with
these parameters, from ``docs/realtime.md``) and ``bench/sync_drift.py`` all run this code.

**Clock.** A ``clock`` exchange gives four times: the client sent at ``t0`` (client clock), the
server received at ``t1`` and answered at ``t2`` (server clock), the client received at ``t3``.
The offset (server minus client) is ``((t1 - t0) + (t2 - t3)) / 2`` and the round trip
``(t3 - t0) - (t2 - t1)``. A sample's error is at most half its round trip, so of the last
:data:`CLOCK_WINDOW` samples the one with the smallest round trip is kept (NTP's clock filter
idea); a fresh estimate is taken every :data:`CLOCK_REFRESH_SECONDS`.

**Correction.** The drift is where the player is minus where the room is (seconds; positive:
ahead). Below :data:`DEADBAND_SECONDS` nothing is done (no player holds a frame that exactly).
Up to :data:`SEEK_THRESHOLD_SECONDS` the playback rate is nudged, proportionally to the drift so
that it would be gone in :data:`CATCH_UP_SECONDS`, by at most :data:`MAX_RATE_CHANGE` (5 %: a
change of pitch nobody hears); beyond it, or while the room is paused, the player seeks. Nothing
is corrected while the person is seeking or the player buffers: it would fight them.

**Live in step.** A live stream has no room position; the server knows when each frame arrived
at ingest and says so every second (``live_clock``: the frame at ``media_time`` arrived at
``server_time``; a :class:`LiveMapping`). A player's *latency* is how long after its arrival at
ingest it shows a frame. Each player measures the latency it can hold safely (the worst arrival
latency of the newest frame it received over the last :data:`LATENCY_WINDOW_SECONDS`, plus
:data:`LATENCY_MARGIN_SECONDS`, at least its protocol's floor: :func:`live_floor`) and reports
it; the room's target is the largest reported (:func:`room_target_latency`), and every player
steers to it with the same correction as above (:func:`correct_live`): the room position is the
frame that arrived ``target_latency`` ago.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

CLOCK_WINDOW: Final = 8
CLOCK_REFRESH_SECONDS: Final = 30.0
DEADBAND_SECONDS: Final = 0.040
SEEK_THRESHOLD_SECONDS: Final = 2.0
MAX_RATE_CHANGE: Final = 0.05
CATCH_UP_SECONDS: Final = 2.0
# A paused player this close to the room's position is left alone (a seek would only stutter).
PAUSED_TOLERANCE_SECONDS: Final = 0.100
# Live in step: the smallest target latency for HTTP-FLV (and RTMP) players, and for HLS in
# segment durations; how long a player remembers its arrival latencies, and the margin it adds.
LIVE_FLOOR_SECONDS: Final = 1.0
HLS_FLOOR_SEGMENTS: Final = 3
LATENCY_WINDOW_SECONDS: Final = 10.0
LATENCY_MARGIN_SECONDS: Final = 0.25
# A reported latency above this is not believed (a player that stalled for minutes).
MAX_TARGET_LATENCY_SECONDS: Final = 60.0


@dataclass(frozen=True, slots=True)
class ClockSample:
    sent: float  # t0, client clock
    server_received: float  # t1, server clock
    server_sent: float  # t2, server clock
    received: float  # t3, client clock

    @property
    def offset(self) -> float:
        return ((self.server_received - self.sent) + (self.server_sent - self.received)) / 2

    @property
    def round_trip(self) -> float:
        return max(0.0, (self.received - self.sent) - (self.server_sent - self.server_received))


class ClockEstimate:
    """The best offset (server − client) from the last few exchanges."""

    def __init__(self, window: int = CLOCK_WINDOW) -> None:
        self._samples: deque[ClockSample] = deque(maxlen=window)
        self._last_at: float | None = None

    def add(self, sample: ClockSample) -> None:
        if sample.received < sample.sent or sample.server_sent < sample.server_received:
            return  # a clock stepped backwards mid-exchange: the sample means nothing
        self._samples.append(sample)
        self._last_at = sample.received

    @property
    def best(self) -> ClockSample | None:
        return min(self._samples, key=lambda s: s.round_trip, default=None)

    @property
    def offset(self) -> float | None:
        best = self.best
        return best.offset if best is not None else None

    @property
    def error_bound(self) -> float | None:
        """The offset is right to within this (half the kept sample's round trip)."""
        best = self.best
        return best.round_trip / 2 if best is not None else None

    def due(self, now: float) -> bool:
        """Whether to send a ``clock`` message now (client clock)."""
        return self._last_at is None or now - self._last_at >= CLOCK_REFRESH_SECONDS


@dataclass(frozen=True, slots=True)
class RoomClock:
    """A ``playback_state`` as the client needs it: position at a server time, and how it moves."""

    position: float
    server_time: float
    speed: float
    playing: bool

    def position_at(self, client_now: float, offset: float) -> float:
        """Where the room is at ``client_now`` (client clock), given the clock offset."""
        if not self.playing:
            return self.position
        return self.position + max(0.0, client_now + offset - self.server_time) * self.speed


@dataclass(frozen=True, slots=True)
class Correction:
    """What the player should do now: keep going at ``rate``, or seek to ``seek_to``."""

    kind: Literal["none", "rate", "seek"]
    rate: float = 1.0
    seek_to: float | None = None


def correct(
    player_position: float,
    room_position: float,
    room_speed: float,
    room_playing: bool,
    *,
    seeking: bool = False,
    buffering: bool = False,
    startup_lead: float = 0.0,
) -> Correction:
    """The correction for one moment. ``rate`` is the absolute playback rate to set.

    ``startup_lead`` is how long this player took to start moving after its last seek (or
    play): a seek while the room plays aims that far ahead of the room (times its speed), so
    the player lands where the room is when it actually moves again, instead of that far
    behind (which the rate correction, at 5 %, would take 20 times as long to make up)."""
    if seeking or buffering:
        return Correction("none", room_speed)
    drift = player_position - room_position
    if not room_playing:
        if abs(drift) <= PAUSED_TOLERANCE_SECONDS:
            return Correction("none", room_speed)
        return Correction("seek", room_speed, room_position)
    if abs(drift) >= SEEK_THRESHOLD_SECONDS:
        return Correction("seek", room_speed, room_position + startup_lead * room_speed)
    if abs(drift) < DEADBAND_SECONDS:
        return Correction("none", room_speed)
    change = max(-MAX_RATE_CHANGE, min(MAX_RATE_CHANGE, drift / CATCH_UP_SECONDS))
    return Correction("rate", room_speed * (1.0 - change))


# ------------------------------------------------------------------------- live in step


@dataclass(frozen=True, slots=True)
class LiveMapping:
    """A ``live_clock`` message: the frame at ``media_time`` (seconds) arrived at ingest at
    ``server_time`` (server clock); media time moves with server time at speed 1."""

    media_time: float
    server_time: float
    target_latency: float = LIVE_FLOOR_SECONDS

    def arrived_at(self, media_time: float) -> float:
        """When the frame at ``media_time`` arrived at ingest (server clock)."""
        return self.server_time + (media_time - self.media_time)

    def latency(self, media_time: float, client_now: float, offset: float) -> float:
        """How long after its ingest the frame at ``media_time`` is seen at ``client_now``."""
        return client_now + offset - self.arrived_at(media_time)

    def target_position(self, client_now: float, offset: float) -> float:
        """The frame every player of the room shows at ``client_now`` (client clock): the one
        that arrived ``target_latency`` ago."""
        return self.media_time + (client_now + offset - self.server_time) - self.target_latency


def live_floor(protocol: Literal["flv", "rtmp", "hls"], segment_seconds: float = 0.0) -> float:
    """The smallest latency a player of ``protocol`` should aim at: 1 s for HTTP-FLV and RTMP
    (a fan-out batch, a GOP's decode start, the network), 3 segment durations for HLS (a
    segment is published only once complete, and a player fetches it after the playlist)."""
    if protocol == "hls":
        return max(LIVE_FLOOR_SECONDS, HLS_FLOOR_SEGMENTS * segment_seconds)
    return LIVE_FLOOR_SECONDS


class LatencyMeter:
    """A player's safe latency: the worst arrival latency (the latency of the newest frame it
    holds, when it receives it) of the last :data:`LATENCY_WINDOW_SECONDS`, plus a margin, at
    least ``floor``. A player that plays at that latency has each frame before it is due."""

    def __init__(self, floor: float = LIVE_FLOOR_SECONDS, window: float = LATENCY_WINDOW_SECONDS):
        self.floor = floor
        self._window = window
        self._samples: deque[tuple[float, float]] = deque()  # (at, latency), latency decreasing

    def add(self, now: float, arrival_latency: float) -> None:
        """A frame arrived ``arrival_latency`` after its ingest, at ``now`` (any clock)."""
        if arrival_latency != arrival_latency:  # NaN
            return
        samples = self._samples
        while samples and samples[-1][1] <= arrival_latency:
            samples.pop()  # never the maximum again while this one is in the window
        samples.append((now, arrival_latency))
        self._expire(now)

    def _expire(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - self._window:
            self._samples.popleft()

    def worst(self, now: float) -> float | None:
        self._expire(now)
        return self._samples[0][1] if self._samples else None

    def safe(self, now: float) -> float:
        worst = self.worst(now)
        if worst is None:
            return self.floor
        return min(MAX_TARGET_LATENCY_SECONDS, max(self.floor, worst + LATENCY_MARGIN_SECONDS))


def room_target_latency(reported: Iterable[float], floor: float = LIVE_FLOOR_SECONDS) -> float:
    """The room's target latency: the largest safe latency its players reported (ignoring
    nonsense: not a number, negative, over :data:`MAX_TARGET_LATENCY_SECONDS`), at least
    ``floor``."""
    target = floor
    for latency in reported:
        if 0.0 <= latency <= MAX_TARGET_LATENCY_SECONDS:
            target = max(target, latency)
    return target


def correct_live(
    player_position: float,
    mapping: LiveMapping,
    client_now: float,
    offset: float,
    *,
    buffered_until: float | None = None,
    seeking: bool = False,
    buffering: bool = False,
    startup_lead: float = 0.0,
) -> Correction:
    """:func:`correct` for a live stream: the room's position is the frame that arrived the
    room's target latency ago (:meth:`LiveMapping.target_position`), its speed 1. A seek lands
    no further than what the player holds (``buffered_until``, media seconds), if it says."""
    target = mapping.target_position(client_now, offset)
    correction = correct(
        player_position,
        target,
        1.0,
        True,
        seeking=seeking,
        buffering=buffering,
        startup_lead=startup_lead,
    )
    if correction.kind == "seek" and buffered_until is not None:
        assert correction.seek_to is not None
        return Correction("seek", 1.0, min(correction.seek_to, buffered_until))
    return correction
