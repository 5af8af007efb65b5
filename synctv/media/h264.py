"""H.264/AVC: NAL framing (AVCC <-> Annex B), the decoder configuration record, SPS fields.

RTMP/FLV carry AVC as AVCC: each NAL unit prefixed by a big-endian length of
``nal_length_size`` bytes, with SPS/PPS sent once in an AVCDecoderConfigurationRecord
(ISO/IEC 14496-15 §5.3.3.1). MPEG-TS/HLS wants Annex B (start codes, ITU-T H.264 Annex B).
`parse_sps` decodes just enough of the SPS (H.264 §7.3.2.1.1) for the picture size and
profile/level shown in stream info.

The framing helpers (`split_avcc`, `split_annexb`, `avcc_to_annexb`, `annexb_to_avcc`) are
codec independent and used for HEVC too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from synctv.media.bits import BitReader, emulation_prevention_remove
from synctv.media.errors import MediaError

__all__ = [
    "MAX_NALUS_PER_ACCESS_UNIT",
    "NAL_AUD",
    "NAL_IDR",
    "NAL_PPS",
    "NAL_SEI",
    "NAL_SLICE",
    "NAL_SPS",
    "AvcDecoderConfig",
    "SpsInfo",
    "annexb_to_avcc",
    "avcc_to_annexb",
    "build_avc_decoder_config",
    "is_keyframe_nal",
    "nal_type",
    "parse_avc_decoder_config",
    "parse_sps",
    "split_annexb",
    "split_avcc",
]

# H.264 Table 7-1 nal_unit_type values we act on.
NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9

# A frame is a handful of NALUs (AUD, SEI, SPS/PPS, one slice per encoder thread); 256 is far
# above x264/NVENC/OBS output yet stops a crafted body of 1-byte NALUs from producing millions
# of Python objects per tag.
MAX_NALUS_PER_ACCESS_UNIT = 256
# A configuration record holds one SPS/PPS in practice; the u5/u8 counts allow 31/255.
MAX_PARAMETER_SETS = 32
# Level 6.2 allows 139264 macroblocks per frame; 16384 x 16384 luma samples covers every level
# while keeping width/height sane for anything that sizes buffers from them.
MAX_DIMENSION = 16384
# poc type 1 lists one offset per reference frame in the cycle (u8 range per §7.4.2.1.1).
MAX_REF_FRAMES_IN_POC_CYCLE = 255

_START_CODE = b"\x00\x00\x00\x01"
# ISO/IEC 14496-15 §5.3.3.1.2: the record has no chroma/bit-depth tail for these profiles.
_PROFILES_WITHOUT_EXT = frozenset((66, 77, 88))
_HIGH_PROFILES = frozenset((100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135))


def nal_type(nal: bytes | bytearray | memoryview) -> int:
    """nal_unit_type: the low 5 bits of the first NAL header byte (H.264 §7.3.1)."""
    if not nal:
        raise MediaError("empty NAL unit")
    return nal[0] & 0x1F


def is_keyframe_nal(nal: bytes | bytearray | memoryview) -> bool:
    """True for an IDR slice."""
    return nal_type(nal) == NAL_IDR


# --------------------------------------------------------------------------- framing


def split_avcc(
    payload: bytes | bytearray | memoryview, nal_length_size: int
) -> list[memoryview | bytes]:
    """Split length-prefixed NALUs (zero views into ``payload``); empty NALUs are skipped."""
    if not 1 <= nal_length_size <= 4:
        raise MediaError(f"NAL length size {nal_length_size} not in 1..4")
    view = memoryview(payload)
    end = len(view)
    pos = 0
    nalus: list[memoryview | bytes] = []
    while pos < end:
        if end - pos < nal_length_size:
            raise MediaError(f"truncated NAL length prefix at offset {pos}")
        size = int.from_bytes(view[pos : pos + nal_length_size], "big")
        pos += nal_length_size
        if size > end - pos:
            raise MediaError(f"NAL unit of {size} bytes overruns the payload at offset {pos}")
        if size:
            if len(nalus) >= MAX_NALUS_PER_ACCESS_UNIT:
                raise MediaError(f"more than {MAX_NALUS_PER_ACCESS_UNIT} NAL units in one frame")
            nalus.append(view[pos : pos + size])
        pos += size
    return nalus


def split_annexb(data: bytes | bytearray | memoryview) -> list[bytes]:
    """Split an Annex B byte stream on 00 00 01 / 00 00 00 01 start codes.

    Zero bytes before a start code (trailing_zero_8bits) are dropped; bytes before the first
    start code must be zeros.
    """
    raw = bytes(data)
    starts: list[int] = []
    i = raw.find(b"\x00\x00\x01")
    if i < 0:
        raise MediaError("no Annex B start code")
    if raw[:i].strip(b"\x00"):
        raise MediaError("data before the first Annex B start code")
    while i >= 0:
        starts.append(i + 3)
        i = raw.find(b"\x00\x00\x01", i + 3)
    nalus: list[bytes] = []
    for n, start in enumerate(starts):
        stop = starts[n + 1] - 3 if n + 1 < len(starts) else len(raw)
        nal = raw[start:stop].rstrip(b"\x00")
        if nal:
            if len(nalus) >= MAX_NALUS_PER_ACCESS_UNIT:
                raise MediaError(f"more than {MAX_NALUS_PER_ACCESS_UNIT} NAL units in one frame")
            nalus.append(nal)
    return nalus


def avcc_to_annexb(payload: bytes | bytearray | memoryview, nal_length_size: int) -> bytes:
    """Rewrite length prefixes as 4-byte start codes."""
    parts: list[bytes | memoryview] = []
    for nal in split_avcc(payload, nal_length_size):
        parts.append(_START_CODE)
        parts.append(nal)
    return b"".join(parts)


def annexb_to_avcc(nalus: Sequence[bytes | memoryview], nal_length_size: int = 4) -> bytes:
    """Join NALUs with big-endian length prefixes of ``nal_length_size`` bytes."""
    if not 1 <= nal_length_size <= 4:
        raise MediaError(f"NAL length size {nal_length_size} not in 1..4")
    limit = 1 << (8 * nal_length_size)
    parts: list[bytes | memoryview] = []
    for nal in nalus:
        if len(nal) >= limit:
            raise MediaError(f"NAL unit of {len(nal)} bytes needs a longer length prefix")
        parts.append(len(nal).to_bytes(nal_length_size, "big"))
        parts.append(nal)
    return b"".join(parts)


# --------------------------------------------------------------------------- config record


@dataclass(frozen=True)
class AvcDecoderConfig:
    """AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1)."""

    profile: int
    compatibility: int
    level: int
    nal_length_size: int
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]


def _read_sets(data: bytes, pos: int, count: int, what: str) -> tuple[tuple[bytes, ...], int]:
    sets: list[bytes] = []
    for _ in range(count):
        if len(data) < pos + 2:
            raise MediaError(f"truncated {what} length")
        size = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if size == 0 or len(data) < pos + size:
            raise MediaError(f"{what} of {size} bytes does not fit the record")
        sets.append(data[pos : pos + size])
        pos += size
    return tuple(sets), pos


def parse_avc_decoder_config(data: bytes | bytearray | memoryview) -> AvcDecoderConfig:
    """Parse the record: u8 version=1, u8 profile, u8 compat, u8 level,
    u6 reserved + u2 lengthSizeMinusOne, u3 reserved + u5 numSPS, {u16 len, SPS}*,
    u8 numPPS, {u16 len, PPS}*; the high-profile tail (chroma/bit depth, SPS-ext) is ignored.
    """
    raw = bytes(data)
    if len(raw) < 7:
        raise MediaError(f"AVC decoder config needs at least 7 bytes, got {len(raw)}")
    if raw[0] != 1:
        raise MediaError(f"AVC decoder config version {raw[0]} != 1")
    nal_length_size = (raw[4] & 0x03) + 1
    if nal_length_size == 3:
        raise MediaError("AVC NAL length size 3 is not allowed")
    sps, pos = _read_sets(raw, 6, raw[5] & 0x1F, "SPS")
    if len(raw) < pos + 1:
        raise MediaError("truncated AVC decoder config: no PPS count")
    pps, _ = _read_sets(raw, pos + 1, raw[pos], "PPS")
    return AvcDecoderConfig(raw[1], raw[2], raw[3], nal_length_size, sps, pps)


def build_avc_decoder_config(
    sps: Sequence[bytes], pps: Sequence[bytes], *, nal_length_size: int = 4
) -> bytes:
    """Build the record from SPS/PPS NAL units (profile/compat/level copied from the first SPS).

    For profiles other than Baseline/Main/Extended the chroma/bit-depth tail is appended with
    values from the SPS, as FFmpeg writes it.
    """
    if not sps or len(sps[0]) < 4:
        raise MediaError("an AVC decoder config needs an SPS of at least 4 bytes")
    if len(sps) > 31 or len(pps) > 255:
        raise MediaError("too many parameter sets for an AVC decoder config")
    if nal_length_size not in (1, 2, 4):
        raise MediaError(f"AVC NAL length size {nal_length_size} not in (1, 2, 4)")
    parts: list[bytes] = [
        bytes((1, sps[0][1], sps[0][2], sps[0][3], 0xFC | (nal_length_size - 1), 0xE0 | len(sps)))
    ]
    parts.extend(_sized(nal) for nal in sps)
    parts.append(bytes((len(pps),)))
    parts.extend(_sized(nal) for nal in pps)
    if sps[0][1] not in _PROFILES_WITHOUT_EXT:
        parts.append(_high_profile_tail(sps[0]))
    return b"".join(parts)


def _high_profile_tail(sps: bytes) -> bytes:
    # §5.3.3.1.2, profiles other than 66/77/88: u6 reserved + u2 chroma_format,
    # u5 reserved + u3 bit_depth_luma_minus8, u5 + u3 bit_depth_chroma_minus8, u8 numOfSPSExt.
    try:
        info = parse_sps(sps)
        chroma, luma, chroma_depth = (
            info.chroma_format_idc,
            info.bit_depth_luma,
            info.bit_depth_chroma,
        )
    except MediaError:
        chroma, luma, chroma_depth = 1, 8, 8  # an SPS we cannot read: assume 4:2:0 8-bit
    return bytes((0xFC | chroma, 0xF8 | (luma - 8), 0xF8 | (chroma_depth - 8), 0))


def _sized(nal: bytes) -> bytes:
    if not 0 < len(nal) <= 0xFFFF:
        raise MediaError(f"parameter set of {len(nal)} bytes does not fit a u16 length")
    return len(nal).to_bytes(2, "big") + nal


# --------------------------------------------------------------------------- SPS


@dataclass(frozen=True, slots=True)
class SpsInfo:
    """The SPS fields stream info needs; width/height are after frame cropping."""

    width: int
    height: int
    profile_idc: int
    constraint_flags: int
    level_idc: int
    sps_id: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    frame_mbs_only: bool


def _skip_scaling_list(r: BitReader, size: int) -> None:
    # H.264 §7.3.2.1.1.1: deltas until next_scale becomes 0.
    last_scale = next_scale = 8
    for _ in range(size):
        if next_scale:
            delta = r.read_se()
            if not -128 <= delta <= 127:
                raise MediaError(f"scaling list delta {delta} out of range")
            next_scale = (last_scale + delta + 256) % 256
        last_scale = next_scale or last_scale


def _ue_max(r: BitReader, limit: int, what: str) -> int:
    value = r.read_ue()
    if value > limit:
        raise MediaError(f"SPS {what} = {value} exceeds {limit}")
    return value


def parse_sps(sps: bytes | bytearray | memoryview) -> SpsInfo:
    """Decode an SPS NAL unit (header byte included) up to the frame cropping fields."""
    if not sps or nal_type(sps) != NAL_SPS:
        raise MediaError("not an SPS NAL unit")
    r = BitReader(emulation_prevention_remove(bytes(sps[1:])))
    profile_idc = r.read_bits(8)
    constraint_flags = r.read_bits(8)
    level_idc = r.read_bits(8)
    sps_id = _ue_max(r, 31, "seq_parameter_set_id")
    chroma_format_idc, separate_planes, depth_luma, depth_chroma = 1, False, 8, 8
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = _ue_max(r, 3, "chroma_format_idc")
        if chroma_format_idc == 3:
            separate_planes = r.read_flag()
        depth_luma = 8 + _ue_max(r, 6, "bit_depth_luma_minus8")
        depth_chroma = 8 + _ue_max(r, 6, "bit_depth_chroma_minus8")
        r.skip_bits(1)  # qpprime_y_zero_transform_bypass_flag
        if r.read_flag():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.read_flag():
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    _ue_max(r, 12, "log2_max_frame_num_minus4")
    poc_type = _ue_max(r, 2, "pic_order_cnt_type")
    if poc_type == 0:
        _ue_max(r, 12, "log2_max_pic_order_cnt_lsb_minus4")
    elif poc_type == 1:
        r.skip_bits(1)  # delta_pic_order_always_zero_flag
        r.read_se()  # offset_for_non_ref_pic
        r.read_se()  # offset_for_top_to_bottom_field
        for _ in range(_ue_max(r, MAX_REF_FRAMES_IN_POC_CYCLE, "poc cycle length")):
            r.read_se()
    r.read_ue()  # max_num_ref_frames
    r.skip_bits(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = _ue_max(r, MAX_DIMENSION // 16 - 1, "pic_width_in_mbs_minus1") + 1
    height_units = _ue_max(r, MAX_DIMENSION // 16 - 1, "pic_height_in_map_units_minus1") + 1
    frame_mbs_only = r.read_flag()
    if not frame_mbs_only:
        r.skip_bits(1)  # mb_adaptive_frame_field_flag
    r.skip_bits(1)  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = (1 if frame_mbs_only else 2) * height_units * 16
    if r.read_flag():  # frame_cropping_flag
        crop = [r.read_ue() for _ in range(4)]  # left, right, top, bottom
        width, height = _crop(
            width, height, crop, chroma_format_idc, separate_planes, frame_mbs_only
        )
    return SpsInfo(
        width,
        height,
        profile_idc,
        constraint_flags,
        level_idc,
        sps_id,
        chroma_format_idc,
        depth_luma,
        depth_chroma,
        frame_mbs_only,
    )


def _crop(
    width: int,
    height: int,
    crop: list[int],
    chroma_format_idc: int,
    separate_planes: bool,
    frame_mbs_only: bool,
) -> tuple[int, int]:
    # H.264 §7.4.2.1.1: CropUnitX/Y from ChromaArrayType (Table 6-1 SubWidthC/SubHeightC).
    chroma_array_type = 0 if separate_planes else chroma_format_idc
    if chroma_array_type == 0:
        unit_x, unit_y = 1, 1
    else:
        unit_x = 1 if chroma_array_type == 3 else 2
        unit_y = 2 if chroma_array_type == 1 else 1
    unit_y *= 1 if frame_mbs_only else 2
    left, right, top, bottom = crop
    width -= unit_x * (left + right)
    height -= unit_y * (top + bottom)
    if width <= 0 or height <= 0:
        raise MediaError(f"SPS frame cropping leaves {width}x{height}")
    return width, height
