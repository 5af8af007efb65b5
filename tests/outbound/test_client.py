"""Provider headers reach only the provider's origin: redirect hops on other origins get the
cross-origin allow-list (real servers on 127.0.0.1 and 127.0.0.2)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from synctv.outbound.client import HttpUpstream
from synctv.outbound.request import UpstreamTarget
from synctv.outbound.scope import origin_of, scoped_headers
from tests.outbound.header_samples import HARMLESS, SECRETS, leaked
from tests.proxy.upstream_server import Obj, UpstreamServer, json_reply


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
