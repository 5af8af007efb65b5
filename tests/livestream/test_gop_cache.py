"""GopCache: bounds in GOPs and bytes, never starting mid-GOP."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from synctv.livestream.gop_cache import GopCache
from synctv.media.flv import TAG_VIDEO, FlvTag, encode_tag


def _tag(ts: int, *, key: bool, size: int = 10) -> tuple[FlvTag, bytes]:
    body = bytes((0x17 if key else 0x27, 1, 0, 0, 0)) + bytes(size)
    return FlvTag(TAG_VIDEO, ts, body), encode_tag(TAG_VIDEO, ts, body)


def _feed(cache: GopCache, pattern: str) -> list[FlvTag]:
    """'K' key frame, 'i' inter frame; timestamps are the positions."""
    tags = []
    for ts, kind in enumerate(pattern):
        tag, encoded = _tag(ts, key=kind == "K")
        cache.add(tag, encoded, keyframe=kind == "K")
        tags.append(tag)
    return tags


def test_tags_before_the_first_keyframe_are_not_cached() -> None:
    cache = GopCache(max_gops=2, max_bytes=1 << 20)
    _feed(cache, "iii")
    assert cache.snapshot() == ((), b"")
    assert cache.first_timestamp() is None
    tags = _feed(cache, "Kii")
    assert cache.snapshot()[0] == tuple(tags)


def test_keeps_the_last_n_gops() -> None:
    cache = GopCache(max_gops=2, max_bytes=1 << 20)
    tags = _feed(cache, "KiiKiKii")
    snapshot, flv = cache.snapshot()
    assert snapshot == tuple(tags[3:])
    assert flv == b"".join(encode_tag(t.tag_type, t.timestamp, t.data) for t in snapshot)
    stats = cache.statistics()
    assert (stats.gops, stats.tags, stats.dropped_gops) == (2, 5, 1)
    assert stats.bytes == len(flv) == cache.size_bytes
    assert cache.first_timestamp() == 3
    # A viewer joins at the newest key frame: only the GOP being received.
    newest, newest_flv = cache.snapshot(whole=False)
    assert newest == tuple(tags[5:])
    assert newest_flv == b"".join(encode_tag(t.tag_type, t.timestamp, t.data) for t in newest)
    assert cache.first_timestamp(whole=False) == tags[5].timestamp


def test_byte_bound_drops_whole_gops_oldest_first() -> None:
    one = len(_tag(0, key=True)[1])
    cache = GopCache(max_gops=10, max_bytes=5 * one)
    tags = _feed(cache, "KiiKiiK")
    snapshot, _ = cache.snapshot()
    assert snapshot == tuple(tags[3:])  # 7 tags > 5: the first GOP went, the split is at a K
    assert cache.size_bytes <= 5 * one


def test_a_gop_larger_than_the_bound_is_dropped_until_the_next_keyframe() -> None:
    one = len(_tag(0, key=True)[1])
    cache = GopCache(max_gops=4, max_bytes=3 * one)
    _feed(cache, "Kiii")
    assert cache.snapshot() == ((), b"")
    _feed(cache, "ii")  # still inside the oversized GOP: ignored
    assert cache.statistics().tags == 0
    tag, encoded = _tag(100, key=True)
    cache.add(tag, encoded, keyframe=True)
    assert cache.snapshot()[0] == (tag,)


def test_zero_gops_disables_and_clear_forgets() -> None:
    disabled = GopCache(max_gops=0, max_bytes=1 << 20)
    _feed(disabled, "Kii")
    assert disabled.statistics().tags == 0
    cache = GopCache(max_gops=2, max_bytes=1 << 20)
    _feed(cache, "KiK")
    cache.clear()
    assert cache.snapshot() == ((), b"")
    assert cache.statistics().dropped_gops == 2
    _feed(cache, "i")
    assert cache.statistics().tags == 0


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 300)), max_size=80),
    st.integers(0, 4),
    st.integers(0, 2000),
)
def test_invariants(frames: list[tuple[bool, int]], max_gops: int, max_bytes: int) -> None:
    cache = GopCache(max_gops=max_gops, max_bytes=max_bytes)
    fed: list[FlvTag] = []
    for ts, (key, size) in enumerate(frames):
        tag, encoded = _tag(ts, key=key, size=size)
        cache.add(tag, encoded, keyframe=key)
        fed.append(tag)
        snapshot, flv = cache.snapshot()
        stats = cache.statistics()
        assert stats.bytes == len(flv) <= max_bytes
        assert stats.gops <= max_gops
        if snapshot:
            # A contiguous suffix of what was fed, starting at a key frame.
            assert snapshot[0].data[0] == 0x17
            assert tuple(fed[len(fed) - len(snapshot) :]) == snapshot
