"""The realtime room channel over gRPC (``RoomService/Channel``) with grpcio as the client: the
same session as the WebSocket, in protobuf — refusals as statuses, the welcome, the clock, a
playback command answered by its opId, REST changes as events, and one room shared by a gRPC
and a WebSocket client."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import trio
from trio_websocket import ConnectionClosed

from synctv.api import room_session
from synctv.api.grpc._gen.synctv.v1 import realtime_pb2 as rt
from tests.support.grpc_client import StreamCall, grpc_address
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import sign_up
from tests.support.websocket import channel, receive, send

pytestmark = pytest.mark.slow

PATH = "/synctv.v1.RoomService/Channel"


def stream(address: str, token: str | None, room: str | None) -> StreamCall:
    metadata = []
    if token:
        metadata.append(("authorization", f"Bearer {token}"))
    if room:
        metadata.append(("synctv-room", room))
    return StreamCall(address, PATH, rt.ServerMessage, metadata)


async def test_the_channel_over_grpc(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        member = await sign_up(server, 3, "member")
        visitor = await sign_up(server, 4, "visitor")
        room = (await owner.ok("POST", "/api/rooms", {"name": "g"}))["room"]["id"]
        await member.ok("PUT", f"/api/rooms/{room}/members/@me")
        item = {"name": "a", "source": {"kind": "url", "url": "https://h.test/a"}}
        media = (await owner.ok("POST", f"/api/rooms/{room}/media", {"items": [item]}))["media"][0][
            "id"
        ]
        await owner.ok("POST", f"/api/rooms/{room}/playback/start", {"mediaId": media})
        address = grpc_address(server.controller)

        # Refusals end the call with the status the WebSocket's close code maps to.
        for token, target, status, code in (
            (None, room, grpc.StatusCode.UNAUTHENTICATED, "authentication_required"),
            (visitor.token, room, grpc.StatusCode.PERMISSION_DENIED, "permission_denied"),
            (member.token, "nosuchroom", grpc.StatusCode.NOT_FOUND, "room_not_found"),
            (member.token, None, grpc.StatusCode.INVALID_ARGUMENT, "invalid_request"),
        ):
            call = stream(address, token, target)
            call.send(rt.ClientMessage(hello=rt.Hello()))
            try:
                assert await call.ended() == status
                assert call.code == code
            finally:
                call.close()
        call = stream(address, member.token, room)
        call.send(rt.ClientMessage(clock=rt.ClockPing(client_sent=1.0)))  # hello comes first
        try:
            assert await call.ended() == grpc.StatusCode.INVALID_ARGUMENT
        finally:
            call.close()

        call = stream(address, owner.token, room)
        try:
            call.send(rt.ClientMessage(hello=rt.Hello()))
            welcome = (await call.receive()).welcome
            assert welcome.playback.media_id == media
            assert welcome.playback.playing
            assert welcome.connection_id
            last = welcome.last_seq

            call.send(rt.ClientMessage(op_id="c", clock=rt.ClockPing(client_sent=5.5)))
            ack = (await call.receive()).clock_ack
            assert ack.client_sent == 5.5
            assert ack.server_sent >= ack.server_received > 1e9

            # A command is answered by its opId, then comes back as the event to everyone.
            call.send(
                rt.ClientMessage(
                    op_id="p1",
                    playback=rt.PlaybackCommand(action="pause", version=welcome.playback.version),
                )
            )
            state = (await call.receive()).playback_state
            assert (state.op_id, state.playing) == ("p1", False)
            event = (await call.receive()).event
            assert (event.seq, event.type) == (last + 1, "playback_changed")
            # A stale version is refused with the catalogue code and the opId.
            call.send(
                rt.ClientMessage(
                    op_id="p2",
                    playback=rt.PlaybackCommand(action="play", version=welcome.playback.version),
                )
            )
            error = (await call.receive()).error
            assert (error.code, error.op_id) == ("version_conflict", "p2")

            # One room, two transports: a WebSocket member's chat reaches the gRPC stream, and a
            # REST change reaches both.
            async with channel(server.base, room, member) as ws:
                await send(ws, {"hello": {}})
                assert "welcome" in await receive(ws)
                await send(ws, {"opId": "m", "chat": {"text": "hi from the browser"}})
                chat = (await call.receive()).event
                assert chat.type == "chat_message"
                assert chat.payload["text"] == "hi from the browser"
                answers = [await receive(ws), await receive(ws)]  # in either order
                assert {"chatAck": {"opId": "m", "messageId": chat.payload["id"]}} in answers
                assert any(a.get("event", {}).get("type") == "chat_message" for a in answers)
                await owner.ok(
                    "PATCH", f"/api/rooms/{room}/playback", {"op": "seek", "position": 42}
                )
                seek = (await call.receive()).event
                assert seek.type == "playback_changed"
                assert seek.payload["position"] == pytest.approx(42, abs=0.1)
                assert (await receive(ws))["event"]["seq"] == str(seek.seq)

            # Bad messages are named and the stream stays.
            call.send(rt.ClientMessage(op_id="x"))
            assert (await call.receive()).error.code == "invalid_request"

            # The client half-closes: the session ends cleanly.
            call.send(None)
            assert await call.ended() == grpc.StatusCode.OK
        finally:
            call.close()


async def test_caps_and_terminations_over_grpc(tmp_path: Path, postgres: RunningPostgres) -> None:
    """One cap for both transports (a gRPC stream and a WebSocket count alike); a refusal is the
    call's RESOURCE_EXHAUSTED with the code; a kick ends the stream with its termination and
    PERMISSION_DENIED, a deletion with NOT_FOUND (docs/realtime.md, Termination)."""
    caps = {"max_connections_per_user": 1}
    async with identity_server(tmp_path, postgres, realtime=caps) as server:
        owner = await sign_up(server, 2, "owner")
        member = await sign_up(server, 3, "member")
        room = (await owner.ok("POST", "/api/rooms", {"name": "g"}))["room"]["id"]
        await member.ok("PUT", f"/api/rooms/{room}/members/@me")
        address = grpc_address(server.controller)

        kept, owners = stream(address, member.token, room), stream(address, owner.token, room)
        try:
            for call in (kept, owners):
                call.send(rt.ClientMessage(hello=rt.Hello()))
                assert (await call.receive()).HasField("welcome")
            second = stream(address, member.token, room)
            second.send(rt.ClientMessage(hello=rt.Hello()))
            try:
                assert await second.ended() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert second.code == "channel_user_limit_reached"
            finally:
                second.close()
            async with channel(server.base, room, member) as ws:  # the other transport
                refusal = await receive(ws)
                assert refusal["error"]["code"] == "channel_user_limit_reached"

            await owner.ok("DELETE", f"/api/rooms/{room}/members/{member.id}", {})
            while (message := await kept.receive()).WhichOneof("body") == "event":
                last_event = message.event
            assert last_event.type == "member_left"
            assert message.termination.reason == "kicked"
            assert await kept.ended() == grpc.StatusCode.PERMISSION_DENIED

            await owner.ok("DELETE", f"/api/rooms/{room}")
            while (message := await owners.receive()).WhichOneof("body") == "event":
                pass
            assert message.termination.reason == "room_deleted"
            assert await owners.ended() == grpc.StatusCode.NOT_FOUND
        finally:
            kept.close()
            owners.close()


async def test_a_revoked_session_ends_its_connections_on_both_transports(
    tmp_path: Path, postgres: RunningPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No room event says a login session was revoked (sign-out here): each connection asks
    every 30 s, shrunk to 0.2 s for the test; the connections of that session end with
    access_revoked (4401 / UNAUTHENTICATED), another account's stay."""
    monkeypatch.setattr(room_session, "SESSION_CHECK_SECONDS", 0.2)
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        member = await sign_up(server, 3, "member")
        room = (await owner.ok("POST", "/api/rooms", {"name": "g"}))["room"]["id"]
        await member.ok("PUT", f"/api/rooms/{room}/members/@me")
        address = grpc_address(server.controller)
        members, owners = stream(address, member.token, room), stream(address, owner.token, room)
        try:
            async with channel(server.base, room, member) as ws:
                await send(ws, {"hello": {}})
                assert "welcome" in await receive(ws)
                for call in (members, owners):
                    call.send(rt.ClientMessage(hello=rt.Hello()))
                    assert (await call.receive()).HasField("welcome")
                await trio.sleep(0.5)  # checked a few times: not revoked, nothing ends
                await member.ok("POST", "/api/user/logout")
                assert (await receive(ws))["termination"]["reason"] == "access_revoked"
                with pytest.raises(ConnectionClosed) as closed:
                    await receive(ws)
                assert closed.value.reason.code == 4401
            assert (await members.receive()).termination.reason == "access_revoked"
            assert await members.ended() == grpc.StatusCode.UNAUTHENTICATED
            owners.send(rt.ClientMessage(clock=rt.ClockPing(client_sent=7.0)))
            assert (await owners.receive()).clock_ack.client_sent == 7.0
        finally:
            members.close()
            owners.close()
