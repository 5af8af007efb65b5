"""Pure codec throughput, one JSON line (run: .venv/bin/python bench/codec_micro.py).

flv_to_ts: a synthetic 2.5 Mbit/s publish (H.264 30 fps with a 2 s GOP, AAC 128 kbit/s at
44.1 kHz) of 60 s, already parsed into FlvTag objects as the hub hands them to the HLS
segmenter, converted by FlvToTs. Reported as MB/s of FLV tag bodies in, the realtime factor
(media seconds per CPU second, i.e. how many such streams one core could mux), and the TS size
overhead over the FLV bodies.
"""

from __future__ import annotations

import argparse
import json
import time

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
from synctv.media.mpegts import FlvToTs

SECONDS = 60
FPS = 30
VIDEO_BPS = 2_372_000
AUDIO_BPS = 128_000
GOP_FRAMES = 2 * FPS


def _body(size: int, seed: int) -> bytes:
    block = bytes(((seed * 131 + i * 7) % 251) + 1 for i in range(4096))
    return (block * (size // 4096 + 1))[:size]


def synthetic_tags(seconds: int = SECONDS) -> list[FlvTag]:
    sps, pps = b"\x67\x64\x00\x1f\xac\xd9\x40", b"\x68\xeb\xe3\xcb\x22\xc0"
    tags = [
        FlvTag(
            TAG_VIDEO,
            0,
            encode_video(
                VideoTag(
                    "avc", 1, True, "sequence_header", 0, build_avc_decoder_config([sps], [pps])
                )
            ),
        ),
        FlvTag(
            TAG_AUDIO,
            0,
            encode_audio(AudioTag("aac", True, build_audio_specific_config(2, 4, 2), 3, 1, 2)),
        ),
    ]
    per_frame = VIDEO_BPS // 8 // FPS
    key_size = per_frame * 6
    inter_size = (per_frame * GOP_FRAMES - key_size) // (GOP_FRAMES - 1)
    audio_frame = AUDIO_BPS // 8 * 1024 // 44_100
    events: list[tuple[float, FlvTag]] = []
    for n in range(seconds * FPS):
        key = n % GOP_FRAMES == 0
        nal = bytes((0x65 if key else 0x41,)) + _body((key_size if key else inter_size) - 1, n)
        body = encode_video(
            VideoTag("avc", 1 if key else 2, key, "nalu", 66, annexb_to_avcc([nal]))
        )
        ms = n * 1000 // FPS
        events.append((ms, FlvTag(TAG_VIDEO, ms, body)))
    for n in range(seconds * 44_100 // 1024):
        ms = n * 1024 * 1000 // 44_100
        body = encode_audio(AudioTag("aac", False, b"\x21" + _body(audio_frame - 1, n), 3, 1, 2))
        events.append((ms + 0.5, FlvTag(TAG_AUDIO, ms, body)))
    events.sort(key=lambda e: e[0])
    return tags + [tag for _, tag in events]


def bench_flv_to_ts(seconds: int = SECONDS) -> dict[str, float]:
    tags = synthetic_tags(seconds)
    flv_bytes = sum(len(t.data) for t in tags)
    best = float("inf")
    ts_bytes = 0
    for _ in range(3):
        converter = FlvToTs()
        start = time.perf_counter()
        ts_bytes = sum(len(c.data) for tag in tags for c in converter.convert(tag))
        ts_bytes += sum(len(c.data) for c in converter.flush())
        best = min(best, time.perf_counter() - start)
    return {
        "flv_to_ts_mb_per_s": round(flv_bytes / best / 1e6, 1),
        "flv_to_ts_realtime_factor": round(seconds / best, 1),
        "flv_to_ts_overhead_pct": round((ts_bytes / flv_bytes - 1) * 100, 2),
    }


def bench_chunk_decode(seconds: int = SECONDS) -> dict[str, float]:
    """RTMP ingest's first step: the same publish as OBS sends it (4096-byte chunks, audio and
    video on their own chunk streams), decoded from 64 KiB reads as the driver reads it."""
    from synctv.rtmp.chunk import ChunkDecoder, ChunkEncoder

    encoder = ChunkEncoder(4096)
    wire = b"".join(
        encoder.encode(
            6 if tag.tag_type == TAG_VIDEO else 4, tag.timestamp, tag.tag_type, 1, tag.data
        )
        for tag in synthetic_tags(seconds)
    )
    reads = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]
    best = float("inf")
    for _ in range(3):
        decoder = ChunkDecoder(max_message_size=10 * 1024 * 1024)
        decoder.chunk_size = 4096
        start = time.perf_counter()
        for read in reads:
            decoder.receive_data(read)
        best = min(best, time.perf_counter() - start)
    return {
        "chunk_decode_mb_per_s": round(len(wire) / best / 1e6, 1),
        "chunk_decode_realtime_factor": round(seconds / best, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=SECONDS, help="media seconds to convert")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    figures |= bench_flv_to_ts(args.seconds)
    figures |= bench_chunk_decode(args.seconds)
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
