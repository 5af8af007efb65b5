"""One request's upstream failure is that request's 502, never the slice cache's (or the server's)
end; refusals tell the client nothing about addresses; the server's own listeners are off limits.

Everything runs through the real MediaProxy + SliceCache + HttpUpstream against real origins on
127.0.0.x (see conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
import trio
from prometheus_client import REGISTRY

from synctv.outbound.client import HttpUpstream
from synctv.outbound.request import UpstreamError, UpstreamTarget
from synctv.proxy.slice_cache import SliceCache, UpstreamResponse
from tests.proxy.conftest import CacheRun, Harness, HarnessFactory, call
from tests.proxy.upstream_server import Obj, UpstreamServer

BAD_URLS = [
    "http://0177.0.0.1:18555/x",  # octal-looking IPv4: httpx's InvalidURL
    "http://999.1.1.1/x",
    "http://1.2.3.04/x",
    "http://a..b/x",  # empty label: UnicodeError from the idna codec at connect time
    "http://xn--/x",  # idna.IDNAError (a UnicodeError, not an httpx error) from build_request
    "http://[::1/x",
    "http://host:99999/x",
    "http://h\x00st/x",
]


def _code(body: bytes) -> str:
    code: str = json.loads(body)["code"]
    return code


async def _still_serves(harness: Harness) -> None:
    harness.origin.objects["/good"] = Obj(b"good bytes")
    reply = await harness.get(harness.path("/good"))
    assert (reply.status, reply.body) == (200, b"good bytes")


@pytest.mark.parametrize("url", BAD_URLS, ids=repr)
@pytest.mark.parametrize("cache", [True, False], ids=["cache", "passthrough"])
async def test_a_malformed_upstream_url_is_a_502_for_that_request_only(
    make_harness: HarnessFactory, url: str, cache: bool
) -> None:
    harness: Harness = await make_harness(cache=cache, lan_service=True, allow_private=True)
    with trio.fail_after(10):
        reply = await harness.get(harness.path(url), {"range": "bytes=0-9"})
        assert reply.status == 502
        assert _code(reply.body) == "upstream_error"
        assert "Traceback" not in reply.body.decode()
        if cache:
            assert harness.cache_run.crash is None
            assert harness.cache_run.alive
        await _still_serves(harness)


@pytest.mark.parametrize("url", BAD_URLS, ids=repr)
async def test_a_malformed_redirect_target_is_a_502(make_harness: HarnessFactory, url: str) -> None:
    harness: Harness = await make_harness(lan_service=True, allow_private=True)
    harness.origin.objects["/jump"] = Obj(b"", redirect=url)
    with trio.fail_after(10):
        reply = await harness.get(harness.path("/jump"))
        assert (reply.status, _code(reply.body)) == (502, "upstream_error")
        assert harness.cache_run.alive
        await _still_serves(harness)


class _Exploding:
    """An Upstream whose open() fails with an exception nobody planned for (a bug)."""

    def __init__(self, inner: HttpUpstream) -> None:
        self.inner = inner
        self.explode = True

    def open(
        self, target: UpstreamTarget, request_headers: Sequence[tuple[str, str]] = ()
    ) -> AbstractAsyncContextManager[UpstreamResponse]:
        return self._open(target, request_headers)

    @asynccontextmanager
    async def _open(
        self, target: UpstreamTarget, request_headers: Sequence[tuple[str, str]]
    ) -> AsyncIterator[UpstreamResponse]:
        if self.explode:
            raise KeyError("a bug in the fetch path")
        async with self.inner.open(target, request_headers) as response:
            yield response


async def test_an_unexpected_fetch_error_fails_the_flight_and_is_recorded(
    origin: UpstreamServer, nursery: trio.Nursery
) -> None:
    origin.objects["/f"] = Obj(b"x" * 100)
    inner = HttpUpstream(allow_private=True)
    upstream = _Exploding(inner)
    cache = SliceCache(upstream, slice_size=4096, max_bytes=64 * 4096)
    run = CacheRun()
    await nursery.start(run.watch, cache)
    before = REGISTRY.get_sample_value("synctv_task_crashes_total", {"task": "slice_fetch"}) or 0
    target = UpstreamTarget("k", f"{origin.base}/f")
    with trio.fail_after(5):
        with pytest.raises(UpstreamError):
            await cache.get_slice(target, 0)
        assert run.alive
        assert run.crash is None
        after = REGISTRY.get_sample_value("synctv_task_crashes_total", {"task": "slice_fetch"})
        assert after == before + 1
        upstream.explode = False
        assert (await cache.get_slice(target, 0)).data == b"x" * 100
    await inner.aclose()


async def test_a_refusal_does_not_name_the_resolved_address(
    make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    for cache in (True, False):
        harness: Harness = await make_harness(cache=cache, lan_service=False)
        harness.origin.objects["/f"] = Obj(b"x")
        with caplog.at_level("INFO", logger="synctv"):
            reply = await harness.get(harness.path(f"http://localhost:{harness.origin.port}/f"))
        assert (reply.status, _code(reply.body)) == (403, "upstream_address_refused")
        body = reply.body.decode()
        assert "127.0.0.1" not in body
        assert "::1" not in body
        assert "private" not in body
        assert json.loads(body)["message"] == "upstream address refused"
        # The detail is the operator's: in the server log.
        assert any("127.0.0.1" in r.getMessage() or "::1" in r.getMessage() for r in caplog.records)


@pytest.fixture
async def side_port(nursery: trio.Nursery) -> UpstreamServer:
    """Stands in for the server's own metrics/health port, on loopback like the LAN origin."""
    server = UpstreamServer()
    await nursery.start(server.serve)
    server.objects["/metrics"] = Obj(b"synctv_internal_metric 1\n", content_type="text/plain")
    return server


@pytest.mark.parametrize("listen_host", ["0.0.0.0", "::", "127.0.0.1", "localhost"])
@pytest.mark.parametrize("cache", [True, False], ids=["cache", "passthrough"])
async def test_the_servers_own_listeners_are_refused(
    make_harness: HarnessFactory, side_port: UpstreamServer, listen_host: str, cache: bool
) -> None:
    harness: Harness = await make_harness(
        cache=cache, lan_service=True, own_listeners=lambda: [(listen_host, side_port.port)]
    )
    metrics_url = f"http://127.0.0.1:{side_port.port}/metrics"
    harness.origin.objects["/jump"] = Obj(b"", redirect=metrics_url)
    for ref in ("/jump", metrics_url, f"http://localhost:{side_port.port}/metrics"):
        reply = await harness.get(harness.path(ref))
        assert (reply.status, _code(reply.body)) == (403, "upstream_address_refused"), ref
    assert side_port.seen == []
    await _still_serves(harness)  # the origin itself (another port) stays reachable


async def test_other_ports_of_the_same_address_stay_reachable(
    make_harness: HarnessFactory, side_port: UpstreamServer
) -> None:
    # Control: a listener on another port refuses nothing here.
    harness: Harness = await make_harness(
        lan_service=True, own_listeners=lambda: [("0.0.0.0", 1), ("127.0.0.2", side_port.port)]
    )
    reply = await harness.get(harness.path(f"http://127.0.0.1:{side_port.port}/metrics"))
    assert (reply.status, reply.body) == (200, b"synctv_internal_metric 1\n")


async def test_the_app_stays_up_after_bad_urls(make_harness: HarnessFactory) -> None:
    """The same through the ASGI app the route is mounted in (as hypercorn would call it)."""
    harness: Harness = await make_harness()
    for url in BAD_URLS:
        reply = await call(harness.app, harness.path(url), {})
        assert reply.status == 502
    assert harness.cache_run.alive
    await _still_serves(harness)
