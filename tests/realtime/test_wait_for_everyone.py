"""Wait for everyone against the whole server: a member's player buffering for more than 500 ms
pauses the room for everybody with the member named; the room plays on when they are ready; a
pause by somebody else while waiting is kept; with the setting off, buffering changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import sign_up
from tests.support.websocket import channel, receive, send

pytestmark = pytest.mark.slow


async def next_playback(ws: Any, within: float = 3.0) -> dict[str, Any]:
    with trio.fail_after(within):
        while True:
            message = await receive(ws)
            event = message.get("event")
            if event is not None and event["type"] == "playback_changed":
                return dict(event["payload"])


def report(media: str, buffering: bool) -> dict[str, Any]:
    return {"report": {"mediaId": media, "position": 1, "buffering": buffering, "drift": 0}}


async def test_the_room_waits_for_a_buffering_member(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        member = await sign_up(server, 3, "member")
        room = (await owner.ok("POST", "/api/rooms", {"name": "w"}))["room"]["id"]
        await member.ok("PUT", f"/api/rooms/{room}/members/@me")
        item = {"name": "a", "source": {"kind": "url", "url": "https://h.test/a"}}
        media = (await owner.ok("POST", f"/api/rooms/{room}/media", {"items": [item]}))["media"][0][
            "id"
        ]
        await owner.ok("POST", f"/api/rooms/{room}/playback/start", {"mediaId": media})

        async with (
            channel(server.base, room, owner) as host,
            channel(server.base, room, member) as guest,
        ):
            for ws in (host, guest):
                await send(ws, {"hello": {}})
                assert "welcome" in await receive(ws)

            # Off (the default): buffering changes nothing.
            await send(guest, report(media, True))
            with trio.move_on_after(1.0):
                payload = await next_playback(host)
                raise AssertionError(f"the room changed with the setting off: {payload}")
            await send(guest, report(media, False))

            await owner.ok("PATCH", f"/api/rooms/{room}/settings", {"waitForEveryone": True})
            started = trio.current_time()
            await send(guest, report(media, True))
            paused = await next_playback(host)
            waited = trio.current_time() - started
            assert paused["playing"] is False
            assert paused["waitingFor"] == [member.id]
            assert 0.5 <= waited < 2.5, waited
            assert (await next_playback(guest))["waitingFor"] == [member.id]

            # Ready again: the room plays on from where it paused, for everyone.
            await send(guest, report(media, False))
            resumed = await next_playback(host)
            assert resumed["playing"] is True
            assert resumed["waitingFor"] == []
            assert resumed["position"] == pytest.approx(paused["position"], abs=0.3)

            # A pause by the owner while the room waits is kept when the member is ready.
            await send(guest, report(media, True))
            assert (await next_playback(host))["waitingFor"] == [member.id]
            state = await owner.ok("GET", f"/api/rooms/{room}/playback")
            await owner.ok(
                "PATCH",
                f"/api/rooms/{room}/playback",
                {"op": "seek", "position": 10, "version": state["state"]["version"]},
            )
            assert (await next_playback(host))["position"] == pytest.approx(10, abs=0.1)
            await send(guest, report(media, False))
            with trio.move_on_after(1.0):
                payload = await next_playback(host)
                raise AssertionError(f"the wait overrode the owner's change: {payload}")
            state = await owner.ok("GET", f"/api/rooms/{room}/playback")
            assert state["state"]["playing"] is False

            # A buffering member who leaves does not keep the room waiting.
            await owner.ok("PATCH", f"/api/rooms/{room}/playback", {"op": "play"})
            await next_playback(host)
        async with channel(server.base, room, owner) as host:
            await send(host, {"hello": {}})
            await receive(host)
            async with channel(server.base, room, member) as guest:
                await send(guest, {"hello": {}})
                await receive(guest)
                await send(guest, report(media, True))
                assert (await next_playback(host))["playing"] is False
            assert (await next_playback(host))["playing"] is True
