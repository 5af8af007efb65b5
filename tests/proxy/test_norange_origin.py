"""Origins that ignore Range: the proxy cuts the client's range out of the whole body (206), caches
what it read as slices, and stops reading once nobody wants the rest.

Real origin on 127.0.0.1 (``upstream_server.py`` with ``ranges=False``: every request gets 200
and the whole object, with its Content-Length), real HttpUpstream, SliceCache and MediaProxy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
import trio
from prometheus_client import REGISTRY

from synctv.outbound.client import HttpUpstream
from synctv.outbound.request import UpstreamError, UpstreamTarget
from synctv.proxy.slice_cache import SliceCache, UpstreamResponse
from tests.proxy.conftest import CacheRun, Harness, HarnessFactory
from tests.proxy.upstream_server import Obj, UpstreamServer

S = 4096
DATA = bytes((i * 13 + i // 509) % 256 for i in range(12 * S + 321))
SIZE = len(DATA)


async def _sequential_reads_end(harness: Harness) -> None:
    assert harness.cache is not None
    with trio.fail_after(10):
        while harness.cache.statistics().sequential_reads:  # noqa: ASYNC110
            await trio.sleep(0.02)


async def test_a_cold_range_is_cut_out_and_its_slices_are_cached(
    make_harness: HarnessFactory,
) -> None:
    harness: Harness = await make_harness(slice_size=S)
    harness.origin.objects["/f"] = Obj(DATA, ranges=False)
    path = harness.path("/f")
    cold = await harness.get(path, {"range": f"bytes={3 * S + 5}-{3 * S + 999}"})
    assert (cold.status, cold.body) == (206, DATA[3 * S + 5 : 3 * S + 1000])
    assert cold.headers["content-range"] == f"bytes {3 * S + 5}-{3 * S + 999}/{SIZE}"
    assert len(harness.origin.seen) == 1
    # Everything up to the slice it needed was read on the way and is served from the cache.
    for first, last in [(0, 10), (S - 2, 2 * S + 5), (2 * S + 1, 4 * S - 1), (0, 4 * S - 1)]:
        reply = await harness.get(path, {"range": f"bytes={first}-{last}"})
        assert (reply.status, reply.body) == (206, DATA[first : last + 1])
        assert reply.headers["content-range"] == f"bytes {first}-{last}/{SIZE}"
    assert len(harness.origin.seen) == 1
    assert harness.cache is not None
    assert harness.cache.statistics().hits >= 4


async def test_a_whole_object_is_one_upstream_request(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness(slice_size=S)
    harness.origin.objects["/f"] = Obj(DATA, ranges=False)
    path = harness.path("/f")
    whole = await harness.get(path)
    assert (whole.status, whole.body) == (200, DATA)
    open_ended = await harness.get(path, {"range": f"bytes={5 * S + 3}-"})
    suffix = await harness.get(path, {"range": "bytes=-700"})
    assert (open_ended.status, open_ended.body) == (206, DATA[5 * S + 3 :])
    assert (suffix.status, suffix.body) == (206, DATA[-700:])
    assert len(harness.origin.seen) == 1  # every later slice joined the one sequential read


async def test_a_cold_suffix_range_reads_on_to_the_tail(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness(slice_size=S)
    harness.origin.objects["/f"] = Obj(DATA, ranges=False)
    path = harness.path("/f")
    reply = await harness.get(path, {"range": f"bytes=-{S + 10}"})
    assert (reply.status, reply.body) == (206, DATA[-(S + 10) :])
    assert reply.headers["content-range"] == f"bytes {SIZE - S - 10}-{SIZE - 1}/{SIZE}"
    # The one-byte size probe got the whole body too (closed at once); the read that followed
    # took slice 0 for the size and went on to the tail: two requests, not one per slice.
    assert len(harness.origin.seen) == 2
    again = await harness.get(path, {"range": "bytes=100-199"})
    assert (again.status, again.body, len(harness.origin.seen)) == (206, DATA[100:200], 2)


async def test_readers_of_the_same_object_join_one_read(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness(slice_size=S)
    harness.origin.objects["/f"] = Obj(DATA, ranges=False, body_delay=0.01)
    path = harness.path("/f")
    ranges = [(2 * S + 7, 3 * S), (9 * S, 11 * S + 3), (0, SIZE - 1), (6 * S, 6 * S)]
    replies: dict[tuple[int, int], tuple[int, bytes]] = {}

    async def read(first: int, last: int) -> None:
        reply = await harness.get(path, {"range": f"bytes={first}-{last}"})
        replies[(first, last)] = (reply.status, reply.body)

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for first, last in ranges:
                nursery.start_soon(read, first, last)
    for first, last in ranges:
        assert replies[(first, last)] == (206, DATA[first : last + 1])
    # Readers that came before the first read took them in start their own read; nobody reads
    # the object once per slice.
    assert len(harness.origin.seen) <= len(ranges)


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "passthrough"])
async def test_a_small_early_range_of_a_large_file_stops_the_upstream_read(
    make_harness: HarnessFactory, cache: bool
) -> None:
    big = 64 * 1024 * 1024
    data = bytes(range(256)) * (big // 256)
    harness: Harness = await make_harness(cache=cache, slice_size=256 * 1024)
    harness.origin.objects["/big"] = Obj(data, ranges=False)
    with trio.fail_after(20):
        reply = await harness.get(harness.path("/big"), {"range": "bytes=1000-9999"})
    assert (reply.status, reply.body) == (206, data[1000:10000])
    assert reply.headers["content-range"] == f"bytes 1000-9999/{big}"
    if harness.cache is not None:
        await _sequential_reads_end(harness)
        read = harness.cache.statistics().upstream_bytes
        assert 256 * 1024 <= read < 1024 * 1024  # one slice, and what came with its last chunk
    await trio.sleep(0.3)
    sent = harness.origin.sent.get("/big", 0)
    await trio.sleep(0.3)
    # The origin got as far as the socket buffers let it, then the connection was closed.
    assert harness.origin.sent.get("/big", 0) == sent
    assert sent < big // 4


async def test_a_paused_reader_does_not_hold_the_read_forever(
    make_harness: HarnessFactory,
) -> None:
    """No response declares a span past what was read: the read lingers, then closes, and a
    later range starts a new request (from byte 0: the origin knows nothing else)."""
    harness: Harness = await make_harness(slice_size=S)
    harness.origin.objects["/f"] = Obj(DATA, ranges=False)
    path = harness.path("/f")
    first = await harness.get(path, {"range": "bytes=0-99"})
    assert (first.status, first.body) == (206, DATA[:100])
    await _sequential_reads_end(harness)
    later = await harness.get(path, {"range": f"bytes={8 * S}-{8 * S + 99}"})
    assert (later.status, later.body) == (206, DATA[8 * S : 8 * S + 100])
    assert len(harness.origin.seen) == 2


class _BreaksMidBody:
    """An Upstream whose bodies raise an exception nobody planned for (a bug) after
    ``good_chunks`` chunks."""

    def __init__(self, inner: HttpUpstream, good_chunks: int) -> None:
        self.inner = inner
        self.good_chunks = good_chunks

    def open(
        self, target: UpstreamTarget, request_headers: Sequence[tuple[str, str]] = ()
    ) -> AbstractAsyncContextManager[UpstreamResponse]:
        return self._open(target, request_headers)

    @asynccontextmanager
    async def _open(
        self, target: UpstreamTarget, request_headers: Sequence[tuple[str, str]]
    ) -> AsyncIterator[UpstreamResponse]:
        async with self.inner.open(target, request_headers) as response:
            yield _Breaking(response, self.good_chunks)


class _Breaking:
    def __init__(self, response: UpstreamResponse, good_chunks: int) -> None:
        self.response = response
        self.good_chunks = good_chunks
        self.status = response.status
        self.url = response.url

    def header(self, name: str) -> str | None:
        return self.response.header(name)

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        count = 0
        async for chunk in self.response.iter_bytes():
            if count == self.good_chunks:
                raise KeyError("a bug in the body path")
            count += 1
            yield chunk


def _crashes() -> float:
    return REGISTRY.get_sample_value("synctv_task_crashes_total", {"task": "slice_fetch"}) or 0.0


async def test_a_bug_mid_read_fails_its_readers_and_is_recorded(
    origin: UpstreamServer, nursery: trio.Nursery
) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB: the origin sends it in 256 KiB pieces
    origin.objects["/f"] = Obj(big, ranges=False)
    inner = HttpUpstream(allow_private=True)
    cache = SliceCache(_BreaksMidBody(inner, good_chunks=1), slice_size=4096, max_bytes=1 << 22)
    run = CacheRun()
    await nursery.start(run.watch, cache)
    before = _crashes()
    target = UpstreamTarget("k", f"{origin.base}/f")
    with trio.fail_after(10):
        assert (await cache.get_slice(target, 0)).data == big[:4096]  # within the good chunk
        with pytest.raises(UpstreamError) as caught:
            await cache.get_slice(target, 200)  # joins the read, which then breaks
        assert caught.value.kind == "internal"
        while _crashes() == before:  # noqa: ASYNC110  (recorded once the response is closed)
            await trio.sleep(0.01)
        assert _crashes() == before + 1
        assert run.alive
        assert run.crash is None
        assert cache.statistics().sequential_reads == 0
    await inner.aclose()
