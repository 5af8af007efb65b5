"""The realtime room channel over a real WebSocket (trio-websocket) against the whole server:
who may connect and the close codes of those who may not, the welcome snapshot, events from REST
changes, the clock exchange, playback commands and their refusals, and resume without loss or
duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres, fetch_rows
from tests.support.rooms import sign_up
from tests.support.websocket import channel, receive, refused, send

pytestmark = pytest.mark.slow


async def test_the_channel(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        member = await sign_up(server, 3, "member")
        visitor = await sign_up(server, 4, "visitor")
        room = (await owner.ok("POST", "/api/rooms", {"name": "live"}))["room"]["id"]
        private = (await owner.ok("POST", "/api/rooms", {"name": "p", "isPublic": False}))["room"][
            "id"
        ]
        await member.ok("PUT", f"/api/rooms/{room}/members/@me")
        media = (
            await owner.ok(
                "POST",
                f"/api/rooms/{room}/media",
                {"items": [{"name": "a", "source": {"kind": "url", "url": "https://h.test/a"}}]},
            )
        )["media"][0]["id"]
        await owner.ok("POST", f"/api/rooms/{room}/playback/start", {"mediaId": media})

        # Refusals: a reason, then an application close code.
        async with channel(server.base, room, None) as ws:
            assert await refused(ws) == ("authentication_required", 4401)
        async with channel(server.base, room, visitor) as ws:
            assert await refused(ws) == ("permission_denied", 4403)
        async with channel(server.base, private, member) as ws:
            assert await refused(ws) == ("room_not_found", 4404)
        async with channel(server.base, room, member) as ws:
            await send(ws, {"clock": {"clientSent": 1.0}})  # hello must come first
            assert await refused(ws) == ("invalid_request", 4400)

        async with channel(server.base, room, member) as ws:
            assert ws.subprotocol == "synctv.v1"
            await send(ws, {"hello": {}})
            welcome = (await receive(ws))["welcome"]
            assert welcome["room"]["myRole"] == "member"
            assert welcome["playback"]["mediaId"] == media
            assert welcome["playback"]["playing"] is True
            last = int(welcome["lastSeq"])

            # A change over REST reaches the channel as the next event.
            await owner.ok("PATCH", f"/api/rooms/{room}/playback", {"op": "seek", "position": 42})
            event = (await receive(ws))["event"]
            assert (int(event["seq"]), event["type"]) == (last + 1, "playback_changed")
            assert event["payload"]["position"] == pytest.approx(42, abs=0.1)

            # The clock exchange.
            await send(ws, {"opId": "c", "clock": {"clientSent": 123.5}})
            ack = (await receive(ws))["clockAck"]
            assert ack["clientSent"] == 123.5
            assert ack["serverSent"] >= ack["serverReceived"] > 1e9

            # Commands are checked like REST: a member may not pause by default.
            await send(ws, {"opId": "p1", "playback": {"action": "pause"}})
            error = (await receive(ws))["error"]
            assert (error["code"], error["opId"]) == ("permission_denied", "p1")
            # Bad messages are named, and the connection stays.
            await send(ws, {"shout": {}})
            assert (await receive(ws))["error"]["code"] == "invalid_request"
            seen = int(event["seq"])

            # Reports make presence: who is here, buffering, how far off.
            await send(
                ws,
                {"report": {"mediaId": media, "position": 43, "buffering": True, "drift": -0.12}},
            )
            with trio.fail_after(5):
                while True:
                    presence = await owner.ok("GET", f"/api/rooms/{room}/presence")
                    if presence["buffering"]:
                        break
                    await trio.sleep(0.02)
            assert [p["userId"] for p in presence["online"]] == [member.id]
            assert presence["online"][0]["drift"] == pytest.approx(-0.12)
            assert presence["worstDrift"] == pytest.approx(0.12)
            assert presence["buffering"] == [member.id]
            assert await visitor.refused("GET", f"/api/rooms/{room}/presence") == (
                403,
                "permission_denied",
            )
        with trio.fail_after(5):  # the connection is gone: so is its presence
            while True:
                if not (await owner.ok("GET", f"/api/rooms/{room}/presence"))["online"]:
                    break
                await trio.sleep(0.02)

        # The owner pauses through the channel: the answer, and the event to everyone (in
        # either order: docs/realtime.md).
        async with channel(server.base, room, owner) as ws:
            await send(ws, {"hello": {}})
            await receive(ws)  # welcome
            await send(ws, {"opId": "p2", "playback": {"action": "pause", "version": "0"}})
            got = {**(await receive(ws)), **(await receive(ws))}
            assert got["playbackState"]["playing"] is False
            assert got["event"]["type"] == "playback_changed"
            await send(ws, {"playback": {"action": "seek", "position": 5, "version": "1"}})
            assert (await receive(ws))["error"]["code"] == "version_conflict"

        # Resume: what happened while away comes as events (no welcome), once each.
        await owner.ok("PATCH", f"/api/rooms/{room}/settings", {"chatEnabled": False})
        async with channel(server.base, room, member) as ws:
            await send(ws, {"hello": {"resumeFrom": str(seen)}})
            types = []
            for expected in range(seen + 1, seen + 3):
                got = (await receive(ws))["event"]
                assert int(got["seq"]) == expected
                types.append(got["type"])
            assert types == ["playback_changed", "settings_changed"]
            with trio.move_on_after(0.5):
                extra = await ws.get_message()
                raise AssertionError(f"nothing more was owed: {extra}")


async def test_a_resume_after_five_minutes_gets_a_snapshot(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    """The replay window is 1,000 events *or* 300 s: events missed longer ago than that are
    not replayed; the client gets a fresh welcome instead."""
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        room = (await owner.ok("POST", "/api/rooms", {"name": "r"}))["room"]["id"]
        async with channel(server.base, room, owner) as ws:
            await send(ws, {"hello": {}})
            seen = int((await receive(ws))["welcome"]["lastSeq"])
        await owner.ok("PATCH", f"/api/rooms/{room}/settings", {"chatEnabled": False})
        await owner.ok("PATCH", f"/api/rooms/{room}/settings", {"chatEnabled": True})

        async with channel(server.base, room, owner) as ws:  # recent: a replay
            await send(ws, {"hello": {"resumeFrom": str(seen)}})
            assert int((await receive(ws))["event"]["seq"]) == seen + 1

        await fetch_rows(
            server.dsn,
            "UPDATE room_events SET created_at = now() - interval '301 seconds'"
            " WHERE room_id = $1 AND seq = $2",
            room,
            seen + 1,
        )
        async with channel(server.base, room, owner) as ws:  # the first missed is too old
            await send(ws, {"hello": {"resumeFrom": str(seen)}})
            welcome = (await receive(ws))["welcome"]
            assert int(welcome["lastSeq"]) == seen + 2
