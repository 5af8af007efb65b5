"""End to end HLS: FFmpeg publishes RTMP into the real server tree (app.py), FFmpeg/PyAV read HLS.

Audio-only and video-only publishes get playable playlists of their one track; the metrics the
HLS path exports move with real traffic (scraped from the metrics port); and with the ``file``
backend a restart of the server leaves no segment, playlist or temporary file of the previous
run behind.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
import trio

from synctv.api.http.asgi import Route
from synctv.app import Controller, Services
from synctv.config import Config
from synctv.livestream.hub import StreamHub
from tests.conftest import FIXTURES
from tests.livestream.hls_support import metric
from tests.support.server import create_live_stream, running_server, server_config, url

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg and ffprobe"),
]

H264_AAC = FIXTURES / "flv" / "h264_aac.flv"  # 2 s, 1 s GOP
AAC_ONLY = FIXTURES / "flv" / "aac_only.flv"
GUARD = 60


@dataclass
class Live:
    hub: StreamHub
    config: Config
    server: Controller
    nursery: trio.Nursery

    @property
    def http(self) -> str:
        return url(self.server.addresses.http, "")

    def playlist_url(self, stream_id: str) -> str:
        return f"{self.http}/live/{stream_id}/index.m3u8"

    async def new_stream(self) -> tuple[str, str]:
        return await create_live_stream(self.config.data_dir)

    def ffmpeg_publish(self, source: Path, key: str, *args: str, loops: int = 6) -> None:
        port = self.server.addresses.rtmp[0][1]
        command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re"]
        command += ["-stream_loop", str(loops), "-i", str(source), *args]
        command += ["-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{port}/live/{key}"]
        self.nursery.start_soon(partial(trio.run_process, command, check=False))

    async def wait_segments(self, client: httpx.AsyncClient, stream_id: str, count: int) -> str:
        """The playlist once it lists ``count`` segments (the route holds the first request
        until the first segment exists)."""
        with trio.fail_after(20):
            while True:
                reply = await client.get(self.playlist_url(stream_id))
                if reply.status_code == 200 and len(segment_uris(reply.text)) >= count:
                    return reply.text
                await trio.sleep(0.2)


def segment_uris(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def extinfs(playlist: str) -> list[float]:
    return [float(line[8:].rstrip(",")) for line in playlist.splitlines() if line[:8] == "#EXTINF:"]


@pytest.fixture(autouse=True)
async def guard(nursery: trio.Nursery) -> None:
    """Fail a test that runs past GUARD seconds (trio-websocket's fail_after guard)."""

    async def watchdog() -> None:
        await trio.sleep(GUARD)
        raise TimeoutError(f"HLS e2e test still running after {GUARD}s")

    nursery.start_soon(watchdog)


@asynccontextmanager
async def serving(config: Config) -> AsyncIterator[Live]:
    captured: list[Services] = []

    def capture(services: Services) -> list[Route]:
        captured.append(services)
        return []

    async with trio.open_nursery() as nursery, running_server(config, capture) as server:
        yield Live(captured[0].hub, config, server, nursery)
        nursery.cancel_scope.cancel()


ConfigFactory = Callable[..., Config]


@pytest.fixture
def make_config(fresh_dsn: str, tmp_path: Path) -> ConfigFactory:
    def make(**livestream: Any) -> Config:
        return server_config(tmp_path / "data", fresh_dsn, livestream={**livestream})

    return make


@pytest.fixture
async def live(make_config: ConfigFactory) -> AsyncIterator[Live]:
    async with serving(make_config(rtmp_host="127.0.0.1", rtmp_port=0)) as running:
        yield running


async def run_tool(*argv: str) -> tuple[int, str, str]:
    with trio.fail_after(30):
        result = await trio.run_process(
            list(argv), capture_stdout=True, capture_stderr=True, check=False
        )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def pyav_read(playlist_url: str) -> dict[str, int]:
    """Demux and decode the (live) playlist's first ~4 s with PyAV; frames per stream type."""
    frames: dict[str, int] = {}
    av.logging.set_level(av.logging.WARNING)
    try:
        with (
            av.logging.Capture(local=False) as logs,
            av.open(playlist_url, timeout=10) as container,
        ):
            for packet in container.demux():
                if packet.size == 0:
                    continue
                kind = packet.stream.type
                frames[kind] = frames.get(kind, 0) + len(packet.decode())
                if packet.pts is not None and float(packet.pts * packet.time_base) > 4:
                    break
    finally:
        av.logging.set_level(None)
    assert [entry for entry in logs if entry[0] <= av.logging.WARNING] == []
    return frames


async def assert_playable(live: Live, stream_id: str, playlist: str, codecs: list[str]) -> None:
    assert "#EXT-X-TARGETDURATION:3\n" in playlist  # 2 s target, 1 s GOP: the 1.5x floor
    assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n" in playlist
    assert all(1.5 <= d <= 3.0 for d in extinfs(playlist)), playlist
    code, out, err = await run_tool(
        "ffprobe", "-v", "warning", "-show_entries", "stream=codec_name", "-of", "json",
        live.playlist_url(stream_id),
    )  # fmt: skip
    assert (code, err) == (0, ""), err
    assert sorted(s["codec_name"] for s in json.loads(out)["streams"]) == codecs
    base = live.playlist_url(stream_id).rsplit("/", 1)[0]
    for uri in segment_uris(playlist)[:2]:  # each segment on its own, as a joining player
        code, _, err = await run_tool(
            "ffmpeg", "-nostdin", "-v", "warning", "-i", f"{base}/{uri}", "-f", "null", "-"
        )
        assert (code, err) == (0, ""), err
    frames = await trio.to_thread.run_sync(
        pyav_read, live.playlist_url(stream_id), abandon_on_cancel=True
    )
    assert sorted(frames) == ["audio" if c == "aac" else "video" for c in codecs]
    assert all(count > 20 for count in frames.values()), frames


async def test_audio_only_publish_gets_an_audio_only_playlist(live: Live) -> None:
    stream_id, key = await live.new_stream()
    live.ffmpeg_publish(AAC_ONLY, key)
    async with httpx.AsyncClient(timeout=15, follow_redirects=True) as client:
        playlist = await live.wait_segments(client, stream_id, 2)
    await assert_playable(live, stream_id, playlist, ["aac"])


async def test_video_only_publish_gets_a_video_only_playlist(live: Live, tmp_path: Path) -> None:
    video_only = tmp_path / "video_only.flv"
    await run_tool("ffmpeg", "-loglevel", "error", "-i", str(H264_AAC), "-an", "-c", "copy",
                   str(video_only))  # fmt: skip
    stream_id, key = await live.new_stream()
    live.ffmpeg_publish(video_only, key)
    async with httpx.AsyncClient(timeout=15, follow_redirects=True) as client:
        playlist = await live.wait_segments(client, stream_id, 2)
    await assert_playable(live, stream_id, playlist, ["h264"])


HLS_SAMPLES = [
    ("synctv_hls_segments_total", {}),
    ("synctv_hls_segment_duration_seconds_count", {}),
    ("synctv_hls_segment_duration_seconds_sum", {}),
    ("synctv_hls_segment_duration_seconds_bucket", {"le": "1.5"}),
    ("synctv_hls_segment_duration_seconds_bucket", {"le": "2.5"}),
    ("synctv_hls_playlist_requests_total", {"outcome": "ok"}),
    ("synctv_hls_segment_requests_total", {"status": "200"}),
    ("synctv_hls_served_bytes_total", {}),
]


def hls_samples() -> dict[tuple[str, str], float]:
    return {(name, str(labels)): metric(name, labels) for name, labels in HLS_SAMPLES}


async def test_hls_metrics_follow_real_traffic(live: Live) -> None:
    """Segments produced, the duration histogram, playlist requests, bytes served and the store
    size, read from the process's prometheus registry after a real publish and real fetches.

    (Read in-process: the metrics port fails to render while a stream is live, because the hub
    collector reads the trio clock from the rendering thread; reported, not HLS code.)
    """
    async with httpx.AsyncClient(timeout=15, follow_redirects=True) as client:
        stream_id, key = await live.new_stream()
        before = hls_samples()
        live.ffmpeg_publish(H264_AAC, key)
        polls = 0  # answered 200 (before the publisher connected: 503 stream_not_live)
        with trio.fail_after(20):
            while True:
                reply = await client.get(live.playlist_url(stream_id))
                polls += reply.status_code == 200
                if reply.status_code == 200 and len(segment_uris(reply.text)) >= 2:
                    break
                await trio.sleep(0.2)
        served = len(reply.content)
        listed = segment_uris(reply.text)
        base = live.playlist_url(stream_id).rsplit("/", 1)[0]
        sizes = []
        for uri in listed:
            segment = await client.get(f"{base}/{uri}")
            assert segment.status_code == 200
            sizes.append(len(segment.content))
        after = hls_samples()
        store_bytes = metric("synctv_hls_store_bytes")
        store_segments = metric("synctv_hls_store_segments")

    def delta(name: str, **labels: str) -> float:
        key = (name, str(labels))
        return after[key] - before[key]

    produced = delta("synctv_hls_segments_total")
    assert produced >= len(listed) >= 2
    assert delta("synctv_hls_segment_duration_seconds_count") == produced
    # Every produced segment lasts ~2 s: all of them in the (1.5, 2.5] buckets.
    assert delta("synctv_hls_segment_duration_seconds_bucket", le="1.5") == 0
    assert delta("synctv_hls_segment_duration_seconds_bucket", le="2.5") == produced
    assert 1.5 * produced <= delta("synctv_hls_segment_duration_seconds_sum") <= 2.5 * produced
    # Once live, the first poll was held until the first segment existed.
    assert delta("synctv_hls_playlist_requests_total", outcome="ok") == polls
    assert delta("synctv_hls_segment_requests_total", status="200") == len(listed)
    # Bytes served: the segments and the last playlist exactly, plus the earlier polls' playlists
    # (each well under 1 KB).
    assert served + sum(sizes) <= delta("synctv_hls_served_bytes_total")
    assert delta("synctv_hls_served_bytes_total") <= served + sum(sizes) + 1024 * (polls - 1)
    # The store (memory backend) holds at least the listed segments.
    assert store_bytes >= sum(sizes)
    assert store_segments >= len(listed)


async def test_restart_with_the_file_backend_leaves_no_stale_files(
    make_config: ConfigFactory,
) -> None:
    """Publish with ``hls_storage.backend: file``, stop the server without letting the stream
    end (the files of an interrupted run stay behind, as after a crash), start it again on the
    same data directory: the HLS directory holds nothing of the earlier run."""
    config = make_config(rtmp_host="127.0.0.1", rtmp_port=0, hls_storage={"backend": "file"})
    root = config.path(config.livestream.hls_storage.dir)
    async with (
        serving(config) as first,
        httpx.AsyncClient(timeout=15, follow_redirects=True) as client,
    ):
        stream_id, key = await first.new_stream()
        first.ffmpeg_publish(H264_AAC, key)
        playlist = await first.wait_segments(client, stream_id, 2)
        names = {p.name for p in (root / stream_id).iterdir()}
        # (Segment URIs carry the player's viewer session: the file is the path.)
        files = {uri.partition("?")[0] for uri in segment_uris(playlist)}
        assert {"index.m3u8", *files} <= names
        first.server.abort()  # no drain, no linger: the tree is cancelled mid-stream
    left = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    assert f"{stream_id}/index.m3u8" in left  # what an interrupted run leaves behind
    (root / stream_id / ".3.ts.0badc0de.tmp").write_bytes(b"half a segment")  # and a crash
    (root / "not-ours.txt").write_text("kept")  # anything not ours is left alone

    async with (
        serving(config) as second,
        httpx.AsyncClient(timeout=15, follow_redirects=True) as client,
    ):
        assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == ["not-ours.txt"]
        reply = await client.get(second.playlist_url(stream_id))
        # Not the stale playlist: a known stream that is not live (503, as on HTTP-FLV).
        assert (reply.status_code, reply.json()["code"]) == (503, "stream_not_live")
