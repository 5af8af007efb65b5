"""WebSocket tickets: issued over REST to accounts and guests, taken once (also across
replicas sharing Redis), refused for another room or after 30 s, with close code 4401."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio_asyncio
from pydantic import SecretStr

from synctv import errors
from synctv.auth.tickets import (
    WS_CLOSE_UNAUTHORIZED,
    TicketHolder,
    TicketRefused,
    TicketService,
)
from synctv.errors import DomainError
from synctv.state import MemoryState, ShortLivedState
from synctv.state.limits import LimitBook, RateLimits
from synctv.state.redis import open_redis_state
from tests.auth.test_identity_http import documented
from tests.support.identity import Person, identity_server
from tests.support.postgres import RunningPostgres
from tests.support.server import running_server, server_config

ALICE = TicketHolder("alice-id", "user", "room-1", "session-1")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[ShortLivedState]:
    if request.param == "memory":
        memory = MemoryState()
        yield memory
        await memory.aclose()
        return
    url: str = request.getfixturevalue("redis_url")
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(url, key_prefix=f"test:{uuid.uuid4().hex}:", timeout_seconds=3.0) as st,
    ):
        yield st


def tickets(state: ShortLivedState) -> TicketService:
    return TicketService(state, RateLimits(state, LimitBook()))


async def test_a_ticket_is_taken_once_for_its_room(state: ShortLivedState) -> None:
    service = tickets(state)
    issued = await service.issue(ALICE)
    assert (issued.room_id, issued.expires_in_secs) == ("room-1", 30)
    assert await service.take(issued.ticket, "room-1") == ALICE
    with pytest.raises(TicketRefused) as again:
        await service.take(issued.ticket, "room-1")
    assert again.value.close_code == WS_CLOSE_UNAUTHORIZED == 4401
    assert "already used" in again.value.reason

    other = await service.issue(ALICE)
    with pytest.raises(TicketRefused) as wrong_room:
        await service.take(other.ticket, "room-2")
    assert wrong_room.value.reason == "the ticket is for another room"
    for junk in ("", "x" * 65, "made-up"):
        with pytest.raises(TicketRefused):
            await service.take(junk, "room-1")


async def test_guests_get_tickets_for_their_own_room_only(state: ShortLivedState) -> None:
    service = tickets(state)
    guest = TicketHolder("guest-x", "guest", "room-1", None)
    issued = await service.issue(guest, guest_room="room-1")
    assert await service.take(issued.ticket, "room-1") == guest
    with pytest.raises(DomainError) as refused:
        await service.issue(TicketHolder("guest-x", "guest", "room-2", None), guest_room="room-1")
    assert refused.value.error == errors.PERMISSION_DENIED


async def test_tickets_per_user_per_minute(state: ShortLivedState) -> None:
    service = tickets(state)
    for _ in range(30):  # the default of ratelimit.wsTicketsPerUserPerMinute
        await service.issue(ALICE)
    with pytest.raises(DomainError) as limited:
        await service.issue(ALICE)
    assert limited.value.error == errors.RATE_LIMITED
    await service.issue(TicketHolder("bob-id", "user", "room-1", "s"))  # per user


async def test_a_ticket_expires_after_30_seconds() -> None:
    clock = Clock()
    state = MemoryState(clock=clock)
    service = tickets(state)
    early, late = await service.issue(ALICE), await service.issue(ALICE)
    clock.now += 29.9
    assert await service.take(early.ticket, "room-1") == ALICE
    clock.now += 0.1
    with pytest.raises(TicketRefused):
        await service.take(late.ticket, "room-1")


async def take_into(
    outcomes: list[TicketHolder | TicketRefused], service: TicketService, ticket: str
) -> None:
    try:
        outcomes.append(await service.take(ticket, "room-1"))
    except TicketRefused as exc:
        outcomes.append(exc)


async def test_of_concurrent_takers_on_two_replicas_exactly_one_wins(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(redis_url, key_prefix=prefix, timeout_seconds=3.0) as one,
        open_redis_state(redis_url, key_prefix=prefix, timeout_seconds=3.0) as two,
    ):
        replicas = [tickets(one), tickets(two)]
        for _ in range(20):
            issued = await replicas[0].issue(TicketHolder("u", "user", "room-1", "s"))
            outcomes: list[TicketHolder | TicketRefused] = []
            async with trio.open_nursery() as nursery:
                for service in replicas * 2:
                    nursery.start_soon(take_into, outcomes, service, issued.ticket)
            won = [o for o in outcomes if isinstance(o, TicketHolder)]
            refused = [o for o in outcomes if isinstance(o, TicketRefused)]
            assert (len(won), len(refused)) == (1, 3)


@pytest.mark.slow
async def test_tickets_over_rest(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        alice = server.person(70)
        registered = (await alice.register("alice")).json()
        issued = await alice.post("/api/tickets", {"roomId": "room-1"}, registered["accessToken"])
        assert issued.status_code == 200, issued.text
        body = issued.json()
        assert (body["roomId"], body["expiresInSecs"]) == ("room-1", 30)
        assert len(body["ticket"]) >= 40

        anonymous = await alice.post("/api/tickets", {"roomId": "room-1"})
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "authentication_required")

        guest = (await alice.post("/api/auth/guest-token", {"roomId": "room-1"})).json()["token"]
        own = await alice.post("/api/tickets", {"roomId": "room-1"}, guest)
        assert own.status_code == 200, own.text
        elsewhere = await alice.post("/api/tickets", {"roomId": "room-2"}, guest)
        assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "permission_denied")

        document = (await alice.http.get("/api/openapi.json")).json()
        operation = document["paths"]["/api/tickets"]["post"]
        assert documented(document, operation["requestBody"]) == {"roomId"}
        assert documented(document, operation["responses"]["200"]) == set(body)
        assert {"401", "403", "429"} <= set(operation["responses"])


@pytest.mark.slow
async def test_a_ticket_issued_by_one_replica_is_taken_once_by_another(
    tmp_path: Path, postgres: RunningPostgres, redis_url: str
) -> None:
    """A server on Redis issues over REST; another replica's TicketService on the same Redis
    takes it, once."""
    dsn = await trio.to_thread.run_sync(postgres.create_database)
    prefix = f"test:{uuid.uuid4().hex}:"
    shared: dict[str, Any] = {
        "security": {
            "jwt_secret": SecretStr("j" * 48),
            "opaque_server_setup": SecretStr("ab" * 64),
        },
        "redis": {"url": SecretStr(redis_url), "key_prefix": prefix},
    }
    async with running_server(server_config(tmp_path / "one", dsn, **shared)) as first:
        async with httpx.AsyncClient(base_url=first.addresses.http[0], timeout=30) as http:
            ivan = Person(http)
            token = (await ivan.register("ivan")).json()["accessToken"]
            ticket = (await ivan.post("/api/tickets", {"roomId": "hall"}, token)).json()["ticket"]
        async with (
            trio_asyncio.open_loop(),
            open_redis_state(redis_url, key_prefix=prefix, timeout_seconds=3.0) as other,
        ):
            replica = tickets(other)
            holder = await replica.take(ticket, "hall")
            assert (holder.role, holder.room_id) == ("user", "hall")
            assert holder.session_id is not None
            with pytest.raises(TicketRefused):
                await replica.take(ticket, "hall")
