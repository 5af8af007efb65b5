"""MPEG-2 transport stream muxer (ISO/IEC 13818-1) for HLS segments.

Theory of operation
-------------------
:class:`TsMuxer` turns elementary-stream access units into 188-byte TS packets. It holds only
what the wire needs between calls: one continuity counter per PID and the precomputed PAT/PMT
sections. Every method returns ``bytes`` whose length is a multiple of 188, so the caller can
append the result to a segment or cut a segment between any two calls.

One program, fixed PIDs (chosen as FFmpeg's mpegts muxer does, so captures look familiar):

====== ======= ==============================================================
PID    what    why
====== ======= ==============================================================
0x0000 PAT     fixed by §2.4.4.3
0x1000 PMT     program 1's map
0x0100 video   PCR PID when a video track exists
0x0101 audio   PCR PID for audio-only programs
====== ======= ==============================================================

Packetisation is one pass over the payload: the PES header and the first payload bytes share the
first packet, whole 184-byte payload slices follow with precomputed 4-byte headers, and the last
packet is padded with adaptation-field stuffing (§2.4.3.5) so no PES ever shares a packet. A PCR
rides in the adaptation field of the first packet of every PES on the PCR PID, so the PCR interval
is the frame interval (well under the 100 ms of §2.7.2 for any real frame rate).

:class:`FlvToTs` (below) sits on top: FLV tags in, TS bytes out, with AVCC/HVCC → Annex B and raw
AAC → ADTS conversion. :func:`crc32_mpeg2` is the PSI CRC (§2.4.4.3 CRC_32, Annex A).
"""

from __future__ import annotations

from dataclasses import dataclass

from synctv.media import hevc
from synctv.media.aac import AudioSpecificConfig, adts_header, parse_audio_specific_config
from synctv.media.errors import LocalProtocolError, MediaError
from synctv.media.flv import (
    TAG_AUDIO,
    TAG_VIDEO,
    AudioTag,
    FlvTag,
    VideoTag,
    parse_audio,
    parse_video,
)
from synctv.media.h264 import (
    NAL_AUD,
    NAL_IDR,
    NAL_PPS,
    NAL_SPS,
    parse_avc_decoder_config,
    split_avcc,
)
from synctv.media.h264 import nal_type as avc_nal_type

Buffer = bytes | bytearray | memoryview

TS_PACKET_SIZE = 188
TS_PAYLOAD_SIZE = 184  # 188 minus the 4-byte packet header
SYNC_BYTE = 0x47

PID_PAT = 0x0000
PID_PMT = 0x1000
PID_VIDEO = 0x0100
PID_AUDIO = 0x0101
PROGRAM_NUMBER = 1
TRANSPORT_STREAM_ID = 1

# §2.4.4.10 Table 2-34 stream_type values we emit.
STREAM_TYPE_MPEG1_AUDIO = 0x03
STREAM_TYPE_MPEG2_AUDIO = 0x04
STREAM_TYPE_AAC_ADTS = 0x0F
STREAM_TYPE_H264 = 0x1B
STREAM_TYPE_HEVC = 0x24
VIDEO_STREAM_TYPES = frozenset({STREAM_TYPE_H264, STREAM_TYPE_HEVC})
AUDIO_STREAM_TYPES = frozenset(
    {STREAM_TYPE_AAC_ADTS, STREAM_TYPE_MPEG1_AUDIO, STREAM_TYPE_MPEG2_AUDIO}
)

# §2.4.3.7 Table 2-22 stream_id: first video and first audio stream.
STREAM_ID_VIDEO = 0xE0
STREAM_ID_AUDIO = 0xC0

# PTS/DTS/PCR base are 33-bit counters of a 90 kHz clock (§2.4.3.7, §2.4.3.5); values wrap.
TIMESTAMP_MASK = (1 << 33) - 1
# PCR runs this far behind the DTS of the access unit it precedes: the decoder then holds each
# access unit for 700 ms before decoding it (FFmpeg's default max_delay), which keeps T-STD
# buffers from underflowing at the start.
PCR_DELAY_90K = 63_000
# PES_packet_length is u16 (§2.4.3.7). Only video PES may use 0 ("unbounded") in a TS, so an audio
# PES larger than this is refused.
MAX_PES_PACKET_LENGTH = 0xFFFF

# §2.6.8 registration_descriptor: descriptor_tag u8 = 5, descriptor_length u8, format_identifier u32.
_HEVC_REGISTRATION = b"\x05\x04HEVC"

# Adaptation field flag bits (§2.4.3.4, the u8 after adaptation_field_length).
_AF_RANDOM_ACCESS = 0x40
_AF_PCR = 0x10


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32_mpeg2(data: Buffer) -> int:
    """CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, no reflection, no final xor).

    A section whose CRC_32 field is included checks to 0. PSI sections are at most 1024 bytes, so
    a table-driven byte loop is fine here; it never touches media payloads.
    """
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in bytes(data):
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


@dataclass(frozen=True, slots=True)
class VideoTrackConfig:
    """The program's video elementary stream: ``stream_type`` 0x1B (H.264) or 0x24 (HEVC)."""

    stream_type: int = STREAM_TYPE_H264

    def __post_init__(self) -> None:
        if self.stream_type not in VIDEO_STREAM_TYPES:
            raise LocalProtocolError(f"unsupported video stream_type {self.stream_type:#04x}")


@dataclass(frozen=True, slots=True)
class AudioTrackConfig:
    """The program's audio elementary stream: 0x0F (AAC in ADTS), 0x03/0x04 (MPEG-1/2 audio)."""

    stream_type: int = STREAM_TYPE_AAC_ADTS

    def __post_init__(self) -> None:
        if self.stream_type not in AUDIO_STREAM_TYPES:
            raise LocalProtocolError(f"unsupported audio stream_type {self.stream_type:#04x}")


def _psi_section(table_id: int, table_id_extension: int, version: int, body: bytes) -> bytes:
    """A long-form PSI section (§2.4.4.3 / §2.4.4.8 share this header) with its CRC_32."""
    # section_length counts from after the field to the end of the CRC: 5 header bytes + body + 4.
    section_length = 5 + len(body) + 4
    header = bytes(
        (
            table_id,  # table_id u8
            0xB0
            | (section_length >> 8),  # section_syntax_indicator 1, '0' 1, reserved 2, length 12
            section_length & 0xFF,
            table_id_extension >> 8,  # transport_stream_id / program_number u16
            table_id_extension & 0xFF,
            0xC1 | ((version & 0x1F) << 1),  # reserved 2, version_number 5, current_next 1
            0x00,  # section_number u8
            0x00,  # last_section_number u8
        )
    )
    section = header + body
    return section + crc32_mpeg2(section).to_bytes(4, "big")


def pat_section(*, version: int = 0) -> bytes:
    """PAT (§2.4.4.3): one program, program_number u16 + reserved 3 + program_map_PID 13."""
    body = PROGRAM_NUMBER.to_bytes(2, "big") + (0xE000 | PID_PMT).to_bytes(2, "big")
    return _psi_section(0x00, TRANSPORT_STREAM_ID, version, body)


def pmt_section(
    *, video: VideoTrackConfig | None, audio: AudioTrackConfig | None, version: int = 0
) -> bytes:
    """PMT (§2.4.4.8): reserved 3 + PCR_PID 13, reserved 4 + program_info_length 12 (= 0), then
    per stream stream_type u8, reserved 3 + elementary_PID 13, reserved 4 + ES_info_length 12,
    descriptors. HEVC gets a registration descriptor as FFmpeg writes it (older demuxers key on it).
    """
    pcr_pid = PID_VIDEO if video is not None else PID_AUDIO
    body = bytearray((0xE0 | (pcr_pid >> 8), pcr_pid & 0xFF, 0xF0, 0x00))
    for track, pid in ((video, PID_VIDEO), (audio, PID_AUDIO)):
        if track is not None:
            info = _HEVC_REGISTRATION if track.stream_type == STREAM_TYPE_HEVC else b""
            body += bytes((track.stream_type, 0xE0 | (pid >> 8), pid & 0xFF, 0xF0, len(info)))
            body += info
    return _psi_section(0x02, PROGRAM_NUMBER, version, bytes(body))


def encode_timestamp(prefix: int, value: int) -> bytes:
    """PTS or DTS field (§2.4.3.7), 5 bytes: prefix 4, ts[32..30] 3, marker 1, ts[29..15] 15,
    marker 1, ts[14..0] 15, marker 1. ``value`` is taken modulo 2**33."""
    t = value & TIMESTAMP_MASK
    return bytes(
        (
            (prefix << 4) | ((t >> 29) & 0x0E) | 1,
            (t >> 22) & 0xFF,
            ((t >> 14) & 0xFE) | 1,
            (t >> 7) & 0xFF,
            ((t << 1) & 0xFE) | 1,
        )
    )


def encode_pcr(base_90k: int, extension: int = 0) -> bytes:
    """PCR (§2.4.3.4), 6 bytes: program_clock_reference_base 33, reserved 6, extension 9."""
    return (((base_90k & TIMESTAMP_MASK) << 15) | (0x3F << 9) | (extension & 0x1FF)).to_bytes(
        6, "big"
    )


def pes_header(stream_id: int, *, pts: int, dts: int | None, payload_length: int) -> bytes:
    """PES header (§2.4.3.6/§2.4.3.7) with PTS, and DTS only when it differs from PTS.

    packet_start_code_prefix 24, stream_id 8, PES_packet_length 16 (0 = unbounded, video only),
    '10' 2, scrambling 2, priority 1, data_alignment_indicator 1 (set: each PES starts an access
    unit), copyright 1, original 1; PTS_DTS_flags 2, six more flags (0); PES_header_data_length 8.
    """
    pts &= TIMESTAMP_MASK
    if dts is not None and (dts & TIMESTAMP_MASK) != pts:
        flags, fields = 0xC0, encode_timestamp(0b0011, pts) + encode_timestamp(0b0001, dts)
    else:
        flags, fields = 0x80, encode_timestamp(0b0010, pts)
    pes_packet_length = 3 + len(fields) + payload_length
    if pes_packet_length > MAX_PES_PACKET_LENGTH:
        if stream_id != STREAM_ID_VIDEO:
            raise LocalProtocolError(
                f"audio PES of {payload_length} bytes exceeds PES_packet_length"
            )
        pes_packet_length = 0
    return (
        bytes((0x00, 0x00, 0x01, stream_id))
        + pes_packet_length.to_bytes(2, "big")
        + bytes((0x84, flags, len(fields)))
        + fields
    )


def _adaptation_field(flags: int, pcr: bytes, total: int) -> bytes:
    """An adaptation field of exactly ``total`` bytes (§2.4.3.4): adaptation_field_length u8, then
    (if >0) the flag byte, optional PCR, and 0xFF stuffing bytes."""
    if total == 1:
        return b"\x00"
    body = bytes((flags,)) + pcr
    return bytes((total - 1,)) + body + b"\xff" * (total - 1 - len(body))


class TsMuxer:
    """Packetises access units into a single-program transport stream.

    ``write_video``/``write_audio`` take 90 kHz timestamps (taken modulo 2**33) and return whole
    TS packets. Writing to a track the muxer was not built with raises :class:`LocalProtocolError`.
    """

    def __init__(
        self,
        *,
        video: VideoTrackConfig | None,
        audio: AudioTrackConfig | None,
        version: int = 0,
    ) -> None:
        # ``version`` is the PMT's version_number (the PAT never changes: one program, one PMT).
        if video is None and audio is None:
            raise LocalProtocolError("a transport stream needs at least one track")
        self.video = video
        self.audio = audio
        self.version = version & 0x1F
        self.pcr_pid = PID_VIDEO if video is not None else PID_AUDIO
        self._cc = {PID_PAT: 0, PID_PMT: 0, PID_VIDEO: 0, PID_AUDIO: 0}
        self._pat = self._psi_packet_body(pat_section())
        self._pmt = self._psi_packet_body(
            pmt_section(video=video, audio=audio, version=self.version)
        )
        # Precomputed headers of middle packets (no PUSI, payload only): index = continuity counter.
        self._plain_headers = {
            pid: tuple(bytes((SYNC_BYTE, pid >> 8, pid & 0xFF, 0x10 | cc)) for cc in range(16))
            for pid in (PID_VIDEO, PID_AUDIO)
        }

    def reconfigure(
        self, *, video: VideoTrackConfig | None, audio: AudioTrackConfig | None
    ) -> None:
        """Change the program's tracks mid-stream: the next ``psi()`` carries a PMT with the
        version_number incremented (§2.4.4.8); continuity counters carry on."""
        if video is None and audio is None:
            raise LocalProtocolError("a transport stream needs at least one track")
        self.video, self.audio = video, audio
        self.version = (self.version + 1) & 0x1F
        self.pcr_pid = PID_VIDEO if video is not None else PID_AUDIO
        self._pmt = self._psi_packet_body(
            pmt_section(video=video, audio=audio, version=self.version)
        )

    @staticmethod
    def _psi_packet_body(section: bytes) -> bytes:
        # §2.4.4.2: pointer_field u8 = 0, the section, then 0xFF fill to the end of the packet.
        return b"\x00" + section + b"\xff" * (TS_PAYLOAD_SIZE - 1 - len(section))

    def _header(self, pid: int, *, start: bool, adaptation: bool) -> bytes:
        """TS packet header (§2.4.3.2): sync_byte 8, transport_error_indicator 1,
        payload_unit_start_indicator 1, transport_priority 1, PID 13, scrambling 2,
        adaptation_field_control 2, continuity_counter 4 (counts payload-bearing packets)."""
        cc = self._cc[pid]
        self._cc[pid] = (cc + 1) & 0x0F
        return bytes(
            (
                SYNC_BYTE,
                (0x40 if start else 0x00) | (pid >> 8),
                pid & 0xFF,
                (0x30 if adaptation else 0x10) | cc,
            )
        )

    def psi(self) -> bytes:
        """PAT + PMT packets: written at the start of every segment so each one stands alone."""
        return (
            self._header(PID_PAT, start=True, adaptation=False)
            + self._pat
            + self._header(PID_PMT, start=True, adaptation=False)
            + self._pmt
        )

    def write_video(self, dts_90k: int, pts_90k: int, access_unit: Buffer, keyframe: bool) -> bytes:
        """One Annex B access unit as one PES on the video PID."""
        if self.video is None:
            raise LocalProtocolError("muxer has no video track")
        header = pes_header(
            STREAM_ID_VIDEO, pts=pts_90k, dts=dts_90k, payload_length=len(access_unit)
        )
        return self._write_pes(PID_VIDEO, header, access_unit, dts_90k, keyframe)

    def write_audio(self, pts_90k: int, frames: Buffer) -> bytes:
        """One or more audio frames (ADTS or MPEG audio) as one PES on the audio PID."""
        if self.audio is None:
            raise LocalProtocolError("muxer has no audio track")
        header = pes_header(STREAM_ID_AUDIO, pts=pts_90k, dts=None, payload_length=len(frames))
        # Every audio frame is a random access point, but the flag costs an adaptation field, so
        # it is set only where one is written anyway: audio-only programs, PCR on the audio PID.
        return self._write_pes(PID_AUDIO, header, frames, pts_90k, self.video is None)

    def _write_pes(
        self, pid: int, header: bytes, payload: Buffer, dts_90k: int, random_access: bool
    ) -> bytes:
        af_flags = _AF_RANDOM_ACCESS if random_access else 0
        pcr = b""
        if pid == self.pcr_pid:
            af_flags |= _AF_PCR
            pcr = encode_pcr(max(0, dts_90k - PCR_DELAY_90K))
        af_min = 2 + len(pcr) if af_flags else 0  # length byte + flag byte + PCR
        first_take = TS_PAYLOAD_SIZE - af_min - len(header)
        view = memoryview(payload)
        first = header + view[:first_take]
        out = bytearray()
        self._emit(out, pid, True, af_flags, pcr, first)
        rest = view[first_take:]
        size = len(rest)
        full_end = size - size % TS_PAYLOAD_SIZE
        cc = self._cc[pid]
        headers = self._plain_headers[pid]
        for pos in range(0, full_end, TS_PAYLOAD_SIZE):
            out += headers[cc]
            out += rest[pos : pos + TS_PAYLOAD_SIZE]
            cc = (cc + 1) & 0x0F
        self._cc[pid] = cc
        if full_end < size:
            self._emit(out, pid, False, 0, b"", rest[full_end:])
        return bytes(out)

    def _emit(
        self, out: bytearray, pid: int, start: bool, af_flags: int, pcr: bytes, chunk: Buffer
    ) -> None:
        """One packet; an adaptation field carries the flags/PCR and pads a short payload."""
        af_total = TS_PAYLOAD_SIZE - len(chunk)
        out += self._header(pid, start=start, adaptation=af_total > 0)
        if af_total:
            out += _adaptation_field(af_flags, pcr, af_total)
        out += chunk


# --------------------------------------------------------------------------- FLV → TS

# FLV milliseconds are shifted by this much before becoming 90 kHz timestamps, as FFmpeg's
# mpegts muxer starts at 1.4 s: PCR (DTS − 700 ms) stays non-negative from the first frame, and
# negative composition offsets down to −1.4 s still give a non-negative PTS.
TIMESTAMP_OFFSET_MS = 1_400
# Raw AAC frames are grouped into one audio PES (as FFmpeg does) until the group would span this
# long or grow past AUDIO_GROUP_BYTES: fewer, fuller packets for ~100 ms of extra audio delay.
AUDIO_GROUP_MS = 100
AUDIO_GROUP_BYTES = 4096
# One FLV audio tag is one AAC or MP3 frame; MP3 frames top out under 3 KB, ADTS at 8191 bytes.
# A bigger tag is malformed, and the bound keeps every audio PES within PES_packet_length.
MAX_AUDIO_FRAME = 8192

_START_CODE = b"\x00\x00\x00\x01"
# Access unit delimiters: H.264 §7.3.2.4 (NAL type 9, primary_pic_type 7 = any, stop bit) and
# H.265 §7.3.2.5 (2-byte header, type 35, layer 0, tid 1; pic_type 2 = any, stop bit).
_AUD_H264 = _START_CODE + b"\x09\xf0"
_AUD_HEVC = _START_CODE + b"\x46\x01\x50"
# Parameter set NAL unit types a decoder needs before the first slice of a random access point.
_AVC_PARAMETER_SETS = frozenset({NAL_SPS, NAL_PPS})
_HEVC_PARAMETER_SETS = frozenset({hevc.NAL_VPS, hevc.NAL_SPS, hevc.NAL_PPS})
# MPEG audio frame header (ISO/IEC 11172-3 §2.4.1.3): 11-bit sync, then the 2-bit version id
# (3 = MPEG-1; 2 = MPEG-2 LSF; 0 = MPEG-2.5, carried as MPEG-2 audio).
_MPEG_AUDIO_VERSION_1 = 3


@dataclass(frozen=True, slots=True)
class TsChunk:
    """TS packets made from one FLV tag (or one flushed group of audio frames).

    ``dts_ms`` is the FLV timestamp the chunk starts at (no offset applied), ``is_keyframe`` is
    true for video access units a decoder can start at (the segmenter cuts only before those),
    ``tracks_changed`` says the program's tracks changed and ``data`` begins with a new PAT/PMT
    (a new PMT version): the segmenter should cut and mark a discontinuity. ``config_changed``
    marks the first chunk of a track after a sequence header that changed its decoder
    configuration (resolution, profile, sample rate...) with the same codec: the segmenter cuts
    at the next keyframe with a discontinuity (RFC 8216 §4.3.2.3, encoding parameters).
    """

    data: bytes
    dts_ms: int
    is_video: bool
    is_keyframe: bool
    tracks_changed: bool = False
    config_changed: bool = False


@dataclass(frozen=True, slots=True)
class FlvToTsStatistics:
    video_frames: int
    audio_frames: int
    dropped_tags: int
    program_version: int


@dataclass(frozen=True, slots=True)
class _VideoParams:
    codec: str  # 'avc' | 'hevc'
    nal_length_size: int
    record: bytes  # the decoder configuration record, to tell a changed one from a repeat
    # (nal_unit_type, NAL unit) of the record's VPS/SPS/PPS in decoding order; inserted before a
    # random access point for every type it does not carry in-band.
    parameter_sets: tuple[tuple[int, bytes], ...]


class FlvToTs:
    """FLV tags in, TS chunks out: the per-stream state an HLS segmenter needs.

    Keeps the latest AVC/HEVC decoder configuration and AAC AudioSpecificConfig from sequence
    header tags. Video becomes Annex B with an AUD first and the parameter sets before every
    IDR/IRAP (or FLV keyframe) that lacks them in-band; AAC gets ADTS headers; MP3 passes
    through. Tracks appear as their first sequence header (MP3: first frame) arrives; frames of a
    codec without a configuration, other codecs, and non-media tags are dropped and counted.

    Timestamps: DTS = (FLV ms + ``TIMESTAMP_OFFSET_MS``) × 90, PTS = DTS + composition time × 90,
    both modulo 2**33.

    Errors: a malformed tag raises :class:`~synctv.media.errors.MediaError` before any packet
    is written, so the converter stays usable and continuity counters stay intact.
    """

    def __init__(self, *, timestamp_offset_ms: int = TIMESTAMP_OFFSET_MS) -> None:
        self._offset_ms = timestamp_offset_ms
        self._muxer: TsMuxer | None = None
        self._video: _VideoParams | None = None
        self._video_track: VideoTrackConfig | None = None
        self._audio_track: AudioTrackConfig | None = None
        self._asc: AudioSpecificConfig | None = None
        self._pending = bytearray()
        self._pending_start_ms = 0
        self._video_config_changed = False
        self._audio_config_changed = False
        self._video_frames = 0
        self._audio_frames = 0
        self._dropped = 0

    @property
    def has_video(self) -> bool:
        return self._video_track is not None

    @property
    def has_audio(self) -> bool:
        return self._audio_track is not None

    def psi(self) -> bytes:
        """PAT + PMT for the start of a segment; empty until the first chunk was produced."""
        return b"" if self._muxer is None else self._muxer.psi()

    def convert(self, tag: FlvTag) -> list[TsChunk]:
        """Convert one tag; usually zero or one chunk (two when buffered audio is flushed)."""
        if tag.tag_type == TAG_VIDEO:
            return self._convert_video(tag.timestamp, parse_video(tag.data))
        if tag.tag_type == TAG_AUDIO:
            return self._convert_audio(tag.timestamp, parse_audio(tag.data))
        return []

    def flush(self) -> list[TsChunk]:
        """Emit buffered audio: call at end of stream, before closing the last segment."""
        if not self._pending:
            return []
        muxer, changed = self._current_muxer()
        data = muxer.write_audio(self._to_90k(self._pending_start_ms), self._pending)
        start_ms = self._pending_start_ms
        self._pending.clear()
        config_changed, self._audio_config_changed = self._audio_config_changed, False
        return [TsChunk(changed + data, start_ms, False, False, bool(changed), config_changed)]

    def statistics(self) -> FlvToTsStatistics:
        return FlvToTsStatistics(
            video_frames=self._video_frames,
            audio_frames=self._audio_frames,
            dropped_tags=self._dropped,
            program_version=-1 if self._muxer is None else self._muxer.version,
        )

    def _to_90k(self, ms: int) -> int:
        return (ms + self._offset_ms) * 90

    def _current_muxer(self) -> tuple[TsMuxer, bytes]:
        """The muxer for the current tracks, and PSI bytes if the program just changed."""
        muxer = self._muxer
        if muxer is None:
            self._muxer = TsMuxer(video=self._video_track, audio=self._audio_track)
            return self._muxer, b""
        if muxer.video != self._video_track or muxer.audio != self._audio_track:
            muxer.reconfigure(video=self._video_track, audio=self._audio_track)
            return muxer, muxer.psi()
        return muxer, b""

    # ---- video

    def _convert_video(self, timestamp: int, tag: VideoTag) -> list[TsChunk]:
        if tag.codec not in ("avc", "hevc"):
            self._dropped += 1
            return []
        if tag.packet_type == "sequence_header":
            self._set_video_config(tag.codec, tag.payload)
            return []
        params = self._video
        if tag.packet_type != "nalu" or params is None or params.codec != tag.codec:
            self._dropped += tag.packet_type == "nalu"
            return []
        access_unit, random_access = self._annexb(params, tag.payload, tag.is_keyframe)
        if access_unit is None:
            return []
        chunks = self.flush() if random_access else []
        muxer, changed = self._current_muxer()
        dts = self._to_90k(timestamp)
        data = muxer.write_video(dts, dts + tag.composition_time * 90, access_unit, random_access)
        self._video_frames += 1
        config_changed, self._video_config_changed = self._video_config_changed, False
        chunks.append(
            TsChunk(changed + data, timestamp, True, random_access, bool(changed), config_changed)
        )
        return chunks

    def _set_video_config(self, codec: str, record: bytes) -> None:
        if codec == "avc":
            avc = parse_avc_decoder_config(record)
            sets = [(NAL_SPS, nal) for nal in avc.sps] + [(NAL_PPS, nal) for nal in avc.pps]
            length, stream_type = avc.nal_length_size, STREAM_TYPE_H264
        else:
            hvcc = hevc.parse_hevc_decoder_config(record)
            sets = [(hevc.NAL_VPS, nal) for nal in hvcc.vps]
            sets += [(hevc.NAL_SPS, nal) for nal in hvcc.sps]
            sets += [(hevc.NAL_PPS, nal) for nal in hvcc.pps]
            length, stream_type = hvcc.nal_length_size, STREAM_TYPE_HEVC
        previous = self._video
        if previous is not None and previous.codec == codec and previous.record != record:
            self._video_config_changed = True  # a codec change is a tracks change instead
        self._video = _VideoParams(codec, length, bytes(record), tuple(sets))
        self._video_track = VideoTrackConfig(stream_type)

    def _annexb(
        self, params: _VideoParams, payload: bytes, keyframe: bool
    ) -> tuple[bytes | None, bool]:
        """AVCC/HVCC → Annex B: AUD, parameter sets at random access points, the NAL units.

        In-band AUDs are dropped (ours comes first). At a random access point every parameter
        set type (H.264: SPS, PPS; HEVC: VPS, SPS, PPS) the frame lacks in-band is taken from the
        decoder configuration, and all of them go first in decoding order: in-band ones where
        present (they are the newer), configured ones otherwise, so a decoder that starts at
        this frame has each set before the slices (a frame with an SPS but no PPS would
        otherwise refer to a PPS the decoder never saw: "non-existing PPS").
        Returns (None, False) for a frame with no NAL units.
        """
        nalus = split_avcc(payload, params.nal_length_size)
        if not nalus:
            self._dropped += 1
            return None, False
        if params.codec == "avc":
            types = [avc_nal_type(nal) for nal in nalus]
            aud, aud_type, set_types = _AUD_H264, NAL_AUD, _AVC_PARAMETER_SETS
            random_access = keyframe or NAL_IDR in types
        else:
            types = [hevc.nal_type(nal) for nal in nalus]
            aud, aud_type, set_types = _AUD_HEVC, hevc.NAL_AUD, _HEVC_PARAMETER_SETS
            random_access = keyframe or any(hevc.is_irap(t) for t in types)
        out = bytearray(aud)
        hoisted: frozenset[int] = frozenset()
        if random_access and not set_types <= set(types):
            hoisted = set_types
            for wanted in _ordered(set_types):
                in_band = [nal for nal, kind in zip(nalus, types, strict=True) if kind == wanted]
                configured = [nal for kind, nal in params.parameter_sets if kind == wanted]
                for nal in in_band or configured:
                    out += _START_CODE
                    out += nal
        for nal, kind in zip(nalus, types, strict=True):
            if kind != aud_type and kind not in hoisted:
                out += _START_CODE
                out += nal
        return bytes(out), random_access

    # ---- audio

    def _convert_audio(self, timestamp: int, tag: AudioTag) -> list[TsChunk]:
        if tag.codec == "aac":
            if tag.is_sequence_header:
                asc = parse_audio_specific_config(tag.payload)
                adts_header(asc, 0)  # refuses configs ADTS cannot carry, before any frame
                if self._asc is not None and self._asc != asc:
                    self._audio_config_changed = True
                self._asc = asc
                self._audio_track = AudioTrackConfig(STREAM_TYPE_AAC_ADTS)
                return []
            if tag.packet_type != "coded_frames" or self._asc is None or not tag.payload:
                self._dropped += 1
                return []
            frame = adts_header(self._asc, len(tag.payload)) + tag.payload
        elif tag.codec == "mp3" and tag.payload:
            if len(tag.payload) > MAX_AUDIO_FRAME:
                raise MediaError(f"MP3 tag of {len(tag.payload)} bytes exceeds {MAX_AUDIO_FRAME}")
            version = (tag.payload[1] >> 3) & 0x03 if len(tag.payload) > 1 else 0
            mpeg1 = version == _MPEG_AUDIO_VERSION_1
            self._audio_track = AudioTrackConfig(
                STREAM_TYPE_MPEG1_AUDIO if mpeg1 else STREAM_TYPE_MPEG2_AUDIO
            )
            frame = tag.payload
        else:
            self._dropped += 1
            return []
        chunks: list[TsChunk] = []
        if self._pending and (
            timestamp - self._pending_start_ms >= AUDIO_GROUP_MS
            or len(self._pending) + len(frame) > AUDIO_GROUP_BYTES
        ):
            chunks = self.flush()
        if not self._pending:
            self._pending_start_ms = timestamp
        self._pending += frame
        self._audio_frames += 1
        return chunks


def _ordered(set_types: frozenset[int]) -> list[int]:
    """Parameter set types in decoding order: VPS, SPS, PPS (their type numbers ascend so)."""
    return sorted(set_types)
