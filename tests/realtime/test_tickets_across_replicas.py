"""A WebSocket ticket is single use across replicas: two servers on one database and one Redis
(the same secrets, as a cluster is deployed); a ticket issued by one opens the room channel on
the other, once, and is refused everywhere after that."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from pydantic import SecretStr

from tests.support.identity import Person
from tests.support.postgres import RunningPostgres
from tests.support.rooms import Member
from tests.support.server import running_server, server_config
from tests.support.websocket import open_with

pytestmark = pytest.mark.slow


async def test_a_ticket_from_one_replica_opens_the_channel_on_another_once(
    tmp_path: Path, postgres: RunningPostgres, redis_url: str
) -> None:
    dsn = await trio.to_thread.run_sync(postgres.create_database)
    shared: dict[str, Any] = {
        "security": {
            "jwt_secret": SecretStr("j" * 48),
            "opaque_server_setup": SecretStr("ab" * 64),
        },
        "redis": {"url": SecretStr(redis_url), "key_prefix": f"test:{uuid.uuid4().hex}:"},
    }
    configs = [server_config(tmp_path / name, dsn, **shared) for name in ("one", "two")]
    async with running_server(configs[0]) as first, running_server(configs[1]) as second:
        one, two = first.addresses.http[0], second.addresses.http[0]
        async with httpx.AsyncClient(base_url=one, timeout=30) as http:
            person = Person(http)
            registered = (await person.register("owner")).json()
            owner = Member(person, registered["user"]["id"], registered["accessToken"])
            room = (await owner.ok("POST", "/api/rooms", {"name": "hall"}))["room"]["id"]
            tickets = [
                (await owner.ok("POST", "/api/tickets", {"roomId": room}))["ticket"]
                for _ in range(2)
            ]
        # Issued by the first replica, taken by the second ...
        welcome, code = await open_with(two, room, tickets[0])
        assert "welcome" in welcome, welcome
        assert code is None
        # ... and spent for both.
        for base in (one, two):
            refused, code = await open_with(base, room, tickets[0])
            assert (refused["error"]["code"], code) == ("authentication_required", 4401)
        # Of two replicas racing for one ticket, exactly one opens the channel.
        outcomes: list[int | None] = []

        async def race(base: str) -> None:
            outcomes.append((await open_with(base, room, tickets[1]))[1])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(race, one)
            nursery.start_soon(race, two)
        assert sorted(outcomes, key=str) == sorted([None, 4401], key=str)
