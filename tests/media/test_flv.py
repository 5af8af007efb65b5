"""FLV framing, streaming reader, tag bodies; fixtures checked against PyAV (independent oracle)."""

from __future__ import annotations

import io
import itertools

import av
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from synctv.media import flv
from synctv.media.errors import MediaError
from synctv.media.flv import (
    TAG_AUDIO,
    TAG_SCRIPT,
    TAG_VIDEO,
    AudioTag,
    FlvHeader,
    FlvReader,
    FlvTag,
    VideoTag,
)
from tests.conftest import fixture_bytes

# --------------------------------------------------------------------------- file header

# (name, wire, header)
HEADER_CASES = [
    (
        "av",
        b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00",
        FlvHeader(has_audio=True, has_video=True),
    ),
    (
        "audio",
        b"FLV\x01\x04\x00\x00\x00\x09\x00\x00\x00\x00",
        FlvHeader(has_audio=True, has_video=False),
    ),
    (
        "video",
        b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00",
        FlvHeader(has_audio=False, has_video=True),
    ),
    (
        "none",
        b"FLV\x01\x00\x00\x00\x00\x09\x00\x00\x00\x00",
        FlvHeader(has_audio=False, has_video=False),
    ),
]


@pytest.mark.parametrize(
    ("wire", "header"), [c[1:] for c in HEADER_CASES], ids=[c[0] for c in HEADER_CASES]
)
def test_file_header_encode(wire: bytes, header: FlvHeader) -> None:
    assert flv.file_header(has_audio=header.has_audio, has_video=header.has_video) == wire


@pytest.mark.parametrize(
    ("wire", "header"), [c[1:] for c in HEADER_CASES], ids=[c[0] for c in HEADER_CASES]
)
def test_file_header_decode(wire: bytes, header: FlvHeader) -> None:
    assert flv.parse_file_header(wire) == (header, 9)
    reader = FlvReader()
    assert reader.receive_data(wire) == []
    assert reader.header == header
    assert reader.receive_data(b"") == []


BAD_HEADERS = [
    ("short", b"FLV\x01\x05\x00\x00\x00", "needs 9 bytes"),
    ("signature", b"FLX\x01\x05\x00\x00\x00\x09", "not an FLV stream"),
    ("version", b"FLV\x02\x05\x00\x00\x00\x09", "unsupported FLV version 2"),
    ("offset_small", b"FLV\x01\x05\x00\x00\x00\x08", "DataOffset 8 out of range"),
    ("offset_huge", b"FLV\x01\x05\x00\x10\x00\x00", "DataOffset 1048576 out of range"),
]


@pytest.mark.parametrize(
    ("wire", "message"), [c[1:] for c in BAD_HEADERS], ids=[c[0] for c in BAD_HEADERS]
)
def test_bad_file_header(wire: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        flv.parse_file_header(wire)


def test_header_with_padding_is_skipped() -> None:
    wire = (
        b"FLV\x01\x01\x00\x00\x00\x0c"
        + b"xyz"
        + b"\x00\x00\x00\x00"
        + flv.encode_tag(9, 1, b"\x17")
    )
    assert FlvReader().receive_data(wire) == [FlvTag(9, 1, b"\x17")]


# --------------------------------------------------------------------------- tag framing

# (name, wire, tag): E.4.1 header, body, PreviousTagSize.
TAG_CASES = [
    (
        "video_small",
        b"\x09\x00\x00\x02\x00\x00\x28\x00\x00\x00\x00" + b"\x17\x01" + b"\x00\x00\x00\x0d",
        FlvTag(TAG_VIDEO, 40, b"\x17\x01"),
    ),
    (
        "audio_empty",
        b"\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + b"\x00\x00\x00\x0b",
        FlvTag(TAG_AUDIO, 0, b""),
    ),
    (
        "extended_timestamp",
        b"\x12\x00\x00\x01\x02\x03\x04\x01\x00\x00\x00" + b"\x05" + b"\x00\x00\x00\x0c",
        FlvTag(TAG_SCRIPT, 0x01020304, b"\x05"),
    ),
    (
        "max_timestamp",
        b"\x09\x00\x00\x01\xff\xff\xff\xff\x00\x00\x00" + b"\x27" + b"\x00\x00\x00\x0c",
        FlvTag(TAG_VIDEO, 0xFFFFFFFF, b"\x27"),
    ),
]


@pytest.mark.parametrize(("wire", "tag"), [c[1:] for c in TAG_CASES], ids=[c[0] for c in TAG_CASES])
def test_encode_tag(wire: bytes, tag: FlvTag) -> None:
    assert flv.encode_tag(tag.tag_type, tag.timestamp, tag.data) == wire


@pytest.mark.parametrize(("wire", "tag"), [c[1:] for c in TAG_CASES], ids=[c[0] for c in TAG_CASES])
def test_decode_tag(wire: bytes, tag: FlvTag) -> None:
    assert FlvReader(expect_header=False).receive_data(wire) == [tag]


def test_encode_tag_wraps_timestamp() -> None:
    assert flv.encode_tag(9, 2**32 + 40, b"x") == flv.encode_tag(9, 40, b"x")
    assert flv.encode_tag(9, -1, b"x") == flv.encode_tag(9, 0xFFFFFFFF, b"x")


def test_encode_tag_too_big() -> None:
    with pytest.raises(MediaError, match="u24"):
        flv.encode_tag(9, 0, bytes(1 << 24))


def _stream(tags: list[FlvTag]) -> bytes:
    return flv.file_header(has_audio=True, has_video=True) + b"".join(
        flv.encode_tag(t.tag_type, t.timestamp, t.data) for t in tags
    )


SMALL_TAGS = [c[2] for c in TAG_CASES] + [FlvTag(TAG_VIDEO, 80, bytes(range(50)))]
SMALL_STREAM = _stream(SMALL_TAGS)


def _feed(chunks: list[bytes]) -> list[FlvTag]:
    reader = FlvReader()
    out: list[FlvTag] = []
    for chunk in chunks:
        out += reader.receive_data(chunk)
    out += reader.receive_data(b"")
    return out


def test_reader_whole() -> None:
    assert _feed([SMALL_STREAM]) == SMALL_TAGS


def test_reader_byte_by_byte() -> None:
    assert _feed([SMALL_STREAM[i : i + 1] for i in range(len(SMALL_STREAM))]) == SMALL_TAGS


@given(st.lists(st.integers(0, len(SMALL_STREAM)), max_size=12))
def test_reader_random_splits(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(SMALL_STREAM)]
    chunks = [SMALL_STREAM[a:b] for a, b in itertools.pairwise(points) if b > a]
    assert _feed(chunks) == SMALL_TAGS


def test_reader_trailing_bytes_left_pending() -> None:
    reader = FlvReader()
    last = flv.encode_tag(9, 120, b"\x27\x01\x00\x00\x00")
    assert reader.receive_data(SMALL_STREAM + last[:-3]) == SMALL_TAGS
    assert reader.receive_data(last[-3:]) == [FlvTag(9, 120, b"\x27\x01\x00\x00\x00")]
    assert reader.receive_data(b"") == []
    with pytest.raises(MediaError, match="data after EOF"):
        reader.receive_data(b"x")


def test_reader_trailing_bytes_raise_at_eof() -> None:
    reader = FlvReader()
    reader.receive_data(SMALL_STREAM + b"\x09\x00\x00")
    with pytest.raises(MediaError, match=r"ended inside a tag \(3 bytes pending\)"):
        reader.receive_data(b"")
    with pytest.raises(MediaError, match="already failed"):
        reader.receive_data(b"\x00")


def test_every_prefix_is_need_more_data() -> None:
    boundaries = {13}
    pos = 13
    for tag in SMALL_TAGS:
        pos += 15 + len(tag.data)
        boundaries.add(pos)
    for n in range(len(SMALL_STREAM)):
        reader = FlvReader()
        tags = reader.receive_data(SMALL_STREAM[:n]) if n else []
        assert tags == SMALL_TAGS[: len(tags)]
        if n in boundaries or n == 0:
            assert reader.receive_data(b"") == []
        else:
            with pytest.raises(MediaError, match="ended inside"):
                reader.receive_data(b"")


def test_oversize_tag_rejected_before_buffering() -> None:
    reader = FlvReader(max_tag_size=100)
    header = b"\x09\x00\x00\x65\x00\x00\x00\x00\x00\x00\x00"  # DataSize 101
    with pytest.raises(MediaError, match="101 bytes exceeds limit 100"):
        reader.receive_data(flv.file_header(has_audio=False, has_video=True) + header)


def test_filter_bit_rejected() -> None:
    wire = bytearray(flv.encode_tag(9, 0, b"\x17"))
    wire[0] |= 0x20
    with pytest.raises(MediaError, match="Filter"):
        FlvReader(expect_header=False).receive_data(bytes(wire))


def test_reserved_bits_masked_from_tag_type() -> None:
    wire = bytearray(flv.encode_tag(8, 0, b"\xaf"))
    wire[0] |= 0xC0
    assert FlvReader(expect_header=False).receive_data(bytes(wire)) == [FlvTag(8, 0, b"\xaf")]


@given(st.binary(max_size=200))
@example(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x09\xff\xff\xff")
def test_arbitrary_bytes_only_media_error(data: bytes) -> None:
    for prefix in (b"", flv.file_header(has_audio=True, has_video=True)):
        reader = FlvReader(max_tag_size=64)
        try:
            reader.receive_data(prefix + data)
            reader.receive_data(b"")
        except MediaError:
            pass


# --------------------------------------------------------------------------- video bodies

NALU = b"\x00\x00\x00\x02\x65\x88"
HVCC = b"\x01\x01\x60"  # placeholder record bytes: parse_video does not look inside

# (name, accepted wire, canonical wire, parsed value)
VIDEO_CASES = [
    (
        "avc_sequence_header",
        b"\x17\x00\x00\x00\x00" + b"\x01\x64",
        None,
        VideoTag("avc", 1, True, "sequence_header", 0, b"\x01\x64"),
    ),
    (
        "avc_keyframe_positive_ct",
        b"\x17\x01\x00\x00\x50" + NALU,
        None,
        VideoTag("avc", 1, True, "nalu", 80, NALU),
    ),
    (
        "avc_inter_negative_ct",
        b"\x27\x01\xff\xff\xd8" + NALU,
        None,
        VideoTag("avc", 2, False, "nalu", -40, NALU),
    ),
    (
        "avc_end_of_sequence",
        b"\x17\x02\x00\x00\x00",
        None,
        VideoTag("avc", 1, True, "end_of_sequence", 0, b""),
    ),
    ("avc_unknown_packet", b"\x27\x09\x00\x00\x00", None, None),
    (
        "hevc_legacy_id12",
        b"\x1c\x01\x00\x00\x28" + NALU,
        None,
        VideoTag("hevc", 1, True, "nalu", 40, NALU),
    ),
    ("h263", b"\x22" + b"\xab\xcd", None, VideoTag("h263", 2, False, "other", 0, b"\xab\xcd")),
    ("unknown_codec", b"\x2e\x00", None, None),
    ("legacy_command_frame", b"\x57\x00", None, VideoTag("avc", 5, False, "other", 0, b"\x00")),
    (
        "ex_hevc_sequence_start",
        b"\x90hvc1" + HVCC,
        None,
        VideoTag("hevc", 1, True, "sequence_header", 0, HVCC, enhanced=True),
    ),
    (
        "ex_hevc_coded_frames",
        b"\x91hvc1\x00\x00\x50" + NALU,
        None,
        VideoTag("hevc", 1, True, "nalu", 80, NALU, enhanced=True),
    ),
    (
        "ex_hevc_coded_frames_x",
        b"\xa3hvc1" + NALU,
        None,
        VideoTag("hevc", 2, False, "nalu", 0, NALU, enhanced=True),
    ),
    (
        "ex_avc_end",
        b"\x92avc1",
        None,
        VideoTag("avc", 1, True, "end_of_sequence", 0, b"", enhanced=True),
    ),
    (
        "ex_av1_frames_no_ct",
        b"\x91av01\x12\x00",
        None,
        VideoTag("av1", 1, True, "nalu", 0, b"\x12\x00", enhanced=True),
    ),
    (
        "ex_vp9_frames",
        b"\xa1vp09\x82",
        None,
        VideoTag("vp9", 2, False, "nalu", 0, b"\x82", enhanced=True),
    ),
    (
        "ex_metadata_command_frame",
        b"\xd4hvc1\x02\x00\x09colorInfo",
        None,
        VideoTag("hevc", 5, False, "metadata", 0, b"\x02\x00\x09colorInfo", enhanced=True),
    ),
    ("ex_command_frame_other", b"\xd1hvc1\x00", None, None),
    ("ex_mpeg2ts_sequence_start", b"\x95av01\x00", None, None),
    (
        "ex_unknown_fourcc",
        b"\x91xxxx\x00",
        None,
        VideoTag("other", 1, True, "nalu", 0, b"\x00", enhanced=True),
    ),
    (
        "ex_modex_prefix",
        b"\x97" + b"\x02" + b"\x00\x01\x02" + b"\x01" + b"hvc1\x00\x00\x00" + NALU,
        b"\x93hvc1" + NALU,
        VideoTag("hevc", 1, True, "nalu", 0, NALU, enhanced=True),
    ),
    (
        "ex_modex_long_size",
        b"\x97" + b"\xff\x01\x01" + bytes(258) + b"\x00" + b"hvc1" + HVCC,
        b"\x90hvc1" + HVCC,
        VideoTag("hevc", 1, True, "sequence_header", 0, HVCC, enhanced=True),
    ),
    (
        "ex_multitrack_one_track",
        b"\x96\x01hvc1\x03\x00\x00\x28" + NALU,
        None,
        VideoTag("hevc", 1, True, "nalu", 40, NALU, enhanced=True, track_id=3),
    ),
    (
        "ex_multitrack_many",
        b"\x96\x11hvc1\x00\x00\x00\x01",
        None,
        VideoTag("other", 1, True, "other", 0, b"hvc1\x00\x00\x00\x01", enhanced=True),
    ),
]


def _video_id(case: tuple[str, bytes, bytes | None, VideoTag | None]) -> str:
    return case[0]


@pytest.mark.parametrize("case", VIDEO_CASES, ids=_video_id)
def test_parse_video(case: tuple[str, bytes, bytes | None, VideoTag | None]) -> None:
    _, wire, _, value = case
    parsed = flv.parse_video(wire)
    if value is not None:
        assert parsed == value
    else:
        assert parsed.packet_type == "other"
    assert flv.is_video_keyframe(wire) is parsed.is_keyframe
    assert flv.is_sequence_header(TAG_VIDEO, wire) is (parsed.packet_type == "sequence_header")


@pytest.mark.parametrize(
    "case", [c for c in VIDEO_CASES if c[3] is not None and c[3].codec != "other"], ids=_video_id
)
def test_encode_video(case: tuple[str, bytes, bytes | None, VideoTag | None]) -> None:
    _, wire, canonical, value = case
    assert value is not None
    assert flv.encode_video(value) == (canonical or wire)
    assert flv.parse_video(flv.encode_video(value)) == value


BAD_VIDEO = [
    ("empty", b"", "video tag: need 1 bytes"),
    ("avc_short", b"\x17\x01\x00", "avc video tag: need 5 bytes"),
    ("ex_no_fourcc", b"\x91hv", "enhanced video tag: need 5"),
    ("ex_no_ct", b"\x91hvc1\x00", "enhanced video tag: need 8"),
    ("modex_truncated", b"\x97", "enhanced video tag"),
    ("modex_long_truncated", b"\x97\xff\x00", "enhanced video tag"),
    ("modex_no_type", b"\x97\x00\x00", "enhanced video tag"),
    ("modex_loop", b"\x97" + b"\x00\x00\x07" * 9, "ModEx prefixes"),
    ("multitrack_short", b"\x96", "enhanced video tag"),
    ("multitrack_no_track_id", b"\x96\x01hvc1", "enhanced video tag"),
]


@pytest.mark.parametrize(
    ("wire", "message"), [c[1:] for c in BAD_VIDEO], ids=[c[0] for c in BAD_VIDEO]
)
def test_parse_video_errors(wire: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        flv.parse_video(wire)


BAD_VIDEO_ENCODE = [
    ("frame_type", VideoTag("avc", 16, False, "nalu", 0, b"")),
    ("ex_frame_type", VideoTag("hevc", 8, False, "nalu", 0, b"", enhanced=True)),
    ("ct_range", VideoTag("avc", 1, True, "nalu", 1 << 23, b"")),
    ("no_codec_id", VideoTag("av1", 1, True, "nalu", 0, b"")),
    ("legacy_metadata", VideoTag("avc", 1, True, "metadata", 0, b"")),
    ("no_fourcc", VideoTag("h263", 1, True, "nalu", 0, b"", enhanced=True)),
    ("ex_other", VideoTag("hevc", 1, True, "other", 0, b"", enhanced=True)),
]


@pytest.mark.parametrize(
    "tag", [c[1] for c in BAD_VIDEO_ENCODE], ids=[c[0] for c in BAD_VIDEO_ENCODE]
)
def test_encode_video_errors(tag: VideoTag) -> None:
    with pytest.raises(MediaError):
        flv.encode_video(tag)


def test_encode_video_legacy_other_passthrough() -> None:
    tag = VideoTag("avc", 5, False, "other", 0, b"\x01")
    assert flv.encode_video(tag) == b"\x57\x01"


@given(st.binary(max_size=40))
@example(b"\x97\xff")
@example(b"\x96\x21")
def test_parse_video_arbitrary(data: bytes) -> None:
    try:
        flv.parse_video(data)
    except MediaError:
        pass
    flv.is_video_keyframe(data)
    flv.is_sequence_header(TAG_VIDEO, data)


# --------------------------------------------------------------------------- audio bodies

ASC = b"\x12\x10"

# (name, accepted wire, canonical wire, value)
AUDIO_CASES = [
    (
        "aac_sequence_header",
        b"\xaf\x00" + ASC,
        None,
        AudioTag("aac", True, ASC, 3, 1, 2, 10, "sequence_header"),
    ),
    (
        "aac_raw",
        b"\xaf\x01\x21\x10",
        None,
        AudioTag("aac", False, b"\x21\x10", 3, 1, 2, 10, "coded_frames"),
    ),
    (
        "aac_mono_22k",
        b"\xaa\x01\x21",
        None,
        AudioTag("aac", False, b"\x21", 2, 1, 1, 10, "coded_frames"),
    ),
    (
        "aac_unknown_packet",
        b"\xaf\x05",
        b"\xaf\x01",
        AudioTag("aac", False, b"", 3, 1, 2, 10, "other"),
    ),
    ("mp3", b"\x2f\xff\xfb", None, AudioTag("mp3", False, b"\xff\xfb", 3, 1, 2, 2, "coded_frames")),
    ("mp3_8k", b"\xe2\xff", None, AudioTag("mp3", False, b"\xff", 0, 1, 1, 14, "coded_frames")),
    ("pcm_alaw", b"\x72\x55", None, AudioTag("other", False, b"\x55", 0, 1, 1, 7, "coded_frames")),
    (
        "ex_aac_sequence_start",
        b"\x90mp4a" + ASC,
        None,
        AudioTag("aac", True, ASC, 0, 0, 0, 9, "sequence_header"),
    ),
    (
        "ex_opus_frames",
        b"\x91Opus\xfc",
        None,
        AudioTag("opus", False, b"\xfc", 0, 0, 0, 9, "coded_frames"),
    ),
    ("ex_flac_end", b"\x92fLaC", None, AudioTag("flac", False, b"", 0, 0, 0, 9, "end_of_sequence")),
    (
        "ex_multichannel_config",
        b"\x94ac-3\x01",
        None,
        AudioTag("ac3", False, b"\x01", 0, 0, 0, 9, "other"),
    ),
    (
        "ex_modex",
        b"\x97\x00\x05\x01" + b".mp3\xff",
        b"\x91.mp3\xff",
        AudioTag("mp3", False, b"\xff", 0, 0, 0, 9, "coded_frames"),
    ),
    (
        "ex_multitrack_one",
        b"\x95\x00mp4a\x01" + ASC,
        b"\x90mp4a" + ASC,
        AudioTag("aac", True, ASC, 0, 0, 0, 9, "sequence_header"),
    ),
    (
        "ex_multitrack_many",
        b"\x95\x21Opus",
        None,
        AudioTag("other", False, b"Opus", 0, 0, 0, 9, "other"),
    ),
]


def _audio_id(case: tuple[str, bytes, bytes | None, AudioTag]) -> str:
    return case[0]


@pytest.mark.parametrize("case", AUDIO_CASES, ids=_audio_id)
def test_parse_audio(case: tuple[str, bytes, bytes | None, AudioTag]) -> None:
    _, wire, _, value = case
    assert flv.parse_audio(wire) == value
    assert flv.is_sequence_header(TAG_AUDIO, wire) is value.is_sequence_header


def _audio_encodable(case: tuple[str, bytes, bytes | None, AudioTag]) -> bool:
    tag = case[3]
    return tag.sound_format != 9 or (tag.codec != "other" and tag.packet_type != "other")


@pytest.mark.parametrize("case", [c for c in AUDIO_CASES if _audio_encodable(c)], ids=_audio_id)
def test_encode_audio(case: tuple[str, bytes, bytes | None, AudioTag]) -> None:
    _, wire, canonical, value = case
    assert flv.encode_audio(value) == (canonical or wire)
    if canonical is None:
        assert flv.parse_audio(flv.encode_audio(value)) == value


BAD_AUDIO = [
    ("empty", b"", "audio tag: need 1"),
    ("aac_short", b"\xaf", "AAC audio tag: need 2"),
    ("ex_no_fourcc", b"\x90mp4", "enhanced audio tag"),
    ("ex_multitrack_short", b"\x95", "enhanced audio tag"),
    ("ex_multitrack_no_track", b"\x95\x00mp4a", "enhanced audio tag"),
]


@pytest.mark.parametrize(
    ("wire", "message"), [c[1:] for c in BAD_AUDIO], ids=[c[0] for c in BAD_AUDIO]
)
def test_parse_audio_errors(wire: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        flv.parse_audio(wire)


@pytest.mark.parametrize(
    "tag",
    [
        AudioTag("other", False, b"", 0, 0, 0, 9, "coded_frames"),
        AudioTag("aac", False, b"", 0, 0, 0, 9, "other"),
        AudioTag("aac", False, b"", 4, 1, 2),
        AudioTag("aac", False, b"", 3, 1, 3),
        AudioTag("aac", False, b"", 3, 2, 2),
        AudioTag("aac", False, b"", 3, 1, 2, 16),
    ],
)
def test_encode_audio_errors(tag: AudioTag) -> None:
    with pytest.raises(MediaError):
        flv.encode_audio(tag)


@given(st.binary(max_size=40))
@example(b"\x97\x00")
def test_parse_audio_arbitrary(data: bytes) -> None:
    try:
        flv.parse_audio(data)
    except MediaError:
        pass
    flv.is_sequence_header(TAG_AUDIO, data)


# --------------------------------------------------------------------------- fast helpers

# (name, tag type, body, is sequence header)
SEQ_HEADER_CASES = [
    ("empty", TAG_VIDEO, b"", False),
    ("script", TAG_SCRIPT, b"\x02\x00", False),
    ("avc_one_byte", TAG_VIDEO, b"\x17", False),
    ("vp6", TAG_VIDEO, b"\x14\x00", False),
    ("ex_multitrack_seq", TAG_VIDEO, b"\x96\x00hvc1\x00", True),
    ("ex_multitrack_truncated", TAG_VIDEO, b"\x96", False),
    ("ex_modex_seq", TAG_VIDEO, b"\x97\x00\x00\x00hvc1", True),
    ("ex_modex_broken", TAG_VIDEO, b"\x97\x00", False),
    ("aac_one_byte", TAG_AUDIO, b"\xaf", False),
    ("ex_audio_multitrack_seq", TAG_AUDIO, b"\x95\x00mp4a\x00", True),
    ("ex_audio_multitrack_truncated", TAG_AUDIO, b"\x95", False),
    ("ex_audio_modex_seq", TAG_AUDIO, b"\x97\x00\x00\x00mp4a", True),
    ("ex_audio_modex_broken", TAG_AUDIO, b"\x97\x00", False),
    ("mp3", TAG_AUDIO, b"\x2f\x00", False),
]


@pytest.mark.parametrize(
    ("tag_type", "body", "expected"),
    [c[1:] for c in SEQ_HEADER_CASES],
    ids=[c[0] for c in SEQ_HEADER_CASES],
)
def test_is_sequence_header(tag_type: int, body: bytes, expected: bool) -> None:
    assert flv.is_sequence_header(tag_type, body) is expected
    assert flv.is_sequence_header(tag_type, memoryview(body)) is expected


def test_is_video_keyframe() -> None:
    assert not flv.is_video_keyframe(b"")
    assert flv.is_video_keyframe(b"\x17")
    assert flv.is_video_keyframe(b"\x91")
    assert not flv.is_video_keyframe(b"\x27")
    assert not flv.is_video_keyframe(b"\xa1")


# --------------------------------------------------------------------------- fixtures vs PyAV

FIXTURES = ["flv/h264_aac.flv", "flv/aac_only.flv", "flv/hevc.flv"]


def read_fixture(name: str) -> tuple[FlvHeader | None, list[FlvTag]]:
    reader = FlvReader()
    tags = reader.receive_data(fixture_bytes(name))
    assert reader.receive_data(b"") == []
    return reader.header, tags


def _pyav_packets(data: bytes) -> list[tuple[str, int | None, int | None, bool, bytes]]:
    with av.open(io.BytesIO(data), mode="r", format="flv") as container:
        return [
            (p.stream.type, p.pts, p.dts, p.is_keyframe, bytes(p))
            for p in container.demux()
            if p.size
        ]


def _our_packets(tags: list[FlvTag]) -> list[tuple[str, int | None, int | None, bool, bytes]]:
    out: list[tuple[str, int | None, int | None, bool, bytes]] = []
    for tag in tags:
        if tag.tag_type == TAG_VIDEO:
            v = flv.parse_video(tag.data)
            if v.packet_type == "nalu":
                pts = tag.timestamp + v.composition_time
                out.append(("video", pts, tag.timestamp, v.is_keyframe, v.payload))
        elif tag.tag_type == TAG_AUDIO:
            a = flv.parse_audio(tag.data)
            if not a.is_sequence_header:
                out.append(("audio", tag.timestamp, tag.timestamp, True, a.payload))
    return out


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_matches_pyav(name: str) -> None:
    header, tags = read_fixture(name)
    assert header is not None
    assert tags[0].tag_type == TAG_SCRIPT
    ours = _our_packets(tags)
    theirs = _pyav_packets(fixture_bytes(name))
    assert len(ours) == len(theirs)
    # PyAV interleaves by its own rule; compare per stream, in order.
    for kind in ("video", "audio"):
        assert [p for p in ours if p[0] == kind] == [p for p in theirs if p[0] == kind]
    keyframes = [p[2] for p in ours if p[0] == "video" and p[3]]
    if "aac_only" not in name:
        assert keyframes == [0, 1000]  # 1 s GOP at 25 fps
        assert header.has_video
        assert any(flv.is_sequence_header(TAG_VIDEO, t.data) for t in tags[:3])
    if "hevc" not in name:
        assert header.has_audio
        assert any(flv.is_sequence_header(TAG_AUDIO, t.data) for t in tags[:4])


def test_hevc_fixture_is_enhanced_rtmp() -> None:
    _, tags = read_fixture("flv/hevc.flv")
    videos = [flv.parse_video(t.data) for t in tags if t.tag_type == TAG_VIDEO]
    assert all(v.enhanced and v.codec == "hevc" for v in videos)
    assert videos[0].packet_type == "sequence_header"
    assert any(v.composition_time for v in videos)  # B-frames


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_reencode_is_byte_exact(name: str) -> None:
    header, tags = read_fixture(name)
    assert header is not None
    for tag in tags:
        if tag.tag_type == TAG_VIDEO:
            assert flv.encode_video(flv.parse_video(tag.data)) == tag.data
        elif tag.tag_type == TAG_AUDIO:
            assert flv.encode_audio(flv.parse_audio(tag.data)) == tag.data
    remuxed = flv.file_header(has_audio=header.has_audio, has_video=header.has_video) + b"".join(
        flv.encode_tag(t.tag_type, t.timestamp, t.data) for t in tags
    )
    assert remuxed == fixture_bytes(name)


@pytest.mark.parametrize("name", FIXTURES)
def test_remuxed_by_encode_tag_is_read_by_pyav(name: str) -> None:
    """Independent oracle: our writer's output, shifted by 2**24 ms, still demuxes identically."""
    _, tags = read_fixture(name)
    shift = 1 << 24  # forces the TimestampExtended byte into use
    remuxed = flv.file_header(has_audio=True, has_video=True) + b"".join(
        flv.encode_tag(t.tag_type, t.timestamp + shift, t.data) for t in tags
    )
    theirs = _pyav_packets(remuxed)
    expected = [
        (
            kind,
            None if pts is None else pts + shift,
            None if dts is None else dts + shift,
            key,
            data,
        )
        for kind, pts, dts, key, data in _pyav_packets(fixture_bytes(name))
    ]
    for kind in ("video", "audio"):
        assert [p for p in theirs if p[0] == kind] == [p for p in expected if p[0] == kind]


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_truncated_prefixes(name: str) -> None:
    data = fixture_bytes(name)
    _, tags = read_fixture(name)
    for n in range(0, len(data), max(1, len(data) // 97)):
        reader = FlvReader()
        got = reader.receive_data(data[:n]) if n else []
        assert got == tags[: len(got)]
