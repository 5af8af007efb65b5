"""The reference client against the whole server: welcome, the clock estimate, the room's
position in the client's clock matching the server's, commands with their answers and
refusals, events, and a resume that replays exactly what was missed."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from synctv.client.room import ChannelError, RoomClient
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import sign_up

pytestmark = pytest.mark.slow


async def test_reference_client(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        member = await sign_up(server, 3, "member")
        room = (await owner.ok("POST", "/api/rooms", {"name": "ref"}))["room"]["id"]
        await member.ok("PUT", f"/api/rooms/{room}/members/@me")
        media = (
            await owner.ok(
                "POST",
                f"/api/rooms/{room}/media",
                {"items": [{"name": "a", "source": {"kind": "url", "url": "https://h.test/a"}}]},
            )
        )["media"][0]["id"]

        async with RoomClient.connect(server.base, room, owner.token) as host:
            with trio.fail_after(10):
                while not host.view.room:
                    await host.changed.wait()
            assert host.view.room["myRole"] == "creator"
            offset = await host.measure_clock()
            assert abs(offset) < 0.05  # the same machine's clock
            assert host.clock.error_bound is not None
            assert host.clock.error_bound < 0.05

            started = await host.command("start", mediaId=media)
            assert started["playing"] is True
            assert started["opId"]
            sought = await host.command("seek", position=100.0, version=started["version"])
            assert sought["position"] == pytest.approx(100.0, abs=0.2)
            with pytest.raises(ChannelError) as stale:
                await host.command("seek", position=5.0, version=started["version"])
            assert stale.value.code == "version_conflict"

            # The room's position in the client's clock is the server's.
            await trio.sleep(0.3)
            rest = (await owner.ok("GET", f"/api/rooms/{room}/playback"))["state"]
            here = host.room_position(now=rest["serverTime"] - offset)
            assert here == pytest.approx(rest["position"], abs=0.02)

            async with RoomClient.connect(server.base, room, member.token) as viewer:
                with trio.fail_after(10):
                    while not viewer.view.room:
                        await viewer.changed.wait()
                seen = viewer.view.last_seq
                with pytest.raises(ChannelError) as denied:
                    await viewer.command("pause")
                assert denied.value.code == "permission_denied"
                await viewer.report(position=viewer.room_position() + 0.2)

            # While the viewer is away: two changes. Its resume replays exactly those.
            await host.command("pause")
            await owner.ok("PATCH", f"/api/rooms/{room}/settings", {"chatEnabled": False})
            async with RoomClient.connect(
                server.base, room, member.token, resume_from=seen
            ) as back:
                with trio.fail_after(10):
                    while len(back.view.events) < 2:
                        await back.changed.wait()
                assert [e["type"] for e in back.view.events] == [
                    "playback_changed",
                    "settings_changed",
                ]
                assert [int(e["seq"]) for e in back.view.events] == [seen + 1, seen + 2]
                assert back.view.playback["playing"] is False
                assert not back.view.room  # a replay, not a snapshot
