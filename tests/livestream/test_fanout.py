"""Broadcaster: shared batches, one wake-up per batch, merged catch-up, lag bound, end."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio

from synctv.livestream.errors import StreamEnded, SubscriberLagged
from synctv.livestream.fanout import Batch, Broadcaster, merge
from synctv.media.flv import TAG_AUDIO, FlvTag, encode_tag

BIG = 1 << 30


def _batch(n: int, start: int = 0, size: int = 100) -> Batch:
    tags = tuple(FlvTag(TAG_AUDIO, start + i, bytes((0xAF, 1)) + bytes(size)) for i in range(n))
    return Batch(tags, b"".join(encode_tag(t.tag_type, t.timestamp, t.data) for t in tags))


async def test_one_wakeup_per_batch_whatever_its_tag_count() -> None:
    broadcaster = Broadcaster()
    cursors = [broadcaster.cursor(BIG) for _ in range(50)]
    received: list[list[Batch]] = [[] for _ in cursors]

    async def viewer(index: int) -> None:
        while True:
            try:
                received[index].append(await broadcaster.receive(cursors[index]))
            except StreamEnded:
                return

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            for index in range(len(cursors)):
                nursery.start_soon(viewer, index)
            await trio.testing.wait_all_tasks_blocked()
            batches = [_batch(200, start=i * 200) for i in range(10)]
            for batch in batches:
                broadcaster.publish(batch, max_ring_bytes=BIG)
                await trio.testing.wait_all_tasks_blocked()
            broadcaster.close()
    for cursor, got in zip(cursors, received, strict=True):
        assert got == batches  # the very same objects: shared, never copied
        assert all(a is b for a, b in zip(got, batches, strict=True))
        assert cursor.wakeups == 10 + 1  # once per batch, plus the close
        assert cursor.batches == 10


async def test_a_viewer_behind_gets_one_merged_batch() -> None:
    broadcaster = Broadcaster()
    cursor = broadcaster.cursor(BIG)
    parts = [_batch(3, start=i * 3) for i in range(4)]
    for part in parts:
        broadcaster.publish(part, max_ring_bytes=BIG)
    merged = await broadcaster.receive(cursor)
    assert merged.flv == b"".join(p.flv for p in parts)
    assert merged.tags == tuple(t for p in parts for t in p.tags)
    assert cursor.wakeups == 0
    assert cursor.bytes == len(merged.flv)


async def test_lagging_viewer_is_cut_and_counted_once_others_unaffected() -> None:
    broadcaster = Broadcaster()
    slow = broadcaster.cursor(bound=1000)
    fast = broadcaster.cursor(bound=BIG)
    for i in range(5):
        broadcaster.publish(_batch(1, start=i, size=400), max_ring_bytes=BIG)
        assert (await broadcaster.receive(fast)).tags[0].timestamp == i
    with pytest.raises(SubscriberLagged) as info:
        await broadcaster.receive(slow)
    assert info.value.bytes_behind > 1000
    assert info.value.bound == 1000
    with pytest.raises(SubscriberLagged):
        await broadcaster.receive(slow)
    assert broadcaster.lagged == 1
    broadcaster.publish(_batch(1, start=5), max_ring_bytes=BIG)
    assert (await broadcaster.receive(fast)).tags[0].timestamp == 5


async def test_ring_bounds_memory_and_cuts_viewers_whose_batch_left() -> None:
    broadcaster = Broadcaster(max_batches=3)
    cursor = broadcaster.cursor(BIG)
    for i in range(5):
        broadcaster.publish(_batch(1, start=i), max_ring_bytes=BIG)
    stats = broadcaster.statistics()
    assert (stats.ring_batches, stats.batches) == (3, 5)
    with pytest.raises(SubscriberLagged):
        await broadcaster.receive(cursor)
    big = _batch(1, size=5000)
    broadcaster.publish(big, max_ring_bytes=1000)  # the newest batch always stays
    assert broadcaster.statistics().ring_bytes == len(big.flv)


async def test_close_drains_then_ends() -> None:
    broadcaster = Broadcaster()
    cursor = broadcaster.cursor(BIG)
    broadcaster.publish(_batch(2), max_ring_bytes=BIG)
    broadcaster.close()
    assert len((await broadcaster.receive(cursor)).tags) == 2
    with pytest.raises(StreamEnded):
        await broadcaster.receive(cursor)
    with pytest.raises(RuntimeError):
        broadcaster.publish(_batch(1), max_ring_bytes=BIG)


def test_encodings_are_built_once_per_batch_and_key_and_reused_when_merged() -> None:
    calls: list[tuple[int, int]] = []

    def encoder(stream_id: int) -> Callable[[Batch], bytes]:
        def build(batch: Batch) -> bytes:
            calls.append((len(batch.tags), stream_id))
            return b"R%d" % stream_id * len(batch.tags)

        return build

    first, second = _batch(2), _batch(3)
    assert first.encoded(1, encoder(1)) == first.encoded(1, encoder(1)) == b"R1R1"
    assert first.encoded(2, encoder(2)) == b"R2R2"  # another key (a player's second stream)
    merged = merge([first, second])
    # A merged batch joins its parts' encodings: the first part's is reused, not rebuilt.
    assert merged.encoded(1, encoder(1)) == merged.encoded(1, encoder(1)) == b"R1" * 5
    assert calls == [(2, 1), (2, 2), (3, 1)]
    assert second.encoded(1, encoder(1)) == b"R1" * 3  # built for the merge, shared after
    assert calls == [(2, 1), (2, 2), (3, 1)]


def test_signal_batches_are_never_merged() -> None:
    broadcaster = Broadcaster()
    cursor = broadcaster.cursor(BIG)
    a, b = _batch(2), _batch(2, start=2)
    signal = Batch((), b"", unpublished=True)
    c, d = _batch(1, start=4), _batch(1, start=5)
    for batch in (a, b, signal, c, d):
        broadcaster.publish(batch, max_ring_bytes=BIG)

    async def three() -> list[Batch]:
        return [await broadcaster.receive(cursor) for _ in range(3)]

    before, alone, after = trio.run(three)
    assert before.tags == a.tags + b.tags
    assert alone is signal
    assert after.tags == c.tags + d.tags
    assert cursor.bytes == len(a.flv + b.flv + c.flv + d.flv)
    assert cursor.seq == broadcaster.next_seq


def test_viewers_behind_by_the_same_batches_share_one_merge() -> None:
    broadcaster = Broadcaster()
    one, two = broadcaster.cursor(BIG), broadcaster.cursor(BIG)
    for i in range(3):
        broadcaster.publish(_batch(2, start=i * 2), max_ring_bytes=BIG)

    async def both() -> tuple[Batch, Batch]:
        return await broadcaster.receive(one), await broadcaster.receive(two)

    first, second = trio.run(both)
    assert first is second  # one join of the shared bytes, one RTMP encoding
    broadcaster.publish(_batch(1, start=9), max_ring_bytes=BIG)
    assert trio.run(broadcaster.receive, one) is not first  # a new publish: a fresh merge


def test_cursor_move_to_counts_what_was_delivered_by_another() -> None:
    broadcaster = Broadcaster()
    viewer, writer = broadcaster.cursor(BIG), broadcaster.cursor(BIG)
    batches = [_batch(3, start=i * 3) for i in range(4)]
    for batch in batches:
        broadcaster.publish(batch, max_ring_bytes=BIG)
    trio.run(broadcaster.receive, writer)
    viewer.move_to(writer)
    assert (viewer.seq, viewer.offset) == (writer.seq, writer.offset)
    assert viewer.bytes == sum(len(b.flv) for b in batches)
