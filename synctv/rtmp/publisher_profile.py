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

from synctv.media import h264, hevc
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

__all__ = ["MAX_ANNOUNCED_TEXT", "PublisherProfile", "video_profile_name"]

# Announced strings are the peer's: a few dozen characters in practice (OBS's encoder string
# is ~40), cut to this in the log so a hostile one cannot flood it.
MAX_ANNOUNCED_TEXT: Final = 120


# H.264 profile_idc (Annex A) and H.265 general_profile_idc (Annex A) by name.
_AVC_PROFILES: Final = {
    66: "Baseline",
    77: "Main",
    88: "Extended",
    100: "High",
    110: "High 10",
    122: "High 4:2:2",
    244: "High 4:4:4",
}
_HEVC_PROFILES: Final = {1: "Main", 2: "Main 10", 3: "Main Still Picture", 4: "Range Extensions"}


def video_profile_name(codec: str, profile_idc: int) -> str:
    """``High``, ``Main 10`` ...; the number for a profile without a name here."""
    names = _AVC_PROFILES if codec == "avc" else _HEVC_PROFILES if codec == "hevc" else {}
    return names.get(profile_idc, str(profile_idc))


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
    video_profile: str = ""  # from the sequence header: "High", "Main 10" ...
    video_level: str = ""  # "3.1" (H.264: level_idc / 10; H.265: general_level_idc / 30)
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
                tag = parse_video(body)
                self.video_codec = tag.codec
                if tag.packet_type == "sequence_header":
                    self._decoder_config(tag.codec, tag.payload)
            else:
                self.audio_codec = parse_audio(body).codec
        except MediaError:
            pass  # the hub judges the media; this is only a description of it

    def _decoder_config(self, codec: str, record: bytes) -> None:
        """Profile and level from the decoder configuration record; the picture size from its
        SPS when ``onMetaData`` did not announce one."""
        if codec == "avc":
            avc = h264.parse_avc_decoder_config(record)
            self.video_profile = video_profile_name(codec, avc.profile)
            self.video_level = f"{avc.level / 10:g}"
            if self.width is None and avc.sps:
                sps = h264.parse_sps(avc.sps[0])
                self.width, self.height = sps.width, sps.height
        elif codec == "hevc":
            config = hevc.parse_hevc_decoder_config(record)
            self.video_profile = video_profile_name(codec, config.general_profile_idc)
            self.video_level = f"{config.general_level_idc / 30:g}"
            if self.width is None and config.sps:
                info = hevc.parse_sps(config.sps[0])
                self.width, self.height = info.width, info.height

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
