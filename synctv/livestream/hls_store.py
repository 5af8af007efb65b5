"""Where HLS playlists and segments live between the segmenter and the HTTP routes.

Theory of operation
-------------------
One :class:`HlsStore` interface, two backends: :class:`MemoryHlsStore` (the default, bounded by
``livestream.hls_storage.memory_max_mb``) and :class:`FileHlsStore` (segments under
``<dir>/<stream_id>/<sequence>.ts`` plus ``index.m3u8``, so another web server could serve the
directory too). Both keep the per-stream bookkeeping in memory: the current playlist text, the
newest listed sequence number, the size and ETag of every stored segment, and one ``trio.Event``
per playlist update, which blocking playlist reloads (``?_HLS_msn=``) wait on.

The segmenter drives a stream's life::

    first = await store.begin_stream(id, min_first_sequence=...)   # forgets an older run's files
    await store.put_segment(id, seq, data)                         # then
    await store.put_playlist(id, text, newest_sequence=seq, ended=False, target_duration=td)
    await store.retire_segments(id, evicted, grace_seconds=...)    # left the window: delete later
    await store.end_stream(id, linger_seconds=...)                 # after the ENDLIST playlist

Deferred deletions (retired segments, ended streams) are carried out by :meth:`run`, a task in
the application's nursery that sweeps once a second, so a segmenter that is cancelled with its
stream leaves nothing behind that would not be collected.

Sequence numbers of a stream never repeat while the process lives (``begin_stream`` continues
after the highest number it handed out before), and the segmenter passes a wall-clock floor so
they do not repeat across restarts either: segments are served with a long ``max-age``, so a
reused URL would replay stale media from caches.

Resource handling: the memory backend evicts the oldest segments of the *largest* stream when the
total exceeds its bound (counted as pressure evictions; a player asking for one gets 404 and
skips ahead). Stream ids are checked against :data:`STREAM_ID_PATTERN` on every call, so no id
can name a path outside the storage directory.

Error handling: an invalid stream id raises :class:`InvalidStreamId`; file-system errors of the
file backend propagate to the segmenter (which logs and carries on) except on deletion, where a
missing file is not an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import trio

from synctv import metrics

log = logging.getLogger("synctv.livestream.hls")

# Stream ids are url-safe tokens (the registry issues >= 96-bit base64url ids); anything else is
# refused before it can become part of a path. 64 characters is far above what ids use.
STREAM_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# How often run() carries out deferred deletions; the grace periods are seconds long.
SWEEP_INTERVAL_SECONDS = 1.0
# begin_stream remembers this many streams' next sequence numbers (a bounded LRU): enough for
# every stream a node serves; an id that falls out only loses the in-process continuation, the
# wall-clock floor still keeps numbers fresh.
MAX_REMEMBERED_STREAMS = 10_000

PLAYLIST_NAME = "index.m3u8"
_SEGMENT_FILE = re.compile(r"\d{1,20}\.ts")
_TEMP_FILE = re.compile(r"\..+\.tmp")


class InvalidStreamId(ValueError):
    """A stream id that does not match :data:`STREAM_ID_PATTERN`."""


def validate_stream_id(stream_id: str) -> str:
    if not STREAM_ID_PATTERN.fullmatch(stream_id):
        raise InvalidStreamId(f"invalid stream id {stream_id[:80]!r}")
    return stream_id


@dataclass(frozen=True, slots=True)
class StoredSegment:
    data: bytes
    etag: str  # quoted strong validator, e.g. '"5f3a..."'


@dataclass(frozen=True, slots=True)
class PlaylistSnapshot:
    text: bytes
    newest_sequence: int  # -1 while the playlist lists no segment
    ended: bool
    target_duration: int | None = None  # the playlist's EXT-X-TARGETDURATION, when given


@dataclass(frozen=True, slots=True)
class HlsStoreStatistics:
    streams: int
    segments: int
    bytes: int
    segments_written: int
    pressure_evictions: int


class HlsStore(Protocol):
    """What the segmenter writes to and the HLS routes read from (see the module docstring)."""

    async def begin_stream(self, stream_id: str, *, min_first_sequence: int = 0) -> int: ...

    async def put_segment(self, stream_id: str, sequence: int, data: bytes) -> None: ...

    async def put_playlist(
        self,
        stream_id: str,
        text: str,
        *,
        newest_sequence: int,
        ended: bool,
        target_duration: int | None = None,
    ) -> None: ...

    async def retire_segments(
        self, stream_id: str, sequences: Iterable[int], *, grace_seconds: float
    ) -> None: ...

    async def end_stream(self, stream_id: str, *, linger_seconds: float) -> None: ...

    async def get_playlist(self, stream_id: str) -> PlaylistSnapshot | None: ...

    async def get_segment(self, stream_id: str, sequence: int) -> StoredSegment | None: ...

    async def wait_for_sequence(self, stream_id: str, msn: int, timeout: float) -> bool: ...

    async def clean_on_start(self) -> None: ...

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Sweep deferred deletions until cancelled."""
        ...

    def statistics(self) -> HlsStoreStatistics: ...


@dataclass(slots=True)
class _SegmentInfo:
    size: int
    etag: str
    data: bytes | None  # memory backend only


@dataclass(slots=True)
class _StreamEntry:
    playlist: bytes | None = None
    newest_sequence: int = -1
    ended: bool = False
    target_duration: int | None = None
    changed: trio.Event = field(default_factory=trio.Event)
    segments: dict[int, _SegmentInfo] = field(default_factory=dict)  # in sequence order
    bytes: int = 0
    retiring: list[tuple[float, int]] = field(default_factory=list)  # (delete at, sequence)
    expires_at: float | None = None

    def notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()


def _etag(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


class _BookkeepingStore:
    """The in-memory index both backends share; subclasses store the bytes."""

    def __init__(self) -> None:
        self._streams: dict[str, _StreamEntry] = {}
        self._next_sequence: OrderedDict[str, int] = OrderedDict()
        self._bytes = 0
        self._segments = 0
        self._segments_written = 0
        self._pressure_evictions = 0

    # -- hooks for the backends --------------------------------------------------------------

    async def _write_segment(self, stream_id: str, sequence: int, data: bytes) -> None:
        raise NotImplementedError

    async def _write_playlist(self, stream_id: str, text: bytes) -> None:
        raise NotImplementedError

    async def _read_segment(
        self, stream_id: str, sequence: int, info: _SegmentInfo
    ) -> bytes | None:
        raise NotImplementedError

    async def _delete_segments(self, stream_id: str, sequences: list[int]) -> None:
        raise NotImplementedError

    async def _delete_stream(self, stream_id: str) -> None:
        raise NotImplementedError

    def _keeps_data(self) -> bool:
        return False

    # -- writer side ---------------------------------------------------------------------------

    async def begin_stream(self, stream_id: str, *, min_first_sequence: int = 0) -> int:
        """Start a new run of ``stream_id``; returns its first sequence number.

        A previous run's playlist and segments are dropped (no playlist lists them any more).
        """
        validate_stream_id(stream_id)
        old = self._streams.pop(stream_id, None)
        if old is not None:
            self._forget(old)
            old.notify()
        await self._delete_stream(stream_id)
        first = max(self._next_sequence.get(stream_id, 0), min_first_sequence)
        self._remember(stream_id, first)
        self._streams[stream_id] = _StreamEntry()
        self._publish_gauges()
        return first

    async def put_segment(self, stream_id: str, sequence: int, data: bytes) -> None:
        entry = self._entry(stream_id)
        await self._write_segment(stream_id, sequence, data)
        if self._streams.get(stream_id) is not entry:
            return  # the stream was restarted while the bytes were being written
        previous = entry.segments.pop(sequence, None)
        if previous is not None:
            self._account(entry, -previous.size, -1)
        kept = data if self._keeps_data() else None
        entry.segments[sequence] = _SegmentInfo(len(data), _etag(data), kept)
        self._account(entry, len(data), 1)
        self._segments_written += 1
        self._remember(stream_id, sequence + 1)
        await self._after_put()
        self._publish_gauges()

    async def put_playlist(
        self,
        stream_id: str,
        text: str,
        *,
        newest_sequence: int,
        ended: bool,
        target_duration: int | None = None,
    ) -> None:
        """Publish a new playlist version. The file backend renames its file into place before
        the in-memory copy (which the routes serve) changes, so the two can differ for the
        duration of one write; each on its own is always a whole version."""
        entry = self._entry(stream_id)
        raw = text.encode()
        await self._write_playlist(stream_id, raw)
        entry.playlist, entry.newest_sequence, entry.ended = raw, newest_sequence, ended
        entry.target_duration = target_duration
        entry.notify()

    async def retire_segments(
        self, stream_id: str, sequences: Iterable[int], *, grace_seconds: float
    ) -> None:
        """Delete ``sequences`` once ``grace_seconds`` have passed (a player that fetched the
        playlist just before they left it can still download them)."""
        entry = self._entry(stream_id)
        at = trio.current_time() + grace_seconds
        entry.retiring.extend((at, sequence) for sequence in sequences)

    async def end_stream(self, stream_id: str, *, linger_seconds: float) -> None:
        """The run is over: everything of it goes once ``linger_seconds`` have passed."""
        entry = self._entry(stream_id)
        entry.ended = True
        entry.expires_at = trio.current_time() + linger_seconds
        entry.notify()

    # -- reader side ---------------------------------------------------------------------------

    async def get_playlist(self, stream_id: str) -> PlaylistSnapshot | None:
        entry = self._streams.get(validate_stream_id(stream_id))
        if entry is None or entry.playlist is None:
            return None
        return PlaylistSnapshot(
            entry.playlist, entry.newest_sequence, entry.ended, entry.target_duration
        )

    async def get_segment(self, stream_id: str, sequence: int) -> StoredSegment | None:
        entry = self._streams.get(validate_stream_id(stream_id))
        info = None if entry is None else entry.segments.get(sequence)
        if info is None:
            return None
        data = (
            info.data
            if info.data is not None
            else await self._read_segment(stream_id, sequence, info)
        )
        return None if data is None else StoredSegment(data, info.etag)

    async def wait_for_sequence(self, stream_id: str, msn: int, timeout: float) -> bool:
        """Wait until the playlist lists segment ``msn`` (or the stream ended); False on timeout
        or when the stream is unknown."""
        with trio.move_on_after(timeout):
            while True:
                entry = self._streams.get(validate_stream_id(stream_id))
                if entry is None:
                    return False
                if entry.newest_sequence >= msn or entry.ended:
                    return True
                await entry.changed.wait()
        return False

    def statistics(self) -> HlsStoreStatistics:
        return HlsStoreStatistics(
            streams=len(self._streams),
            segments=self._segments,
            bytes=self._bytes,
            segments_written=self._segments_written,
            pressure_evictions=self._pressure_evictions,
        )

    # -- housekeeping --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Carry out deferred deletions once a second, until cancelled."""
        task_status.started()
        while True:
            await trio.sleep(SWEEP_INTERVAL_SECONDS)
            await self.sweep()

    async def sweep(self) -> None:
        """Delete what is due now: retired segments and ended streams past their linger."""
        now = trio.current_time()
        for stream_id, entry in list(self._streams.items()):
            if entry.expires_at is not None and entry.expires_at <= now:
                del self._streams[stream_id]
                self._forget(entry)
                entry.notify()
                await self._delete_stream(stream_id)
                continue
            due = [seq for at, seq in entry.retiring if at <= now]
            if due:
                entry.retiring = [(at, seq) for at, seq in entry.retiring if at > now]
                await self._drop_segments(stream_id, entry, due)
        self._publish_gauges()

    async def _drop_segments(
        self, stream_id: str, entry: _StreamEntry, sequences: list[int]
    ) -> None:
        dropped = []
        for sequence in sequences:
            info = entry.segments.pop(sequence, None)
            if info is not None:
                self._account(entry, -info.size, -1)
                dropped.append(sequence)
        if dropped:
            await self._delete_segments(stream_id, dropped)

    async def _after_put(self) -> None:
        """Backends with a byte bound enforce it here."""

    def _entry(self, stream_id: str) -> _StreamEntry:
        entry = self._streams.get(validate_stream_id(stream_id))
        if entry is None:
            raise KeyError(f"stream {stream_id} was not begun")
        return entry

    def _account(self, entry: _StreamEntry, size: int, count: int) -> None:
        entry.bytes += size
        self._bytes += size
        self._segments += count

    def _forget(self, entry: _StreamEntry) -> None:
        self._bytes -= entry.bytes
        self._segments -= len(entry.segments)

    def _remember(self, stream_id: str, next_sequence: int) -> None:
        self._next_sequence[stream_id] = max(next_sequence, self._next_sequence.get(stream_id, 0))
        self._next_sequence.move_to_end(stream_id)
        while len(self._next_sequence) > MAX_REMEMBERED_STREAMS:
            self._next_sequence.popitem(last=False)

    def _publish_gauges(self) -> None:
        metrics.HLS_STORE_BYTES.set(self._bytes)
        metrics.HLS_STORE_SEGMENTS.set(self._segments)
        metrics.HLS_STORE_STREAMS.set(len(self._streams))


class MemoryHlsStore(_BookkeepingStore):
    """Segments held in memory, at most ``max_bytes`` in total (see the module docstring)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes

    def _keeps_data(self) -> bool:
        return True

    async def _write_segment(self, stream_id: str, sequence: int, data: bytes) -> None:
        pass

    async def _write_playlist(self, stream_id: str, text: bytes) -> None:
        pass

    async def _read_segment(
        self, stream_id: str, sequence: int, info: _SegmentInfo
    ) -> bytes | None:
        return info.data

    async def _delete_segments(self, stream_id: str, sequences: list[int]) -> None:
        pass

    async def _delete_stream(self, stream_id: str) -> None:
        pass

    async def clean_on_start(self) -> None:
        pass

    async def _after_put(self) -> None:
        while self._bytes > self.max_bytes:
            stream_id, entry = max(self._streams.items(), key=lambda item: item[1].bytes)
            oldest = next(iter(entry.segments))
            await self._drop_segments(stream_id, entry, [oldest])
            self._pressure_evictions += 1
            metrics.HLS_STORE_PRESSURE_EVICTIONS.inc()


class FileHlsStore(_BookkeepingStore):
    """Segments as files under ``root/<stream_id>/``; playlists are also written there.

    Every file is written to a temporary name in the same directory and renamed into place, so a
    reader (ours or another web server) never sees a partial file. Blocking file-system calls run
    in worker threads.
    """

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def stream_dir(self, stream_id: str) -> Path:
        return self.root / validate_stream_id(stream_id)

    async def _write_segment(self, stream_id: str, sequence: int, data: bytes) -> None:
        await trio.to_thread.run_sync(
            _write_atomic, self.stream_dir(stream_id), f"{sequence}.ts", data
        )

    async def _write_playlist(self, stream_id: str, text: bytes) -> None:
        await trio.to_thread.run_sync(
            _write_atomic, self.stream_dir(stream_id), PLAYLIST_NAME, text
        )

    async def _read_segment(
        self, stream_id: str, sequence: int, info: _SegmentInfo
    ) -> bytes | None:
        path = self.stream_dir(stream_id) / f"{sequence}.ts"
        try:
            return await trio.to_thread.run_sync(path.read_bytes)
        except FileNotFoundError:
            return None

    async def _delete_segments(self, stream_id: str, sequences: list[int]) -> None:
        directory = self.stream_dir(stream_id)
        names = [f"{sequence}.ts" for sequence in sequences]
        await trio.to_thread.run_sync(_unlink_all, directory, names)

    async def _delete_stream(self, stream_id: str) -> None:
        await trio.to_thread.run_sync(_remove_stream_dir, self.stream_dir(stream_id))

    async def clean_on_start(self) -> None:
        """Remove what an earlier process left: every ``<valid id>/`` directory's segment,
        playlist and temporary files (and the directory, once empty). Anything else under the
        root is left alone, so a misconfigured directory cannot cost unrelated files."""
        removed = await trio.to_thread.run_sync(_clean_root, self.root)
        if removed:
            log.info("removed %d stale HLS files under %s", removed, self.root)


def _write_atomic(directory: Path, name: str, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    temp = directory / f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        with open(temp, "wb") as file:
            file.write(data)
        os.replace(temp, directory / name)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _unlink_all(directory: Path, names: list[str]) -> None:
    for name in names:
        (directory / name).unlink(missing_ok=True)


def _is_ours(name: str) -> bool:
    return bool(
        name == PLAYLIST_NAME or _SEGMENT_FILE.fullmatch(name) or _TEMP_FILE.fullmatch(name)
    )


def _remove_stream_dir(directory: Path) -> int:
    """Delete our files in ``directory`` and the directory if that empties it; count files."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    removed = 0
    for item in entries:
        if _is_ours(item.name) and item.is_file(follow_symlinks=False):
            os.unlink(item.path)
            removed += 1
    try:
        directory.rmdir()
    except OSError:
        pass  # not empty: something that is not ours lives there
    return removed


def _clean_root(root: Path) -> int:
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return 0
    removed = 0
    for item in entries:
        if STREAM_ID_PATTERN.fullmatch(item.name) and item.is_dir(follow_symlinks=False):
            removed += _remove_stream_dir(Path(item.path))
    return removed


def open_hls_store(backend: str, *, memory_max_bytes: int, directory: Path) -> HlsStore:
    """The configured backend: ``"memory"`` or ``"file"``."""
    if backend == "memory":
        return MemoryHlsStore(memory_max_bytes)
    if backend == "file":
        return FileHlsStore(directory)
    raise ValueError(f"unknown HLS storage backend {backend!r}")


__all__ = [
    "STREAM_ID_PATTERN",
    "FileHlsStore",
    "HlsStore",
    "HlsStoreStatistics",
    "InvalidStreamId",
    "MemoryHlsStore",
    "PlaylistSnapshot",
    "StoredSegment",
    "open_hls_store",
    "validate_stream_id",
]
