"""HTTP/1.1 for plain requests, sans-IO: request heads in, response heads out (RFC 9112).

Why this exists. hypercorn's HTTP/1.1 (h11 events, a task and a queue per request, a send lock
and a shielded cancel scope per write, a date formatted per response) cost ~1.15 ms of CPU of a
trivial JSON request's on the measuring host, against ~0.45 ms for the same app on a loop that
parses the head itself (``bench/http_micro.py``). A sign-in is two such requests. So the common
request (a method, a path, headers, a body with a ``Content-Length``) is parsed here and served
by :mod:`synctv.api.http.h1_server`; everything else (``Transfer-Encoding``, ``Expect``,
``Upgrade`` (WebSocket, h2c), HTTP/2's preface, absolute-form or ``*`` targets, obs-fold, a
missing ``Host``, any byte the grammar below does not allow, a head over
:data:`MAX_HEAD_BYTES`) raises :class:`NotServedHere` and the connection, with every byte read
so far, goes to hypercorn, which answers it as it always did (its 400s included). So this parser
may be strict without ever being the one to refuse a request.

The grammar is RFC 9110/9112's, as h11 checks it: a method is a token, the target is
origin-form (``/`` then visible ASCII), the version is ``HTTP/1.0`` or ``HTTP/1.1``, a field name
is a token, a field value is visible ASCII, obs-text and inner spaces or tabs, without leading or
trailing whitespace (stripped). Lines end in CRLF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

# RFC 9112 §2.3: no limit is set; 16 KiB is hypercorn's (h11_max_incomplete_size). A head that
# grows past it goes to hypercorn, which refuses it as before.
MAX_HEAD_BYTES: Final = 16 * 1024

_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# RFC 9112 §3: request-line = method SP origin-form SP HTTP-version
_REQUEST_LINE: Final = re.compile(rb"(" + _TOKEN + rb") (/[\x21-\x7e]*) HTTP/1\.([01])")
# RFC 9110 §5.5: field-value = *field-content; OWS around it is not part of it.
_FIELD_LINE: Final = re.compile(
    rb"("
    + _TOKEN
    + rb"):[ \t]*((?:[\x21-\x7e\x80-\xff](?:[\x20-\x7e\x80-\xff\t]*[\x21-\x7e\x80-\xff])?)?)[ \t]*"
)
_DIGITS: Final = re.compile(rb"[0-9]{1,18}")


# Why a connection went to hypercorn (``NotServedHere.kind``; a metric label, so a fixed set).
HANDOVER_KINDS: Final = ("upgrade", "http2", "chunked_body", "expect", "too_large", "malformed")
_KIND_OF_FIELD: Final = {
    b"upgrade": "upgrade",
    b"transfer-encoding": "chunked_body",
    b"expect": "expect",
}


class NotServedHere(Exception):
    """The request is not one this module serves; hypercorn takes the connection.

    ``kind`` is one of :data:`HANDOVER_KINDS`: what operators see counted."""

    def __init__(self, reason: str, kind: str = "malformed") -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class RequestHead:
    """One parsed request head; ``size`` is its length in bytes including the blank line."""

    method: str
    raw_path: bytes
    query_string: bytes
    http_version: str  # "1.1" or "1.0"
    headers: list[tuple[bytes, bytes]]  # names lower-cased, as ASGI wants them
    content_length: int
    keep_alive: bool
    size: int


def parse_request_head(buffer: bytes | bytearray) -> RequestHead | None:
    """The head at the start of ``buffer``, or None while it is incomplete.

    Raises :class:`NotServedHere` for anything outside the plain subset (module docstring).
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise NotServedHere("head too large", "too_large")
        # A bare LF before a blank line ("\n\n" or "\n\r\n") ends the head for h11: decide now,
        # or a head hypercorn would answer waits here for bytes that never come.
        if buffer[:1] in (b"\r", b"\n") or b"\n\n" in buffer or b"\n\r\n" in buffer:
            raise NotServedHere("empty line before the request, or bare LF line ends")
        return None
    if end + 4 > MAX_HEAD_BYTES:
        raise NotServedHere("head too large", "too_large")
    lines = bytes(buffer[:end]).split(b"\r\n")
    request_line = _REQUEST_LINE.fullmatch(lines[0])
    if request_line is None:
        if lines[0] == b"PRI * HTTP/2.0":  # RFC 9113 §3.4: HTTP/2 with prior knowledge
            raise NotServedHere("the HTTP/2 connection preface", "http2")
        raise NotServedHere("not an origin-form HTTP/1.x request line")
    method_bytes, target, minor = request_line.groups()
    version_11 = minor == b"1"
    headers: list[tuple[bytes, bytes]] = []
    content_length: bytes | None = None
    hosts = 0
    close = not version_11
    for line in lines[1:]:
        field = _FIELD_LINE.fullmatch(line)
        if field is None:
            raise NotServedHere("a field line outside the grammar (or obs-fold)")
        name = field[1].lower()
        value = field[2]
        if name in _KIND_OF_FIELD:
            raise NotServedHere(name.decode(), _KIND_OF_FIELD[name])
        if name == b"content-length":
            if content_length is not None or _DIGITS.fullmatch(value) is None:
                raise NotServedHere("a repeated or malformed Content-Length")
            content_length = value
        elif name == b"host":
            hosts += 1
        elif name == b"connection":
            tokens = {token.strip().lower() for token in value.split(b",")}
            if b"upgrade" in tokens:
                raise NotServedHere("connection upgrade", "upgrade")
            if b"close" in tokens:
                close = True
        headers.append((name, value))
    if hosts > 1 or (version_11 and hosts == 0):
        raise NotServedHere("Host missing or repeated")  # RFC 9112 §3.2: a 400, hypercorn's
    path, _, query = target.partition(b"?")
    return RequestHead(
        method_bytes.decode("ascii"),
        path,
        query,
        "1.1" if version_11 else "1.0",
        headers,
        int(content_length) if content_length is not None else 0,
        not close,
        end + 4,
    )


class ResponseHeadError(Exception):
    """The application's response head cannot be written (the driver answers 500 instead)."""


_REASONS: Final = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}
# RFC 9110 §5.5: a field value is visible characters, obs-text, spaces and tabs; no other
# control character (CR and LF would split the response; h11 refused them all, and clients
# built on it refuse a response that carries one).
_UNSAFE_VALUE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_NAME: Final = re.compile(_TOKEN)


@dataclass(frozen=True, slots=True)
class ResponseFraming:
    """How the body that follows a head is delimited."""

    head: bytes
    chunked: bool  # Transfer-Encoding: chunked (a streamed HTTP/1.1 body of unknown length)
    content_length: int | None  # the declared length, None when chunked or close-delimited
    no_body: bool  # HEAD, 1xx, 204, 304: whatever the application sends is not written
    close: bool  # the connection closes after this response


def response_head(
    status: int,
    headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...],
    *,
    date: bytes,
    method: str,
    http_version: str,
    keep_alive: bool,
    body_if_complete: bytes | None,
) -> ResponseFraming:
    """The status line and fields for ``status`` and the application's ``headers``.

    ``body_if_complete`` is the whole body when the application sent it in one message: then a
    missing ``Content-Length`` is written from it instead of chunking. ``date`` is the
    IMF-fixdate the driver caches per second (RFC 9110 §6.6.1).
    """
    if not 100 <= status <= 999:
        raise ResponseHeadError(f"status {status} is not a three-digit code")
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b""))]
    declared: bytes | None = None
    close = not keep_alive
    for name, value in headers:
        name = bytes(name).lower()
        value = bytes(value).strip(b" \t")  # OWS is not part of a value (RFC 9110 §5.5)
        if _NAME.fullmatch(name) is None or _UNSAFE_VALUE.search(value) is not None:
            raise ResponseHeadError(f"response field {name!r} is not writable")
        if name == b"content-length":
            if _DIGITS.fullmatch(value) is None or declared is not None:
                raise ResponseHeadError("a malformed or repeated Content-Length")
            declared = value
            continue  # written below, once
        elif name == b"transfer-encoding":
            raise ResponseHeadError("the application set Transfer-Encoding")
        elif name == b"connection":
            if b"close" in value.lower():
                close = True
            continue  # written below, once
        elif name == b"date":
            continue
        lines.append(name + b": " + value + b"\r\n")
    bodiless_status = status < 200 or status in (204, 304)  # RFC 9110 §6.4.1
    no_body = method == "HEAD" or bodiless_status
    chunked = False
    length: int | None = None
    if declared is not None:
        length = int(declared)
        lines.append(b"content-length: " + declared + b"\r\n")
    elif not bodiless_status:
        if body_if_complete is not None and method != "HEAD":
            length = len(body_if_complete)
            lines.append(b"content-length: %d\r\n" % length)
        elif http_version == "1.1":
            chunked = True
            lines.append(b"transfer-encoding: chunked\r\n")
        else:
            close = True  # HTTP/1.0 without a length: the body ends when the connection does
    if no_body:
        chunked = False
    lines.append(b"date: " + date + b"\r\n")
    if close:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    return ResponseFraming(b"".join(lines), chunked, length, no_body, close)


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1): size in hex, CRLF, data, CRLF."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK: Final = b"0\r\n\r\n"
