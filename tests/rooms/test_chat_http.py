"""``/api/rooms/{room}/chat`` against the whole server: the REST twins of the channel's chat
(send, delete, with the same rules), the history cursor, the danmaku timeline, who may read, and
the routes in the OpenAPI document with their refusals; and the server's retention task."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres, fetch_rows
from tests.support.rooms import room_events, sign_up
from tests.support.server import running_server, server_config

pytestmark = pytest.mark.slow


async def test_chat_over_rest(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        member = await sign_up(server, 3, "member")
        visitor = await sign_up(server, 4, "visitor")
        room = (await owner.ok("POST", "/api/rooms", {"name": "chat"}))["room"]["id"]
        await member.ok("PUT", f"/api/rooms/{room}/members/@me")
        chat = f"/api/rooms/{room}/chat"

        # Send: the message back, and its event in the room's log.
        sent = await member.ok("POST", chat, {"text": " <a href=x>link</a>\u0007 "})
        assert (sent["text"], sent["senderId"], sent["senderName"]) == (
            "<a href=x>link</a>",
            member.id,
            "member",
        )
        assert sent["danmaku"] is None
        assert (await room_events(server, room))[-1][1] == "chat_message"
        assert await member.refused("POST", chat, {"text": ""}) == (422, "invalid_chat_message")
        assert await member.refused("POST", chat, {"text": "\u0000\u0001"}) == (
            422,
            "invalid_chat_message",
        )
        assert await member.refused("POST", chat, {"text": "é" * 501}) == (
            422,
            "invalid_chat_message",
        )
        assert await visitor.refused("POST", chat, {"text": "hi"}) == (403, "permission_denied")
        assert await member.refused("POST", chat, {"text": "hi", "danmakuMode": "scroll"}) == (
            422,
            "invalid_chat_message",
        )  # nothing is selected to stamp it with

        # History: newest first, by pages, nextBefore as the cursor.
        for n in range(4):
            await owner.ok("POST", chat, {"text": f"m{n}"})
        page = await member.ok("GET", f"{chat}?limit=2")
        assert [m["text"] for m in page["messages"]] == ["m3", "m2"]
        page = await member.ok("GET", f"{chat}?limit=2&before={page['nextBefore']}")
        assert [m["text"] for m in page["messages"]] == ["m1", "m0"]
        page = await member.ok("GET", f"{chat}?limit=2&before={page['nextBefore']}")
        assert [m["text"] for m in page["messages"]] == ["<a href=x>link</a>"]
        assert page["nextBefore"] is None
        assert await visitor.refused("GET", chat) == (403, "permission_denied")
        assert (await member.call("GET", f"{chat}?limit=101")).status_code == 422

        # Danmaku along the media timeline.
        item = {"name": "a", "source": {"kind": "url", "url": "https://h.test/a"}}
        media = (await owner.ok("POST", f"/api/rooms/{room}/media", {"items": [item]}))["media"]
        media_id = media[0]["id"]
        await owner.ok("POST", f"/api/rooms/{room}/playback/start", {"mediaId": media_id})
        await owner.ok("PATCH", f"/api/rooms/{room}/playback", {"op": "pause"})
        stamped = []
        for position in (50, 5, 20):
            await owner.ok(
                "PATCH", f"/api/rooms/{room}/playback", {"op": "seek", "position": position}
            )
            body = {"text": f"at {position}", "danmakuMode": "bottom", "danmakuColor": "#123abc"}
            stamped.append(await member.ok("POST", chat, body))
        assert stamped[0]["danmaku"] == {
            "mode": "bottom",
            "color": "#123abc",
            "mediaId": media_id,
            "position": 50.0,
        }
        timeline = await member.ok("GET", f"{chat}/timeline?media={media_id}&from=0&to=30")
        assert [d["text"] for d in timeline["danmaku"]] == ["at 5", "at 20"]
        assert timeline["truncated"] is False
        whole = await member.ok("GET", f"{chat}/timeline?media={media_id}")
        assert [d["danmaku"]["position"] for d in whole["danmaku"]] == [5.0, 20.0, 50.0]
        assert await member.refused("GET", f"{chat}/timeline?media={media_id}&from=9&to=3") == (
            400,
            "invalid_parameter",
        )
        assert await visitor.refused("GET", f"{chat}/timeline?media={media_id}") == (
            403,
            "permission_denied",
        )

        # Delete: one's own; not another's without delete_chat_messages; the owner anyone's.
        owners = (await owner.ok("GET", f"{chat}?limit=50"))["messages"]
        m0 = next(m["id"] for m in owners if m["text"] == "m0")
        assert await member.refused("DELETE", f"{chat}/{m0}") == (403, "permission_denied")
        await member.ok("DELETE", f"{chat}/{stamped[1]['id']}")
        await owner.ok("DELETE", f"{chat}/{sent['id']}")
        assert await owner.refused("DELETE", f"{chat}/{sent['id']}") == (
            404,
            "chat_message_not_found",
        )
        texts = [m["text"] for m in (await member.ok("GET", chat))["messages"]]
        assert texts == ["at 20", "at 50", "m3", "m2", "m1", "m0"]
        whole = await member.ok("GET", f"{chat}/timeline?media={media_id}")
        assert [d["text"] for d in whole["danmaku"]] == ["at 20", "at 50"]
        assert [t for _, t in await room_events(server, room)][-2:] == [
            "chat_message_deleted",
            "chat_message_deleted",
        ]

        # Chat turned off: sending is refused, reading is not.
        await owner.ok("PATCH", f"/api/rooms/{room}/settings", {"chatEnabled": False})
        assert await member.refused("POST", chat, {"text": "hi"}) == (403, "chat_disabled")
        assert len((await member.ok("GET", chat))["messages"]) == 6

        # The routes are documented with their refusals.
        document = (await owner.person.http.get("/api/openapi.json")).json()
        paths = document["paths"]
        assert set(paths["/api/rooms/{room_id}/chat"]) == {"get", "post"}
        assert set(paths["/api/rooms/{room_id}/chat/{message_id}"]) == {"delete"}
        assert set(paths["/api/rooms/{room_id}/chat/timeline"]) == {"get"}
        post = paths["/api/rooms/{room_id}/chat"]["post"]["responses"]
        assert {"201", "401", "403", "404", "422", "429", "503"} <= set(post)
        schemas = document["components"]["schemas"]
        assert set(sent) == set(schemas["ChatMessageOut"]["properties"])


async def test_the_server_keeps_chat_to_its_retention(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    """The rooms feature runs the retention task (it runs at start, then every 10 minutes):
    messages past chat.messageRetentionDays are gone once a server has started."""
    async with identity_server(tmp_path, postgres, keep_database=True) as server:
        owner = await sign_up(server, 2, "owner")
        room = (await owner.ok("POST", "/api/rooms", {"name": "chat"}))["room"]["id"]
        for text in ("ancient", "old", "recent"):
            await owner.ok("POST", f"/api/rooms/{room}/chat", {"text": text})
        await fetch_rows(
            server.dsn,
            "UPDATE chat_messages SET created_at = now() - interval '91 days'"
            " WHERE text IN ('ancient', 'old')",
        )
    async with running_server(server_config(server.data_dir, server.dsn)):
        with trio.fail_after(20):
            while True:
                rows = await fetch_rows(server.dsn, "SELECT text FROM chat_messages")
                if len(rows) == 1:
                    break
                await trio.sleep(0.05)
    assert rows[0]["text"] == "recent"
    await trio.to_thread.run_sync(postgres.drop_database, server.dsn)
