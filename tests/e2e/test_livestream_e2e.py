"""End to end: FFmpeg and PyAV publish RTMP; ffprobe and PyAV play HTTP-FLV and RTMP.

Everything runs in the real server tree built by app.py (embedded in the test process, on a
real PostgreSQL); publishers and players are separate processes (FFmpeg) or PyAV.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import av
import pytest
import trio

from synctv.api.http.asgi import Route
from synctv.app import Services
from synctv.livestream.hub import StreamHub
from tests._harness.server import running_server, server_config
from tests.conftest import FIXTURES

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg and ffprobe"),
]

H264_AAC = FIXTURES / "flv" / "h264_aac.flv"
AAC_ONLY = FIXTURES / "flv" / "aac_only.flv"
HEVC = FIXTURES / "flv" / "hevc.flv"
ROOT = Path(__file__).resolve().parents[2]
GUARD = 40


@dataclass
class Live:
    hub: StreamHub
    data_dir: Path
    rtmp_port: int
    http_port: int
    nursery: trio.Nursery

    async def new_stream(self) -> tuple[str, str]:
        """Created the way an operator does: ``synctv admin live create`` over the socket."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCTV_")}
        env["SYNCTV_DATA_DIR"] = str(self.data_dir)
        done = await trio.run_process(
            [sys.executable, "-m", "synctv", "admin", "live", "create", "--json"],
            env=env,
            capture_stdout=True,
        )
        created = json.loads(done.stdout)
        return created["stream"]["stream_id"], created["stream_key"]

    def rtmp(self, name: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{name}"

    def flv(self, stream_id: str) -> str:
        return f"http://127.0.0.1:{self.http_port}/live/{stream_id}.flv"

    async def wait_live(self, stream_id: str, min_bytes: int = 20_000) -> None:
        with trio.fail_after(15):
            while True:
                stream = self.hub.get(stream_id)
                if stream is not None and stream.statistics().bytes_in >= min_bytes:
                    return
                await trio.sleep(0.05)

    async def ffmpeg_publish(self, source: Path, key: str, *args: str, loops: int = 4) -> None:
        command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re"]
        command += ["-stream_loop", str(loops), "-i", str(source), *args]
        command += ["-c", "copy", "-f", "flv", self.rtmp(key)]
        self.nursery.start_soon(partial(trio.run_process, command, check=False))


@pytest.fixture(autouse=True)
async def guard(nursery: trio.Nursery) -> None:
    """Fail a test that runs past GUARD seconds (trio-websocket's fail_after guard)."""
    test_task = trio.lowlevel.current_task()

    async def watchdog() -> None:
        await trio.sleep(GUARD)
        raise TimeoutError(f"e2e test still running after {GUARD}s (task {test_task.name})")

    nursery.start_soon(watchdog)


@pytest.fixture
async def live(fresh_dsn: str, tmp_path: Path) -> AsyncIterator[Live]:
    """The whole server tree (app.py), with its hub and registry reachable for the test."""
    captured: list[Services] = []

    def capture(services: Services) -> list[Route]:
        captured.append(services)
        return []

    config = server_config(tmp_path / "data", fresh_dsn)
    async with trio.open_nursery() as nursery, running_server(config, capture) as server:
        services = captured[0]
        http_port = int(server.addresses.http[0].rsplit(":", 1)[1])
        yield Live(services.hub, config.data_dir, server.addresses.rtmp[0][1], http_port, nursery)
        nursery.cancel_scope.cancel()


async def ffprobe(url: str) -> list[str]:
    with trio.fail_after(20):
        result = await trio.run_process(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", url],
            capture_stdout=True,
        )
    return sorted(s["codec_name"] for s in json.loads(result.stdout)["streams"])


def read_packets(url: str, count: int) -> list[tuple[str, bytes]]:
    """(kind, bytes) of the first ``count`` packets PyAV demuxes from ``url`` (blocking)."""
    out: list[tuple[str, bytes]] = []
    with av.open(url, timeout=10) as container:
        for packet in container.demux():
            if packet.size == 0:
                continue
            out.append((packet.stream.type, bytes(packet)))
            if len(out) >= count:
                break
    return out


def source_packets(path: Path) -> list[tuple[str, bytes]]:
    with av.open(str(path)) as container:
        return [(p.stream.type, bytes(p)) for p in container.demux() if p.size]


def assert_contiguous(received: Sequence[bytes], source: Sequence[bytes]) -> None:
    """Every received packet is a source packet, in source order (the source loops)."""
    index = {data: i for i, data in enumerate(source)}
    assert len(index) == len(source), "fixture packets are not distinct"
    positions = [index[data] for data in received]  # KeyError: a packet we never published
    for before, after in itertools.pairwise(positions):
        assert after == (before + 1) % len(source), (before, after)


async def test_ffmpeg_publish_http_flv_and_rtmp_play(live: Live) -> None:
    stream_id, key = await live.new_stream()
    await live.ffmpeg_publish(H264_AAC, key)
    await live.wait_live(stream_id)
    assert await ffprobe(live.flv(stream_id)) == ["aac", "h264"]
    assert await ffprobe(live.rtmp(stream_id)) == ["aac", "h264"]
    # Packets a viewer gets after the join point are the published ones, none lost or doubled.
    source = source_packets(H264_AAC)
    for url in (live.flv(stream_id), live.rtmp(stream_id)):
        received = await trio.to_thread.run_sync(read_packets, url, 120, abandon_on_cancel=True)
        for kind in ("video", "audio"):
            got = [data for k, data in received if k == kind]
            assert len(got) > 20
            assert_contiguous(got, [data for k, data in source if k == kind])
    # The same publish is segmented for HLS by the stream's segmenter task.
    playlist = f"http://127.0.0.1:{live.http_port}/live/{stream_id}/index.m3u8"
    assert await ffprobe(playlist) == ["aac", "h264"]


async def test_audio_only(live: Live) -> None:
    stream_id, key = await live.new_stream()
    await live.ffmpeg_publish(AAC_ONLY, key)
    await live.wait_live(stream_id, min_bytes=3000)
    assert await ffprobe(live.flv(stream_id)) == ["aac"]
    assert await ffprobe(live.rtmp(stream_id)) == ["aac"]


async def test_video_only(live: Live, tmp_path: Path) -> None:
    video_only = tmp_path / "video_only.flv"
    await trio.run_process(
        ["ffmpeg", "-loglevel", "error", "-i", str(H264_AAC), "-an", "-c", "copy", str(video_only)]
    )
    stream_id, key = await live.new_stream()
    await live.ffmpeg_publish(video_only, key)
    await live.wait_live(stream_id)
    assert await ffprobe(live.flv(stream_id)) == ["h264"]


def pyav_publish(source: Path, url: str, loops: int) -> None:
    """Remux ``source`` to RTMP with PyAV's own FFmpeg, paced in real time, ``loops`` times."""
    with av.open(str(source)) as src:
        packets = [p for p in src.demux() if p.size]
        duration = max(float(p.pts * p.time_base) for p in packets if p.pts is not None) + 0.04
        with av.open(url, "w", format="flv") as out:
            streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
            start = time.monotonic()
            for loop in range(loops):
                for packet in packets:
                    shift = round(loop * duration / packet.time_base)
                    at = float(packet.pts * packet.time_base) + loop * duration
                    delay = start + at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    packet.stream = streams[packet.stream.index]
                    packet.pts = None if packet.pts is None else packet.pts + shift
                    packet.dts = None if packet.dts is None else packet.dts + shift
                    out.mux(packet)
                    packet.pts = None if packet.pts is None else packet.pts - shift
                    packet.dts = None if packet.dts is None else packet.dts - shift


def codecs_of(url: str) -> list[str]:
    with av.open(url, timeout=10) as container:
        return sorted(s.codec_context.name for s in container.streams)


@pytest.mark.parametrize(
    ("source", "codecs"),
    [(HEVC, ["hevc"]), (H264_AAC, ["aac", "h264"])],
    ids=["hevc", "h264"],
)
async def test_pyav_publisher(live: Live, source: Path, codecs: list[str]) -> None:
    stream_id, key = await live.new_stream()
    # A process of its own: PyAV holds the GIL while its RTMP writer blocks on our server.
    code = "import sys; from pathlib import Path; from tests.e2e.test_livestream_e2e import "
    code += "pyav_publish; pyav_publish(Path(sys.argv[1]), sys.argv[2], 3)"
    command = [sys.executable, "-c", code, str(source), live.rtmp(key)]
    live.nursery.start_soon(partial(trio.run_process, command, check=False, cwd=ROOT))
    await live.wait_live(stream_id, min_bytes=10_000)
    found = await trio.to_thread.run_sync(codecs_of, live.flv(stream_id), abandon_on_cancel=True)
    assert found == codecs
    packets = await trio.to_thread.run_sync(
        read_packets, live.rtmp(stream_id), 30, abandon_on_cancel=True
    )
    assert {kind for kind, _ in packets} >= {"video"}
