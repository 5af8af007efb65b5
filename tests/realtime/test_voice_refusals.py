"""Voice chat refusals over the room channel of the whole server, each with its stable code: a
non-member, a member without use_voice_chat (and one who loses it while talking), the ninth
participant (and two joins racing for the last slot), signalling to a connection that is not in
the session or from one that is not, and oversize SDP and candidates."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from synctv.realtime.voice import MAX_CANDIDATE_BYTES, MAX_SDP_BYTES
from tests.support.identity import Server, identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import Member, sign_up
from tests.support.voice import channel, voice_room

pytestmark = pytest.mark.slow


class Conn:
    """One channel connection: send, and take the next message of a kind (others are kept)."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.id = ""
        self.kept: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_message(json.dumps(message))

    async def next(self, kind: str) -> dict[str, Any]:
        for message in self.kept:
            if kind in message:
                self.kept.remove(message)
                return dict(message[kind])
        with trio.fail_after(10):
            while True:
                message = json.loads(await self.ws.get_message())
                if kind in message:
                    return dict(message[kind])
                self.kept.append(message)

    async def error(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.send({"opId": "x", **message})
        return await self.next("error")

    async def join(self) -> dict[str, Any]:
        await self.send({"voiceJoin": {}})
        return await self.next("voiceJoined")


@asynccontextmanager
async def connections(
    server: Server, room: str, members: list[Member]
) -> AsyncIterator[list[Conn]]:
    async with AsyncExitStack() as stack:
        conns = []
        for member in members:
            conn = Conn(await stack.enter_async_context(channel(server, room, member)))
            await conn.send({"hello": {}})
            conn.id = (await conn.next("welcome"))["connectionId"]
            conns.append(conn)
        yield conns


async def test_voice_refusals(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        room, (owner, member, quiet) = await voice_room(server, 3)
        visitor = await sign_up(server, 9, "visitor")
        ice = f"/api/rooms/{room}/webrtc/ice-servers"

        # A non-member: neither the channel nor the ICE servers (nor TURN credentials).
        async with channel(server, room, visitor) as ws:
            first = json.loads(await ws.get_message())
            assert first["error"]["code"] == "permission_denied"
            with trio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
            assert closed.value.reason.code == 4403
        assert await visitor.refused("GET", ice) == (403, "permission_denied")

        # A member whose use_voice_chat the room took away.
        await owner.ok(
            "PATCH", f"/api/rooms/{room}/members/{quiet.id}", {"removed": ["use_voice_chat"]}
        )
        assert await quiet.refused("GET", ice) == (403, "permission_denied")

        async with connections(server, room, [owner, member, quiet, owner]) as (a, b, q, idle):
            error = await q.error({"voiceJoin": {}})
            assert (error["code"], error["opId"]) == ("permission_denied", "x")
            assert error["details"] == {"permission": "use_voice_chat"}

            # Signalling before joining, and to connections outside the session.
            assert (await a.error({"voiceOffer": {"to": b.id, "sdp": "v=0"}}))["code"] == (
                "voice_not_joined"
            )
            assert (await a.join())["participants"] == []
            assert (await b.join())["participants"][0]["connectionId"] == a.id
            for to in (idle.id, "no-such-connection", a.id):
                error = await a.error({"voiceOffer": {"to": to, "sdp": "v=0"}})
                assert error["code"] == "voice_peer_not_found", to
            assert (await a.error({"voiceJoin": {}}))["code"] == "voice_already_joined"

            # Oversize SDP and candidates are refused and not relayed; the right size is.
            error = await a.error({"voiceOffer": {"to": b.id, "sdp": "x" * (MAX_SDP_BYTES + 1)}})
            assert (error["code"], error["details"]) == (
                "voice_message_too_large",
                {"field": "sdp", "limit": MAX_SDP_BYTES},
            )
            big = "candidate:" + "x" * MAX_CANDIDATE_BYTES
            error = await a.error({"voiceCandidate": {"to": b.id, "candidate": big}})
            assert error["details"]["field"] == "candidate"
            await a.send({"voiceOffer": {"to": b.id, "sdp": "y" * MAX_SDP_BYTES}})
            relayed = await b.next("voiceOffer")
            assert (relayed["from"], len(relayed["sdp"])) == (a.id, MAX_SDP_BYTES)
            assert not any("voiceOffer" in m for m in b.kept)

            # A participant who loses use_voice_chat is taken out; the others are told.
            await owner.ok(
                "PATCH", f"/api/rooms/{room}/members/{member.id}", {"removed": ["use_voice_chat"]}
            )
            assert (await b.next("voiceEnded"))["reason"] == "permission_revoked"
            left = await a.next("voicePeerLeft")
            assert (left["connectionId"], left["reason"]) == (b.id, "permission_revoked")
            assert (await b.error({"voiceJoin": {}}))["code"] == "permission_denied"
            await a.send({"voiceLeave": {}})
            assert (await a.next("voiceEnded"))["reason"] == "left"
            assert (await a.error({"voiceLeave": {}}))["code"] == "voice_not_joined"


async def test_the_ninth_participant_and_the_race_for_the_last_slot(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        room, members = await voice_room(server, 3)
        people = [members[i % 3] for i in range(10)]
        async with connections(server, room, people) as conns:
            for n, conn in enumerate(conns[:7]):
                assert len((await conn.join())["participants"]) == n
            # Two joins at once for the eighth (last) slot: exactly one gets it.
            racers = conns[7:9]
            outcome: dict[str, str] = {}

            async def race(conn: Conn) -> None:
                await conn.send({"voiceJoin": {}})
                with trio.fail_after(10):
                    while True:
                        message = json.loads(await conn.ws.get_message())
                        if "voiceJoined" in message or "error" in message:
                            outcome[conn.id] = next(iter(message))
                            if "error" in message:
                                outcome[conn.id] = message["error"]["code"]
                                assert message["error"]["details"] == {"maxParticipants": 8}
                            return

            async with trio.open_nursery() as nursery:
                for conn in racers:
                    nursery.start_soon(race, conn)
            assert sorted(outcome.values()) == ["voiceJoined", "voice_full"]
            # The ninth (and tenth) is refused while eight are in.
            assert (await conns[9].error({"voiceJoin": {}}))["code"] == "voice_full"
            # A participant hangs up (closes its connection): its slot is free again.
            await conns[0].ws.aclose()
            assert len((await conns[9].join())["participants"]) == 7


async def test_guests_talk_only_when_the_room_lets_them(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        room, (owner,) = await voice_room(server, 1)
        await owner.ok("PATCH", f"/api/rooms/{room}/settings", {"allowGuestJoin": True})
        person = server.person(5)
        issued = (await person.post("/api/auth/guest-token", {"roomId": room})).json()
        guest = Member(person, issued["guestId"], issued["token"])
        ice = f"/api/rooms/{room}/webrtc/ice-servers"
        assert await guest.refused("GET", ice) == (403, "permission_denied")
        async with connections(server, room, [guest]) as [conn]:
            assert (await conn.error({"voiceJoin": {}}))["code"] == "permission_denied"
            await owner.ok(
                "PATCH",
                f"/api/rooms/{room}/settings",
                {"permissions": {"guest": {"added": ["use_voice_chat"]}}},
            )
            assert (await guest.ok("GET", ice))["maxParticipants"] == 8
            assert (await conn.join())["participants"] == []


async def test_an_unreachable_builtin_stun_is_reported(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    # Advertised at an address where the built-in STUN (bound to 127.0.0.1) does not answer.
    async with identity_server(tmp_path, postgres, webrtc={"public_host": "127.0.0.2"}) as server:
        room, (owner,) = await voice_room(server, 1)
        listing = await owner.ok("GET", f"/api/rooms/{room}/webrtc/ice-servers")
        port = server.controller.addresses.stun_port()
        assert listing["iceServers"] == [{"urls": [f"stun:127.0.0.2:{port}"]}]
        stun = listing["builtinStun"]
        assert stun["reachable"] is False
        assert stun["problem"] == "connection refused"
