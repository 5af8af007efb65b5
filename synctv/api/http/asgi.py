"""A deliberately small ASGI layer: routing, request/response helpers, JSON errors.

Why not a framework: the media routes (HTTP-FLV, HLS, proxy) are hot paths that need raw control
of ``send`` (one write per batch), and the REST surface is small. A route handler gets a
:class:`Request` and either returns a :class:`Response` or sends the response itself through
``request.send`` and returns ``None`` (streaming routes).

Error handling: a handler raises :class:`synctv.errors.DomainError` for expected failures; it
becomes ``{"code": ..., "message": ...}`` (plus ``"details"`` when it has any) with the status the
catalogue declares for its code, and its ``headers``. Any other exception is logged with its
traceback and the client gets a bare ``internal_error`` (no stack traces leak).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import trio

from synctv import errors
from synctv.errors import DomainError, error_body
from synctv.supervision import record_crash

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("synctv.http")

# nginx's convention for "the client went away before we answered" (access log and metrics only).
CLIENT_CLOSED_REQUEST = 499
# Request bodies are small JSON documents; anything bigger is refused before it is buffered.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

_PARAM = re.compile(r"\{(\w+)(?::([^}]+))?\}")

# Key in ``scope["state"]`` of an HTTP/1.x connection served by our listener: a callable that
# hands the connection's socket over to the handler (see ``synctv.api.http.server``), or None.
CONNECTION_TAKEOVER = "synctv.connection_takeover"


@dataclass(slots=True)
class Request:
    """One HTTP request: the ASGI scope plus decoded conveniences."""

    scope: Scope
    receive: Receive
    send: Send
    path_params: dict[str, str] = field(default_factory=dict)
    route_name: str = ""
    # Set by a handler that took the connection over and answered on the socket itself:
    # the status it sent (for the access log and metrics).
    taken_over_status: int | None = None

    def take_over_connection(self) -> trio.SocketStream | None:
        """The connection's socket, now the caller's to answer on and close; None where the
        connection cannot be taken over (HTTP/2, TLS, another server than ours).

        From then on nothing the app sends reaches the client, and the request ends when the
        handler returns: the caller writes the whole response itself.
        """
        if self.scope.get("http_version") not in ("1.0", "1.1"):
            return None
        take_over = (self.scope.get("state") or {}).get(CONNECTION_TAKEOVER)
        stream: trio.SocketStream | None = take_over() if take_over is not None else None
        return stream

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    def header(self, name: str) -> str | None:
        """The first header with this (case-insensitive) name, decoded as latin-1."""
        wanted = name.lower().encode("latin-1")
        for key, value in self.scope["headers"]:
            if key == wanted:
                return bytes(value).decode("latin-1")
        return None

    @property
    def query(self) -> dict[str, str]:
        raw = bytes(self.scope.get("query_string", b"")).decode("latin-1")
        return dict(parse_qsl(raw, keep_blank_values=True))

    @property
    def client_host(self) -> str | None:
        client = self.scope.get("client")
        return str(client[0]) if client else None

    async def body(self, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> bytes:
        """The whole body, refused with 413 past ``max_bytes`` without buffering the rest."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                raise DomainError(errors.BODY_TOO_LARGE, f"request body exceeds {max_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def json(self, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Any:
        raw = await self.body(max_bytes)
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DomainError(
                errors.INVALID_JSON, f"request body is not valid JSON: {exc}"
            ) from None


@dataclass(slots=True)
class Response:
    """A complete response body sent with one ``http.response.body``."""

    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = "text/plain; charset=utf-8"
    # False for the HEAD of a streaming GET: its length is unknown, so none is claimed (a
    # "Content-Length: 0" would tell the client the GET body is empty).
    length_known: bool = True

    async def send_to(self, send: Send, *, head: bool = False) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]
        if self.content_type is not None:
            headers.append((b"content-type", self.content_type.encode("latin-1")))
        if self.length_known:
            headers.append((b"content-length", str(len(self.body)).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else self.body})


def json_response(
    data: object, status: int = 200, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(status, body, list(headers), "application/json")


def error_response(error: DomainError) -> Response:
    """The one mapping of a :class:`DomainError` to an HTTP response (status from the catalogue)."""
    return json_response(error_body(error), error.error.http_status, error.headers)


Handler = Callable[[Request], Awaitable[Response | None]]


@dataclass(frozen=True, slots=True)
class Route:
    """``path`` uses ``{name}`` or ``{name:regex}`` placeholders; ``name`` labels metrics."""

    methods: tuple[str, ...]
    path: str
    handler: Handler
    name: str

    def compile(self) -> re.Pattern[str]:
        pattern, pos = [], 0
        for match in _PARAM.finditer(self.path):
            pattern.append(re.escape(self.path[pos : match.start()]))
            pattern.append(f"(?P<{match.group(1)}>{match.group(2) or '[^/]+'})")
            pos = match.end()
        pattern.append(re.escape(self.path[pos:]))
        return re.compile("".join(pattern) + r"\Z")


class Router:
    """Matches a path to a route; 404 and 405 are answered here."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = [(route, route.compile()) for route in routes]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed: set[str] = set()
        for route, pattern in self._routes:
            found = pattern.match(path)
            if found is None:
                continue
            methods = set(route.methods) | ({"HEAD"} if "GET" in route.methods else set())
            if method in methods:
                return route, found.groupdict()
            allowed |= methods
        if allowed:
            raise DomainError(
                errors.METHOD_NOT_ALLOWED,
                f"{method} is not allowed here",
                headers=[("allow", ", ".join(sorted(allowed)))],
            )
        raise DomainError(errors.NOT_FOUND, f"no route for {path}")


ObserveRequest = Callable[[str, str, int, float], None]
"""``(method, route_name, status, seconds)``: the metrics and access-log hook."""


class App:
    """The ASGI callable: lifespan, routing, error mapping and an observation hook per request."""

    def __init__(
        self,
        routes: Iterable[Route],
        *,
        observe: ObserveRequest | None = None,
        clock: Callable[[], float],
    ) -> None:
        self.router = Router(routes)
        self._observe = observe
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        else:  # websocket: the realtime endpoint arrives with the rooms work
            await send({"type": "websocket.close", "code": 1008})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = self._clock()
        status_seen = 500
        response_started = False
        response_complete = False

        async def tracking_send(message: Message) -> None:
            nonlocal status_seen, response_started, response_complete
            if message["type"] == "http.response.start":
                status_seen = int(message["status"])
                response_started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Set before sending: hypercorn delivers http.disconnect from *inside* this
                # send when it recycles the connection for keep-alive.
                response_complete = True
            await send(message)

        # Hypercorn keeps running the app after the client has gone; the pump turns
        # http.disconnect into cancellation, so a handler's database query or upstream fetch
        # stops with the request that wanted it. Only while the response is unfinished: the
        # disconnect that follows a complete response is hypercorn recycling the connection,
        # and cancelling then would cancel hypercorn's own bookkeeping running inside our send
        # (the keep-alive idle timer never started, so idle connections were never closed).
        body_in, body_out = trio.open_memory_channel[Message](1)
        disconnected = False
        request = Request(scope, body_out.receive, tracking_send)
        route_name = "unmatched"
        async with trio.open_nursery() as nursery:

            async def pump() -> None:
                nonlocal disconnected
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        if not response_complete:
                            disconnected = True
                            nursery.cancel_scope.cancel()
                        return
                    await body_in.send(message)

            nursery.start_soon(pump)
            try:
                route, params = self.router.match(request.method, request.path)
                route_name = route.name
                request.path_params = params
                request.route_name = route.name
                response = await route.handler(request)
                if response is not None:
                    await response.send_to(tracking_send, head=request.method == "HEAD")
            except DomainError as error:
                if not response_started:
                    await error_response(error).send_to(
                        tracking_send, head=request.method == "HEAD"
                    )
            except Exception as exc:
                record_crash("http_request", exc, f"{request.method} {route_name}")
                if not response_started:
                    await error_response(
                        DomainError(errors.INTERNAL_ERROR, "internal error")
                    ).send_to(tracking_send)
            finally:
                nursery.cancel_scope.cancel()
                if request.taken_over_status is not None:
                    status_seen = request.taken_over_status
                elif disconnected and not response_started:
                    status_seen = CLIENT_CLOSED_REQUEST
                if self._observe is not None:
                    self._observe(request.method, route_name, status_seen, self._clock() - started)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
