"""The plain HTTP/1.1 codec (synctv.api.http.h1): case tables, prefixes, trailing bytes,
hypothesis, and h11 and http.client as independent oracles for requests and responses."""

from __future__ import annotations

import http.client
import io
import re
import socket
from typing import Any, cast

import h11
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from synctv.api.http.h1 import (
    HANDOVER_KINDS,
    LAST_CHUNK,
    MAX_HEAD_BYTES,
    NotServedHere,
    RequestHead,
    ResponseFraming,
    ResponseHeadError,
    chunk,
    parse_request_head,
    response_head,
)

DATE = b"Sun, 06 Dec 2026 04:50:57 GMT"


def head(
    wire: bytes,
    method: str = "GET",
    raw_path: bytes = b"/",
    query_string: bytes = b"",
    http_version: str = "1.1",
    headers: list[tuple[bytes, bytes]] | None = None,
    content_length: int = 0,
    keep_alive: bool = True,
) -> RequestHead:
    return RequestHead(
        method,
        raw_path,
        query_string,
        http_version,
        [(b"host", b"a")] if headers is None else headers,
        content_length,
        keep_alive,
        len(wire),
    )


def case(name: str, wire: bytes, **fields: Any) -> tuple[str, bytes, RequestHead]:
    return name, wire, head(wire, **fields)


HOST = b"Host: a\r\n"

ACCEPTED = [
    case(
        "get_with_query",
        b"GET /search?q=a&b=%20c HTTP/1.1\r\nHost: example.com\r\n\r\n",
        raw_path=b"/search",
        query_string=b"q=a&b=%20c",
        headers=[(b"host", b"example.com")],
    ),
    case(
        "query_keeps_later_question_marks",
        b"GET /a?b?c HTTP/1.1\r\n" + HOST + b"\r\n",
        raw_path=b"/a",
        query_string=b"b?c",
    ),
    case("empty_query", b"GET /a? HTTP/1.1\r\n" + HOST + b"\r\n", raw_path=b"/a"),
    case(
        "post_with_content_length",
        b"POST /api/rooms HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
        b"Content-Length: 13\r\n\r\n",
        method="POST",
        raw_path=b"/api/rooms",
        headers=[
            (b"host", b"a"),
            (b"content-type", b"application/json"),
            (b"content-length", b"13"),
        ],
        content_length=13,
    ),
    case(
        "content_length_zero",
        b"PUT / HTTP/1.1\r\n" + HOST + b"Content-Length: 0\r\n\r\n",
        method="PUT",
        headers=[(b"host", b"a"), (b"content-length", b"0")],
    ),
    case(
        "content_length_leading_zeros",
        b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 007\r\n\r\n",
        method="POST",
        headers=[(b"host", b"a"), (b"content-length", b"007")],
        content_length=7,
    ),
    case(
        "content_length_eighteen_digits",
        b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 999999999999999999\r\n\r\n",
        method="POST",
        headers=[(b"host", b"a"), (b"content-length", b"999999999999999999")],
        content_length=999_999_999_999_999_999,
    ),
    case(
        "http10_without_host",
        b"GET / HTTP/1.0\r\n\r\n",
        http_version="1.0",
        headers=[],
        keep_alive=False,
    ),
    case(
        "http10_with_host",
        b"GET / HTTP/1.0\r\n" + HOST + b"\r\n",
        http_version="1.0",
        keep_alive=False,
    ),
    case(
        "http10_keep_alive_token_still_closes",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        http_version="1.0",
        headers=[(b"connection", b"keep-alive")],
        keep_alive=False,
    ),
    case(
        "connection_close",
        b"GET / HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n",
        headers=[(b"host", b"a"), (b"connection", b"close")],
        keep_alive=False,
    ),
    case(
        "connection_keep_alive",
        b"GET / HTTP/1.1\r\n" + HOST + b"Connection: keep-alive\r\n\r\n",
        headers=[(b"host", b"a"), (b"connection", b"keep-alive")],
    ),
    case(
        "connection_tokens_any_case_and_spacing",
        b"GET / HTTP/1.1\r\n" + HOST + b"Connection: Keep-Alive ,  CLOSE\r\n\r\n",
        headers=[(b"host", b"a"), (b"connection", b"Keep-Alive ,  CLOSE")],
        keep_alive=False,
    ),
    case(
        "connection_token_close_is_whole_token",
        b"GET / HTTP/1.1\r\n" + HOST + b"Connection: closed, te\r\n\r\n",
        headers=[(b"host", b"a"), (b"connection", b"closed, te")],
    ),
    case(
        "names_lowered_values_kept",
        b"GET / HTTP/1.1\r\nHoSt: a\r\nX-Custom-HEADER: MiXeD\r\n\r\n",
        headers=[(b"host", b"a"), (b"x-custom-header", b"MiXeD")],
    ),
    case(
        "ows_stripped",
        b"GET / HTTP/1.1\r\nHost:   a \t\r\nX-A:\tb c\t \r\n\r\n",
        headers=[(b"host", b"a"), (b"x-a", b"b c")],
    ),
    case(
        "empty_values",
        b"GET / HTTP/1.1\r\n" + HOST + b"X-A:\r\nX-B: \t \r\n\r\n",
        headers=[(b"host", b"a"), (b"x-a", b""), (b"x-b", b"")],
    ),
    case(
        "obs_text_in_value",
        b"GET / HTTP/1.1\r\n" + HOST + b"X-Name: caf\xc3\xa9 \xff\x80\r\n\r\n",
        headers=[(b"host", b"a"), (b"x-name", b"caf\xc3\xa9 \xff\x80")],
    ),
    case(
        "tab_inside_value",
        b"GET / HTTP/1.1\r\n" + HOST + b"X-T: a\tb \t c\r\n\r\n",
        headers=[(b"host", b"a"), (b"x-t", b"a\tb \t c")],
    ),
    case(
        "percent_encoded_path_kept_raw",
        b"GET /r/%E4%BD%A0/a%2Fb HTTP/1.1\r\n" + HOST + b"\r\n",
        raw_path=b"/r/%E4%BD%A0/a%2Fb",
    ),
    case(
        "repeated_fields_kept_in_order",
        b"GET / HTTP/1.1\r\nAccept: a\r\n" + HOST + b"Accept: b\r\n\r\n",
        headers=[(b"accept", b"a"), (b"host", b"a"), (b"accept", b"b")],
    ),
    case(
        "extension_method",
        b"M-SEARCH /x HTTP/1.1\r\n" + HOST + b"\r\n",
        method="M-SEARCH",
        raw_path=b"/x",
    ),
    case(
        "target_all_visible_ascii",
        b"GET /" + bytes(range(0x21, 0x7F)) + b" HTTP/1.1\r\n" + HOST + b"\r\n",
        raw_path=b"/" + bytes(range(0x21, 0x3F)),
        query_string=bytes(range(0x40, 0x7F)),
    ),
]


def padded_head(size: int) -> bytes:
    """A valid head of exactly ``size`` bytes."""
    start = b"GET / HTTP/1.1\r\n" + HOST + b"X-Pad: "
    return start + b"p" * (size - len(start) - 4) + b"\r\n\r\n"


NOT_SERVED = [
    ("transfer_encoding", b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"),
    ("transfer_encoding_any_case", b"POST / HTTP/1.1\r\n" + HOST + b"TRANSFER-encoding: x\r\n\r\n"),
    ("expect", b"POST / HTTP/1.1\r\n" + HOST + b"Expect: 100-continue\r\n\r\n"),
    ("upgrade", b"GET / HTTP/1.1\r\n" + HOST + b"Upgrade: websocket\r\n\r\n"),
    ("connection_upgrade", b"GET / HTTP/1.1\r\n" + HOST + b"Connection: Upgrade\r\n\r\n"),
    (
        "connection_upgrade_among_tokens",
        b"GET / HTTP/1.1\r\n" + HOST + b"Connection: keep-alive, upgrade\r\n\r\n",
    ),
    ("http2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ("absolute_form", b"GET http://example.com/ HTTP/1.1\r\n" + HOST + b"\r\n"),
    ("authority_form", b"CONNECT example.com:443 HTTP/1.1\r\n" + HOST + b"\r\n"),
    ("asterisk_form", b"OPTIONS * HTTP/1.1\r\n" + HOST + b"\r\n"),
    ("http09", b"GET / HTTP/0.9\r\n" + HOST + b"\r\n"),
    ("http20", b"GET / HTTP/2.0\r\n" + HOST + b"\r\n"),
    ("http12", b"GET / HTTP/1.2\r\n" + HOST + b"\r\n"),
    ("version_lowercase", b"GET / http/1.1\r\n" + HOST + b"\r\n"),
    ("no_version", b"GET /\r\n" + HOST + b"\r\n"),
    ("double_space_in_request_line", b"GET  / HTTP/1.1\r\n" + HOST + b"\r\n"),
    ("tab_in_request_line", b"GET\t/ HTTP/1.1\r\n" + HOST + b"\r\n"),
    ("trailing_space_in_request_line", b"GET / HTTP/1.1 \r\n" + HOST + b"\r\n"),
    ("method_not_a_token", b"GE(T / HTTP/1.1\r\n" + HOST + b"\r\n"),
    ("obs_text_in_target", b"GET /\xff HTTP/1.1\r\n" + HOST + b"\r\n"),
    ("missing_host_on_11", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"),
    ("two_hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
    ("two_hosts_on_10", b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"),
    (
        "two_content_lengths",
        b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\n",
    ),
    ("content_length_list", b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 5, 5\r\n\r\n"),
    ("content_length_not_digits", b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: abc\r\n\r\n"),
    ("content_length_plus", b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: +5\r\n\r\n"),
    ("content_length_minus", b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: -1\r\n\r\n"),
    ("content_length_hex", b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 0x5\r\n\r\n"),
    ("content_length_empty", b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length:\r\n\r\n"),
    (
        "content_length_nineteen_digits",
        b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 1000000000000000000\r\n\r\n",
    ),
    ("obs_fold", b"GET / HTTP/1.1\r\n" + HOST + b"X-A: a\r\n b\r\n\r\n"),
    ("obs_fold_tab", b"GET / HTTP/1.1\r\n" + HOST + b"X-A: a\r\n\tb\r\n\r\n"),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
    ("empty_field_name", b"GET / HTTP/1.1\r\n" + HOST + b": a\r\n\r\n"),
    ("field_name_not_a_token", b"GET / HTTP/1.1\r\n" + HOST + b"X(A): b\r\n\r\n"),
    ("line_without_colon", b"GET / HTTP/1.1\r\n" + HOST + b"X-A\r\n\r\n"),
    ("ctl_in_value", b"GET / HTTP/1.1\r\n" + HOST + b"X-A: a\x01b\r\n\r\n"),
    ("del_in_value", b"GET / HTTP/1.1\r\n" + HOST + b"X-A: a\x7fb\r\n\r\n"),
    ("nul_in_value", b"GET / HTTP/1.1\r\n" + HOST + b"X-A: a\x00b\r\n\r\n"),
    ("lone_cr_in_value", b"GET / HTTP/1.1\r\n" + HOST + b"X-A: a\rb\r\n\r\n"),
    ("bare_lf_line_ends", b"GET / HTTP/1.1\nHost: a\n\n"),
    ("bare_lf_then_crlf_blank_line", b"GET / HTTP/1.1\r\nHost: a\n\r\n"),
    ("bare_lf_before_crlf_end", b"GET / HTTP/1.1\nHost: a\r\n\r\n"),
    ("leading_empty_line", b"\r\nGET / HTTP/1.1\r\n" + HOST + b"\r\n"),
    ("leading_bare_lf", b"\nGET / HTTP/1.1\r\n" + HOST + b"\r\n"),
    ("only_a_blank_line", b"\r\n\r\n"),
    ("head_over_limit_complete", padded_head(MAX_HEAD_BYTES + 1)),
    ("head_over_limit_incomplete", padded_head(MAX_HEAD_BYTES + 100)[:-4]),
]


@pytest.mark.parametrize(
    ("wire", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_accepted_heads(wire: bytes, expected: RequestHead) -> None:
    assert parse_request_head(wire) == expected
    assert parse_request_head(bytearray(wire)) == expected


@pytest.mark.parametrize(
    ("wire", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_h11_reads_accepted_heads_alike(wire: bytes, expected: RequestHead) -> None:
    assert_h11_agrees(wire, expected)


@pytest.mark.parametrize(
    ("wire", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_every_proper_prefix_is_incomplete(wire: bytes, expected: RequestHead) -> None:
    for end in range(len(wire)):
        assert parse_request_head(wire[:end]) is None, wire[:end]


@pytest.mark.parametrize(
    "trailing",
    [
        b"x",
        b"hello world",
        b"\r\n\r\n",
        b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\x00\xff" * 9000,
    ],
    ids=["one_byte", "body", "blank_lines", "pipelined_request", "large_binary"],
)
@pytest.mark.parametrize(
    ("wire", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_trailing_bytes_are_left(wire: bytes, expected: RequestHead, trailing: bytes) -> None:
    parsed = parse_request_head(wire + trailing)
    assert parsed == expected
    assert parsed is not None
    assert parsed.size == len(wire)


# Why each NOT_SERVED case goes to hypercorn (the metric's label); every other case: malformed.
HANDOVER_KIND = {
    "transfer_encoding": "chunked_body",
    "transfer_encoding_any_case": "chunked_body",
    "expect": "expect",
    "upgrade": "upgrade",
    "connection_upgrade": "upgrade",
    "connection_upgrade_among_tokens": "upgrade",
    "http2_preface": "http2",
    "head_over_limit_complete": "too_large",
    "head_over_limit_incomplete": "too_large",
}


@pytest.mark.parametrize(("name", "wire"), NOT_SERVED, ids=[c[0] for c in NOT_SERVED])
def test_each_handover_says_why(name: str, wire: bytes) -> None:
    with pytest.raises(NotServedHere) as refused:
        parse_request_head(wire)
    assert refused.value.kind == HANDOVER_KIND.get(name, "malformed")
    assert refused.value.kind in HANDOVER_KINDS


@pytest.mark.parametrize("wire", [c[1] for c in NOT_SERVED], ids=[c[0] for c in NOT_SERVED])
def test_not_served_here(wire: bytes) -> None:
    with pytest.raises(NotServedHere):
        parse_request_head(wire)
    with pytest.raises(NotServedHere):
        parse_request_head(wire + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert_prefixes_consistent(wire)


def test_head_of_exactly_the_limit_is_served() -> None:
    wire = padded_head(MAX_HEAD_BYTES)
    assert len(wire) == MAX_HEAD_BYTES
    parsed = parse_request_head(wire + b"body")
    assert parsed is not None
    assert parsed.size == MAX_HEAD_BYTES
    assert parse_request_head(wire[:-1]) is None


def test_incomplete_head_over_the_limit_is_refused_at_the_first_byte_over() -> None:
    wire = padded_head(MAX_HEAD_BYTES * 2)
    assert parse_request_head(wire[:MAX_HEAD_BYTES]) is None
    with pytest.raises(NotServedHere):
        parse_request_head(wire[: MAX_HEAD_BYTES + 1])


@pytest.mark.parametrize(
    ("wire", "first_refused"),
    [
        (b"\r", 1),
        (b"\nGET", 1),
        (b"GET / HTTP/1.1\n\n", 16),
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", 26),
    ],
    ids=["leading_cr", "leading_lf", "bare_lf_blank_line", "bare_lf_then_crlf"],
)
def test_refused_as_soon_as_the_bytes_decide(wire: bytes, first_refused: int) -> None:
    for end in range(first_refused):
        assert parse_request_head(wire[:end]) is None
    with pytest.raises(NotServedHere):
        parse_request_head(wire[:first_refused])


# --- helpers: prefix consistency and the h11 oracle ----------------------------------------------


def outcome(data: bytes) -> RequestHead | type[NotServedHere] | None:
    try:
        return parse_request_head(data)
    except NotServedHere:
        return NotServedHere


def assert_prefixes_consistent(data: bytes) -> None:
    """Once a prefix is decided (a head or refused), every longer prefix decides the same."""
    decided: RequestHead | type[NotServedHere] | None = None
    for end in range(len(data) + 1):
        result = outcome(data[:end])
        if decided is not None:
            assert result == decided, (data[:end], result, decided)
        elif result is not None:
            decided = result


def assert_h11_agrees(data: bytes, expected: RequestHead) -> None:
    """h11 (hypercorn's parser) reads ``data`` to the same request and the same keep-alive."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    event = conn.next_event()
    assert isinstance(event, h11.Request)
    target = expected.raw_path + (b"?" + expected.query_string if b"?" in event.target else b"")
    assert event.method == expected.method.encode()
    assert event.target == target
    assert event.http_version == expected.http_version.encode()
    assert list(event.headers) == expected.headers
    conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"0")]))
    conn.send(h11.EndOfMessage())
    assert (conn.our_state is h11.DONE) == expected.keep_alive


# --- hypothesis: arbitrary and near-miss bytes ---------------------------------------------------

FRAGMENTS = [
    b"GET",
    b"POST",
    b" ",
    b"/",
    b"/a?b",
    b"*",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"\r\n",
    b"\n",
    b"\r",
    b"Host",
    b"host",
    b":",
    b": ",
    b"a",
    b"Content-Length",
    b"5",
    b"-1",
    b"Connection",
    b"close",
    b"upgrade",
    b"Transfer-Encoding",
    b"Expect",
    b"\t",
    b"\x00",
    b"\xff",
    b"\x7f",
    b",",
    b"\r\n\r\n",
]
near_misses = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=3), max_size=40).map(
    b"".join
)
H11_COMPLETE = re.compile(rb"\n\r?\n")  # h11's blank line: it parses the head once this is in


# --- hypothesis: generated valid requests --------------------------------------------------------

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
SPECIAL_NAMES = {
    b"host",
    b"content-length",
    b"connection",
    b"transfer-encoding",
    b"expect",
    b"upgrade",
}
tokens = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12).map(str.encode)
field_names = tokens.filter(lambda name: name.lower() not in SPECIAL_NAMES)
field_vchars = st.text(
    alphabet=[chr(c) for c in (*range(0x21, 0x7F), *range(0x80, 0x100))], min_size=1, max_size=8
).map(lambda text: text.encode("latin-1"))
whitespace = st.lists(st.sampled_from([b" ", b"\t"]), min_size=1, max_size=3).map(b"".join)
ows = st.lists(st.sampled_from([b" ", b"\t"]), max_size=3).map(b"".join)


@st.composite
def field_values(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return b""
    parts = [draw(field_vchars)]
    for _ in range(draw(st.integers(0, 3))):
        parts += [draw(whitespace), draw(field_vchars)]
    return b"".join(parts)


targets = st.text(alphabet=[chr(c) for c in range(0x21, 0x7F)], max_size=40).map(
    lambda rest: b"/" + rest.encode()
)


@st.composite
def valid_requests(draw: st.DrawFn) -> tuple[bytes, RequestHead]:
    method = draw(tokens)
    target = draw(targets)
    version = draw(st.sampled_from(["1.0", "1.1"]))
    fields = draw(st.lists(st.tuples(field_names, field_values()), max_size=8))
    if version == "1.1" or draw(st.booleans()):
        host = draw(st.sampled_from([b"Host", b"host", b"HOST"]))
        fields.insert(draw(st.integers(0, len(fields))), (host, draw(field_values())))
    content_length = 0
    if draw(st.booleans()):
        content_length = draw(st.integers(0, 10**18 - 1))
        name = draw(st.sampled_from([b"Content-Length", b"content-length"]))
        fields.insert(draw(st.integers(0, len(fields))), (name, b"%d" % content_length))
    close = version == "1.0"
    if draw(st.booleans()):
        connection = draw(
            st.sampled_from(
                [b"keep-alive", b"close", b"Close", b"keep-alive, close", b"te, keep-alive", b"TE"]
            )
        )
        close = close or b"close" in connection.lower()
        fields.insert(draw(st.integers(0, len(fields))), (b"Connection", connection))
    lines = [method + b" " + target + b" HTTP/" + version.encode()]
    lines += [name + b":" + draw(ows) + value + draw(ows) for name, value in fields]
    wire = b"\r\n".join(lines) + b"\r\n\r\n"
    path, _, query = target.partition(b"?")
    expected = RequestHead(
        method.decode(),
        path,
        query,
        version,
        [(name.lower(), value) for name, value in fields],
        content_length,
        not close,
        len(wire),
    )
    return wire, expected


@given(valid_requests(), st.binary(max_size=20), st.data())
def test_generated_requests_parse_back(
    request: tuple[bytes, RequestHead], trailing: bytes, data: st.DataObject
) -> None:
    wire, expected = request
    assert parse_request_head(wire + trailing) == expected
    split = data.draw(st.integers(0, len(wire) - 1), label="split")
    assert parse_request_head(wire[:split]) is None
    assert parse_request_head(wire[: len(wire) - 1]) is None
    assert_h11_agrees(wire, expected)


@st.composite
def mutated_requests(draw: st.DrawFn) -> bytes:
    """A valid head with one CRLF made a bare LF, or one byte replaced, inserted or deleted."""
    wire = draw(valid_requests())[0]
    if draw(st.booleans()):
        at = draw(st.sampled_from([match.start() for match in re.finditer(b"\r\n", wire)]))
        return wire[:at] + wire[at + 1 :]
    at = draw(st.integers(0, len(wire) - 1))
    byte = draw(st.sampled_from([b"\r", b"\n", b" ", b"\t", b":", b"\x00", b"\x7f", b"\xff", b""]))
    return wire[:at] + byte + wire[at + draw(st.integers(0, 1)) :]


@given(st.binary(max_size=300) | near_misses | mutated_requests())
@example(b"GET / HTTP/1.1\r\nHost: a\n\r\n")
@example(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
@example(b"GET / HTTP/1.0\r\n\r\n")
def test_arbitrary_bytes_give_a_head_none_or_not_served_here(data: bytes) -> None:
    result = outcome(data)  # any other exception fails the test
    assert_prefixes_consistent(data)
    if isinstance(result, RequestHead):
        assert_h11_agrees(data[: result.size], result)
    if H11_COMPLETE.search(data):
        assert result is not None  # h11 (hypercorn) would answer: never wait for more bytes


# --- response heads ------------------------------------------------------------------------------


def fields_of(head_bytes: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    assert head_bytes.endswith(b"\r\n\r\n")
    status_line, *lines = head_bytes[:-4].split(b"\r\n")
    pairs = [line.partition(b": ") for line in lines]
    return status_line, [(name, value) for name, _, value in pairs]


def names_of(head_bytes: bytes) -> list[bytes]:
    return [name for name, _ in fields_of(head_bytes)[1]]


def build(
    status: int = 200,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    method: str = "GET",
    http_version: str = "1.1",
    keep_alive: bool = True,
    body: bytes | None = b"",
) -> ResponseFraming:
    return response_head(
        status,
        [] if headers is None else headers,
        date=DATE,
        method=method,
        http_version=http_version,
        keep_alive=keep_alive,
        body_if_complete=body,
    )


def test_simple_response_head() -> None:
    framing = build(200, [(b"Content-Type", b"application/json")], body=b"{}")
    assert framing == ResponseFraming(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n"
        b"date: " + DATE + b"\r\n\r\n",
        chunked=False,
        content_length=2,
        no_body=False,
        close=False,
    )


RESPONSE_CASES = [
    # name, build kwargs, (chunked, content_length, no_body, close), fields present, absent
    (
        "complete_body",
        {"body": b"abc"},
        (False, 3, False, False),
        [b"content-length"],
        [b"transfer-encoding", b"connection"],
    ),
    (
        "streamed_11_chunked",
        {"body": None},
        (True, None, False, False),
        [b"transfer-encoding"],
        [b"content-length", b"connection"],
    ),
    (
        "streamed_10_close_delimited",
        {"body": None, "http_version": "1.0", "keep_alive": False},
        (False, None, False, True),
        [b"connection"],
        [b"content-length", b"transfer-encoding"],
    ),
    (
        "declared_length_streamed",
        {"body": None, "headers": [(b"Content-Length", b" 10 ")]},
        (False, 10, False, False),
        [b"content-length"],
        [b"transfer-encoding"],
    ),
    (
        "head_declared",
        {"method": "HEAD", "headers": [(b"content-length", b"42")]},
        (False, 42, True, False),
        [b"content-length"],
        [b"transfer-encoding"],
    ),
    (
        "head_complete_body_not_counted",
        {"method": "HEAD", "body": b""},
        (False, None, True, False),
        [b"transfer-encoding"],
        [b"content-length"],
    ),
    (
        "head_10",
        {"method": "HEAD", "body": None, "http_version": "1.0", "keep_alive": False},
        (False, None, True, True),
        [b"connection"],
        [b"content-length", b"transfer-encoding"],
    ),
    (
        "status_204",
        {"status": 204, "body": b""},
        (False, None, True, False),
        [],
        [b"content-length", b"transfer-encoding"],
    ),
    (
        "status_304_streamed",
        {"status": 304, "body": None},
        (False, None, True, False),
        [],
        [b"content-length", b"transfer-encoding"],
    ),
    (
        "status_304_declared",
        {"status": 304, "headers": [(b"content-length", b"7")]},
        (False, 7, True, False),
        [b"content-length"],
        [b"transfer-encoding"],
    ),
    (
        "status_1xx",
        {"status": 103, "body": None},
        (False, None, True, False),
        [],
        [b"content-length", b"transfer-encoding"],
    ),
    (
        "not_keep_alive",
        {"keep_alive": False, "body": b"x"},
        (False, 1, False, True),
        [b"connection"],
        [],
    ),
    (
        "app_connection_close",
        {"headers": [(b"Connection", b"Close")], "body": b"x"},
        (False, 1, False, True),
        [b"connection"],
        [],
    ),
    (
        "app_connection_keep_alive_dropped",
        {"headers": [(b"connection", b"keep-alive")]},
        (False, 0, False, False),
        [],
        [b"connection"],
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "framing", "present", "absent"),
    [c[1:] for c in RESPONSE_CASES],
    ids=[c[0] for c in RESPONSE_CASES],
)
def test_response_framing(
    kwargs: dict[str, Any],
    framing: tuple[bool, int | None, bool, bool],
    present: list[bytes],
    absent: list[bytes],
) -> None:
    result = build(**kwargs)
    assert (result.chunked, result.content_length, result.no_body, result.close) == framing
    names = names_of(result.head)
    for name in present:
        assert names.count(name) == 1
    for name in absent:
        assert name not in names
    assert names.count(b"date") == 1
    connection = [value for name, value in fields_of(result.head)[1] if name == b"connection"]
    assert connection == ([b"close"] if result.close else [])


def test_app_date_and_connection_are_not_duplicated() -> None:
    framing = build(
        headers=[
            (b"Date", b"Thu, 01 Jan 1970 00:00:00 GMT"),
            (b"Connection", b"close"),
            (b"connection", b"close"),
            (b"X-A", b"1"),
        ],
        body=b"",
    )
    _, fields = fields_of(framing.head)
    assert [value for name, value in fields if name == b"date"] == [DATE]
    assert [value for name, value in fields if name == b"connection"] == [b"close"]
    assert (b"x-a", b"1") in fields


def test_unknown_status_has_an_empty_reason() -> None:
    assert build(599).head.startswith(b"HTTP/1.1 599 \r\n")
    assert build(418).head.startswith(b"HTTP/1.1 418 I'm a Teapot\r\n")


@pytest.mark.parametrize("status", [0, 99, 1000, -200])
def test_status_outside_three_digits_raises(status: int) -> None:
    with pytest.raises(ResponseHeadError):
        build(status)


@pytest.mark.parametrize(
    "value",
    [b"a\rb", b"a\nb", b"a\r\nx-injected: 1", b"\x00", b"a\x00", b"\n", b"a\x0bb", b"\x7f"],
    ids=["cr", "lf", "crlf_split", "nul", "trailing_nul", "lone_lf", "vertical_tab", "del"],
)
def test_unsafe_value_raises(value: bytes) -> None:
    with pytest.raises(ResponseHeadError):
        build(headers=[(b"x-a", value)])


@pytest.mark.parametrize(
    "name",
    [b"", b"a b", b"a:b", b"x\r\n", b"\xff", b"a\x00", b"(a)", b"x-a\t"],
    ids=["empty", "space", "colon", "crlf", "obs_text", "nul", "parens", "tab"],
)
def test_bad_name_raises(name: bytes) -> None:
    with pytest.raises(ResponseHeadError):
        build(headers=[(name, b"v")])


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-length", b"1"), (b"content-length", b"1")],
        [(b"Content-Length", b"1"), (b"content-length", b"2")],
        [(b"content-length", b"abc")],
        [(b"content-length", b"-1")],
        [(b"content-length", b"1, 1")],
        [(b"content-length", b"")],
        [(b"transfer-encoding", b"chunked")],
    ],
    ids=[
        "repeated_same",
        "repeated_differing",
        "not_digits",
        "negative",
        "list",
        "empty",
        "app_transfer_encoding",
    ],
)
def test_unwritable_framing_fields_raise(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(ResponseHeadError):
        build(headers=headers)


def test_chunks() -> None:
    assert chunk(b"hello") == b"5\r\nhello\r\n"
    assert chunk(b"x" * 255) == b"ff\r\n" + b"x" * 255 + b"\r\n"
    assert LAST_CHUNK == b"0\r\n\r\n"


# --- hypothesis: response heads against h11 and http.client --------------------------------------

app_field_names = tokens.filter(
    lambda name: (
        name.lower() not in {b"content-length", b"transfer-encoding", b"connection", b"date"}
    )
)
statuses = st.integers(100, 999).filter(lambda status: status not in (100, 101))


@st.composite
def responses(
    draw: st.DrawFn,
) -> tuple[int, list[tuple[bytes, bytes]], str, str, bool, list[bytes], bool]:
    status = draw(statuses)
    fields = draw(st.lists(st.tuples(app_field_names, field_values()), max_size=6))
    pieces = draw(st.lists(st.binary(min_size=1, max_size=30), max_size=3))
    declared = draw(st.booleans())
    if declared:
        name = draw(st.sampled_from([b"Content-Length", b"content-length"]))
        fields.insert(draw(st.integers(0, len(fields))), (name, b"%d" % sum(map(len, pieces))))
    for name in (b"Date", b"Connection"):
        if draw(st.booleans()):
            value = draw(st.sampled_from([b"close", b"keep-alive", DATE]))
            fields.insert(draw(st.integers(0, len(fields))), (name, value))
    method = draw(st.sampled_from(["GET", "HEAD", "POST"]))
    version = draw(st.sampled_from(["1.0", "1.1"]))
    keep_alive = draw(st.booleans())
    one_message = draw(st.booleans())
    return status, fields, method, version, keep_alive, pieces, one_message


def wire_body(framing: ResponseFraming, pieces: list[bytes]) -> bytes:
    """The body bytes the driver writes after the head (h1_server's framing)."""
    if framing.no_body:
        return b""
    if framing.chunked:
        return b"".join(chunk(piece) for piece in pieces) + LAST_CHUNK
    return b"".join(pieces)


class _Socket:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self._data)


@given(responses())
def test_generated_responses(
    response: tuple[int, list[tuple[bytes, bytes]], str, str, bool, list[bytes], bool],
) -> None:
    status, fields, method, version, keep_alive, pieces, one_message = response
    body = b"".join(pieces)
    framing = response_head(
        status,
        fields,
        date=DATE,
        method=method,
        http_version=version,
        keep_alive=keep_alive,
        body_if_complete=body if one_message else None,
    )
    lowered = [(name.lower(), value) for name, value in fields]
    declared = [value for name, value in lowered if name == b"content-length"]
    app_close = any(name == b"connection" and b"close" in value for name, value in lowered)
    bodiless_status = status < 200 or status in (204, 304)
    status_line, written = fields_of(framing.head)
    names = [name for name, _ in written]

    assert status_line.startswith(b"HTTP/1.1 %d " % status)
    assert framing.no_body == (method == "HEAD" or bodiless_status)
    assert names.count(b"date") == 1
    assert (b"date", DATE) in written
    assert names.count(b"connection") == (1 if framing.close else 0)
    assert names.count(b"content-length") <= 1
    assert not (b"content-length" in names and b"transfer-encoding" in names)
    if declared:
        assert framing.content_length == int(declared[0])
        assert not framing.chunked
    elif bodiless_status:
        assert framing.content_length is None
        assert b"content-length" not in names
        assert b"transfer-encoding" not in names
    elif one_message and method != "HEAD":
        assert framing.content_length == len(body)
    elif version == "1.1":
        assert b"transfer-encoding" in names
        assert framing.chunked == (method != "HEAD")
    else:
        assert framing.content_length is None
        assert framing.close
    close_delimited = not framing.no_body and not framing.chunked and framing.content_length is None
    assert framing.close == (
        not keep_alive
        or app_close
        or close_delimited
        or (version == "1.0" and method == "HEAD" and not declared and not bodiless_status)
    )
    expected_fields = [
        field for field in lowered if field[0] not in (b"content-length", b"connection", b"date")
    ]
    assert [
        f
        for f in written
        if f[0] not in (b"content-length", b"transfer-encoding", b"connection", b"date")
    ] == expected_fields

    data = framing.head + wire_body(framing, pieces)
    expected_body = b"" if framing.no_body else body
    assert_h11_client_reads(
        method, data, close_delimited, status, expected_fields, expected_body, framing.close
    )
    assert_http_client_reads(method, data, status, expected_fields, expected_body, framing.close)


def assert_h11_client_reads(
    method: str,
    data: bytes,
    close_delimited: bool,
    status: int,
    expected_fields: list[tuple[bytes, bytes]],
    expected_body: bytes,
    close: bool,
) -> None:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[(b"host", b"a")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    if close_delimited:
        conn.receive_data(b"")
    event = conn.next_event()
    assert isinstance(event, h11.InformationalResponse if status < 200 else h11.Response)
    assert event.status_code == status
    assert [
        f
        for f in event.headers
        if f[0] not in (b"content-length", b"transfer-encoding", b"connection", b"date")
    ] == expected_fields
    if status < 200:
        assert conn.next_event() is h11.NEED_DATA
        return
    received = b""
    while not isinstance(event := conn.next_event(), h11.EndOfMessage):
        assert isinstance(event, h11.Data), event
        received += event.data
    assert received == expected_body
    assert conn.their_state is (h11.MUST_CLOSE if close else h11.DONE)


def assert_http_client_reads(
    method: str,
    data: bytes,
    status: int,
    expected_fields: list[tuple[bytes, bytes]],
    expected_body: bytes,
    close: bool,
) -> None:
    response = http.client.HTTPResponse(cast("socket.socket", _Socket(data)), method=method)
    response.begin()
    assert response.status == status
    read_fields = [
        (name.lower().encode(), value.encode("latin-1")) for name, value in response.getheaders()
    ]
    assert [
        f
        for f in read_fields
        if f[0] not in (b"content-length", b"transfer-encoding", b"connection", b"date")
    ] == [(name, value.strip()) for name, value in expected_fields]
    assert response.read() == expected_body
    assert response.will_close == close


@given(
    st.sampled_from([b"\r", b"\n", b"\x00", b"\x0b", b"\x1f", b"\x7f"]),
    st.binary(max_size=10),
    st.binary(max_size=10),
    app_field_names,
)
def test_values_with_a_control_character_raise(
    unsafe: bytes, before: bytes, after: bytes, name: bytes
) -> None:
    with pytest.raises(ResponseHeadError):
        build(headers=[(name, before + unsafe + after)])
