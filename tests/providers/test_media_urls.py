"""Malformed URLs are refused where a provider resolves them (``invalid_media_ref``, HTTP 400),
for every kind, so they never reach the proxy's upstream client; good ones are normalised."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from synctv import errors
from synctv.api.http.asgi import App
from synctv.api.http.routes.proxy import proxy_routes
from synctv.errors import DomainError
from synctv.outbound.client import HttpUpstream
from synctv.providers.base import (
    PlaybackSource,
    ProviderConfigError,
    ProviderContext,
    ProviderKind,
    ProviderRegistry,
    Subtitle,
    builtin_registry,
    media_url,
)
from synctv.providers.crypto import CredentialCipher
from synctv.providers.service import ProviderService, UnpersistedKey
from synctv.proxy.service import MediaProxy
from synctv.proxy.token import ProxyTokenSigner
from synctv.store.audit import CLI_ACTOR
from synctv.store.db import Database
from synctv.store.providers import ProviderInstanceStore
from tests.providers.fakes import FakeAlist
from tests.proxy.conftest import call
from tests.proxy.upstream_server import UpstreamServer

BAD = [
    "http://0177.0.0.1:18555/x",
    "http://999.1.1.1/x",
    "http://1.2.3.04/x",
    "http://a..b/x",
    "http://xn--/x",
    "http://127.1/x",  # legacy IPv4 shorthands: not a name, not a dotted quad
    "http://2130706433/x",
    "http://0x7f.0.0.1/x",
    "http://[::1/x",
    "http://[fe80::1%25eth0]/x",
    "http://host:99999/x",
    "http://host:0/x",
    "http://a b/x",
    "http://h\x00st/x",
    "http://-bad-.example/x",
    "http://" + "a" * 64 + ".example/x",
    "http:///x",
    "ftp://example.com/x",
    "file:///etc/passwd",
    "not a url",
    "https://example.com/" + "x" * 5000,
]
GOOD = [
    ("http://example.com/a.mp4", "http://example.com/a.mp4"),
    ("HTTPS://Media.Example.COM:8443/A.mp4?Q=1", "https://media.example.com:8443/A.mp4?Q=1"),
    ("http://127.0.0.1:18555/x", "http://127.0.0.1:18555/x"),
    ("http://[::FFFF:7F00:1]/x", "http://[::ffff:7f00:1]/x"),
    ("http://bücher.example/x#frag", "http://xn--bcher-kva.example/x"),
    ("http://user:pw@nas.lan/x", "http://user:pw@nas.lan/x"),
    ("http://nas_1.lan./x", "http://nas_1.lan./x"),
]


@pytest.mark.parametrize("url", BAD, ids=repr)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(DomainError) as info:
        media_url(url)
    assert info.value.code == errors.INVALID_MEDIA_REF == "invalid_media_ref"
    assert info.value.message


@pytest.mark.parametrize(("url", "normalised"), GOOD)
def test_good_urls_are_normalised(url: str, normalised: str) -> None:
    assert media_url(url) == normalised


@given(st.text(max_size=60))
@example("http://a..b/")
@example("http://xn--/")
@example("http://1.2.3.04/")
def test_whatever_is_accepted_the_http_client_accepts(tail: str) -> None:
    for url in (tail, f"http://{tail}", f"https://{tail}/x"):
        refusal: str | None = None
        try:
            normalised = media_url(url)
        except DomainError as exc:
            refusal = exc.code
        if refusal is not None:
            assert refusal == "invalid_media_ref"
            continue
        assert media_url(normalised) == normalised
        request = httpx.Client().build_request("GET", normalised)
        host = request.url.host
        host.encode("idna")  # what the resolver does with it
        assert host


def _direct(http: HttpUpstream) -> object:
    kind = builtin_registry().get("direct")
    return kind.create({}, {}, ProviderContext(http, "i", None, time.time))


@pytest.mark.parametrize("url", BAD[:6], ids=repr)
async def test_direct_refuses_malformed_references(http: HttpUpstream, url: str) -> None:
    provider = _direct(http)
    with pytest.raises(DomainError) as info:
        await provider.resolve(url)  # type: ignore[attr-defined]
    assert info.value.code == "invalid_media_ref"


async def test_a_malformed_base_url_is_a_config_error(http: HttpUpstream) -> None:
    for kind in ("alist", "emby"):
        with pytest.raises(ProviderConfigError):
            builtin_registry().get(kind).create(
                {"base_url": "http://0177.0.0.1:8096"},
                {"api_key": "k"},
                ProviderContext(http, "i", None, time.time),
            )


@pytest.fixture
def registry() -> ProviderRegistry:
    """The built-in kinds plus one returning whatever URLs a test puts in ``SOURCE``."""
    registry = builtin_registry()

    class Anything:
        async def resolve(self, media_ref: str) -> PlaybackSource:
            return SOURCE[0]

        async def browse(self, path: str) -> list[object]:
            return []

    registry.register(
        ProviderKind("anything", "test", frozenset(), frozenset(), lambda c, s, x: Anything())  # type: ignore[arg-type,return-value]
    )
    return registry


SOURCE: list[PlaybackSource] = [PlaybackSource("http://example.com/x")]


@pytest.fixture
def service(database: Database, http: HttpUpstream, registry: ProviderRegistry) -> ProviderService:
    return ProviderService(
        ProviderInstanceStore(database),
        CredentialCipher(bytes(range(32))),
        http,
        key_custody=UnpersistedKey(),
        registry=registry,
    )


@pytest.mark.parametrize(
    "source",
    [
        PlaybackSource("http://999.1.1.1/x"),
        PlaybackSource("http://ok.example/x", subtitles=(Subtitle("en", "http://a..b/s.vtt"),)),
    ],
)
async def test_every_kind_is_checked_by_the_service(
    service: ProviderService, source: PlaybackSource
) -> None:
    SOURCE[0] = source
    instance = await service.add("anything", "any", {}, by=CLI_ACTOR)
    for resolve in (service.resolve, service.resolve_for_proxy, service.describe_resolution):
        with pytest.raises(DomainError) as info:
            await resolve(instance.id, "ref")
        assert info.value.code == "invalid_media_ref"


async def test_good_urls_come_back_normalised(service: ProviderService) -> None:
    SOURCE[0] = PlaybackSource(
        "HTTP://Example.COM/x", subtitles=(Subtitle("en", "http://B.example/s"),)
    )
    instance = await service.add("anything", "any", {}, by=CLI_ACTOR)
    resolved = await service.resolve_for_proxy(instance.id, "ref")
    assert resolved.source.url == "http://example.com/x"
    assert resolved.source.subtitles[0].url == "http://b.example/s"


async def test_alist_raw_url_is_checked(service: ProviderService, origin: UpstreamServer) -> None:
    fake = FakeAlist(origin, raw_url="http://0177.0.0.1:18555/d/film.mp4")
    fake.install()
    nas = await service.add(
        "alist",
        "nas",
        {"base_url": origin.base, "username": "admin"},
        {"password": fake.password},
        lan_service=True,
        by=CLI_ACTOR,
    )
    with pytest.raises(DomainError) as info:
        await service.resolve(nas.id, "/movies/film.mp4")
    assert info.value.code == "invalid_media_ref"


async def test_the_proxy_answers_400(service: ProviderService, http: HttpUpstream) -> None:
    direct = await service.add("direct", "web", {}, by=CLI_ACTOR)
    proxy = MediaProxy(
        signer=ProxyTokenSigner(b"j" * 32), resolver=service, upstream=http, cache=None
    )
    app = App(proxy_routes(proxy), clock=time.monotonic)
    for url in BAD[:5]:
        reply = await call(app, f"/proxy/{proxy.issue_token(direct.id, url)}", {})
        assert reply.status == 400
        assert json.loads(reply.body)["code"] == "invalid_media_ref"
