"""HLS media playlists (RFC 8216) and the segmentation policy, both pure.

Theory of operation
-------------------
The per-stream segmenter task (``synctv.livestream.hls``) feeds TS chunks into a segment and asks
:class:`SegmentationPolicy` before each chunk whether to cut there. A finished segment goes into a
:class:`PlaylistWindow`, which slides (returning the segments that left, so the store can delete
them later), keeps the media and discontinuity sequence numbers, and renders the playlist text
with :func:`render_media_playlist`.

Segments of a stream with video start at keyframes. EXT-X-TARGETDURATION must not change during
a stream (§6.2.1) and every EXTINF, rounded to the nearest integer, must fit it (§4.3.3.1), so it
is decided once per stream, when the first segment closes (:meth:`target_duration_for`): that
segment already spans at least one whole GOP (it is cut at the first keyframe after
``target_seconds``, or at the one before when a GOP more would overrun the floor below), and the
target duration is the larger of ceil(first segment) and the floor
ceil(1.5 × ``target_seconds``), the headroom SRS's ``hls_td_ratio`` gives GOPs that vary (scene-cut
keyframes, jittery timestamps). EXTINF always carries the real duration. Only a later GOP longer
than that makes the policy cut mid-GOP (:attr:`Cut.FORCED`, counted by the segmenter): a last
resort that keeps the playlist valid; the segment after it is cut again at the next keyframe
(:meth:`SegmentationPolicy.should_cut` ``realign``), so keyframe alignment comes back at once.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from synctv.media.errors import LocalProtocolError

# §7: floating-point EXTINF durations need protocol version 3. EXT-X-SERVER-CONTROL needs no higher
# version (RFC 8216bis §8 names none for it), and §6.2.1 says not to claim more than is needed.
DEFAULT_VERSION = 3
# The floor of EXT-X-TARGETDURATION is ceil(target_seconds × this): headroom for GOPs that come out
# longer than the first one (SRS's hls_td_ratio).
TARGET_DURATION_RATIO = 1.5
# The first segment (which decides the target duration) is cut mid-GOP rather than grow past this
# many seconds: x264's default keyint of 250 frames is 10.4 s at 24 fps, so OBS-style defaults fit;
# a longer GOP would put live viewers tens of seconds behind anyway.
MAX_TARGET_DURATION = 12
# §6.2.2: a live playlist must not shrink below three target durations.
MIN_PLAYLIST_TARGET_DURATIONS = 3
# RFC 8216bis §4.4.3.8 / §6.2.5.2: what the HLS routes add to playlists they serve, since they
# (not a static file server reading the file backend's directory) implement _HLS_msn.
SERVER_CONTROL_BLOCKING = b"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TARGET_DURATION_TAG = b"#EXT-X-TARGETDURATION:"


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


def longest_fitting_ms(target_duration: int) -> int:
    """The longest EXTINF (ms) whose rounded value still fits ``target_duration`` (§4.3.3.1)."""
    return target_duration * 1000 + 499


def _fits_target(duration: float, target_duration: int) -> bool:
    # §4.3.3.1: EXTINF rounded to the nearest integer must be <= the target duration.
    return _duration_ms(duration) <= longest_fitting_ms(target_duration)


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


def advertise_blocking_reload(playlist: bytes) -> bytes:
    """``playlist`` with EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES after its target duration.

    Also once the playlist has EXT-X-ENDLIST (the server then ignores the directives, RFC 8216bis
    §6.2.5.2, but §6.2.1 allows no tag to disappear from a playlist). A text without an
    EXT-X-TARGETDURATION line is returned unchanged.
    """
    at = playlist.find(_TARGET_DURATION_TAG)
    end = -1 if at < 0 else playlist.find(b"\n", at)
    if end < 0:
        return playlist
    return playlist[: end + 1] + SERVER_CONTROL_BLOCKING + b"\n" + playlist[end + 1 :]


def with_uri_query(playlist: bytes, query: bytes) -> bytes:
    """``playlist`` with ``query`` (``name=value``, already URL-encoded) added to the query of
    every URI line (§4.1: a line that is neither blank nor starts with ``#``), so a player that
    could fetch the playlist only with it (a viewer token) fetches the segments with it too.

    Tags with URI attributes (EXT-X-KEY, EXT-X-MAP) are not rewritten: our playlists have none.
    """
    lines = playlist.split(b"\n")
    for index, line in enumerate(lines):
        uri = line.rstrip(b"\r")
        if uri and not uri.startswith(b"#"):
            separator = b"&" if b"?" in uri else b"?"
            lines[index] = uri + separator + query + line[len(uri) :]
    return b"\n".join(lines)


class Cut(enum.Enum):
    """What :meth:`SegmentationPolicy.should_cut` decided for one chunk."""

    NONE = "none"
    TARGET = "target"  # at a keyframe (audio: any frame) once target_seconds elapsed
    FORCED = "forced"  # mid-GOP: waiting for the keyframe would overrun the target duration


@dataclass(frozen=True, slots=True)
class SegmentationPolicy:
    """Where to cut: pure arithmetic on DTS milliseconds, no state (see the module docstring).

    ``target_seconds`` is the wanted segment length (``livestream.hls_segment_seconds``).
    """

    target_seconds: float

    def __post_init__(self) -> None:
        if not self.target_seconds > 0:
            raise LocalProtocolError(f"target_seconds must be positive, not {self.target_seconds}")

    @property
    def target_ms(self) -> int:
        return round(self.target_seconds * 1000)

    @property
    def min_target_duration(self) -> int:
        """The smallest EXT-X-TARGETDURATION a stream gets: ceil(target_seconds × 1.5)."""
        return math.ceil(self.target_seconds * TARGET_DURATION_RATIO)

    @property
    def max_target_duration(self) -> int:
        return max(MAX_TARGET_DURATION, self.min_target_duration)

    def target_duration_for(self, first_segment_ms: int) -> int:
        """The stream's EXT-X-TARGETDURATION, from its first segment's duration."""
        first = math.ceil(first_segment_ms / 1000)
        return min(self.max_target_duration, max(self.min_target_duration, first))

    def segment_limit_ms(self, target_duration: int | None) -> int:
        """The longest a segment may get: what still fits ``target_duration`` once it is fixed;
        before that (the first segment) ``max_target_duration``, so that ceil() of it fits."""
        if target_duration is None:
            return self.max_target_duration * 1000
        return longest_fitting_ms(target_duration)

    def is_gap(self, jump_ms: int, target_duration: int | None) -> bool:
        """A DTS jump between consecutive chunks that no segment can absorb: longer than the
        target duration (its floor while the first segment is open)."""
        return jump_ms > (target_duration or self.min_target_duration) * 1000

    def video_stalled(self, since_video_ms: int) -> bool:
        """Video has been absent longer than ``target_seconds``: audio drives the cuts."""
        return since_video_ms > self.target_ms

    def should_cut(
        self,
        *,
        elapsed_ms: int,
        at_boundary: bool,
        realign: bool,
        step_ms: int,
        target_duration: int | None,
        boundary_interval_ms: int | None = None,
    ) -> Cut:
        """Whether the driving track's chunk ``elapsed_ms`` into the segment starts the next one.

        ``at_boundary``: the chunk may start a segment (a video keyframe; any audio chunk when
        audio drives). It cuts once ``target_seconds`` elapsed, and also earlier when the next
        boundary, ``boundary_interval_ms`` away if the GOP repeats, would make the segment too
        long for the target duration (its floor for the first segment): a 1.997 s GOP against
        a 2 s target (timestamp jitter, a 20 ms step where the hub folded a gap) is then cut at
        every keyframe rather than every other one, past the target duration (not before half
        the target, though: an interval that spanned a gap predicts nothing). ``realign``: the
        open segment began mid-GOP, so the next boundary cuts whatever the elapsed time.
        ``step_ms``: the driving track's chunk interval, so a forced cut happens before the
        *next* chunk would push the segment past :meth:`segment_limit_ms`. A DTS that did not
        advance never cuts.
        """
        if elapsed_ms <= 0:
            return Cut.NONE
        if at_boundary:
            fits_ms = longest_fitting_ms(target_duration or self.min_target_duration)
            too_late = (
                boundary_interval_ms is not None
                and 2 * elapsed_ms >= self.target_ms
                and elapsed_ms + boundary_interval_ms > fits_ms
            )
            if realign or too_late or elapsed_ms >= self.target_ms:
                return Cut.TARGET
        if elapsed_ms + step_ms > self.segment_limit_ms(target_duration):
            return Cut.FORCED
        return Cut.NONE


@dataclass(frozen=True, slots=True)
class PlaylistWindowStatistics:
    segments: int
    media_sequence: int
    discontinuity_sequence: int
    longest_playlist_seconds: float
    ended: bool


class PlaylistWindow:
    """The sliding list of a live playlist's segments (RFC 8216 §6.2.2).

    ``length`` is how many segments the playlist lists in steady state. A segment leaves only when
    the window holds more than ``length`` *and* the rest still spans at least three target
    durations (§6.2.2), so very short segments make the window longer, never the playlist shorter.
    The caller must keep a segment that left fetchable for its availability duration (§6.2.2: its
    own duration plus that of the longest playlist that listed it): :meth:`availability_seconds`.
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
        self._listed_ms = 0
        self._longest_ms = 0

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

    @property
    def longest_playlist_seconds(self) -> float:
        """The longest total duration any rendered state of this playlist listed."""
        return self._longest_ms / 1000

    def availability_seconds(self, segment: Segment) -> float:
        """How long ``segment`` must stay fetchable after it left the playlist (§6.2.2): its
        duration plus the longest playlist duration so far (every listing of it was no longer,
        and counting from its removal rather than its first listing only adds margin)."""
        return segment.duration + self.longest_playlist_seconds

    def mark_discontinuity(self) -> None:
        """The next added segment starts with EXT-X-DISCONTINUITY (new encoder, codec change)."""
        self._pending_discontinuity = True

    def add(self, segment: Segment) -> list[Segment]:
        """Append ``segment`` (numbered ``next_sequence``); return the segments that slid out.

        Raises :class:`LocalProtocolError` for a segment whose rounded duration exceeds the
        target duration: the segmenter must never produce one (§4.3.3.1).
        """
        if self._ended:
            raise LocalProtocolError("playlist already ended")
        if segment.sequence != self.next_sequence:
            raise LocalProtocolError(
                f"segment {segment.sequence} added where {self.next_sequence} is next"
            )
        if not _fits_target(segment.duration, self.target_duration):
            raise LocalProtocolError(
                f"segment {segment.sequence} lasts {segment.duration:.3f}s, "
                f"over the target duration {self.target_duration}s"
            )
        if self._pending_discontinuity and not segment.discontinuity:
            segment = replace(segment, discontinuity=True)
        self._pending_discontinuity = False
        self._segments.append(segment)
        self._listed_ms += _duration_ms(segment.duration)
        evicted = self._slide()
        self._longest_ms = max(self._longest_ms, self._listed_ms)
        return evicted

    def _slide(self) -> list[Segment]:
        evicted: list[Segment] = []
        floor_ms = MIN_PLAYLIST_TARGET_DURATIONS * self.target_duration * 1000
        while len(self._segments) > self.length:
            head_ms = _duration_ms(self._segments[0].duration)
            if self._listed_ms - head_ms < floor_ms:
                break
            head = self._segments.popleft()
            self._listed_ms -= head_ms
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
            longest_playlist_seconds=self.longest_playlist_seconds,
            ended=self._ended,
        )
