"""FLV container: file header, tag framing, audio/video tag bodies (legacy + Enhanced RTMP).

Theory of operation
-------------------
An FLV stream is (FLV spec v10, Annex E.2/E.3)::

    header   'FLV' u8 version=1, u8 flags (bit 2 audio, bit 0 video), u32 DataOffset=9
    u32 PreviousTagSize0 = 0
    repeat:  tag header (11 bytes, E.4.1), tag data, u32 PreviousTagSize = 11 + DataSize

`encode_tag` produces one framed tag (header + data + PreviousTagSize) for the hub's fan-out,
and `FlvReader` is the streaming inverse (h11-style ``receive_data``; ``b""`` is EOF).
RTMP carries the same tag *bodies* without the framing, so `parse_video`/`parse_audio` and the
one-byte helpers work on bodies from either source.

Video bodies come in two shapes:

* legacy VIDEODATA (Annex E.4.3.1): u4 FrameType, u4 CodecID; for AVC (7) and the
  Chinese-CDN HEVC extension (12) then u8 AVCPacketType and si24 CompositionTime;
* Enhanced RTMP ExVideoTagHeader (E-RTMP v1/v2 "Enhanced Video"): u1 IsExHeader=1,
  u3 FrameType, u4 PacketType, optional ModEx/Multitrack prefixes (v2), u32 FourCC, and for
  avc1/hvc1 CodedFrames an si24 CompositionTime (CodedFramesX implies 0).

Audio bodies likewise: legacy AUDIODATA (Annex E.4.2.1: u4 SoundFormat, u2 SoundRate,
u1 SoundSize, u1 SoundType; AAC adds u8 AACPacketType) or, when SoundFormat is 9, the
E-RTMP v2 ExAudioTagHeader (u4 PacketType, FourCC).

Errors: every malformed input raises `MediaError`; nothing else escapes.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from synctv.media.errors import MediaError

__all__ = [
    "DEFAULT_MAX_TAG_SIZE",
    "FILE_HEADER_SIZE",
    "FRAME_COMMAND",
    "FRAME_DISPOSABLE",
    "FRAME_GENERATED_KEY",
    "FRAME_INTER",
    "FRAME_KEY",
    "MAX_HEADER_PADDING",
    "TAG_AUDIO",
    "TAG_HEADER_SIZE",
    "TAG_SCRIPT",
    "TAG_VIDEO",
    "AudioTag",
    "FlvHeader",
    "FlvReader",
    "FlvTag",
    "VideoTag",
    "encode_audio",
    "encode_tag",
    "encode_video",
    "file_header",
    "is_sequence_header",
    "is_video_keyframe",
    "parse_audio",
    "parse_file_header",
    "parse_video",
]

TAG_AUDIO = 8
TAG_VIDEO = 9
TAG_SCRIPT = 18

# E.2: 'FLV', u8 version, u8 flags, u32 DataOffset; then u32 PreviousTagSize0.
FILE_HEADER_SIZE = 9
# E.4.1: u8 (u2 reserved, u1 Filter, u5 TagType), u24 DataSize, u24 Timestamp,
# u8 TimestampExtended, u24 StreamID.
TAG_HEADER_SIZE = 11
_PREV_TAG_SIZE = 4

# A single tag is one video frame or audio packet; 10 MiB is far above any real keyframe at
# broadcast bitrates, and the bound keeps a hostile 16 MiB DataSize from being buffered.
DEFAULT_MAX_TAG_SIZE = 10 * 1024 * 1024
# DataOffset is 9 for version 1; larger values are tolerated (the gap is skipped) up to this,
# so a corrupt offset cannot make us swallow megabytes before the first tag.
MAX_HEADER_PADDING = 4096
# E-RTMP v2 PacketType 7 (ModEx) is the same value for audio and video.
_PACKET_TYPE_MOD_EX = 7
# E-RTMP v2 ModEx prefixes may repeat; real streams use one (TimestampOffsetNano). A bound
# stops a crafted body from looping through thousands of tiny prefixes.
MAX_MODEX_PREFIXES = 8

_FLAG_AUDIO = 0x04
_FLAG_VIDEO = 0x01
_FILTER_BIT = 0x20

_HEADER = struct.Struct(">II3x")  # (TagType << 24 | DataSize), (ts24 << 8 | ts_ext), StreamID=0
_U32 = struct.Struct(">I")


# --------------------------------------------------------------------------- framing


@dataclass(frozen=True, slots=True)
class FlvTag:
    """One FLV tag: type (8/9/18), full 32-bit millisecond timestamp, body bytes."""

    tag_type: int
    timestamp: int
    data: bytes


@dataclass(frozen=True, slots=True)
class FlvHeader:
    """The 9-byte file header's flags (E.2); informative only, players ignore them."""

    has_audio: bool
    has_video: bool


def file_header(*, has_audio: bool, has_video: bool) -> bytes:
    """The 9-byte FLV header followed by PreviousTagSize0 (13 bytes)."""
    flags = (_FLAG_AUDIO if has_audio else 0) | (_FLAG_VIDEO if has_video else 0)
    return b"FLV\x01" + bytes((flags,)) + b"\x00\x00\x00\x09\x00\x00\x00\x00"


def parse_file_header(data: bytes | bytearray | memoryview) -> tuple[FlvHeader, int]:
    """Parse E.2 header bytes; returns the header and DataOffset (where PreviousTagSize0 starts)."""
    if len(data) < FILE_HEADER_SIZE:
        raise MediaError(f"FLV header needs {FILE_HEADER_SIZE} bytes, got {len(data)}")
    if bytes(data[:3]) != b"FLV":
        raise MediaError(f"not an FLV stream: signature {bytes(data[:3])!r}")
    if data[3] != 1:
        raise MediaError(f"unsupported FLV version {data[3]}")
    (offset,) = _U32.unpack_from(data, 5)
    if not FILE_HEADER_SIZE <= offset <= FILE_HEADER_SIZE + MAX_HEADER_PADDING:
        raise MediaError(f"FLV DataOffset {offset} out of range")
    flags = data[4]
    return FlvHeader(
        has_audio=bool(flags & _FLAG_AUDIO), has_video=bool(flags & _FLAG_VIDEO)
    ), offset


def encode_tag(tag_type: int, timestamp: int, data: bytes) -> bytes:
    """Frame one tag: 11-byte header + ``data`` + u32 PreviousTagSize.

    The timestamp is taken mod 2**32 and split into the u24 + u8 extended fields (E.4.1).
    This is the fan-out hot path: one struct pack and one join.
    """
    size = len(data)
    if size > 0xFFFFFF:
        raise MediaError(f"FLV tag body of {size} bytes exceeds the u24 DataSize")
    ts = timestamp & 0xFFFFFFFF
    header = _HEADER.pack(((tag_type & 0xFF) << 24) | size, ((ts & 0xFFFFFF) << 8) | (ts >> 24))
    return b"".join((header, data, (size + TAG_HEADER_SIZE).to_bytes(4, "big")))


class _ReaderState(enum.Enum):
    HEADER = enum.auto()
    TAGS = enum.auto()
    CLOSED = enum.auto()
    ERROR = enum.auto()


class FlvReader:
    """Streaming FLV demuxer: ``receive_data(bytes) -> list[FlvTag]``; ``b""`` signals EOF.

    States: HEADER → TAGS → CLOSED (after EOF) and any error → ERROR, where every further call
    raises. With ``expect_header=False`` the reader starts at the first tag (the stream after
    PreviousTagSize0), for bodies spliced out of a longer capture.

    PreviousTagSize is read but not checked: several muxers write it wrong and FFmpeg ignores
    it too; the tag header's DataSize is authoritative.
    """

    __slots__ = ("_buf", "_max_tag_size", "_pos", "_state", "header")

    def __init__(self, max_tag_size: int = DEFAULT_MAX_TAG_SIZE, *, expect_header: bool = True):
        self._max_tag_size = max_tag_size
        self._buf = bytearray()
        self._pos = 0
        self._state = _ReaderState.HEADER if expect_header else _ReaderState.TAGS
        self.header: FlvHeader | None = None

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[FlvTag]:
        """Feed bytes; returns the tags completed by them (possibly none)."""
        if self._state is _ReaderState.ERROR:
            raise MediaError("FLV reader already failed")
        if self._state is _ReaderState.CLOSED:
            raise MediaError("FLV data after EOF")
        if not data:
            return self._eof()
        self._buf += data
        try:
            tags = self._parse()
        except MediaError:
            self._state = _ReaderState.ERROR
            raise
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        return tags

    def _eof(self) -> list[FlvTag]:
        pending = len(self._buf) - self._pos
        self._state = _ReaderState.CLOSED
        if pending:
            self._state = _ReaderState.ERROR
            raise MediaError(f"FLV stream ended inside a tag ({pending} bytes pending)")
        return []

    def _parse(self) -> list[FlvTag]:
        buf = self._buf
        if self._state is _ReaderState.HEADER:
            if len(buf) < FILE_HEADER_SIZE:
                return []
            header, offset = parse_file_header(buf)
            if len(buf) < offset + _PREV_TAG_SIZE:
                return []
            self.header = header
            self._pos = offset + _PREV_TAG_SIZE
            self._state = _ReaderState.TAGS
        tags: list[FlvTag] = []
        pos = self._pos
        end = len(buf)
        # One copy per tag body (memoryview slice → bytes); the view is released before the
        # caller compacts the buffer.
        with memoryview(buf) as view:
            while end - pos >= TAG_HEADER_SIZE:
                word, ts = _HEADER.unpack_from(view, pos)
                tag_type = word >> 24
                size = word & 0xFFFFFF
                if size > self._max_tag_size:
                    raise MediaError(f"FLV tag of {size} bytes exceeds limit {self._max_tag_size}")
                if tag_type & _FILTER_BIT:
                    raise MediaError("encrypted (Filter=1) FLV tags are not supported")
                stop = pos + TAG_HEADER_SIZE + size
                if end < stop + _PREV_TAG_SIZE:
                    break
                timestamp = (ts >> 8) | ((ts & 0xFF) << 24)
                body = bytes(view[pos + TAG_HEADER_SIZE : stop])
                tags.append(FlvTag(tag_type & 0x1F, timestamp, body))
                pos = stop + _PREV_TAG_SIZE
        self._pos = pos
        return tags


# --------------------------------------------------------------------------- video bodies

# Annex E.4.3.1 CodecID (u4); 12 is the HEVC extension used by Chinese CDNs (SRS, nginx-rtmp
# forks) before Enhanced RTMP existed.
_VIDEO_CODEC_IDS: dict[int, str] = {
    1: "jpeg",
    2: "h263",
    3: "screen",
    4: "vp6",
    5: "vp6a",
    6: "screen2",
    7: "avc",
    12: "hevc",
}
_VIDEO_CODEC_BY_NAME = {name: cid for cid, name in _VIDEO_CODEC_IDS.items()}
# E-RTMP VideoFourCC.
_VIDEO_FOURCCS: dict[bytes, str] = {b"avc1": "avc", b"hvc1": "hevc", b"av01": "av1", b"vp09": "vp9"}
_VIDEO_FOURCC_BY_NAME = {name: cc for cc, name in _VIDEO_FOURCCS.items()}

# Legacy AVCPacketType (u8).
_AVC_PACKET_TYPES = {0: "sequence_header", 1: "nalu", 2: "end_of_sequence"}
_AVC_PACKET_BY_NAME = {name: value for value, name in _AVC_PACKET_TYPES.items()}


class _ExVideo(enum.IntEnum):
    """E-RTMP VideoPacketType (u4)."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    CODED_FRAMES_X = 3
    METADATA = 4
    MPEG2TS_SEQUENCE_START = 5
    MULTITRACK = 6
    MOD_EX = 7


_EX_VIDEO_PACKET_TYPES: dict[int, str] = {
    _ExVideo.SEQUENCE_START: "sequence_header",
    _ExVideo.CODED_FRAMES: "nalu",
    _ExVideo.CODED_FRAMES_X: "nalu",
    _ExVideo.SEQUENCE_END: "end_of_sequence",
    _ExVideo.METADATA: "metadata",
}

# E-RTMP v2 AvMultitrackType (u4): only OneTrack is decoded; the others carry several tracks in
# one body, which the hub does not fan out.
_MULTITRACK_ONE_TRACK = 0

# E.4.3.1 FrameType (u4 legacy, u3 enhanced).
FRAME_KEY = 1
FRAME_INTER = 2
FRAME_DISPOSABLE = 3
FRAME_GENERATED_KEY = 4
FRAME_COMMAND = 5


@dataclass(frozen=True, slots=True)
class VideoTag:
    """A parsed video tag body.

    ``codec``: 'avc' | 'hevc' | 'av1' | 'vp9' | 'h263' | 'vp6' | ... | 'other'.
    ``packet_type``: 'sequence_header' (payload = decoder configuration record), 'nalu'
    (payload = coded frame: AVCC length-prefixed NALUs for avc/hevc), 'end_of_sequence',
    'metadata' (payload = AMF0), or 'other' (command frames, multitrack, unknown codecs).
    ``composition_time``: ms, signed 24-bit (0 where the wire has none).
    ``enhanced``: the body used the E-RTMP FourCC header rather than a legacy CodecID.
    """

    codec: str
    frame_type: int
    is_keyframe: bool
    packet_type: str
    composition_time: int
    payload: bytes
    enhanced: bool = False
    track_id: int = 0


def _si24(data: bytes, pos: int) -> int:
    value = int.from_bytes(data[pos : pos + 3], "big")
    return value - (1 << 24) if value & 0x800000 else value


def _need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise MediaError(f"{what}: need {size} bytes, got {len(data)}")


def _skip_modex(data: bytes, pos: int, what: str) -> tuple[int, int]:
    """Skip E-RTMP v2 ModEx prefixes starting at ``pos``.

    Each is: u8 size-1 (255 → u16 size-1 follows), the ModEx data, then a byte whose low
    nibble is the next PacketType (high nibble ModExType). Returns (packet_type, new pos).
    """
    for _ in range(MAX_MODEX_PREFIXES):
        _need(data, pos + 1, what)
        size = data[pos] + 1
        pos += 1
        if size == 256:
            _need(data, pos + 2, what)
            size = int.from_bytes(data[pos : pos + 2], "big") + 1
            pos += 2
        pos += size
        _need(data, pos + 1, what)
        packet_type = data[pos] & 0x0F
        pos += 1
        if packet_type != _PACKET_TYPE_MOD_EX:
            return packet_type, pos
    raise MediaError(f"{what}: more than {MAX_MODEX_PREFIXES} ModEx prefixes")


def parse_video(data: bytes) -> VideoTag:
    """Parse a video tag body (legacy VIDEODATA or E-RTMP ExVideoTagHeader)."""
    data = bytes(data)
    _need(data, 1, "video tag")
    first = data[0]
    if first & 0x80:
        return _parse_ex_video(data)
    frame_type = first >> 4
    codec = _VIDEO_CODEC_IDS.get(first & 0x0F, "other")
    if frame_type == FRAME_COMMAND or codec not in ("avc", "hevc"):
        return VideoTag(codec, frame_type, frame_type == FRAME_KEY, "other", 0, data[1:])
    _need(data, 5, f"{codec} video tag")
    packet_type = _AVC_PACKET_TYPES.get(data[1], "other")
    return VideoTag(
        codec, frame_type, frame_type == FRAME_KEY, packet_type, _si24(data, 2), data[5:]
    )


def _parse_ex_video(data: bytes) -> VideoTag:
    what = "enhanced video tag"
    frame_type = (data[0] >> 4) & 0x07
    packet_type = data[0] & 0x0F
    pos = 1
    if packet_type == _ExVideo.MOD_EX:
        packet_type, pos = _skip_modex(data, pos, what)
    track_id = 0
    if packet_type == _ExVideo.MULTITRACK:
        _need(data, pos + 1, what)
        multitrack_type = data[pos] >> 4
        packet_type = data[pos] & 0x0F
        pos += 1
        if multitrack_type != _MULTITRACK_ONE_TRACK:
            _need(data, pos, what)
            return VideoTag(
                "other", frame_type, frame_type == FRAME_KEY, "other", 0, data[pos:], True
            )
        _need(data, pos + 5, what)
        fourcc = data[pos : pos + 4]
        track_id = data[pos + 4]
        pos += 5
    else:
        _need(data, pos + 4, what)
        fourcc = data[pos : pos + 4]
        pos += 4
    codec = _VIDEO_FOURCCS.get(fourcc, "other")
    name = _EX_VIDEO_PACKET_TYPES.get(packet_type, "other")
    if frame_type == FRAME_COMMAND and packet_type != _ExVideo.METADATA:
        name = "other"
    composition_time = 0
    if name == "nalu" and packet_type == _ExVideo.CODED_FRAMES and codec in ("avc", "hevc"):
        _need(data, pos + 3, what)
        composition_time = _si24(data, pos)
        pos += 3
    is_key = frame_type == FRAME_KEY
    return VideoTag(codec, frame_type, is_key, name, composition_time, data[pos:], True, track_id)


def encode_video(tag: VideoTag) -> bytes:
    """Encode a video body; the canonical form of what `parse_video` returns.

    Enhanced 'nalu' tags for avc/hevc with composition time 0 use CodedFramesX, as FFmpeg's
    muxer does; CodedFrames with an explicit zero is accepted on input.
    Raises `MediaError` for combinations the wire cannot carry.
    """
    if not 0 <= tag.frame_type <= (7 if tag.enhanced else 15):
        raise MediaError(f"frame type {tag.frame_type} does not fit")
    if not -(1 << 23) <= tag.composition_time < (1 << 23):
        raise MediaError(f"composition time {tag.composition_time} does not fit in si24")
    ct = (tag.composition_time & 0xFFFFFF).to_bytes(3, "big")
    if not tag.enhanced:
        cid = _VIDEO_CODEC_BY_NAME.get(tag.codec)
        if cid is None:
            raise MediaError(f"no legacy CodecID for {tag.codec!r}")
        head = bytes(((tag.frame_type << 4) | cid,))
        if tag.codec not in ("avc", "hevc") or tag.packet_type == "other":
            return head + tag.payload
        pt = _AVC_PACKET_BY_NAME.get(tag.packet_type)
        if pt is None:
            raise MediaError(f"legacy {tag.codec} has no packet type {tag.packet_type!r}")
        return b"".join((head, bytes((pt,)), ct, tag.payload))
    fourcc = _VIDEO_FOURCC_BY_NAME.get(tag.codec)
    if fourcc is None:
        raise MediaError(f"no FourCC for {tag.codec!r}")
    has_ct = tag.codec in ("avc", "hevc")
    extra = b""
    match tag.packet_type:
        case "sequence_header":
            pt = _ExVideo.SEQUENCE_START
        case "end_of_sequence":
            pt = _ExVideo.SEQUENCE_END
        case "metadata":
            pt = _ExVideo.METADATA
        case "nalu" if has_ct and tag.composition_time:
            pt, extra = _ExVideo.CODED_FRAMES, ct
        case "nalu" if has_ct:
            pt = _ExVideo.CODED_FRAMES_X
        case "nalu":
            pt = _ExVideo.CODED_FRAMES
        case _:
            raise MediaError(f"cannot encode enhanced packet type {tag.packet_type!r}")
    if tag.track_id:
        head = bytes(
            (0x80 | (tag.frame_type << 4) | _ExVideo.MULTITRACK, (_MULTITRACK_ONE_TRACK << 4) | pt)
        )
        return b"".join((head, fourcc, bytes((tag.track_id,)), extra, tag.payload))
    head = bytes((0x80 | (tag.frame_type << 4) | pt,))
    return b"".join((head, fourcc, extra, tag.payload))


# --------------------------------------------------------------------------- audio bodies

_SOUND_FORMAT_MP3 = 2
_SOUND_FORMAT_EX_HEADER = 9
_SOUND_FORMAT_AAC = 10
_SOUND_FORMAT_MP3_8K = 14
_AUDIO_FORMATS: dict[int, str] = {
    _SOUND_FORMAT_MP3: "mp3",
    _SOUND_FORMAT_AAC: "aac",
    _SOUND_FORMAT_MP3_8K: "mp3",
}
# E-RTMP v2 AudioFourCC.
_AUDIO_FOURCCS: dict[bytes, str] = {
    b"mp4a": "aac",
    b".mp3": "mp3",
    b"Opus": "opus",
    b"fLaC": "flac",
    b"ac-3": "ac3",
    b"ec-3": "eac3",
}
_AUDIO_FOURCC_BY_NAME = {name: cc for cc, name in _AUDIO_FOURCCS.items()}


class _ExAudio(enum.IntEnum):
    """E-RTMP v2 AudioPacketType (u4)."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    MULTICHANNEL_CONFIG = 4
    MULTITRACK = 5
    MOD_EX = 7


_EX_AUDIO_PACKET_TYPES: dict[int, str] = {
    _ExAudio.SEQUENCE_START: "sequence_header",
    _ExAudio.CODED_FRAMES: "coded_frames",
    _ExAudio.SEQUENCE_END: "end_of_sequence",
}


@dataclass(frozen=True, slots=True)
class AudioTag:
    """A parsed audio tag body.

    ``codec``: 'aac' | 'mp3' | 'opus' | 'flac' | 'ac3' | 'eac3' | 'other'.
    ``payload``: AudioSpecificConfig when ``is_sequence_header`` (AAC), else the coded frame.
    ``sound_rate_index`` (0–3: 5.5/11/22/44 kHz), ``sound_size`` (0 = 8 bit, 1 = 16 bit) and
    ``channels`` (1 or 2) are the legacy header's hints; AAC decoders use the ASC instead.
    For enhanced bodies they are 0 and ``sound_format`` is 9.
    ``packet_type``: 'sequence_header' | 'coded_frames' | 'end_of_sequence' | 'other'.
    """

    codec: str
    is_sequence_header: bool
    payload: bytes
    sound_rate_index: int
    sound_size: int
    channels: int
    sound_format: int = _SOUND_FORMAT_AAC
    packet_type: str = "other"


def parse_audio(data: bytes) -> AudioTag:
    """Parse an audio tag body (legacy AUDIODATA or E-RTMP v2 ExAudioTagHeader)."""
    data = bytes(data)
    _need(data, 1, "audio tag")
    first = data[0]
    sound_format = first >> 4
    if sound_format == _SOUND_FORMAT_EX_HEADER:
        return _parse_ex_audio(data)
    rate, size, channels = (first >> 2) & 0x03, (first >> 1) & 0x01, (first & 0x01) + 1
    codec = _AUDIO_FORMATS.get(sound_format, "other")
    if codec != "aac":
        return AudioTag(codec, False, data[1:], rate, size, channels, sound_format, "coded_frames")
    _need(data, 2, "AAC audio tag")
    is_seq = data[1] == 0
    packet_type = "sequence_header" if is_seq else "coded_frames" if data[1] == 1 else "other"
    return AudioTag(codec, is_seq, data[2:], rate, size, channels, sound_format, packet_type)


def _parse_ex_audio(data: bytes) -> AudioTag:
    what = "enhanced audio tag"
    packet_type = data[0] & 0x0F
    pos = 1
    if packet_type == _ExAudio.MOD_EX:
        packet_type, pos = _skip_modex(data, pos, what)
    if packet_type == _ExAudio.MULTITRACK:
        _need(data, pos + 1, what)
        multitrack_type = data[pos] >> 4
        packet_type = data[pos] & 0x0F
        pos += 1
        if multitrack_type != _MULTITRACK_ONE_TRACK:
            return AudioTag("other", False, data[pos:], 0, 0, 0, _SOUND_FORMAT_EX_HEADER)
        _need(data, pos + 5, what)
        fourcc = data[pos : pos + 4]
        pos += 5
    else:
        _need(data, pos + 4, what)
        fourcc = data[pos : pos + 4]
        pos += 4
    codec = _AUDIO_FOURCCS.get(fourcc, "other")
    name = _EX_AUDIO_PACKET_TYPES.get(packet_type, "other")
    is_seq = name == "sequence_header"
    return AudioTag(codec, is_seq, data[pos:], 0, 0, 0, _SOUND_FORMAT_EX_HEADER, name)


def encode_audio(tag: AudioTag) -> bytes:
    """Encode an audio body (canonical form of what `parse_audio` returns)."""
    if tag.sound_format == _SOUND_FORMAT_EX_HEADER:
        fourcc = _AUDIO_FOURCC_BY_NAME.get(tag.codec)
        pt = {"sequence_header": 0, "coded_frames": 1, "end_of_sequence": 2}.get(tag.packet_type)
        if fourcc is None or pt is None:
            raise MediaError(f"cannot encode enhanced audio {tag.codec!r}/{tag.packet_type!r}")
        return b"".join((bytes(((_SOUND_FORMAT_EX_HEADER << 4) | pt,)), fourcc, tag.payload))
    if not (
        0 <= tag.sound_format <= 15
        and 0 <= tag.sound_rate_index <= 3
        and 0 <= tag.sound_size <= 1
        and 1 <= tag.channels <= 2
    ):
        raise MediaError("legacy audio header field out of range")
    first = (
        (tag.sound_format << 4)
        | (tag.sound_rate_index << 2)
        | (tag.sound_size << 1)
        | (tag.channels - 1)
    )
    if tag.sound_format != _SOUND_FORMAT_AAC:
        return bytes((first,)) + tag.payload
    return bytes((first, 0 if tag.is_sequence_header else 1)) + tag.payload


# --------------------------------------------------------------------------- per-tag helpers


def is_video_keyframe(data: bytes | bytearray | memoryview) -> bool:
    """True if a video body's FrameType is 1 (key frame), legacy or enhanced; looks at 1 byte."""
    return bool(data) and (data[0] >> 4) & 0x07 == FRAME_KEY


def is_sequence_header(tag_type: int, data: bytes | bytearray | memoryview) -> bool:
    """True for an AVC/HEVC/E-RTMP video sequence start or an AAC/E-RTMP audio sequence start.

    Looks at two bytes at most (ModEx-prefixed enhanced bodies fall back to a full parse).
    """
    if not data:
        return False
    first = data[0]
    if tag_type == TAG_VIDEO:
        if (first >> 4) & 0x07 == FRAME_COMMAND:
            return False
        if first & 0x80:
            packet_type = first & 0x0F
            if packet_type == _ExVideo.MULTITRACK:
                return len(data) > 1 and data[1] & 0x0F == _ExVideo.SEQUENCE_START
            if packet_type == _ExVideo.MOD_EX:
                try:
                    return parse_video(bytes(data)).packet_type == "sequence_header"
                except MediaError:
                    return False
            return packet_type == _ExVideo.SEQUENCE_START
        return first & 0x0F in (7, 12) and len(data) > 1 and data[1] == 0
    if tag_type == TAG_AUDIO:
        sound_format = first >> 4
        if sound_format == _SOUND_FORMAT_EX_HEADER:
            packet_type = first & 0x0F
            if packet_type == _ExAudio.MULTITRACK:
                return len(data) > 1 and data[1] & 0x0F == _ExAudio.SEQUENCE_START
            if packet_type == _ExAudio.MOD_EX:
                try:
                    return parse_audio(bytes(data)).is_sequence_header
                except MediaError:
                    return False
            return packet_type == _ExAudio.SEQUENCE_START
        return sound_format == _SOUND_FORMAT_AAC and len(data) > 1 and data[1] == 0
    return False
