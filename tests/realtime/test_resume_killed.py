"""No event lost or duplicated across reconnects (issue 13): while 1,000 room events are
written, a client is killed (its TCP connection dropped, no close handshake) at random points
and comes back each time with the last sequence it applied. Every connection must continue
exactly where the client left off (a replay: the next sequence, no welcome) or, when the client
is more than the replay window behind, start from a welcome snapshot and continue from its
``lastSeq``. A steady member connected throughout sees every event once, in order."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import WebSocketConnection

from tests.support.channel import (
    Account,
    channel,
    hello,
    killable_channel,
    receive_body,
    room_with_media,
    silent,
)
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import sign_up

pytestmark = pytest.mark.slow

EVENTS = 1000
WRITERS = 10  # each from its own loopback address: the REST limit is per address


async def write_events(base: str, room: str, token: str, done: trio.Event) -> None:
    """EVENTS seeks over REST, from WRITERS addresses at once."""

    async def writer(n: int) -> None:
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.1.{n + 1}")
        headers = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, transport=transport, headers=headers) as http:
            for k in range(EVENTS // WRITERS):
                body = {"op": "seek", "position": float(n * 1000 + k)}
                response = await http.patch(f"/api/rooms/{room}/playback", json=body)
                assert response.status_code == 200, response.text

    async with trio.open_nursery() as nursery:
        for n in range(WRITERS):
            nursery.start_soon(writer, n)
    done.set()


@dataclass
class Client:
    """Where a client stands: the last sequence it applied, and every sequence it applied."""

    applied: int
    seen: list[int] = field(default_factory=list)

    async def follow(self, ws: WebSocketConnection, count: int) -> None:
        """Apply up to ``count`` events, each the next after the last applied."""
        for _ in range(count):
            event = await receive_body(ws, "event")  # (a welcome here fails)
            seq = int(event["seq"])
            assert seq == self.applied + 1, f"after {self.applied} came {seq}"
            self.seen.append(seq)
            self.applied = seq


async def test_a_client_killed_at_random_points_loses_and_repeats_nothing(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    rng = random.Random(13)
    async with identity_server(tmp_path, postgres) as server:
        made = [await sign_up(server, n, name) for n, name in ((2, "owner"), (3, "member"))]
        owner, member = (Account(m.id, m.token, f"127.0.0.{n}") for n, m in enumerate(made, 2))
        room, _ = await room_with_media(server.base, owner, member)
        written = trio.Event()
        async with channel(server.base, room, member.token) as steady_ws:
            await hello(steady_ws)
            start = int((await receive_body(steady_ws, "welcome"))["lastSeq"])
            steady, client, kills = Client(start), Client(start), 0
            async with trio.open_nursery() as nursery:
                nursery.start_soon(write_events, server.base, room, owner.token, written)
                nursery.start_soon(steady.follow, steady_ws, EVENTS)
                while not written.is_set() or client.applied < start + EVENTS:
                    async with killable_channel(server.base, room, member.token) as (ws, kill):
                        await hello(ws, client.applied)
                        await client.follow(ws, 1)  # a replay: the next event, no welcome
                        with trio.move_on_after(rng.uniform(0.0, 0.3)):
                            await client.follow(ws, rng.randint(0, 120))
                        kill()
                        kills += 1
                    if rng.random() < 0.15:  # away for a while: hundreds of events behind
                        await trio.sleep(rng.uniform(0.5, 1.5))
        everything = list(range(start + 1, start + EVENTS + 1))
        assert steady.seen == everything
        assert client.seen == everything  # none lost, none twice
        assert kills >= 5

        # Exactly the window behind (the whole run missed): still a replay, at once.
        async with channel(server.base, room, member.token) as back:
            missed = Client(start)
            await hello(back, start)
            await missed.follow(back, EVENTS)
            assert missed.seen == everything
            await silent(back, 0.3)

        # Further behind than the window: a snapshot, then the stream from its lastSeq.
        async with channel(server.base, room, member.token) as late:
            await hello(late, start - 1)  # 1,001 events behind
            welcome = await receive_body(late, "welcome")
            assert int(welcome["lastSeq"]) == start + EVENTS
            await silent(late, 0.3)
