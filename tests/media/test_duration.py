"""Durations from first bytes: MP4 moov/mvhd, FLV onMetaData, HLS EXTINF sums; arbitrary bytes
raise DurationError or answer, never anything else."""

from __future__ import annotations

import struct

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from synctv.media import amf0
from synctv.media.duration import (
    MAX_MOOV_BYTES,
    DurationError,
    ReadAt,
    Variant,
    flv_duration,
    hls_duration,
    mp4_duration,
    probe,
)
from synctv.media.flv import TAG_SCRIPT, TAG_VIDEO, encode_tag, file_header
from tests.conftest import FIXTURES


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def large_box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 1) + kind + struct.pack(">Q", 16 + len(body)) + body


def mvhd_v0(timescale: int, duration: int) -> bytes:
    return box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, timescale, duration) + bytes(80))


def mvhd_v1(timescale: int, duration: int) -> bytes:
    body = b"\x01\x00\x00\x00" + struct.pack(">QQIQ", 0, 0, timescale, duration) + bytes(80)
    return box(b"mvhd", body)


FTYP = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2avc1mp41")
MOOV = box(b"moov", box(b"iods", bytes(16)) + mvhd_v0(1000, 90_500))
MDAT = box(b"mdat", bytes(1000))

MP4_CASES = [
    ("faststart", FTYP + MOOV + MDAT, 90.5),
    ("v1", FTYP + box(b"moov", mvhd_v1(90000, 90000 * 7200)), 7200.0),
    ("largesize moov", FTYP + large_box(b"moov", mvhd_v0(600, 600)), 1.0),
    ("unknown", FTYP + box(b"moov", mvhd_v0(1000, 0xFFFFFFFF)), None),
    ("zero", FTYP + box(b"moov", mvhd_v0(1000, 0)), None),
]


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in MP4_CASES], ids=[c[0] for c in MP4_CASES]
)
def test_mp4(data: bytes, expected: float | None) -> None:
    assert mp4_duration(data) == expected
    assert probe(data) == expected


def test_mp4_moov_at_the_end_is_read_where_it_is() -> None:
    whole = FTYP + MDAT + MOOV
    first = mp4_duration(whole[:100])  # inside mdat: the next box header is after it
    assert first == ReadAt(len(FTYP) + len(MDAT), 16)
    header = whole[first.offset : first.offset + first.length]
    second = mp4_duration(header, base=first.offset)
    assert second == ReadAt(first.offset, len(MOOV))
    assert mp4_duration(whole[second.offset : second.offset + second.length], second.offset) == 90.5


def test_mp4_moov_cut_short_asks_for_all_of_it() -> None:
    assert mp4_duration((FTYP + MOOV)[:-10]) == ReadAt(len(FTYP), len(MOOV))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "too few"),
        (box(b"abcd", b""), "not an MP4"),
        (FTYP + struct.pack(">I", 4) + b"moov", "shorter than its header"),
        (FTYP + box(b"moov", box(b"trak", b"")), "without mvhd"),
        (FTYP + box(b"moov", mvhd_v0(0, 5)), "timescale 0"),
        (FTYP + box(b"moov", box(b"mvhd", b"\x02" + bytes(30))), "version 2"),
        (FTYP + struct.pack(">I", MAX_MOOV_BYTES + 9) + b"moov", "too large"),
        (FTYP + box(b"moov", mvhd_v1(1, 2**63)), "not plausible"),
    ],
)
def test_mp4_refusals(data: bytes, message: str) -> None:
    with pytest.raises(DurationError, match=message):
        mp4_duration(data)


def flv(*tags: bytes) -> bytes:
    return file_header(has_audio=False, has_video=True) + b"".join(tags)


def script(name: str, value: amf0.Amf0Value) -> bytes:
    return encode_tag(TAG_SCRIPT, 0, amf0.encode(name, value))


def test_flv() -> None:
    assert flv_duration(flv(script("onMetaData", amf0.EcmaArray(duration=12.5)))) == 12.5
    assert flv_duration(flv(script("onMetaData", {"duration": 3, "width": 640.0}))) == 3.0
    assert flv_duration(flv(script("onMetaData", {"width": 640.0}))) is None
    assert flv_duration(flv(script("onMetaData", {"duration": 0.0}))) is None  # live
    assert flv_duration(flv(encode_tag(TAG_VIDEO, 0, b"\x17\x00\x00\x00\x00"))) is None
    assert flv_duration(flv()) is None
    ffmpeg_made = (FIXTURES / "flv" / "h264_aac.flv").read_bytes()  # FFmpeg wrote 2.08 s
    assert probe(ffmpeg_made) == 2.08
    assert probe(ffmpeg_made[:2000]) == 2.08  # the metadata is in the first tag
    with pytest.raises(DurationError, match="FLV script data"):
        flv_duration(flv(encode_tag(TAG_SCRIPT, 0, b"\x02\x00\x10on")))


def test_hls() -> None:
    ended = (FIXTURES / "hls" / "discontinuity_ended.m3u8").read_bytes()
    assert hls_duration(ended) == pytest.approx(4.0 + 6.499 + 0.333)
    assert probe(ended) == hls_duration(ended)
    assert hls_duration((FIXTURES / "hls" / "live_window.m3u8").read_bytes()) is None
    master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n/proxy/v2.abc\n"
    assert probe(master) == Variant("/proxy/v2.abc")
    for bad, message in [
        (b"\xff\xfe", "not UTF-8"),
        (b"#EXTINF:1,\n", "starts with #EXTM3U"),
        (b"#EXTM3U\n#EXTINF:abc,\nx.ts\n#EXT-X-ENDLIST\n", "not a number"),
        (b"#EXTM3U\n#EXTINF:-1,\nx.ts\n#EXT-X-ENDLIST\n", "out of range"),
        (b"#EXTM3U\n#EXTINF:inf,\nx.ts\n#EXT-X-ENDLIST\n", "out of range"),
    ]:
        with pytest.raises(DurationError, match=message):
            hls_duration(bad)


@given(st.binary(max_size=512))
@example(b"FLV\x01\x01\x00\x00\x00\x09")
@example(b"#EXTM3U\n#EXTINF:1e400,\n")
@example(b"\x00\x00\x00\x00moov")
def test_arbitrary_bytes(data: bytes) -> None:
    try:
        answer = probe(data)
    except DurationError:
        return
    assert answer is None or isinstance(answer, float | ReadAt | Variant)


@given(st.binary(max_size=256), st.integers(0, 2**40))
def test_arbitrary_bytes_at_an_offset(data: bytes, base: int) -> None:
    try:
        answer = mp4_duration(data, base)
    except DurationError:
        return
    if isinstance(answer, ReadAt):
        assert answer.offset >= base
        assert 0 < answer.length <= MAX_MOOV_BYTES


@given(st.integers(1, 2**32 - 1), st.integers(0, 2**32 - 2), st.binary(max_size=64))
def test_mvhd_round_trip(timescale: int, duration: int, junk: bytes) -> None:
    data = FTYP + box(b"free", junk) + box(b"moov", mvhd_v0(timescale, duration))
    try:
        answer = mp4_duration(data)
    except DurationError:
        assert duration / timescale > 100 * 86400
        return
    assert answer == (duration / timescale if duration else None)


@given(st.lists(st.floats(0, 3600, allow_nan=False), max_size=50))
def test_hls_sum(durations: list[float]) -> None:
    lines = ["#EXTM3U", *(f"#EXTINF:{d!r},\ns{i}.ts" for i, d in enumerate(durations))]
    answer = hls_duration(("\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n").encode())
    total = sum(durations)
    assert answer == (pytest.approx(total) if total > 0 else None)
