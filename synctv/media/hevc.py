"""H.265/HEVC: NAL header, the decoder configuration record (hvcC), SPS picture size.

FLV carries HEVC either as the legacy CodecID 12 extension or as Enhanced RTMP 'hvc1'; both
use the HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1) as sequence header and
length-prefixed NALUs for frames (split with `synctv.media.h264.split_avcc`).

`parse_sps` decodes the H.265 §7.3.2.2.1 SPS up to the conformance window (picture size) and
the bit depths; `build_hevc_decoder_config` derives the record's general_* fields from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from synctv.media.bits import BitReader, emulation_prevention_remove
from synctv.media.errors import MediaError

__all__ = [
    "MAX_NAL_ARRAYS",
    "NAL_PPS",
    "NAL_SPS",
    "NAL_VPS",
    "HevcDecoderConfig",
    "HevcSpsInfo",
    "build_hevc_decoder_config",
    "is_irap",
    "nal_type",
    "parse_hevc_decoder_config",
    "parse_sps",
]

# H.265 Table 7-1.
NAL_BLA_W_LP = 16
NAL_RSV_IRAP_23 = 23
NAL_VPS = 32
NAL_SPS = 33
NAL_PPS = 34
NAL_AUD = 35
NAL_SEI_PREFIX = 39

# The record has one array per NAL type (VPS, SPS, PPS, SEI ...); a u8 count permits 255, but
# more arrays than NAL types (64) is malformed, and each array is bounded like AVC's sets.
MAX_NAL_ARRAYS = 64
MAX_NALUS_PER_ARRAY = 32
# Same bound as h264.MAX_DIMENSION: every HEVC level fits; larger values are garbage.
MAX_DIMENSION = 16384
# H.265 §7.4.3.2.1: sps_max_sub_layers_minus1 is u3 but must be < 7.
_MAX_SUB_LAYERS = 7
# 23 fixed bytes before numOfArrays (§8.3.3.1.2).
_FIXED_SIZE = 23


def nal_type(nal: bytes | bytearray | memoryview) -> int:
    """nal_unit_type: bits 1–6 of the 2-byte NAL header (H.265 §7.3.1.2)."""
    if not nal:
        raise MediaError("empty NAL unit")
    return (nal[0] >> 1) & 0x3F


def is_irap(nal_unit_type: int) -> bool:
    """True for IRAP pictures (BLA/IDR/CRA and reserved 22–23): a decoder can start here."""
    return NAL_BLA_W_LP <= nal_unit_type <= NAL_RSV_IRAP_23


@dataclass(frozen=True)
class HevcDecoderConfig:
    """HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1)."""

    nal_length_size: int
    vps: tuple[bytes, ...]
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]
    general_profile_space: int
    general_tier_flag: int
    general_profile_idc: int
    general_profile_compatibility_flags: int
    general_constraint_indicator_flags: int
    general_level_idc: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    # Arrays of other NAL types (prefix SEI ...), as (nal_unit_type, NALUs).
    other_arrays: tuple[tuple[int, tuple[bytes, ...]], ...] = ()


def parse_hevc_decoder_config(data: bytes | bytearray | memoryview) -> HevcDecoderConfig:
    """Parse hvcC: u8 version=1; u2 profile_space, u1 tier, u5 profile_idc; u32 compat flags;
    u48 constraint flags; u8 level; u4+u12 min_spatial_segmentation; u6+u2 parallelism;
    u6+u2 chroma_format; u5+u3 luma depth-8; u5+u3 chroma depth-8; u16 avgFrameRate;
    u2 constantFrameRate, u3 numTemporalLayers, u1 temporalIdNested, u2 lengthSizeMinusOne;
    u8 numOfArrays, each {u1 completeness, u1 reserved, u6 type, u16 numNalus, {u16 len, NALU}*}.
    """
    raw = bytes(data)
    if len(raw) < _FIXED_SIZE:
        raise MediaError(f"HEVC decoder config needs {_FIXED_SIZE} bytes, got {len(raw)}")
    if raw[0] != 1:
        raise MediaError(f"HEVC decoder config version {raw[0]} != 1")
    nal_length_size = (raw[21] & 0x03) + 1
    if nal_length_size == 3:
        raise MediaError("HEVC NAL length size 3 is not allowed")
    arrays = _read_arrays(raw, raw[22])
    by_type: dict[int, tuple[bytes, ...]] = {}
    other: list[tuple[int, tuple[bytes, ...]]] = []
    for nut, nalus in arrays:
        if nut in (NAL_VPS, NAL_SPS, NAL_PPS):
            by_type[nut] = by_type.get(nut, ()) + nalus
        else:
            other.append((nut, nalus))
    return HevcDecoderConfig(
        nal_length_size=nal_length_size,
        vps=by_type.get(NAL_VPS, ()),
        sps=by_type.get(NAL_SPS, ()),
        pps=by_type.get(NAL_PPS, ()),
        general_profile_space=raw[1] >> 6,
        general_tier_flag=(raw[1] >> 5) & 1,
        general_profile_idc=raw[1] & 0x1F,
        general_profile_compatibility_flags=int.from_bytes(raw[2:6], "big"),
        general_constraint_indicator_flags=int.from_bytes(raw[6:12], "big"),
        general_level_idc=raw[12],
        chroma_format_idc=raw[16] & 0x03,
        bit_depth_luma=(raw[17] & 0x07) + 8,
        bit_depth_chroma=(raw[18] & 0x07) + 8,
        other_arrays=tuple(other),
    )


def _read_arrays(raw: bytes, count: int) -> list[tuple[int, tuple[bytes, ...]]]:
    if count > MAX_NAL_ARRAYS:
        raise MediaError(f"{count} NAL arrays in HEVC decoder config exceed {MAX_NAL_ARRAYS}")
    pos = _FIXED_SIZE
    arrays: list[tuple[int, tuple[bytes, ...]]] = []
    for _ in range(count):
        if len(raw) < pos + 3:
            raise MediaError("truncated HEVC decoder config NAL array header")
        nut = raw[pos] & 0x3F
        num = int.from_bytes(raw[pos + 1 : pos + 3], "big")
        if num > MAX_NALUS_PER_ARRAY:
            raise MediaError(f"{num} NAL units in one hvcC array exceed {MAX_NALUS_PER_ARRAY}")
        pos += 3
        nalus: list[bytes] = []
        for _ in range(num):
            if len(raw) < pos + 2:
                raise MediaError("truncated HEVC decoder config NAL length")
            size = int.from_bytes(raw[pos : pos + 2], "big")
            pos += 2
            if size == 0 or len(raw) < pos + size:
                raise MediaError(f"hvcC NAL unit of {size} bytes does not fit the record")
            nalus.append(raw[pos : pos + size])
            pos += size
        arrays.append((nut, tuple(nalus)))
    return arrays


def build_hevc_decoder_config(
    vps: Sequence[bytes],
    sps: Sequence[bytes],
    pps: Sequence[bytes],
    *,
    nal_length_size: int = 4,
) -> bytes:
    """Build hvcC from parameter sets; general_* fields, chroma and bit depths come from the SPS.

    Fields the SPS does not give (min_spatial_segmentation, parallelism, frame rate) are 0
    ("unknown"), as FFmpeg writes them when it cannot tell.
    """
    if not sps:
        raise MediaError("an HEVC decoder config needs an SPS")
    if nal_length_size not in (1, 2, 4):
        raise MediaError(f"HEVC NAL length size {nal_length_size} not in (1, 2, 4)")
    info = parse_sps(sps[0])
    if info.bit_depth_luma > 15 or info.bit_depth_chroma > 15:
        raise MediaError("hvcC cannot carry bit depths above 15 (u3 minus 8)")
    head = bytearray(
        (
            1,
            (info.general_profile_space << 6)
            | (info.general_tier_flag << 5)
            | info.general_profile_idc,
        )
    )
    head += info.general_profile_compatibility_flags.to_bytes(4, "big")
    head += info.general_constraint_indicator_flags.to_bytes(6, "big")
    head += bytes(
        (
            info.general_level_idc,
            0xF0,  # reserved 1111 + min_spatial_segmentation_idc high bits = 0
            0x00,
            0xFC,  # reserved + parallelismType 0
            0xFC | info.chroma_format_idc,
            0xF8 | (info.bit_depth_luma - 8),
            0xF8 | (info.bit_depth_chroma - 8),
            0x00,
            0x00,  # avgFrameRate 0
            ((info.max_sub_layers & 0x07) << 3)
            | (info.temporal_id_nesting << 2)
            | (nal_length_size - 1),
        )
    )
    arrays = [(NAL_VPS, vps), (NAL_SPS, sps), (NAL_PPS, pps)]
    present = [(nut, nalus) for nut, nalus in arrays if nalus]
    head.append(len(present))
    for nut, nalus in present:
        if len(nalus) > MAX_NALUS_PER_ARRAY:
            raise MediaError(f"too many NAL units of type {nut}")
        head += bytes((0x80 | nut,)) + len(nalus).to_bytes(2, "big")
        for nal in nalus:
            if not 0 < len(nal) <= 0xFFFF:
                raise MediaError(f"parameter set of {len(nal)} bytes does not fit a u16 length")
            head += len(nal).to_bytes(2, "big")
            head += nal
    return bytes(head)


@dataclass(frozen=True, slots=True)
class HevcSpsInfo:
    """SPS fields up to the bit depths; width/height are after the conformance window."""

    width: int
    height: int
    general_profile_space: int
    general_tier_flag: int
    general_profile_idc: int
    general_profile_compatibility_flags: int
    general_constraint_indicator_flags: int
    general_level_idc: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    max_sub_layers: int
    temporal_id_nesting: int
    sps_id: int


def _skip_sub_layers(r: BitReader, max_sub_layers_minus1: int) -> None:
    # H.265 §7.3.3 profile_tier_level after the general fields.
    present = [(r.read_flag(), r.read_flag()) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1 > 0:
        r.skip_bits(2 * (8 - max_sub_layers_minus1))  # reserved_zero_2bits
    for profile_present, level_present in present:
        if profile_present:
            r.skip_bits(88)  # u2 space, u1 tier, u5 idc, u32 compat, u48 constraints
        if level_present:
            r.skip_bits(8)


def _ue_max(r: BitReader, limit: int, what: str) -> int:
    value = r.read_ue()
    if value > limit:
        raise MediaError(f"HEVC SPS {what} = {value} exceeds {limit}")
    return value


def parse_sps(sps: bytes | bytearray | memoryview) -> HevcSpsInfo:
    """Decode an SPS NAL unit (2-byte header included) up to bit_depth_chroma_minus8."""
    if len(sps) < 2 or nal_type(sps) != NAL_SPS:
        raise MediaError("not an HEVC SPS NAL unit")
    r = BitReader(emulation_prevention_remove(bytes(sps[2:])))
    r.skip_bits(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = r.read_bits(3)
    if max_sub_layers_minus1 >= _MAX_SUB_LAYERS:
        raise MediaError(f"sps_max_sub_layers_minus1 {max_sub_layers_minus1} out of range")
    nesting = r.read_bit()
    # profile_tier_level(1, sps_max_sub_layers_minus1), general part: 96 bits.
    profile_space = r.read_bits(2)
    tier = r.read_bit()
    profile_idc = r.read_bits(5)
    compat = r.read_bits(32)
    constraints = r.read_bits(48)
    level_idc = r.read_bits(8)
    _skip_sub_layers(r, max_sub_layers_minus1)
    sps_id = _ue_max(r, 15, "sps_seq_parameter_set_id")
    chroma_format_idc = _ue_max(r, 3, "chroma_format_idc")
    separate_planes = chroma_format_idc == 3 and r.read_flag()
    width = _ue_max(r, MAX_DIMENSION, "pic_width_in_luma_samples")
    height = _ue_max(r, MAX_DIMENSION, "pic_height_in_luma_samples")
    if r.read_flag():  # conformance_window_flag
        # Table 6-1 SubWidthC/SubHeightC; ChromaArrayType 0 (mono or separate planes) → 1.
        chroma_array_type = 0 if separate_planes else chroma_format_idc
        sub_w = 2 if chroma_array_type in (1, 2) else 1
        sub_h = 2 if chroma_array_type == 1 else 1
        left, right, top, bottom = (r.read_ue() for _ in range(4))
        width -= sub_w * (left + right)
        height -= sub_h * (top + bottom)
    if width <= 0 or height <= 0:
        raise MediaError(f"HEVC SPS picture size {width}x{height}")
    depth_luma = 8 + _ue_max(r, 8, "bit_depth_luma_minus8")
    depth_chroma = 8 + _ue_max(r, 8, "bit_depth_chroma_minus8")
    return HevcSpsInfo(
        width=width,
        height=height,
        general_profile_space=profile_space,
        general_tier_flag=tier,
        general_profile_idc=profile_idc,
        general_profile_compatibility_flags=compat,
        general_constraint_indicator_flags=constraints,
        general_level_idc=level_idc,
        chroma_format_idc=chroma_format_idc,
        bit_depth_luma=depth_luma,
        bit_depth_chroma=depth_chroma,
        max_sub_layers=max_sub_layers_minus1 + 1,
        temporal_id_nesting=nesting,
        sps_id=sps_id,
    )
