"""The provider kinds against small real upstreams following the Alist v3 and Emby APIs."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from synctv.errors import DomainError
from synctv.outbound.client import HttpUpstream
from synctv.outbound.masking import mask_url
from synctv.providers.alist import sign_expiry
from synctv.providers.base import (
    BrowseEntry,
    Provider,
    ProviderConfigError,
    ProviderContext,
    builtin_registry,
)
from tests.providers.fakes import FakeAlist, FakeEmby
from tests.proxy.upstream_server import UpstreamServer


def make(
    kind: str,
    http: HttpUpstream,
    config: Mapping[str, Any],
    credentials: Mapping[str, Any] | None = None,
    lan: bool = True,
) -> Provider:
    spec = builtin_registry().get(kind)
    spec.validate(config, credentials or {}, lan)
    scope = spec.lan_scope(config) if lan else None
    return spec.create(config, credentials or {}, ProviderContext(http, "inst-1", scope, time.time))


def test_registry_discovers_the_kinds() -> None:
    assert {"direct", "alist", "emby"} <= set(builtin_registry().names())
    with pytest.raises(DomainError) as info:
        builtin_registry().get("bilibili-not-yet")
    assert info.value.code == "unknown_provider_kind"


async def test_direct(http: HttpUpstream) -> None:
    plain = {"headers": {"User-Agent": "UA/1", "Referer": "https://site/"}}
    source = await make("direct", http, plain, lan=False).resolve("https://cdn.example/a.mp4")
    assert source.mode == "direct"
    assert dict(source.headers) == {"user-agent": "UA/1", "referer": "https://site/"}

    provider = make("direct", http, plain, {"headers": {"Cookie": "sid=1"}}, lan=False)
    source = await provider.resolve("https://cdn.example/a.mp4")
    assert source.mode == "proxy"  # a client playing it directly would need the cookie
    assert source.credential_headers == {"cookie"}
    assert dict(source.headers) == {
        "user-agent": "UA/1",
        "referer": "https://site/",
        "cookie": "sid=1",
    }
    for bad in ("ftp://x/y", "file:///etc/passwd", "not a url", "http:///nohost"):
        with pytest.raises(DomainError):
            await provider.resolve(bad)
    with pytest.raises(ProviderConfigError):
        make("direct", http, {"headers": {"Host": "evil"}}, lan=False)
    with pytest.raises(ProviderConfigError):
        make("direct", http, {"typo_key": 1}, lan=False)


@pytest.mark.parametrize(
    "name",
    ["Authorization", "Cookie", "X-Api-Key", "X-Auth-Token", "X-Emby-Token", "x-custom"],
)
async def test_plain_options_refuse_credential_headers(http: HttpUpstream, name: str) -> None:
    with pytest.raises(ProviderConfigError) as info:
        make("direct", http, {"headers": {name: "top-secret"}}, lan=False)
    assert repr(name) in info.value.message
    assert "credentials" in info.value.message
    assert "top-secret" not in info.value.message
    make("direct", http, {}, {"headers": {name: "top-secret"}}, lan=False)  # their place


async def test_credential_headers_are_never_handed_out_in_direct_mode(http: HttpUpstream) -> None:
    with pytest.raises(ProviderConfigError, match="mode 'direct'"):
        make("direct", http, {"mode": "direct"}, {"headers": {"X-Api-Key": "k"}}, lan=False)
    with pytest.raises(ProviderConfigError, match="api_key"):
        make("emby", http, {"base_url": "http://emby.example", "mode": "direct"}, {"api_key": "k"})


def test_lan_scope_is_the_service_host_plus_lan_hosts() -> None:
    alist = builtin_registry().get("alist")
    scope = alist.lan_scope({"base_url": "http://NAS.lan:5244", "lan_hosts": ["10.0.0.0/24"]})
    assert scope.covers("nas.lan")
    assert scope.covers("10.0.0.7")
    assert not scope.covers("10.0.1.7")
    assert not scope.covers("router.lan")
    direct = builtin_registry().get("direct")
    with pytest.raises(ProviderConfigError, match="lan_hosts"):
        direct.validate({}, {}, lan_service=True)  # the flag would allow nothing
    direct.validate({"lan_hosts": ["192.168.1.20"]}, {}, lan_service=True)
    for bad in (["not a host!"], "10.0.0.1", [1]):
        with pytest.raises(ProviderConfigError, match="lan_hosts"):
            direct.validate({"lan_hosts": bad}, {}, lan_service=True)


async def test_alist_login_list_resolve_and_relogin(
    origin: UpstreamServer, http: HttpUpstream
) -> None:
    fake = FakeAlist(origin)
    fake.install()
    provider = make(
        "alist", http, {"base_url": origin.base, "username": "admin"}, {"password": fake.password}
    )
    listing = await provider.browse("/movies")
    assert listing[0] == BrowseEntry("film.mp4", "/movies/film.mp4", False, 300_000)
    assert listing[1].is_dir
    source = await provider.resolve("/movies/film.mp4")
    assert source.url == f"{origin.base}/d/movies/film.mp4?sign=abc"
    assert dict(source.headers) == {"authorization": fake.token}
    assert source.mode == "proxy"
    assert source.expires_at is not None
    logins = fake.logins
    fake.expire_token()  # the server forgets the token: the provider logs in again, once
    await provider.resolve("/movies/film.mp4")
    assert fake.logins == logins + 1
    with pytest.raises(DomainError) as info:
        await provider.resolve("/movies/missing.mp4")
    assert info.value.code == "media_not_found"


async def test_alist_wrong_password(origin: UpstreamServer, http: HttpUpstream) -> None:
    FakeAlist(origin).install()
    provider = make(
        "alist", http, {"base_url": origin.base, "username": "admin"}, {"password": "no"}
    )
    with pytest.raises(DomainError) as info:
        await provider.resolve("/movies/film.mp4")
    assert info.value.code == "provider_auth_failed"
    assert "no" not in info.value.message.split()


async def test_alist_on_loopback_needs_the_lan_flag(
    origin: UpstreamServer, http: HttpUpstream
) -> None:
    fake = FakeAlist(origin)
    fake.install()
    provider = make(
        "alist",
        http,
        {"base_url": origin.base, "username": "admin"},
        {"password": fake.password},
        lan=False,
    )
    with pytest.raises(DomainError) as info:
        await provider.resolve("/movies/film.mp4")
    assert info.value.code == "provider_unavailable"
    assert origin.seen == []


async def test_emby_password_login(origin: UpstreamServer, http: HttpUpstream) -> None:
    fake = FakeEmby(origin)
    fake.install()
    provider = make(
        "emby", http, {"base_url": origin.base, "username": "viewer"}, {"password": fake.password}
    )
    views = await provider.browse("/")
    assert views == [BrowseEntry("Films", "lib1", True)]
    items = await provider.browse("lib1")
    assert items[0].ref == "42"
    source = await provider.resolve("42")
    assert source.url == (
        f"{origin.base}/Videos/42/stream?static=true&MediaSourceId=ms42&api_key={fake.token}"
    )
    assert source.mode == "proxy"
    assert source.duration == pytest.approx(5432.1)  # the provider's metadata
    assert source.subtitles[0].language == "eng"
    assert "/Videos/42/ms42/Subtitles/2/Stream.vtt" in source.subtitles[0].url
    assert 'Client="SyncTV"' in fake.auth_headers[0]
    assert fake.token not in mask_url(source.url)
    with pytest.raises(DomainError) as info:
        await provider.resolve("../etc")
    assert info.value.code == "invalid_media_ref"


async def test_emby_api_key_picks_the_administrator(
    origin: UpstreamServer, http: HttpUpstream
) -> None:
    fake = FakeEmby(origin)
    fake.install()
    provider = make("emby", http, {"base_url": origin.base}, {"api_key": fake.api_key})
    source = await provider.resolve("42")
    assert f"api_key={fake.api_key}" in source.url
    assert fake.auth_headers == []  # no login with an API key


async def test_emby_needs_credentials(http: HttpUpstream) -> None:
    with pytest.raises(ProviderConfigError):
        make("emby", http, {"base_url": "http://emby.example"})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a/d/f.mp4?sign=abc=:1800000000", 1800000000.0),
        ("http://a/d/f.mp4?n=1&sign=abc%3D%3A1800000000", 1800000000.0),
        ("http://a/d/f.mp4?sign=abc=:0", None),  # Alist: 0 means it never expires
        ("http://a/d/f.mp4?sign=abc", None),
        ("http://a/d/f.mp4", None),
        ("http://a/d/f.mp4?sign=x:99999999999999999999", None),
    ],
)
def test_alist_sign_expiry(url: str, expected: float | None) -> None:
    assert sign_expiry(url) == expected
