"""StreamHub: per-stream nurseries, stream tasks, reconnect grace, kick, statistics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trio
import trio.testing
from prometheus_client import REGISTRY

from synctv import metrics
from synctv.config import LivestreamConfig
from synctv.livestream.errors import StreamEnded, SubscriberLagged
from synctv.livestream.fanout import Batch
from synctv.livestream.hub import StreamHub
from synctv.livestream.registry import LiveStreamRecord
from synctv.livestream.stream import LiveStream
from synctv.media.flv import TAG_VIDEO, FlvTag
from tests.support.flv_tags import AAC_SEQ, AVC_SEQ, aac, inter, key

RECORD = LiveStreamRecord("stream1", "live", None, "title", 0)
GRACE = 10.0


@pytest.fixture
async def hub() -> AsyncIterator[StreamHub]:
    hub = StreamHub(
        LivestreamConfig(publisher_reconnect_grace_seconds=GRACE, fanout_batch_window_ms=0)
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        yield hub
        nursery.cancel_scope.cancel()


async def drain(sub_receive: Callable[[], Awaitable[object]]) -> list[object]:
    got = []
    while True:
        try:
            got.append(await sub_receive())
        except StreamEnded:
            return got


async def test_start_publish_needs_a_running_hub() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        await StreamHub(LivestreamConfig()).start_publish(RECORD)


async def test_stream_tasks_run_while_live_and_are_cancelled_at_the_end(
    hub: StreamHub, autojump_clock: trio.testing.MockClock
) -> None:
    events: list[str] = []

    def factory(stream: LiveStream) -> Callable[[], Awaitable[None]]:
        async def task() -> None:
            events.append(f"start {stream.stream_id}")
            try:
                await trio.sleep_forever()
            finally:
                events.append("cancelled")

        return task

    hub.add_stream_task_factory(factory)
    with trio.fail_after(60):
        pub = await hub.start_publish(RECORD)
        await trio.testing.wait_all_tasks_blocked()
        assert events == ["start stream1"]
        assert hub.get("stream1") is not None
        pub.close()
        await trio.sleep(GRACE - 1)
        assert hub.get("stream1") is not None  # still within the grace
        assert events == ["start stream1"]
        await trio.sleep(2)
        assert hub.get("stream1") is None
        assert events == ["start stream1", "cancelled"]


async def test_failing_stream_task_is_logged_and_the_stream_continues(
    hub: StreamHub, caplog: pytest.LogCaptureFixture
) -> None:
    def factory(stream: LiveStream) -> Callable[[], Awaitable[None]]:
        async def task() -> None:
            raise ValueError("segmenter bug")

        return task

    def broken_factory(stream: LiveStream) -> Callable[[], Awaitable[None]]:
        raise ValueError("factory bug")

    hub.add_stream_task_factory(factory)
    hub.add_stream_task_factory(broken_factory)
    with caplog.at_level(logging.ERROR, "synctv.livestream"), trio.fail_after(5):
        await hub.start_publish(RECORD)
        await trio.testing.wait_all_tasks_blocked()
    assert hub.get("stream1") is not None
    assert hub.statistics().stream_task_failures == 2
    assert "segmenter bug" in caplog.text


async def test_reconnect_within_grace_keeps_viewers(
    hub: StreamHub, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        old = await hub.start_publish(RECORD)
        old.publish_video(1000, AVC_SEQ)
        old.publish_audio(1000, AAC_SEQ)
        old.publish_video(1000, key(1))
        old.publish_video(1040, inter(2))
        old.flush()
        stream = hub.get("stream1")
        assert stream is not None
        with stream.subscribe() as sub:
            old.close()
            await old.wait_kicked()
            await trio.sleep(GRACE / 2)
            new = await hub.start_publish(RECORD)
            assert hub.get("stream1") is stream
            new_seq = AVC_SEQ + b"-new"
            new.publish_video(0, new_seq)  # a restarted encoder starts from 0 again
            new.publish_audio(0, AAC_SEQ)
            new.publish_video(0, key(3))
            new.flush()
            gone = await sub.receive()  # the publisher left: a signal, in order, no tags
            assert (gone.unpublished, gone.tags, gone.flv) == (True, (), b"")
            first = await sub.receive()
            assert first.discontinuity
            assert not first.unpublished
            assert [t.data for t in first.tags[:2]] == [new_seq, AAC_SEQ]
            new.publish_video(40, inter(4))
            new.flush()
            second = await sub.receive()
            assert not second.discontinuity
            stamps = [t.timestamp for t in first.tags + second.tags]
            assert stamps[0] == 40 + 20
            assert stamps == sorted(stamps)
            assert stamps[-1] - stamps[-2] == 40
        with stream.subscribe() as joiner:  # fresh sequence headers, no old GOP
            assert [t.data for t in joiner.join_tags] == [new_seq, AAC_SEQ, key(3), inter(4)]
        assert stream.statistics().publisher_sessions == 2


async def test_a_new_publisher_replaces_a_connected_one(hub: StreamHub) -> None:
    with trio.fail_after(5):
        old = await hub.start_publish(RECORD)
        new = await hub.start_publish(RECORD)
        await old.wait_kicked()
        assert not old.attached
        assert new.attached
        stream = hub.get("stream1")
        assert stream is not None
        old.publish_video(0, key(1))  # ignored: it is not the publisher any more
        old.flush()
        assert stream.statistics().batches == 0
        assert hub.statistics().publishers == 1


async def test_after_the_grace_every_viewer_gets_stream_ended(
    hub: StreamHub, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        pub = await hub.start_publish(RECORD)
        stream = hub.get("stream1")
        assert stream is not None
        with stream.subscribe() as one, stream.subscribe() as two:
            pub.publish_video(0, key(1))
            pub.close()  # flushes what was pending
            async with trio.open_nursery() as nursery:
                results: dict[str, list[object]] = {}

                async def collect(name: str, receive: Callable[[], Awaitable[object]]) -> None:
                    results[name] = await drain(receive)

                nursery.start_soon(collect, "one", one.receive)
                nursery.start_soon(collect, "two", two.receive)
            assert trio.current_time() >= GRACE
            # the tag, then the "publisher left" signal, then StreamEnded
            assert [len(r) for r in results.values()] == [2, 2]
            assert all(r[1].unpublished for r in results.values())  # type: ignore[attr-defined]
        assert hub.get("stream1") is None
        assert hub.stream_statistics("stream1") is None
        with stream.subscribe() as late, pytest.raises(StreamEnded):
            await late.receive()


async def test_kick(hub: StreamHub) -> None:
    assert not hub.kick("stream1")
    with trio.fail_after(5):
        pub = await hub.start_publish(RECORD)
        stream = hub.get("stream1")
        assert stream is not None
        with stream.subscribe() as sub:
            pub.publish_audio(0, aac(1))
            assert hub.kick("stream1")
            await pub.wait_kicked()
            assert len((await sub.receive()).tags) == 1  # what was published is delivered
            with pytest.raises(StreamEnded):
                await sub.receive()
        assert hub.get("stream1") is None
        again = await hub.start_publish(RECORD)  # a later publish is a new session
        assert hub.get("stream1") is not stream
        assert again.attached


async def test_wakeups_are_per_batch_and_a_slow_viewer_is_cut_alone(hub: StreamHub) -> None:
    with trio.fail_after(5):
        pub = await hub.start_publish(RECORD)
        stream = hub.get("stream1")
        assert stream is not None
        received: list[FlvTag] = []
        with stream.subscribe() as reader, stream.subscribe(max_backlog_bytes=50_000) as stuck:
            async with trio.open_nursery() as nursery:

                async def read() -> None:
                    while True:
                        received.extend((await reader.receive()).tags)

                nursery.start_soon(read)
                await trio.testing.wait_all_tasks_blocked()
                for batch in range(20):
                    for i in range(50):  # 50 tags per batch
                        pub.publish_video(batch * 1000 + i * 20, inter(i) + bytes(100))
                    pub.flush()
                    await trio.testing.wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()
            assert len(received) == 1000
            assert reader.statistics().wakeups == 20  # once per batch, not per tag
            assert reader.statistics().batches == 20
            with pytest.raises(SubscriberLagged):
                await stuck.receive()
        stats = hub.statistics()
        assert stats.dropped_viewers == 1
        assert stats.viewers == {}
        assert stats.bytes_in == 1000 * (len(inter(0)) + 100)
        assert all(t.tag_type == TAG_VIDEO for t in received)


async def test_wait_stream_and_hub_totals_survive_the_stream(hub: StreamHub) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            found: list[LiveStream] = []

            async def wait() -> None:
                found.append(await hub.wait_stream("stream1"))

            nursery.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            pub = await hub.start_publish(RECORD)
        assert found == [hub.get("stream1")]
        pub.publish_audio(0, aac(1))
        pub.flush()
        stats = hub.stream_statistics("stream1")
        assert stats is not None
        assert stats.live
        assert stats.batches == 1
        hub.kick("stream1")
        await trio.testing.wait_all_tasks_blocked()
        totals = hub.statistics()
        assert (totals.streams, totals.publishers, totals.streams_started) == (0, 0, 1)
        assert totals.bytes_in == len(aac(1))


async def test_an_encoding_is_built_once_per_batch_and_metrics_are_exported() -> None:
    calls: list[int] = []

    def encoder(batch: Batch) -> bytes:
        calls.append(len(batch.tags))
        return b"chunks1"

    hub = StreamHub(LivestreamConfig(fanout_batch_window_ms=0))
    metrics.export_snapshot(metrics.LIVESTREAM_HUB, hub.statistics)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.run)
            pub = await hub.start_publish(RECORD)
            stream = hub.get("stream1")
            assert stream is not None
            with stream.subscribe(protocol="rtmp") as one, stream.subscribe(protocol="rtmp") as two:
                pub.publish_audio(0, aac(1))
                pub.publish_audio(20, aac(2))
                pub.flush()
                first, second = await one.receive(), await two.receive()
                assert first is second
                assert first.encoded("rtmp", encoder) == second.encoded("rtmp", encoder)
                assert calls == [2]  # once per batch, shared by both viewers
                assert (
                    REGISTRY.get_sample_value("synctv_livestream_viewers", {"protocol": "rtmp"})
                    == 2
                )
                assert REGISTRY.get_sample_value("synctv_livestream_publishers") == 1
                assert REGISTRY.get_sample_value(
                    "synctv_livestream_received_bytes_total"
                ) == 2 * len(aac(1))
            nursery.cancel_scope.cancel()


async def test_a_stalled_publisher_s_tags_reach_viewers_within_the_batch_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The hub runs each stream's batch deadline timer: tags of a publisher that goes silent
    mid-window are delivered at most ``fanout_batch_window_ms`` after they arrived."""
    hub = StreamHub(LivestreamConfig(fanout_batch_window_ms=200))
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        pub = await hub.start_publish(RECORD)
        stream = hub.get("stream1")
        assert stream is not None
        with stream.subscribe() as viewer:
            arrived = trio.current_time()
            pub.publish_video(0, key(1))
            pub.flush()  # end of the read; then the publisher stalls (still connected)
            with trio.fail_after(5):  # before the timer: held until the next read, forever
                batch = await viewer.receive()
            assert trio.current_time() - arrived == pytest.approx(0.2)
            assert [t.data for t in batch.tags] == [key(1)]
            assert stream.live
        nursery.cancel_scope.cancel()


async def test_dropped_slow_viewers_metric_counts_both_reasons() -> None:
    hub = StreamHub(LivestreamConfig(fanout_batch_window_ms=0))
    metrics.export_snapshot(metrics.LIVESTREAM_HUB, hub.statistics)

    def sample(protocol: str, reason: str) -> float | None:
        labels = {"protocol": protocol, "reason": reason}
        return REGISTRY.get_sample_value("synctv_livestream_slow_viewers_dropped_total", labels)

    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        pub = await hub.start_publish(RECORD)
        stream = hub.get("stream1")
        assert stream is not None
        assert sample("flv", "write_timeout") == sample("rtmp", "lagged") == 0
        with (
            stream.subscribe(protocol="rtmp", max_backlog_bytes=1) as lagging,
            stream.subscribe(protocol="flv") as stuck,
        ):
            pub.publish_video(0, key(1))
            pub.flush()
            with pytest.raises(SubscriberLagged):
                await lagging.receive()
            stuck.dropped("write_timeout")
        assert sample("rtmp", "lagged") == 1
        assert sample("flv", "write_timeout") == 1
        assert sample("rtmp", "write_timeout") == sample("flv", "lagged") == 0
        assert hub.statistics().dropped_viewers == 2
        assert hub.kick("stream1")
        await trio.testing.wait_all_tasks_blocked()
        assert hub.get("stream1") is None
        assert sample("rtmp", "lagged") == 1  # the hub keeps the totals of ended streams
        nursery.cancel_scope.cancel()


async def test_viewers_metric_counts_people_not_the_hls_segmenter(nursery: trio.Nursery) -> None:
    """With HLS on, a stream nobody watches has no viewers (issue 18: the admin list showed 1)."""
    from tests.support.hls_rig import open_rig

    rig = await open_rig(nursery)
    metrics.export_snapshot(metrics.LIVESTREAM_HUB, rig.hub.statistics)
    await rig.publish("s1")
    stats = rig.hub.stream_statistics("s1")
    assert stats is not None
    assert (stats.viewers, stats.consumers) == ({}, {"hls_segmenter": 1})
    assert (
        REGISTRY.get_sample_value("synctv_livestream_viewers", {"protocol": "hls_segmenter"})
        is None
    )
    stream = rig.hub.get("s1")
    assert stream is not None
    with stream.subscribe(protocol="flv"):
        labels = {"protocol": "flv"}
        assert REGISTRY.get_sample_value("synctv_livestream_viewers", labels) == 1


async def test_viewer_counters_add_viewers_the_hub_does_not_subscribe(hub: StreamHub) -> None:
    """HLS players hold no subscription: their counter's viewers join the stream's and the
    hub's (the metric and ``admin live list`` read these), live streams only."""
    counts = {"stream1": 2, "gone": 5}
    hub.add_viewer_counter("hls", lambda stream_id: counts.get(stream_id, 0))
    handle = await hub.start_publish(RECORD)
    stream = hub.get("stream1")
    assert stream is not None
    with stream.subscribe(protocol="flv"):
        stats = hub.stream_statistics("stream1")
        assert stats is not None
        assert stats.viewers == {"flv": 1, "hls": 2}
        assert hub.statistics().viewers == {"flv": 1, "hls": 2}
        counts["stream1"] = 0
        assert hub.statistics().viewers == {"flv": 1}  # no zero entry
    handle.close()
    assert hub.stream_statistics("gone") is None
