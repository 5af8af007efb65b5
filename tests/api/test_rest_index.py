"""The REST app's route index (``rest.IndexedRestApi``) answers every request as the whole
FastAPI app does: the first route that matches path and method wins even across route groups,
a wrong method is a 405 naming every group's methods, an unknown path a 404, the authenticator
and the error handlers are the same, and the OpenAPI document is the whole app's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from synctv import errors
from synctv.api.http.principal import Principal, current_principal
from synctv.api.http.rest import IndexedRestApi, build_indexed_rest_api, build_rest_api
from synctv.errors import DomainError


def groups() -> list[APIRouter]:
    first = APIRouter(prefix="/api/things")

    @first.get("/{thing_id}")
    async def get_thing(thing_id: str) -> dict[str, Any]:
        return {"by": "first.get", "id": thing_id}

    @first.get("/{thing_id}/refused")
    async def refused(thing_id: str) -> dict[str, Any]:
        raise DomainError(errors.ROOM_NOT_FOUND, f"no {thing_id}")

    second = APIRouter(prefix="/api/things")

    @second.get("/special")  # shadowed: the first group's /{thing_id} matches it first
    async def special() -> dict[str, Any]:
        return {"by": "second.special"}

    @second.post("/{thing_id}")
    async def post_thing(thing_id: str, body: dict[str, int]) -> dict[str, Any]:
        return {"by": "second.post", "id": thing_id, "body": body}

    @second.get("/whoami/me/{n}")
    async def whoami(
        n: int, who: Annotated[Principal, Depends(current_principal)]
    ) -> dict[str, Any]:
        return {"by": "second.whoami", "user": who.user_id, "n": n}

    return [first, second]


async def authenticate(_request: Any) -> Principal:
    return Principal("u_1", "user")


@pytest.fixture(params=["whole", "indexed"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """The same requests against the whole app and the indexed one."""
    build = build_rest_api if request.param == "whole" else build_indexed_rest_api
    app: Any = build(groups(), authenticate)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://synctv.test") as client:
        yield client


async def test_the_same_route_answers(client: httpx.AsyncClient) -> None:
    got = await client.get("/api/things/special")
    assert got.json() == {"by": "first.get", "id": "special"}
    posted = await client.post("/api/things/7", json={"a": 1})
    assert posted.json() == {"by": "second.post", "id": "7", "body": {"a": 1}}
    me = await client.get("/api/things/whoami/me/3")
    assert me.json() == {"by": "second.whoami", "user": "u_1", "n": 3}


async def test_refusals_are_the_same(client: httpx.AsyncClient) -> None:
    refused = await client.get("/api/things/x/refused")
    assert (refused.status_code, refused.json()["code"]) == (404, "room_not_found")
    invalid = await client.post("/api/things/7", json={"a": "not a number"})
    assert (invalid.status_code, invalid.json()["code"]) == (422, "invalid_request")
    wrong = await client.put("/api/things/7")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET, HEAD, POST"
    missing = await client.get("/api/nothing/here")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    bad_path = await client.get("/api/things/whoami/me/notanint")
    assert bad_path.status_code == 422


async def test_the_document_is_the_whole_apps(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    assert {"/api/things/{thing_id}", "/api/things/special"} <= set(document["paths"])


def test_every_route_is_indexed() -> None:
    """Nothing falls through to the whole app's walk: each route group's routes, the
    OpenAPI document and the docs page are all in the index."""
    app = build_indexed_rest_api(groups(), authenticate)
    assert isinstance(app, IndexedRestApi)
    assert isinstance(app.api, FastAPI)
    routes = sum(len(router.routes) for router in groups())
    assert len(app._index) == routes + 2
