"""SliceCache service: freshness, stale-while-revalidate, bounded size, file backend, statistics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from prometheus_client import REGISTRY

from synctv.config import ConfigError, load_config
from synctv.outbound.client import HttpUpstream
from synctv.outbound.request import UpstreamTarget
from synctv.outbound.scope import LanScope
from synctv.proxy.slice_cache import ObjectIdentity, Slice, SliceCache
from synctv.proxy.slice_store import FileSliceStore
from tests.proxy.conftest import Harness, HarnessFactory
from tests.proxy.upstream_server import Obj, UpstreamServer

S = 4096
DATA = bytes(i % 253 for i in range(8 * S))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def target(origin: UpstreamServer, path: str = "/f") -> UpstreamTarget:
    return UpstreamTarget(path, origin.base + path, (), LanScope.parse([origin.host]))


async def test_fresh_stale_and_expired(make_harness: HarnessFactory) -> None:
    clock = Clock()
    harness: Harness = await make_harness(slice_size=S, ttl=10, stale_max_age=5, clock=clock)
    harness.origin.objects["/f"] = Obj(DATA)
    cache = harness.cache
    assert cache is not None
    t = target(harness.origin)
    assert (await cache.get_slice(t, 1)).data == DATA[S : 2 * S]
    clock.now += 9
    await cache.get_slice(t, 1)  # fresh hit
    assert len(harness.origin.seen) == 1
    clock.now += 2  # stale: served at once, refreshed in the background
    assert (await cache.get_slice(t, 1)).data == DATA[S : 2 * S]
    with trio.fail_after(5):
        while len(harness.origin.seen) < 2:  # noqa: ASYNC110 (the refresh is network I/O)
            await trio.sleep(0.01)
    clock.now += 16  # past ttl + stale max age of the refreshed slice: a miss
    await cache.get_slice(t, 1)
    stats = cache.statistics()
    assert (stats.hits, stats.stale_hits, stats.misses) == (1, 1, 2)
    assert len(harness.origin.seen) == 3


async def test_size_bound_evicts_least_recently_used(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness(slice_size=S, max_bytes=4 * S)
    harness.origin.objects["/f"] = Obj(DATA)
    cache = harness.cache
    assert cache is not None
    t = target(harness.origin)
    for index in range(4):
        await cache.get_slice(t, index)
    await cache.get_slice(t, 0)  # 0 becomes the most recently used
    await cache.get_slice(t, 4)  # over the bound: trim to 0.875 × 4 slices → evict 1, 2
    stats = cache.statistics()
    assert stats.bytes <= 4 * S
    assert stats.evictions == 2
    seen_before = len(harness.origin.seen)
    await cache.get_slice(t, 0)
    await cache.get_slice(t, 3)
    assert len(harness.origin.seen) == seen_before  # survivors are hits


async def test_sweep_drops_expired(make_harness: HarnessFactory) -> None:
    clock = Clock()
    harness: Harness = await make_harness(slice_size=S, ttl=10, stale_max_age=5, clock=clock)
    harness.origin.objects["/f"] = Obj(DATA)
    cache = harness.cache
    assert cache is not None
    await cache.get_slice(target(harness.origin), 0)
    clock.now += 20
    await cache.sweep()
    assert cache.statistics().entries == 0


async def test_cache_get_requires_run(origin: UpstreamServer) -> None:
    upstream = HttpUpstream()
    try:
        cache = SliceCache(upstream, slice_size=S, max_bytes=4 * S)
        with pytest.raises(RuntimeError):
            await cache.get_slice(target(origin), 0)
    finally:
        await upstream.aclose()


async def test_file_backend_survives_restart_and_detects_corruption(
    make_harness: HarnessFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    directory = tmp_path / "cache" / "proxy-slice"
    harness: Harness = await make_harness(slice_size=S, store=FileSliceStore(directory))
    harness.origin.objects["/f"] = Obj(DATA)
    path = harness.path("/f")
    first = await harness.get(path, {"range": f"bytes=0-{3 * S - 1}"})
    assert first.body == DATA[: 3 * S]
    files = sorted(directory.glob("*.slice"))
    assert len(files) == 3
    (directory / "junk.tmp").write_bytes(b"half a write")

    # A new cache over the same directory: the index is rebuilt and serves without the origin.
    upstream = HttpUpstream(allow_private=True)
    restarted = SliceCache(
        upstream, slice_size=S, max_bytes=64 * S, store=FileSliceStore(directory)
    )
    await nursery.start(restarted.run)
    assert restarted.statistics().entries == 3
    assert not (directory / "junk.tmp").exists()
    t = UpstreamTarget("origin\n/f\n\n", harness.origin.base + "/f")  # the proxy's key
    seen = len(harness.origin.seen)
    assert (await restarted.get_slice(t, 1)).data == DATA[S : 2 * S]
    assert len(harness.origin.seen) == seen

    # Flip one data byte of slice 2: detected by the checksum, refetched from the origin.
    victim = next(f for f in files if f.name.endswith("-2.slice"))
    raw = bytearray(victim.read_bytes())
    raw[-10] ^= 0xFF
    victim.write_bytes(bytes(raw))
    assert (await restarted.get_slice(t, 2)).data == DATA[2 * S : 3 * S]
    assert len(harness.origin.seen) == seen + 1
    assert restarted.statistics().corruptions == 1
    await upstream.aclose()


async def test_file_backend_never_serves_another_version_of_a_slice(
    make_harness: HarnessFactory, tmp_path: Path
) -> None:
    store = FileSliceStore(tmp_path / "slices")
    harness: Harness = await make_harness(slice_size=S, store=store)
    harness.origin.objects["/f"] = Obj(b"A" * 8 * S, etag='"v1"')
    cache = harness.cache
    assert cache is not None
    t = target(harness.origin)
    first = await cache.get_slice(t, 1)
    # Another writer (a racing revalidation, a second process) replaces the file with v2.
    v2 = ObjectIdentity(8 * S, '"v2"', first.identity.last_modified)
    await store.save(t.key, 1, Slice(b"B" * S, v2, None, first.fetched_at))
    got = await cache.get_slice(t, 1, first.identity)
    assert (got.identity, got.data) == (first.identity, b"A" * S)  # refetched, not relabelled
    assert await store.load(t.key, 1, S, v2) is None  # the mismatch was dropped, not kept


async def test_in_flight_fetches_are_bounded(origin: UpstreamServer, nursery: trio.Nursery) -> None:
    origin.objects["/f"] = Obj(DATA, delay=0.2)
    running = peak = 0

    def hook(seen: object) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)

    class Counting(HttpUpstream):  # counts fetches between request and end of body
        @asynccontextmanager
        async def open(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            nonlocal running
            async with super().open(*args, **kwargs) as response:
                yield response
            running -= 1

    origin.hook = hook
    upstream = Counting(allow_private=True)
    cache = SliceCache(upstream, slice_size=S, max_bytes=64 * S, max_in_flight=2)
    await nursery.start(cache.run)
    queued = 0.0
    with trio.fail_after(10):
        async with trio.open_nursery() as readers:
            for index in range(8):
                readers.start_soon(cache.get_slice, target(origin), index)
            while cache.statistics().queued_fetches < 6:  # noqa: ASYNC110 (tasks starting)
                await trio.sleep(0.001)
            queued = REGISTRY.get_sample_value("synctv_proxy_slice_fetches_queued") or 0.0
    assert peak == 2
    assert len(origin.seen) == 8
    assert queued == 6
    assert REGISTRY.get_sample_value("synctv_proxy_slice_fetches_in_flight") == 0
    await upstream.aclose()


def test_a_cache_smaller_than_one_slice_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            environ={
                "SYNCTV_PROXY_SLICE_CACHE_SLICE_SIZE_BYTES": str(4 * 1024 * 1024),
                "SYNCTV_PROXY_SLICE_CACHE_MAX_SIZE_MB": "3",
            }
        )
    assert info.value.key == "proxy_slice_cache.max_size_mb"
    assert "slice_size_bytes" in info.value.problem
    assert load_config(environ={"SYNCTV_PROXY_SLICE_CACHE_MAX_SIZE_MB": "2"})
