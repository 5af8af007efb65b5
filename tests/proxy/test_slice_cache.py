"""SliceCache service: freshness, stale-while-revalidate, bounded size, file backend, statistics."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from synctv.proxy.slice_cache import SliceCache, UpstreamTarget
from synctv.proxy.slice_store import FileSliceStore
from synctv.proxy.upstream import HttpUpstream
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
    return UpstreamTarget(path, origin.base + path, (), allow_private=True)


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
    t = UpstreamTarget("origin\n/f\n", harness.origin.base + "/f", (), True)
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
