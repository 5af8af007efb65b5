"""HLS players count as viewers, end to end: FFmpeg publishes RTMP into the real server, FFmpeg
players read HLS (and HTTP-FLV), and the counts operators read move with them: the
``synctv_livestream_viewers`` gauge scraped from the metrics port and ``synctv admin live list``.

Two HLS players from one address with one User-Agent are two viewers (each follows the
playlist's redirect to its own session id); a player counts from its first segments and stops
counting about three target durations after it stopped.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from synctv.app import Controller
from synctv.config import Config
from tests.conftest import FIXTURES
from tests.support.cli import synctv
from tests.support.server import create_live_stream, running_server, server_config, url

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg"),
]

H264_AAC = FIXTURES / "flv" / "h264_aac.flv"  # 2 s, 1 s GOP: 3 s target durations here
WINDOW = 9.0  # three target durations
GUARD = 120
_SAMPLE = re.compile(r'^synctv_livestream_viewers\{protocol="([a-z_]+)"\} ([0-9.e+]+)$', re.M)


@dataclass
class Live:
    config: Config
    server: Controller
    client: httpx.AsyncClient
    stream_id: str

    @property
    def playlist(self) -> str:
        return url(self.server.addresses.http, f"/live/{self.stream_id}/index.m3u8")

    @property
    def flv(self) -> str:
        return url(self.server.addresses.http, f"/live/{self.stream_id}.flv")

    async def viewers(self) -> dict[str, int]:
        """``synctv_livestream_viewers`` by protocol, scraped from the metrics port."""
        reply = await self.client.get(url(self.server.addresses.metrics, "/metrics"))
        reply.raise_for_status()
        found = {p: int(float(v)) for p, v in _SAMPLE.findall(reply.text)}
        return {protocol: count for protocol, count in found.items() if count}

    async def wait_viewers(self, expected: dict[str, int], timeout: float) -> float:
        """Poll until the gauge reads ``expected``; the seconds it took."""
        start = trio.current_time()
        with trio.fail_after(timeout):
            while await self.viewers() != expected:  # noqa: ASYNC110 (polling a scrape)
                await trio.sleep(0.25)
        return trio.current_time() - start

    async def hold_viewers(self, expected: dict[str, int], seconds: float) -> None:
        """The gauge reads ``expected`` at every poll for ``seconds`` (playlist reloads and
        new segments do not add sessions)."""
        end = trio.current_time() + seconds
        while trio.current_time() < end:
            assert await self.viewers() == expected
            await trio.sleep(0.25)

    async def listed_viewers(self) -> int:
        """What ``synctv admin live list --json`` says of the stream."""
        code, out, err = await synctv(self.config.data_dir, "admin", "live", "list", "--json")
        assert code == 0, err
        [item] = [i for i in json.loads(out) if i["stream_id"] == self.stream_id]
        assert item["live"] is True
        return int(item["viewers"])


class Player:
    """An FFmpeg reading ``source`` at its own pace until ``stop``."""

    def __init__(self, nursery: trio.Nursery, source: str) -> None:
        self._scope = trio.CancelScope()
        command = ["ffmpeg", "-nostdin", "-v", "error", "-i", source, "-c", "copy", "-f", "null"]
        nursery.start_soon(self._run, [*command, "-"])

    async def _run(self, command: list[str]) -> None:
        with self._scope:
            await trio.run_process(command, check=False)

    def stop(self) -> None:
        self._scope.cancel()


@pytest.fixture(autouse=True)
async def guard(nursery: trio.Nursery) -> None:
    async def watchdog() -> None:
        await trio.sleep(GUARD)
        raise TimeoutError(f"HLS viewers e2e test still running after {GUARD}s")

    nursery.start_soon(watchdog)


@pytest.fixture
async def live(fresh_dsn: str, tmp_path: Path) -> AsyncIterator[Live]:
    config = server_config(tmp_path / "data", fresh_dsn)
    async with (
        trio.open_nursery() as nursery,
        running_server(config) as server,
        httpx.AsyncClient(timeout=15, follow_redirects=True) as client,
    ):
        stream_id, key = await create_live_stream(config.data_dir)
        port = server.addresses.rtmp[0][1]
        command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "60"]
        command += ["-i", str(H264_AAC), "-c", "copy", "-f", "flv"]
        command += [f"rtmp://127.0.0.1:{port}/live/{key}"]
        nursery.start_soon(partial(trio.run_process, command, check=False))
        running = Live(config, server, client, stream_id)
        with trio.fail_after(30):
            while True:  # 503 until the publisher is in; then held until the first segment
                reply = await client.get(running.playlist)
                if reply.status_code == 200 and ".ts?" in reply.text:
                    break
                await trio.sleep(0.2)
        yield running
        nursery.cancel_scope.cancel()


async def test_hls_players_count_as_viewers_beside_flv(live: Live, nursery: trio.Nursery) -> None:
    assert await live.viewers() == {}
    # The probing requests above fetched playlists only: no viewer yet.
    first = Player(nursery, live.playlist)
    await live.wait_viewers({"hls": 1}, 20)
    await live.hold_viewers({"hls": 1}, WINDOW + 1)  # reloads keep one session
    assert await live.listed_viewers() == 1

    second = Player(nursery, live.playlist)  # same address, same User-Agent: its own session
    await live.wait_viewers({"hls": 2}, 20)
    flv = Player(nursery, live.flv)
    await live.wait_viewers({"hls": 2, "flv": 1}, 20)
    assert await live.listed_viewers() == 3

    first.stop()
    gone = await live.wait_viewers({"hls": 1, "flv": 1}, WINDOW + 5)
    assert gone >= WINDOW - 4  # counted until about three target durations after its last fetch
    second.stop()
    await live.wait_viewers({"flv": 1}, WINDOW + 5)
    flv.stop()
    await live.wait_viewers({}, 10)
    assert await live.listed_viewers() == 0
