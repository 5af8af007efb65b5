"""HTTP byte ranges (RFC 9110 §14): parse ``Range``, resolve it against a size, slice arithmetic.

Pure and sans-IO. Theory of operation: the proxy serves one *span* (a half-open byte interval of
the representation) per response. :func:`parse_range` turns a client's ``Range`` value into a
:data:`RangeSpec` (or ``None`` when the unit is not ``bytes``, which RFC 9110 §14.2 says to
ignore); :func:`resolve_range` turns the spec plus the representation size into a :class:`Span`
or raises :class:`RangeNotSatisfiable` (→ 416); :func:`slice_pieces` maps a span onto the
fixed-size, aligned slices the cache stores, so every client range, however odd, reuses the same
slices. :func:`parse_content_range` reads an upstream 206's ``Content-Range``.
:func:`parse_client_range` + :func:`answer_range` are the whole decision for a client request:
200 (whole), 206 (a span, with its ``Content-Range``) or 416 (with ``Content-Range: bytes */size``).

Decisions (RFC 9110 §14.1.1, §14.2): a syntactically *invalid* ranges-specifier (``bytes=10-5``,
``bytes=abc``, no ``=``) is ignored, and the whole representation is served with 200, as §14.2
allows ("MAY ignore or reject") and as a client that sent garbage can always play; several ranges
are ignored the same way. A *valid* range that selects nothing (first-pos at or past the end, a
zero-length suffix) is unsatisfiable: 416 with ``Content-Range: bytes */size``. Positions are
unbounded in the grammar; clients send Long.MAX_VALUE (19 digits) to mean "to the end", so any
position beyond :data:`MAX_POSITION` counts as :data:`MAX_POSITION` (a last-pos is then clamped
to the end, a first-pos is past any real end, a suffix covers everything).

Errors: every failure is a :class:`RangeError` (a ``RemoteProtocolError``) carrying a hint the
driver acts on: ``"416"`` for an unsatisfiable client range, ``"ignore"`` for a request we do not
honour (invalid syntax: :class:`InvalidRange`; several ranges: :class:`MultipleRanges`; a 200
is the correct answer to both), ``"upstream"`` for an upstream's malformed ``Content-Range``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from synctv.media.errors import RemoteProtocolError

# A Range value longer than this is refused before parsing: real clients send < 100 characters,
# and the bound keeps hostile input cheap.
MAX_RANGE_HEADER_LENGTH = 1024
# Positions are bounded well inside int64 (what upstream servers and HTTP stacks use): a longer
# number (Long.MAX_VALUE, 19 digits, is common) counts as MAX_POSITION instead of becoming a huge
# Python int; no representation is an exabyte long, so the answer is the same.
MAX_POSITION_DIGITS = 18
MAX_POSITION = 999_999_999_999_999_999  # the largest MAX_POSITION_DIGITS-digit number

_DIGITS = frozenset("0123456789")
_OWS = " \t"
# RFC 9110 §5.6.2 tchar: what a range unit may be made of.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class RangeError(RemoteProtocolError):
    """A ``Range``/``Content-Range`` value we cannot honour; ``hint`` says what to answer."""

    def __init__(self, message: str, *, hint: str = "416") -> None:
        super().__init__(message, hint=hint)


class MultipleRanges(RangeError):
    """Several ranges were asked for; we serve the whole representation instead (200)."""

    def __init__(self) -> None:
        super().__init__("multiple ranges are not supported", hint="ignore")


class InvalidRange(RangeError):
    """The ``Range`` value is not a valid ranges-specifier; it is ignored (200, RFC 9110 §14.2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, hint="ignore")


class RangeNotSatisfiable(RangeError):
    """The range lies outside the representation (416 with ``Content-Range: bytes */size``)."""


@dataclass(frozen=True, slots=True)
class ByteRangeSpec:
    """``first-last`` or, with ``last=None``, ``first-`` (to the end)."""

    first: int
    last: int | None = None


@dataclass(frozen=True, slots=True)
class SuffixRangeSpec:
    """``-length``: the last ``length`` bytes."""

    length: int


RangeSpec = ByteRangeSpec | SuffixRangeSpec


@dataclass(frozen=True, slots=True)
class Span:
    """Half-open byte interval ``[start, stop)`` of the representation."""

    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True, slots=True)
class ContentRange:
    """An upstream's ``Content-Range: bytes first-last/size`` (``size`` None for ``*``)."""

    span: Span
    size: int | None


@dataclass(frozen=True, slots=True)
class RangeAnswer:
    """How to answer a request: ``status`` 200, 206 or 416; the ``span`` of the representation
    to send (empty for 416); the ``Content-Range`` header (206 and 416 only)."""

    status: int
    span: Span
    content_range: str | None = None


@dataclass(frozen=True, slots=True)
class SlicePiece:
    """The part of slice ``index`` a span needs: ``[offset, offset + length)`` within it."""

    index: int
    offset: int
    length: int


def parse_range(value: str) -> RangeSpec | None:
    """Parse a ``Range`` header value (RFC 9110 §14.2).

    Returns ``None`` when the range unit is not ``bytes`` (the header must then be ignored).
    Raises :class:`MultipleRanges` for more than one range and :class:`InvalidRange` (hint
    ``ignore``) for anything malformed.
    """
    if len(value) > MAX_RANGE_HEADER_LENGTH:
        raise InvalidRange("Range header too long")
    unit, sep, range_set = value.partition("=")
    if not sep:
        raise InvalidRange("Range header has no '='")
    if unit.lower() != "bytes":
        if not unit or not set(unit) <= _TOKEN:
            raise InvalidRange("malformed range unit")
        return None
    # range-set = 1#range-spec: a comma list whose empty elements are tolerated (RFC 9110 §5.6.1)
    specs = [item.strip(_OWS) for item in range_set.split(",")]
    specs = [item for item in specs if item]
    if not specs:
        raise InvalidRange("empty range set")
    parsed = [_parse_spec(item) for item in specs]
    if len(parsed) > 1:
        raise MultipleRanges()
    return parsed[0]


def _parse_spec(item: str) -> RangeSpec:
    first, sep, last = item.partition("-")
    if not sep:
        raise InvalidRange("range spec has no '-'")
    if not first:
        return SuffixRangeSpec(_client_position(last))
    start = _client_position(first)
    if not last:
        return ByteRangeSpec(start)
    end = _client_position(last)
    if end < start:
        raise InvalidRange("range last-pos is before first-pos")
    return ByteRangeSpec(start, end)


def _client_position(text: str) -> int:
    """A client's position: any run of ASCII digits, saturating at MAX_POSITION."""
    if not text or not set(text) <= _DIGITS:
        raise InvalidRange("range position is not a decimal number")
    significant = text.lstrip("0")
    if len(significant) > MAX_POSITION_DIGITS:
        return MAX_POSITION
    return int(significant or "0")


def _position(text: str) -> int:
    if not text or len(text) > MAX_POSITION_DIGITS or not set(text) <= _DIGITS:
        raise RangeError("range position is not a bounded decimal number")
    return int(text)


def parse_client_range(value: str | None) -> RangeSpec | None:
    """The range a client's ``Range`` header asks for, or ``None`` for "send it all": no
    header, another unit, several ranges, or an invalid one (see the module docstring)."""
    if value is None:
        return None
    try:
        return parse_range(value)
    except RangeError:  # MultipleRanges, InvalidRange: both hint "ignore"
        return None


def answer_range(spec: RangeSpec | None, size: int) -> RangeAnswer:
    """The answer to ``spec`` for a representation of ``size`` bytes (never raises)."""
    if spec is None:
        return RangeAnswer(200, Span(0, size))
    try:
        span = resolve_range(spec, size)
    except RangeNotSatisfiable:
        return RangeAnswer(416, Span(0, 0), unsatisfied_content_range(size))
    if span.length == 0:  # a suffix of an empty representation: nothing a 206 can describe
        return RangeAnswer(200, span)
    return RangeAnswer(206, span, content_range(span, size))


def format_range(spec: RangeSpec) -> str:
    """The canonical ``Range`` header value for a spec (inverse of :func:`parse_range`)."""
    if isinstance(spec, SuffixRangeSpec):
        return f"bytes=-{spec.length}"
    if spec.last is None:
        return f"bytes={spec.first}-"
    return f"bytes={spec.first}-{spec.last}"


def resolve_range(spec: RangeSpec, size: int) -> Span:
    """The span a spec selects from a representation of ``size`` bytes (RFC 9110 §14.1.2).

    ``last`` beyond the end is clamped; a suffix longer than the representation selects all of
    it. Raises :class:`RangeNotSatisfiable` when ``first >= size`` or the suffix is empty. A
    non-empty suffix of an empty representation is satisfiable but selects nothing: the caller
    answers 200 (a 206 cannot describe zero bytes).
    """
    if isinstance(spec, SuffixRangeSpec):
        if spec.length == 0:
            raise RangeNotSatisfiable("suffix range of zero length")
        return Span(max(0, size - spec.length), size)
    if spec.first >= size:
        raise RangeNotSatisfiable(f"range starts at {spec.first}, size is {size}")
    stop = size if spec.last is None else min(spec.last + 1, size)
    return Span(spec.first, stop)


def content_range(span: Span, size: int | None) -> str:
    """``Content-Range`` for a 206 carrying ``span`` (``span`` must be non-empty)."""
    total = "*" if size is None else str(size)
    return f"bytes {span.start}-{span.stop - 1}/{total}"


def unsatisfied_content_range(size: int) -> str:
    """``Content-Range`` for a 416 (RFC 9110 §14.4)."""
    return f"bytes */{size}"


def parse_content_range(value: str) -> ContentRange:
    """Parse an upstream's ``Content-Range: bytes first-last/(size|*)``; hint ``upstream``."""
    if len(value) > MAX_RANGE_HEADER_LENGTH:
        raise RangeError("Content-Range too long", hint="upstream")
    unit, _, rest = value.strip(_OWS).partition(" ")
    positions, slash, total = rest.strip(_OWS).partition("/")
    first, dash, last = positions.partition("-")
    if unit.lower() != "bytes" or not slash or not dash:
        raise RangeError(f"malformed Content-Range {value!r}", hint="upstream")
    try:
        start, end = _position(first), _position(last)
        size = None if total == "*" else _position(total)
    except RangeError:
        raise RangeError(f"malformed Content-Range {value!r}", hint="upstream") from None
    if end < start or (size is not None and end >= size):
        raise RangeError(f"inconsistent Content-Range {value!r}", hint="upstream")
    return ContentRange(Span(start, end + 1), size)


def slice_span(index: int, slice_size: int, size: int | None) -> Span:
    """The bytes slice ``index`` covers; the last slice is short when ``size`` is known."""
    start = index * slice_size
    stop = start + slice_size
    return Span(start, stop if size is None else min(stop, size))


def slice_pieces(span: Span, slice_size: int) -> Iterator[SlicePiece]:
    """The aligned slices covering ``span``, with the part of each the span needs, in order."""
    if slice_size <= 0:
        raise ValueError("slice_size must be positive")
    position = span.start
    while position < span.stop:
        index, offset = divmod(position, slice_size)
        length = min(slice_size - offset, span.stop - position)
        yield SlicePiece(index, offset, length)
        position += length
