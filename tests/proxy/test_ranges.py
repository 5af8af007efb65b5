"""Pure Range arithmetic: case tables, and hypothesis for parse/format/resolve/slice invariants."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from synctv.proxy.ranges import (
    MAX_POSITION,
    ByteRangeSpec,
    InvalidRange,
    MultipleRanges,
    RangeError,
    RangeNotSatisfiable,
    RangeSpec,
    Span,
    SuffixRangeSpec,
    answer_range,
    content_range,
    format_range,
    parse_client_range,
    parse_content_range,
    parse_range,
    resolve_range,
    slice_pieces,
    slice_span,
)

PARSE_CASES: list[tuple[str, RangeSpec | None]] = [
    ("bytes=0-0", ByteRangeSpec(0, 0)),
    ("bytes=0-", ByteRangeSpec(0)),
    ("bytes=-5", SuffixRangeSpec(5)),
    ("BYTES=1-2", ByteRangeSpec(1, 2)),
    ("bytes= 1-2 ", ByteRangeSpec(1, 2)),
    ("bytes=1-2,", ByteRangeSpec(1, 2)),
    ("bytes=, 7-", ByteRangeSpec(7)),
    ("items=0-5", None),
    ("x-unit=whatever", None),
    # Clients send Long.MAX_VALUE (19 digits) for "to the end": a huge last-pos is clamped later.
    ("bytes=0-9223372036854775807", ByteRangeSpec(0, MAX_POSITION)),
    ("bytes=" + "9" * 19 + "-", ByteRangeSpec(MAX_POSITION)),
    ("bytes=-" + "9" * 40, SuffixRangeSpec(MAX_POSITION)),
    ("bytes=" + "0" * 30 + "5-0007", ByteRangeSpec(5, 7)),
]
BAD = [
    "",
    "bytes",
    "bytes=",
    "bytes=,",
    "bytes=5-1",
    "bytes=a-b",
    "bytes=1",
    "bytes=--5",
    "bytes=+1-2",
    "bytes=1-2-3",
    "bytes =1-2",
    "=1-2",
    "bytes=1 -2",
    "bytes=-",
    "bytes=0x1-2",
    "bytes=１-2",
]


@pytest.mark.parametrize(("value", "spec"), PARSE_CASES, ids=[c[0] for c in PARSE_CASES])
def test_parse(value: str, spec: RangeSpec | None) -> None:
    assert parse_range(value) == spec


@pytest.mark.parametrize("value", BAD)
def test_invalid_syntax_is_ignored(value: str) -> None:
    """RFC 9110 §14.2: a server MAY ignore an invalid ranges-specifier; we do (200, whole)."""
    with pytest.raises(InvalidRange) as info:
        parse_range(value)
    assert info.value.hint == "ignore"
    assert parse_client_range(value) is None
    assert answer_range(parse_client_range(value), 100).status == 200


@pytest.mark.parametrize(
    ("value", "size", "status", "span", "content_range_"),
    [
        (None, 100, 200, Span(0, 100), None),
        ("bytes=10-5", 100, 200, Span(0, 100), None),
        ("bytes=abc", 100, 200, Span(0, 100), None),
        ("bytes=0-1,4-5", 100, 200, Span(0, 100), None),
        ("bytes=0-9223372036854775807", 100, 206, Span(0, 100), "bytes 0-99/100"),
        ("bytes=90-9223372036854775807", 100, 206, Span(90, 100), "bytes 90-99/100"),
        ("bytes=-9223372036854775807", 100, 206, Span(0, 100), "bytes 0-99/100"),
        ("bytes=100-", 100, 416, Span(0, 0), "bytes */100"),
        ("bytes=" + "9" * 25 + "-", 100, 416, Span(0, 0), "bytes */100"),
        ("bytes=-0", 100, 416, Span(0, 0), "bytes */100"),
        ("bytes=0-", 0, 416, Span(0, 0), "bytes */0"),
        ("bytes=-5", 0, 200, Span(0, 0), None),
    ],
)
def test_answer_range(
    value: str | None, size: int, status: int, span: Span, content_range_: str | None
) -> None:
    answer = answer_range(parse_client_range(value), size)
    assert (answer.status, answer.span, answer.content_range) == (status, span, content_range_)


def test_multiple_ranges_are_ignored() -> None:
    with pytest.raises(MultipleRanges) as info:
        parse_range("bytes=0-1, 4-5")
    assert info.value.hint == "ignore"


@pytest.mark.parametrize(
    ("spec", "size", "span"),
    [
        (ByteRangeSpec(0, 0), 10, Span(0, 1)),
        (ByteRangeSpec(9), 10, Span(9, 10)),
        (ByteRangeSpec(3, 100), 10, Span(3, 10)),
        (SuffixRangeSpec(3), 10, Span(7, 10)),
        (SuffixRangeSpec(30), 10, Span(0, 10)),
        (SuffixRangeSpec(3), 0, Span(0, 0)),
    ],
)
def test_resolve(spec: RangeSpec, size: int, span: Span) -> None:
    assert resolve_range(spec, size) == span


@pytest.mark.parametrize(
    ("spec", "size"),
    [(ByteRangeSpec(10), 10), (ByteRangeSpec(0), 0), (SuffixRangeSpec(0), 10)],
)
def test_unsatisfiable(spec: RangeSpec, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        resolve_range(spec, size)


def test_content_range_round_trip() -> None:
    assert content_range(Span(0, 10), 100) == "bytes 0-9/100"
    assert content_range(Span(5, 6), None) == "bytes 5-5/*"
    parsed = parse_content_range("bytes 0-9/100")
    assert (parsed.span, parsed.size) == (Span(0, 10), 100)
    assert parse_content_range("bytes 5-5/*").size is None


@pytest.mark.parametrize(
    "value", ["bytes 9-0/100", "bytes 0-100/100", "bits 0-1/2", "bytes 0-1", "bytes */100", ""]
)
def test_bad_content_range(value: str) -> None:
    with pytest.raises(RangeError) as info:
        parse_content_range(value)
    assert info.value.hint == "upstream"


specs = st.one_of(
    st.builds(ByteRangeSpec, st.integers(0, 10**17), st.none()),
    st.integers(0, 10**17).flatmap(
        lambda first: st.builds(ByteRangeSpec, st.just(first), st.integers(first, 10**17))
    ),
    st.builds(SuffixRangeSpec, st.integers(0, 10**17)),
)


@given(specs)
def test_format_parse_round_trip(spec: RangeSpec) -> None:
    assert parse_range(format_range(spec)) == spec


@given(st.text(max_size=80))
@example("bytes=\x00-1")
@example("bytes=٣-4")  # a non-ASCII digit: isdigit() but not a position
def test_arbitrary_text_parses_or_raises_range_error(value: str) -> None:
    try:
        parse_range(value)
    except RangeError:
        pass


range_texts = st.one_of(
    st.text(max_size=80),
    st.builds(
        "bytes={}-{}".format,
        st.integers(0, 10**30) | st.just(""),
        st.integers(0, 10**30) | st.just(""),
    ),
    st.builds("bytes=-{}".format, st.integers(0, 10**30)),
)


@given(range_texts, st.integers(0, MAX_POSITION))
@example("bytes=0-9223372036854775807", 10)
@example("bytes=10-5", 100)
@example("bytes=abc", 100)
@example("bytes=" + "1" * 19 + "-", MAX_POSITION)
def test_every_range_gets_a_well_formed_answer(value: str, size: int) -> None:
    """Any header, any size: 200 whole, 206 inside the object, or 416 naming the size."""
    answer = answer_range(parse_client_range(value), size)
    if answer.status == 200:
        assert answer.content_range is None
        assert answer.span in (Span(0, size), Span(0, 0))
    elif answer.status == 206:
        assert 0 <= answer.span.start < answer.span.stop <= size
        assert answer.content_range == content_range(answer.span, size)
        assert parse_content_range(answer.content_range).span == answer.span
    else:
        assert answer.status == 416
        assert answer.content_range == f"bytes */{size}"


@given(st.integers(0, 10**6), st.integers(1, 10**6), st.integers(19, 60))
def test_a_huge_last_position_means_to_the_end(first: int, size: int, digits: int) -> None:
    answer = answer_range(parse_client_range(f"bytes={first}-{'9' * digits}"), size)
    if first >= size:
        assert (answer.status, answer.content_range) == (416, f"bytes */{size}")
    else:
        assert (answer.status, answer.span) == (206, Span(first, size))


@given(st.text(max_size=80))
def test_arbitrary_content_range_parses_or_raises(value: str) -> None:
    try:
        parse_content_range(value)
    except RangeError:
        pass


@given(specs, st.integers(0, 10**6))
def test_resolved_span_is_inside_the_object(spec: RangeSpec, size: int) -> None:
    try:
        span = resolve_range(spec, size)
    except RangeNotSatisfiable:
        return
    assert 0 <= span.start <= span.stop <= size
    if span.length:
        assert parse_content_range(content_range(span, size)).span == span


@given(st.integers(0, 10**9), st.integers(0, 10**5), st.integers(1, 70_000))
def test_slice_pieces_tile_the_span(start: int, length: int, slice_size: int) -> None:
    if length // slice_size > 1000:  # keep each example cheap; the arithmetic is the same
        slice_size = length // 1000 + 1
    span = Span(start, start + length)
    pieces = list(slice_pieces(span, slice_size))
    assert sum(p.length for p in pieces) == length
    position = start
    for piece in pieces:
        covered = slice_span(piece.index, slice_size, None)
        assert covered.start + piece.offset == position
        assert piece.offset + piece.length <= slice_size
        position += piece.length
    assert [p.index for p in pieces] == sorted({p.index for p in pieces})
