"""RTMP listener hardening: a trickling publisher does not hold its stream, refusals do not
flood the log, accept errors never end the listener, a bug in admission ends one connection."""

from __future__ import annotations

import contextlib
import errno
import logging

import pytest
import trio

from synctv import metrics
from synctv.accept import RepeatedEvents
from synctv.livestream.registry import LiveStreamRegistry
from synctv.media.flv import TAG_VIDEO, FlvTag
from synctv.rtmp.server import RtmpServer
from tests.support.listeners import FlakyListener
from tests.support.rtmp import MEDIA, rig, wait_for


async def test_a_trickling_publisher_is_replaced_by_the_real_one(
    registry: LiveStreamRegistry,
) -> None:
    """Stalled mid-message, then one byte a second: bytes keep coming, media does not. OBS's
    reconnect with the same key must take over (before: refused ``already publishing`` for as
    long as the trickle lasted), and the trickler is cut by its idle timer either way."""
    async with rig(registry, tcp=True, takeover=0.5, publisher_idle_timeout_seconds=30) as r:
        first = await r.tcp()
        assert (await first.publish("live", r.key)).code == "NetStream.Publish.Start"
        await first.send_tags(MEDIA[:3])
        first.session.send_video(first.stream_id, 1200, MEDIA[1].data + bytes(5000))
        message = first.session.data_to_send()
        await first.stream.send_all(message[:20])  # part of a message, then a trickle

        async def trickle() -> None:
            # Until the connection is gone: cut by the server, or closed by the rig at the end.
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                for byte in message[20:40]:
                    await first.stream.send_all(bytes([byte]))
                    await trio.sleep(0.1)

        r.nursery.start_soon(trickle)
        await trio.sleep(0.8)  # past the takeover silence, while bytes still arrive
        second = await r.tcp()
        assert (await second.publish("live", r.key)).code == "NetStream.Publish.Start"
        await first.closed()
        assert r.closed("replaced") == 1


async def test_a_trickling_publisher_is_cut_by_its_idle_timer(
    registry: LiveStreamRegistry,
) -> None:
    async with rig(registry, tcp=True, publisher_idle_timeout_seconds=0.5) as r:
        peer = await r.tcp()
        await peer.publish("live", r.key)
        await peer.send_tags(MEDIA[:3])
        peer.session.send_video(peer.stream_id, 1200, MEDIA[1].data + bytes(5000))
        message = peer.session.data_to_send()
        began = trio.current_time()

        async def trickle() -> None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                for byte in message[:60]:
                    await peer.stream.send_all(bytes([byte]))
                    await trio.sleep(0.05)

        r.nursery.start_soon(trickle)
        with trio.fail_after(2):
            await peer.closed()
        assert trio.current_time() - began < 1.0  # not kept alive by the trickle
        assert r.closed("idle_timeout") == 1


async def test_a_burst_of_refused_connections_is_a_few_log_lines(
    registry: LiveStreamRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="synctv.rtmp.server")
    async with rig(registry, max_rtmp_connections_per_ip=20) as r:
        held = [r.memory("198.51.100.9") for _ in range(20)]
        for peer in held:
            await peer.open_stream("live")
        refused = [r.memory("198.51.100.9") for _ in range(300)]
        for peer in refused:
            await peer.closed()
        assert r.server.statistics().refused["per_ip_limit"] == 300
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) <= 2, [r.getMessage() for r in lines]


def test_repeated_events_sums_repeats_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("synctv.test.repeats")
    now = [0.0]
    repeats = RepeatedEvents(log, interval=10, max_keys=2, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="synctv.test.repeats"):
        for _ in range(5):
            repeats.event(logging.WARNING, "bad_name", "1.2.3.4", "refused %s", "1.2.3.4")
        repeats.event(logging.WARNING, "bad_name", "5.6.7.8", "refused %s", "5.6.7.8")
        repeats.event(logging.WARNING, "protocol_error", "9.9.9.9", "x")  # past max_keys
        now[0] = 10.5
        repeats.event(logging.WARNING, "bad_name", "1.2.3.4", "refused %s", "1.2.3.4")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "refused 1.2.3.4",
        "refused 5.6.7.8",
        "4 more like it from 1.2.3.4 (bad_name) in 10 s",
        "1 more from other sources in 10 s",
        "refused 1.2.3.4",
    ]


async def test_accept_errors_never_end_the_rtmp_listener(registry: LiveStreamRegistry) -> None:
    """Six EMFILEs (backoff 10 ms doubling: ~0.6 s), then the connection is accepted."""
    async with rig(registry) as r:
        [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listener.socket.getsockname()[1]
        async with trio.open_nursery() as handlers:
            handlers.start_soon(
                r.server._accept_loop, FlakyListener(listener, 6, errno.EMFILE), handlers
            )  # type: ignore[arg-type]
            client = await trio.open_tcp_stream("127.0.0.1", port)
            with trio.fail_after(5):
                await wait_for(lambda: r.server.statistics().accepted == 1)
            await client.aclose()
            handlers.cancel_scope.cancel()


async def test_a_bug_in_admission_ends_only_that_connection(
    registry: LiveStreamRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = RtmpServer._admit
    calls = 0

    def admit_once_broken(self: RtmpServer, host: str) -> str | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("injected")
        return real(self, host)

    monkeypatch.setattr(RtmpServer, "_admit", admit_once_broken)
    crashes = metrics.TASK_CRASHES.labels("rtmp_connection")
    before = crashes._value.get()
    async with rig(registry) as r:
        broken = r.memory()
        await broken.closed()
        fine = r.memory()
        await fine.open_stream("live")
        assert r.server.statistics().connections == 1
    assert crashes._value.get() == before + 1


async def _reads_for(
    registry: LiveStreamRegistry, window_ms: int, monkeypatch: pytest.MonkeyPatch
) -> int:
    """How many reads the server makes of a publisher sending 40 frames 10 ms apart."""
    from synctv.rtmp.session import ServerSession

    reads = 0
    real = ServerSession.receive_data

    def counting(self: ServerSession, data: bytes) -> object:
        nonlocal reads
        reads += 1
        return real(self, data)

    async with rig(registry, tcp=True, fanout_batch_window_ms=window_ms) as r:
        peer = await r.tcp()
        await peer.publish("live", r.key)
        await peer.send_tags(MEDIA[:3])
        live = await r.live()
        monkeypatch.setattr(ServerSession, "receive_data", counting)
        for i in range(40):
            await peer.send_tags([_frame(1000 + 10 * i)])
            await trio.sleep(0.01)
        await wait_for(lambda: live.statistics().bytes_in >= 40 * 300)
        monkeypatch.setattr(ServerSession, "receive_data", real)
    return reads


def _frame(timestamp: int) -> FlvTag:
    return FlvTag(TAG_VIDEO, timestamp, bytes([0x27, 0x01, 0, 0, 0]) + bytes(300))


async def test_a_publishers_reads_are_merged_over_a_share_of_the_batch_window(
    registry: LiveStreamRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    merged = await _reads_for(registry, 200, monkeypatch)  # 50 ms merges
    unmerged = await _reads_for(registry, 0, monkeypatch)  # lowest latency: every write read
    assert unmerged >= 30
    assert merged <= 15, (merged, unmerged)
