"""Playlists, media items and the playback state: the SQL behind the rooms service's playlist
and playback operations.

Each mutation is one transaction with its ``room_events`` row (:func:`~synctv.store.rooms.
append_event`), under the room row's lock, so concurrent changes to one room apply one at a time
in event order. The ordering keys and the playback transitions are pure rules that live above
this layer (``core/ordering.py``, ``core/playback.py``): they are handed in as functions and run
inside the transaction, on the rows it has locked, so a decision and its write cannot be split by
another request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from synctv.ids import public_id
from synctv.store.db import Database
from synctv.store.rooms import append_event

KeyBetween = Callable[[str | None, str | None], str]
KeysBetween = Callable[[str | None, str | None, int], list[str]]
MediaKind = Literal["regular", "live"]

_MEDIA_COLUMNS = (
    "id, room_id, playlist_id, position, name, source, proxy_mode, kind, duration, added_by,"
    " created_at"
)


@dataclass(frozen=True, slots=True)
class MediaRow:
    id: str
    room_id: str
    playlist_id: str
    position: str
    name: str
    source: dict[str, Any]
    proxy_mode: str
    kind: MediaKind
    duration: float | None
    added_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FolderRow:
    id: str
    parent_id: str | None
    name: str
    position: str


@dataclass(frozen=True, slots=True)
class NewMedia:
    name: str
    source: dict[str, Any]
    proxy_mode: str
    kind: MediaKind
    duration: float | None


@dataclass(frozen=True, slots=True)
class StoredPlayback:
    """The playback row as stored (the service turns it into core.playback's state)."""

    media_id: str | None
    media_kind: MediaKind
    anchor_position: float
    anchor_time: float
    speed: float
    playing: bool
    version: int
    duration: float | None


# A playback transition: (state now, position remembered for the media it selects) → new state.
Decide = Callable[["StoredPlayback", float | None], "StoredPlayback"]


def new_id() -> str:
    return public_id()


def _media(record: Any) -> MediaRow:
    return MediaRow(
        id=record["id"],
        room_id=record["room_id"],
        playlist_id=record["playlist_id"],
        position=record["position"],
        name=record["name"],
        source=json.loads(record["source"]),
        proxy_mode=record["proxy_mode"],
        kind=record["kind"],
        duration=record["duration"],
        added_by=record["added_by"],
        created_at=record["created_at"],
    )


async def _locked(conn: Any, room_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM rooms WHERE id = $1 AND deleted_at IS NULL FOR UPDATE", room_id
        )
    )


async def _root(conn: Any, room_id: str) -> str:
    root: str | None = await conn.fetchval(
        "SELECT id FROM playlists WHERE room_id = $1 AND parent_id IS NULL", room_id
    )
    if root is None:
        root = new_id()
        await conn.execute(
            "INSERT INTO playlists (id, room_id, parent_id, name, position)"
            " VALUES ($1, $2, NULL, '', 'V')",
            root,
            room_id,
        )
    return root


async def _playlist(conn: Any, room_id: str, playlist_id: str | None) -> str | None:
    """The playlist to work in: the root when None; None when it is not this room's."""
    if playlist_id is None:
        return await _root(conn, room_id)
    found: str | None = await conn.fetchval(
        "SELECT id FROM playlists WHERE id = $1 AND room_id = $2", playlist_id, room_id
    )
    return found


async def _last_key(conn: Any, playlist_id: str) -> str | None:
    last: str | None = await conn.fetchval(
        "SELECT max(position) FROM ("
        " SELECT position FROM media WHERE playlist_id = $1"
        " UNION ALL SELECT position FROM playlists WHERE parent_id = $1) AS entries",
        playlist_id,
    )
    return last


async def add_media_q(
    conn: Any,
    room_id: str,
    playlist_id: str | None,
    items: Sequence[NewMedia],
    added_by: str,
    keys_between: KeysBetween,
) -> list[MediaRow] | None:
    """Append ``items`` to a playlist in one transaction; None when the room or playlist is not
    there."""
    if not await _locked(conn, room_id):
        return None
    target = await _playlist(conn, room_id, playlist_id)
    if target is None:
        return None
    keys = keys_between(await _last_key(conn, target), None, len(items))
    ids = [new_id() for _ in items]
    # One statement for the whole batch (unnest of parallel arrays), in key order.
    records = await conn.fetch(
        "INSERT INTO media (id, room_id, playlist_id, position, name, source, proxy_mode, kind,"
        " duration, added_by)"
        " SELECT i, $1, $2, p, n, s::jsonb, m, k, d, $3 FROM unnest($4::text[], $5::text[],"
        " $6::text[], $7::text[], $8::text[], $9::text[], $10::float8[]) AS t(i, p, n, s, m, k, d)"
        f" RETURNING {_MEDIA_COLUMNS}",
        room_id,
        target,
        added_by,
        ids,
        keys,
        [item.name for item in items],
        [json.dumps(item.source, separators=(",", ":")) for item in items],
        [item.proxy_mode for item in items],
        [item.kind for item in items],
        [item.duration for item in items],
    )
    by_id = {record["id"]: _media(record) for record in records}
    rows = [by_id[i] for i in ids]
    payload = {"playlistId": target, "mediaIds": [r.id for r in rows]}
    await append_event(conn, room_id, "media_added", payload, added_by)
    return rows


async def create_folder_q(
    conn: Any,
    room_id: str,
    parent_id: str | None,
    name: str,
    actor: str,
    key_between: KeyBetween,
) -> FolderRow | None:
    if not await _locked(conn, room_id):
        return None
    parent = await _playlist(conn, room_id, parent_id)
    if parent is None:
        return None
    folder = FolderRow(new_id(), parent, name, key_between(await _last_key(conn, parent), None))
    await conn.execute(
        "INSERT INTO playlists (id, room_id, parent_id, name, position)"
        " VALUES ($1, $2, $3, $4, $5)",
        folder.id,
        room_id,
        parent,
        name,
        folder.position,
    )
    payload = {"playlistId": folder.id, "parentId": parent, "name": name}
    await append_event(conn, room_id, "playlist_created", payload, actor)
    return folder


async def entries_q(
    conn: Any, room_id: str, playlist_id: str | None
) -> tuple[str, list[FolderRow], list[MediaRow]] | None:
    """A playlist's folders and media in order (the root's when None)."""
    target = await _playlist(conn, room_id, playlist_id)
    if target is None:
        return None
    folders = [
        FolderRow(r["id"], r["parent_id"], r["name"], r["position"])
        for r in await conn.fetch(
            "SELECT id, parent_id, name, position FROM playlists WHERE parent_id = $1"
            " ORDER BY position, id",
            target,
        )
    ]
    media = [
        _media(r)
        for r in await conn.fetch(
            f"SELECT {_MEDIA_COLUMNS} FROM media WHERE playlist_id = $1 ORDER BY position, id",
            target,
        )
    ]
    return target, folders, media


async def media_q(conn: Any, room_id: str, media_id: str) -> MediaRow | None:
    record = await conn.fetchrow(
        f"SELECT {_MEDIA_COLUMNS} FROM media WHERE id = $1 AND room_id = $2", media_id, room_id
    )
    return _media(record) if record is not None else None


async def live_media_q(conn: Any, room_id: str, stream_id: str) -> list[str]:
    """Ids of the room's items that play live stream ``stream_id``."""
    records = await conn.fetch(
        "SELECT id FROM media WHERE room_id = $1 AND kind = 'live'"
        " AND source->>'kind' = 'live' AND source->>'streamId' = $2 ORDER BY id",
        room_id,
        stream_id,
    )
    return [r["id"] for r in records]


async def order_q(conn: Any, room_id: str, playlist_id: str) -> list[str]:
    """Media ids of one playlist in play order (auto-advance walks this)."""
    records = await conn.fetch(
        "SELECT id FROM media WHERE room_id = $1 AND playlist_id = $2 ORDER BY position, id",
        room_id,
        playlist_id,
    )
    return [r["id"] for r in records]


async def move_media_q(
    conn: Any,
    room_id: str,
    media_id: str,
    playlist_id: str | None,
    before: str | None,
    after: str | None,
    actor: str,
    key_between: KeyBetween,
) -> MediaRow | None:
    """Move an item into ``playlist_id`` (root when None) right before ``before`` or right
    after ``after`` (media ids in that playlist; neither: at the end)."""
    if not await _locked(conn, room_id):
        return None
    target = await _playlist(conn, room_id, playlist_id)
    if target is None or await media_q(conn, room_id, media_id) is None:
        return None
    anchor_id = before or after
    low: str | None
    high: str | None
    if anchor_id is None:
        low, high = await _last_key(conn, target), None
    else:
        anchor = await conn.fetchval(
            "SELECT position FROM media WHERE id = $1 AND playlist_id = $2 AND id <> $3",
            anchor_id,
            target,
            media_id,
        )
        if anchor is None:
            return None
        if before is not None:
            high = anchor
            low = await conn.fetchval(
                "SELECT max(position) FROM media WHERE playlist_id = $1 AND position < $2"
                " AND id <> $3",
                target,
                anchor,
                media_id,
            )
        else:
            low = anchor
            high = await conn.fetchval(
                "SELECT min(position) FROM media WHERE playlist_id = $1 AND position > $2"
                " AND id <> $3",
                target,
                anchor,
                media_id,
            )
    key = key_between(low, high)
    record = await conn.fetchrow(
        f"UPDATE media SET playlist_id = $2, position = $3 WHERE id = $1 RETURNING {_MEDIA_COLUMNS}",
        media_id,
        target,
        key,
    )
    payload = {"mediaId": media_id, "playlistId": target, "position": key}
    await append_event(conn, room_id, "media_moved", payload, actor)
    return _media(record)


async def delete_media_q(conn: Any, room_id: str, media_ids: Sequence[str], actor: str) -> int:
    if not await _locked(conn, room_id):
        return 0
    deleted = await conn.fetch(
        "DELETE FROM media WHERE room_id = $1 AND id = ANY($2::text[]) RETURNING id",
        room_id,
        list(media_ids),
    )
    ids = [r["id"] for r in deleted]
    if ids:
        await append_event(conn, room_id, "media_removed", {"mediaIds": ids}, actor)
    return len(ids)


async def clear_q(conn: Any, room_id: str, actor: str) -> int:
    if not await _locked(conn, room_id):
        return 0
    count = len(await conn.fetch("DELETE FROM media WHERE room_id = $1 RETURNING id", room_id))
    await conn.execute(
        "DELETE FROM playlists WHERE room_id = $1 AND parent_id IS NOT NULL", room_id
    )
    await append_event(conn, room_id, "playlist_cleared", {"removed": count}, actor)
    return count


def _playback(record: Any) -> StoredPlayback:
    if record is None:
        return StoredPlayback(None, "regular", 0.0, 0.0, 1.0, False, 0, None)
    return StoredPlayback(
        media_id=record["media_id"],
        media_kind=record["media_kind"],
        anchor_position=record["anchor_position"],
        anchor_time=record["anchor_time"],
        speed=record["speed"],
        playing=record["playing"],
        version=record["version"],
        duration=record["duration"],
    )


_PLAYBACK = "media_id, media_kind, anchor_position, anchor_time, speed, playing, version, duration"


async def playback_q(conn: Any, room_id: str) -> StoredPlayback:
    return _playback(
        await conn.fetchrow(f"SELECT {_PLAYBACK} FROM playback_state WHERE room_id = $1", room_id)
    )


async def remembered_q(conn: Any, room_id: str, media_id: str) -> float | None:
    value: float | None = await conn.fetchval(
        "SELECT position FROM media_positions WHERE room_id = $1 AND media_id = $2",
        room_id,
        media_id,
    )
    return value


async def change_playback_q(
    conn: Any,
    room_id: str,
    decide: Decide,
    actor: str,
    event_payload: Callable[[StoredPlayback], dict[str, Any]],
    position_now: Callable[[StoredPlayback], float],
    next_media: str | None = None,
    history_name: str | None = None,
) -> StoredPlayback | None:
    """Lock the room, read the state, apply ``decide(state, remembered)``, write the result with
    its ``playback_changed`` event. ``remembered`` is the position kept for ``next_media`` (when
    the change selects other media). ``decide`` raises to refuse: nothing is written. When the
    media changes, the previous one's position (``position_now``: the playback rules' own
    arithmetic, not a copy of it here) is remembered and ``history_name`` goes to the history.
    None when the room is gone."""
    if not await _locked(conn, room_id):
        return None
    current = await playback_q(conn, room_id)
    remembered = await remembered_q(conn, room_id, next_media) if next_media else None
    new = decide(current, remembered)
    if current.media_id is not None and new.media_id != current.media_id:
        position = position_now(current)
        await conn.execute(
            "INSERT INTO media_positions (room_id, media_id, position) VALUES ($1, $2, $3)"
            " ON CONFLICT (room_id, media_id) DO UPDATE SET position = EXCLUDED.position",
            room_id,
            current.media_id,
            position,
        )
        await conn.execute(
            "UPDATE playback_history SET last_position = $3 WHERE id = (SELECT max(id) FROM"
            " playback_history WHERE room_id = $1 AND media_id = $2)",
            room_id,
            current.media_id,
            position,
        )
    if new.media_id is not None and new.media_id != current.media_id and history_name:
        await conn.execute(
            "INSERT INTO playback_history (room_id, media_id, name, chosen_by)"
            " VALUES ($1, $2, $3, $4)",
            room_id,
            new.media_id,
            history_name,
            actor,
        )
    await conn.execute(
        f"INSERT INTO playback_state (room_id, {_PLAYBACK})"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (room_id) DO UPDATE SET media_id = $2, media_kind = $3,"
        " anchor_position = $4, anchor_time = $5, speed = $6, playing = $7, version = $8,"
        " duration = $9",
        room_id,
        new.media_id,
        new.media_kind,
        new.anchor_position,
        new.anchor_time,
        new.speed,
        new.playing,
        new.version,
        new.duration,
    )
    await append_event(conn, room_id, "playback_changed", event_payload(new), actor)
    return new


@dataclass(frozen=True, slots=True)
class PlayingRoom:
    """A room whose state is playing media; ``probed``: its duration was looked for already."""

    room_id: str
    state: StoredPlayback
    probed: bool


async def playing_q(conn: Any) -> list[PlayingRoom]:
    records = await conn.fetch(
        "SELECT p.room_id, p.media_id, p.media_kind, p.anchor_position, p.anchor_time, p.speed,"
        " p.playing, p.version, p.duration, m.duration_probed_at IS NOT NULL AS probed"
        " FROM playback_state p JOIN media m ON m.id = p.media_id AND m.room_id = p.room_id"
        " WHERE p.playing"
    )
    return [PlayingRoom(r["room_id"], _playback(r), r["probed"]) for r in records]


async def learn_duration_q(
    conn: Any,
    room_id: str,
    media_id: str,
    duration: float | None,
    event_payload: Callable[[StoredPlayback], dict[str, Any]],
) -> StoredPlayback | None:
    """Store what a probe found on the media row (once: only while unknown and unprobed) and,
    when it is the room's current media, on the playback state with a ``playback_changed``
    event (the version stays: the position and the media are what they were). The new state,
    or None when nothing changed."""
    if not await _locked(conn, room_id):
        return None
    updated = await conn.fetchval(
        "UPDATE media SET duration = $3, duration_probed_at = now()"
        " WHERE room_id = $1 AND id = $2 AND duration IS NULL AND duration_probed_at IS NULL"
        " RETURNING id",
        room_id,
        media_id,
        duration,
    )
    if updated is None or duration is None:
        return None
    current = await playback_q(conn, room_id)
    if current.media_id != media_id or current.duration is not None:
        return None
    new = replace(current, duration=duration)
    await conn.execute(
        "UPDATE playback_state SET duration = $2 WHERE room_id = $1", room_id, duration
    )
    await append_event(conn, room_id, "playback_changed", event_payload(new), "system")
    return new


async def history_q(
    conn: Any, room_id: str, limit: int
) -> list[tuple[str, str, str, datetime, float]]:
    records = await conn.fetch(
        "SELECT media_id, name, chosen_by, started_at, last_position FROM playback_history"
        " WHERE room_id = $1 ORDER BY id DESC LIMIT $2",
        room_id,
        limit,
    )
    return [
        (r["media_id"], r["name"], r["chosen_by"], r["started_at"], r["last_position"])
        for r in records
    ]


class PlaylistStore:
    """Trio-native repository over playlists, media and the playback state."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_media(
        self,
        room_id: str,
        playlist_id: str | None,
        items: Sequence[NewMedia],
        added_by: str,
        keys_between: KeysBetween,
    ) -> list[MediaRow] | None:
        return await self._db.run(add_media_q, room_id, playlist_id, items, added_by, keys_between)

    async def create_folder(
        self, room_id: str, parent_id: str | None, name: str, actor: str, key_between: KeyBetween
    ) -> FolderRow | None:
        return await self._db.run(create_folder_q, room_id, parent_id, name, actor, key_between)

    async def entries(
        self, room_id: str, playlist_id: str | None
    ) -> tuple[str, list[FolderRow], list[MediaRow]] | None:
        return await self._db.run(entries_q, room_id, playlist_id)

    async def media(self, room_id: str, media_id: str) -> MediaRow | None:
        return await self._db.run_on_connection(media_q, room_id, media_id)

    async def live_media(self, room_id: str, stream_id: str) -> list[str]:
        return await self._db.run_on_connection(live_media_q, room_id, stream_id)

    async def order(self, room_id: str, playlist_id: str) -> list[str]:
        return await self._db.run_on_connection(order_q, room_id, playlist_id)

    async def move(
        self,
        room_id: str,
        media_id: str,
        playlist_id: str | None,
        before: str | None,
        after: str | None,
        actor: str,
        key_between: KeyBetween,
    ) -> MediaRow | None:
        return await self._db.run(
            move_media_q, room_id, media_id, playlist_id, before, after, actor, key_between
        )

    async def delete(self, room_id: str, media_ids: Sequence[str], actor: str) -> int:
        return await self._db.run(delete_media_q, room_id, media_ids, actor)

    async def clear(self, room_id: str, actor: str) -> int:
        return await self._db.run(clear_q, room_id, actor)

    async def playback(self, room_id: str) -> StoredPlayback:
        return await self._db.run_on_connection(playback_q, room_id)

    async def remembered(self, room_id: str, media_id: str) -> float | None:
        return await self._db.run_on_connection(remembered_q, room_id, media_id)

    async def change_playback(
        self,
        room_id: str,
        decide: Decide,
        actor: str,
        event_payload: Callable[[StoredPlayback], dict[str, Any]],
        position_now: Callable[[StoredPlayback], float],
        next_media: str | None = None,
        history_name: str | None = None,
    ) -> StoredPlayback | None:
        return await self._db.run(
            change_playback_q,
            room_id,
            decide,
            actor,
            event_payload,
            position_now,
            next_media,
            history_name,
        )

    async def playing(self) -> list[PlayingRoom]:
        """Every room playing media now (for auto-advance and duration probes)."""
        return await self._db.run_on_connection(playing_q)

    async def learn_duration(
        self,
        room_id: str,
        media_id: str,
        duration: float | None,
        event_payload: Callable[[StoredPlayback], dict[str, Any]],
    ) -> StoredPlayback | None:
        return await self._db.run(learn_duration_q, room_id, media_id, duration, event_payload)

    async def history(
        self, room_id: str, limit: int
    ) -> list[tuple[str, str, str, datetime, float]]:
        return await self._db.run_on_connection(history_q, room_id, limit)
