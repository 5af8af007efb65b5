"""Provider headers reach only the provider's origin: redirect hops and manifest sub-resources on
other origins get the cross-origin allow-list (real servers on 127.0.0.1 and 127.0.0.2)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from synctv.providers.scope import CROSS_ORIGIN_HEADERS, origin_of, scoped_headers
from synctv.proxy.slice_cache import UpstreamTarget
from synctv.proxy.upstream import HttpUpstream
from tests.proxy.conftest import Harness, HarnessFactory
from tests.proxy.upstream_server import Obj, UpstreamServer, json_reply

SECRETS = (
    ("authorization", "Bearer AUTH-SECRET"),
    ("cookie", "sid=COOKIE-SECRET"),
    ("x-emby-token", "EMBY-SECRET"),
    ("x-emby-authorization", 'MediaBrowser Token="EMBY-SECRET"'),
    ("x-api-key", "API-KEY-SECRET"),
    ("proxy-authorization", "Basic PROXY-SECRET"),
)
HARMLESS = (("referer", "https://provider.example/"), ("user-agent", "Provider-UA/1"))


def leaked(headers: dict[str, str]) -> set[str]:
    """Request headers that are neither the allow-list nor framing our client always sends."""
    return {name for name in headers if name not in CROSS_ORIGIN_HEADERS} - {"host", "connection"}


@pytest.fixture
async def other(nursery: trio.Nursery) -> UpstreamServer:
    server = UpstreamServer(host="127.0.0.2")
    await nursery.start(server.serve)
    return server


@pytest.fixture
async def http() -> AsyncIterator[HttpUpstream]:
    upstream = HttpUpstream(connect_timeout=2.0, read_timeout=5.0, allow_private=True)
    yield upstream
    await upstream.aclose()


def test_scoped_headers_table() -> None:
    origin = origin_of("https://media.example/a")
    headers = [*SECRETS, *HARMLESS, ("range", "bytes=0-1")]
    assert scoped_headers("https://media.example:443/b?x", headers, origin) == headers
    for elsewhere in ("http://media.example/b", "https://media.example:8443/b", "https://cdn.x/"):
        assert scoped_headers(elsewhere, headers, origin) == [*HARMLESS, ("range", "bytes=0-1")]
    assert scoped_headers("https://media.example/b", headers, None) == [
        *HARMLESS,
        ("range", "bytes=0-1"),
    ]


async def test_media_redirect_to_another_origin_drops_provider_headers(
    origin: UpstreamServer, other: UpstreamServer, http: HttpUpstream
) -> None:
    other.objects["/x"] = Obj(b"hello")
    origin.objects["/r"] = Obj(b"", redirect=f"{other.base}/x")
    target = UpstreamTarget("k", f"{origin.base}/r", (*SECRETS, *HARMLESS))
    async with http.open(target, [("range", "bytes=0-1")]) as response:
        assert response.status == 206
    first, hop = origin.seen[-1].headers, other.seen[-1].headers
    assert {k for k, _ in SECRETS} <= set(first)  # the provider's own origin gets them all
    assert leaked(hop) == set()
    assert (hop["referer"], hop["user-agent"], hop["range"]) == (
        "https://provider.example/",
        "Provider-UA/1",
        "bytes=0-1",
    )


async def test_api_redirect_to_another_origin_drops_provider_headers(
    origin: UpstreamServer, other: UpstreamServer, http: HttpUpstream
) -> None:
    other.handler = lambda seen: json_reply({"ok": True})
    origin.objects["/api"] = Obj(b"", redirect=f"{other.base}/api")
    reply = await http.request_json("GET", f"{origin.base}/api", headers=SECRETS)
    assert reply.data == {"ok": True}
    assert leaked(other.seen[-1].headers) == set()


async def test_a_chain_that_left_the_origin_never_gets_the_headers_back(
    origin: UpstreamServer, other: UpstreamServer, http: HttpUpstream
) -> None:
    origin.objects["/start"] = Obj(b"", redirect=f"{other.base}/bounce")
    other.objects["/bounce"] = Obj(b"", redirect=f"{origin.base}/admin")
    origin.objects["/admin"] = Obj(b"chosen by the other server")
    async with http.open(UpstreamTarget("k", f"{origin.base}/start", SECRETS)) as response:
        assert response.status == 200
    assert [s.path for s in origin.seen] == ["/start", "/admin"]
    assert leaked(origin.seen[-1].headers) == set()


async def test_same_origin_redirect_keeps_provider_headers(
    origin: UpstreamServer, http: HttpUpstream
) -> None:
    origin.objects["/old"] = Obj(b"", redirect="/new")
    origin.objects["/new"] = Obj(b"moved")
    async with http.open(UpstreamTarget("k", f"{origin.base}/old", SECRETS)) as response:
        assert response.status == 200
    assert {k for k, _ in SECRETS} <= set(origin.seen[-1].headers)


async def test_manifest_uris_on_other_origins_get_no_provider_headers(
    make_harness: HarnessFactory, other: UpstreamServer
) -> None:
    harness: Harness = await make_harness(allowed_addresses=("127.0.0.2",))
    harness.resolver.headers = (*SECRETS, *HARMLESS)
    harness.origin.objects["/hls/index.m3u8"] = Obj(
        f"#EXTM3U\n#EXTINF:2,\nlocal.ts\n#EXTINF:2,\n{other.base}/cdn.ts\n".encode(),
        content_type="application/vnd.apple.mpegurl",
    )
    harness.origin.objects["/hls/local.ts"] = Obj(b"\x47" * 188, content_type="video/mp2t")
    other.objects["/cdn.ts"] = Obj(b"\x47" * 188, content_type="video/mp2t")
    playlist = await harness.get(harness.path("/hls/index.m3u8"))
    segments = [s for s in playlist.body.decode().splitlines() if s and not s.startswith("#")]
    for segment in segments:
        assert (await harness.get(f"/proxy/{segment}")).status == 200
    local = [s for s in harness.origin.seen if s.path == "/hls/local.ts"]
    assert local
    assert {k for k, _ in SECRETS} <= set(local[-1].headers)
    assert other.seen
    for seen in other.seen:
        assert leaked(seen.headers) == set()
        assert seen.headers["referer"] == "https://provider.example/"
