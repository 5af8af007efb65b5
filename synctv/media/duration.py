"""A media file's duration from its first bytes: MP4 ``moov``, FLV ``onMetaData``, HLS playlists.

Sans-IO, bytes in, an answer out; the driver (``synctv.proxy.room_media``) fetches what an
answer asks for and calls again. An answer is one of:

* a ``float``: the duration in seconds;
* ``None``: the format is recognised but tells no duration (a live HLS playlist, an FLV whose
  metadata has none, an MP4 whose ``mvhd`` says "unknown");
* :class:`ReadAt`: the duration is further into the file (an MP4 whose ``moov`` comes after
  ``mdat``): read ``length`` bytes at ``offset`` and call :func:`mp4_duration` with them and
  ``base=offset``;
* :class:`Variant`: an HLS master playlist: probe the variant playlist at ``uri`` instead.

Anything malformed raises :class:`DurationError` (a :class:`~synctv.media.errors.MediaError`);
nothing else escapes (the hypothesis tests feed arbitrary bytes).

Wire structures: ISO/IEC 14496-12 §4.2 box header (size u32, type 4cc; size 1 → largesize u64
follows; size 0 → to the end of the file), §8.2.2 ``mvhd`` (version u8, flags u24; v0:
creation u32, modification u32, timescale u32, duration u32; v1: u64, u64, u32, u64). FLV: the
first script tag (type 18) is AMF0 ``"onMetaData"`` then an object or ECMA array whose
``duration`` is a number of seconds. HLS: RFC 8216 §4.3.2.1 ``#EXTINF:<duration>,`` per
segment, §4.3.3.4 ``#EXT-X-ENDLIST`` (without it the playlist is live), §4.3.4.2
``#EXT-X-STREAM-INF`` followed by the variant's URI.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Final

from synctv.media import amf0
from synctv.media.errors import MediaError, ProtocolError
from synctv.media.flv import TAG_SCRIPT, FlvReader

# A moov box larger than this is not worth probing (a film's moov is a few MB at most).
MAX_MOOV_BYTES: Final = 16 * 1024 * 1024
# Top-level boxes walked before giving up (ftyp, free, mdat, moov ... are a handful).
MAX_TOP_BOXES: Final = 64
# Boxes inside moov looked at for mvhd (it comes first; a few others may precede it).
MAX_MOOV_CHILDREN: Final = 64
# FLV tags looked at for onMetaData (it is the first tag).
MAX_FLV_TAGS: Final = 8
# Lines of an HLS playlist (a 3-hour VOD with 2 s segments has ~11,000).
MAX_PLAYLIST_LINES: Final = 200_000
# Durations beyond this are garbage, not films (100 days).
MAX_DURATION: Final = 100 * 86400.0


class DurationError(MediaError):
    """The bytes are not a well-formed MP4, FLV or HLS playlist as far as the duration goes."""


@dataclass(frozen=True, slots=True)
class ReadAt:
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Variant:
    uri: str


Answer = float | None | ReadAt | Variant

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def probe(data: bytes) -> Answer:
    """The duration of a file that starts with ``data`` (its first bytes), by its format."""
    if data.startswith(b"FLV"):
        return flv_duration(data)
    if data.lstrip(b"\xef\xbb\xbf").startswith(b"#EXTM3U"):
        return hls_duration(data)
    return mp4_duration(data)


def _seconds(value: float) -> float | None:
    if not math.isfinite(value) or value <= 0:
        return None
    if value > MAX_DURATION:
        raise DurationError(f"a duration of {value} s is not plausible")
    return float(value)


# -- MP4 -------------------------------------------------------------------------------------


def _box(data: bytes, pos: int, end: int) -> tuple[bytes, int, int] | None:
    """(type, header length, box size) of the box at ``pos``, or None if its header is cut.

    ``end`` is where a size-0 box ("to the end") ends, when known (-1: unknown)."""
    if pos + 8 > len(data):
        return None
    size = _U32.unpack_from(data, pos)[0]
    kind = data[pos + 4 : pos + 8]
    header = 8
    if size == 1:
        if pos + 16 > len(data):
            return None
        size = _U64.unpack_from(data, pos + 8)[0]
        header = 16
    elif size == 0:
        if end < 0:
            raise DurationError("an MP4 box of unknown size before the moov")
        size = end - pos
    if size < header:
        raise DurationError(f"an MP4 box of {size} bytes is shorter than its header")
    return kind, header, size


def mp4_duration(data: bytes, base: int = 0) -> Answer:
    """Walk top-level boxes from file offset ``base`` (where ``data`` starts) to ``moov``."""
    if base < 0:
        raise DurationError("a negative offset")
    pos = 0
    for _ in range(MAX_TOP_BOXES):
        found = _box(data, pos, -1)
        if found is None:
            if pos == 0:
                raise DurationError(f"{len(data)} bytes are too few for an MP4 box header")
            return ReadAt(base + pos, 16)
        kind, header, size = found
        if pos == 0 and base == 0 and kind != b"ftyp" and kind not in _TOP_LEVEL:
            raise DurationError("not an MP4 file (no known top-level box first)")
        if kind == b"moov":
            if size > MAX_MOOV_BYTES:
                raise DurationError(f"a moov box of {size} bytes is too large to probe")
            if pos + size > len(data):
                return ReadAt(base + pos, size)
            return _moov(data[pos + header : pos + size])
        pos += size
        if pos >= len(data):
            return ReadAt(base + pos, 16)
    raise DurationError(f"no moov among the first {MAX_TOP_BOXES} boxes")


_TOP_LEVEL: Final = frozenset({b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"pdin"})


def _moov(body: bytes) -> float | None:
    pos = 0
    for _ in range(MAX_MOOV_CHILDREN):
        found = _box(body, pos, len(body))
        if found is None:
            break
        kind, header, size = found
        if pos + size > len(body):
            raise DurationError("a box overruns its moov")
        if kind == b"mvhd":
            return _mvhd(body[pos + header : pos + size])
        pos += size
    raise DurationError("a moov without mvhd")


def _mvhd(body: bytes) -> float | None:
    if len(body) < 4:
        raise DurationError("a truncated mvhd")
    version = body[0]
    if version == 0 and len(body) >= 20:
        timescale, duration = struct.unpack_from(">II", body, 12)
        unknown = duration == 0xFFFFFFFF
    elif version == 1 and len(body) >= 32:
        timescale, duration = struct.unpack_from(">IQ", body, 20)
        unknown = duration == 0xFFFFFFFFFFFFFFFF
    else:
        raise DurationError(f"an mvhd of version {version} and {len(body)} bytes")
    if timescale == 0:
        raise DurationError("an mvhd with timescale 0")
    return None if unknown else _seconds(duration / timescale)


# -- FLV -------------------------------------------------------------------------------------


def flv_duration(data: bytes) -> float | None:
    """``onMetaData.duration`` of the first script tag (``None``: none in the tags given)."""
    reader = FlvReader()
    try:
        tags = reader.receive_data(data)
    except ProtocolError as exc:
        raise DurationError(f"FLV: {exc}") from None
    for tag in tags[:MAX_FLV_TAGS]:
        if tag.tag_type != TAG_SCRIPT:
            continue
        try:
            values = amf0.decode(tag.data)
        except ProtocolError as exc:
            raise DurationError(f"FLV script data: {exc}") from None
        if len(values) >= 2 and values[0] == "onMetaData" and isinstance(values[1], dict):
            duration = values[1].get("duration")
            if isinstance(duration, int | float) and not isinstance(duration, bool):
                return _seconds(float(duration))
            return None
    return None


# -- HLS -------------------------------------------------------------------------------------


def hls_duration(data: bytes) -> float | Variant | None:
    """The sum of a VOD playlist's ``EXTINF``; ``None`` for a live one; a master's first variant."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DurationError("an HLS playlist that is not UTF-8") from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "#EXTM3U":
        raise DurationError("an HLS playlist starts with #EXTM3U")
    if len(lines) > MAX_PLAYLIST_LINES:
        raise DurationError(f"an HLS playlist of more than {MAX_PLAYLIST_LINES} lines")
    total = 0.0
    ended = False
    after_stream_inf = False
    for raw in lines[1:]:
        line = raw.strip()
        if after_stream_inf and line and not line.startswith("#"):
            return Variant(line)
        if line.startswith("#EXT-X-STREAM-INF"):
            after_stream_inf = True
        elif line.startswith("#EXTINF:"):
            total += _extinf(line)
        elif line == "#EXT-X-ENDLIST":
            ended = True
    if not ended:
        return None
    return _seconds(total)


def _extinf(line: str) -> float:
    value = line[len("#EXTINF:") :].partition(",")[0].strip()
    try:
        seconds = float(value)
    except ValueError:
        raise DurationError(f"an EXTINF duration {value[:20]!r} is not a number") from None
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_DURATION:
        raise DurationError(f"an EXTINF duration {value[:20]!r} is out of range")
    return seconds
