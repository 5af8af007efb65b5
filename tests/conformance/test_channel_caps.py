"""docs/realtime.md, Limits: the connection caps (per user, per room, per server). This module's
server has them shrunk through their config keys (``realtime.*``: 2 per user, 3 per room, 5 in
all, instead of 20, 2,000 and 20,000), so that a few connections reach each; what is checked is
which cap refuses, with which code, that the refusal is counted, and that a slot comes back
when its connection ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import trio
from prometheus_client import REGISTRY
from trio_websocket import WebSocketConnection

from tests.support.channel import (
    Account,
    Site,
    channel,
    closed_with,
    hello,
    receive,
    receive_body,
    room_with_media,
)

pytestmark = pytest.mark.slow

PER_USER, PER_ROOM, IN_ALL = 2, 3, 5
SERVER_SECTIONS = {
    "realtime": {
        "max_connections_per_user": PER_USER,
        "max_connections_per_room": PER_ROOM,
        "max_connections": IN_ALL,
    }
}


def refusals(limit: str) -> float:
    """The server's refusal counter (it runs in this process, in a thread)."""
    value = REGISTRY.get_sample_value("synctv_room_channel_refused_total", {"limit": limit})
    return value or 0.0


@asynccontextmanager
async def welcomed(site: Site, room: str, who: Account) -> AsyncIterator[WebSocketConnection]:
    """A connection in the room (hello, welcome). A slot the previous test's connections still
    hold comes back as their sessions end: a 4429 is retried for up to 5 s."""
    with trio.fail_after(5):
        while True:
            async with channel(site.base, room, who.token) as ws:
                await hello(ws)
                first = await receive(ws)
                if "welcome" in first:
                    yield ws
                    return
                assert first["error"]["code"].startswith("channel_"), first
            await trio.sleep(0.1)


async def refused_by(site: Site, room: str, who: Account) -> dict[str, object]:
    """The error of a connection the server refuses with 4429."""
    async with channel(site.base, room, who.token) as ws:
        error = await receive_body(ws, "error")
        assert await closed_with(ws) == 4429
    return error


async def rooms_for_everyone(site: Site, count: int) -> list[str]:
    made = []
    for _ in range(count):
        room, _ = await room_with_media(site.base, site.owner, site.member)
        await site.visitor.ok(site.base, "PUT", f"/api/rooms/{room}/members/@me")
        made.append(room)
    return made


async def test_a_users_connections_over_their_cap_are_refused_4429(site: Site) -> None:
    room, other = await rooms_for_everyone(site, 2)
    before = refusals("user")
    async with AsyncExitStack() as stack:
        held = [await stack.enter_async_context(welcomed(site, room, site.member))]
        held.append(await stack.enter_async_context(welcomed(site, room, site.member)))
        error = await refused_by(site, room, site.member)
        assert error["code"] == "channel_user_limit_reached"
        assert error["details"] == {"limit": PER_USER}
        # Per user over every room, not per room.
        error = await refused_by(site, other, site.member)
        assert error["code"] == "channel_user_limit_reached"
        assert refusals("user") == before + 2
        # Somebody else still gets in.
        async with welcomed(site, room, site.owner):
            pass
        await held[0].aclose()
        # The slot comes back when its connection ends.
        async with welcomed(site, other, site.member) as again:
            await again.send_message('{"clock": {"clientSent": 1}}')
            assert (await receive_body(again, "clockAck"))["clientSent"] == 1
    assert refusals("user") == before + 2


async def test_a_rooms_connections_over_its_cap_are_refused_4429(site: Site) -> None:
    (room,) = await rooms_for_everyone(site, 1)
    before = refusals("room")
    async with AsyncExitStack() as stack:
        for who in (site.owner, site.owner, site.member):
            await stack.enter_async_context(welcomed(site, room, who))
        for who in (site.member, site.visitor):  # each under their own cap
            error = await refused_by(site, room, who)
            assert error["code"] == "channel_room_limit_reached"
            assert error["details"] == {"limit": PER_ROOM}
        assert refusals("room") == before + 2


async def test_the_servers_connections_over_its_cap_are_refused_4429(site: Site) -> None:
    rooms = await rooms_for_everyone(site, 3)
    before = refusals("node")
    async with AsyncExitStack() as stack:
        for who, room in (
            (site.owner, rooms[0]), (site.owner, rooms[0]),
            (site.member, rooms[1]), (site.member, rooms[1]),
            (site.visitor, rooms[2]),
        ):  # fmt: skip
            await stack.enter_async_context(welcomed(site, room, who))
        # The visitor holds 1 of 2, the room 1 of 3: the server's cap refuses.
        error = await refused_by(site, rooms[2], site.visitor)
        assert error["code"] == "channel_node_limit_reached"
        assert error["details"] == {"limit": IN_ALL}
        assert refusals("node") == before + 1
