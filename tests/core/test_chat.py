"""Chat on a real PostgreSQL without a server: text cleanup and danmaku rules (case tables), the
message and its event in one transaction, delete own and others', the history cursor, the
danmaku timeline, and the retention task (by age and by count per room, read at every run)."""

from __future__ import annotations

import json

import pytest
import trio

from synctv.core.chat import ChatRetention, clean_text, danmaku_of
from synctv.core.playlists import NewItem
from synctv.core.rooms import Caller
from synctv.errors import DomainError
from synctv.store.chat import ChatStore, Danmaku
from synctv.store.db import Database
from synctv.supervision import restarting
from tests.support.rooms import chat_on

CLEANUP = [
    ("plain", "hello", "hello"),
    ("markup kept as text", "<b>hi</b> & <script>x</script>", "<b>hi</b> & <script>x</script>"),
    ("ends trimmed", "  hi \n", "hi"),
    ("controls stripped", "a\x00b\x07c\x1bd\x7fe\x85f", "abcdef"),
    ("line breaks kept, CR normalised", "a\r\nb\rc\nd", "a\nb\nc\nd"),
    ("tab becomes a space", "a\tb", "a b"),
    ("bidi override stripped", "abc\u202edcba\u2066x\u2069", "abcdcbax"),
    ("emoji joiners kept", "👩\u200d💻", "👩\u200d💻"),
    ("lone surrogate stripped", "a\ud800b", "ab"),
    ("NFC", "e\u0301", "\u00e9"),
    ("only controls: empty", "\x00\x01 \x02", ""),
]


@pytest.mark.parametrize(("text", "clean"), [c[1:] for c in CLEANUP], ids=[c[0] for c in CLEANUP])
def test_clean_text(text: str, clean: str) -> None:
    assert clean_text(text) == clean


def test_a_danmaku_is_one_line() -> None:
    assert clean_text("a\nb\r\nc", single_line=True) == "a b c"


DANMAKU = [
    ("plain message", None, None, None),
    ("mode, default white", "scroll", None, Danmaku("scroll", "#ffffff")),
    ("colour lower-cased", "top", "#A0B1C2", Danmaku("top", "#a0b1c2")),
    ("bottom", "bottom", "#000000", Danmaku("bottom", "#000000")),
    ("unknown mode", "spin", "#ffffff", "invalid"),
    ("short colour", "top", "#fff", "invalid"),
    ("named colour", "top", "red", "invalid"),
    ("colour without mode", None, "#ffffff", "invalid"),
]


@pytest.mark.parametrize(
    ("mode", "color", "expected"), [c[1:] for c in DANMAKU], ids=[c[0] for c in DANMAKU]
)
def test_danmaku_rules(mode: str | None, color: str | None, expected: object) -> None:
    if expected == "invalid":
        with pytest.raises(DomainError) as refused:
            danmaku_of(mode, color)
        assert refused.value.code == "invalid_chat_message"
    else:
        assert danmaku_of(mode, color) == expected


async def events(database: Database, room_id: str) -> list[tuple[str, dict[str, object]]]:
    rows = await database.fetch(
        "SELECT type, payload FROM room_events WHERE room_id = $1 ORDER BY seq", room_id
    )
    return [(r["type"], json.loads(r["payload"])) for r in rows]


async def test_send_delete_history_and_timeline(database: Database) -> None:
    setup = await chat_on(database)
    chat, playlists, owner, room = setup.chat, setup.playlists, setup.owner, setup.room
    other = Caller("guest-0000000000000", "user")

    sent = await chat.send(owner, room, "  <i>hello</i>\x00 ")
    assert (sent.text, sent.sender_name, sent.danmaku_mode) == ("<i>hello</i>", "owner", None)
    kind, payload = (await events(database, room))[-1]
    assert kind == "chat_message"
    assert (payload["id"], payload["text"]) == (sent.id, "<i>hello</i>")
    assert (payload["senderId"], payload["danmaku"]) == (owner.user_id, None)

    for refused_text in ("", " \x00\x01 ", "x" * 501):
        with pytest.raises(DomainError) as refused:
            await chat.send(owner, room, refused_text)
        assert refused.value.code == "invalid_chat_message"
    assert len((await chat.send(owner, room, "é" * 500)).text) == 500
    # Not a member: may not send; a danmaku with nothing selected is refused.
    with pytest.raises(DomainError) as refused:
        await chat.send(other, room, "hi")
    assert refused.value.code == "permission_denied"
    with pytest.raises(DomainError) as refused:
        await chat.send(owner, room, "hi", "scroll")
    assert refused.value.code == "invalid_chat_message"

    # Danmaku: stamped with the media and position playing at send time.
    item = NewItem("a", {"kind": "url", "url": "https://h.test/a"})
    media = (await playlists.add(owner, room, [item]))[0].id
    await playlists.start(owner, room, media)
    await playlists.control(owner, room, "pause")
    await playlists.control(owner, room, "seek", position=30.0)
    early = await chat.send(owner, room, "thirty", "top", "#FF0000")
    await playlists.control(owner, room, "seek", position=10.0)
    later = await chat.send(owner, room, "ten\nlines", "scroll")
    assert (early.media_id, early.media_position, early.danmaku_color) == (media, 30.0, "#ff0000")
    assert (later.media_position, later.text) == (10.0, "ten lines")
    timeline = await chat.timeline(owner, room, media, 0, 60)
    assert [r.id for r in timeline.danmaku] == [later.id, early.id]
    assert not timeline.truncated
    assert [r.id for r in (await chat.timeline(owner, room, media, 20, 40)).danmaku] == [early.id]
    assert (await chat.timeline(owner, room, "other-media", 0, 60)).danmaku == []

    # History: newest first, a page at a time, the cursor from the previous page.
    for n in range(5):
        await chat.send(owner, room, f"m{n}")
    first = await chat.history(owner, room, None, 3)
    assert [r.text for r in first.messages] == ["m4", "m3", "m2"]
    assert first.next_before == first.messages[-1].id
    second = await chat.history(owner, room, first.next_before, 3)
    assert [r.text for r in second.messages] == ["m1", "m0", "ten lines"]
    rest = await chat.history(owner, room, second.next_before, 100)
    assert [r.text for r in rest.messages] == ["thirty", "é" * 500, "<i>hello</i>"]
    assert rest.next_before is None

    # Delete own: gone from history and timeline, its event's text blanked, an event added.
    await chat.delete(owner, room, early.id)
    assert early.id not in [r.id for r in (await chat.history(owner, room, None, 100)).messages]
    assert [r.id for r in (await chat.timeline(owner, room, media, 0, 60)).danmaku] == [later.id]
    logged = await events(database, room)
    assert logged[-1] == ("chat_message_deleted", {"id": early.id, "deletedBy": owner.user_id})
    announced = [p for t, p in logged if t == "chat_message" and p["id"] == early.id]
    assert announced[0]["text"] == ""
    with pytest.raises(DomainError) as refused:
        await chat.delete(owner, room, early.id)  # once
    assert refused.value.code == "chat_message_not_found"


async def plant(database: Database, room: str, count: int, days_old: int, prefix: str) -> None:
    """``count`` messages of ``days_old`` days (with their events)."""
    for n in range(count):
        seq = await database.fetchval(
            "UPDATE rooms SET last_event_seq = last_event_seq + 1 WHERE id = $1"
            " RETURNING last_event_seq",
            room,
        )
        await database.execute(
            "INSERT INTO room_events (room_id, seq, type, payload, actor)"
            " VALUES ($1, $2, 'chat_message', $3::jsonb, 'owner-0000000000000')",
            room,
            seq,
            json.dumps({"text": f"{prefix}{n}"}),
        )
        await database.execute(
            "INSERT INTO chat_messages (id, room_id, sender_id, sender_kind, sender_name, text,"
            " event_seq, created_at) VALUES ($1, $2, 'owner-0000000000000', 'user', 'owner', $3,"
            " $4, now() - make_interval(days => $5))",
            f"{prefix}-{n:04d}-0000000000000",
            room,
            f"{prefix}{n}",
            seq,
            days_old,
        )


async def texts(database: Database, room: str) -> list[str]:
    rows = await database.fetch(
        "SELECT text FROM chat_messages WHERE room_id = $1 ORDER BY n", room
    )
    return [r["text"] for r in rows]


async def test_retention_by_age_and_count_read_at_every_run(database: Database) -> None:
    setup = await chat_on(database)
    chat, owner, busy = setup.chat, setup.owner, setup.room
    quiet = (await setup.rooms.create(owner, name="quiet")).id
    await plant(database, busy, 3, 200, "old")
    await plant(database, busy, 12, 0, "new")
    await plant(database, quiet, 2, 100, "aged")
    await plant(database, quiet, 1, 1, "kept")
    limits = {"days": 90, "most": 10}
    retention = ChatRetention(
        ChatStore(database), lambda: limits["days"], lambda: limits["most"], interval=0.05
    )
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(restarting, "chat_retention", retention.run)
            while retention.runs < 1:  # noqa: ASYNC110
                await trio.sleep(0.01)
            # The 3 old ones by age, then the 2 oldest new ones by count.
            assert await texts(database, busy) == [f"new{n}" for n in range(2, 12)]
            assert await texts(database, quiet) == ["kept0"]
            blanked = [p for t, p in await events(database, quiet) if t == "chat_message"]
            assert [p["text"] for p in blanked] == ["", "", "kept0"]
            await chat.send(owner, busy, "one more")  # the next run takes the oldest again
            limits["most"] = 5  # and reads the setting again
            while len(await texts(database, busy)) > 5:  # noqa: ASYNC110
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    assert await texts(database, busy) == ["new8", "new9", "new10", "new11", "one more"]
    assert retention.runs >= 2
