"""Outbound HTTP for the proxy and the providers: the only module that imports httpx.

Address pinning (DNS-rebinding defence): httpx resolves names inside its connection pool, after
any check we could make beforehand, so a name could resolve to a public address when checked and
to 127.0.0.1 when connected. Instead, :class:`PinnedBackend` is the pool's network backend: its
``connect_tcp(host, port)`` resolves ``host`` itself (``trio.socket.getaddrinfo``), vets every
address with the :class:`AddressPolicy`, and connects to a vetted *address*. httpcore still
knows the connection by its host name, so the Host header, TLS SNI and certificate verification
all use the name. A pooled connection is reused only for the same scheme/host/port, and was vetted
when made. There is one client (one pool) per policy (strict, and private-allowed), so a
connection vetted under the lenient policy is never reused under the strict one.
httpx does not take a network backend as an argument, so :class:`_PinnedTransport` replaces the
pool its base class builds (a test pins this down).

LAN services: a request of a LAN-service instance carries its :class:`LanScope`; each hop whose
host is in the scope (by name, or an IP literal in its networks) goes through the private-allowed
pool, every other hop through the strict one. Because pools are keyed by host, a lenient
connection is only ever reused for a host some request was allowed to reach leniently, and only
by a request whose own scope covers that host.

Redirects are followed here, not by httpx, up to ``max_redirects`` hops: each hop is a new
request whose connection is vetted again, under the policy its own host gets; only http/https
targets are followed. Headers are scoped by ``outbound.scope.scoped_headers`` on every hop: the
provider's headers go to its origin only, other origins get the cross-origin allow-list, and a
chain that left the origin never gets them back.

Metrics: every body byte read (media, playlists, provider API answers) counts in
``synctv_outbound_received_bytes_total``; every failure (transport errors by kind, and final
responses with an error status other than 416) in ``synctv_outbound_errors_total``.

Own listeners: the server's own ports (HTTP, health, metrics, RTMP ...) are never upstreams,
whatever the policy: a LAN instance's redirect to its own host's metrics port is refused like a
metadata address. ``own_listeners()`` returns the (host, port) pairs the server listens on; a
wildcard host (``0.0.0.0``, ``::``) or a name stands for every address of this machine.

Error handling: everything becomes :class:`UpstreamError` with a kind: ``refused`` (policy, own
listener), ``timeout``, ``connect``, ``protocol``, ``redirects``, ``invalid_url`` (a URL or
redirect target the client cannot parse: httpx's ``InvalidURL``, an IDNA error); an exception
nobody foresaw on the way (from httpx, httpcore, h11, ssl, the resolver) is a ``protocol``
failure of that request, logged without its URL. Nothing else escapes :meth:`HttpUpstream.open`
or :meth:`HttpUpstream.request_json`. Statuses are the caller's business.
Resource handling: :meth:`HttpUpstream.aclose` closes both pools; responses are closed when the
``open()`` context exits, also on cancellation.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpcore
import httpx
import trio

from synctv import metrics
from synctv.outbound.address_policy import (
    AddressPolicy,
    AddressRefused,
    Listeners,
    check_not_own_listener,
    parse_ip,
    resolve_vetted,
)
from synctv.outbound.masking import mask_url
from synctv.outbound.request import JsonCallError, JsonReply, UpstreamError, UpstreamTarget
from synctv.outbound.scope import LanScope, Origin, origin_of, scoped_headers

log = logging.getLogger("synctv.outbound.client")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Provider API answers (directory listings, item metadata) larger than this are refused.
MAX_JSON_BYTES = 8 * 1024 * 1024
DEFAULT_USER_AGENT = "SyncTV-py"


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and vets host names itself, then connects to a vetted address (see module doc)."""

    def __init__(
        self,
        policy: AddressPolicy,
        lookup_timeout: float,
        own_listeners: Callable[[], Listeners] = lambda: (),
    ) -> None:
        self._policy = policy
        self._lookup_timeout = lookup_timeout
        self._own_listeners = own_listeners
        self._inner = httpcore.TrioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve_vetted(host, port, self._policy, self._lookup_timeout)
        except AddressRefused:
            raise
        except (OSError, UnicodeError, ValueError, OverflowError) as exc:
            # A failed lookup, or a name the resolver cannot even encode (an empty label).
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        listeners = list(self._own_listeners())
        if listeners:
            for address in addresses:
                check_not_own_listener(address, port, listeners)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not upstreams")

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, backend: PinnedBackend, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )


@dataclass(slots=True)
class _BodyState:
    started: bool = False
    finished: bool = False


class HttpResponse:
    """An upstream response being streamed (implements ``proxy.slice_cache.UpstreamResponse``)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        # Body iterations handed out, each with whether it started (see unwind()).
        self._bodies: list[tuple[AsyncGenerator[bytes, None], _BodyState]] = []

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def url(self) -> str:
        return str(self._response.url)

    def header(self, name: str) -> str | None:
        value: str | None = self._response.headers.get(name)
        return value

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """Raw body bytes as they arrive (no content decoding); failures are UpstreamError.

        A reader may stop early (a range cut out of a whole body): :meth:`unwind` then ends the
        iteration when the response closes.
        """
        state = _BodyState()
        body = self._iter_bytes(state)
        self._bodies.append((body, state))
        return body

    async def unwind(self) -> None:
        """End every body iteration a reader left unfinished, with the stack of generators
        below it (httpx, httpcore): each is driven under a cancelled scope until the
        cancellation passes through all of them. Closing only ours would leave theirs to the
        garbage collector, which Trio reports as a leak (and the connection is dropped either
        way: its body was not read to the end)."""
        for body, state in self._bodies:
            if not state.started or state.finished:
                continue
            with trio.CancelScope() as scope:
                scope.cancel()
                try:
                    while True:
                        await anext(body)
                except (StopAsyncIteration, UpstreamError):
                    pass

    async def _iter_bytes(self, state: _BodyState) -> AsyncGenerator[bytes, None]:
        state.started = True
        try:
            async for chunk in self._response.aiter_raw():
                metrics.OUTBOUND_RECEIVED_BYTES.inc(len(chunk))
                yield chunk
        except httpx.HTTPError as exc:
            raise _counted(_classify(exc)) from None
        except Exception as exc:  # anything else from the stack below: this body failed
            raise _counted(_unexpected(exc, str(self._response.url))) from None
        finally:
            state.finished = True


class HttpUpstream:
    """httpx clients with pool limits, timeouts, pinned addresses and manual redirects."""

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        max_connections: int = 100,
        max_redirects: int = 5,
        allow_private: bool = False,
        user_agent: str = DEFAULT_USER_AGENT,
        allowed_addresses: Iterable[str] = (),
        own_listeners: Callable[[], Iterable[tuple[str, int]]] = lambda: (),
    ) -> None:
        """``own_listeners()``: the (host, port) pairs this server listens on (asked at each
        new connection, so ports bound later count); upstream hops there are refused."""
        self._max_redirects = max_redirects
        self._allow_private = allow_private
        allowed = frozenset(ipaddress.ip_address(a) for a in allowed_addresses)
        self._policies = {
            lenient: AddressPolicy(allow_private=lenient, allowed=allowed)
            for lenient in (False, True)
        }
        self._user_agent = user_agent
        timeout = httpx.Timeout(connect_timeout, read=read_timeout, pool=connect_timeout)
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._clients = {
            lenient: httpx.AsyncClient(
                transport=_PinnedTransport(
                    PinnedBackend(self._policies[lenient], connect_timeout, own_listeners),
                    limits,
                ),
                timeout=timeout,
                follow_redirects=False,
                trust_env=False,
            )
            for lenient in (False, True)
        }

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            for client in self._clients.values():
                await client.aclose()

    @asynccontextmanager
    async def open(
        self, target: UpstreamTarget, request_headers: Sequence[tuple[str, str]] = ()
    ) -> AsyncIterator[HttpResponse]:
        """GET the target with its headers plus ``request_headers`` (Range and such)."""
        headers = [("user-agent", self._user_agent), ("accept-encoding", "identity")]
        headers = _override(headers, [*target.headers, *request_headers])
        response = await self._send(
            "GET", target.url, headers, None, target.lan, target.header_origin
        )
        wrapped = HttpResponse(response)
        try:
            yield wrapped
        finally:
            with trio.CancelScope(shield=True):
                await wrapped.unwind()
                await response.aclose()

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        json_body: object = None,
        form_body: Mapping[str, str] | None = None,
        lan: LanScope | None = None,
    ) -> JsonReply:
        """One API call with a JSON answer (implements ``providers.base.ProviderHttp``; the
        OpenID Connect token exchange sends ``form_body``); the headers go to the origin of
        ``url`` only."""
        base = [("user-agent", self._user_agent), ("accept", "application/json")]
        body = None if json_body is None else json.dumps(json_body).encode()
        if body is not None:
            base.append(("content-type", "application/json"))
        if form_body is not None:
            body = urlencode(form_body).encode()
            base.append(("content-type", "application/x-www-form-urlencoded"))
        try:
            response = await self._send(method, url, _override(base, headers), body, lan, None)
            try:
                raw = await _read_bounded(response, MAX_JSON_BYTES)
            finally:
                await response.aclose()
        except UpstreamError as exc:
            raise JsonCallError(exc.kind, str(exc)) from None
        try:
            data = json.loads(raw) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            data = None
        return JsonReply(response.status_code, data, raw)

    async def _send(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        lan: LanScope | None,
        header_origin: Origin | None,
    ) -> httpx.Response:
        """Send with manual redirects; see the module docstring for the per-hop rules."""
        try:
            response = await self._follow(method, url, headers, body, lan, header_origin)
        except UpstreamError as exc:
            raise _counted(exc) from None
        status = response.status_code
        if status >= 400 and status != 416:  # 416 answers a range; it is not a failure
            metrics.OUTBOUND_ERRORS.labels("not_found" if status in (404, 410) else "status").inc()
        return response

    async def _follow(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        lan: LanScope | None,
        header_origin: Origin | None,
    ) -> httpx.Response:
        credential_origin = header_origin or origin_of(url)
        for _ in range(self._max_redirects + 1):
            host = _host_of(url)
            lenient = self._allow_private or (lan is not None and lan.covers(host))
            _check_host(host, self._policies[lenient])
            if origin_of(url) != credential_origin:
                credential_origin = None  # left the origin: its credentials never come back
            client = self._clients[lenient]
            try:
                request = client.build_request(
                    method,
                    url,
                    headers=scoped_headers(url, headers, credential_origin),
                    content=body,
                )
            except (httpx.InvalidURL, UnicodeError, ValueError) as exc:  # idna errors too
                raise UpstreamError("invalid_url", f"malformed upstream URL ({exc})") from None
            try:
                response = await client.send(request, stream=True)
            except AddressRefused as exc:
                raise UpstreamError("refused", str(exc)) from None
            except httpx.HTTPError as exc:
                raise _classify(exc) from None
            except Exception as exc:  # h11, ssl, the resolver, a bug: this request failed
                raise _unexpected(exc, url) from None
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or location is None:
                return response
            await response.aclose()
            try:
                url = urljoin(url, location)
            except ValueError:
                raise UpstreamError("invalid_url", "malformed redirect target") from None
            if response.status_code == 303:
                method, body = "GET", None
        raise UpstreamError("redirects", f"more than {self._max_redirects} redirects")


def _host_of(url: str) -> str:
    """The host of an http(s) URL; anything else is refused before a connection is attempted."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise UpstreamError("invalid_url", "malformed upstream URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise UpstreamError("refused", "upstream URL must be http(s) with a host")
    return host


def _check_host(host: str, policy: AddressPolicy) -> None:
    """Refuse metadata names and refused literal addresses before any connection is attempted."""
    try:
        policy.check_name(host)
        literal = parse_ip(host)
        if literal is not None:
            policy.check_address(literal)
    except AddressRefused as exc:
        raise UpstreamError("refused", str(exc)) from None


def _counted(exc: UpstreamError) -> UpstreamError:
    if not exc.counted:
        metrics.OUTBOUND_ERRORS.labels(exc.kind).inc()
        exc.counted = True
    return exc


def _override(
    base: list[tuple[str, str]], extra: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    extra = list(extra)
    names = {name.lower() for name, _ in extra}
    return [(k, v) for k, v in base if k.lower() not in names] + extra


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    buffer = bytearray()
    try:
        async for chunk in response.aiter_bytes():  # decoded: the limit bounds what we parse
            metrics.OUTBOUND_RECEIVED_BYTES.inc(len(chunk))
            buffer += chunk
            if len(buffer) > limit:
                raise _counted(
                    UpstreamError("protocol", f"upstream answer larger than {limit} bytes")
                )
    except httpx.HTTPError as exc:
        raise _counted(_classify(exc)) from None
    except UpstreamError:
        raise
    except Exception as exc:
        raise _counted(_unexpected(exc, str(response.url))) from None
    return bytes(buffer)


def _unexpected(exc: Exception, url: str) -> UpstreamError:
    """An exception nobody classified: this request's protocol failure, logged for us."""
    log.warning(
        "upstream request to %s failed unexpectedly: %s",
        _masked(url),
        type(exc).__name__,
        extra={"error": type(exc).__name__},
    )
    return UpstreamError("protocol", f"upstream request failed ({type(exc).__name__})")


def _masked(url: str) -> str:
    try:
        return mask_url(url)
    except ValueError:
        return "a malformed URL"


def _classify(exc: httpx.HTTPError) -> UpstreamError:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError("timeout", f"upstream timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError | httpx.NetworkError):
        return UpstreamError("connect", f"upstream unreachable: {exc}")
    return UpstreamError("protocol", f"upstream protocol error: {exc}")
