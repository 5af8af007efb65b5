"""Tests for synctv.media.mpegts: byte fixtures, an independent TS checker, PyAV/ffprobe oracles."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synctv.media.aac import adts_header, build_audio_specific_config, parse_audio_specific_config
from synctv.media.errors import LocalProtocolError, MediaError
from synctv.media.flv import (
    TAG_AUDIO,
    TAG_SCRIPT,
    TAG_VIDEO,
    AudioTag,
    FlvReader,
    FlvTag,
    VideoTag,
    encode_audio,
    encode_video,
    parse_video,
)
from synctv.media.h264 import annexb_to_avcc, build_avc_decoder_config, parse_avc_decoder_config
from synctv.media.hevc import parse_hevc_decoder_config
from synctv.media.mpegts import (
    PCR_DELAY_90K,
    PID_AUDIO,
    PID_PAT,
    PID_PMT,
    PID_VIDEO,
    STREAM_TYPE_AAC_ADTS,
    STREAM_TYPE_H264,
    STREAM_TYPE_HEVC,
    STREAM_TYPE_MPEG1_AUDIO,
    STREAM_TYPE_MPEG2_AUDIO,
    TIMESTAMP_OFFSET_MS,
    AudioTrackConfig,
    FlvToTs,
    FlvToTsStatistics,
    TsChunk,
    TsMuxer,
    VideoTrackConfig,
    crc32_mpeg2,
    encode_pcr,
    encode_timestamp,
    pat_section,
    pes_header,
    pmt_section,
)
from tests.conftest import FIXTURES, fixture_bytes
from tests.support.mpegts_tags import (
    ASC_LC_44K_STEREO,
    AVC_PPS,
    AVC_SPS,
    aac,
    aac_header,
    avc_header,
    nal,
    video,
)

# --------------------------------------------------------------------------- independent checker


def crc32_bitwise(data: bytes) -> int:
    """CRC-32/MPEG-2 one bit at a time (a different algorithm from the muxer's table)."""
    crc = 0xFFFFFFFF
    for byte in data:
        for bit in range(7, -1, -1):
            top = (crc >> 31) ^ ((byte >> bit) & 1)
            crc = (crc << 1) & 0xFFFFFFFF
            if top:
                crc ^= 0x04C11DB7
    return crc


def decode_timestamp(field5: bytes, prefix: int) -> int:
    assert field5[0] >> 4 == prefix
    assert field5[0] & field5[2] & field5[4] & 1, "marker bits"
    return (
        (((field5[0] >> 1) & 7) << 30)
        | (field5[1] << 22)
        | ((field5[2] >> 1) << 15)
        | (field5[3] << 7)
        | (field5[4] >> 1)
    )


@dataclass
class Pes:
    pid: int
    stream_id: int
    pts: int
    dts: int | None
    payload: bytes
    random_access: bool
    pcr: int | None
    packets: int
    declared_length: int


@dataclass
class TsDump:
    sections: dict[int, list[bytes]] = field(default_factory=dict)
    pes: list[Pes] = field(default_factory=list)
    packets: int = 0


def _finish_pes(pid: int, start: dict[str, int | bool | None], data: bytes, packets: int) -> Pes:
    assert data[:3] == b"\x00\x00\x01"
    stream_id = data[3]
    declared = int.from_bytes(data[4:6], "big")
    if declared:
        assert declared == len(data) - 6, "PES_packet_length"
    else:
        assert stream_id == 0xE0, "unbounded PES only for video"
    assert data[6] & 0xC0 == 0x80
    flags = data[7]
    header_len = data[8]
    fields = data[9 : 9 + header_len]
    assert flags in (0x80, 0xC0)
    pts = decode_timestamp(fields[:5], 3 if flags == 0xC0 else 2)
    dts = decode_timestamp(fields[5:10], 1) if flags == 0xC0 else None
    assert header_len == (10 if dts is not None else 5)
    pcr = start["pcr"]
    return Pes(
        pid=pid,
        stream_id=stream_id,
        pts=pts,
        dts=dts,
        payload=data[9 + header_len :],
        random_access=bool(start["rai"]),
        pcr=pcr if isinstance(pcr, int) and not isinstance(pcr, bool) else None,
        packets=packets,
        declared_length=declared,
    )


def parse_ts(data: bytes) -> TsDump:
    """Check every structural rule the muxer promises, and collect PSI sections and PES."""
    assert len(data) % 188 == 0, "whole packets"
    dump = TsDump(packets=len(data) // 188)
    counters: dict[int, int] = {}
    open_pes: dict[int, tuple[dict[str, int | bool | None], bytearray, int]] = {}
    for offset in range(0, len(data), 188):
        pkt = data[offset : offset + 188]
        assert pkt[0] == 0x47, f"sync byte at {offset}"
        assert not pkt[1] & 0x80, "transport_error_indicator"
        start = bool(pkt[1] & 0x40)
        pid = ((pkt[1] & 0x1F) << 8) | pkt[2]
        assert pkt[3] & 0xC0 == 0, "not scrambled"
        afc = (pkt[3] >> 4) & 3
        assert afc in (1, 3), "every packet carries payload"
        cc = pkt[3] & 0x0F
        if pid in counters:
            assert cc == (counters[pid] + 1) & 0x0F, f"continuity on PID {pid:#x}"
        counters[pid] = cc
        pos, rai, pcr = 4, False, None
        if afc == 3:
            af_len = pkt[4]
            assert af_len <= 183
            af = pkt[5 : 5 + af_len]
            pos = 5 + af_len
            if af_len:
                flags = af[0]
                assert flags & ~0x50 == 0, "only RAI and PCR flags"
                rai = bool(flags & 0x40)
                rest = af[1:]
                if flags & 0x10:
                    value = int.from_bytes(af[1:7], "big")
                    assert (value >> 9) & 0x3F == 0x3F, "PCR reserved bits"
                    pcr = value >> 15
                    rest = af[7:]
                assert rest == b"\xff" * len(rest), "stuffing bytes"
            assert start or (not rai and pcr is None), "flags only on the first packet"
        payload = pkt[pos:]
        assert payload, "payload present"
        if pid in (PID_PAT, PID_PMT):
            assert start, "PSI starts in its packet"
            assert payload[0] == 0, "pointer_field"
            length = ((payload[2] & 0x0F) << 8) | payload[3]
            section = payload[1 : 4 + length]
            assert crc32_bitwise(section) == 0, "PSI CRC"
            assert payload[4 + length :] == b"\xff" * (len(payload) - 4 - length)
            dump.sections.setdefault(pid, []).append(section)
            continue
        if start:
            if pid in open_pes:
                dump.pes.append(_finish_pes(pid, *_unpack(open_pes.pop(pid))))
            open_pes[pid] = ({"rai": rai, "pcr": pcr}, bytearray(payload), 1)
        else:
            assert pid in open_pes, "continuation without a start"
            meta, buf, count = open_pes[pid]
            buf += payload
            open_pes[pid] = (meta, buf, count + 1)
    for pid, entry in open_pes.items():
        dump.pes.append(_finish_pes(pid, *_unpack(entry)))
    return dump


def _unpack(
    entry: tuple[dict[str, int | bool | None], bytearray, int],
) -> tuple[dict[str, int | bool | None], bytes, int]:
    meta, buf, count = entry
    return meta, bytes(buf), count


VIDEO, AUDIO = VideoTrackConfig(), AudioTrackConfig()

# --------------------------------------------------------------------------- CRC and PSI


def test_crc32_mpeg2_check_value() -> None:
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7
    assert crc32_bitwise(b"123456789") == 0x0376E6E7


@given(st.binary(max_size=300))
def test_crc32_matches_bitwise(data: bytes) -> None:
    assert crc32_mpeg2(data) == crc32_bitwise(data)


PAT_V0 = bytes.fromhex("00b00d0001c100000001f0002ab104b2")
PSI_CASES = [
    # (name, section, expected bytes): FFmpeg 5.1 writes the same sections (fixtures below).
    ("pat", pat_section(), PAT_V0),
    (
        "pmt_h264_aac",
        pmt_section(video=VIDEO, audio=AUDIO),
        bytes.fromhex("02b0170001c10000e100f0001be100f0000fe101f0002f44b99b"),
    ),
    (
        "pmt_h264",
        pmt_section(video=VideoTrackConfig(), audio=None),
        bytes.fromhex("02b0120001c10000e100f0001be100f00015bd4d56"),
    ),
    (
        "pmt_hevc_mp3",
        pmt_section(
            video=VideoTrackConfig(STREAM_TYPE_HEVC),
            audio=AudioTrackConfig(STREAM_TYPE_MPEG1_AUDIO),
        ),
        bytes.fromhex("02b01d0001c10000e100f00024e100f006050448455643" + "03e101f0000d2a4b0f"),
    ),
]


@pytest.mark.parametrize(("name", "section", "expected"), PSI_CASES, ids=[c[0] for c in PSI_CASES])
def test_psi_sections(name: str, section: bytes, expected: bytes) -> None:
    assert section == expected
    assert crc32_bitwise(section) == 0
    assert int.from_bytes(section[-4:], "big") == crc32_bitwise(section[:-4])


def test_pmt_audio_only_uses_audio_pcr_pid() -> None:
    section = pmt_section(video=None, audio=AudioTrackConfig())
    assert ((section[8] & 0x1F) << 8) | section[9] == PID_AUDIO
    assert section[12:17] == bytes((STREAM_TYPE_AAC_ADTS, 0xE1, 0x01, 0xF0, 0x00))
    assert crc32_bitwise(section) == 0


def test_pmt_version_number() -> None:
    section = pmt_section(video=VIDEO, audio=AUDIO, version=5)
    assert (section[5] >> 1) & 0x1F == 5
    assert crc32_bitwise(section) == 0


@pytest.mark.parametrize(
    ("fixture", "video", "audio"),
    [
        ("ffmpeg_h264_aac_psi.ts", STREAM_TYPE_H264, STREAM_TYPE_AAC_ADTS),
        ("ffmpeg_h264_psi.ts", STREAM_TYPE_H264, None),
        ("ffmpeg_hevc_mp3_psi.ts", STREAM_TYPE_HEVC, STREAM_TYPE_MPEG1_AUDIO),
    ],
)
def test_psi_packets_match_ffmpeg(fixture: str, video: int, audio: int | None) -> None:
    muxer = TsMuxer(
        video=VideoTrackConfig(video), audio=None if audio is None else AudioTrackConfig(audio)
    )
    assert muxer.psi() == fixture_bytes(f"mpegts/{fixture}")


def test_psi_continuity_counters_advance() -> None:
    muxer = TsMuxer(video=VIDEO, audio=AUDIO)
    data = b"".join(muxer.psi() for _ in range(18))
    dump = parse_ts(data)
    assert len(dump.sections[PID_PAT]) == 18
    assert data[3] & 0x0F == 0
    assert data[188 * 34 + 3] & 0x0F == 1  # the 18th PAT wrapped past 15


# --------------------------------------------------------------------------- PES, PTS/DTS, PCR

TIMESTAMP_CASES = [
    # (name, prefix, value, wire): 90000 and FFmpeg's first PTS/DTS (144000/126000) from ref.ts.
    ("zero", 0b0010, 0, bytes.fromhex("2100010001")),
    ("one_second", 0b0010, 90_000, bytes.fromhex("210005bf21")),
    ("ffmpeg_pts", 0b0011, 144_000, bytes.fromhex("3100096501")),
    ("ffmpeg_dts", 0b0001, 126_000, bytes.fromhex("110007d861")),
    ("max_33_bit", 0b0010, (1 << 33) - 1, bytes.fromhex("2fffffffff")),
    ("wraps_at_2_33", 0b0010, 1 << 33, bytes.fromhex("2100010001")),
    ("bit_32", 0b0010, 1 << 32, bytes.fromhex("2900010001")),
]


@pytest.mark.parametrize(
    ("name", "prefix", "value", "wire"), TIMESTAMP_CASES, ids=[c[0] for c in TIMESTAMP_CASES]
)
def test_encode_timestamp(name: str, prefix: int, value: int, wire: bytes) -> None:
    assert encode_timestamp(prefix, value) == wire
    assert decode_timestamp(wire, prefix) == value % (1 << 33)


PCR_CASES = [
    ("zero", 0, 0, bytes.fromhex("000000007e00")),
    ("ffmpeg_first_pcr", 63_000, 0, bytes.fromhex("00007b0c7e00")),
    ("extension", 1, 299, bytes.fromhex("00000000ff2b")),
    ("max_base", (1 << 33) - 1, 0, bytes.fromhex("fffffffffe00")),
]


@pytest.mark.parametrize(("name", "base", "ext", "wire"), PCR_CASES, ids=[c[0] for c in PCR_CASES])
def test_encode_pcr(name: str, base: int, ext: int, wire: bytes) -> None:
    assert encode_pcr(base, ext) == wire


PES_HEADER_CASES = [
    (
        "audio_pts_only",
        0xC0,
        90_000,
        None,
        10,
        bytes.fromhex("000001c000128480" + "05210005bf21"),
    ),
    (
        "video_pts_dts",
        0xE0,
        144_000,
        126_000,
        100,
        bytes.fromhex("000001e00071" + "84c00a" + "3100096501" + "110007d861"),
    ),
    (
        "video_equal_pts_dts_writes_pts_only",
        0xE0,
        90_000,
        90_000,
        0,
        bytes.fromhex("000001e000088480" + "05210005bf21"),
    ),
    (
        "video_unbounded_length",
        0xE0,
        0,
        None,
        70_000,
        bytes.fromhex("000001e000008480" + "052100010001"),
    ),
]


@pytest.mark.parametrize(
    ("name", "stream_id", "pts", "dts", "length", "wire"),
    PES_HEADER_CASES,
    ids=[c[0] for c in PES_HEADER_CASES],
)
def test_pes_header(
    name: str, stream_id: int, pts: int, dts: int | None, length: int, wire: bytes
) -> None:
    assert pes_header(stream_id, pts=pts, dts=dts, payload_length=length) == wire


def test_audio_pes_too_long_is_refused() -> None:
    muxer = TsMuxer(video=VIDEO, audio=AUDIO)
    with pytest.raises(LocalProtocolError, match="exceeds PES_packet_length"):
        muxer.write_audio(0, bytes(65_535 - 7))
    muxer.write_audio(0, bytes(65_535 - 8))  # exactly fits


def test_small_audio_packet_exact_bytes() -> None:
    """169 payload bytes + 14 header bytes leave one byte: adaptation_field_length 0."""
    muxer = TsMuxer(video=VIDEO, audio=AUDIO)
    packet = muxer.write_audio(90_000, b"\xaa" * 169)
    expected = (
        bytes.fromhex("47410130" + "00")
        + bytes.fromhex("000001c000b1" + "8480" + "05" + "210005bf21")
        + b"\xaa" * 169
    )
    assert packet == expected


def test_keyframe_packet_exact_bytes() -> None:
    """Video PES with PCR (DTS − 700 ms) and random_access_indicator, stuffed to one packet."""
    muxer = TsMuxer(video=VIDEO, audio=AUDIO)
    packet = muxer.write_video(126_000, 144_000, b"\x00\x00\x00\x01\x09\xf0", True)
    header = bytes.fromhex("000001e00013" + "84c00a" + "3100096501" + "110007d861")
    af_len = 184 - 1 - len(header) - 6
    expected = (
        bytes.fromhex("47410030")
        + bytes((af_len, 0x50))
        + encode_pcr(63_000)
        + b"\xff" * (af_len - 7)
        + header
        + b"\x00\x00\x00\x01\x09\xf0"
    )
    assert packet == expected


def _first_capacity(muxer: TsMuxer, *, video: bool) -> int:
    """Payload bytes that fit in the first packet (computed from the header sizes)."""
    header = 19 if video else 14
    pcr_pid = PID_VIDEO if video else PID_AUDIO
    af = 8 if muxer.pcr_pid == pcr_pid else 0
    return 184 - header - af


STUFFING_SIZES = [0, 1, 2, 155, 156, 157, 169, 170, 171, 183, 184, 185, 340, 341, 342, 65_000]
STUFFING_CASES = [(size, True) for size in [*STUFFING_SIZES, 65_523, 65_524, 200_000]] + [
    (size, False) for size in STUFFING_SIZES
]


@pytest.mark.parametrize(
    ("size", "video"),
    STUFFING_CASES,
    ids=[f"{'video' if v else 'audio'}-{n}" for n, v in STUFFING_CASES],
)
def test_stuffing_and_packet_counts(size: int, video: bool) -> None:
    muxer = TsMuxer(video=VIDEO, audio=AUDIO)
    payload = bytes((i * 7) & 0xFF for i in range(size))
    if video:
        data = muxer.write_video(200_000, 209_000, payload, keyframe=False)
    else:
        data = muxer.write_audio(200_000, payload)
    cap = _first_capacity(muxer, video=video)
    expected_packets = 1 if size <= cap else 1 + -(-(size - cap) // 184)
    assert len(data) == 188 * expected_packets
    dump = parse_ts(data)
    (pes,) = dump.pes
    assert pes.payload == payload
    assert pes.packets == expected_packets
    assert pes.pid == (PID_VIDEO if video else PID_AUDIO)
    assert (pes.pcr is not None) == video
    if video:
        assert pes.pcr == 200_000 - PCR_DELAY_90K
        assert (pes.pts, pes.dts) == (209_000, 200_000)
        assert pes.declared_length == (0 if size + 13 > 0xFFFF else size + 13)
    else:
        assert (pes.pts, pes.dts) == (200_000, None)
    # Exactly the last packet is stuffed, by exactly the bytes missing.
    tail = (size - cap) % 184 if size > cap else None
    last = data[-188:]
    if tail:
        assert last[3] >> 4 == 3
        assert last[4] == 184 - tail - 1
    elif tail == 0:
        assert last[3] >> 4 == 1


def test_pcr_clamps_at_zero_and_audio_only_carries_pcr() -> None:
    muxer = TsMuxer(video=None, audio=AudioTrackConfig())
    assert muxer.pcr_pid == PID_AUDIO
    dump = parse_ts(muxer.write_audio(1_000, b"x" * 10) + muxer.write_audio(90_000, b"y"))
    assert [p.pcr for p in dump.pes] == [0, 90_000 - PCR_DELAY_90K]
    assert all(p.random_access for p in dump.pes)


def test_continuity_counter_wraps_per_pid() -> None:
    muxer = TsMuxer(video=VIDEO, audio=AUDIO)
    out = bytearray(muxer.psi())
    for i in range(40):
        out += muxer.write_video(i * 3000, i * 3000, bytes(400), keyframe=i % 10 == 0)
        out += muxer.write_audio(i * 1920, bytes(300))
    dump = parse_ts(bytes(out))
    assert len(dump.pes) == 80
    video_ccs = [
        out[o + 3] & 0x0F
        for o in range(0, len(out), 188)
        if out[o + 2] == 0x00 and out[o + 1] & 0x1F == 1
    ]
    assert video_ccs[:18] == [*range(16), 0, 1]
    keyframes = [p.random_access for p in dump.pes if p.pid == PID_VIDEO]
    assert keyframes == [i % 10 == 0 for i in range(40)]


def test_misuse_raises_local_errors() -> None:
    with pytest.raises(LocalProtocolError):
        TsMuxer(video=None, audio=None)
    with pytest.raises(LocalProtocolError):
        TsMuxer(video=VIDEO, audio=AUDIO).reconfigure(video=None, audio=None)
    with pytest.raises(LocalProtocolError, match="no video"):
        TsMuxer(video=None, audio=AudioTrackConfig()).write_video(0, 0, b"", True)
    with pytest.raises(LocalProtocolError, match="no audio"):
        TsMuxer(video=VideoTrackConfig(), audio=None).write_audio(0, b"")
    with pytest.raises(LocalProtocolError):
        VideoTrackConfig(STREAM_TYPE_AAC_ADTS)
    with pytest.raises(LocalProtocolError):
        AudioTrackConfig(STREAM_TYPE_H264)
    assert AudioTrackConfig(STREAM_TYPE_MPEG2_AUDIO).stream_type == 0x04


@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.integers(0, 70_000),
            st.integers(0, 1 << 34),
            st.integers(0, 9_000),
            st.booleans(),
        ),
        max_size=12,
    ),
    st.sampled_from(["av", "video", "audio"]),
)
def test_muxer_output_always_parses(
    writes: list[tuple[bool, int, int, int, bool]], layout: str
) -> None:
    muxer = TsMuxer(
        video=None if layout == "audio" else VideoTrackConfig(),
        audio=None if layout == "video" else AudioTrackConfig(),
    )
    out = bytearray(muxer.psi())
    expected = []
    for is_video, size, dts, cts, key in writes:
        payload = bytes([size & 0xFF]) * size
        if (is_video and layout != "audio") or layout == "video":
            out += muxer.write_video(dts, dts + cts, payload, key)
            expected.append((PID_VIDEO, payload, (dts + cts) % (1 << 33)))
        else:
            payload = payload[:65_000]
            out += muxer.write_audio(dts, payload)
            expected.append((PID_AUDIO, payload, dts % (1 << 33)))
    dump = parse_ts(bytes(out))
    got = sorted(((p.pid, p.payload, p.pts) for p in dump.pes), key=lambda t: t[0])
    assert got == sorted(expected, key=lambda t: t[0])


# --------------------------------------------------------------------------- FLV → TS helpers


def mp3(ts: int, payload: bytes) -> FlvTag:
    return FlvTag(TAG_AUDIO, ts, encode_audio(AudioTag("mp3", False, payload, 3, 1, 2, 2)))


def run(
    converter: FlvToTs, tags: list[FlvTag], *, flush: bool = True
) -> tuple[bytes, list[TsChunk]]:
    """Convert ``tags``; the output starts with PSI like a segment does."""
    chunks = [chunk for tag in tags for chunk in converter.convert(tag)]
    if flush:
        chunks += converter.flush()
    for chunk in chunks:
        assert len(chunk.data) % 188 == 0
    return converter.psi() + b"".join(c.data for c in chunks), chunks


def split_start_codes(data: bytes) -> list[bytes]:
    """Annex B → NAL units by plain splitting (independent of synctv.media.h264)."""
    parts = data.split(b"\x00\x00\x01")
    assert not parts[0].strip(b"\x00")
    return [p.rstrip(b"\x00") for p in parts[1:]]


# --------------------------------------------------------------------------- FLV → TS unit tests


def test_flv_to_ts_h264_access_units() -> None:
    converter = FlvToTs()
    idr, p_slice, sei = nal(5, 3000), nal(1, 500), nal(6, 20)
    data, chunks = run(
        converter,
        [
            FlvTag(TAG_SCRIPT, 0, b"\x02\x00\x0aonMetaData"),
            avc_header(),
            video(0, [sei, idr], key=True, cts=66),
            video(40, [b"\x09\xf0", p_slice]),  # an in-band AUD is replaced by ours
            video(80, [AVC_SPS, AVC_PPS, idr], key=True),  # in-band SPS: nothing inserted
            video(120, [idr]),  # IDR without the FLV keyframe flag is still random access
            video(160, [p_slice], key=True),  # keyframe flag without IDR: parameter sets too
        ],
    )
    assert [(c.dts_ms, c.is_video, c.is_keyframe) for c in chunks] == [
        (0, True, True),
        (40, True, False),
        (80, True, True),
        (120, True, True),
        (160, True, True),
    ]
    assert not any(c.tracks_changed for c in chunks)
    dump = parse_ts(data)
    assert converter.has_video
    assert not converter.has_audio
    assert [len(dump.sections[pid]) for pid in (PID_PAT, PID_PMT)] == [1, 1]
    assert dump.sections[PID_PMT][0] == pmt_section(video=VideoTrackConfig(), audio=None)
    aud = [b"\x09\xf0"]
    assert [split_start_codes(p.payload) for p in dump.pes] == [
        [*aud, AVC_SPS, AVC_PPS, sei, idr],
        [*aud, p_slice],
        [*aud, AVC_SPS, AVC_PPS, idr],
        [*aud, AVC_SPS, AVC_PPS, idr],
        [*aud, AVC_SPS, AVC_PPS, p_slice],
    ]
    assert [p.random_access for p in dump.pes] == [True, False, True, True, True]
    base = 1_400 * 90
    assert [(p.dts, p.pts) for p in dump.pes[:2]] == [(base, base + 66 * 90), (None, base + 3600)]
    assert all(p.pcr == (p.dts or p.pts) - PCR_DELAY_90K for p in dump.pes)
    assert converter.statistics() == FlvToTsStatistics(5, 0, 0, 0)


AVC_SPS_2 = b"\x67\x64\x00\x28\xac\xd9\x40"  # another level: an encoder that changed its SPS


@pytest.mark.parametrize(
    ("in_band", "expected"),
    [
        ([AVC_SPS], [AVC_SPS, AVC_PPS]),  # SPS but no PPS: the PPS is inserted after it
        ([AVC_PPS], [AVC_SPS, AVC_PPS]),  # PPS but no SPS: the SPS goes first
        ([AVC_SPS_2], [AVC_SPS_2, AVC_PPS]),  # the in-band (newer) SPS is kept, not replaced
        ([AVC_PPS, AVC_SPS], [AVC_PPS, AVC_SPS]),  # both in-band: left exactly as sent
    ],
    ids=["sps_only", "pps_only", "new_sps_only", "both"],
)
def test_flv_to_ts_inserts_each_missing_parameter_set(
    in_band: list[bytes], expected: list[bytes]
) -> None:
    sei, idr = nal(6, 20), nal(5, 300)
    data, _ = run(FlvToTs(), [avc_header(), video(0, [sei, *in_band, idr], key=True)])
    (pes,) = parse_ts(data).pes
    if len(in_band) == 2:
        assert split_start_codes(pes.payload) == [b"\x09\xf0", sei, *in_band, idr]
    else:
        assert split_start_codes(pes.payload) == [b"\x09\xf0", *expected, sei, idr]


def test_flv_to_ts_flags_a_changed_decoder_configuration() -> None:
    converter = FlvToTs()
    tags = [avc_header(), aac_header(), video(0, [nal(5, 50)], key=True), aac(0, b"\x21\x00")]
    _, chunks = run(converter, tags, flush=False)
    assert not any(c.config_changed for c in chunks)
    # The same records again (a resubscription, a reconnect): no change.
    _, chunks = run(converter, [avc_header(), aac_header(), video(40, [nal(5, 50)], key=True)])
    assert not any(c.config_changed for c in chunks)
    new_video = build_avc_decoder_config([AVC_SPS_2], [AVC_PPS])
    new_audio = build_audio_specific_config(2, 3, 2)  # 48 kHz
    _, chunks = run(
        converter,
        [avc_header(new_video), video(80, [nal(5, 50)], key=True), video(120, [nal(1, 50)])],
    )
    assert [(c.is_video, c.config_changed, c.tracks_changed) for c in chunks] == [
        (True, True, False),
        (True, False, False),
    ]
    _, chunks = run(converter, [aac_header(new_audio), aac(160, b"\x21\x00"), aac(300, b"\x21")])
    assert [(c.is_video, c.config_changed) for c in chunks] == [(False, True), (False, False)]


def test_flv_to_ts_drops_what_it_cannot_convert() -> None:
    converter = FlvToTs()
    empty_avcc = encode_video(VideoTag("avc", 2, False, "nalu", 0, b""))
    _, chunks = run(
        converter,
        [
            video(0, [nal(5, 10)], key=True),  # before the sequence header
            aac(0, b"\x21\x00"),  # before the AudioSpecificConfig
            FlvTag(TAG_VIDEO, 0, b"\x12\x00\x00"),  # Sorenson H.263
            FlvTag(TAG_AUDIO, 0, b"\xb2\x00"),  # Speex
            FlvTag(TAG_AUDIO, 0, b"\x2f"),  # MP3 tag with no frame
            avc_header(),
            FlvTag(TAG_VIDEO, 0, empty_avcc),  # no NAL units
            FlvTag(TAG_VIDEO, 0, encode_video(VideoTag("avc", 1, True, "end_of_sequence", 0, b""))),
        ],
    )
    assert chunks == []
    assert converter.psi() == b""
    assert converter.statistics() == FlvToTsStatistics(0, 0, 6, -1)


def test_flv_to_ts_audio_grouping() -> None:
    converter = FlvToTs()
    frames = [bytes((0x21, i)) * 100 for i in range(12)]
    tags = [aac_header()] + [aac(i * 23, f) for i, f in enumerate(frames)]
    # Groups close after 100 ms; the 2500-byte frame would overflow 4 KB, so it starts a group.
    tags += [aac(300, b"\x21" * 2000), aac(323, b"\x21" * 2500), aac(346, b"\x21" * 10)]
    data, chunks = run(converter, tags)
    assert [c.dts_ms for c in chunks] == [0, 115, 230, 323]
    assert not any(c.is_video or c.is_keyframe for c in chunks)
    dump = parse_ts(data)
    assert dump.sections[PID_PMT][0] == pmt_section(video=None, audio=AudioTrackConfig())
    assert [p.pts for p in dump.pes] == [(ms + 1_400) * 90 for ms in (0, 115, 230, 323)]
    assert [len(p.payload) for p in dump.pes[2:]] == [2 * 207 + 2007, 2507 + 17]
    assert all(p.random_access and p.pcr is not None for p in dump.pes)
    adts = [adts_header(parse_audio_specific_config(ASC_LC_44K_STEREO), len(f)) + f for f in frames]
    assert dump.pes[0].payload == b"".join(adts[:5])
    assert dump.pes[1].payload == b"".join(adts[5:10])
    assert converter.statistics().audio_frames == 15


def test_flv_to_ts_keyframe_flushes_audio_first() -> None:
    converter = FlvToTs()
    _, chunks = run(
        converter,
        [avc_header(), aac_header(), aac(0, b"\x21\x10"), aac(21, b"\x21\x10")],
        flush=False,
    )
    assert chunks == []
    chunks = converter.convert(video(30, [nal(1, 50)]))
    assert [c.is_video for c in chunks] == [True]  # a non-key frame leaves audio buffered
    chunks = converter.convert(video(40, [nal(5, 50)], key=True))
    assert [(c.is_video, c.dts_ms) for c in chunks] == [(False, 0), (True, 40)]
    assert converter.flush() == []


def test_flv_to_ts_late_track_changes_the_program() -> None:
    converter = FlvToTs()
    first, _ = run(converter, [avc_header(), video(0, [nal(5, 100)], key=True)])
    chunks = converter.convert(aac_header()) + converter.convert(aac(10, b"\x21\x00"))
    chunks += converter.convert(video(40, [nal(5, 100)], key=True))
    assert [(c.is_video, c.tracks_changed) for c in chunks] == [(False, True), (True, False)]
    dump = parse_ts(first + b"".join(c.data for c in chunks) + converter.psi())
    pmts = dump.sections[PID_PMT]
    assert pmts[1] == pmts[2] == pmt_section(video=VIDEO, audio=AUDIO, version=1)
    assert converter.statistics().program_version == 1


def test_flv_to_ts_negative_composition_time_and_offset() -> None:
    converter = FlvToTs(timestamp_offset_ms=0)
    data, _ = run(converter, [avc_header(), video(0, [nal(5, 10)], key=True, cts=-40)])
    (pes,) = parse_ts(data).pes
    assert (pes.dts, pes.pts, pes.pcr) == (0, (1 << 33) - 3600, 0)


def test_flv_to_ts_mp3_stream_types() -> None:
    mpeg1 = b"\xff\xfb\x90\x64" + bytes(413)
    mpeg2 = b"\xff\xf3\x90\x64" + bytes(200)
    converter = FlvToTs()
    data, _ = run(converter, [mp3(0, mpeg1), mp3(26, mpeg1)])
    assert parse_ts(data).sections[PID_PMT][0][12] == STREAM_TYPE_MPEG1_AUDIO
    data, _ = run(FlvToTs(), [mp3(0, mpeg2)])
    assert parse_ts(data).sections[PID_PMT][0][12] == STREAM_TYPE_MPEG2_AUDIO
    with pytest.raises(MediaError, match="exceeds"):
        FlvToTs().convert(mp3(0, b"\xff\xfb" + bytes(9000)))


def test_flv_to_ts_errors_leave_the_converter_usable() -> None:
    converter = FlvToTs()
    good, _ = run(converter, [avc_header(), video(0, [nal(5, 100)], key=True)])
    broken = encode_video(VideoTag("avc", 2, False, "nalu", 0, b"\x00\x00\x10\x00\x01"))
    with pytest.raises(MediaError):
        converter.convert(FlvTag(TAG_VIDEO, 40, broken))
    with pytest.raises(MediaError):
        converter.convert(aac_header(b""))
    more, _ = run(converter, [video(80, [nal(1, 100)])])
    assert len(parse_ts(good + more[376:]).pes) == 2


def test_flv_to_ts_unsupported_aac_config() -> None:
    with pytest.raises(MediaError):
        FlvToTs().convert(aac_header(build_audio_specific_config(23, 4, 2)))  # ER AAC LD


# --------------------------------------------------------------------------- oracle: PyAV / FFmpeg

av = pytest.importorskip("av")

PARAMETER_SET_TYPES = {"h264": {7, 8, 9}, "hevc": {32, 33, 34, 35}}


def nal_kind(codec: str, unit: bytes) -> int:
    return unit[0] & 0x1F if codec == "h264" else (unit[0] >> 1) & 0x3F


def flv_to_ts(flv: bytes) -> tuple[bytes, list[TsChunk]]:
    return run(FlvToTs(), FlvReader().receive_data(flv))


@dataclass
class Demuxed:
    packets: dict[str, list[tuple[int, int, bytes]]]  # type → [(dts, pts, bytes)]
    decoded: dict[str, list[str]]  # type → md5 of each decoded frame's samples/pixels
    codecs: dict[str, str]
    logs: list[tuple[int, str, str]]


def _frame_digest(frame: object) -> str:
    digest = hashlib.md5()
    if isinstance(frame, av.VideoFrame):
        for plane in frame.planes:
            view = memoryview(plane)
            for row in range(plane.height):
                digest.update(view[row * plane.line_size : row * plane.line_size + plane.width])
    else:
        assert isinstance(frame, av.AudioFrame)
        per_plane = (
            frame.samples
            * frame.format.bytes
            * (1 if frame.format.is_planar else len(frame.layout.channels))
        )
        for plane in frame.planes:
            digest.update(memoryview(plane)[:per_plane])
    return digest.hexdigest()


def demux(data: bytes, format_name: str) -> Demuxed:
    """Demux and decode with FFmpeg, capturing its log at WARNING and above."""
    packets: dict[str, list[tuple[int, int, bytes]]] = {}
    decoded: dict[str, list[str]] = {}
    av.logging.set_level(av.logging.WARNING)
    try:
        with (
            av.logging.Capture(local=False) as logs,
            av.open(io.BytesIO(data), format=format_name) as container,
        ):
            codecs = {s.type: s.codec_context.name for s in container.streams}
            for packet in container.demux():
                if packet.size == 0:
                    continue
                kind = packet.stream.type
                unit = (packet.dts, packet.pts, bytes(packet))
                packets.setdefault(kind, []).append(unit)
                decoded.setdefault(kind, []).extend(_frame_digest(f) for f in packet.decode())
            for stream in container.streams:
                decoded.setdefault(stream.type, []).extend(
                    _frame_digest(f) for f in stream.codec_context.decode(None)
                )
    finally:
        av.logging.set_level(None)
    return Demuxed(packets, decoded, codecs, list(logs))


def normalise_video(codec: str, units: list[bytes]) -> list[bytes]:
    return [u for u in units if nal_kind(codec, u) not in PARAMETER_SET_TYPES[codec]]


def split_length_prefixed(data: bytes) -> list[bytes]:
    units, pos = [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        units.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return units


ORACLE_FIXTURES = [
    ("h264_aac.flv", {"video": "h264", "audio": "aac"}),
    ("aac_only.flv", {"audio": "aac"}),
    ("hevc.flv", {"video": "hevc"}),
]


@pytest.mark.parametrize(("name", "codecs"), ORACLE_FIXTURES, ids=[c[0] for c in ORACLE_FIXTURES])
def test_ffmpeg_demuxes_our_ts_like_the_flv(
    name: str, codecs: dict[str, str], tmp_path: Path
) -> None:
    flv = fixture_bytes(f"flv/{name}")
    ts, chunks = flv_to_ts(flv)
    parse_ts(ts)
    source = demux(flv, "flv")
    ours = demux(ts, "mpegts")
    assert ours.logs == []
    assert source.logs == []
    assert ours.codecs == codecs
    offset = TIMESTAMP_OFFSET_MS * 90
    if "video" in codecs:
        codec = codecs["video"]
        src, got = source.packets["video"], ours.packets["video"]
        assert len(got) == len(src)
        assert [(d, p) for d, p, _ in got] == [
            (d * 90 + offset, p * 90 + offset) for d, p, _ in src
        ]
        for (_, _, want), (_, _, have) in zip(src, got, strict=True):
            units = split_start_codes(have)
            assert nal_kind(codec, units[0]) == (9 if codec == "h264" else 35)  # AUD first
            assert normalise_video(codec, units) == normalise_video(
                codec, split_length_prefixed(want)
            )
        keyframes = [c for c in chunks if c.is_keyframe]
        assert keyframes[0].dts_ms == 0
    if "audio" in codecs:
        src, got = source.packets["audio"], ours.packets["audio"]
        assert len(got) == len(src)
        assert [b[7:] for _, _, b in got] == [b for _, _, b in src]  # ADTS header + raw frame
        for (_, pts_ms, _), (_, pts, _) in zip(src, got, strict=True):
            assert abs(pts - (pts_ms * 90 + offset)) <= 90  # FLV ms rounding within groups
    assert ours.decoded == source.decoded
    assert all(ours.decoded.values())
    if shutil.which("ffprobe"):
        path = tmp_path / "out.ts"
        path.write_bytes(ts)
        result = subprocess.run(
            [
                "ffprobe",
                "-v",
                "warning",
                "-count_frames",
                "-show_entries",
                "stream=nb_read_frames",
                "-of",
                "json",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stderr == ""
        counts = [int(s["nb_read_frames"]) for s in json.loads(result.stdout)["streams"]]
        assert counts == [len(ours.decoded[t]) for t in ("video", "audio") if t in codecs]


def _with_partial_parameter_sets(flv: bytes) -> tuple[bytes, int]:
    """``flv`` whose keyframes carry some parameter sets in-band but not all of them (H.264:
    the SPS without its PPS; HEVC: SPS and PPS without the VPS), as some encoders send them.
    Returns the FLV and the number of keyframes changed."""
    out = bytearray(flv[:13])  # FLV header + PreviousTagSize0
    changed = 0
    config: list[bytes] = []
    for tag in FlvReader().receive_data(flv):
        data = tag.data
        if tag.tag_type == TAG_VIDEO:
            body = parse_video(data)
            if body.packet_type == "sequence_header":
                if body.codec == "avc":
                    config = list(parse_avc_decoder_config(body.payload).sps)
                else:
                    hvcc = parse_hevc_decoder_config(body.payload)
                    config = [*hvcc.sps, *hvcc.pps]
            elif body.packet_type == "nalu" and body.is_keyframe:
                payload = annexb_to_avcc(config) + body.payload
                data = encode_video(
                    VideoTag(
                        body.codec, body.frame_type, True, "nalu", body.composition_time,
                        payload, body.enhanced, body.track_id,
                    )
                )  # fmt: skip
                changed += 1
        header = bytes((tag.tag_type,)) + len(data).to_bytes(3, "big")
        header += (tag.timestamp & 0xFFFFFF).to_bytes(3, "big") + bytes((tag.timestamp >> 24,))
        out += header + b"\x00\x00\x00" + data + (11 + len(data)).to_bytes(4, "big")
    return bytes(out), changed


@pytest.mark.parametrize("name", ["h264_aac.flv", "hevc.flv"])
def test_partial_in_band_parameter_sets_still_decode(name: str) -> None:
    """A keyframe with some parameter sets in-band gets the missing ones from the decoder
    configuration: FFmpeg decodes every frame, no "non-existing PPS" / missing VPS errors."""
    flv, changed = _with_partial_parameter_sets(fixture_bytes(f"flv/{name}"))
    assert changed >= 2
    ts, chunks = flv_to_ts(flv)
    ours, source = demux(ts, "mpegts"), demux(fixture_bytes(f"flv/{name}"), "flv")
    assert ours.logs == []
    assert ours.decoded["video"] == source.decoded["video"]
    # From the second keyframe on (a player joining there) it decodes as well.
    second = next(i for i, c in enumerate(chunks) if c.is_keyframe and c.dts_ms > 0)
    converter = FlvToTs()
    again = [c for tag in FlvReader().receive_data(flv) for c in converter.convert(tag)]
    joined = demux(converter.psi() + b"".join(c.data for c in again[second:]), "mpegts")
    assert joined.logs == []
    frames = joined.decoded["video"]
    assert frames
    assert frames == source.decoded["video"][-len(frames) :]


def _mp3_flv(rate: int) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flv") as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        for start in range(0, rate // 2, 1152):
            frame = av.AudioFrame(format="s16p", layout="mono", samples=1152)
            frame.planes[0].update(
                b"".join(
                    int(6000 * math.sin(2 * math.pi * 330 * (start + i) / rate)).to_bytes(
                        2, "little", signed=True
                    )
                    for i in range(1152)
                )
            )
            frame.sample_rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("rate", "stream_type"), [(44_100, STREAM_TYPE_MPEG1_AUDIO), (22_050, STREAM_TYPE_MPEG2_AUDIO)]
)
def test_ffmpeg_demuxes_our_mp3(rate: int, stream_type: int) -> None:
    flv = _mp3_flv(rate)
    ts, _ = flv_to_ts(flv)
    assert parse_ts(ts).sections[PID_PMT][0][12] == stream_type
    source, ours = demux(flv, "flv"), demux(ts, "mpegts")
    assert ours.logs == []
    assert ours.codecs == {"audio": "mp3float"} or ours.codecs == {"audio": "mp3"}
    assert [b for _, _, b in ours.packets["audio"]] == [b for _, _, b in source.packets["audio"]]
    assert ours.decoded == source.decoded


# --------------------------------------------------------------------------- FLV → TS properties

_video_step = st.tuples(
    st.just("video"),
    st.one_of(st.integers(0, 3_000), st.integers(0, 200_000)),
    st.booleans(),
    st.integers(0, 40),
    st.integers(-50, 500),
)
_audio_step = st.tuples(
    st.just("audio"), st.integers(1, 3_000), st.just(False), st.integers(0, 40), st.just(0)
)


@settings(max_examples=60)
@given(
    st.lists(st.one_of(_video_step, _audio_step), max_size=12),
    st.sampled_from(["av", "video", "audio"]),
)
def test_flv_to_ts_output_always_parses(
    steps: list[tuple[str, int, bool, int, int]], layout: str
) -> None:
    asc = parse_audio_specific_config(ASC_LC_44K_STEREO)
    converter = FlvToTs()
    tags = [avc_header(), aac_header()]
    chunks: list[TsChunk] = []
    expected_video: list[tuple[int, int, list[bytes]]] = []
    expected_audio = bytearray()
    now = 0
    for kind, size, key, dt, cts in steps:
        now += dt
        if layout == "video" or (layout == "av" and kind == "video"):
            unit = [nal(5 if key else 1, size)] if size else []
            tags.append(video(now, unit, key=key, cts=cts))
            if unit:
                params = [AVC_SPS, AVC_PPS] if key else []
                dts = (now + TIMESTAMP_OFFSET_MS) * 90
                expected_video.append((dts, dts + cts * 90, [b"\x09\xf0", *params, *unit]))
        else:
            size = size % 3_000 + 1
            frame = bytes((0x21,)) + bytes((size & 0xFF,)) * (size - 1)
            tags.append(aac(now, frame))
            expected_audio += adts_header(asc, len(frame)) + frame
        if kind == "video" and key:
            chunks_before = [c for tag in tags for c in converter.convert(tag)]
            tags.clear()
            chunks += chunks_before
            audio_so_far = (
                sum(
                    len(p.payload)
                    for p in parse_ts(b"".join(c.data for c in chunks)).pes
                    if p.pid == PID_AUDIO
                )
                if chunks
                else 0
            )
            if layout == "av" and size:
                assert audio_so_far == len(expected_audio)  # buffered audio went out first
    chunks += [c for tag in tags for c in converter.convert(tag)] + converter.flush()
    dump = parse_ts(converter.psi() + b"".join(c.data for c in chunks))
    got_video = [
        (p.dts if p.dts is not None else p.pts, p.pts, split_start_codes(p.payload))
        for p in dump.pes
        if p.pid == PID_VIDEO
    ]
    assert got_video == expected_video
    assert b"".join(p.payload for p in dump.pes if p.pid == PID_AUDIO) == expected_audio
    assert all(len(c.data) % 188 == 0 for c in chunks)
    assert [c.is_keyframe for c in chunks if c.is_video] == [
        b"\x67" in [u[:1] for u in units] for _, _, units in expected_video
    ]


# --------------------------------------------------------------------------- golden output


def test_golden_ts() -> None:
    """Our TS for flv/h264_aac.flv, byte for byte. After a deliberate muxer change (or a
    regenerated FLV fixture) run with SYNCTV_UPDATE_GOLDEN=1, review ``cmp -l`` of old and new,
    and check ``ffprobe -v warning`` stays silent on the new file."""
    data, _ = flv_to_ts(fixture_bytes("flv/h264_aac.flv"))
    path = FIXTURES / "mpegts" / "golden_h264_aac.ts"
    if os.environ.get("SYNCTV_UPDATE_GOLDEN"):
        path.write_bytes(data)
    assert data == path.read_bytes()


# Plausible tag-body starts (AVC/HEVC frames and sequence headers, AAC, MP3) so the random tail
# reaches the AVCC, decoder-config and ASC parsers instead of failing at the first byte.
_BODY_PREFIXES = [b"", b"\x17\x01\x00\x00\x00", b"\x27\x01\x00\x00\x00", b"\x17\x00\x00\x00\x00"]
_BODY_PREFIXES += [
    b"\x1c\x01\x00\x00\x00",
    b"\x1c\x00\x00\x00\x00",
    b"\xaf\x01",
    b"\xaf\x00",
    b"\x2f",
]


@given(
    st.lists(
        st.tuples(
            st.sampled_from([TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT, 0]),
            st.sampled_from(_BODY_PREFIXES),
            st.binary(max_size=64),
        ),
        max_size=20,
    )
)
def test_flv_to_ts_arbitrary_bodies_raise_only_media_error(
    bodies: list[tuple[int, bytes, bytes]],
) -> None:
    converter = FlvToTs()
    prefix = [avc_header(), aac_header(), video(0, [nal(5, 10)], key=True)]
    out = bytearray(b"".join(c.data for tag in prefix for c in converter.convert(tag)))
    for n, (tag_type, head, tail) in enumerate(bodies):
        try:
            tag = FlvTag(tag_type, n * 10, head + tail)
            out += b"".join(c.data for c in converter.convert(tag))
        except MediaError:
            pass
    out += b"".join(c.data for c in converter.flush())
    parse_ts(bytes(out))
