"""Plain chat messages into one room are committed together while a commit runs (group commit,
synctv.store.chat): every message is stored once with its event, in a gapless sequence, each
sender gets its own row back, and a commit that fails refuses every message it carried."""

from __future__ import annotations

import json

import pytest
import trio

from synctv.store.chat import ChatRow, ChatStore, NewMessage, NotStored
from synctv.store.db import Database
from tests.support.rooms import chat_on

pytestmark = pytest.mark.slow


def _payload(row: ChatRow) -> dict[str, object]:
    return {"id": row.id, "text": row.text}


async def test_concurrent_messages_are_stored_once_each_in_sequence(database: Database) -> None:
    setup = await chat_on(database)
    store = ChatStore(database)
    got: dict[str, ChatRow] = {}

    async def send(n: int) -> None:
        message = NewMessage(setup.owner.user_id, "user", "guest-x", f"m{n}", None)
        got[f"m{n}"] = await store.send(setup.room, message, lambda _s: None, _payload)

    async with trio.open_nursery() as nursery:
        for n in range(40):
            nursery.start_soon(send, n)
    assert sorted(got) == sorted(f"m{n}" for n in range(40))
    assert all(row.text == text and row.sender_name == "owner" for text, row in got.items())
    rows = await database.fetch(
        "SELECT seq, payload FROM room_events WHERE room_id = $1 AND type = 'chat_message'"
        " ORDER BY seq",
        setup.room,
    )
    seqs = [r["seq"] for r in rows]
    assert seqs == list(range(seqs[0], seqs[0] + 40))
    assert sorted(json.loads(r["payload"])["id"] for r in rows) == sorted(
        row.id for row in got.values()
    )
    stored = await database.fetchval(
        "SELECT count(*) FROM chat_messages m JOIN room_events e"
        " ON e.room_id = m.room_id AND e.seq = m.event_seq WHERE m.room_id = $1",
        setup.room,
    )
    assert stored == 40
    assert not store._queued  # no commit left running


async def test_a_failed_group_refuses_each_message(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await chat_on(database)
    store = ChatStore(database)
    outcomes: list[str] = []

    def broken(_row: ChatRow) -> dict[str, object]:
        raise RuntimeError("payload")

    async def send(n: int) -> None:
        message = NewMessage(setup.owner.user_id, "user", "guest-x", f"m{n}", None)
        try:
            await store.send(setup.room, message, lambda _s: None, broken)
        except NotStored:
            outcomes.append("refused")

    async with trio.open_nursery() as nursery:
        for n in range(10):
            nursery.start_soon(send, n)
    assert outcomes == ["refused"] * 10
    assert (
        await database.fetchval("SELECT count(*) FROM chat_messages WHERE room_id = $1", setup.room)
        == 0
    )
    assert not store._queued
