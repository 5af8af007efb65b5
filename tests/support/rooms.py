"""Rooms for tests: over real HTTP, signed-up people with their tokens and the room event log read
straight from the database; and the rooms service on a test's own database, without a server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx

from synctv.auth.room_passwords import RoomPasswords
from synctv.auth.server_setup import server_setup_from_seed
from synctv.core.chat import ChatService
from synctv.core.playlists import PlaylistService
from synctv.core.rooms import Caller, Limits, RoomService
from synctv.state.limits import LimitBook, RateLimits
from synctv.state.memory import MemoryState
from synctv.store.chat import ChatStore
from synctv.store.db import Database
from synctv.store.playlists import PlaylistStore
from synctv.store.rooms import RoomStore
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


async def rooms_on(database: Database) -> tuple[RoomService, RoomStore, Caller]:
    """The rooms service on ``database`` with two users (``owner-…`` and ``guest-…``); the
    owner as a caller."""
    for user in ("owner-0000000000000", "guest-0000000000000"):
        await database.execute(
            "INSERT INTO users (id, username, username_key, display_name, role)"
            " VALUES ($1, $2, $2, $2, 'user')",
            user,
            user[:5],
        )
    state = MemoryState()
    limits = Limits(lambda: True, lambda: 10, lambda: 100, lambda: True)
    passwords = RoomPasswords(
        server_setup_from_seed(os.urandom(64)), state, RateLimits(state, LimitBook())
    )
    store = RoomStore(database)
    return RoomService(store, limits, passwords), store, Caller("owner-0000000000000", "user")


async def _allow(_user: str) -> None:
    return None


@dataclass
class Setup:
    chat: ChatService
    playlists: PlaylistService
    rooms: RoomService
    owner: Caller
    room: str


async def chat_on(database: Database) -> Setup:
    """A room "chat" of a new owner, with chat and playlist services on ``database`` (no rate
    limit)."""
    rooms, _store, owner = await rooms_on(database)
    room = await rooms.create(owner, name="chat")
    chat = ChatService(rooms, ChatStore(database), _allow)
    return Setup(chat, PlaylistService(rooms, PlaylistStore(database)), rooms, owner, room.id)
