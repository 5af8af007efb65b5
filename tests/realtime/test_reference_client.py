"""The reference client against the whole server: welcome, the clock estimate, the room's
position in the client's clock matching the server's, commands with their answers and
refusals, events, and a resume that replays exactly what was missed; chat and danmaku between
two clients, each recognising its own messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


async def welcomed(client: RoomClient) -> None:
    with trio.fail_after(10):
        while not client.view.room:
            await client.changed.wait()


async def received(client: RoomClient, message_id: str, present: bool = True) -> None:
    """Wait until ``message_id`` is in (or, ``present=False``, gone from) ``client.view.chat``."""
    with trio.fail_after(10):
        while (message_id in client.view.chat) != present:
            await client.changed.wait()


async def test_reference_client_chat(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        member = await sign_up(server, 3, "member")
        room = (await owner.ok("POST", "/api/rooms", {"name": "chat"}))["room"]["id"]
        await member.ok("PUT", f"/api/rooms/{room}/members/@me")
        item = {"name": "a", "source": {"kind": "url", "url": "https://h.test/a"}}
        added = await owner.ok("POST", f"/api/rooms/{room}/media", {"items": [item]})
        media = added["media"][0]["id"]

        async with (
            RoomClient.connect(server.base, room, owner.token) as host,
            RoomClient.connect(server.base, room, member.token) as viewer,
        ):
            await welcomed(host)
            await welcomed(viewer)
            assert (host.user_id, viewer.user_id) == (owner.id, member.id)

            # One sends; the answer is the message as stored; the other receives it.
            sent = await host.chat("  hello <b>all</b>\x00 ")
            assert (sent["text"], sent["senderId"], sent["danmaku"]) == (
                "hello <b>all</b>",
                owner.id,
                None,
            )
            await received(viewer, sent["id"])
            assert viewer.view.chat[sent["id"]] == sent
            chat_events = [e for e in viewer.view.events if e["type"] == "chat_message"]
            assert [(e["payload"], e["actor"]) for e in chat_events] == [(sent, owner.id)]

            # Refusals come back as ChannelError; a refused chat leaves no answer owed, so the
            # next one gets its own message.
            with pytest.raises(ChannelError) as no_media:
                await viewer.chat("boo", danmaku_mode="scroll")
            assert no_media.value.code == "invalid_chat_message"
            with pytest.raises(ChannelError) as too_long:
                await viewer.chat("x" * 501)
            assert too_long.value.code == "invalid_chat_message"
            after = await viewer.chat("after")
            assert (after["text"], after["senderId"]) == ("after", member.id)
            await received(host, after["id"])

            # Both at once, several each: each client is answered with its own messages.
            results: dict[str, list[dict[str, Any]]] = {"host": [], "viewer": []}

            async def chatter(name: str, client: RoomClient) -> None:
                for n in range(3):
                    results[name].append(await client.chat(f"{name} {n}"))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(chatter, "host", host)
                nursery.start_soon(chatter, "viewer", viewer)
            assert [m["text"] for m in results["host"]] == ["host 0", "host 1", "host 2"]
            assert [m["text"] for m in results["viewer"]] == ["viewer 0", "viewer 1", "viewer 2"]
            assert {m["senderId"] for m in results["viewer"]} == {member.id}

            # A danmaku: stamped with the media and where the room is in it.
            started = await host.command("start", mediaId=media)
            paused = await host.command("pause", version=started["version"])
            await host.command("seek", position=42.0, version=paused["version"])
            danmaku = await host.chat("wow", danmaku_mode="top", color="#00FF00")
            assert danmaku["danmaku"]["mediaId"] == media
            assert (danmaku["danmaku"]["mode"], danmaku["danmaku"]["color"]) == ("top", "#00ff00")
            assert danmaku["danmaku"]["position"] == pytest.approx(42.0, abs=0.01)
            await received(viewer, danmaku["id"])

            # Deleting: another's message needs delete_chat_messages (a member has not); the
            # owner deletes the viewer's, and the viewer sees it go.
            with pytest.raises(ChannelError) as denied:
                await viewer.delete_chat(sent["id"])
            assert denied.value.code == "permission_denied"
            await host.delete_chat(after["id"])
            await received(viewer, after["id"], present=False)
            assert after["id"] not in host.view.chat
            deletions = [e for e in viewer.view.events if e["type"] == "chat_message_deleted"]
            assert [e["payload"] for e in deletions] == [{"id": after["id"], "deletedBy": owner.id}]
            with pytest.raises(ChannelError) as gone:
                await host.delete_chat(after["id"])
            assert gone.value.code == "chat_message_not_found"
            await viewer.delete_chat(results["viewer"][0]["id"])  # one's own

        # What the clients saw is the room's history (the concurrent ones in commit order).
        history = (await owner.ok("GET", f"/api/rooms/{room}/chat?limit=100"))["messages"]
        kept = [m["id"] for m in reversed(history)]
        between = {m["id"] for m in results["host"] + results["viewer"][1:]}
        assert (kept[0], set(kept[1:-1]), kept[-1]) == (sent["id"], between, danmaku["id"])
