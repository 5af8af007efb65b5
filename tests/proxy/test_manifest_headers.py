"""A manifest's sub-resources on other origins get only the cross-origin allow-list, never the
provider's headers (the proxy, the slice cache and the outbound client against real servers)."""

from __future__ import annotations

import pytest
import trio

from tests.outbound.header_samples import HARMLESS, SECRETS, leaked
from tests.proxy.conftest import Harness, HarnessFactory
from tests.proxy.upstream_server import Obj, UpstreamServer


@pytest.fixture
async def other(nursery: trio.Nursery) -> UpstreamServer:
    server = UpstreamServer(host="127.0.0.2")
    await nursery.start(server.serve)
    return server


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
