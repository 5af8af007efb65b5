"""AAC: AudioSpecificConfig and ADTS, with the FLV fixtures checked against PyAV."""

from __future__ import annotations

import io

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.media import aac, flv
from synctv.media.aac import AudioSpecificConfig
from synctv.media.errors import MediaError
from tests.conftest import fixture_bytes

# (name, ASC bytes, value): 2-byte forms are also what build_audio_specific_config writes.
ASC_CASES = [
    ("lc_44100_stereo", b"\x12\x10", AudioSpecificConfig(2, 4, 44100, 2)),
    ("lc_48000_mono", b"\x11\x88", AudioSpecificConfig(2, 3, 48000, 1)),
    ("main_8000_51", b"\x0d\xb0", AudioSpecificConfig(1, 11, 8000, 6)),
    ("lc_7350_7_1", b"\x16\x38", AudioSpecificConfig(2, 12, 7350, 7)),
]
# (name, ASC bytes, value) for forms only the parser handles.
ASC_PARSE_ONLY = [
    (
        "escape_object_type_42",
        bytes.fromhex("f94840"),  # u5 31, u6 10 (→ 42), u4 index 4, u4 channels 2
        AudioSpecificConfig(42, 4, 44100, 2),
    ),
    (
        "explicit_frequency",
        bytes.fromhex("178001f408"),  # u5 2, u4 15, u24 1000 Hz, u4 channels 1
        AudioSpecificConfig(2, 15, 1000, 1),
    ),
    (
        "he_aac_explicit_sbr",
        bytes.fromhex("2b1188"),  # u5 5 (SBR), u4 6 (24 kHz), u4 ch 2, u4 3 (48 kHz), u5 2
        AudioSpecificConfig(2, 6, 24000, 2, True, False, 48000),
    ),
    (
        "he_aac_v2_ps",
        bytes.fromhex("eb0988"),  # u5 29 (PS), u4 6, u4 ch 1, u4 3, u5 2
        AudioSpecificConfig(2, 6, 24000, 1, True, True, 48000),
    ),
]


@pytest.mark.parametrize(
    ("wire", "value"),
    [c[1:] for c in ASC_CASES + ASC_PARSE_ONLY],
    ids=[c[0] for c in ASC_CASES + ASC_PARSE_ONLY],
)
def test_parse_asc(wire: bytes, value: AudioSpecificConfig) -> None:
    assert aac.parse_audio_specific_config(wire) == value


@pytest.mark.parametrize(
    ("wire", "value"), [c[1:] for c in ASC_CASES], ids=[c[0] for c in ASC_CASES]
)
def test_build_asc(wire: bytes, value: AudioSpecificConfig) -> None:
    assert (
        aac.build_audio_specific_config(
            value.object_type, value.sample_rate_index, value.channel_config
        )
        == wire
    )


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"", "underrun"),
        (b"\x12", "underrun"),
        (b"\x00\x00", "audioObjectType 0"),
        (b"\x16\x90", "reserved AAC samplingFrequencyIndex 13"),
        (b"\x17\x80\x00\x00\x00", "explicit AAC sampling frequency 0"),
    ],
)
def test_parse_asc_errors(wire: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        aac.parse_audio_specific_config(wire)


def test_build_asc_errors() -> None:
    with pytest.raises(MediaError):
        aac.build_audio_specific_config(31, 4, 2)
    with pytest.raises(MediaError):
        aac.build_audio_specific_config(2, 13, 2)
    with pytest.raises(MediaError):
        aac.build_audio_specific_config(2, 4, 16)


@given(
    st.integers(1, 30).filter(lambda t: t not in (5, 29)), st.integers(0, 12), st.integers(0, 15)
)
def test_asc_round_trip(object_type: int, index: int, channels: int) -> None:
    wire = aac.build_audio_specific_config(object_type, index, channels)
    parsed = aac.parse_audio_specific_config(wire)
    assert parsed == AudioSpecificConfig(object_type, index, aac.SAMPLE_RATES[index], channels)


@given(st.binary(max_size=12))
def test_asc_arbitrary_only_media_error(data: bytes) -> None:
    try:
        aac.parse_audio_specific_config(data)
    except MediaError:
        pass


# --------------------------------------------------------------------------- ADTS

# (name, config, payload length, 7-byte header)
ADTS_CASES = [
    (
        "lc_44100_stereo_371",
        AudioSpecificConfig(2, 4, 44100, 2),
        371,
        bytes.fromhex("fff150802f5ffc"),
    ),
    ("lc_48000_mono_0", AudioSpecificConfig(2, 3, 48000, 1), 0, bytes.fromhex("fff14c4000fffc")),
    (
        "main_8000_51_max",
        AudioSpecificConfig(1, 11, 8000, 6),
        8184,
        bytes.fromhex("fff12d83fffffc"),
    ),
]


@pytest.mark.parametrize(
    ("config", "length", "header"), [c[1:] for c in ADTS_CASES], ids=[c[0] for c in ADTS_CASES]
)
def test_adts_header(config: AudioSpecificConfig, length: int, header: bytes) -> None:
    assert aac.adts_header(config, length) == header
    assert len(header) == aac.ADTS_HEADER_SIZE


@pytest.mark.parametrize(
    ("config", "length", "header"), [c[1:] for c in ADTS_CASES], ids=[c[0] for c in ADTS_CASES]
)
def test_parse_adts_header(config: AudioSpecificConfig, length: int, header: bytes) -> None:
    assert aac.parse_adts_header(header) == (config, length + 7)


@pytest.mark.parametrize(
    ("config", "length", "message"),
    [
        (AudioSpecificConfig(5, 4, 44100, 2), 10, "object type 5"),
        (AudioSpecificConfig(2, 15, 1000, 2), 10, "explicit sampling"),
        (AudioSpecificConfig(2, 4, 44100, 8), 10, "channel configuration 8"),
        (AudioSpecificConfig(2, 4, 44100, 2), 8185, "does not fit ADTS"),
        (AudioSpecificConfig(2, 4, 44100, 2), -1, "does not fit ADTS"),
    ],
)
def test_adts_header_errors(config: AudioSpecificConfig, length: int, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        aac.adts_header(config, length)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"\xff\xf1\x50", "needs 7 bytes"),
        (bytes.fromhex("fef15080000000"), "syncword"),
        (bytes.fromhex("fff13480000000"), "reserved ADTS sampling index 13"),
        (bytes.fromhex("fff15080001ffc"), "shorter than its header"),
    ],
)
def test_parse_adts_errors(header: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        aac.parse_adts_header(header)


# --------------------------------------------------------------------------- fixtures vs PyAV


@pytest.mark.parametrize(
    ("name", "rate", "channels"), [("flv/h264_aac.flv", 44100, 2), ("flv/aac_only.flv", 48000, 1)]
)
def test_fixture_asc_matches_pyav(name: str, rate: int, channels: int) -> None:
    data = fixture_bytes(name)
    tags = flv.FlvReader().receive_data(data)
    audio = [flv.parse_audio(t.data) for t in tags if t.tag_type == flv.TAG_AUDIO]
    seq = next(a for a in audio if a.is_sequence_header)
    config = aac.parse_audio_specific_config(seq.payload)
    assert (config.object_type, config.sample_rate, config.channel_config) == (2, rate, channels)
    # E.4.2.1: for AAC the legacy header always says 44 kHz stereo; the ASC is authoritative.
    assert all(a.codec == "aac" and a.sound_rate_index == 3 for a in audio)
    frames = [a.payload for a in audio if not a.is_sequence_header]
    with av.open(io.BytesIO(data), mode="r", format="flv") as container:
        ctx = container.streams.audio[0].codec_context
        assert (ctx.sample_rate, ctx.channels) == (rate, channels)
        assert ctx.extradata == seq.payload
    # ADTS-wrapped frames are what an ADTS demuxer (FFmpeg's "aac" format) reads back.
    adts_frames = [aac.adts_header(config, len(f)) + f for f in frames]
    adts = b"".join(adts_frames)
    with av.open(io.BytesIO(adts), mode="r", format="aac") as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.sample_rate, stream.codec_context.channels) == (rate, channels)
        assert [bytes(p) for p in container.demux() if p.size] == adts_frames
