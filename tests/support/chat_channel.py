"""Helpers of the room channel's chat tests: say hello, read the next event or error, send a
chat, a room with one media item and a member, and both of them joined on the channel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

from trio_websocket import WebSocketConnection

from tests.support.identity import Server
from tests.support.rooms import Member, sign_up
from tests.support.websocket import channel, receive, send


async def joined(ws: WebSocketConnection) -> int:
    """Say hello; the welcome's last sequence."""
    await send(ws, {"hello": {}})
    return int((await receive(ws))["welcome"]["lastSeq"])


async def event(ws: WebSocketConnection, kind: str) -> dict[str, Any]:
    """The next message but chat answers (``chatAck``, in either order with the event), which
    must be an event of type ``kind``."""
    got = await receive(ws)
    while "chatAck" in got:
        got = await receive(ws)
    assert got.get("event", {}).get("type") == kind, got
    return got["event"]  # type: ignore[no-any-return]


async def error(ws: WebSocketConnection) -> tuple[str, str]:
    """The next message, which must be an error: its code and opId."""
    got = await receive(ws)
    assert "error" in got, got
    return got["error"]["code"], got["error"]["opId"]


async def chat(ws: WebSocketConnection, op: str, text: str, **danmaku: str) -> None:
    await send(ws, {"opId": op, "chat": {"text": text, **danmaku}})


async def chat_heard(
    sender: WebSocketConnection, other: WebSocketConnection, op: str, text: str
) -> None:
    """``sender`` chats ``text``, which is taken: its event reaches the sender, then ``other``."""
    await chat(sender, op, text)
    await event(sender, "chat_message")
    await event(other, "chat_message")


async def room_with_media(server: Server) -> tuple[Member, Member, str, str]:
    owner = await sign_up(server, 2, "owner")
    member = await sign_up(server, 3, "member")
    room = (await owner.ok("POST", "/api/rooms", {"name": "chat"}))["room"]["id"]
    await member.ok("PUT", f"/api/rooms/{room}/members/@me")
    item = {"name": "a", "source": {"kind": "url", "url": "https://h.test/a"}}
    added = await owner.ok("POST", f"/api/rooms/{room}/media", {"items": [item]})
    return owner, member, room, added["media"][0]["id"]


class ChatRoom(NamedTuple):
    """A room with one media item whose owner and member (who may chat) are both joined on the
    channel: ``mine`` is the owner's connection, ``theirs`` the member's, ``last`` the last
    sequence of the member's welcome."""

    owner: Member
    member: Member
    room: str
    media: str
    mine: WebSocketConnection
    theirs: WebSocketConnection
    last: int


@asynccontextmanager
async def chat_room(server: Server) -> AsyncIterator[ChatRoom]:
    """:func:`room_with_media`, with the owner and the member on the channel, both joined (the
    owner first), until the block ends."""
    owner, member, room, media = await room_with_media(server)
    async with (
        channel(server.base, room, owner) as mine,
        channel(server.base, room, member) as theirs,
    ):
        await joined(mine)
        last = await joined(theirs)
        yield ChatRoom(owner, member, room, media, mine, theirs, last)
