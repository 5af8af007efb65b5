"""The settings REST routes on the FastAPI app, over real PostgreSQL: the public route needs no
sign-in; the admin routes refuse without an authenticator (none is installed until identity
lands), refuse a non-admin, and work for an admin, audited as that admin."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import trio
from fastapi import FastAPI, Request

from synctv.api.http.principal import Principal
from synctv.api.http.rest import build_rest_api
from synctv.api.http.routes.settings import settings_router
from synctv.core.runtime_settings import RuntimeSettings, SettingsService
from synctv.core.setting_secrets import SettingCipher
from synctv.store.db import Database
from synctv.store.settings import SettingsStore

KEY = bytes(range(32))
TOKENS = {"admin-token": Principal("u-admin", "admin"), "user-token": Principal("u-bob", "user")}


async def fixed_token_authenticator(request: Request) -> Principal | None:
    """A real authenticator with fixed tokens: ``Authorization: Bearer <token>``."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return TOKENS.get(token) if scheme.lower() == "bearer" else None


@pytest.fixture
async def app(database: Database, nursery: trio.Nursery) -> FastAPI:
    snapshot = RuntimeSettings(SettingsStore(database), SettingCipher(KEY), database)
    await nursery.start(snapshot.run)
    service = SettingsService(SettingsStore(database), SettingCipher(KEY))
    return build_rest_api([settings_router(snapshot, service)])


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://synctv.test") as client:
        yield client


ADMIN = {"authorization": "Bearer admin-token"}


async def test_public_settings_need_no_sign_in(client: httpx.AsyncClient) -> None:
    reply = await client.get("/api/public/settings")
    assert reply.status_code == 200
    body = reply.json()
    assert body["server.name"] == "SyncTV"
    assert body["user.enablePasswordSignup"] is True
    assert "oauth2.providers" not in body
    assert "ratelimit.apiPerAddressPerMinute" not in body


async def test_admin_routes_refuse_without_an_authenticator(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/admin/settings"),
        ("GET", "/api/admin/settings/server.name"),
        ("PUT", "/api/admin/settings/server.name"),
        ("DELETE", "/api/admin/settings/server.name"),
        ("GET", "/api/admin/settings/export"),
        ("POST", "/api/admin/settings/import"),
    ]:
        reply = await client.request(method, path, headers=ADMIN, json={"value": "x"})
        assert reply.status_code == 401, (method, path)
        assert reply.json()["code"] == "authentication_required"


async def test_admin_routes_with_an_authenticator(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    app.state.authenticator = fixed_token_authenticator
    assert (await client.get("/api/admin/settings")).status_code == 401  # no token
    user = await client.get("/api/admin/settings", headers={"authorization": "Bearer user-token"})
    assert (user.status_code, user.json()["code"]) == (403, "permission_denied")

    listed = await client.get("/api/admin/settings", params={"group": "server"}, headers=ADMIN)
    assert [s["key"] for s in listed.json()] == [
        "server.allowRoomCreation",
        "server.maxRoomsPerUser",
        "server.name",
    ]
    changed = await client.put(
        "/api/admin/settings/server.name", json={"value": "Our TV"}, headers=ADMIN
    )
    assert changed.json() == {"key": "server.name", "old": "SyncTV", "new": "Our TV"}
    with trio.fail_after(1):
        while (await client.get("/api/public/settings")).json()["server.name"] != "Our TV":  # noqa: ASYNC110 (a reader polls)
            await trio.sleep(0.01)

    refused = await client.put(
        "/api/admin/settings/webrtc.maxVoiceParticipantsPerRoom", json={"value": 99}, headers=ADMIN
    )
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid_setting_value"
    assert refused.json()["details"]["rule"] == "an integer from 2 to 32"
    assert "webrtc.maxVoiceParticipantsPerRoom must be" in refused.json()["message"]
    missing = await client.get("/api/admin/settings/server.nope", headers=ADMIN)
    assert (missing.status_code, missing.json()["code"]) == (404, "setting_not_found")

    provider = {"name": "g", "issuer": "https://id.example", "clientId": "c", "clientSecret": "zz9"}
    await client.put("/api/admin/settings/oauth2.providers", json={"value": [provider]},
                     headers=ADMIN)  # fmt: skip
    one = await client.get("/api/admin/settings/oauth2.providers", headers=ADMIN)
    assert one.json()["value"][0]["clientId"] == "c"
    assert "zz9" not in one.text
    exported = await client.get("/api/admin/settings/export", headers=ADMIN)
    assert "zz9" not in exported.text
    document = exported.json()
    document["settings"]["server.name"] = "Imported"
    imported = await client.post("/api/admin/settings/import", json=document, headers=ADMIN)
    assert imported.status_code == 200
    assert {c["key"] for c in imported.json()["changes"]} == {"server.name", "oauth2.providers"}
    reset = await client.delete("/api/admin/settings/server.name", headers=ADMIN)
    assert reset.json()["new"] == "SyncTV"

    rows = await database.fetch(
        "SELECT actor, actor_address, action, details::text AS details FROM audit_events"
        " ORDER BY id"
    )
    assert {(r["actor"], r["actor_address"]) for r in rows} == {("u-admin", "203.0.113.9")}
    assert [r["action"] for r in rows] == [
        "settings.changed",
        "settings.changed",
        "settings.imported",
        "settings.imported",
        "settings.reset",
    ]
    assert all("zz9" not in r["details"] for r in rows)
    assert json.loads(rows[0]["details"]) == {"old": "SyncTV", "new": "Our TV"}
