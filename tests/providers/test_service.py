"""ProviderService on a real PostgreSQL: instances, encrypted credentials, key rotation, and
Alist/Emby files played through the proxy."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest
import trio

from synctv.api.http.asgi import App
from synctv.api.http.routes.proxy import proxy_routes
from synctv.errors import DomainError
from synctv.outbound.client import HttpUpstream
from synctv.providers.crypto import CredentialCipher
from synctv.providers.service import ProviderService, UnpersistedKey
from synctv.proxy.service import MediaProxy
from synctv.proxy.slice_cache import SliceCache
from synctv.proxy.token import ProxyTokenSigner
from synctv.store.audit import CLI_ACTOR, AuditEvent
from synctv.store.db import Database
from synctv.store.providers import ProviderInstanceStore
from tests.providers.fakes import FILM, SUBTITLE, FakeAlist, FakeEmby
from tests.proxy.conftest import call
from tests.proxy.upstream_server import Obj, UpstreamServer

KEY = bytes(range(32))
NEW_KEY = bytes(range(100, 132))


@pytest.fixture
def service(database: Database, http: HttpUpstream) -> ProviderService:
    return ProviderService(
        ProviderInstanceStore(database), CredentialCipher(KEY), http, key_custody=UnpersistedKey()
    )


async def test_instances_crud_and_ciphertext_at_rest(
    service: ProviderService, database: Database
) -> None:
    added = await service.add(
        "alist",
        "nas",
        {"base_url": "http://nas.lan:5244", "username": "admin"},
        {"password": "alist-secret-pw"},
        lan_service=True,
        by=CLI_ACTOR,
    )
    assert added.has_credentials
    assert added.credentials_key_id == CredentialCipher(KEY).key_id
    assert (await service.get("nas")).id == added.id
    assert (await service.get(added.id)).name == "nas"
    raw = await database.fetchrow("SELECT credentials, config::text FROM provider_instances")
    assert b"alist-secret-pw" not in bytes(raw["credentials"])
    assert "alist-secret-pw" not in raw["config"]

    with pytest.raises(DomainError) as taken:
        await service.add("direct", "nas", {}, by=CLI_ACTOR)
    assert taken.value.code == "provider_name_taken"
    with pytest.raises(DomainError) as bad:
        await service.add("alist", "x", {"base_url": "ftp://nope"}, by=CLI_ACTOR)
    assert bad.value.code == "invalid_provider_config"

    updated = await service.update("nas", name="nas2", lan_service=False, by=CLI_ACTOR)
    assert (updated.name, updated.lan_service, updated.has_credentials) == ("nas2", False, True)
    cleared = await service.update("nas2", clear_credentials=True, by=CLI_ACTOR)
    assert not cleared.has_credentials
    assert [i.name for i in await service.list_instances()] == ["nas2"]
    await service.remove("nas2", by=CLI_ACTOR)
    with pytest.raises(DomainError) as gone:
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
        by=CLI_ACTOR,
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
        by=CLI_ACTOR,
    )
    status, body = await _play(service, http, nursery, emby.id, "42")
    assert (status, body) == (206, FILM[70000:200000])


async def test_resolve_output_masks_secrets(
    service: ProviderService, origin: UpstreamServer
) -> None:
    fake = FakeEmby(origin)
    fake.install()
    await service.add(
        "emby",
        "emby",
        {"base_url": origin.base},
        {"api_key": fake.api_key},
        lan_service=True,
        by=CLI_ACTOR,
    )
    out = await service.describe_resolution("emby", "42", lambda i, r, s: f"/proxy/<{i}:{r}:{s}>")
    text = json.dumps(out)
    assert fake.api_key not in text
    assert "api_key=%2A%2A%2A" in out["url"] or "api_key=***" in out["url"]
    assert out["mode"] == "proxy"
    assert out["proxy_url"].endswith(":42:None>")

    await service.add(
        "direct",
        "cdn",
        {"headers": {"Referer": "https://site/"}},
        {"headers": {"Authorization": "Bearer top-secret-token", "X-Sig": "s1", "Origin": "o"}},
        by=CLI_ACTOR,
    )
    direct = await service.describe_resolution("cdn", "https://cdn.example/a.mp4")
    # Every credential-derived header is masked, however short or innocent its name or value.
    assert direct["headers"] == {
        "referer": "https://site/",
        "authorization": "***",
        "x-sig": "***",
        "origin": "***",
    }
    assert "top-secret-token" not in json.dumps(direct)
    assert direct["mode"] == "proxy"


async def test_plain_options_with_credential_headers_are_refused(
    service: ProviderService,
) -> None:
    for headers in ({"X-Api-Key": "k-123"}, {"Authorization": "Bearer t"}, {"Cookie": "a=b"}):
        with pytest.raises(DomainError) as info:
            await service.add("direct", "cdn", {"headers": headers}, by=CLI_ACTOR)
        assert info.value.code == "invalid_provider_config"
        assert repr(next(iter(headers))) in info.value.message
    assert await service.list_instances() == []


async def test_a_source_with_credentials_is_never_handed_out_direct(
    service: ProviderService, database: Database
) -> None:
    await service.add("direct", "open", {"headers": {"Referer": "https://site/"}}, by=CLI_ACTOR)
    assert (await service.resolve("open", "https://cdn.example/a.mp4")).mode == "direct"
    keyed = await service.resolve("open", "https://cdn.example/a.mp4?api_key=abc")
    assert keyed.mode == "proxy"  # the URL carries an account credential
    await service.add("direct", "cookie", {}, {"headers": {"Cookie": "sid=1"}}, by=CLI_ACTOR)
    assert (await service.resolve("cookie", "https://cdn.example/a.mp4")).mode == "proxy"
    with pytest.raises(DomainError) as info:
        await service.add(
            "direct", "forced", {"mode": "direct"}, {"headers": {"Cookie": "x=y"}}, by=CLI_ACTOR
        )
    assert info.value.code == "invalid_provider_config"
    with pytest.raises(DomainError) as emby:
        await service.add(
            "emby",
            "emby",
            {"base_url": "http://emby.example", "mode": "direct"},
            {"api_key": "k"},
            by=CLI_ACTOR,
        )
    assert emby.value.code == "invalid_provider_config"


async def test_subtitles_play_through_the_proxy(
    service: ProviderService, origin: UpstreamServer, http: HttpUpstream, nursery: trio.Nursery
) -> None:
    fake = FakeEmby(origin)
    fake.install()
    emby = await service.add(
        "emby",
        "emby",
        {"base_url": origin.base},
        {"api_key": fake.api_key},
        lan_service=True,
        by=CLI_ACTOR,
    )
    cache = SliceCache(http, slice_size=64 * 1024, max_bytes=4 * 1024 * 1024)
    await nursery.start(cache.run)
    proxy = MediaProxy(
        signer=ProxyTokenSigner(b"j" * 32), resolver=service, upstream=http, cache=cache
    )
    app = App(proxy_routes(proxy), clock=time.monotonic)
    out = await service.describe_resolution(
        "emby", "42", lambda i, r, s: "/proxy/" + proxy.issue_token(i, r, selector=s)
    )
    assert fake.api_key not in json.dumps(out)
    [subtitle] = out["subtitles"]
    assert (subtitle["id"], subtitle["language"]) == ("2", "eng")
    reply = await call(app, subtitle["proxy_url"], {})
    assert (reply.status, reply.body) == (200, SUBTITLE)
    film = await call(app, out["proxy_url"], {"range": "bytes=0-99"})
    assert (film.status, film.body) == (206, FILM[:100])

    # The selector is inside the MAC: another one needs another token, an unknown one is 404.
    token = subtitle["proxy_url"].removeprefix("/proxy/")
    grant = ProxyTokenSigner(b"j" * 32).verify(token, now=time.time())
    assert grant.selector == "subtitle:2"
    forged = ProxyTokenSigner(b"x" * 32).sign(replace(grant, selector="subtitle:3"))
    assert (await call(app, f"/proxy/{forged}", {})).status == 403
    missing = "/proxy/" + proxy.issue_token(emby.id, "42", selector="subtitle:9")
    assert (await call(app, missing, {})).status == 404


async def test_updating_an_instance_drops_the_proxys_cached_source(
    service: ProviderService, origin: UpstreamServer, http: HttpUpstream, nursery: trio.Nursery
) -> None:
    origin.objects["/a.mp4"] = Obj(FILM)
    cdn = await service.add(
        "direct",
        "cdn",
        {"headers": {"Referer": "https://one/"}, "lan_hosts": ["127.0.0.1"]},
        lan_service=True,
        by=CLI_ACTOR,
    )
    proxy = MediaProxy(
        signer=ProxyTokenSigner(b"j" * 32), resolver=service, upstream=http, cache=None
    )
    app = App(proxy_routes(proxy), clock=time.monotonic)
    path = "/proxy/" + proxy.issue_token(cdn.id, f"{origin.base}/a.mp4")
    assert (await call(app, path, {"range": "bytes=0-9"})).status == 206
    assert origin.seen[-1].headers["referer"] == "https://one/"
    await service.update(
        "cdn",
        config={"headers": {"Referer": "https://two/"}, "lan_hosts": ["127.0.0.1"]},
        by=CLI_ACTOR,
    )
    assert (await call(app, path, {"range": "bytes=0-9"})).status == 206
    assert origin.seen[-1].headers["referer"] == "https://two/"
    await service.remove("cdn", by=CLI_ACTOR)
    assert (await call(app, path, {"range": "bytes=0-9"})).status == 404


async def test_a_lan_instance_reaches_only_its_lan_hosts(
    service: ProviderService, origin: UpstreamServer, http: HttpUpstream, nursery: trio.Nursery
) -> None:
    other = UpstreamServer(host="127.0.0.3")
    await nursery.start(other.serve)
    origin.objects["/a.mp4"] = other.objects["/a.mp4"] = Obj(FILM)
    nas = await service.add(
        "direct", "nas", {"lan_hosts": ["127.0.0.1"]}, lan_service=True, by=CLI_ACTOR
    )
    proxy = MediaProxy(
        signer=ProxyTokenSigner(b"j" * 32), resolver=service, upstream=http, cache=None
    )
    app = App(proxy_routes(proxy), clock=time.monotonic)
    ok = await call(app, "/proxy/" + proxy.issue_token(nas.id, f"{origin.base}/a.mp4"), {})
    assert ok.status == 200
    refused = await call(app, "/proxy/" + proxy.issue_token(nas.id, f"{other.base}/a.mp4"), {})
    assert refused.status == 403
    assert other.seen == []
    with pytest.raises(DomainError) as info:
        await service.add("direct", "nolist", {}, lan_service=True, by=CLI_ACTOR)
    assert "lan_hosts" in info.value.message


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
        by=CLI_ACTOR,
    )
    await service.add("direct", "cdn", {}, {"headers": {"Cookie": "a=b"}}, by=CLI_ACTOR)
    await service.add("direct", "plain", {}, by=CLI_ACTOR)  # no credentials: nothing to rotate

    wrong = bytes(32)
    with pytest.raises(DomainError) as info:
        await service.rotate_key(wrong, NEW_KEY, by=CLI_ACTOR)
    assert info.value.code == "credentials_unavailable"
    old_id = CredentialCipher(KEY).key_id
    assert {
        r["credentials_key_id"]
        for r in await database.fetch(
            "SELECT credentials_key_id FROM provider_instances WHERE credentials IS NOT NULL"
        )
    } == {old_id}  # the failed rotation changed nothing

    result = await service.rotate_key(KEY, NEW_KEY, by=CLI_ACTOR)
    assert (result.rotated, result.already_current) == (2, 0)
    assert (await service.resolve("nas", "/movies/film.mp4")).url.endswith("sign=abc")
    again = await service.rotate_key(KEY, NEW_KEY, by=CLI_ACTOR)  # rerunnable
    assert (again.rotated, again.already_current) == (0, 2)

    restarted = ProviderService(
        ProviderInstanceStore(database),
        CredentialCipher(NEW_KEY),
        http,
        key_custody=UnpersistedKey(),
    )
    assert (await restarted.resolve("cdn", "https://x.example/v.mp4")).headers == (
        ("cookie", "a=b"),
    )
    stale = ProviderService(
        ProviderInstanceStore(database), CredentialCipher(KEY), http, key_custody=UnpersistedKey()
    )
    with pytest.raises(DomainError) as old:
        await stale.resolve("cdn", "https://x.example/v.mp4")
    assert old.value.code == "credentials_unavailable"


async def test_a_rotation_failing_midway_changes_nothing(
    service: ProviderService, database: Database, http: HttpUpstream
) -> None:
    for name in ("a", "b", "c", "d"):
        await service.add("direct", name, {}, {"headers": {"Cookie": f"sid={name}"}}, by=CLI_ACTOR)
    before = await database.fetch(
        "SELECT id, credentials, credentials_key_id, updated_at FROM provider_instances ORDER BY id"
    )
    # Corrupt the row rotated last (rows go in id order): three rows are rewritten first.
    await database.execute(
        "UPDATE provider_instances SET credentials = $2 WHERE id = $1",
        before[-1]["id"],
        bytes(before[-1]["credentials"])[:-1] + b"\x00",
    )
    before = await database.fetch(
        "SELECT id, credentials, credentials_key_id, updated_at FROM provider_instances ORDER BY id"
    )
    rewritten: list[str] = []
    store = ProviderInstanceStore(database)
    real = store.reencrypt_all

    async def watched(reencrypt: Any, *, audit: AuditEvent) -> tuple[int, int]:
        def step(instance_id: str, blob: bytes, key: str) -> tuple[bytes, str] | None:
            result = reencrypt(instance_id, blob, key)
            rewritten.append(instance_id)
            return result

        return await real(step, audit=audit)

    store.reencrypt_all = watched  # type: ignore[method-assign]
    rotating = ProviderService(store, CredentialCipher(KEY), http, key_custody=UnpersistedKey())
    with pytest.raises(DomainError) as info:
        await rotating.rotate_key(KEY, NEW_KEY, by=CLI_ACTOR)
    assert info.value.code == "credentials_unavailable"
    assert len(rewritten) == 3  # three rows were UPDATEd before the fourth failed
    after = await database.fetch(
        "SELECT id, credentials, credentials_key_id, updated_at FROM provider_instances ORDER BY id"
    )
    assert [tuple(r) for r in after] == [tuple(r) for r in before]
    intact = await rotating.resolve(str(before[0]["id"]), "https://x.example/v.mp4")
    assert intact.headers[0][0] == "cookie"
