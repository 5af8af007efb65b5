"""HEVC: NAL header, HEVCDecoderConfigurationRecord, SPS picture size (x265-captured + fixture)."""

from __future__ import annotations

import io

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.media import flv, h264, hevc
from synctv.media.bits import BitWriter
from synctv.media.errors import MediaError
from synctv.media.hevc import HevcDecoderConfig
from tests.conftest import fixture_bytes

# Captured from libx265 via PyAV (tests/fixtures/README.md): 1920x1080 Main, 1280x720 Main 10.
VPS_1080 = bytes.fromhex("40010c01ffff016000000300900000030000030078959409")
SPS_1080 = bytes.fromhex(
    "420101016000000300900000030000030078a003c0801107cb965654a4c2e68080000003008000000c84"
)
PPS = bytes.fromhex("4401c073c189")
SPS_720_10BIT = bytes.fromhex(
    "42010102200000030090000003000003005da00280802d136595952930b9a02000000300200000030321"
)


def _array(nut: int, *nalus: bytes) -> bytes:
    body = b"".join(len(n).to_bytes(2, "big") + n for n in nalus)
    return bytes((0x80 | nut,)) + len(nalus).to_bytes(2, "big") + body


# §8.3.3.1: version, space/tier/idc, compat u32, constraints u48, level, min_spatial (f000),
# parallelism (fc), chroma (fd), depths (f8 f8), avgFrameRate (0000),
# 0x0f = numTemporalLayers 1, temporalIdNested 1, lengthSizeMinusOne 3; 3 arrays.
HVCC_1080 = (
    bytes.fromhex("01016000000090000000000078f000fcfdf8f800000f03")
    + _array(32, VPS_1080)
    + _array(33, SPS_1080)
    + _array(34, PPS)
)

# (name, record, value) shared by parse and build
CONFIG_CASES = [
    (
        "x265_1080p",
        HVCC_1080,
        HevcDecoderConfig(
            nal_length_size=4,
            vps=(VPS_1080,),
            sps=(SPS_1080,),
            pps=(PPS,),
            general_profile_space=0,
            general_tier_flag=0,
            general_profile_idc=1,
            general_profile_compatibility_flags=0x60000000,
            general_constraint_indicator_flags=0x900000000000,
            general_level_idc=120,
            chroma_format_idc=1,
            bit_depth_luma=8,
            bit_depth_chroma=8,
        ),
    ),
]


@pytest.mark.parametrize(
    ("wire", "value"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_parse_hevc_decoder_config(wire: bytes, value: HevcDecoderConfig) -> None:
    assert hevc.parse_hevc_decoder_config(wire) == value


@pytest.mark.parametrize(
    ("wire", "value"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_build_hevc_decoder_config(wire: bytes, value: HevcDecoderConfig) -> None:
    assert hevc.build_hevc_decoder_config(value.vps, value.sps, value.pps) == wire


def test_config_other_arrays_and_length_size() -> None:
    sei = b"\x4e\x01\x05"
    wire = bytearray(HVCC_1080)
    wire[21] = (wire[21] & 0xFC) | 1  # 2-byte lengths
    wire[22] = 4
    wire += _array(39, sei)
    config = hevc.parse_hevc_decoder_config(bytes(wire))
    assert config.nal_length_size == 2
    assert config.other_arrays == ((39, (sei,)),)


def test_build_10bit_and_short_lengths() -> None:
    built = hevc.build_hevc_decoder_config([VPS_1080], [SPS_720_10BIT], [], nal_length_size=2)
    config = hevc.parse_hevc_decoder_config(built)
    assert (config.bit_depth_luma, config.general_profile_idc, config.nal_length_size) == (10, 2, 2)
    assert config.pps == ()


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (HVCC_1080[:22], "needs 23 bytes"),
        (b"\x02" + HVCC_1080[1:], "version 2"),
        (HVCC_1080[:21] + bytes((HVCC_1080[21] & 0xFC | 2,)) + HVCC_1080[22:], "length size 3"),
        (HVCC_1080[:22] + b"\x41", "65 NAL arrays"),
        (HVCC_1080[:22] + b"\x01\xa0\x00", "array header"),
        (HVCC_1080[:22] + b"\x01\xa0\x00\x21", "33 NAL units"),
        (HVCC_1080[:22] + b"\x01\xa0\x00\x01\x00", "NAL length"),
        (HVCC_1080[:22] + b"\x01\xa0\x00\x01\x00\x05\x40", "5 bytes does not fit"),
    ],
)
def test_parse_config_errors(wire: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        hevc.parse_hevc_decoder_config(wire)


def test_build_config_errors() -> None:
    with pytest.raises(MediaError, match="needs an SPS"):
        hevc.build_hevc_decoder_config([], [], [])
    with pytest.raises(MediaError, match="length size 3"):
        hevc.build_hevc_decoder_config([], [SPS_1080], [], nal_length_size=3)
    with pytest.raises(MediaError, match="too many"):
        hevc.build_hevc_decoder_config([], [SPS_1080], [PPS] * 33)
    with pytest.raises(MediaError, match="u16 length"):
        hevc.build_hevc_decoder_config([], [SPS_1080], [bytes(0x10000)])
    with pytest.raises(MediaError, match="above 15"):
        hevc.build_hevc_decoder_config([], [make_sps(depth_minus8=8)], [])


@given(st.binary(max_size=80))
def test_config_arbitrary_only_media_error(data: bytes) -> None:
    try:
        hevc.parse_hevc_decoder_config(b"\x01" + data)
    except MediaError:
        pass


# --------------------------------------------------------------------------- NAL header


@pytest.mark.parametrize(
    ("nal", "nut", "irap"),
    [
        (VPS_1080, 32, False),
        (SPS_1080, 33, False),
        (PPS, 34, False),
        (b"\x26\x01", 19, True),  # IDR_W_RADL
        (b"\x2a\x01", 21, True),  # CRA
        (b"\x20\x01", 16, True),  # BLA_W_LP
        (b"\x02\x01", 1, False),  # TRAIL_R
        (b"\x30\x01", 24, False),  # reserved non-IRAP
    ],
)
def test_nal_type(nal: bytes, nut: int, irap: bool) -> None:
    assert hevc.nal_type(nal) == nut
    assert hevc.is_irap(nut) is irap


def test_nal_type_empty() -> None:
    with pytest.raises(MediaError):
        hevc.nal_type(b"")


# --------------------------------------------------------------------------- SPS


def make_sps(
    *,
    sub_layers_minus1: int = 0,
    chroma_format_idc: int = 1,
    separate_planes: bool = False,
    width: int = 320,
    height: int = 240,
    window: tuple[int, int, int, int] | None = None,
    depth_minus8: int = 0,
) -> bytes:
    """An HEVC SPS (H.265 §7.3.2.2.1) written up to the bit depths."""
    w = BitWriter()
    w.write_bits(0x4201, 16)
    w.write_bits(0, 4)
    w.write_bits(sub_layers_minus1, 3)
    w.write_bit(1)
    w.write_bits(0b00100001, 8)  # space 0, tier 1, profile 1
    w.write_bits(0x40000000, 32)
    w.write_bits(0, 48)
    w.write_bits(93, 8)
    for i in range(sub_layers_minus1):
        w.write_bit(i % 2 == 0)  # profile present on even sub-layers
        w.write_bit(1)  # level present
    if sub_layers_minus1:
        w.write_bits(0, 2 * (8 - sub_layers_minus1))
    for i in range(sub_layers_minus1):
        if i % 2 == 0:
            w.write_bits(0, 88)
        w.write_bits(90, 8)
    w.write_ue(0)
    w.write_ue(chroma_format_idc)
    if chroma_format_idc == 3:
        w.write_bit(separate_planes)
    w.write_ue(width)
    w.write_ue(height)
    w.write_bit(window is not None)
    for v in window or ():
        w.write_ue(v)
    w.write_ue(depth_minus8)
    w.write_ue(depth_minus8)
    w.write_bit(1)
    return w.getvalue()


# (name, SPS, width, height)
SPS_CASES = [
    ("x265_1080p", SPS_1080, 1920, 1080),
    ("x265_720p_main10", SPS_720_10BIT, 1280, 720),
    ("plain", make_sps(), 320, 240),
    ("window_420", make_sps(height=248, window=(1, 0, 0, 4)), 318, 240),
    ("window_422", make_sps(chroma_format_idc=2, window=(1, 1, 1, 1)), 316, 238),
    ("window_444", make_sps(chroma_format_idc=3, window=(1, 1, 1, 1)), 318, 238),
    ("window_mono", make_sps(chroma_format_idc=0, window=(1, 1, 1, 1)), 318, 238),
    (
        "separate_planes",
        make_sps(chroma_format_idc=3, separate_planes=True, window=(2, 0, 0, 0)),
        318,
        240,
    ),
    ("sub_layers", make_sps(sub_layers_minus1=3), 320, 240),
]


@pytest.mark.parametrize(
    ("sps", "width", "height"), [c[1:] for c in SPS_CASES], ids=[c[0] for c in SPS_CASES]
)
def test_parse_sps(sps: bytes, width: int, height: int) -> None:
    info = hevc.parse_sps(sps)
    assert (info.width, info.height) == (width, height)


def test_parse_sps_fields() -> None:
    info = hevc.parse_sps(make_sps(sub_layers_minus1=2, depth_minus8=2))
    assert (info.general_tier_flag, info.general_profile_idc, info.general_level_idc) == (1, 1, 93)
    assert (info.max_sub_layers, info.bit_depth_luma, info.bit_depth_chroma) == (3, 10, 10)


@pytest.mark.parametrize(
    ("sps", "message"),
    [
        (b"\x42", "not an HEVC SPS"),
        (PPS, "not an HEVC SPS"),
        (SPS_1080[:10], "underrun"),
        (make_sps(sub_layers_minus1=7), "sps_max_sub_layers_minus1 7"),
        (make_sps(chroma_format_idc=4), "chroma_format_idc = 4"),
        (make_sps(width=20000), "pic_width_in_luma_samples"),
        (make_sps(window=(200, 0, 0, 0)), "picture size"),
        (make_sps(width=0), "picture size"),
        (make_sps(depth_minus8=9), "bit_depth_luma_minus8"),
    ],
)
def test_parse_sps_errors(sps: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        hevc.parse_sps(sps)


@given(st.binary(max_size=60))
def test_sps_arbitrary_only_media_error(data: bytes) -> None:
    try:
        hevc.parse_sps(b"\x42\x01" + data)
    except MediaError:
        pass


# --------------------------------------------------------------------------- fixture vs PyAV


def test_fixture_matches_pyav() -> None:
    data = fixture_bytes("flv/hevc.flv")
    tags = flv.FlvReader().receive_data(data)
    videos = [flv.parse_video(t.data) for t in tags if t.tag_type == flv.TAG_VIDEO]
    seq = next(v for v in videos if v.packet_type == "sequence_header")
    config = hevc.parse_hevc_decoder_config(seq.payload)
    info = hevc.parse_sps(config.sps[0])
    with av.open(io.BytesIO(data), mode="r", format="flv") as container:
        ctx = container.streams.video[0].codec_context
        assert ctx.extradata == seq.payload
        assert (info.width, info.height) == (ctx.width, ctx.height) == (320, 240)
    assert (config.general_profile_idc, config.chroma_format_idc) == (info.general_profile_idc, 1)
    rebuilt = hevc.parse_hevc_decoder_config(
        hevc.build_hevc_decoder_config(config.vps, config.sps, config.pps)
    )
    assert (rebuilt.vps, rebuilt.sps, rebuilt.pps) == (config.vps, config.sps, config.pps)
    assert rebuilt.general_level_idc == config.general_level_idc
    for video in videos:
        if video.packet_type != "nalu":
            continue
        types = [hevc.nal_type(n) for n in h264.split_avcc(video.payload, config.nal_length_size)]
        assert any(hevc.is_irap(t) for t in types) is video.is_keyframe
