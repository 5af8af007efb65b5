"""The proxy goes only where a token we signed says, and never to private or metadata addresses."""

from __future__ import annotations

import json

import pytest
import trio

from synctv.proxy.token import ProxyGrant, ProxyTokenSigner, TokenExpired, TokenInvalid
from tests.proxy.conftest import SECRET, Harness, HarnessFactory
from tests.proxy.upstream_server import Obj, UpstreamServer


def _code(body: bytes) -> str:
    code: str = json.loads(body)["code"]
    return code


async def test_every_altered_token_is_refused(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness()
    harness.origin.objects["/f"] = Obj(b"x" * 100)
    token = harness.proxy.issue_token("origin", "/f")
    signer = ProxyTokenSigner(SECRET)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for position, char in enumerate(token):
        for other in {alphabet[(alphabet.index(char) + 1) % len(alphabet)], "A", "."} - {char}:
            altered = token[:position] + other + token[position + 1 :]
            with pytest.raises(TokenInvalid):
                signer.verify(altered, now=0)
    reply = await harness.get("/proxy/" + token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert (reply.status, _code(reply.body)) == (403, "proxy_token_invalid")
    assert harness.origin.seen == []


async def test_a_token_for_another_key_or_instance_is_refused(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness()
    foreign = ProxyTokenSigner(b"another secret of 32 characters!").sign(
        ProxyGrant("origin", "/f", "proxy", 2**40)
    )
    reply = await harness.get(f"/proxy/{foreign}")
    assert (reply.status, _code(reply.body)) == (403, "proxy_token_invalid")
    unknown = await harness.get(harness.path("/f", instance="nope"))
    assert (unknown.status, _code(unknown.body)) == (404, "provider_not_found")


async def test_an_expired_token_is_refused(make_harness: HarnessFactory) -> None:
    now = [1_000_000.0]
    harness: Harness = await make_harness(clock=lambda: now[0])
    harness.origin.objects["/f"] = Obj(b"x" * 100)
    path = harness.path("/f")
    assert (await harness.get(path)).status == 200
    now[0] += 3600  # the harness issues one-hour tokens
    reply = await harness.get(path)
    assert (reply.status, _code(reply.body)) == (403, "proxy_token_expired")
    with pytest.raises(TokenExpired):
        ProxyTokenSigner(SECRET).verify(path.removeprefix("/proxy/"), now=now[0])


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "passthrough"])
async def test_loopback_is_refused_without_the_lan_flag(
    make_harness: HarnessFactory, cache: bool
) -> None:
    harness: Harness = await make_harness(cache=cache, lan_service=False)
    harness.origin.objects["/f"] = Obj(b"x" * 100)
    for ref in ("/f", f"http://localhost:{harness.origin.port}/f"):  # literal, and by DNS
        reply = await harness.get(harness.path(ref))
        assert (reply.status, _code(reply.body)) == (403, "upstream_address_refused")
    assert harness.origin.seen == []


async def test_allow_private_upstreams_reaches_loopback(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness(lan_service=False, allow_private=True)
    harness.origin.objects["/f"] = Obj(b"x" * 100)
    assert (await harness.get(harness.path("/f"))).status == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./computeMetadata/v1/",
        "file:///etc/passwd",
    ],
)
async def test_metadata_is_refused_even_for_lan_services(
    make_harness: HarnessFactory, url: str
) -> None:
    harness: Harness = await make_harness(lan_service=True, allow_private=True)
    with trio.fail_after(5):
        reply = await harness.get(harness.path(url))
    assert (reply.status, _code(reply.body)) == (403, "upstream_address_refused")


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "passthrough"])
async def test_redirects_are_rechecked_on_every_hop(
    make_harness: HarnessFactory, nursery: trio.Nursery, cache: bool
) -> None:
    # The origin lives on 127.0.0.2, explicitly allowed; everything else private stays refused.
    public = UpstreamServer(host="127.0.0.2")
    await nursery.start(public.serve)
    harness: Harness = await make_harness(
        cache=cache, lan_service=False, allowed_addresses=("127.0.0.2",)
    )
    harness.origin.objects["/secret"] = Obj(b"internal")
    public.objects["/ok"] = Obj(b"fine")
    public.objects["/hop"] = Obj(b"", redirect=f"{public.base}/ok")
    public.objects["/to-loopback"] = Obj(b"", redirect=f"{harness.origin.base}/secret")
    public.objects["/to-metadata"] = Obj(b"", redirect="http://169.254.169.254/latest/")
    public.objects["/loop"] = Obj(b"", redirect=f"{public.base}/loop")

    ok = await harness.get(harness.path(f"{public.base}/hop"))
    assert (ok.status, ok.body) == (200, b"fine")
    for ref in ("/to-loopback", "/to-metadata"):
        reply = await harness.get(harness.path(public.base + ref))
        assert (reply.status, _code(reply.body)) == (403, "upstream_address_refused")
    assert harness.origin.seen == []
    looping = await harness.get(harness.path(f"{public.base}/loop"))
    assert (looping.status, _code(looping.body)) == (502, "upstream_error")


@pytest.fixture
async def internal(nursery: trio.Nursery) -> UpstreamServer:
    """Another private host (127.0.0.3) on the same network as the LAN service: a router admin."""
    server = UpstreamServer(host="127.0.0.3")
    await nursery.start(server.serve)
    server.objects["/admin/secret.txt"] = Obj(b"ROUTER-ADMIN-PASSWORD", content_type="text/plain")
    return server


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "passthrough"])
async def test_a_lan_instance_reaches_only_its_own_hosts(
    make_harness: HarnessFactory, internal: UpstreamServer, cache: bool
) -> None:
    # The LAN service is the origin (127.0.0.1); an uploaded manifest and a redirect point at
    # another private host. Both stay refused: the LAN flag covers the service host only.
    harness: Harness = await make_harness(cache=cache, lan_service=True)
    secret = f"{internal.base}/admin/secret.txt"
    harness.origin.objects["/user-upload/evil.m3u8"] = Obj(
        f"#EXTM3U\n#EXTINF:1,\n{secret}\n".encode(), content_type="application/vnd.apple.mpegurl"
    )
    harness.origin.objects["/user-upload/jump"] = Obj(b"", redirect=secret)
    playlist = await harness.get(harness.path("/user-upload/evil.m3u8"))
    assert playlist.status == 200
    segment = next(s for s in playlist.body.decode().splitlines() if s and s[0] != "#")
    for path in (f"/proxy/{segment}", harness.path("/user-upload/jump"), harness.path(secret)):
        reply = await harness.get(path)
        assert (reply.status, _code(reply.body)) == (403, "upstream_address_refused")
    assert internal.seen == []


async def test_lan_hosts_extend_the_lan_scope(
    make_harness: HarnessFactory, internal: UpstreamServer
) -> None:
    harness: Harness = await make_harness(lan_service=True)
    harness.resolver.lan_hosts = ("127.0.0.0/29",)
    harness.origin.objects["/jump"] = Obj(b"", redirect=f"{internal.base}/admin/secret.txt")
    reply = await harness.get(harness.path("/jump"))
    assert (reply.status, reply.body) == (200, b"ROUTER-ADMIN-PASSWORD")
    harness.resolver.lan_hosts = ("nas.lan", "127.0.0.1")  # names match by name only
    assert (await harness.get(harness.path(f"{internal.base}/x"))).status == 403
