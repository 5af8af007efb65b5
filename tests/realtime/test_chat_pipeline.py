"""A connection's chat messages do not wait for each other's commit (docs/realtime.md, "Chat
and danmaku"): against the whole server (real WebSockets, real PostgreSQL), while another
transaction holds the room row (so no chat commit can end), a connection's messages are all
taken; their refusals come in order once the commits before them ended, never ahead; past 64
waiting the channel refuses with chat_in_flight_limit_reached at once; the events follow in the
order sent. And the access a connection keeps for its chat is dropped by the events that change
it: a permission taken, a role override in the settings, chat turned off, a kick and a ban are
enforced on the next message."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from synctv.api.room_session import MAX_CHAT_IN_FLIGHT
from tests.support.chat_channel import chat, chat_heard, chat_room, error, event
from tests.support.cli import synctv
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres, fetch_rows
from tests.support.websocket import nothing_more, receive, send

pytestmark = pytest.mark.slow


@asynccontextmanager
async def room_locked(dsn: str, room: str) -> AsyncIterator[None]:
    """Another transaction holds the room's row (every chat commit waits for it) until the
    block ends."""
    locked, release = threading.Event(), threading.Event()

    async def hold() -> None:
        import asyncpg

        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                await conn.execute("SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE", room)
                locked.set()
                await asyncio.get_running_loop().run_in_executor(None, release.wait)
        finally:
            await conn.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.to_thread.run_sync, lambda: asyncio.run(hold()))
        await trio.to_thread.run_sync(locked.wait)
        try:
            yield
        finally:
            release.set()


async def test_chat_messages_queue_for_their_commits_and_are_answered_in_order(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        key = "ratelimit.chatMessagesPerUserPerSecond"
        code, _out, err = await synctv(server.data_dir, "admin", "settings", "set", key, "1000")
        assert code == 0, err
        async with chat_room(server) as (_owner, _member, room, _media, mine, theirs, _last):
            async with room_locked(server.dsn, room):
                await chat(theirs, "m0", "first")
                await chat(theirs, "bad", " \x01 ")  # refused, but only after m0's commit
                sent = ["first"]
                # Up to the in-flight limit, paced under the 50 messages/s of a connection.
                while len(sent) < MAX_CHAT_IN_FLIGHT - 1:
                    for _ in range(min(20, MAX_CHAT_IN_FLIGHT - 1 - len(sent))):
                        text = f"m{len(sent)}"
                        await chat(theirs, text, text)
                        sent.append(text)
                    await trio.sleep(0.5)
                await nothing_more(theirs, 0.5)  # nothing answered: m0 is not committed yet
                await chat(theirs, "over", "one too many")
                got = await error(theirs)
                assert got == ("chat_in_flight_limit_reached", "over")
                await nothing_more(mine, 0.1)
            # The commits end: every message is answered in the order sent (the refusal of
            # "bad" in its place), and their events come in that order.
            texts, answered = [], []
            with trio.fail_after(30):
                while len(texts) < len(sent) or len(answered) < len(sent) + 1:
                    got_message = await receive(theirs)
                    if "error" in got_message:
                        answered.append(got_message["error"]["opId"])
                    elif "chatAck" in got_message:
                        answered.append(got_message["chatAck"]["opId"])
                    else:
                        assert got_message["event"]["type"] == "chat_message"
                        texts.append(got_message["event"]["payload"]["text"])
            assert answered == ["m0", "bad", *sent[1:]]
            assert texts == sent
            for _ in sent:
                await event(mine, "chat_message")
            await nothing_more(theirs, 0.2)


async def test_the_access_chat_keeps_is_dropped_by_the_events_that_change_it(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        async with chat_room(server) as (owner, member, room, _media, mine, theirs, _last):
            await chat_heard(theirs, mine, "a", "allowed")

            # A role override in the room's settings (settings_changed): members may not chat.
            overrides = {"permissions": {"member": {"removed": ["send_chat_messages"]}}}
            await owner.ok("PATCH", f"/api/rooms/{room}/settings", overrides)
            for ws in (mine, theirs):
                await event(ws, "settings_changed")
            await chat(theirs, "o", "overridden")
            assert await error(theirs) == ("permission_denied", "o")
            await owner.ok(
                "PATCH", f"/api/rooms/{room}/settings", {"permissions": {"member": {"removed": []}}}
            )
            for ws in (mine, theirs):
                await event(ws, "settings_changed")
            await chat_heard(theirs, mine, "b", "allowed again")

            # A kick: the event, the termination, and nothing the member sends is stored.
            await owner.ok("DELETE", f"/api/rooms/{room}/members/{member.id}", {})
            assert (await event(theirs, "member_left"))["payload"]["reason"] == "kicked"
            await event(mine, "member_left")
            with trio.move_on_after(2):
                await chat(theirs, "k", "after the kick")
            await nothing_more(mine, 1.0)

        rows = await fetch_rows(server.dsn, "SELECT text FROM chat_messages ORDER BY n")
        assert [row["text"] for row in rows] == ["allowed", "allowed again"]


async def test_a_ban_is_enforced_on_the_next_message(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        async with chat_room(server) as (owner, member, room, _media, mine, theirs, _last):
            await chat_heard(theirs, mine, "a", "allowed")
            await owner.ok("PUT", f"/api/rooms/{room}/bans/{member.id}", {})
            kinds = set()
            with trio.fail_after(10):
                while "member_left" not in kinds and "member_banned" not in kinds:
                    kinds.add((await receive(theirs)).get("event", {}).get("type"))
            with trio.move_on_after(2):
                await send(theirs, {"opId": "x", "chat": {"text": "after the ban"}})
            with trio.move_on_after(1.0):  # the ban's events only
                while True:
                    got = await receive(mine)
                    assert got["event"]["type"] in ("member_left", "member_banned"), got
        rows = await fetch_rows(server.dsn, "SELECT text FROM chat_messages ORDER BY n")
        assert [row["text"] for row in rows] == ["allowed"]
