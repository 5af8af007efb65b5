"""``GET /api/admin/audit`` with a test authenticator installed on the REST app: 401 without
credentials, 403 for a non-admin, cursor pages for an admin, refusals with stable codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from synctv.api.http.principal import Principal
from synctv.api.http.rest import build_rest_api
from synctv.api.http.routes.audit import audit_router
from synctv.store.audit import AuditActor, AuditEvent, AuditLog
from synctv.store.db import Database

TOKENS = {"admin-token": Principal("u_root", "admin"), "user-token": Principal("u_joe", "user")}


async def test_authenticator(request: Request) -> Principal | None:
    """A real authenticator: a fixed bearer token per principal; anything else is no one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return TOKENS.get(token) if scheme.lower() == "bearer" else None


test_authenticator.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
async def api(database: Database) -> FastAPI:
    """The REST app with the audit router and seven events, and the test authenticator."""
    audit = AuditLog(database)
    for i in range(7):
        by = AuditActor("u_root" if i % 2 else "cli", address="198.51.100.1", request_id=f"r{i}")
        action = "live.created" if i < 5 else "provider.added"
        await audit.record(AuditEvent(by, action, "live_stream", f"s{i}", details={"n": i}))
    app = build_rest_api([audit_router(audit)])
    app.state.authenticator = test_authenticator
    return app


@pytest.fixture
async def client(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://synctv.test") as client:
        yield client


def admin(**params: Any) -> dict[str, Any]:
    return {"headers": {"authorization": "Bearer admin-token"}, "params": params}


async def test_without_an_authenticator_every_call_is_401(database: Database) -> None:
    """The production state until identity installs one: fail closed, even with a token."""
    api = build_rest_api([audit_router(AuditLog(database))])
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://synctv.test") as client:
        reply = await client.get("/api/admin/audit", **admin())
    assert reply.status_code == 401
    assert reply.json()["code"] == "authentication_required"


async def test_admins_only(client: httpx.AsyncClient) -> None:
    reply = await client.get("/api/admin/audit")
    assert (reply.status_code, reply.json()["code"]) == (401, "authentication_required")
    reply = await client.get("/api/admin/audit", headers={"authorization": "Bearer not-a-token"})
    assert reply.status_code == 401
    reply = await client.get("/api/admin/audit", headers={"authorization": "Bearer user-token"})
    assert (reply.status_code, reply.json()["code"]) == (403, "permission_denied")
    reply = await client.get("/api/admin/audit", **admin())
    assert reply.status_code == 200


async def test_pages_filters_and_refusals(client: httpx.AsyncClient) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        reply = await client.get("/api/admin/audit", **admin(**params))
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert len(body["events"]) <= 3
        seen += [e["target_id"] for e in body["events"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"s{i}" for i in reversed(range(7))]

    first = (await client.get("/api/admin/audit", **admin(limit=1))).json()["events"][0]
    assert first == {
        "id": first["id"],
        "occurred_at": first["occurred_at"],
        "actor": "cli",
        "actor_address": "198.51.100.1",
        "action": "provider.added",
        "target_type": "live_stream",
        "target_id": "s6",
        "outcome": "success",
        "details": {"n": 6},
        "request_id": "r6",
    }
    assert first["occurred_at"].endswith("Z")

    async def targets(**params: Any) -> list[str]:
        reply = await client.get("/api/admin/audit", **admin(**params))
        assert reply.status_code == 200, reply.text
        return [e["target_id"] for e in reply.json()["events"]]

    assert await targets(actor="u_root") == ["s5", "s3", "s1"]
    assert await targets(action="provider") == ["s6", "s5"]
    assert await targets(action="live.created", target="live_stream:s2") == ["s2"]
    assert await targets(since="2000-01-01T00:00:00") == [f"s{i}" for i in reversed(range(7))]
    assert await targets(since="2100-01-01T00:00:00Z") == []

    reply = await client.get("/api/admin/audit", **admin(cursor="garbage"))
    assert (reply.status_code, reply.json()["code"]) == (400, "audit_cursor_invalid")
    for bad in ({"limit": 0}, {"limit": 501}, {"since": "yesterday"}, {"actor": ""}):
        reply = await client.get("/api/admin/audit", **admin(**bad))
        assert (reply.status_code, reply.json()["code"]) == (422, "invalid_request"), bad
