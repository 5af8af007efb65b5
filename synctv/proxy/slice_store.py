"""File backend for the slice cache: one file per slice under ``data_dir/cache/proxy-slice``.

File layout: ``MAGIC`` (8 bytes), header length (u32 big-endian), a JSON header (key, index,
length, size, etag, last_modified, content_type, fetched_at, sha256 of the data), then the data.
Names are ``<sha256(key)[:32]>-<index>.slice`` so any key (paths, URLs) is a safe file name.

Writes are atomic: a temporary file in the same directory, fsync'd, then ``os.replace``d over
the final name, so a crash leaves the old slice or the new one, never half of one. At start
:meth:`FileSliceStore.scan` rebuilds the index from the headers (leftover temporaries and files
with unreadable headers are deleted). Corruption is detected on every load: a wrong length or
checksum makes :meth:`load` return ``None`` and delete the file, and the cache refetches. So does
a file whose object identity (size, ETag, Last-Modified) is not the one the cache's index holds
for the slice: another writer (a revalidation racing a reader, a second process on the same
directory) may have replaced it with a newer version of the object, and those bytes must never
be served under the old version's validators.

All file I/O runs in worker threads (``trio.to_thread``), one slice at a time.

Error handling: a missing file is "not cached" (``None``); a file that is there but wrong is
deleted and ``None``. Anything else the file system says (a full disk, a read-only or vanished
directory, EIO) is raised as :class:`OSError` for the cache to count and carry on uncached; a
failed save leaves no temporary file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import BinaryIO

import trio

from synctv.proxy.slice_cache import ObjectIdentity, Slice, StoredSlice

MAGIC = b"SYNSLC01"
_HEADER_LENGTH = struct.Struct(">I")
# A header is a few hundred bytes; anything larger is a corrupt file.
MAX_HEADER_BYTES = 64 * 1024
_SUFFIX = ".slice"


class FileSliceStore:
    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def _path(self, key: str, index: int) -> Path:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return self._dir / f"{digest}-{index}{_SUFFIX}"

    async def save(self, key: str, index: int, piece: Slice) -> None:
        await trio.to_thread.run_sync(self._save_sync, key, index, piece)

    async def load(
        self, key: str, index: int, expected_length: int, identity: ObjectIdentity
    ) -> bytes | None:
        return await trio.to_thread.run_sync(self._load_sync, key, index, expected_length, identity)

    async def delete(self, key: str, index: int) -> None:
        await trio.to_thread.run_sync(self._delete_sync, self._path(key, index))

    async def scan(self) -> list[StoredSlice]:
        return await trio.to_thread.run_sync(self._scan_sync)

    def _save_sync(self, key: str, index: int, piece: Slice) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        header = json.dumps(
            {
                "key": key,
                "index": index,
                "length": len(piece.data),
                "size": piece.identity.size,
                "etag": piece.identity.etag,
                "last_modified": piece.identity.last_modified,
                "content_type": piece.content_type,
                "fetched_at": piece.fetched_at,
                "sha256": hashlib.sha256(piece.data).hexdigest(),
            }
        ).encode()
        final = self._path(key, index)
        temporary = final.with_suffix(f".{os.getpid()}.{id(piece)}.tmp")
        try:
            with open(temporary, "wb") as out:
                self._write_file(
                    out, [MAGIC + _HEADER_LENGTH.pack(len(header)) + header, piece.data]
                )
            os.replace(temporary, final)
        except BaseException:
            _unlink_quietly(temporary)  # a full disk must not also fill up with half-slices
            raise

    def _write_file(self, out: BinaryIO, chunks: list[bytes]) -> None:
        """Write ``chunks`` and make them durable (the one place slice bytes hit the disk)."""
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())

    def _load_sync(
        self, key: str, index: int, expected_length: int, identity: ObjectIdentity
    ) -> bytes | None:
        path = self._path(key, index)
        try:
            with open(path, "rb") as src:
                header = _read_header(src)
                data = src.read(expected_length + 1)
        except FileNotFoundError:
            return None
        except ValueError:
            self._delete_sync(path)
            return None
        if (
            header.get("key") != key
            or header.get("index") != index
            or header.get("size") != identity.size
            or header.get("etag") != identity.etag
            or header.get("last_modified") != identity.last_modified
            or header.get("length") != expected_length
            or len(data) != expected_length
            or hashlib.sha256(data).hexdigest() != header.get("sha256")
        ):
            self._delete_sync(path)
            return None
        return data

    def _scan_sync(self) -> list[StoredSlice]:
        if not self._dir.is_dir():
            return []
        found: list[StoredSlice] = []
        for path in self._dir.iterdir():
            if path.name.endswith(".tmp"):
                _unlink_quietly(path)
                continue
            if not path.name.endswith(_SUFFIX):
                continue
            try:
                with open(path, "rb") as src:
                    found.append(_stored(_read_header(src)))
            except (OSError, ValueError, KeyError, TypeError):
                _unlink_quietly(path)
        return found

    @staticmethod
    def _delete_sync(path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _unlink_quietly(path: Path) -> None:
    """Best-effort removal (clean-up on a path that is already failing)."""
    try:
        path.unlink()
    except OSError:
        pass


def _read_header(src: BinaryIO) -> dict[str, object]:
    start = src.read(len(MAGIC) + _HEADER_LENGTH.size)
    if len(start) != len(MAGIC) + _HEADER_LENGTH.size or not start.startswith(MAGIC):
        raise ValueError("not a slice file")
    (length,) = _HEADER_LENGTH.unpack(start[len(MAGIC) :])
    if length > MAX_HEADER_BYTES:
        raise ValueError("slice header too large")
    header = json.loads(src.read(length))
    if not isinstance(header, dict):
        raise ValueError("slice header is not an object")
    return header


def _stored(header: dict[str, object]) -> StoredSlice:
    key, index, length, size = header["key"], header["index"], header["length"], header["size"]
    fetched_at = header["fetched_at"]
    if not (
        isinstance(key, str)
        and isinstance(index, int)
        and isinstance(length, int)
        and isinstance(size, int)
        and isinstance(fetched_at, int | float)
    ):
        raise ValueError("slice header has wrong types")
    etag, modified, ctype = (
        header.get("etag"),
        header.get("last_modified"),
        header.get("content_type"),
    )
    identity = ObjectIdentity(
        size,
        etag if isinstance(etag, str) else None,
        modified if isinstance(modified, str) else None,
    )
    return StoredSlice(
        key, index, length, identity, ctype if isinstance(ctype, str) else None, float(fetched_at)
    )
