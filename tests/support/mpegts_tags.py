"""Shared test helpers (moved out of test modules: no test module imports another)."""

from __future__ import annotations

from synctv.media.aac import build_audio_specific_config
from synctv.media.flv import (
    TAG_AUDIO,
    TAG_VIDEO,
    AudioTag,
    FlvTag,
    VideoTag,
    encode_audio,
    encode_video,
)
from synctv.media.h264 import annexb_to_avcc, build_avc_decoder_config

AVC_SPS = b"\x67\x64\x00\x1f\xac\xd9\x40"

AVC_PPS = b"\x68\xeb\xe3\xcb\x22\xc0"

AVC_CONFIG = build_avc_decoder_config([AVC_SPS], [AVC_PPS])

ASC_LC_44K_STEREO = build_audio_specific_config(2, 4, 2)


def nal(kind: int, size: int) -> bytes:
    """A synthetic H.264 NAL unit free of start-code patterns (no zero bytes)."""
    body = bytes((i % 255) + 1 for i in range(min(size, 255)))
    return bytes((0x60 | kind,)) + (body * (size // 255 + 1))[:size]


def video(ts: int, nalus: list[bytes], *, key: bool = False, cts: int = 0) -> FlvTag:
    body = VideoTag("avc", 1 if key else 2, key, "nalu", cts, annexb_to_avcc(nalus))
    return FlvTag(TAG_VIDEO, ts, encode_video(body))


def avc_header(config: bytes = AVC_CONFIG) -> FlvTag:
    return FlvTag(
        TAG_VIDEO, 0, encode_video(VideoTag("avc", 1, True, "sequence_header", 0, config))
    )


def aac_header(asc: bytes = ASC_LC_44K_STEREO) -> FlvTag:
    return FlvTag(TAG_AUDIO, 0, encode_audio(AudioTag("aac", True, asc, 3, 1, 2)))


def aac(ts: int, payload: bytes) -> FlvTag:
    return FlvTag(TAG_AUDIO, ts, encode_audio(AudioTag("aac", False, payload, 3, 1, 2)))
