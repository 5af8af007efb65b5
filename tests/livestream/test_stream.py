"""LiveStream: ingest, join snapshot vs later batches, timestamps, bounds, statistics."""

from __future__ import annotations

import random

import pytest
import trio

from synctv.config import LivestreamConfig
from synctv.livestream.errors import StreamEnded, SubscriberLagged, TagRejected
from synctv.livestream.stream import MAX_PENDING_TAGS, LiveStream, PublisherHandle
from synctv.media.flv import TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, FlvReader, FlvTag, parse_video

AVC_SEQ = bytes((0x17, 0, 0, 0, 0)) + b"avcC-config"
AAC_SEQ = bytes((0xAF, 0)) + b"\x12\x10"
METADATA = b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09"


def key(n: int = 0, cts: int = 0) -> bytes:
    return bytes((0x17, 1)) + cts.to_bytes(3, "big") + b"KEY" + n.to_bytes(4, "big")


def inter(n: int = 0, cts: int = 0) -> bytes:
    return bytes((0x27, 1)) + cts.to_bytes(3, "big") + b"P" + n.to_bytes(4, "big")


def aac(n: int = 0) -> bytes:
    return bytes((0xAF, 1)) + n.to_bytes(4, "big")


def new_stream(**config: object) -> tuple[LiveStream, PublisherHandle]:
    """A stream that batches every read, unless a test asks for a fan-out window."""
    stream = LiveStream(
        "s1", LivestreamConfig.model_validate({"fanout_batch_window_ms": 0, **config})
    )
    return stream, stream._attach()


def media(tags: tuple[FlvTag, ...] | list[FlvTag]) -> list[tuple[int, int, bytes]]:
    return [(t.tag_type, t.timestamp, t.data) for t in tags if t.tag_type != TAG_SCRIPT]


async def test_join_snapshot_is_metadata_headers_then_gop_from_a_keyframe() -> None:
    stream, pub = new_stream()
    pub.set_metadata(METADATA)
    pub.publish_video(0, AVC_SEQ)
    pub.publish_audio(0, AAC_SEQ)
    pub.publish_video(0, inter(99))  # before any key frame: never in a snapshot
    pub.flush()
    for ts in range(40, 400, 40):
        pub.publish_video(ts, key(ts) if ts in (120, 280) else inter(ts))
        pub.publish_audio(ts + 3, aac(ts))
        pub.flush()
    with stream.subscribe() as sub:
        kinds = [(t.tag_type, t.data) for t in sub.join_tags[:4]]
        assert kinds == [
            (TAG_SCRIPT, METADATA),
            (TAG_VIDEO, AVC_SEQ),
            (TAG_AUDIO, AAC_SEQ),
            (TAG_VIDEO, key(120)),
        ]
        # Headers carry the key frame's time: the snapshot never goes backwards in time.
        stamps = [t.timestamp for t in sub.join_tags]
        assert stamps[:4] == [120, 120, 120, 120]
        assert stamps == sorted(stamps)
        assert sub.has_audio
        assert sub.has_video
        reader = FlvReader(expect_header=False)
        assert reader.receive_data(sub.join_flv) == list(sub.join_tags)


async def test_join_then_batches_have_no_gap_and_no_duplicate() -> None:
    rng = random.Random(7)
    stream, pub = new_stream(gop_cache_size=2)
    pub.publish_video(0, AVC_SEQ)
    flushed: list[tuple[int, int, bytes]] = []
    pending: list[tuple[int, int, bytes]] = []
    subs = []
    ts = 0
    for n in range(300):
        ts += 20
        body = key(n) if n % 25 == 0 else inter(n)
        pub.publish_video(ts, body)
        pending.append((TAG_VIDEO, ts, body))
        if rng.random() < 0.3:
            pub.flush()
            flushed += pending
            pending = []
        if rng.random() < 0.05:
            context = stream.subscribe(max_backlog_bytes=1 << 30)
            subs.append((context, context.__enter__(), len(flushed)))
    pub.flush()
    flushed += pending
    stream._end()
    for context, sub, joined_at in subs:
        received = media(sub.join_tags[1:])  # after the video sequence header
        while True:
            try:
                received += media((await sub.receive()).tags)
            except StreamEnded:
                break
        if received:
            start = flushed.index(received[0])
            assert received[0][2][0] == 0x17
            assert start <= joined_at
            assert received == flushed[start:]
        context.__exit__(None, None, None)


async def test_pending_tags_are_not_in_the_snapshot_until_flushed() -> None:
    stream, pub = new_stream()
    pub.publish_video(0, key(1))
    with stream.subscribe() as early:
        assert early.join_tags == ()
        pub.flush()
        assert media((await early.receive()).tags) == [(TAG_VIDEO, 0, key(1))]
    with stream.subscribe() as late:
        assert media(late.join_tags) == [(TAG_VIDEO, 0, key(1))]


async def test_timestamps_wrap_and_jumps_are_normalised_composition_untouched() -> None:
    stream, pub = new_stream()
    with stream.subscribe() as sub:
        # wrap; a backwards jump of 4.9 s (encoder restart); a forward gap of one hour
        raw = [0xFFFF_FF00, 0xFFFF_FF28, 0x10, 0x38, 0x60, 5000, 100, 140, 3_600_140, 3_600_180]
        for i, ts in enumerate(raw):
            pub.publish_video(ts, key(i, cts=80) if i == 0 else inter(i, cts=80))
        pub.flush()
        batch = await sub.receive()
    stamps = [t.timestamp for t in batch.tags]
    # The u32 wrap is +0x110 ms, not -4 billion; jumps continue 20 ms after the last output.
    assert stamps == [0, 40, 272, 312, 352, 5256, 5276, 5316, 5336, 5376]
    assert all(parse_video(t.data).composition_time == 80 for t in batch.tags)
    assert stream.statistics().timestamp_discontinuities == 2


async def test_oversized_tag_is_rejected_and_counted() -> None:
    stream, pub = new_stream(max_flv_tag_size_bytes=1024)
    with pytest.raises(TagRejected):
        pub.publish_video(0, key() + bytes(2000))
    pub.publish_video(0, b"")  # empty bodies are dropped quietly
    pub.flush()
    stats = stream.statistics()
    assert (stats.rejected_tags, stats.batches, stats.bytes_in) == (1, 0, 0)


async def test_audio_only_stream_caches_about_a_second_per_gop() -> None:
    stream, pub = new_stream(gop_cache_size=2)
    pub.publish_audio(0, AAC_SEQ)
    for ts in range(0, 5000, 23):
        pub.publish_audio(ts, aac(ts))
    pub.flush()
    with stream.subscribe() as sub:
        assert not sub.has_video
        assert sub.has_audio
        tags = sub.join_tags
        assert tags[0].data == AAC_SEQ
        assert 1000 <= tags[-1].timestamp - tags[1].timestamp < 2100


async def test_a_changed_sequence_header_restarts_the_gop_cache() -> None:
    stream, pub = new_stream()
    pub.publish_video(0, AVC_SEQ)
    pub.publish_video(0, key(1))
    pub.publish_video(40, AVC_SEQ)  # the same configuration again: nothing changes
    pub.publish_video(80, inter(2))
    pub.publish_video(120, AVC_SEQ + b"new")
    pub.publish_video(160, inter(3))
    pub.flush()
    with stream.subscribe() as sub:
        assert [t.data for t in sub.join_tags] == [AVC_SEQ + b"new"]


async def test_default_bound_cuts_a_viewer_that_does_not_read() -> None:
    stream, pub = new_stream()
    with stream.subscribe() as slow, stream.subscribe() as fast:
        for i in range(12):
            pub.publish_video(i * 40, key(i) + bytes(1024 * 1024))
            pub.flush()
            await fast.receive()
        with pytest.raises(SubscriberLagged):
            await slow.receive()
        assert fast.statistics().bytes_behind == 0
        assert stream.statistics().dropped_viewers == 1


async def test_driver_that_never_flushes_still_produces_bounded_batches() -> None:
    stream, pub = new_stream()
    for i in range(MAX_PENDING_TAGS * 2 + 5):
        pub.publish_audio(i, aac(i))
    assert stream.statistics().batches == 2


async def test_statistics(autojump_clock: trio.testing.MockClock) -> None:
    stream, pub = new_stream()
    with (
        stream.subscribe(protocol="flv"),
        stream.subscribe(protocol="flv"),
        stream.subscribe(protocol="hls") as sub,
    ):
        for second in range(10):
            pub.publish_video(second * 1000, key(second) + bytes(12_500 - 13))
            pub.flush()
            await sub.receive()
            await trio.sleep(1)
        stats = stream.statistics()
        assert stats.viewers == {"flv": 2, "hls": 1}
        assert 90_000 <= stats.bitrate_bps <= 110_000
        assert stats.live
        assert stats.has_video
        assert not stats.has_audio
        assert stats.uptime_seconds == pytest.approx(10, abs=0.1)
        assert stats.gop_cache.gops == 2
    assert stream.statistics().viewers == {}
    assert stream.statistics().bytes_out >= 10 * 12_500


async def test_reads_are_coalesced_into_one_batch_per_window() -> None:
    stream, handle = new_stream(fanout_batch_window_ms=40)
    handle.publish_video(0, AVC_SEQ)
    handle.publish_video(0, key())
    handle.flush()
    with stream.subscribe() as viewer:
        for ts in (10, 20, 30):  # reads inside the window: no batch yet
            handle.publish_audio(ts, aac(ts))
            handle.flush()
        assert stream.statistics().batches == 0
        handle.publish_video(45, inter())  # the window is spanned: one batch
        handle.flush()
        with trio.fail_after(1):
            batch = await viewer.receive()
        assert [t.timestamp for t in batch.tags] == [0, 0, 10, 20, 30, 45]
        handle.publish_audio(50, aac(50))
        handle.flush()  # pending, inside the next window ...
        handle.close()  # ... until the publisher goes: close flushes what is left
        with trio.fail_after(1):
            last = await viewer.receive()
        assert [t.timestamp for t in last.tags] == [50]
