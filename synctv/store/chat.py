"""Chat messages and danmaku: the SQL behind :mod:`synctv.core.chat`.

A message is written in ONE transaction with its ``room_events`` row
(:func:`~synctv.store.rooms.append_event`, whose ``pg_notify`` PostgreSQL delivers after the
commit only): if anything fails up to and including the commit, the message does not exist and
nobody is told about it (fail closed). :class:`NotStored` says so to the caller, whatever the
reason (the database away, a statement or the commit refused).

A danmaku is stamped, under the room row's lock, with the media playing and its position at that
moment (``stamp``: the playback rules' own arithmetic, handed in by the service), so a playback
change committed just before it is seen and one committed after it waits.

Plain messages into one room are committed together (group commit, :class:`ChatStore`): every
message of a room waits for the room row's lock anyway, so while one transaction runs, the
messages that arrive wait for the next, which writes them all (two statements however many) and
answers each; a transaction that fails refuses each of its messages (:class:`NotStored`), and
none is announced. A danmaku (its stamp needs the lock) has a transaction of its own.

Deleting keeps the row (``deleted_at``, ``deleted_by``), never served again, and blanks the text
in the announcing event's payload, so a later replay of the room's log does not carry it either.
Retention (:meth:`ChatStore.prune`) deletes rows past ``chat.messageRetentionDays`` and beyond
``chat.maxMessagesPerRoom`` per room (oldest first), in batches, blanking their events' text too.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import asyncpg
import trio

from synctv.store.db import Database, DatabaseUnavailable
from synctv.store.playlists import StoredPlayback, playback_q
from synctv.store.rooms import append_event, insert_event, insert_events

DanmakuMode = Literal["scroll", "top", "bottom"]
SenderKind = Literal["user", "guest"]
# Rows one retention statement deletes: short transactions, however large the backlog.
PRUNE_BATCH_SIZE = 5000

_COLUMNS = (
    "id, room_id, sender_id, sender_kind, sender_name, text, danmaku_mode, danmaku_color,"
    " media_id, media_position, created_at, deleted_at, n"
)


class NotStored(Exception):
    """The message (or its deletion) was not committed: nothing was written, nothing is sent."""


@dataclass(frozen=True, slots=True)
class Danmaku:
    mode: DanmakuMode
    color: str  # "#rrggbb", lower case


@dataclass(frozen=True, slots=True)
class ChatRow:
    id: str
    room_id: str
    sender_id: str
    sender_kind: SenderKind
    sender_name: str
    text: str
    danmaku_mode: DanmakuMode | None
    danmaku_color: str | None
    media_id: str | None
    media_position: float | None
    created_at: datetime
    deleted_at: datetime | None
    n: int  # the internal order (history pages walk it)


@dataclass(frozen=True, slots=True)
class NewMessage:
    sender_id: str
    sender_kind: SenderKind
    guest_name: str  # the display name of a guest (a user's is read from their row)
    text: str
    danmaku: Danmaku | None


class SendRefused(Exception):
    """The data refuses the message (``reason``: ``gone``, or ``nothing_playing`` for a
    danmaku); nothing was written."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Turns the locked playback row into (media id, position now); None: nothing is selected.
Stamp = Callable[[StoredPlayback], tuple[str, float] | None]
# The event payload of a stored message (the service's JSON shape).
Payload = Callable[[ChatRow], dict[str, Any]]


def _row(record: Any) -> ChatRow:
    return ChatRow(
        id=record["id"],
        room_id=record["room_id"],
        sender_id=record["sender_id"],
        sender_kind=record["sender_kind"],
        sender_name=record["sender_name"],
        text=record["text"],
        danmaku_mode=record["danmaku_mode"],
        danmaku_color=record["danmaku_color"],
        media_id=record["media_id"],
        media_position=record["media_position"],
        created_at=record["created_at"],
        deleted_at=record["deleted_at"],
        n=record["n"],
    )


async def send_q(
    conn: Any, room_id: str, message: NewMessage, stamp: Stamp, payload: Payload
) -> ChatRow:
    """Lock the room and take its next sequence, stamp a danmaku, insert the message, write its
    ``chat_message`` event. The room's row stays locked until the commit, and every message of
    a room waits for it: so a plain message is two statements (lock, sequence and insert in
    one; the event and its notification in the other), where each round trip counts."""
    danmaku = message.danmaku
    media: tuple[str, float] | None = None
    if danmaku is not None:
        seq = await conn.fetchval(
            "UPDATE rooms SET last_event_seq = last_event_seq + 1"
            " WHERE id = $1 AND deleted_at IS NULL AND closed_at IS NULL"
            " RETURNING last_event_seq",
            room_id,
        )
        if seq is None:
            raise SendRefused("gone")
        media = stamp(await playback_q(conn, room_id))
        if media is None:
            raise SendRefused("nothing_playing")
        locked = "SELECT $11::bigint AS seq"
        arguments: tuple[Any, ...] = (seq,)
    else:
        locked = (
            "UPDATE rooms SET last_event_seq = last_event_seq + 1"
            " WHERE id = $2 AND deleted_at IS NULL AND closed_at IS NULL"
            " RETURNING last_event_seq AS seq"
        )
        arguments = ()
    record = await conn.fetchrow(
        f"WITH locked AS ({locked})"
        " INSERT INTO chat_messages (id, room_id, sender_id, sender_kind, sender_name, text,"
        " danmaku_mode, danmaku_color, media_id, media_position, event_seq)"
        " SELECT $1, $2, $3, $4, coalesce((SELECT display_name FROM users WHERE id = $3"
        " AND $4 = 'user'), $5), $6, $7, $8, $9, $10, locked.seq FROM locked"
        f" RETURNING {_COLUMNS}, event_seq",
        secrets.token_urlsafe(16),
        room_id,
        message.sender_id,
        message.sender_kind,
        message.guest_name,
        message.text,
        danmaku.mode if danmaku else None,
        danmaku.color if danmaku else None,
        media[0] if media else None,
        media[1] if media else None,
        *arguments,
    )
    if record is None:
        raise SendRefused("gone")
    row = _row(record)
    seq = record["event_seq"]
    await insert_event(conn, room_id, seq, "chat_message", payload(row), message.sender_id)
    return row


async def send_plain_q(
    conn: Any, room_id: str, messages: list[NewMessage], payload: Payload
) -> list[ChatRow]:
    """Plain messages (no danmaku) into one room, in order: take their sequences (locking the
    room), insert them, write their events; their rows, in order. :class:`SendRefused`
    (``gone``) when the room is gone or closed."""
    records = await conn.fetch(
        "WITH locked AS (UPDATE rooms SET last_event_seq = last_event_seq + $2"
        " WHERE id = $1 AND deleted_at IS NULL AND closed_at IS NULL"
        " RETURNING last_event_seq - $2 AS base)"
        " INSERT INTO chat_messages (id, room_id, sender_id, sender_kind, sender_name, text,"
        " event_seq)"
        " SELECT m.id, $1, m.sender_id, m.sender_kind, coalesce((SELECT display_name FROM users"
        " WHERE id = m.sender_id AND m.sender_kind = 'user'), m.guest_name), m.text,"
        " locked.base + m.k"
        " FROM locked, unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])"
        " WITH ORDINALITY AS m(id, sender_id, sender_kind, guest_name, text, k)"
        " ORDER BY m.k"
        f" RETURNING {_COLUMNS}, event_seq",
        room_id,
        len(messages),
        [secrets.token_urlsafe(16) for _ in messages],
        [m.sender_id for m in messages],
        [m.sender_kind for m in messages],
        [m.guest_name for m in messages],
        [m.text for m in messages],
    )
    if not records:
        raise SendRefused("gone")
    records.sort(key=lambda record: record["event_seq"])
    rows = [_row(record) for record in records]
    events = [
        (record["event_seq"], payload(row), row.sender_id)
        for record, row in zip(records, rows, strict=True)
    ]
    await insert_events(conn, room_id, "chat_message", events)
    return rows


@dataclass(eq=False)
class _Waiting:
    """A plain message waiting for its room's next group commit."""

    message: NewMessage
    payload: Payload
    done: trio.Event = field(default_factory=trio.Event)
    row: ChatRow | None = None
    error: Exception | None = None
    batch: list[_Waiting] | None = None  # set when this one is to run the next commit


# What ChatStore.enqueue hands back, to await with ChatStore.stored.
Queued = _Waiting


async def message_q(conn: Any, room_id: str, message_id: str) -> ChatRow | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM chat_messages WHERE room_id = $1 AND id = $2"
        " AND deleted_at IS NULL",
        room_id,
        message_id,
    )
    return _row(record) if record is not None else None


async def delete_q(conn: Any, room_id: str, message_id: str, actor: str) -> bool:
    """Mark deleted, blank the text in its event, append ``chat_message_deleted``; False when
    there is no such (undeleted) message."""
    seq = await conn.fetchval(
        "UPDATE chat_messages SET deleted_at = now(), deleted_by = $3"
        " WHERE room_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING event_seq",
        room_id,
        message_id,
        actor,
    )
    if seq is None:
        return False
    await _blank_events(conn, room_id, [seq])
    payload = {"id": message_id, "deletedBy": actor}
    await append_event(conn, room_id, "chat_message_deleted", payload, actor)
    return True


async def _blank_events(conn: Any, room_id: str, seqs: list[int]) -> None:
    """The text of these ``chat_message`` events replaced by "" (the message is gone)."""
    await conn.execute(
        "UPDATE room_events SET payload = jsonb_set(payload, '{text}', '\"\"')"
        " WHERE type = 'chat_message' AND room_id = $1 AND seq = ANY($2)",
        room_id,
        seqs,
    )


async def history_q(conn: Any, room_id: str, before: str | None, limit: int) -> list[ChatRow]:
    """Up to ``limit`` messages older than ``before`` (a message id; None: the newest),
    newest first."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM chat_messages WHERE room_id = $1 AND deleted_at IS NULL"
        " AND ($2::text IS NULL OR n < coalesce((SELECT n FROM chat_messages"
        " WHERE room_id = $1 AND id = $2), 0)) ORDER BY n DESC LIMIT $3",
        room_id,
        before,
        limit,
    )
    return [_row(r) for r in records]


async def timeline_q(
    conn: Any, room_id: str, media_id: str, start: float, end: float, limit: int
) -> list[ChatRow]:
    """The danmaku sent on ``media_id`` between media positions ``start`` and ``end``, along
    the media timeline."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM chat_messages WHERE room_id = $1 AND media_id = $2"
        " AND danmaku_mode IS NOT NULL AND deleted_at IS NULL"
        " AND media_position >= $3 AND media_position <= $4"
        " ORDER BY media_position, n LIMIT $5",
        room_id,
        media_id,
        start,
        end,
        limit,
    )
    return [_row(r) for r in records]


async def prune_batch_q(conn: Any, retention_days: int, max_per_room: int, batch: int) -> int:
    """Delete up to ``batch`` messages past the retention or beyond the per-room count (oldest
    first, deleted ones counted: they take room too); their events' text is blanked."""
    records = await conn.fetch(
        "DELETE FROM chat_messages WHERE n IN (SELECT n FROM (SELECT n, created_at,"
        " row_number() OVER (PARTITION BY room_id ORDER BY n DESC) AS newer FROM chat_messages)"
        " ranked WHERE newer > $2 OR created_at < now() - make_interval(days => $1)"
        " ORDER BY n LIMIT $3) RETURNING room_id, event_seq",
        retention_days,
        max_per_room,
        batch,
    )
    by_room: dict[str, list[int]] = {}
    for record in records:
        by_room.setdefault(record["room_id"], []).append(record["event_seq"])
    for room_id, seqs in by_room.items():
        await _blank_events(conn, room_id, seqs)
    return len(records)


class ChatStore:
    """Trio-native repository over ``chat_messages``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Rooms with a plain-message commit running: the messages waiting for the next one.
        self._queued: dict[str, list[_Waiting]] = {}

    async def send(
        self, room_id: str, message: NewMessage, stamp: Stamp, payload: Payload
    ) -> ChatRow:
        """The stored message; :class:`SendRefused` (room gone, nothing playing for a danmaku) or
        :class:`NotStored` (not committed) when nothing was written."""
        if message.danmaku is not None:
            row: ChatRow = await self._committed(send_q, room_id, message, stamp, payload)
            return row
        return await self.stored(room_id, self.enqueue(room_id, message, payload))

    def enqueue(self, room_id: str, message: NewMessage, payload: Payload) -> Queued:
        """Put a plain message (no danmaku) in its room's group-commit queue, without waiting:
        messages enqueued one after another (by one connection) are committed in that order.
        The caller MUST then await :meth:`stored` with what this returns (the message may be
        the one that runs its room's next commit, for everyone in it)."""
        assert message.danmaku is None, "a danmaku has a transaction of its own (send)"
        waiting = _Waiting(message, payload)
        queue = self._queued.get(room_id)
        if queue is not None:  # a commit is running: wait for the next one
            queue.append(waiting)
        else:  # none running: this one starts it, alone (those arriving meanwhile wait)
            self._queued[room_id] = []
            waiting.batch = [waiting]
            waiting.done.set()
        return waiting

    async def stored(self, room_id: str, waiting: Queued) -> ChatRow:
        """The outcome of an :meth:`enqueue`: the stored row, or :class:`SendRefused` /
        :class:`NotStored` when nothing was written (then nobody is told of it)."""
        # Shielded: a commit this task runs may carry other connections' messages, and the
        # room's next commit may be handed to it; neither may be dropped with this connection.
        with trio.CancelScope(shield=True):
            await waiting.done.wait()
            if waiting.batch is not None:  # this task runs it
                batch, waiting.batch = waiting.batch, None
                waiting.done = trio.Event()
                await self._commit_group(room_id, batch)
        if waiting.error is not None:
            raise waiting.error
        assert waiting.row is not None
        return waiting.row

    async def _commit_group(self, room_id: str, group: list[_Waiting]) -> None:
        """Commit ``group``, hand the messages queued meanwhile to the first of them (it runs
        the next commit), then answer the group."""
        try:
            rows = await self._committed(
                send_plain_q, room_id, [w.message for w in group], group[0].payload
            )
        except (SendRefused, NotStored) as exc:
            for waiting in group:
                waiting.error = exc
        except Exception as exc:  # answered, not lost: each sender hears of it
            for waiting in group:
                waiting.error = NotStored(str(exc))
        else:
            for waiting, row in zip(group, rows, strict=True):
                waiting.row = row
        finally:
            following = self._queued.pop(room_id, [])
            for waiting in group:
                waiting.done.set()
            if following:
                self._queued[room_id] = []
                following[0].batch = following
                following[0].done.set()

    async def delete(self, room_id: str, message_id: str, actor: str) -> bool:
        return bool(await self._committed(delete_q, room_id, message_id, actor))

    async def _committed(self, work: Callable[..., Any], *args: Any) -> Any:
        try:
            return await self._db.run(work, *args)
        except (DatabaseUnavailable, asyncpg.PostgresError) as exc:
            raise NotStored(str(exc)) from exc

    async def message(self, room_id: str, message_id: str) -> ChatRow | None:
        return await self._db.run_on_connection(message_q, room_id, message_id)

    async def history(self, room_id: str, before: str | None, limit: int) -> list[ChatRow]:
        return await self._db.run_on_connection(history_q, room_id, before, limit)

    async def timeline(
        self, room_id: str, media_id: str, start: float, end: float, limit: int
    ) -> list[ChatRow]:
        return await self._db.run_on_connection(timeline_q, room_id, media_id, start, end, limit)

    async def prune(
        self, retention_days: int, max_per_room: int, *, batch_size: int = PRUNE_BATCH_SIZE
    ) -> int:
        """Delete every message past the retention or the per-room count; how many."""
        total = 0
        while True:
            deleted = await self._db.run(prune_batch_q, retention_days, max_per_room, batch_size)
            total += deleted
            if deleted < batch_size:
                return total
