"""Chat and danmaku through the realtime channel against the whole server (two clients on real
WebSockets, real PostgreSQL): a message reaches both, cleaned; a danmaku carries the room's media
and position; refusals come back with the message's opId (length, permission, chatEnabled off,
another's message, the per-user rate); deletes reach everybody; and a message whose commit fails
is refused with chat_not_stored while nobody else hears anything."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.support.chat_channel import chat, chat_room, error, event
from tests.support.cli import synctv
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres, fetch_rows
from tests.support.websocket import nothing_more, receive, send

pytestmark = pytest.mark.slow


async def test_chat_and_danmaku_over_the_channel(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with (
        identity_server(tmp_path, postgres) as server,
        chat_room(server) as (owner, member, room, media, mine, theirs, _last),
    ):
        # A message reaches both connections, the sender's too, cleaned to plain text; the
        # sender is answered with its opId and the message's id.
        await chat(theirs, "c1", "  <b>hi</b>\x00\u202e ")
        sent = await event(mine, "chat_message")
        answers = [await receive(theirs), await receive(theirs)]
        assert {"chatAck": {"opId": "c1", "messageId": sent["payload"]["id"]}} in answers
        assert {"event": sent} in answers
        message = sent["payload"]
        assert (message["text"], message["senderId"]) == ("<b>hi</b>", member.id)
        assert (message["senderName"], message["danmaku"]) == ("member", None)
        assert sent["actor"] == member.id

        # A danmaku: stamped with the media and where the room is in it.
        await owner.ok("POST", f"/api/rooms/{room}/playback/start", {"mediaId": media})
        await owner.ok("PATCH", f"/api/rooms/{room}/playback", {"op": "pause"})
        await owner.ok("PATCH", f"/api/rooms/{room}/playback", {"op": "seek", "position": 42})
        for ws in (mine, theirs):
            for _ in range(3):
                await event(ws, "playback_changed")
        await chat(theirs, "d1", "wow\nnice", danmakuMode="top", danmakuColor="#00FF00")
        danmaku = (await event(mine, "chat_message"))["payload"]
        await event(theirs, "chat_message")
        assert danmaku["text"] == "wow nice"
        assert danmaku["danmaku"] == {
            "mode": "top",
            "color": "#00ff00",
            "mediaId": media,
            "position": pytest.approx(42),
        }

        # Refusals name the message; nobody else hears of them.
        await chat(theirs, "e1", " \x01 ")
        assert await error(theirs) == ("invalid_chat_message", "e1")
        await chat(theirs, "e2", "x" * 501)
        assert await error(theirs) == ("invalid_chat_message", "e2")
        await chat(theirs, "e3", "hi", danmakuMode="spin")
        assert await error(theirs) == ("invalid_chat_message", "e3")
        await send(theirs, {"opId": "e4", "chatDelete": {"messageId": "nope"}})
        assert await error(theirs) == ("chat_message_not_found", "e4")
        await nothing_more(mine)

        # Deleting: not another's without delete_chat_messages; one's own, and the owner
        # anyone's, with an event to everybody.
        await chat(mine, "o1", "from the owner")
        owners = (await event(mine, "chat_message"))["payload"]["id"]
        await event(theirs, "chat_message")
        await send(theirs, {"opId": "x1", "chatDelete": {"messageId": owners}})
        assert await error(theirs) == ("permission_denied", "x1")
        await send(theirs, {"opId": "x2", "chatDelete": {"messageId": message["id"]}})
        gone = (await event(mine, "chat_message_deleted"))["payload"]
        assert gone == {"id": message["id"], "deletedBy": member.id}
        await send(mine, {"opId": "x3", "chatDelete": {"messageId": danmaku["id"]}})
        gone = (await event(mine, "chat_message_deleted"))["payload"]
        assert gone == {"id": danmaku["id"], "deletedBy": owner.id}
        for _ in "ab":
            await event(theirs, "chat_message_deleted")

        # Without send_chat_messages (taken from this member), then with chat turned off.
        path = f"/api/rooms/{room}/members/{member.id}"
        await owner.ok("PATCH", path, {"removed": ["send_chat_messages"]})
        for ws in (mine, theirs):
            await event(ws, "member_updated")
        await chat(theirs, "p1", "hello?")
        assert await error(theirs) == ("permission_denied", "p1")
        await owner.ok("PATCH", path, {"removed": []})
        await owner.ok("PATCH", f"/api/rooms/{room}/settings", {"chatEnabled": False})
        for ws in (mine, theirs):
            await event(ws, "member_updated")
            await event(ws, "settings_changed")
        await chat(theirs, "p2", "hello?")
        assert await error(theirs) == ("chat_disabled", "p2")
        await chat(mine, "p3", "even the owner")
        assert await error(mine) == ("chat_disabled", "p3")
        await owner.ok("PATCH", f"/api/rooms/{room}/settings", {"chatEnabled": True})
        for ws in (mine, theirs):
            await event(ws, "settings_changed")

        # The per-user rate (ratelimit.chatMessagesPerUserPerSecond): a clear refusal.
        key = "ratelimit.chatMessagesPerUserPerSecond"
        code, _out, err = await synctv(server.data_dir, "admin", "settings", "set", key, "1")
        assert code == 0, err
        with trio.fail_after(20):
            while True:
                await chat(theirs, "r", "spam")
                got = await receive(theirs)
                while "chatAck" in got:
                    got = await receive(theirs)
                if "error" in got:
                    break
                assert got["event"]["type"] == "chat_message"
                await event(mine, "chat_message")
        assert (got["error"]["code"], got["error"]["opId"]) == ("rate_limited", "r")
        assert got["error"]["details"]["retry_after_seconds"] >= 1


async def test_a_message_that_cannot_be_committed_reaches_nobody(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with (
        identity_server(tmp_path, postgres) as server,
        chat_room(server) as (_owner, member, room, _media, mine, theirs, last),
    ):
        # The commit itself fails: a deferred trigger refuses every chat row at COMMIT, after
        # the message, its room event and its NOTIFY were written in the transaction.
        await fetch_rows(
            server.dsn,
            "CREATE FUNCTION refuse_chat() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$",
        )
        await fetch_rows(
            server.dsn,
            "CREATE CONSTRAINT TRIGGER refuse_chat AFTER INSERT ON chat_messages"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_chat()",
        )
        await chat(theirs, "lost", "this one is lost")
        assert await error(theirs) == ("chat_not_stored", "lost")
        refused = await member.call("POST", f"/api/rooms/{room}/chat", {"text": "lost too"})
        assert (refused.status_code, refused.json()["code"]) == (503, "chat_not_stored")
        await nothing_more(mine, 1.0)
        await nothing_more(theirs, 0.1)
        rows = await fetch_rows(server.dsn, "SELECT count(*) AS n FROM chat_messages")
        assert rows[0]["n"] == 0
        seq = await fetch_rows(
            server.dsn, "SELECT last_event_seq AS s FROM rooms WHERE id = $1", room
        )
        assert seq[0]["s"] == last

        # Once the database takes it again, the next message is the next event: no gap.
        await fetch_rows(server.dsn, "DROP TRIGGER refuse_chat ON chat_messages")
        await chat(theirs, "ok", "this one arrives")
        arrived = await event(mine, "chat_message")
        assert (int(arrived["seq"]), arrived["payload"]["text"]) == (
            last + 1,
            "this one arrives",
        )
        await event(theirs, "chat_message")
