"""The HTTP dispatcher: one middleware chain, raw routes for the media hot paths, then FastAPI.

Why two kinds of route: the media routes (HTTP-FLV, HLS, proxy) are hot paths that need raw
control of ``send`` (one write per batch) and are matched first, at the cost of one regex walk;
the business REST API (``/api/...``) is a FastAPI application (:mod:`synctv.api.http.rest`)
reached only when no raw route matched. Both pass through the same chain in :class:`App`:
request id (``X-Request-Id`` in, else generated; echoed and logged), the client address behind
trusted proxies (:mod:`~synctv.api.http.forwarded`), one CORS policy
(:mod:`~synctv.api.http.cors`), the body limit, ``request_timeout_seconds`` for routes that are
not streaming, client disconnect turned into cancellation (once, here), and the access log and
metrics hook. WebSocket routes are dispatched here too (:mod:`~synctv.api.http.websocket`).

A raw route handler gets a :class:`Request` and either returns a :class:`Response` or sends the
response itself through ``request.send`` and returns ``None`` (streaming routes).

Error handling: a handler raises :class:`synctv.errors.DomainError` for expected failures; it
becomes ``{"code": ..., "message": ...}`` (plus ``"details"`` when it has any) with the status the
catalogue declares for its code, and its ``headers``. Any other exception is logged with its
traceback and the client gets a bare ``internal_error`` (no stack traces leak).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import trio

from synctv import errors
from synctv.api.http.access import RequestRecord, log_and_count
from synctv.api.http.asgi_types import ASGIApp, Message, Receive, Scope, Send
from synctv.api.http.cors import CorsPolicy
from synctv.api.http.forwarded import ClientAddressResolver
from synctv.api.http.websocket import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    WebSocket,
    WebSocketClosed,
)
from synctv.errors import DomainError, error_body
from synctv.supervision import record_crash

__all__ = [
    "ASGIApp",
    "App",
    "Message",
    "Receive",
    "Request",
    "Response",
    "Route",
    "Router",
    "Scope",
    "Send",
    "WebPolicy",
    "WebSocketRoute",
    "error_response",
    "json_response",
]


log = logging.getLogger("synctv.http")

# nginx's convention for "the client went away before we answered" (access log and metrics only).
CLIENT_CLOSED_REQUEST = 499
# Request bodies are small JSON documents; anything bigger is refused before it is buffered.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

_PARAM = re.compile(r"\{(\w+)(?::([^}]+))?\}")

# Key in ``scope["state"]`` of an HTTP/1.x connection served by our listener: a callable that
# hands the connection's socket over to the handler (see ``synctv.api.http.server``), or None.
CONNECTION_TAKEOVER = "synctv.connection_takeover"
# Key in ``scope`` of every HTTP request: the request id the chain chose (logged and echoed).
REQUEST_ID = "synctv.request_id"


@dataclass(slots=True)
class Request:
    """One HTTP request: the ASGI scope plus decoded conveniences."""

    scope: Scope
    receive: Receive
    send: Send
    path_params: dict[str, str] = field(default_factory=dict)
    route_name: str = ""
    # What the dispatcher adds to every response (request id, CORS), as sent.
    seam: list[tuple[bytes, bytes]] = field(default_factory=list)
    # Set by a handler that took the connection over and answered on the socket itself:
    # the status it sent (for the access log and metrics).
    taken_over_status: int | None = None

    @property
    def request_id(self) -> str:
        """The id the chain chose for this request (``scope[REQUEST_ID]``)."""
        return str(self.scope[REQUEST_ID])

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
    def seam_headers(self) -> list[tuple[str, str]]:
        """The dispatcher's response headers, for a handler that answers on a taken-over
        socket and so must write them itself (decoded only then: not on every request)."""
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.seam]

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
        """The client address, resolved behind trusted proxies (what logs and limits see)."""
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
    """``path`` uses ``{name}`` or ``{name:regex}`` placeholders; ``name`` labels metrics.

    ``streaming`` routes (live video, proxied media) are exempt from the request timeout.
    """

    methods: tuple[str, ...]
    path: str
    handler: Handler
    name: str
    streaming: bool = False

    def compile(self) -> re.Pattern[str]:
        return compile_path(self.path)


def compile_path(path: str) -> re.Pattern[str]:
    """A route path with ``{name}`` / ``{name:regex}`` placeholders as an anchored regex."""
    pattern, pos = [], 0
    for match in _PARAM.finditer(path):
        pattern.append(re.escape(path[pos : match.start()]))
        pattern.append(f"(?P<{match.group(1)}>{match.group(2) or '[^/]+'})")
        pos = match.end()
    pattern.append(re.escape(path[pos:]))
    return re.compile("".join(pattern) + r"\Z")


class Router:
    """Matches a path to a route; 404 and 405 are answered here."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = [(route, route.compile()) for route in routes]
        # Per route, the methods it answers (HEAD wherever GET is), computed once.
        self._methods = [
            (pattern, frozenset(route.methods) | ({"HEAD"} if "GET" in route.methods else set()))
            for route, pattern in self._routes
        ]

    def match_path(self, path: str) -> tuple[Route, dict[str, str]] | None:
        """The first route whose path matches, whatever its methods (WebSocket routes)."""
        for route, pattern in self._routes:
            found = pattern.match(path)
            if found is not None:
                return route, found.groupdict()
        return None

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route :meth:`match` answers with, or None where it would refuse (no exception
        built: every REST request passes here on its way to the framework)."""
        for (route, _), (pattern, methods) in zip(self._routes, self._methods, strict=True):
            if method in methods:
                found = pattern.match(path)
                if found is not None:
                    return route, found.groupdict()
        return None

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed: set[str] = set()
        for (route, _), (pattern, methods) in zip(self._routes, self._methods, strict=True):
            found = pattern.match(path)
            if found is None:
                continue
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


WebSocketHandler = Callable[[WebSocket], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WebSocketRoute:
    """A WebSocket endpoint: ``path`` as for :class:`Route`."""

    path: str
    handler: WebSocketHandler
    name: str


Fallback = Callable[[Request], Awaitable[Response | None]]
"""Asked for a GET or HEAD that no route took (outside the framework's prefix): a response, or
None to let the 404 stand (the web client's page for its own routes, see ``web_client``)."""

ObserveRequest = Callable[[RequestRecord], None]
"""Called once per finished request: the access log and metrics (``access.log_and_count``)."""

ApiLimit = Callable[[str | None], Awaitable[None]]
"""Called with the resolved client address before a request reaches the framework (``/api``);
raises :class:`DomainError` (``rate_limited``) to refuse it. Raw routes (media) never see it."""

# The ids we accept from a client (or a proxy in front): anything else is replaced, so a log
# line or a response header never carries what a client chose to put there beyond this.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")


def new_request_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class WebPolicy:
    """The chain's settings (``server.*``): CORS, trusted proxies, limits and timeouts."""

    # No origin by default (the health and metrics ports); the main port's comes from config.
    cors: CorsPolicy = field(default_factory=lambda: CorsPolicy(()))
    client_addresses: ClientAddressResolver = field(
        default_factory=lambda: ClientAddressResolver(())
    )
    request_timeout_seconds: float = 30.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    websocket_handshake_timeout_seconds: float = 10.0
    websocket_max_message_bytes: int = 1024 * 1024


class App:
    """The ASGI callable: the middleware chain, raw routes, then the framework under its prefix.

    ``framework`` (the FastAPI app) gets the requests under ``framework_prefix`` that no raw
    route took, each first through ``api_limit`` (the general REST rate limit) when given;
    ``observe`` gets one :class:`RequestRecord` per finished request; ``fallback`` (the web
    client's page) may answer a GET or HEAD that nothing else took.
    """

    def __init__(
        self,
        routes: Iterable[Route],
        *,
        observe: ObserveRequest | None = log_and_count,
        clock: Callable[[], float],
        policy: WebPolicy | None = None,
        framework: ASGIApp | None = None,
        framework_prefix: str = "/api",
        websocket_routes: Iterable[WebSocketRoute] = (),
        api_limit: ApiLimit | None = None,
        fallback: Fallback | None = None,
    ) -> None:
        self.router = Router(routes)
        self._fallback = fallback
        self._api_limit = api_limit
        self.policy = policy or WebPolicy()
        self._observe = observe
        self._clock = clock
        self._framework = framework
        self._prefix = framework_prefix.rstrip("/")
        self._websockets = [(route, compile_path(route.path)) for route in websocket_routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)

    def _framework_takes(self, path: str) -> bool:
        prefix = self._prefix
        return self._framework is not None and (
            path == prefix or (path.startswith(prefix) and path[len(prefix)] == "/")
        )

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = self._clock()
        policy = self.policy
        request_id = origin = preflight = length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = bytes(value).decode("latin-1")
            elif name == b"origin":
                origin = bytes(value).decode("latin-1")
            elif name == b"access-control-request-method":
                preflight = True
            elif name == b"content-length":
                length = value
        if request_id is None or not _REQUEST_ID.match(request_id):
            request_id = new_request_id()
        scope[REQUEST_ID] = request_id
        client = _resolve_client(scope, policy.client_addresses)
        seam = [(b"x-request-id", request_id.encode()), *policy.cors.response_headers(origin)]
        status_seen = 500
        response_started = False
        response_complete = False
        head = scope["method"] == "HEAD"

        async def tracking_send(message: Message) -> None:
            nonlocal status_seen, response_started, response_complete
            kind = message["type"]
            if kind == "http.response.start":
                status_seen = int(message["status"])
                response_started = True
                message = {**message, "headers": [*message.get("headers", ()), *seam]}
            elif kind == "http.response.body":
                if not message.get("more_body"):
                    # Set before sending: hypercorn delivers http.disconnect from *inside* this
                    # send when it recycles the connection for keep-alive.
                    response_complete = True
                if head and message.get("body"):
                    message = {**message, "body": b""}
            await send(message)

        # Hypercorn keeps running the app after the client has gone; the pump turns
        # http.disconnect into cancellation, so a handler's database query or upstream fetch
        # stops with the request that wanted it. Only while the response is unfinished: the
        # disconnect that follows a complete response is hypercorn recycling the connection,
        # and cancelling then would cancel hypercorn's own bookkeeping running inside our send
        # (the keep-alive idle timer never started, so idle connections were never closed).
        # It is the only reader of ``receive``: handlers get the body through a channel, and
        # the body limit is counted here for every route, raw or framework.
        body_in: trio.MemorySendChannel[Message]
        body_out: trio.MemoryReceiveChannel[Message]
        body_in, body_out = trio.open_memory_channel(1)  # unsubscripted: no alias per request
        disconnected = too_large = False
        request = Request(scope, body_out.receive, tracking_send)
        request.seam = seam
        request.route_name = "unmatched"
        work = trio.CancelScope()
        async with trio.open_nursery() as nursery:

            async def pump() -> None:
                nonlocal disconnected, too_large
                size = 0
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        if not response_complete:
                            disconnected = True
                            nursery.cancel_scope.cancel()
                        return
                    size += len(message.get("body", b""))
                    if size > policy.max_body_bytes:
                        too_large = True
                        work.cancel()
                        return
                    await body_in.send(message)

            nursery.start_soon(pump)
            try:
                with work:
                    if preflight and origin is not None and scope["method"] == "OPTIONS":
                        request.route_name = "cors_preflight"
                        await _preflight(policy.cors, origin, tracking_send)
                    elif length is not None and _too_long(length, policy.max_body_bytes):
                        too_large = True
                    else:
                        await self._dispatch(request, work)
                if not response_started and too_large:
                    raise DomainError(
                        errors.BODY_TOO_LARGE,
                        f"request body exceeds {policy.max_body_bytes} bytes",
                    )
                if not response_started and work.cancelled_caught:
                    raise DomainError(
                        errors.REQUEST_TIMEOUT,
                        f"no answer within {policy.request_timeout_seconds:g} s",
                    )
            except DomainError as error:
                if not response_started:
                    await error_response(error).send_to(tracking_send, head=head)
            except Exception as exc:
                record_crash("http_request", exc, f"{scope['method']} {request.route_name}")
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
                    self._observe(
                        RequestRecord(
                            scope["method"],
                            request.route_name,
                            status_seen,
                            self._clock() - started,
                            request_id,
                            client,
                        )
                    )

    async def _dispatch(self, request: Request, work: trio.CancelScope) -> None:
        """Route the request (raw routes first); ``request.route_name`` names the route."""
        timeout = self.policy.request_timeout_seconds
        matched = self.router.find(request.method, request.path)
        if matched is None and self._framework_takes(request.path):
            await self._to_framework(request, work)
            return
        try:
            route, params = matched or self.router.match(request.method, request.path)  # 404/405
        except DomainError as refused:
            fallback = self._fallback
            if fallback is None or refused.error is not errors.NOT_FOUND:
                raise
            if request.method not in ("GET", "HEAD"):
                raise
            work.deadline = trio.current_time() + timeout
            page = await fallback(request)
            if page is None:
                raise
            request.route_name = "web_client"
            await page.send_to(request.send, head=request.method == "HEAD")
            return
        request.path_params = params
        request.route_name = route.name
        if not route.streaming:
            work.deadline = trio.current_time() + timeout
        response = await route.handler(request)
        if response is not None:
            await response.send_to(request.send, head=request.method == "HEAD")

    async def _to_framework(self, request: Request, work: trio.CancelScope) -> None:
        """A request under the framework's prefix that no raw route took."""
        framework = self._framework
        assert framework is not None  # _framework_takes said so
        request.route_name = "api"
        work.deadline = trio.current_time() + self.policy.request_timeout_seconds
        if self._api_limit is not None:
            await self._api_limit(request.client_host)
        scope = request.scope
        if scope["method"] == "HEAD":
            # FastAPI routes answer GET only; the chain's send drops the body of a HEAD.
            scope = {**scope, "method": "GET"}
        try:
            await framework(scope, request.receive, request.send)
        finally:
            request.route_name = _framework_route_name(scope)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = self._clock()
        policy = self.policy
        request_id = origin = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = bytes(value).decode("latin-1")
            elif name == b"origin":
                origin = bytes(value).decode("latin-1")
        if request_id is None or not _REQUEST_ID.match(request_id):
            request_id = new_request_id()
        client = _resolve_client(scope, policy.client_addresses)
        handshake = trio.CancelScope(
            deadline=trio.current_time() + policy.websocket_handshake_timeout_seconds
        )
        socket = WebSocket(
            scope, receive, send, policy.websocket_max_message_bytes, handshake, request_id
        )
        route_name = "unmatched"
        try:
            with handshake:
                if (await receive())["type"] != "websocket.connect":
                    return
                matched = self._match_websocket(scope["path"])
                # Browsers send Origin on every WebSocket handshake and apply no CORS check:
                # without this, any site could open the channel with the user's cookies.
                if matched is None or (origin is not None and not policy.cors.allows(origin)):
                    await socket.close(CLOSE_POLICY_VIOLATION)
                    return
                route, socket.path_params = matched
                route_name = route.name
                try:
                    await route.handler(socket)
                except WebSocketClosed:
                    pass
                await socket.close(CLOSE_NORMAL)
        except Exception as exc:
            record_crash("websocket", exc, route_name)
            if socket.accepted:
                await socket.close(CLOSE_INTERNAL_ERROR)
        finally:
            if not socket.closed and not socket.accepted:  # the handshake timed out
                with trio.CancelScope(shield=True):
                    await socket.close(CLOSE_POLICY_VIOLATION)
            if self._observe is not None:
                self._observe(
                    RequestRecord(
                        "WEBSOCKET",
                        route_name,
                        101 if socket.accepted else 403,
                        self._clock() - started,
                        request_id,
                        client,
                    )
                )

    def _match_websocket(self, path: str) -> tuple[WebSocketRoute, dict[str, str]] | None:
        for route, pattern in self._websockets:
            found = pattern.match(path)
            if found is not None:
                return route, found.groupdict()
        return None


def _resolve_client(scope: Scope, resolver: ClientAddressResolver) -> str | None:
    """The client address; with trusted proxies configured, ``scope["client"]`` is replaced by
    the resolved one (the TCP peer stays in ``scope["synctv.peer"]``) so every layer sees it."""
    peer = scope.get("client")
    if not peer:
        return None
    if not resolver.enabled:
        return str(peer[0])
    resolved = resolver.resolve(str(peer[0]), scope["headers"])
    if resolved != peer[0]:
        scope["synctv.peer"] = peer
        scope["client"] = (resolved, 0)
    return resolved


async def _preflight(cors: CorsPolicy, origin: str, send: Send) -> None:
    if cors.allows(origin):
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": cors.preflight_headers(),
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return
    raise DomainError(errors.CORS_ORIGIN_DENIED, "this origin may not call this server")


def _too_long(length: bytes, limit: int) -> bool:
    try:
        return int(length) > limit
    except ValueError:
        return False  # hypercorn's parser refuses it before we get here


def _framework_route_name(scope: Scope) -> str:
    """The matched FastAPI route's path template (bounded metric labels), else ``api``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return f"api:{path}" if isinstance(path, str) else "api:unmatched"


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
