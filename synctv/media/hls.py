"""HLS media playlists (RFC 8216) and the segmentation policy, both pure.

Theory of operation
-------------------
The per-stream segmenter task (``synctv.livestream.hls``) feeds TS chunks into a segment and asks
:class:`SegmentationPolicy` before each chunk whether to cut there. A finished segment goes into a
:class:`PlaylistWindow`, which slides (returning the segments that left, so the store can delete
them later), keeps the media and discontinuity sequence numbers, and renders the playlist text
with :func:`render_media_playlist`.

EXT-X-TARGETDURATION is fixed for the life of a playlist (RFC 8216 §6.2.1 forbids changing it):
``SegmentationPolicy.target_duration`` = ceil(target_seconds × 1.5). The policy cuts at the first
keyframe once ``target_seconds`` have elapsed, and forces a cut (even without a keyframe) once
``target_duration`` seconds have elapsed, so a publisher with a long GOP still produces segments
whose rounded EXTINF fits (§4.3.3.1). A segment can still come out longer when the stream itself
has a gap longer than that; :meth:`PlaylistWindow.add` then advertises ``target_duration`` as its
EXTINF (the players' timeline follows the PTS in the segment anyway) and counts it in
``clamped_segments``, rather than break the target-duration contract that strict players enforce.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from synctv.media.errors import LocalProtocolError

# §7: floating-point EXTINF durations need protocol version 3.
DEFAULT_VERSION = 3
# Segments may run this much over target_seconds before the policy stops waiting for a keyframe
# (SRS's hls_td_ratio); it is also the advertised EXT-X-TARGETDURATION.
TARGET_DURATION_RATIO = 1.5
# §6.2.2: a live playlist must not shrink below three target durations.
MIN_PLAYLIST_TARGET_DURATIONS = 3

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Segment:
    """One media segment as the playlist lists it. ``duration`` is in seconds."""

    sequence: int
    duration: float
    uri: str
    program_date_time_ms: int | None = None
    discontinuity: bool = False


def _duration_ms(duration: float) -> int:
    """The EXTINF value as printed (3 decimals), in integer milliseconds."""
    return round(duration * 1000)


def _fits_target(duration: float, target_duration: int) -> bool:
    # §4.3.3.1: EXTINF rounded to the nearest integer must be <= the target duration.
    return (_duration_ms(duration) + 500) // 1000 <= target_duration


def format_program_date_time(epoch_ms: int) -> str:
    """ISO 8601 UTC with milliseconds (§4.3.2.6), e.g. ``2024-01-02T03:04:05.678Z``."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def render_media_playlist(
    segments: Iterable[Segment],
    *,
    target_duration: int,
    media_sequence: int,
    discontinuity_sequence: int = 0,
    ended: bool = False,
    version: int = DEFAULT_VERSION,
) -> str:
    """A media playlist (§4.3.3) for ``segments``, in order, ending with a newline.

    Raises :class:`LocalProtocolError` when the first segment's number is not ``media_sequence``,
    numbers are not consecutive, or a segment's rounded duration exceeds ``target_duration``:
    the caller's bookkeeping is wrong and a player would misbehave.
    """
    lines = [
        "#EXTM3U",  # §4.3.1.1
        f"#EXT-X-VERSION:{version}",  # §4.3.1.2
        f"#EXT-X-TARGETDURATION:{target_duration}",  # §4.3.3.1
        f"#EXT-X-MEDIA-SEQUENCE:{media_sequence}",  # §4.3.3.2
    ]
    if discontinuity_sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}")  # §4.3.3.3
    expected = media_sequence
    for segment in segments:
        if segment.sequence != expected:
            raise LocalProtocolError(f"segment {segment.sequence} listed where {expected} belongs")
        if not _fits_target(segment.duration, target_duration):
            raise LocalProtocolError(
                f"segment {segment.sequence} lasts {segment.duration:.3f}s, "
                f"over the target duration {target_duration}s"
            )
        expected += 1
        if segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")  # §4.3.2.3
        if segment.program_date_time_ms is not None:
            pdt = format_program_date_time(segment.program_date_time_ms)
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdt}")  # §4.3.2.6
        lines.append(f"#EXTINF:{_duration_ms(segment.duration) / 1000:.3f},")  # §4.3.2.1
        lines.append(segment.uri)
    if ended:
        lines.append("#EXT-X-ENDLIST")  # §4.3.3.4
    lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class SegmentationPolicy:
    """Where to cut: pure arithmetic on DTS milliseconds, no state.

    ``target_seconds`` is the wanted segment length; ``target_duration`` (the playlist's
    EXT-X-TARGETDURATION) is ceil(target_seconds × 1.5) and also the hard cap.
    """

    target_seconds: float

    def __post_init__(self) -> None:
        if not self.target_seconds > 0:
            raise LocalProtocolError(f"target_seconds must be positive, not {self.target_seconds}")

    @property
    def target_duration(self) -> int:
        return math.ceil(self.target_seconds * TARGET_DURATION_RATIO)

    def should_cut(
        self, *, now_dts_ms: int, segment_start_dts_ms: int, is_keyframe: bool, has_video: bool
    ) -> bool:
        """True if the chunk at ``now_dts_ms`` should start a new segment.

        With video: at a keyframe once ``target_seconds`` elapsed, or at any frame once
        ``target_duration`` elapsed (a GOP longer than the cap). Audio only: on time alone.
        A DTS that went backwards never cuts.
        """
        elapsed = now_dts_ms - segment_start_dts_ms
        if elapsed >= self.target_duration * 1000:
            return True
        if has_video and not is_keyframe:
            return False
        return elapsed >= self.target_seconds * 1000


@dataclass(frozen=True, slots=True)
class PlaylistWindowStatistics:
    segments: int
    media_sequence: int
    discontinuity_sequence: int
    clamped_segments: int
    ended: bool


class PlaylistWindow:
    """The sliding list of a live playlist's segments (RFC 8216 §6.2.2).

    ``length`` is how many segments the playlist lists in steady state. A segment leaves only when
    the window holds more than ``length`` *and* the rest still spans at least three target
    durations (§6.2.2), so very short segments make the window longer, never the playlist shorter.
    The caller should keep evicted segments fetchable for a while (§6.2.2 asks for one playlist
    duration) before deleting them.
    """

    def __init__(self, length: int, target_duration: int, *, first_sequence: int = 0) -> None:
        if length < 1 or target_duration < 1:
            raise LocalProtocolError("window length and target duration must be positive")
        self.length = length
        self.target_duration = target_duration
        self._segments: deque[Segment] = deque()
        self._media_sequence = first_sequence
        self._discontinuity_sequence = 0
        self._pending_discontinuity = False
        self._ended = False
        self._clamped = 0

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(self._segments)

    @property
    def media_sequence(self) -> int:
        """The sequence number of the first listed segment (or of the next one, if none)."""
        return self._media_sequence

    @property
    def next_sequence(self) -> int:
        return self._media_sequence + len(self._segments)

    @property
    def discontinuity_sequence(self) -> int:
        return self._discontinuity_sequence

    @property
    def ended(self) -> bool:
        return self._ended

    def mark_discontinuity(self) -> None:
        """The next added segment starts with EXT-X-DISCONTINUITY (new encoder, codec change)."""
        self._pending_discontinuity = True

    def add(self, segment: Segment) -> list[Segment]:
        """Append ``segment`` (numbered ``next_sequence``); return the segments that slid out."""
        if self._ended:
            raise LocalProtocolError("playlist already ended")
        if segment.sequence != self.next_sequence:
            raise LocalProtocolError(
                f"segment {segment.sequence} added where {self.next_sequence} is next"
            )
        if self._pending_discontinuity and not segment.discontinuity:
            segment = replace(segment, discontinuity=True)
        self._pending_discontinuity = False
        if not _fits_target(segment.duration, self.target_duration):
            segment = replace(segment, duration=float(self.target_duration))
            self._clamped += 1
        self._segments.append(segment)
        return self._slide()

    def _slide(self) -> list[Segment]:
        evicted: list[Segment] = []
        floor_ms = MIN_PLAYLIST_TARGET_DURATIONS * self.target_duration * 1000
        remaining_ms = sum(_duration_ms(s.duration) for s in self._segments)
        while len(self._segments) > self.length:
            head_ms = _duration_ms(self._segments[0].duration)
            if remaining_ms - head_ms < floor_ms:
                break
            head = self._segments.popleft()
            remaining_ms -= head_ms
            self._media_sequence += 1
            if head.discontinuity:
                # §6.2.2: the count of discontinuities that left must stay in the playlist.
                self._discontinuity_sequence += 1
            evicted.append(head)
        return evicted

    def end(self) -> None:
        """No more segments: the playlist gets EXT-X-ENDLIST (§4.3.3.4)."""
        self._ended = True

    def render(self, *, version: int = DEFAULT_VERSION) -> str:
        return render_media_playlist(
            self._segments,
            target_duration=self.target_duration,
            media_sequence=self._media_sequence,
            discontinuity_sequence=self._discontinuity_sequence,
            ended=self._ended,
            version=version,
        )

    def statistics(self) -> PlaylistWindowStatistics:
        return PlaylistWindowStatistics(
            segments=len(self._segments),
            media_sequence=self._media_sequence,
            discontinuity_sequence=self._discontinuity_sequence,
            clamped_segments=self._clamped,
            ended=self._ended,
        )
