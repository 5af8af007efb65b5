"""Rooms over real HTTP, for tests: signed-up people with their tokens, and the room event log
read straight from the database."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.identity import Person, Server
from tests.support.postgres import fetch_rows


class Member:
    """A signed-up person with their access token."""

    def __init__(self, person: Person, user_id: str, token: str) -> None:
        self.person = person
        self.id = user_id
        self.token = token
        self.header = f"Bearer {token}"
        self._auth = {"authorization": self.header}

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.person.http.request(method, path, json=body, headers=self._auth)

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.call(method, path, body)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def refused(self, method: str, path: str, body: Any = None) -> tuple[int, str]:
        response = await self.call(method, path, body)
        return response.status_code, response.json()["code"]


async def sign_up(server: Server, n: int, name: str) -> Member:
    person = server.person(n)
    registered = await person.register(name)
    assert registered.status_code == 200, registered.text
    body = registered.json()
    return Member(person, body["user"]["id"], body["accessToken"])


async def room_events(server: Server, room_id: str) -> list[tuple[int, str]]:
    """The room's event log, read from the database."""
    rows = await fetch_rows(
        server.dsn, "SELECT seq, type FROM room_events WHERE room_id = $1 ORDER BY seq", room_id
    )
    return [(r["seq"], r["type"]) for r in rows]
