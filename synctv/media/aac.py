"""AAC: AudioSpecificConfig (FLV/RTMP sequence header) and ADTS headers (MPEG-TS/HLS).

FLV sends the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) once and then raw access units;
MPEG-TS needs each access unit behind a 7-byte ADTS header (§1.A.2.2, no CRC), built from the
same config by `adts_header`.
"""

from __future__ import annotations

from dataclasses import dataclass

from synctv.media.bits import BitReader, BitWriter
from synctv.media.errors import MediaError

__all__ = [
    "ADTS_HEADER_SIZE",
    "SAMPLE_RATES",
    "AudioSpecificConfig",
    "adts_header",
    "build_audio_specific_config",
    "parse_adts_header",
    "parse_audio_specific_config",
]

ADTS_HEADER_SIZE = 7
# ADTS frame_length is u13 and counts the header too.
MAX_ADTS_FRAME = (1 << 13) - 1

# §1.6.3.4 Table 1.18 samplingFrequencyIndex 0..12; 13/14 reserved; 15 = explicit u24.
SAMPLE_RATES = (
    96000,
    88200,
    64000,
    48000,
    44100,
    32000,
    24000,
    22050,
    16000,
    12000,
    11025,
    8000,
    7350,
)
_EXPLICIT_RATE = 15
# Audio object types 5 (SBR) and 29 (PS) use explicit hierarchical signalling (§1.6.2.1).
_AOT_SBR = 5
_AOT_PS = 29
_AOT_ESCAPE = 31


@dataclass(frozen=True, slots=True)
class AudioSpecificConfig:
    """The leading fields of an AudioSpecificConfig.

    ``object_type`` is the core object type (2 = AAC-LC also for HE-AAC signalled with the
    explicit SBR/PS prefix, which sets ``sbr``/``ps``); ``sample_rate`` is the core rate and
    ``sample_rate_index`` is 15 when the rate was given explicitly.
    """

    object_type: int
    sample_rate_index: int
    sample_rate: int
    channel_config: int
    sbr: bool = False
    ps: bool = False
    extension_sample_rate: int = 0


def _read_object_type(r: BitReader) -> int:
    object_type = r.read_bits(5)
    if object_type == _AOT_ESCAPE:
        object_type = 32 + r.read_bits(6)
    return object_type


def _read_rate(r: BitReader) -> tuple[int, int]:
    index = r.read_bits(4)
    if index == _EXPLICIT_RATE:
        rate = r.read_bits(24)
        if rate == 0:
            raise MediaError("explicit AAC sampling frequency 0")
        return index, rate
    if index >= len(SAMPLE_RATES):
        raise MediaError(f"reserved AAC samplingFrequencyIndex {index}")
    return index, SAMPLE_RATES[index]


def parse_audio_specific_config(data: bytes | bytearray | memoryview) -> AudioSpecificConfig:
    """Parse u5 audioObjectType (31 → 32 + u6), u4 samplingFrequencyIndex (15 → u24 Hz),
    u4 channelConfiguration; for SBR/PS, the extension rate and the core object type follow.
    """
    r = BitReader(data)
    object_type = _read_object_type(r)
    if object_type == 0:
        raise MediaError("AAC audioObjectType 0 (null) is not valid")
    index, rate = _read_rate(r)
    channels = r.read_bits(4)
    sbr = ps = False
    ext_rate = 0
    if object_type in (_AOT_SBR, _AOT_PS):
        sbr, ps = True, object_type == _AOT_PS
        _, ext_rate = _read_rate(r)
        object_type = _read_object_type(r)
    return AudioSpecificConfig(object_type, index, rate, channels, sbr, ps, ext_rate)


def build_audio_specific_config(
    object_type: int, sample_rate_index: int, channel_config: int
) -> bytes:
    """The 2-byte AudioSpecificConfig for a plain (non-SBR) object type with a table rate."""
    if not 1 <= object_type <= 30 or not 0 <= sample_rate_index < len(SAMPLE_RATES):
        raise MediaError("object type or sampling index not encodable in 2 bytes")
    if not 0 <= channel_config <= 15:
        raise MediaError(f"channel configuration {channel_config} out of range")
    w = BitWriter()
    w.write_bits(object_type, 5)
    w.write_bits(sample_rate_index, 4)
    w.write_bits(channel_config, 4)
    w.write_bits(0, 3)  # GASpecificConfig: frameLengthFlag, dependsOnCoreCoder, extensionFlag
    return w.getvalue()


def adts_header(config: AudioSpecificConfig, payload_length: int) -> bytes:
    """7-byte ADTS header (protection_absent=1) for a raw AAC access unit of ``payload_length``.

    §1.A.2.2.1: u12 syncword 0xFFF, u1 ID (0 = MPEG-4), u2 layer 0, u1 protection_absent,
    u2 profile (object type - 1), u4 sampling index, u1 private, u3 channel config,
    u1 original, u1 home; §1.A.2.2.2: u1 + u1 copyright bits, u13 frame_length, u11 buffer
    fullness (0x7FF = VBR), u2 raw blocks - 1.
    """
    if not 1 <= config.object_type <= 4:
        raise MediaError(f"ADTS cannot carry AAC object type {config.object_type}")
    if config.sample_rate_index >= len(SAMPLE_RATES):
        raise MediaError("ADTS cannot carry an explicit sampling frequency")
    if not 0 <= config.channel_config <= 7:
        raise MediaError(f"ADTS cannot carry channel configuration {config.channel_config}")
    frame_length = payload_length + ADTS_HEADER_SIZE
    if payload_length < 0 or frame_length > MAX_ADTS_FRAME:
        raise MediaError(f"AAC access unit of {payload_length} bytes does not fit ADTS")
    value = (
        (0xFFF << 44)
        | (1 << 40)  # protection_absent
        | ((config.object_type - 1) << 38)
        | (config.sample_rate_index << 34)
        | (config.channel_config << 30)
        | (frame_length << 13)
        | (0x7FF << 2)
    )
    return value.to_bytes(ADTS_HEADER_SIZE, "big")


def parse_adts_header(data: bytes | bytearray | memoryview) -> tuple[AudioSpecificConfig, int]:
    """Decode a fixed+variable ADTS header; returns the config and frame_length (header incl.)."""
    if len(data) < ADTS_HEADER_SIZE:
        raise MediaError(f"ADTS header needs {ADTS_HEADER_SIZE} bytes, got {len(data)}")
    value = int.from_bytes(data[:ADTS_HEADER_SIZE], "big")
    if value >> 44 != 0xFFF:
        raise MediaError("ADTS syncword missing")
    index = (value >> 34) & 0x0F
    if index >= len(SAMPLE_RATES):
        raise MediaError(f"reserved ADTS sampling index {index}")
    frame_length = (value >> 13) & 0x1FFF
    if frame_length < ADTS_HEADER_SIZE:
        raise MediaError(f"ADTS frame_length {frame_length} shorter than its header")
    config = AudioSpecificConfig(
        object_type=((value >> 38) & 0x03) + 1,
        sample_rate_index=index,
        sample_rate=SAMPLE_RATES[index],
        channel_config=(value >> 30) & 0x07,
    )
    return config, frame_length
