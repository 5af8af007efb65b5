"""RFC 9110 Range semantics through the proxy, against a real origin on 127.0.0.1.

Every case runs with the slice cache (4 KiB slices, so boundaries are easy to hit) and without it
(pass-through): both must give the same answer.
"""

from __future__ import annotations

import json

import pytest
import trio

from synctv.proxy.service import NO_RANGE_SECONDS
from tests.proxy.conftest import Harness, HarnessFactory
from tests.proxy.upstream_server import Obj

S = 4096
DATA = bytes((i * 7 + i // 251) % 256 for i in range(10 * S + 123))
SIZE = len(DATA)

# (id, Range header, expected status, expected (start, stop) or None for the whole body)
CASES: list[tuple[str, str | None, int, tuple[int, int] | None]] = [
    ("no-range", None, 200, None),
    ("first-byte", "bytes=0-0", 206, (0, 1)),
    ("one-slice", f"bytes=0-{S - 1}", 206, (0, S)),
    ("cross-edge", f"bytes={S - 1}-{S}", 206, (S - 1, S + 1)),
    ("second-slice", f"bytes={S}-{2 * S - 1}", 206, (S, 2 * S)),
    ("edge-to-edge-many", f"bytes={S}-{5 * S - 1}", 206, (S, 5 * S)),
    ("mid-to-mid", f"bytes={S + 17}-{7 * S + 3}", 206, (S + 17, 7 * S + 4)),
    ("open-ended", "bytes=100-", 206, (100, SIZE)),
    ("open-last-byte", f"bytes={SIZE - 1}-", 206, (SIZE - 1, SIZE)),
    ("last-slice-open", f"bytes={10 * S}-", 206, (10 * S, SIZE)),
    ("clamped-last", f"bytes=5-{SIZE + 1000}", 206, (5, SIZE)),
    ("suffix-1", "bytes=-1", 206, (SIZE - 1, SIZE)),
    ("suffix-500", "bytes=-500", 206, (SIZE - 500, SIZE)),
    ("suffix-slice", f"bytes=-{S + 123}", 206, (SIZE - S - 123, SIZE)),
    ("suffix-too-long", f"bytes=-{SIZE + 10}", 206, (0, SIZE)),
    ("multi-range-ignored", "bytes=0-1,5-6", 200, None),
    ("unknown-unit-ignored", "items=0-5", 200, None),
    ("case-insensitive-unit", "Bytes=10-19", 206, (10, 20)),
    ("long-max-value-last", "bytes=0-9223372036854775807", 206, (0, SIZE)),
    ("long-max-value-mid", f"bytes={S + 1}-9223372036854775807", 206, (S + 1, SIZE)),
    ("huge-suffix", "bytes=-99999999999999999999", 206, (0, SIZE)),
    # RFC 9110 §14.2: an invalid ranges-specifier may be ignored; we ignore it (200, whole).
    ("invalid-reversed", "bytes=5-2", 200, None),
    ("invalid-letters", "bytes=abc", 200, None),
    ("invalid-empty", "bytes=", 200, None),
    ("invalid-dashes", "bytes=--1", 200, None),
    ("invalid-no-equals", "bytes 0-1", 200, None),
]
UNSATISFIABLE = [
    ("start-at-size", f"bytes={SIZE}-"),
    ("past-end", f"bytes={SIZE + 5}-{SIZE + 10}"),
    ("suffix-zero", "bytes=-0"),
    ("huge-first", "bytes=" + "9" * 25 + "-"),
    ("long-max-value-first", "bytes=9223372036854775807-"),
]


@pytest.fixture(params=[True, False], ids=["cache", "passthrough"])
async def proxy(request: pytest.FixtureRequest, make_harness: HarnessFactory) -> Harness:
    harness: Harness = await make_harness(cache=request.param, slice_size=S)
    harness.origin.objects["/f.mp4"] = Obj(DATA)
    return harness


@pytest.fixture(
    params=[(True, True), (False, True), (True, False), (False, False)],
    ids=["cache", "passthrough", "cache-origin-ignores-range", "passthrough-origin-ignores-range"],
)
async def any_proxy(request: pytest.FixtureRequest, make_harness: HarnessFactory) -> Harness:
    """Both paths, against an origin that honours Range and one that answers every range with
    the whole body (200): the client must not see the difference."""
    cache, ranges = request.param
    harness: Harness = await make_harness(cache=cache, slice_size=S)
    harness.origin.objects["/f.mp4"] = Obj(DATA, ranges=ranges)
    return harness


@pytest.mark.parametrize(
    ("range_", "status", "span"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_range_matrix(
    any_proxy: Harness, range_: str | None, status: int, span: tuple[int, int] | None
) -> None:
    headers = {} if range_ is None else {"range": range_}
    with trio.fail_after(10):
        reply = await any_proxy.get(any_proxy.path("/f.mp4"), headers)
    start, stop = span if span is not None else (0, SIZE)
    assert reply.status == status
    assert reply.complete
    assert reply.body == DATA[start:stop]
    assert reply.headers["content-length"] == str(stop - start)
    assert reply.headers["etag"] == '"v1"'
    if status == 206:
        assert reply.headers["content-range"] == f"bytes {start}-{stop - 1}/{SIZE}"
    else:
        assert "content-range" not in reply.headers


@pytest.mark.parametrize("range_", [c[1] for c in UNSATISFIABLE], ids=[c[0] for c in UNSATISFIABLE])
async def test_unsatisfiable(any_proxy: Harness, range_: str) -> None:
    reply = await any_proxy.get(any_proxy.path("/f.mp4"), {"range": range_})
    assert reply.status == 416
    assert json.loads(reply.body)["code"] == "range_not_satisfiable"
    assert reply.headers["content-range"] == f"bytes */{SIZE}"


async def test_head_has_headers_only(any_proxy: Harness) -> None:
    reply = await any_proxy.get(any_proxy.path("/f.mp4"), {"range": "bytes=10-19"}, method="HEAD")
    assert reply.status == 206
    assert reply.body == b""
    assert reply.headers["content-range"] == f"bytes 10-19/{SIZE}"


async def test_if_none_match_gives_304(proxy: Harness) -> None:
    reply = await proxy.get(proxy.path("/f.mp4"), {"if-none-match": '"v1"'})
    assert reply.status == 304
    assert reply.body == b""


async def test_if_range_mismatch_sends_whole(any_proxy: Harness) -> None:
    path = any_proxy.path("/f.mp4")
    stale = await any_proxy.get(path, {"range": "bytes=0-9", "if-range": '"old"'})
    assert (stale.status, len(stale.body)) == (200, SIZE)
    fresh = await any_proxy.get(path, {"range": "bytes=0-9", "if-range": '"v1"'})
    assert (fresh.status, fresh.body) == (206, DATA[:10])


@pytest.mark.parametrize(
    ("range_", "status", "body"),
    [(None, 200, b""), ("bytes=0-", 416, None), ("bytes=-5", 200, b"")],
    ids=["no-range", "from-zero", "suffix"],
)
async def test_zero_length_object(
    proxy: Harness, range_: str | None, status: int, body: bytes | None
) -> None:
    proxy.origin.objects["/empty"] = Obj(b"")
    reply = await proxy.get(proxy.path("/empty"), {} if range_ is None else {"range": range_})
    assert reply.status == status
    if body is not None:
        assert reply.body == body
        assert reply.headers["content-length"] == "0"
    else:
        assert reply.headers["content-range"] == "bytes */0"


async def test_unknown_size_streams_through(proxy: Harness) -> None:
    proxy.origin.objects["/live"] = Obj(DATA, known_size=False)
    whole = await proxy.get(proxy.path("/live"))
    assert (whole.status, whole.body, whole.complete) == (200, DATA, True)
    part = await proxy.get(proxy.path("/live"), {"range": "bytes=10-19"})
    assert (part.status, part.body) == (206, DATA[10:20])
    assert part.headers["content-range"] == "bytes 10-19/*"


async def test_upstream_without_range_or_size_streams_whole(proxy: Harness) -> None:
    proxy.origin.objects["/norange"] = Obj(DATA, ranges=False, known_size=False)
    for _ in range(2):  # the second time the proxy knows and goes straight to pass-through
        reply = await proxy.get(proxy.path("/norange"), {"range": "bytes=10-19"})
        assert (reply.status, reply.body) == (200, DATA)
    if proxy.cache is not None:
        assert proxy.cache.statistics().entries == 0


async def test_small_object_ignoring_range_is_cached_whole(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness(slice_size=S)
    harness.origin.objects["/small"] = Obj(DATA[:100], ranges=False)
    path = harness.path("/small")
    first = await harness.get(path, {"range": "bytes=10-19"})
    second = await harness.get(path, {"range": "bytes=-5"})
    assert (first.status, first.body) == (206, DATA[10:20])
    assert (second.status, second.body) == (206, DATA[95:100])
    assert len(harness.origin.seen) == 1


@pytest.mark.parametrize(
    ("obj", "status", "code"),
    [
        (None, 404, "upstream_not_found"),
        (Obj(b"", status=500), 502, "upstream_error"),
        (Obj(b"", status=403), 502, "upstream_error"),
        (Obj(DATA, delay=3.0), 504, "upstream_timeout"),
    ],
    ids=["404", "500", "403", "timeout"],
)
async def test_upstream_failures(
    make_harness: HarnessFactory, obj: Obj | None, status: int, code: str
) -> None:
    for cache in (True, False):
        harness: Harness = await make_harness(cache=cache, read_timeout=0.3, slice_size=S)
        if obj is not None:
            harness.origin.objects["/x"] = obj
        with trio.fail_after(10):
            reply = await harness.get(harness.path("/x"), {"range": "bytes=0-99"})
        assert reply.status == status
        assert json.loads(reply.body) == {
            "code": code,
            "message": json.loads(reply.body)["message"],
        }


async def test_etag_change_mid_stream_cuts_the_response(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness(slice_size=S)
    obj = Obj(DATA)
    harness.origin.objects["/f"] = obj

    def change_after_third(seen: object) -> None:
        if len(harness.origin.seen) == 3:
            obj.etag = '"v2"'
            obj.data = bytes(reversed(DATA))

    harness.origin.hook = change_after_third
    with trio.fail_after(10):
        reply = await harness.get(harness.path("/f"))
    assert reply.status == 200
    assert not reply.complete  # cut: never a mix of two versions
    assert reply.body == DATA[: 2 * S]
    assert harness.proxy.statistics().cuts == 1
    # The next request sees only the new version.
    again = await harness.get(harness.path("/f"))
    assert (again.complete, again.body, again.headers["etag"]) == (True, obj.data, '"v2"')


async def test_upstream_sees_only_provider_headers(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness(cache=False)
    harness.resolver.headers = (("referer", "https://provider.example/"),)
    harness.origin.objects["/f"] = Obj(DATA)
    await harness.get(
        harness.path("/f"),
        {"range": "bytes=0-9", "cookie": "session=secret", "authorization": "Bearer x", "x-a": "b"},
    )
    seen = harness.origin.seen[-1].headers
    assert seen["referer"] == "https://provider.example/"
    assert seen["range"] == "bytes=0-9"
    assert not {"cookie", "authorization", "x-a"} & set(seen)


async def test_a_cold_suffix_range_fetches_only_the_slices_it_covers(
    make_harness: HarnessFactory,
) -> None:
    harness: Harness = await make_harness(slice_size=S)
    harness.origin.objects["/f.mp4"] = Obj(DATA)
    reply = await harness.get(harness.path("/f.mp4"), {"range": "bytes=-500"})
    assert (reply.status, reply.body) == (206, DATA[-500:])
    assert reply.headers["content-range"] == f"bytes {SIZE - 500}-{SIZE - 1}/{SIZE}"
    # One byte to learn the size, then the two last slices it covers: never slice 0.
    assert harness.origin.ranges_seen("/f.mp4") == [
        "bytes=-1",
        f"bytes={9 * S}-{10 * S - 1}",
        f"bytes={10 * S}-{11 * S - 1}",
    ]
    warm = await harness.get(harness.path("/f.mp4"), {"range": f"bytes=-{S + 200}"})
    assert (warm.status, warm.body) == (206, DATA[-(S + 200) :])
    assert harness.origin.ranges_seen("/f.mp4")[3:] == [f"bytes={8 * S}-{9 * S - 1}"]


async def test_a_cold_suffix_range_of_an_empty_object(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness(slice_size=S)
    harness.origin.objects["/empty"] = Obj(b"")
    reply = await harness.get(harness.path("/empty"), {"range": "bytes=-10"})
    assert (reply.status, reply.body, reply.headers["content-length"]) == (200, b"", "0")


async def test_the_ignores_range_memo_expires(make_harness: HarnessFactory) -> None:
    now = [1_000_000.0]
    harness: Harness = await make_harness(slice_size=S, clock=lambda: now[0])
    obj = Obj(DATA, ranges=False, known_size=False)  # no Range, no size: nothing to cut
    harness.origin.objects["/f"] = obj
    path = harness.path("/f")
    assert (await harness.get(path, {"range": "bytes=0-9"})).status == 200  # streamed whole
    seen = len(harness.origin.seen)
    await harness.get(path, {"range": "bytes=0-9"})  # remembered: no probing request
    assert len(harness.origin.seen) == seen + 1
    obj.ranges = obj.known_size = True  # the upstream is fixed; after the memo's lifetime we
    # try slices again
    now[0] += NO_RANGE_SECONDS
    reply = await harness.get(path, {"range": "bytes=0-9"})
    assert (reply.status, reply.body) == (206, DATA[:10])
    assert harness.origin.ranges_seen("/f")[-1] == f"bytes=0-{S - 1}"
