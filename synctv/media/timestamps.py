"""Timestamps: ms <-> 90 kHz, and the per-stream normaliser applied at ingest.

Theory of operation
-------------------
A publisher's RTMP/FLV timestamps are u32 milliseconds (FLV spec v10 E.4.1: u24 + u8
extended) that can wrap (after ~49.7 days), jump backwards (encoder restart, OBS scene
switch with some encoders), jump far forwards (a paused source), or restart from 0 on a
reconnect. The hub wants one monotonic millisecond timeline per stream.

`TimestampNormalizer` keeps an *offset* and the last raw input. Each input's signed 32-bit
difference from the previous input (so a wrap 0xFFFFFFF0 → 0x10 is +32, not -4 billion) is
classified:

* ``-max_backward_ms <= delta <= max_gap_ms``: normal. The output is input + offset, so small
  negative deltas pass through unchanged. This is what interleaved audio and video look like:
  one normaliser is shared by both tracks of a stream, and an audio tag 20 ms behind the video
  tag before it stays exactly 20 ms behind. A/V sync is preserved because both tracks see
  the same offset.
* anything else is a discontinuity: the offset is moved so this input lands ``step_ms`` after
  the highest output so far; later inputs of either track follow relative to it.

`rebase()` (publisher reconnected) makes the next input a discontinuity regardless of its
value, so the new session continues right after the old one. Outputs never go below the
start of the current session (the first output, or the rebase point), which can only clamp
a track that starts slightly behind the other at the very start.

Composition offsets live in the tag body and are not touched here. Pure: no clock; the raw
timestamp is the only input.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_BACKWARD_MS",
    "DEFAULT_MAX_GAP_MS",
    "DEFAULT_STEP_MS",
    "TimestampNormalizer",
    "ms_to_90khz",
    "pts_90khz_to_ms",
]

# A forward jump beyond this is a pause/glitch, not content: viewers' players would stall
# waiting for it, so it is collapsed. 10 s is longer than any GOP or A/V interleave.
DEFAULT_MAX_GAP_MS = 10_000
# Interleaved A/V (and B-frame-free muxers that send audio late) differ by well under a
# second; a larger backwards step is an encoder restart.
DEFAULT_MAX_BACKWARD_MS = 1_000
# After a discontinuity the timeline continues this far after the last output: about one
# frame or one AAC packet, so players neither stall nor see two tags at the same time.
DEFAULT_STEP_MS = 20

_U32 = 1 << 32
_HALF = 1 << 31


def ms_to_90khz(ms: int) -> int:
    """Milliseconds to MPEG 90 kHz clock ticks (caller wraps to 33 bits where the wire needs it)."""
    return ms * 90


def pts_90khz_to_ms(ticks: int) -> int:
    """90 kHz ticks to milliseconds, rounded down."""
    return ticks // 90


class TimestampNormalizer:
    """Maps a publisher's u32 ms timestamps (all tracks of one stream) to a monotonic timeline.

    One instance per stream, shared by audio and video (see the module docstring for why).
    ``discontinuities`` counts the jumps that moved the offset.
    """

    __slots__ = (
        "_floor",
        "_high",
        "_last_raw",
        "_max_backward_ms",
        "_max_gap_ms",
        "_offset",
        "_pending_rebase",
        "_rebase_after",
        "_step_ms",
        "discontinuities",
    )

    def __init__(
        self,
        *,
        max_gap_ms: int = DEFAULT_MAX_GAP_MS,
        max_backward_ms: int = DEFAULT_MAX_BACKWARD_MS,
        step_ms: int = DEFAULT_STEP_MS,
    ) -> None:
        if max_gap_ms <= 0 or max_backward_ms < 0 or step_ms < 0:
            raise ValueError("max_gap_ms must be > 0, max_backward_ms and step_ms >= 0")
        self._max_gap_ms = max_gap_ms
        self._max_backward_ms = max_backward_ms
        self._step_ms = step_ms
        self._last_raw: int | None = None  # unwrapped value of the previous input
        self._offset = 0
        self._high = 0  # highest output so far (meaningful once _last_raw is set)
        self._floor = 0
        self._pending_rebase = False
        self._rebase_after = 0  # the next session starts step_ms after this
        self.discontinuities = 0

    @property
    def last_output(self) -> int | None:
        """The highest timestamp returned so far (None before the first call)."""
        return None if self._last_raw is None else self._high

    def normalize(self, raw_ts: int) -> int:
        """Map one raw u32 ms timestamp (either track) to the stream timeline."""
        raw = raw_ts % _U32
        last = self._last_raw
        if last is None:
            unwrapped = raw
            self._offset = -raw
            self._floor = 0
        else:
            delta = (raw - last + _HALF) % _U32 - _HALF
            unwrapped = last + delta
            if self._pending_rebase or not -self._max_backward_ms <= delta <= self._max_gap_ms:
                high = self._rebase_after if self._pending_rebase else self._high
                start = high + self._step_ms
                self._offset = start - unwrapped
                self._floor = start
                self.discontinuities += not self._pending_rebase
        self._pending_rebase = False
        self._last_raw = unwrapped
        out = max(unwrapped + self._offset, self._floor)
        if out > self._high or last is None:
            self._high = out
        return out

    def rebase(self, after: int | None = None) -> None:
        """The publisher reconnected: the next timestamp continues right after the last output,
        or after ``after`` when that is later (the caller's last presentation time: a B-frame
        shown after the last decoded one must not be shown after the new session's first)."""
        if self._last_raw is not None:
            self._pending_rebase = True
            self._rebase_after = max(self._high, after or 0)
