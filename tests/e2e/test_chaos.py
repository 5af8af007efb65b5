"""Chaos: a bug at any supervision boundary ends that unit of work, never the server.

One server with a live stream (ffmpeg publishing over RTMP, an HTTP-FLV viewer reading it). For
each boundary in turn, a task entry point is patched to raise once, the boundary is triggered
from outside, and then: the crash was counted under its task name, health still answers, the
live viewer is still receiving, and the same kind of work succeeds again.
"""

from __future__ import annotations

import inspect
import os
import shutil
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from synctv import metrics
from synctv.api.health import Readiness
from synctv.api.http import asgi
from synctv.api.http import server as http_server
from synctv.app import Services
from synctv.livestream.hls import HlsSegmenter
from synctv.livestream.hls_store import MemoryHlsStore
from synctv.proxy.slice_cache import SliceCache
from synctv.rtmp.server import RtmpServer
from synctv.stun.server import StunServer
from tests.support.server import create_live_stream, running_server, server_config, url

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("ffmpeg") is None and not os.environ.get("CI"), reason="needs ffmpeg"
    ),
]

SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "flv" / "h264_aac.flv"


class ChaosError(RuntimeError):
    """The injected bug."""


def raise_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    """Patch ``owner.name`` (sync or async callable) so that its next call raises ChaosError."""
    original = getattr(owner, name)
    fired = False

    def fire() -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise ChaosError(f"injected into {name}")

    if inspect.iscoroutinefunction(original):

        async def async_patched(*args: Any, **kwargs: Any) -> Any:
            fire()
            return await original(*args, **kwargs)

        monkeypatch.setattr(owner, name, async_patched)
    else:

        def patched(*args: Any, **kwargs: Any) -> Any:
            fire()
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, patched)


def crashes(task: str) -> float:
    return float(metrics.TASK_CRASHES.labels(task)._value.get())


@dataclass
class Rig:
    client: httpx.AsyncClient
    health: str
    http: str
    rtmp_port: int
    stun_port: int
    data_dir: Path
    nursery: trio.Nursery
    viewer_bytes: int = 0

    def publish(self, key: str) -> None:
        command = [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1",
            "-i", str(SOURCE), "-c", "copy", "-f", "flv",
            f"rtmp://127.0.0.1:{self.rtmp_port}/live/{key}",
        ]  # fmt: skip
        self.nursery.start_soon(partial(trio.run_process, command, check=False))

    async def watch(self, stream_id: str) -> None:
        """An HTTP-FLV viewer for the whole test, counting the bytes it gets."""
        async with self.client.stream("GET", f"{self.http}/live/{stream_id}.flv") as response:
            assert response.status_code == 200
            async for chunk in response.aiter_raw():
                self.viewer_bytes += len(chunk)

    async def still_serving(self, boundary: str) -> None:
        live = await self.client.get(f"{self.health}/health/live")
        assert live.status_code == 200, boundary
        before = self.viewer_bytes
        with trio.fail_after(5):
            while self.viewer_bytes <= before + 10_000:  # noqa: ASYNC110 (bytes, not an event)
                await trio.sleep(0.05)


async def wait_crash(task: str, before: float) -> None:
    with trio.fail_after(10):
        while crashes(task) < before + 1:  # noqa: ASYNC110 (a metric, not an event)
            await trio.sleep(0.02)


# --- triggers: each makes the server run the patched entry point once, from outside -------


async def http_get(rig: Rig) -> None:
    """On a new connection (a pooled one would not reach the connection boundary)."""
    async with httpx.AsyncClient(timeout=5) as client:
        try:
            await client.get(f"{rig.http}/api/webrtc/ice-servers")
        except httpx.HTTPError:
            pass  # the crashing connection is closed without an answer


async def rtmp_connect(rig: Rig) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", rig.rtmp_port)
    with trio.move_on_after(2):
        await stream.send_all(b"\x03" + bytes(1536))
        await stream.receive_some(4096)
    await stream.aclose()


async def stun_request(rig: Rig) -> bytes | None:
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + os.urandom(12)
    with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
        await sock.sendto(request, ("127.0.0.1", rig.stun_port))
        with trio.move_on_after(1):
            data: bytes = await sock.recv(2048)
            return data
    return None


async def second_stream(rig: Rig) -> None:
    stream_id, key = await create_live_stream(rig.data_dir)
    del stream_id
    rig.publish(key)


async def nothing(rig: Rig) -> None:
    """Periodic services crash on their own schedule."""


Trigger = Callable[[Rig], Awaitable[object]]
# (task counted, what is patched to raise once, how it is triggered)
BOUNDARIES: list[tuple[str, tuple[Any, str], Trigger]] = [
    ("http_request", (asgi.Router, "find"), http_get),  # every request passes through find
    ("http_connection", (http_server, "H1Connection"), http_get),
    ("stun_datagram", (StunServer, "respond"), stun_request),
    ("stream_task", (HlsSegmenter, "run_stream"), second_stream),
    ("hls_store", (MemoryHlsStore, "sweep"), nothing),
    ("slice_sweep", (SliceCache, "sweep"), nothing),
    ("readiness", (Readiness, "_refresh"), nothing),
    ("rtmp_connection", (RtmpServer, "_admit"), rtmp_connect),
]


async def test_every_boundary_contains_its_crash(
    fresh_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = server_config(
        tmp_path / "data",
        fresh_dsn,
        proxy_slice_cache={"eviction_interval_seconds": 0.2},
    )
    captured: list[Services] = []

    def capture(services: Services) -> list[asgi.Route]:
        captured.append(services)
        return []

    with trio.fail_after(90):
        async with (
            trio.open_nursery() as nursery,
            running_server(config, capture) as server,
            httpx.AsyncClient(timeout=5) as client,
        ):
            assert server.addresses.stun is not None
            rig = Rig(
                client,
                url(server.addresses.health, ""),
                url(server.addresses.http, ""),
                server.addresses.rtmp[0][1],
                server.addresses.stun.port,
                config.data_dir,
                nursery,
            )
            stream_id, key = await create_live_stream(config.data_dir)
            rig.publish(key)
            hub = captured[0].hub
            with trio.fail_after(15):
                while hub.get(stream_id) is None:  # noqa: ASYNC110 (hub state)
                    await trio.sleep(0.05)
            nursery.start_soon(rig.watch, stream_id)
            await rig.still_serving("before any injection")

            for task, (owner, name), trigger in BOUNDARIES:
                before = crashes(task)
                raise_once(monkeypatch, owner, name)
                await trigger(rig)
                await wait_crash(task, before)
                await rig.still_serving(task)
            # The same kinds of work succeed again after their crash.
            assert (await client.get(f"{rig.http}/api/webrtc/ice-servers")).status_code == 200
            assert await stun_request(rig) is not None
            nursery.cancel_scope.cancel()
