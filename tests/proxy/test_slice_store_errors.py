"""A failing cache disk (full, gone, not a directory) means serving uncached, never an exit.

A real full file system is not available to tests, so ENOSPC comes from a FileSliceStore whose
file write fails part-way (the write itself, not the cache logic, is replaced); the other cases
are real OSErrors from a cache directory that is a regular file.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from pathlib import Path
from typing import BinaryIO

import pytest
import trio
from prometheus_client import REGISTRY

from synctv.outbound.client import HttpUpstream
from synctv.proxy.slice_cache import SliceCache
from synctv.proxy.slice_store import FileSliceStore
from tests.proxy.conftest import CacheRun, Harness, HarnessFactory
from tests.proxy.upstream_server import Obj, UpstreamServer

S = 4096
DATA = bytes((i * 13) % 251 for i in range(5 * S + 17))


class FullDisk(FileSliceStore):
    """Writes half of each slice file, then fails as a full disk does."""

    def _write_file(self, out: BinaryIO, chunks: list[bytes]) -> None:
        out.write(chunks[0][: len(chunks[0]) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _store_errors(operation: str) -> float:
    value = REGISTRY.get_sample_value(
        "synctv_proxy_slice_cache_store_errors_total", {"operation": operation}
    )
    return value or 0.0


async def _serve_everything(harness: Harness) -> None:
    path = harness.path("/f")
    for headers, status, body in (
        ({}, 200, DATA),
        ({"range": f"bytes={S - 3}-{3 * S + 5}"}, 206, DATA[S - 3 : 3 * S + 6]),
        ({"range": "bytes=-10"}, 206, DATA[-10:]),
    ):
        with trio.fail_after(10):
            reply = await harness.get(path, headers)
        assert (reply.status, reply.body, reply.complete) == (status, body, True)


async def test_a_full_disk_serves_uncached(
    make_harness: HarnessFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "slices"
    before = _store_errors("save")
    harness: Harness = await make_harness(slice_size=S, store=FullDisk(directory))
    harness.origin.objects["/f"] = Obj(DATA)
    with caplog.at_level(logging.WARNING, logger="synctv"):
        await _serve_everything(harness)
        await _serve_everything(harness)
    cache = harness.cache
    assert cache is not None
    stats = cache.statistics()
    assert stats.entries == 0  # nothing cached: every read went to the origin
    assert dict(stats.store_errors)["save"] >= 6
    assert _store_errors("save") - before == dict(stats.store_errors)["save"]
    assert harness.cache_run.alive
    assert list(directory.iterdir()) == []  # the half-written temporaries were removed
    # Rate-limited: one line for a burst of failures, not one per slice.
    lines = [r for r in caplog.records if "slice cache" in r.getMessage()]
    assert len(lines) == 1
    assert "No space left on device" in lines[0].getMessage()


async def test_a_cache_directory_that_is_a_file_serves_uncached(
    make_harness: HarnessFactory, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    for directory in (blocker, blocker / "slices"):  # FileExistsError, NotADirectoryError
        harness: Harness = await make_harness(slice_size=S, store=FileSliceStore(directory))
        harness.origin.objects["/f"] = Obj(DATA)
        await _serve_everything(harness)
        cache = harness.cache
        assert cache is not None
        assert cache.statistics().entries == 0
        assert dict(cache.statistics().store_errors)["save"] >= 1
        assert harness.cache_run.alive


async def test_a_cache_directory_lost_under_the_index_is_refetched(
    make_harness: HarnessFactory, tmp_path: Path
) -> None:
    directory = tmp_path / "slices"
    harness: Harness = await make_harness(slice_size=S, store=FileSliceStore(directory))
    harness.origin.objects["/f"] = Obj(DATA)
    await _serve_everything(harness)
    cache = harness.cache
    assert cache is not None
    assert cache.statistics().entries > 0
    # The disk goes away under the index: loads and deletes now fail with real OSErrors.
    shutil.rmtree(directory)
    directory.write_bytes(b"")
    await _serve_everything(harness)
    errors = dict(cache.statistics().store_errors)
    assert errors.get("load", 0) >= 1
    await cache.sweep()
    assert harness.cache_run.alive


async def test_a_failing_scan_starts_with_an_empty_index(
    origin: UpstreamServer, nursery: trio.Nursery, tmp_path: Path
) -> None:
    class Unreadable(FileSliceStore):
        def _scan_sync(self) -> list:  # type: ignore[type-arg]
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    origin.objects["/f"] = Obj(DATA)
    upstream = HttpUpstream(allow_private=True)
    cache = SliceCache(upstream, slice_size=S, max_bytes=64 * S, store=Unreadable(tmp_path))
    run = CacheRun()
    await nursery.start(run.watch, cache)
    assert run.alive
    assert dict(cache.statistics().store_errors) == {"scan": 1}
    await upstream.aclose()
