"""H.264: NAL framing, AVCDecoderConfigurationRecord, SPS (synthetic and x264-captured)."""

from __future__ import annotations

import io

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.media import flv, h264
from synctv.media.bits import BitWriter
from synctv.media.errors import MediaError
from synctv.media.h264 import AvcDecoderConfig, SpsInfo
from tests.conftest import fixture_bytes

# --------------------------------------------------------------------------- framing

# (name, AVCC payload with 4-byte lengths, NALUs, Annex B)
FRAMING_CASES = [
    ("empty", b"", [], b""),
    ("one", b"\x00\x00\x00\x02\x65\x88", [b"\x65\x88"], b"\x00\x00\x00\x01\x65\x88"),
    (
        "aud_sei_idr",
        b"\x00\x00\x00\x02\x09\xf0" + b"\x00\x00\x00\x03\x06\x05\x01" + b"\x00\x00\x00\x01\x65",
        [b"\x09\xf0", b"\x06\x05\x01", b"\x65"],
        b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x06\x05\x01\x00\x00\x00\x01\x65",
    ),
]


@pytest.mark.parametrize(
    ("avcc", "nalus", "annexb"), [c[1:] for c in FRAMING_CASES], ids=[c[0] for c in FRAMING_CASES]
)
def test_split_avcc(avcc: bytes, nalus: list[bytes], annexb: bytes) -> None:
    assert [bytes(n) for n in h264.split_avcc(avcc, 4)] == nalus
    assert h264.avcc_to_annexb(avcc, 4) == annexb


@pytest.mark.parametrize(
    ("avcc", "nalus", "annexb"), [c[1:] for c in FRAMING_CASES], ids=[c[0] for c in FRAMING_CASES]
)
def test_annexb_to_avcc(avcc: bytes, nalus: list[bytes], annexb: bytes) -> None:
    assert h264.annexb_to_avcc(nalus) == avcc
    if annexb:
        assert h264.split_annexb(annexb) == nalus


def test_split_avcc_skips_empty_and_other_length_sizes() -> None:
    assert [bytes(n) for n in h264.split_avcc(b"\x00\x02\x65\x88\x00\x00", 2)] == [b"\x65\x88"]
    assert [bytes(n) for n in h264.split_avcc(b"\x01\x41", 1)] == [b"\x41"]
    assert h264.annexb_to_avcc([b"\x41"], 1) == b"\x01\x41"


@pytest.mark.parametrize(
    ("payload", "size", "message"),
    [
        (b"\x00\x00\x00", 4, "truncated NAL length prefix"),
        (b"\x00\x00\x00\x05\x65", 4, "overruns"),
        (b"\x00", 0, "not in 1..4"),
        (b"\x01\x41" * (h264.MAX_NALUS_PER_ACCESS_UNIT + 1), 1, "more than 256"),
    ],
)
def test_split_avcc_errors(payload: bytes, size: int, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        h264.split_avcc(payload, size)


def test_annexb_to_avcc_errors() -> None:
    with pytest.raises(MediaError, match=r"not in 1\.\.4"):
        h264.annexb_to_avcc([b"\x41"], 5)
    with pytest.raises(MediaError, match="longer length prefix"):
        h264.annexb_to_avcc([bytes(256)], 1)


def test_split_annexb_variants() -> None:
    three_and_four = b"\x00\x00\x01\x67\x42\x00\x00\x00\x01\x68\xce\x00\x00\x01\x65\x00\x00"
    assert h264.split_annexb(three_and_four) == [b"\x67\x42", b"\x68\xce", b"\x65"]
    assert h264.split_annexb(b"\x00\x00\x00\x00\x01\x09\x00\x00\x01") == [b"\x09"]
    with pytest.raises(MediaError, match="no Annex B start code"):
        h264.split_annexb(b"\x65\x88")
    with pytest.raises(MediaError, match="before the first"):
        h264.split_annexb(b"\x12\x00\x00\x01\x65")
    with pytest.raises(MediaError, match="more than 256"):
        h264.split_annexb(b"\x00\x00\x01\x41" * 257)


@given(st.lists(st.binary(min_size=1, max_size=40), max_size=10), st.sampled_from([1, 2, 4]))
def test_avcc_round_trip(nalus: list[bytes], size: int) -> None:
    nalus = [n[: (1 << (8 * size)) - 1] for n in nalus]
    payload = h264.annexb_to_avcc(nalus, size)
    assert [bytes(n) for n in h264.split_avcc(payload, size)] == nalus


@given(st.binary(max_size=64), st.sampled_from([1, 2, 3, 4]))
def test_split_arbitrary_only_media_error(data: bytes, size: int) -> None:
    for call in (lambda: h264.split_avcc(data, size), lambda: h264.split_annexb(data)):
        try:
            call()
        except MediaError:
            pass


def test_nal_type() -> None:
    assert h264.nal_type(b"\x65") == h264.NAL_IDR
    assert h264.is_keyframe_nal(b"\x65")
    assert not h264.is_keyframe_nal(b"\x41")
    with pytest.raises(MediaError, match="empty"):
        h264.nal_type(b"")


# --------------------------------------------------------------------------- config record

SPS_1080P = bytes.fromhex("6742c028da01e0089f961000000300100000030320f1832a")  # x264 baseline
PPS_1080P = bytes.fromhex("68ce0fc8")

# (name, record bytes, value)
CONFIG_CASES = [
    (
        "x264_baseline_1080p",
        bytes.fromhex("0142c028ffe10018") + SPS_1080P + b"\x01\x00\x04" + PPS_1080P,
        AvcDecoderConfig(0x42, 0xC0, 0x28, 4, (SPS_1080P,), (PPS_1080P,)),
    ),
    (
        "two_sps_no_pps_len2",
        b"\x01\x64\x00\x1f\xfd\xe2\x00\x04\x67\x64\x00\x1f\x00\x04\x67\x64\x00\x1e\x00"
        + b"\xfd\xf8\xf8\x00",
        AvcDecoderConfig(0x64, 0, 0x1F, 2, (b"\x67\x64\x00\x1f", b"\x67\x64\x00\x1e"), ()),
    ),
]


@pytest.mark.parametrize(
    ("wire", "value"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_parse_avc_decoder_config(wire: bytes, value: AvcDecoderConfig) -> None:
    assert h264.parse_avc_decoder_config(wire) == value


@pytest.mark.parametrize(
    ("wire", "value"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_build_avc_decoder_config(wire: bytes, value: AvcDecoderConfig) -> None:
    built = h264.build_avc_decoder_config(
        value.sps, value.pps, nal_length_size=value.nal_length_size
    )
    assert built == wire


def test_parse_ignores_high_profile_tail() -> None:
    wire = CONFIG_CASES[0][1] + b"\xfd\xf8\xf8\x00"
    assert h264.parse_avc_decoder_config(wire) == CONFIG_CASES[0][2]


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x01\x42\xc0", "at least 7 bytes"),
        (b"\x02\x42\xc0\x28\xff\xe0\x00", "version 2"),
        (b"\x01\x42\xc0\x28\xfe\xe0\x00", "length size 3"),
        (b"\x01\x42\xc0\x28\xff\xe1\x00", "truncated SPS length"),
        (b"\x01\x42\xc0\x28\xff\xe1\x00\x05\x67", "SPS of 5 bytes"),
        (b"\x01\x42\xc0\x28\xff\xe1\x00\x00", "SPS of 0 bytes"),
        (b"\x01\x42\xc0\x28\xff\xe1\x00\x01\x67", "no PPS count"),
        (b"\x01\x42\xc0\x28\xff\xe0\x01\x00\x09\x68", "PPS of 9 bytes"),
    ],
)
def test_parse_avc_decoder_config_errors(wire: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        h264.parse_avc_decoder_config(wire)


def test_build_avc_decoder_config_errors() -> None:
    with pytest.raises(MediaError, match="SPS of at least 4"):
        h264.build_avc_decoder_config([], [])
    with pytest.raises(MediaError, match="too many"):
        h264.build_avc_decoder_config([SPS_1080P] * 32, [])
    with pytest.raises(MediaError, match="length size 3"):
        h264.build_avc_decoder_config([SPS_1080P], [], nal_length_size=3)
    with pytest.raises(MediaError, match="u16 length"):
        h264.build_avc_decoder_config([SPS_1080P], [b""])


@given(
    st.lists(st.binary(min_size=4, max_size=30), min_size=1, max_size=3),
    st.lists(st.binary(min_size=1, max_size=10), max_size=3),
    st.sampled_from([1, 2, 4]),
)
def test_config_round_trip(sps: list[bytes], pps: list[bytes], size: int) -> None:
    config = h264.parse_avc_decoder_config(
        h264.build_avc_decoder_config(sps, pps, nal_length_size=size)
    )
    assert config == AvcDecoderConfig(sps[0][1], sps[0][2], sps[0][3], size, tuple(sps), tuple(pps))


@given(st.binary(max_size=60))
def test_config_arbitrary_only_media_error(data: bytes) -> None:
    try:
        h264.parse_avc_decoder_config(data)
    except MediaError:
        pass


# --------------------------------------------------------------------------- SPS


def make_sps(
    *,
    profile_idc: int = 66,
    chroma_format_idc: int = 1,
    separate_planes: bool = False,
    scaling_lists: dict[int, list[int]] | None = None,
    poc_type: int = 0,
    width_mbs: int = 20,
    height_units: int = 15,
    frame_mbs_only: bool = True,
    crop: tuple[int, int, int, int] | None = None,
    bit_depth_luma: int = 8,
) -> bytes:
    """An SPS NAL unit written field by field (H.264 §7.3.2.1.1); no emulation prevention."""
    w = BitWriter()
    w.write_bits(0x67, 8)
    for value in (profile_idc, 0, 30):
        w.write_bits(value, 8)
    w.write_ue(0)  # sps id
    if profile_idc in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        w.write_ue(chroma_format_idc)
        if chroma_format_idc == 3:
            w.write_bit(separate_planes)
        w.write_ue(bit_depth_luma - 8)
        w.write_ue(0)
        w.write_bit(0)
        w.write_bit(scaling_lists is not None)
        if scaling_lists is not None:
            for i in range(12 if chroma_format_idc == 3 else 8):
                deltas = scaling_lists.get(i)
                w.write_bit(deltas is not None)
                for d in deltas or []:
                    w.write_se(d)
    w.write_ue(0)  # log2_max_frame_num_minus4
    w.write_ue(poc_type)
    if poc_type == 0:
        w.write_ue(2)
    elif poc_type == 1:
        w.write_bit(0)
        w.write_se(-1)
        w.write_se(2)
        w.write_ue(2)
        w.write_se(1)
        w.write_se(-3)
    w.write_ue(1)  # max_num_ref_frames
    w.write_bit(0)
    w.write_ue(width_mbs - 1)
    w.write_ue(height_units - 1)
    w.write_bit(frame_mbs_only)
    if not frame_mbs_only:
        w.write_bit(1)
    w.write_bit(1)  # direct_8x8_inference_flag
    w.write_bit(crop is not None)
    for c in crop or ():
        w.write_ue(c)
    w.write_bit(0)  # vui
    w.write_bit(1)  # rbsp_stop_one_bit
    return w.getvalue()


_FLAT_16 = [8] + [0] * 15  # first delta brings next_scale to 16, then stays
_STOP_EARLY = [-8]  # next_scale 0: the rest of the list is not coded

# (name, SPS NAL, width, height, extra expected fields)
SPS_CASES = [
    ("baseline_320x240", make_sps(), 320, 240, {"profile_idc": 66}),
    ("crop_1080p", make_sps(width_mbs=120, height_units=68, crop=(0, 0, 0, 4)), 1920, 1080, {}),
    ("crop_left_right", make_sps(crop=(1, 2, 0, 0)), 314, 240, {}),
    ("poc_type_1", make_sps(poc_type=1), 320, 240, {}),
    ("poc_type_2", make_sps(poc_type=2), 320, 240, {}),
    (
        "interlaced_576i",
        make_sps(width_mbs=45, height_units=18, frame_mbs_only=False),
        720,
        576,
        {"frame_mbs_only": False},
    ),
    (
        "interlaced_1080i_crop",
        make_sps(width_mbs=120, height_units=34, frame_mbs_only=False, crop=(0, 0, 0, 2)),
        1920,
        1080,
        {},
    ),
    (
        "high_scaling_lists",
        make_sps(profile_idc=100, scaling_lists={0: _FLAT_16, 3: _STOP_EARLY, 6: [1] * 64}),
        320,
        240,
        {"profile_idc": 100, "chroma_format_idc": 1},
    ),
    (
        "high444_12_lists_crop",
        make_sps(
            profile_idc=244, chroma_format_idc=3, scaling_lists={11: _STOP_EARLY}, crop=(1, 1, 1, 1)
        ),
        318,
        238,
        {"chroma_format_idc": 3},
    ),
    (
        "high444_separate_planes",
        make_sps(profile_idc=244, chroma_format_idc=3, separate_planes=True, crop=(1, 0, 0, 1)),
        319,
        239,
        {},
    ),
    (
        "monochrome_crop",
        make_sps(profile_idc=100, chroma_format_idc=0, crop=(1, 0, 1, 0)),
        319,
        239,
        {},
    ),
    ("422_crop", make_sps(profile_idc=122, chroma_format_idc=2, crop=(1, 0, 1, 0)), 318, 239, {}),
    ("high10", make_sps(profile_idc=110, bit_depth_luma=10), 320, 240, {"bit_depth_luma": 10}),
    # Captured from libx264 via PyAV (see tests/fixtures/README.md); 1080p has 0x000003 escapes.
    ("x264_baseline_1080p", SPS_1080P, 1920, 1080, {"level_idc": 40}),
    (
        "x264_interlaced_576",
        bytes.fromhex("674d401ef405a12684000003000400000300c87c50aa80"),
        720,
        576,
        {"frame_mbs_only": False, "profile_idc": 77},
    ),
    (
        "x264_high444_qcif",
        bytes.fromhex("67f4000b919682c4e840000003004000000c83c50aa8"),
        176,
        144,
        {"profile_idc": 244, "chroma_format_idc": 3},
    ),
]


@pytest.mark.parametrize(
    ("sps", "width", "height", "fields"), [c[1:] for c in SPS_CASES], ids=[c[0] for c in SPS_CASES]
)
def test_parse_sps(sps: bytes, width: int, height: int, fields: dict[str, object]) -> None:
    info = h264.parse_sps(sps)
    assert (info.width, info.height) == (width, height)
    for name, value in fields.items():
        assert getattr(info, name) == value


BAD_SPS = [
    ("empty", b"", "not an SPS"),
    ("pps", b"\x68\xce", "not an SPS"),
    ("truncated", make_sps()[:6], "underrun"),
    ("chroma_format", make_sps(profile_idc=100, chroma_format_idc=4), "chroma_format_idc = 4"),
    ("width_huge", make_sps(width_mbs=2000), "pic_width_in_mbs_minus1"),
    ("crop_all", make_sps(crop=(100, 100, 0, 0)), "cropping leaves"),
    ("poc_type_3", make_sps(poc_type=3), "pic_order_cnt_type"),
    ("scaling_delta", make_sps(profile_idc=100, scaling_lists={0: [200]}), "scaling list delta"),
]


@pytest.mark.parametrize(("sps", "message"), [c[1:] for c in BAD_SPS], ids=[c[0] for c in BAD_SPS])
def test_parse_sps_errors(sps: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        h264.parse_sps(sps)


@given(st.binary(max_size=40))
def test_sps_arbitrary_only_media_error(data: bytes) -> None:
    try:
        h264.parse_sps(b"\x67" + data)
    except MediaError:
        pass


def test_sps_info_is_frozen() -> None:
    info = h264.parse_sps(make_sps())
    assert isinstance(info, SpsInfo)
    with pytest.raises(AttributeError):
        info.width = 1  # type: ignore[misc]


# --------------------------------------------------------------------------- fixture vs PyAV


def test_fixture_sequence_header_matches_pyav() -> None:
    data = fixture_bytes("flv/h264_aac.flv")
    reader = flv.FlvReader()
    tags = reader.receive_data(data)
    seq = next(
        flv.parse_video(t.data) for t in tags if flv.is_sequence_header(flv.TAG_VIDEO, t.data)
    )
    config = h264.parse_avc_decoder_config(seq.payload)
    assert h264.build_avc_decoder_config(config.sps, config.pps) == seq.payload
    info = h264.parse_sps(config.sps[0])
    with av.open(io.BytesIO(data), mode="r", format="flv") as container:
        ctx = container.streams.video[0].codec_context
        assert (info.width, info.height) == (ctx.width, ctx.height) == (320, 240)
        assert ctx.extradata == seq.payload
        assert info.profile_idc == 100  # x264 veryfast: High
    # every coded frame splits cleanly and keyframes start with an IDR slice
    for tag in tags:
        if tag.tag_type != flv.TAG_VIDEO:
            continue
        video = flv.parse_video(tag.data)
        if video.packet_type != "nalu":
            continue
        types = [h264.nal_type(n) for n in h264.split_avcc(video.payload, config.nal_length_size)]
        assert (h264.NAL_IDR in types) is video.is_keyframe
        annexb = h264.avcc_to_annexb(video.payload, config.nal_length_size)
        assert [bytes(n) for n in h264.split_avcc(video.payload, 4)] == h264.split_annexb(annexb)


def test_build_high_profile_tail_from_sps() -> None:
    sps = make_sps(profile_idc=244, chroma_format_idc=3, bit_depth_luma=10)
    record = h264.build_avc_decoder_config([sps], [b"\x68\xce"])
    # §5.3.3.1.2: chroma_format 3, bit_depth_luma_minus8 2, chroma 0, no SPS-ext.
    assert record.endswith(b"\xff\xfa\xf8\x00")
    assert h264.parse_avc_decoder_config(record).sps == (sps,)
    baseline = h264.build_avc_decoder_config([SPS_1080P], [PPS_1080P])
    assert baseline.endswith(PPS_1080P)
