"""HLS store: one suite for both backends, then memory bounds and the file backend's disk layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from synctv.livestream.hls_store import (
    FileHlsStore,
    HlsStore,
    InvalidStreamId,
    MemoryHlsStore,
    open_hls_store,
)

StoreFactory = Callable[[], HlsStore]


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Jump virtual time only after 100 ms of real idleness: the file backend works in threads,
    and a zero-threshold autojump advances the clock while a thread is still reading a file
    (so the sweeper could run "after the grace" in the middle of a read)."""
    return trio.testing.MockClock(autojump_threshold=0.1)


@pytest.fixture(params=["memory", "file"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    def factory() -> HlsStore:
        return open_hls_store(
            request.param, memory_max_bytes=10 * 1024 * 1024, directory=tmp_path / "hls"
        )

    return factory


async def _segments(store: HlsStore, stream_id: str, sequences: range) -> None:
    for sequence in sequences:
        await store.put_segment(stream_id, sequence, bytes([sequence % 256]) * 1000)
    await store.put_playlist(stream_id, "#EXTM3U\n", newest_sequence=sequences[-1], ended=False)


async def test_segments_and_playlist_round_trip(make_store: StoreFactory) -> None:
    store = make_store()
    first = await store.begin_stream("abc", min_first_sequence=100)
    assert first == 100
    assert await store.get_playlist("abc") is None  # begun, nothing listed yet
    await _segments(store, "abc", range(100, 103))
    snapshot = await store.get_playlist("abc")
    assert snapshot is not None
    assert (snapshot.text, snapshot.newest_sequence, snapshot.ended) == (b"#EXTM3U\n", 102, False)
    segment = await store.get_segment("abc", 101)
    assert segment is not None
    assert segment.data == bytes([101]) * 1000
    assert segment.etag.startswith('"')
    assert segment.etag.endswith('"')
    other = await store.get_segment("abc", 102)
    assert other is not None
    assert other.etag != segment.etag
    assert await store.get_segment("abc", 99) is None
    assert await store.get_segment("nope", 101) is None
    assert store.statistics().segments == 3
    assert store.statistics().bytes == 3000
    assert snapshot.target_duration is None  # not given
    await store.put_playlist(
        "abc", "#EXTM3U\n", newest_sequence=102, ended=False, target_duration=5
    )
    again = await store.get_playlist("abc")
    assert again is not None
    assert again.target_duration == 5  # the routes bound blocking reloads by it


async def test_sequence_numbers_never_repeat_across_runs(make_store: StoreFactory) -> None:
    store = make_store()
    first = await store.begin_stream("abc")
    await _segments(store, "abc", range(first, first + 5))
    again = await store.begin_stream("abc", min_first_sequence=2)
    assert again == first + 5
    # The previous run is gone with its segments.
    assert await store.get_segment("abc", first) is None
    assert await store.get_playlist("abc") is None
    assert store.statistics().segments == 0
    assert await store.begin_stream("abc", min_first_sequence=1000) == 1000


async def test_retired_segments_leave_after_the_grace(
    make_store: StoreFactory, autojump_clock: trio.testing.MockClock
) -> None:
    store = make_store()
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        await store.begin_stream("abc")
        await _segments(store, "abc", range(4))
        await store.retire_segments("abc", [0, 1], grace_seconds=4)
        await trio.sleep(3)
        assert await store.get_segment("abc", 0) is not None
        await trio.sleep(2)
        assert await store.get_segment("abc", 0) is None
        assert await store.get_segment("abc", 1) is None
        assert await store.get_segment("abc", 2) is not None
        assert store.statistics().segments == 2
        nursery.cancel_scope.cancel()


async def test_ended_stream_lingers_then_goes(
    make_store: StoreFactory, autojump_clock: trio.testing.MockClock
) -> None:
    store = make_store()
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        await store.begin_stream("abc")
        await _segments(store, "abc", range(3))
        await store.put_playlist("abc", "#EXTM3U\n#EXT-X-ENDLIST\n", newest_sequence=2, ended=True)
        await store.end_stream("abc", linger_seconds=30)
        await trio.sleep(29)
        snapshot = await store.get_playlist("abc")
        assert snapshot is not None
        assert snapshot.ended
        await trio.sleep(2)
        assert await store.get_playlist("abc") is None
        assert await store.get_segment("abc", 1) is None
        assert store.statistics().streams == 0
        assert store.statistics().bytes == 0
        nursery.cancel_scope.cancel()


async def test_wait_for_sequence(make_store: StoreFactory) -> None:
    # Real time (short): the file backend writes in threads, which autojump_clock would skip past.
    store = make_store()
    await store.begin_stream("abc")
    await _segments(store, "abc", range(2))
    assert await store.wait_for_sequence("abc", 1, 1)  # already there
    assert not await store.wait_for_sequence("abc", 2, 0.05)  # times out
    assert not await store.wait_for_sequence("unknown", 0, 1)
    woke: list[int] = []

    async def waiter() -> None:
        assert await store.wait_for_sequence("abc", 3, 5)
        woke.append(store.statistics().segments)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await trio.sleep(0.05)
            await _segments(store, "abc", range(2, 3))  # not yet
            await trio.sleep(0.05)
            assert woke == []
            await _segments(store, "abc", range(3, 4))
    assert woke == [4]
    # An ended stream releases waiters at once.
    await store.end_stream("abc", linger_seconds=30)
    assert await store.wait_for_sequence("abc", 99, 1)


@pytest.mark.parametrize(
    "bad", ["", "../etc", "a/b", "..", ".", "a b", "x" * 65, "abc\x00", "é", "a\\b"]
)
async def test_invalid_stream_ids_are_refused(make_store: StoreFactory, bad: str) -> None:
    store = make_store()
    with pytest.raises(InvalidStreamId):
        await store.begin_stream(bad)
    with pytest.raises(InvalidStreamId):
        await store.get_playlist(bad)
    with pytest.raises(InvalidStreamId):
        await store.get_segment(bad, 0)


async def test_memory_bound_evicts_oldest_of_largest_stream() -> None:
    store = MemoryHlsStore(max_bytes=10_000)
    await store.begin_stream("big")
    await store.begin_stream("small")
    for sequence in range(3):
        await store.put_segment("small", sequence, b"s" * 1000)
    for sequence in range(6):
        await store.put_segment("big", sequence, b"b" * 1500)
    # 3000 + 9000 > 10000: the big stream's two oldest segments went.
    stats = store.statistics()
    assert stats.bytes == 9000
    assert stats.pressure_evictions == 2
    assert await store.get_segment("big", 1) is None
    assert await store.get_segment("big", 2) is not None
    assert await store.get_segment("small", 0) is not None
    for sequence in range(6, 9):
        await store.put_segment("big", sequence, b"b" * 1500)
    assert store.statistics().bytes <= 10_000
    assert store.statistics().pressure_evictions == 5
    assert all([await store.get_segment("small", n) is not None for n in range(3)])


async def test_file_layout_is_atomic_and_cleaned(tmp_path: Path) -> None:
    root = tmp_path / "hls"
    store = FileHlsStore(root)
    await store.begin_stream("abc")
    await _segments(store, "abc", range(7, 9))
    names = sorted(p.name for p in (root / "abc").iterdir())
    assert names == ["7.ts", "8.ts", "index.m3u8"]  # no temporary file left behind
    assert (root / "abc" / "8.ts").read_bytes() == bytes([8]) * 1000
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        await store.end_stream("abc", linger_seconds=0)
        await store.sweep()
        nursery.cancel_scope.cancel()
    assert not (root / "abc").exists()


async def test_clean_on_start_removes_only_stale_stream_files(tmp_path: Path) -> None:
    root = tmp_path / "hls"
    for stream in ("old1", "old2"):
        (root / stream).mkdir(parents=True)
        (root / stream / "5.ts").write_bytes(b"x")
        (root / stream / "index.m3u8").write_text("#EXTM3U\n")
        (root / stream / ".5.ts.abcd.tmp").write_bytes(b"partial")
    (root / "old2" / "notes.txt").write_text("not ours")
    (root / "README").write_text("not ours either")
    (root / "with.dot").mkdir()
    (root / "with.dot" / "1.ts").write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "1.ts").write_bytes(b"precious")
    (root / "link").symlink_to(outside, target_is_directory=True)

    await FileHlsStore(root).clean_on_start()

    assert not (root / "old1").exists()
    assert sorted(p.name for p in (root / "old2").iterdir()) == ["notes.txt"]
    assert (root / "README").exists()
    assert (root / "with.dot" / "1.ts").exists()
    assert (outside / "1.ts").read_bytes() == b"precious"  # symlinks are not followed
    await FileHlsStore(tmp_path / "missing").clean_on_start()  # no directory: nothing to do


async def test_file_store_begin_clears_leftovers_of_the_same_stream(tmp_path: Path) -> None:
    root = tmp_path / "hls"
    (root / "abc").mkdir(parents=True)
    (root / "abc" / "3.ts").write_bytes(b"stale")
    store = FileHlsStore(root)
    await store.begin_stream("abc")
    assert not (root / "abc" / "3.ts").exists()
