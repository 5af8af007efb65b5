"""LiveStream: ingest, join snapshot vs later batches, timestamps, bounds, statistics."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import trio
import trio.testing

from synctv.config import LivestreamConfig
from synctv.livestream.errors import StreamEnded, SubscriberLagged, TagRejected
from synctv.livestream.hls import VIEWER_PROTOCOL as HLS_SEGMENTER
from synctv.livestream.stream import (
    MAX_PENDING_TAGS,
    NOT_VIEWERS,
    LiveStream,
    PublisherHandle,
)
from synctv.media.flv import (
    TAG_AUDIO,
    TAG_SCRIPT,
    TAG_VIDEO,
    FlvReader,
    FlvTag,
    encode_tag,
    file_header,
    parse_video,
)
from tests.support.flv_tags import AAC_SEQ, AVC_SEQ, aac, inter, key

METADATA = b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09"


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
    # A viewer starts at the newest key frame; the whole cache starts at the oldest.
    for whole, first_key in ((False, 280), (True, 120)):
        with stream.subscribe(whole_gop_cache=whole) as sub:
            kinds = [(t.tag_type, t.data) for t in sub.join_tags[:4]]
            assert kinds == [
                (TAG_SCRIPT, METADATA),
                (TAG_VIDEO, AVC_SEQ),
                (TAG_AUDIO, AAC_SEQ),
                (TAG_VIDEO, key(first_key)),
            ]
    with stream.subscribe() as sub:
        # Sequence headers carry the key frame's time, so media never goes backwards in time;
        # onMetaData is at 0 however late the viewer joins (FFmpeg reads it as metadata only there).
        stamps = [t.timestamp for t in sub.join_tags]
        assert stamps[:4] == [0, 280, 280, 280]
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
    with stream.subscribe(whole_gop_cache=True) as sub:
        assert not sub.has_video
        assert sub.has_audio
        tags = sub.join_tags
        assert tags[0].data == AAC_SEQ
        assert 1000 <= tags[-1].timestamp - tags[1].timestamp < 2100
    with stream.subscribe() as sub:  # a viewer: from the newest "GOP" start
        tags = sub.join_tags
        assert tags[0].data == AAC_SEQ
        assert 0 <= tags[-1].timestamp - tags[1].timestamp < 1000


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


async def test_pending_tags_go_out_within_the_window_when_the_publisher_stalls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A publisher that stops mid-window: the deadline timer flushes within the window (wall
    time), where reads alone would hold the tags until the next read spans the window."""
    stream, pub = new_stream(fanout_batch_window_ms=200)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream.run_flush_timer)
        with stream.subscribe() as viewer:
            for burst in range(3):
                start = trio.current_time()
                pub.publish_video(burst * 1000, key(burst))
                pub.flush()  # one read: 0 ms of media, nowhere near the window
                await trio.sleep(0.05)
                pub.publish_audio(burst * 1000 + 10, aac(burst))
                pub.flush()
                with trio.fail_after(5):  # then the publisher sends nothing more
                    batch = await viewer.receive()
                waited = trio.current_time() - start
                assert waited == pytest.approx(0.2)  # the first tag's arrival + the window
                assert [t.timestamp for t in batch.tags] == [burst * 1000, burst * 1000 + 10]
                await trio.sleep(5)  # silence: the timer does not spin
            assert stream.statistics().batches == 3
        nursery.cancel_scope.cancel()


async def test_flush_timer_is_idle_without_a_window_and_after_reads_span_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream, pub = new_stream(fanout_batch_window_ms=0)
    with trio.fail_after(1):
        await stream.run_flush_timer()  # window 0: every read is a batch; nothing to time
    stream, pub = new_stream(fanout_batch_window_ms=100)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream.run_flush_timer)
        with stream.subscribe() as viewer:
            pub.publish_video(0, key())
            pub.publish_video(150, inter())
            pub.flush()  # the reads spanned the window: flushed at once, not by the timer
            assert stream.statistics().batches == 1
            await trio.sleep(1)
            assert stream.statistics().batches == 1
            assert len((await viewer.receive()).tags) == 2
        nursery.cancel_scope.cancel()


async def test_drops_are_counted_by_protocol_and_reason() -> None:
    stream, pub = new_stream()
    with (
        stream.subscribe(protocol="rtmp", max_backlog_bytes=10) as lagging,
        stream.subscribe(protocol="flv") as stuck,
    ):
        pub.publish_video(0, key() + bytes(100))
        pub.flush()
        with pytest.raises(SubscriberLagged):
            await lagging.receive()
        with pytest.raises(SubscriberLagged):
            await lagging.receive()  # raised again, counted once
        stuck.dropped("write_timeout")
        stuck.dropped("write_timeout")
    stats = stream.statistics()
    assert stats.dropped_viewers_by == {("rtmp", "lagged"): 1, ("flv", "write_timeout"): 1}
    assert stats.dropped_viewers == 2


async def test_join_snapshot_encodings_are_cached_on_the_snapshot() -> None:
    stream, pub = new_stream()
    pub.publish_video(0, AVC_SEQ)
    pub.publish_video(0, key())
    pub.flush()
    calls: list[int] = []

    def build(tags: tuple[FlvTag, ...]) -> bytes:
        calls.append(len(tags))
        return b"x" * len(tags)

    with stream.subscribe() as one, stream.subscribe() as two:
        assert one.join is two.join  # joined between the same two batches
        assert one.join.encoded(("rtmp", 1), build) is two.join.encoded(("rtmp", 1), build)
        assert two.join.encoded(("rtmp", 2), build) == b"xx"
        assert calls == [2, 2]
    pub.publish_video(40, inter())
    pub.flush()
    with stream.subscribe() as three:
        assert three.join is not one.join  # a new snapshot; the old one (and its bytes) goes


async def test_a_tap_follows_the_live_edge_without_counting_as_a_viewer() -> None:
    stream, pub = new_stream()
    pub.publish_video(0, key())
    pub.flush()
    tap = stream.tap()
    assert tap.join_tags == ()
    assert stream.statistics().viewers == {}
    with stream.subscribe() as viewer:
        assert tap.caught_up
        assert viewer.caught_up
        assert viewer.in_step_with(tap)
        pub.publish_video(40, inter(1))
        pub.flush()
        assert not tap.caught_up
        assert len((await tap.receive()).tags) == 1
        assert not viewer.in_step_with(tap)
        viewer.move_to(tap)  # the writer delivered it to the viewer
        assert viewer.caught_up
        assert viewer.in_step_with(tap)
        assert viewer.statistics().bytes == len(encode_tag(TAG_VIDEO, 40, inter(1)))


async def test_publisher_leaving_is_a_signal_in_order_with_the_media() -> None:
    stream, pub = new_stream(fanout_batch_window_ms=1000)
    with stream.subscribe() as viewer:
        pub.publish_video(0, key())
        pub.close()  # flushes what is pending, then the signal
        batch, signal = await viewer.receive(), await viewer.receive()
        assert [t.timestamp for t in batch.tags] == [0]
        assert signal.unpublished
        assert not stream.live
        again = stream._attach()
        again.publish_video(0, key(2))
        again.flush()
        again.close()
        assert (await viewer.receive()).discontinuity
        stream._end()
        assert (await viewer.receive()).unpublished
        with pytest.raises(StreamEnded):
            await viewer.receive()


async def test_watched_means_a_realtime_subscriber_is_there() -> None:
    """The publisher's driver merges reads longer while nobody waits on the live edge; the HLS
    segmenter subscribes with realtime=False and does not count, a viewer does."""
    stream, handle = new_stream()
    assert not stream.watched
    assert not handle.watched
    with stream.subscribe(protocol="hls_segmenter", realtime=False):
        assert not handle.watched
        with stream.subscribe(protocol="flv"):
            assert stream.watched
            assert handle.watched
        assert not handle.watched
    handle.close()
    assert not handle.watched


async def test_the_hls_segmenter_is_not_a_viewer() -> None:
    """`synctv admin live list` and synctv_livestream_viewers count people (issue 18)."""
    assert HLS_SEGMENTER in NOT_VIEWERS
    stream, _ = new_stream()
    with stream.subscribe(protocol=HLS_SEGMENTER), stream.subscribe(protocol="flv"):
        stats = stream.statistics()
        assert stats.viewers == {"flv": 1}
        assert stats.consumers == {HLS_SEGMENTER: 1}
    assert stream.statistics().consumers == stream.statistics().viewers == {}


# --------------------------------------------------------------------------- reconnect splice


async def test_reconnect_metadata_is_not_relayed_mid_stream_but_joins_later_viewers() -> None:
    """Issue 18: OBS's onMetaData after a restart reached viewers at a non-zero time (FFmpeg
    then opens a data stream 0:2). It now updates only the join state, at 0."""
    stream, old = new_stream()
    with stream.subscribe() as early:  # joined before anything was published
        old.set_metadata(METADATA)
        old.publish_video(0, AVC_SEQ)
        old.publish_video(0, key(1))
        old.flush()
        first = await early.receive()
        assert (first.tags[0].tag_type, first.tags[0].timestamp) == (TAG_SCRIPT, 0)
        with stream.subscribe() as watcher:
            assert watcher.join_tags[0] == FlvTag(TAG_SCRIPT, 0, METADATA)
            old.publish_video(40, inter(2))
            old.flush()
            old.close()
            new = stream._attach()
            new_metadata = METADATA[:-3] + b"\x00\x00\x09"  # any other body
            new.set_metadata(new_metadata)
            new.publish_video(0, AVC_SEQ)
            new.publish_video(0, key(3))
            new.flush()
            received: list[FlvTag] = []
            while len([t for t in received if t.tag_type == TAG_VIDEO]) < 3:
                batch = await watcher.receive()
                received += batch.tags
                # byte level: what HTTP-FLV viewers get has no script tag either
                assert all(
                    t.tag_type != TAG_SCRIPT
                    for t in FlvReader(expect_header=False).receive_data(batch.flv)
                )
            assert [t.tag_type for t in received] == [TAG_VIDEO] * 3
        with stream.subscribe() as later:
            assert later.join_tags[0] == FlvTag(TAG_SCRIPT, 0, new_metadata)


async def test_reconnect_splice_timestamps_strictly_continue_per_track() -> None:
    """A new session whose audio starts behind its video (clamped by the normaliser to the
    splice point) still gives each track strictly rising times, all after the old session."""
    stream, old = new_stream()
    with stream.subscribe() as viewer:
        old.publish_video(0, AVC_SEQ)
        old.publish_audio(0, AAC_SEQ)
        for i in range(10):
            old.publish_video(40 * i, key(i) if i == 0 else inter(i))
            old.publish_audio(40 * i + 3, aac(i))
        old.flush()
        old.close()
        new = stream._attach()
        new.publish_video(100, AVC_SEQ)
        new.publish_video(100, key(20))  # first new tag: lands at the old end + 20
        new.publish_audio(60, AAC_SEQ)
        for i in range(5):  # audio starts 40 ms behind: the first two would be clamped
            new.publish_audio(60 + 21 * i, aac(20 + i))
            new.publish_video(133 + 33 * i, inter(20 + i))
        new.flush()
        tags: list[FlvTag] = list(viewer.join_tags)
        while len(tags) < 2 + 20 + 3 + 10:
            batch = await viewer.receive()
            tags += FlvReader(expect_header=False).receive_data(batch.flv)
        old_end = max(t.timestamp for t in tags[:22])
        frames = [t for t in tags if t.data not in (AVC_SEQ, AAC_SEQ)]
        for track in (TAG_AUDIO, TAG_VIDEO):
            times = [t.timestamp for t in frames if t.tag_type == track]
            assert times == sorted(set(times)), f"track {track}: {times}"
        new_frames = [t.timestamp for t in frames[20:]]
        assert min(new_frames) > old_end
        audio = [t.timestamp for t in frames[20:] if t.tag_type == TAG_AUDIO]
        assert audio[:3] == [old_end + 20, old_end + 21, old_end + 20 + 2]


async def test_reconnect_splice_starts_after_the_last_frame_shown() -> None:
    """With B-frames the old session's last frame shown (time + composition offset) comes after
    its last frame decoded; no new frame may be shown before it (FFmpeg: out of order)."""
    stream, old = new_stream()
    with stream.subscribe() as viewer:
        old.publish_video(0, AVC_SEQ)
        old.publish_video(0, key(0, cts=66))
        old.publish_video(33, inter(1, cts=133))  # decoded at 33, shown at 166
        old.flush()
        old.close()
        new = stream._attach()
        new.publish_video(0, AVC_SEQ)
        new.publish_video(0, key(2, cts=66))
        new.publish_video(33, inter(3, cts=133))
        new.flush()
        tags: list[FlvTag] = list(viewer.join_tags)
        while len(tags) < 6:
            tags += FlvReader(expect_header=False).receive_data((await viewer.receive()).flv)
        shown = [
            (t.timestamp, t.timestamp + parse_video(t.data).composition_time)
            for t in tags
            if t.data not in (AVC_SEQ,)
        ]
        assert shown == [(0, 66), (33, 166), (186, 252), (219, 352)]


async def test_reconnect_splice_of_a_b_frame_stream_reads_cleanly_with_ffmpeg(
    tmp_path: Path,
) -> None:
    """The oracle: a viewer's bytes across a reconnect are two streams to FFmpeg, decoded without
    a timestamp warning. The first session stops right after a P-frame shown well after it is
    decoded (its B-frames never sent, as when OBS stops mid-GOP); the second starts over from 0
    with its own onMetaData, as a restarted OBS does."""
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("needs ffmpeg and ffprobe")
    sample = tmp_path / "sample.flv"
    await trio.run_process(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
            "-t", "3", "-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", "25",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", str(sample),
        ]
    )  # fmt: skip
    tags = FlvReader().receive_data(sample.read_bytes())
    offsets = [
        (i, parse_video(t.data).composition_time)
        for i, t in enumerate(tags)
        if t.tag_type == TAG_VIDEO and t.timestamp >= 1500
    ]
    most = max(offset for _, offset in offsets)
    assert most >= 80  # at least two frames shown after the next one decoded
    stop = next(i for i, offset in offsets if offset == most)
    stream, publisher = new_stream()
    captured = bytearray(file_header(has_audio=True, has_video=True))
    with stream.subscribe() as viewer:
        for session in (tags[: stop + 1], tags):
            if session is tags:
                publisher.close()
                publisher = stream._attach()
            for tag in session:
                if tag.tag_type == TAG_SCRIPT:
                    publisher.set_metadata(tag.data)
                elif tag.tag_type == TAG_AUDIO:
                    publisher.publish_audio(tag.timestamp, tag.data)
                else:
                    publisher.publish_video(tag.timestamp, tag.data)
            publisher.flush()
        stream._end()
        while True:
            try:
                batch = await viewer.receive()
            except StreamEnded:
                break
            captured += batch.flv
    capture = tmp_path / "viewer.flv"
    capture.write_bytes(bytes(captured))
    probe = await trio.run_process(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv", capture],
        capture_stdout=True,
    )
    assert sorted(probe.stdout.decode().split()) == ["stream,audio", "stream,video"]
    decoded = await trio.run_process(
        ["ffmpeg", "-nostdin", "-v", "warning", "-i", capture, "-f", "null", "-"],
        capture_stderr=True,
    )
    assert decoded.stderr.decode() == ""
