"""ProviderService on a real PostgreSQL: instances, encrypted credentials, key rotation, and
Alist/Emby files played through the proxy."""

from __future__ import annotations

import json
import time

import pytest
import trio

from synctv.api.http.asgi import App
from synctv.api.http.routes.proxy import proxy_routes
from synctv.providers.base import ProviderError
from synctv.providers.crypto import CredentialCipher
from synctv.providers.service import ProviderService
from synctv.proxy.service import MediaProxy
from synctv.proxy.slice_cache import SliceCache
from synctv.proxy.token import ProxyTokenSigner
from synctv.proxy.upstream import HttpUpstream
from synctv.store.db import Database
from synctv.store.providers import ProviderInstanceStore
from tests.providers.fakes import FILM, FakeAlist, FakeEmby
from tests.proxy.conftest import call
from tests.proxy.upstream_server import UpstreamServer

KEY = bytes(range(32))
NEW_KEY = bytes(range(100, 132))


@pytest.fixture
def service(database: Database, http: HttpUpstream) -> ProviderService:
    return ProviderService(ProviderInstanceStore(database), CredentialCipher(KEY), http)


async def test_instances_crud_and_ciphertext_at_rest(
    service: ProviderService, database: Database
) -> None:
    added = await service.add(
        "alist",
        "nas",
        {"base_url": "http://nas.lan:5244", "username": "admin"},
        {"password": "alist-secret-pw"},
        lan_service=True,
    )
    assert added.has_credentials
    assert added.credentials_key_id == CredentialCipher(KEY).key_id
    assert (await service.get("nas")).id == added.id
    assert (await service.get(added.id)).name == "nas"
    raw = await database.fetchrow("SELECT credentials, config::text FROM provider_instances")
    assert b"alist-secret-pw" not in bytes(raw["credentials"])
    assert "alist-secret-pw" not in raw["config"]

    with pytest.raises(ProviderError) as taken:
        await service.add("direct", "nas", {})
    assert taken.value.code == "provider_name_taken"
    with pytest.raises(ProviderError) as bad:
        await service.add("alist", "x", {"base_url": "ftp://nope"})
    assert bad.value.code == "invalid_provider_config"

    updated = await service.update("nas", name="nas2", lan_service=False)
    assert (updated.name, updated.lan_service, updated.has_credentials) == ("nas2", False, True)
    cleared = await service.update("nas2", clear_credentials=True)
    assert not cleared.has_credentials
    assert [i.name for i in await service.list_instances()] == ["nas2"]
    await service.remove("nas2")
    with pytest.raises(ProviderError) as gone:
        await service.get("nas2")
    assert gone.value.code == "provider_not_found"


async def _play(
    service: ProviderService, http: HttpUpstream, nursery: trio.Nursery, instance_id: str, ref: str
) -> tuple[int, bytes]:
    cache = SliceCache(http, slice_size=64 * 1024, max_bytes=4 * 1024 * 1024)
    await nursery.start(cache.run)
    proxy = MediaProxy(
        signer=ProxyTokenSigner(b"j" * 32), resolver=service, upstream=http, cache=cache
    )
    app = App(proxy_routes(proxy), clock=time.monotonic)
    token = proxy.issue_token(instance_id, ref)
    reply = await call(app, f"/proxy/{token}", {"range": "bytes=70000-199999"})
    return reply.status, reply.body


async def test_alist_file_plays_through_the_proxy(
    service: ProviderService, origin: UpstreamServer, http: HttpUpstream, nursery: trio.Nursery
) -> None:
    fake = FakeAlist(origin)
    fake.install()
    nas = await service.add(
        "alist",
        "nas",
        {"base_url": origin.base, "username": "admin"},
        {"password": fake.password},
        lan_service=True,
    )
    status, body = await _play(service, http, nursery, nas.id, "/movies/film.mp4")
    assert (status, body) == (206, FILM[70000:200000])
    media = [s for s in origin.seen if s.path.startswith("/d/")]
    assert media
    assert all(s.headers["authorization"] == fake.token for s in media)


async def test_emby_item_plays_through_the_proxy(
    service: ProviderService, origin: UpstreamServer, http: HttpUpstream, nursery: trio.Nursery
) -> None:
    fake = FakeEmby(origin)
    fake.install()
    emby = await service.add(
        "emby",
        "emby",
        {"base_url": origin.base, "username": "viewer"},
        {"password": fake.password},
        lan_service=True,
    )
    status, body = await _play(service, http, nursery, emby.id, "42")
    assert (status, body) == (206, FILM[70000:200000])


async def test_resolve_output_masks_secrets(
    service: ProviderService, origin: UpstreamServer
) -> None:
    fake = FakeEmby(origin)
    fake.install()
    await service.add(
        "emby", "emby", {"base_url": origin.base}, {"api_key": fake.api_key}, lan_service=True
    )
    out = await service.describe_resolution("emby", "42", lambda i, r: f"/proxy/<{i}:{r}>")
    text = json.dumps(out)
    assert fake.api_key not in text
    assert "api_key=%2A%2A%2A" in out["url"] or "api_key=***" in out["url"]
    assert out["mode"] == "proxy"
    assert out["proxy_url"].endswith(":42>")

    await service.add(
        "direct",
        "cdn",
        {"headers": {"Referer": "https://site/"}},
        {"headers": {"Authorization": "Bearer top-secret-token"}},
    )
    direct = await service.describe_resolution("cdn", "https://cdn.example/a.mp4")
    assert direct["headers"] == {"referer": "https://site/", "authorization": "***"}
    assert "top-secret-token" not in json.dumps(direct)


async def test_key_rotation(
    service: ProviderService, database: Database, http: HttpUpstream, origin: UpstreamServer
) -> None:
    fake = FakeAlist(origin)
    fake.install()
    await service.add(
        "alist",
        "nas",
        {"base_url": origin.base, "username": "admin"},
        {"password": fake.password},
        lan_service=True,
    )
    await service.add("direct", "cdn", {}, {"headers": {"Cookie": "a=b"}})
    await service.add("direct", "plain", {})  # no credentials: nothing to rotate

    wrong = bytes(32)
    with pytest.raises(ProviderError) as info:
        await service.rotate_key(wrong, NEW_KEY)
    assert info.value.code == "credentials_unavailable"
    old_id = CredentialCipher(KEY).key_id
    assert {
        r["credentials_key_id"]
        for r in await database.fetch(
            "SELECT credentials_key_id FROM provider_instances WHERE credentials IS NOT NULL"
        )
    } == {old_id}  # the failed rotation changed nothing

    result = await service.rotate_key(KEY, NEW_KEY)
    assert (result.rotated, result.already_current) == (2, 0)
    assert (await service.resolve("nas", "/movies/film.mp4")).url.endswith("sign=abc")
    again = await service.rotate_key(KEY, NEW_KEY)  # rerunnable
    assert (again.rotated, again.already_current) == (0, 2)

    restarted = ProviderService(ProviderInstanceStore(database), CredentialCipher(NEW_KEY), http)
    assert (await restarted.resolve("cdn", "https://x.example/v.mp4")).headers == (
        ("cookie", "a=b"),
    )
    stale = ProviderService(ProviderInstanceStore(database), CredentialCipher(KEY), http)
    with pytest.raises(ProviderError) as old:
        await stale.resolve("cdn", "https://x.example/v.mp4")
    assert old.value.code == "credentials_unavailable"
