"""Upstream bytes and upstream errors are counted on every path, once: slices, pass-through,
playlists and provider API calls (read from the Prometheus registry, against real servers)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import pytest
from prometheus_client import REGISTRY

from synctv.outbound.client import HttpUpstream
from synctv.outbound.request import JsonCallError
from synctv.outbound.scope import LanScope
from tests.proxy.conftest import Harness, HarnessFactory
from tests.proxy.upstream_server import Obj, json_reply

DATA = bytes(range(256)) * 64  # 16 KiB


@dataclass(frozen=True)
class Metric:
    """A process-wide counter as the metrics endpoint would export it (tests compare deltas)."""

    name: str

    def value(self, **labels: str) -> float:
        return REGISTRY.get_sample_value(self.name, labels) or 0.0


BYTES = Metric("synctv_outbound_received_bytes_total")
ERRORS = Metric("synctv_outbound_errors_total")


@pytest.mark.parametrize("cache", [True, False], ids=["slices", "passthrough"])
async def test_media_bytes_are_counted(make_harness: HarnessFactory, cache: bool) -> None:
    harness: Harness = await make_harness(cache=cache, slice_size=4096)
    harness.origin.objects["/f"] = Obj(DATA)
    before = BYTES.value()
    reply = await harness.get(harness.path("/f"))
    assert (reply.status, len(reply.body)) == (200, len(DATA))
    assert BYTES.value() - before == len(DATA)


async def test_playlist_bytes_are_counted(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness()
    playlist = b"#EXTM3U\n#EXTINF:2,\nseg0.ts\n"
    harness.origin.objects["/hls/index.m3u8"] = Obj(
        playlist, content_type="application/vnd.apple.mpegurl"
    )
    before = BYTES.value()
    assert (await harness.get(harness.path("/hls/index.m3u8"))).status == 200
    assert BYTES.value() - before == len(playlist)


async def test_provider_api_bytes_are_counted(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness()
    answer = json_reply({"code": 200, "data": {"items": list(range(100))}})
    harness.origin.handler = lambda seen: answer
    before = BYTES.value()
    reply = await harness.upstream.request_json(
        "POST", f"{harness.origin.base}/api", json_body={}, lan=LanScope.parse(["127.0.0.1"])
    )
    assert reply.status == 200
    assert BYTES.value() - before == len(answer[2])


@pytest.mark.parametrize(
    ("cache", "status", "kind"),
    [
        (True, 500, "status"),
        (False, 500, "status"),
        (True, 404, "not_found"),
        (False, 404, "not_found"),
        (False, 403, "status"),
    ],
)
async def test_error_statuses_are_counted_once_by_class(
    make_harness: HarnessFactory, cache: bool, status: int, kind: str
) -> None:
    harness: Harness = await make_harness(cache=cache)
    harness.origin.objects["/f"] = Obj(DATA, status=status)
    before = ERRORS.value(kind=kind)
    reply = await harness.get(harness.path("/f"), {"range": "bytes=0-9"})
    assert reply.status in (404, 502)
    assert ERRORS.value(kind=kind) - before == 1


async def test_playlist_and_provider_api_failures_are_counted(
    make_harness: HarnessFactory,
) -> None:
    harness: Harness = await make_harness()
    harness.origin.objects["/bad.m3u8"] = Obj(b"<html>not a playlist</html>")
    before = ERRORS.value(kind="protocol")
    assert (await harness.get(harness.path("/bad.m3u8"))).status == 502
    assert ERRORS.value(kind="protocol") - before == 1

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    lenient = HttpUpstream(connect_timeout=2.0, allow_private=True)
    before = ERRORS.value(kind="connect")
    with pytest.raises(JsonCallError):
        await lenient.request_json("GET", f"http://127.0.0.1:{port}/api")
    assert ERRORS.value(kind="connect") - before == 1
    await lenient.aclose()

    before = ERRORS.value(kind="refused")  # the strict policy refuses loopback
    with pytest.raises(JsonCallError):
        await harness.upstream.request_json("GET", f"{harness.origin.base}/api")
    assert ERRORS.value(kind="refused") - before == 1
