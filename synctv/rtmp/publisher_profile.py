"""What a publisher announced and what its media shows, for the operator's log (sans-IO).

When a streamer says "it does not work", the operator reads the server log first: which
software connected (``flashVer`` from ``connect``, ``encoder`` from ``onMetaData``), what it
sends (codecs from the sequence headers, size, frame rate and bitrates from ``onMetaData``) and
how often it sends a key frame (measured: the gap between two key frames, in stream time).
A key-frame interval longer than the HLS segment duration makes segments that long, and makes
late joiners wait that long for a picture: the most common OBS misconfiguration.

Pure: the driver passes each tag's timestamp and body; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from synctv.media.amf0 import Amf0Value
from synctv.media.errors import MediaError
from synctv.media.flv import (
    TAG_AUDIO,
    TAG_VIDEO,
    is_sequence_header,
    is_video_keyframe,
    parse_audio,
    parse_video,
)

__all__ = ["MAX_ANNOUNCED_TEXT", "PublisherProfile"]

# Announced strings are the peer's: a few dozen characters in practice (OBS's encoder string
# is ~40), cut to this in the log so a hostile one cannot flood it.
MAX_ANNOUNCED_TEXT: Final = 120


def _text(value: Amf0Value) -> str:
    if not isinstance(value, str):
        return ""
    printable = "".join(ch if ch.isprintable() else "?" for ch in value[:MAX_ANNOUNCED_TEXT])
    return printable + ("…" if len(value) > MAX_ANNOUNCED_TEXT else "")


def _number(value: Amf0Value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and 0 < value < 1e9 else None  # not NaN, sane


@dataclass(slots=True)
class PublisherProfile:
    """One publish session's announced and measured properties.

    ``keyframe_interval_ms`` is the longest gap seen between two consecutive key frames (None
    until two have arrived).
    """

    flash_ver: str = ""
    encoder: str = ""
    video_codec: str = ""
    audio_codec: str = ""
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    video_kbps: float | None = None  # announced (videodatarate)
    audio_kbps: float | None = None  # announced (audiodatarate)
    keyframe_interval_ms: int | None = None
    media_bytes: int = 0
    _first_ts: int | None = field(default=None, repr=False)
    _last_ts: int = field(default=0, repr=False)
    _last_keyframe: int | None = field(default=None, repr=False)

    def connected(self, command_object: dict[str, Amf0Value]) -> None:
        """The ``connect`` command's object (flashVer is the client's self-description)."""
        self.flash_ver = _text(command_object.get("flashVer"))

    def metadata(self, values: dict[str, Amf0Value]) -> None:
        """``onMetaData``: OBS and FFmpeg announce encoder, size, frame rate and bitrates."""
        self.encoder = _text(values.get("encoder")) or self.encoder
        width, height = _number(values.get("width")), _number(values.get("height"))
        if width is not None and height is not None:
            self.width, self.height = int(width), int(height)
        self.frame_rate = _number(values.get("framerate")) or self.frame_rate
        self.video_kbps = _number(values.get("videodatarate")) or self.video_kbps
        self.audio_kbps = _number(values.get("audiodatarate")) or self.audio_kbps

    def media(self, tag_type: int, timestamp: int, body: bytes) -> int | None:
        """One audio or video message. Returns the key-frame gap it completes (ms), if any."""
        self.media_bytes += len(body)
        if self._first_ts is None:
            self._first_ts = timestamp
        self._last_ts = max(self._last_ts, timestamp)
        if is_sequence_header(tag_type, body):
            self._codec(tag_type, body)
            return None
        if tag_type == TAG_AUDIO and not self.audio_codec:
            self._codec(tag_type, body)
        if tag_type != TAG_VIDEO or not is_video_keyframe(body):
            return None
        last, self._last_keyframe = self._last_keyframe, timestamp
        if last is None or timestamp <= last:
            return None
        gap = timestamp - last
        if self.keyframe_interval_ms is None or gap > self.keyframe_interval_ms:
            self.keyframe_interval_ms = gap
        return gap

    def _codec(self, tag_type: int, body: bytes) -> None:
        try:
            if tag_type == TAG_VIDEO:
                self.video_codec = parse_video(body).codec
            else:
                self.audio_codec = parse_audio(body).codec
        except MediaError:
            pass  # the hub judges the media; this is only a description of it

    @property
    def measured_kbps(self) -> float | None:
        """Audio + video payload rate over the stream time seen (None under one second)."""
        if self._first_ts is None or self._last_ts - self._first_ts < 1000:
            return None
        return self.media_bytes * 8 / (self._last_ts - self._first_ts)

    def describe(self) -> str:
        """One log line's worth: ``flashVer='…' encoder='…' video=avc 640x360 30fps …``."""
        parts = [f"flashVer={self.flash_ver!r}", f"encoder={self.encoder!r}"]
        video = [self.video_codec or "none"]
        if self.width and self.height:
            video.append(f"{self.width}x{self.height}")
        if self.frame_rate:
            video.append(f"{self.frame_rate:g}fps")
        if self.video_kbps:
            video.append(f"{self.video_kbps:.0f}kbps")
        parts.append("video=" + " ".join(video))
        audio = [self.audio_codec or "none"]
        if self.audio_kbps:
            audio.append(f"{self.audio_kbps:.0f}kbps")
        parts.append("audio=" + " ".join(audio))
        interval = self.keyframe_interval_ms
        parts.append(
            "keyframe_interval=" + ("unmeasured" if interval is None else f"{interval / 1000:.2f}s")
        )
        measured = self.measured_kbps
        if measured is not None:
            parts.append(f"measured={measured:.0f}kbps")
        return " ".join(parts)
