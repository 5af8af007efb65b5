"""Which live streams exist, and who may publish to them (PostgreSQL-backed).

A live stream has a public, unguessable id (used in playback URLs) and a secret publish key (the
OBS "Stream Key"). The key is shown once, when created or rotated, and stored only as a hash; a
publisher presents ``(app, key)`` and the key alone identifies the stream, the app must match.

:class:`LiveStreamRegistry` implements both :class:`PublishAuthorizer` (RTMP publish) and
:class:`StreamDirectory` (viewer lookups). Directory lookups are frequent (every HTTP-FLV/HLS
request), so they go through a small bounded TTL cache, negative answers included; create and
delete on this node invalidate it at once, other nodes see a delete within the TTL.

Audit: create, key rotation and delete are recorded by the store in their transaction (``by``
names who acts); a rotation or delete of a stream that does not exist is recorded as ``failed``,
and :meth:`LiveStreamRegistry.record_kick` records a kick (which changes nothing stored).
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import trio

from synctv.store.audit import AuditActor, AuditEvent
from synctv.store.db import Database
from synctv.store.live_streams import LiveStreamExists, LiveStreamRow, LiveStreamStore

# The RTMP app of a stream that belongs to no room.
NO_ROOM_APP = "live"
# 120 random bits, base32 lower case: 24 characters from [a-z2-7] (safe in URLs, file names, and
# as a CLI argument: it never starts with "-").
_STREAM_ID_BYTES = 15
# 256 random bits, url-safe base64: 43 characters.
_PUBLISH_KEY_BYTES = 32
_MAX_KEY_LENGTH = 256
MAX_TITLE_LENGTH = 200
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CREATE_ATTEMPTS = 3

DEFAULT_CACHE_TTL_SECONDS = 5.0
DEFAULT_CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class LiveStreamRecord:
    stream_id: str  # public, unguessable (>= 96 bits, url-safe)
    app: str  # RTMP app: room id, or "live" for streams without a room
    room_id: str | None
    title: str
    created_at_ms: int


class PublishAuthorizer(Protocol):
    """Decides whether an RTMP publish of ``stream_key`` on ``app`` may go ahead."""

    async def authorize_publish(self, app: str, stream_key: str) -> LiveStreamRecord | None: ...


class StreamDirectory(Protocol):
    """Looks up a stream by its public id (viewer requests)."""

    async def get(self, stream_id: str) -> LiveStreamRecord | None: ...


class InvalidLiveStream(ValueError):
    """A room id or title that cannot be used (the message says which and why)."""


class LiveStreamNotFound(LookupError):
    """No stream with that id."""


@dataclass(frozen=True, slots=True)
class CacheStatistics:
    entries: int
    max_entries: int
    hits: int
    misses: int


def new_stream_id() -> str:
    return base64.b32encode(secrets.token_bytes(_STREAM_ID_BYTES)).decode("ascii").lower()


def new_publish_key() -> str:
    return secrets.token_urlsafe(_PUBLISH_KEY_BYTES)


def hash_publish_key(key: str) -> bytes:
    """SHA-256 of the key: what the database stores and what lookups use.

    A plain fast hash (no salt, no slow KDF) is enough here: the key is 256 bits from the CSPRNG,
    not a human password, so there is no dictionary to try and inverting the hash is as hopeless
    as guessing the key. Slow KDFs exist for low-entropy secrets. Being unsalted is what lets the
    key itself find its stream (one indexed lookup by hash).
    """
    return hashlib.sha256(key.encode("utf-8")).digest()


def _record(row: LiveStreamRow) -> LiveStreamRecord:
    return LiveStreamRecord(
        stream_id=row.stream_id,
        app=row.app,
        room_id=row.room_id,
        title=row.title,
        created_at_ms=int(row.created_at.timestamp() * 1000),
    )


def _clean_title(title: str) -> str:
    cleaned = title.strip()
    if len(cleaned) > MAX_TITLE_LENGTH:
        raise InvalidLiveStream(f"title is longer than {MAX_TITLE_LENGTH} characters")
    if _CONTROL.search(cleaned):
        raise InvalidLiveStream("title contains control characters")
    return cleaned


class LiveStreamRegistry:
    """PostgreSQL-backed registry of live streams; implements both protocols above."""

    def __init__(
        self,
        db: Database,
        *,
        cache_ttl_seconds: float = DEFAULT_CACHE_TTL_SECONDS,
        cache_max_entries: int = DEFAULT_CACHE_MAX_ENTRIES,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._store = LiveStreamStore(db)
        self._ttl = cache_ttl_seconds
        self._max_entries = max(1, cache_max_entries)
        self._clock = clock
        # stream id → (expires at, record or None). Insertion order = expiry order (uniform TTL).
        self._cache: dict[str, tuple[float, LiveStreamRecord | None]] = {}
        # Bumped by every change: a lookup that raced a change does not cache what it read.
        self._generation = 0
        self._hits = 0
        self._misses = 0

    async def create(
        self, *, room_id: str | None, title: str, by: AuditActor
    ) -> tuple[LiveStreamRecord, str]:
        """A new stream and its publish key in plain text (shown once, never stored)."""
        if room_id is not None and not _ID.match(room_id):
            raise InvalidLiveStream("room id must be 1-64 characters of A-Z a-z 0-9 _ -")
        cleaned = _clean_title(title)
        app = NO_ROOM_APP if room_id is None else room_id
        for attempt in range(_CREATE_ATTEMPTS):
            stream_id = new_stream_id()
            key = new_publish_key()
            try:
                row = await self._store.insert(
                    stream_id=stream_id,
                    app=app,
                    room_id=room_id,
                    title=cleaned,
                    key_hash=hash_publish_key(key),
                    by=by,
                )
            except LiveStreamExists:  # 120/256 random bits colliding: retry, for form's sake
                if attempt == _CREATE_ATTEMPTS - 1:
                    raise
                continue
            self._invalidate(stream_id)
            return _record(row), key
        raise AssertionError("unreachable")

    async def list(self, room_id: str | None = None) -> builtins.list[LiveStreamRecord]:
        """Every stream, or (``room_id``) the streams of one room, oldest first."""
        return [_record(row) for row in await self._store.list(room_id)]

    async def rotate_key(self, stream_id: str, *, by: AuditActor) -> str:
        """Replace the publish key; the old one stops working at once. Returns the new key."""
        key = new_publish_key()
        if not _ID.match(stream_id) or not await self._store.set_key_hash(
            stream_id, hash_publish_key(key), by=by
        ):
            await self._record_missing(by, "live.key_rotated", stream_id)
            raise LiveStreamNotFound(stream_id)
        return key

    async def delete(self, stream_id: str, *, by: AuditActor) -> bool:
        deleted = _ID.match(stream_id) is not None and await self._store.delete(stream_id, by=by)
        if not deleted:
            await self._record_missing(by, "live.deleted", stream_id)
        self._invalidate(stream_id)
        return deleted

    async def record_kick(
        self, stream_id: str, *, by: AuditActor, kicked: bool, reason: str = ""
    ) -> None:
        """Record a kick: ``success`` when a publisher was disconnected, else ``failed``
        (``reason``: ``not_live``, ``stream_not_found``) or, after a delete, ``deleted``."""
        event = AuditEvent(by, "live.kicked", "live_stream", stream_id[:128])
        details = {"reason": reason} if reason else {}
        await self._store.record(event.with_outcome("success" if kicked else "failed", **details))

    async def _record_missing(self, by: AuditActor, action: str, stream_id: str) -> None:
        event = AuditEvent(by, action, "live_stream", stream_id[:128], "failed")
        await self._store.record(event.with_outcome("failed", reason="stream_not_found"))

    async def authorize_publish(self, app: str, stream_key: str) -> LiveStreamRecord | None:
        if not stream_key or len(stream_key) > _MAX_KEY_LENGTH:
            return None
        digest = hash_publish_key(stream_key)
        found = await self._store.find_by_key_hash(digest)
        if found is None:
            return None
        row, stored = found
        # The lookup already matched on the hash; the decision itself is a constant-time compare.
        if not hmac.compare_digest(stored, digest):
            return None
        if row.app != app:
            return None
        return _record(row)

    async def get(self, stream_id: str) -> LiveStreamRecord | None:
        now = self._clock()
        entry = self._cache.get(stream_id)
        if entry is not None and entry[0] > now:
            self._hits += 1
            return entry[1]
        self._misses += 1
        if not _ID.match(stream_id):
            return None  # junk ids never reach the database nor the cache
        generation = self._generation
        row = await self._store.get(stream_id)
        record = None if row is None else _record(row)
        if generation == self._generation:
            self._remember(stream_id, record, self._clock() + self._ttl)
        return record

    def cache_statistics(self) -> CacheStatistics:
        return CacheStatistics(len(self._cache), self._max_entries, self._hits, self._misses)

    def _remember(self, stream_id: str, record: LiveStreamRecord | None, expires: float) -> None:
        self._cache.pop(stream_id, None)  # re-insert at the end: keeps expiry order
        now = self._clock()
        while self._cache:
            oldest = next(iter(self._cache))
            if len(self._cache) < self._max_entries and self._cache[oldest][0] > now:
                break
            del self._cache[oldest]
        self._cache[stream_id] = (expires, record)

    def _invalidate(self, stream_id: str) -> None:
        self._generation += 1
        self._cache.pop(stream_id, None)
