"""Upstream HTTP for the proxy and the providers: the only module that imports httpx.

Address pinning (DNS-rebinding defence): httpx resolves names inside its connection pool, after
any check we could make beforehand, so a name could resolve to a public address when checked and
to 127.0.0.1 when connected. Instead, :class:`PinnedBackend` is the pool's network backend: its
``connect_tcp(host, port)`` resolves ``host`` itself (``trio.socket.getaddrinfo``), vets every
address with the :class:`AddressPolicy`, and connects to a vetted *address*. httpcore still
knows the connection by its host name, so the Host header, TLS SNI and certificate verification
all use the name. A pooled connection is reused only for the same scheme/host/port, and was vetted
when made. There is one client (one pool) per policy (strict, and private-allowed for LAN
services), so a connection vetted under the lenient policy is never reused under the strict one.
httpx does not take a network backend as an argument, so :class:`_PinnedTransport` replaces the
pool its base class builds (a test pins this down).

Redirects are followed here, not by httpx, up to ``max_redirects`` hops: each hop is a new
request whose connection is vetted again; only http/https targets are followed, and
credentials (Authorization, Cookie) are dropped when a hop leaves the original origin.

Error handling: everything becomes :class:`UpstreamError` with a kind: ``refused`` (policy),
``timeout``, ``connect``, ``protocol``, ``redirects``; statuses are the caller's business.
Resource handling: :meth:`HttpUpstream.aclose` closes both pools; responses are closed when the
``open()`` context exits, also on cancellation.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
import trio

from synctv.providers.base import JsonReply, ProviderHttpError
from synctv.proxy.address_policy import AddressPolicy, AddressRefused, parse_ip, resolve_vetted
from synctv.proxy.slice_cache import UpstreamError, UpstreamTarget

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
# Provider API answers (directory listings, item metadata) larger than this are refused.
MAX_JSON_BYTES = 8 * 1024 * 1024
DEFAULT_USER_AGENT = "SyncTV-py"


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and vets host names itself, then connects to a vetted address (see module doc)."""

    def __init__(self, policy: AddressPolicy, lookup_timeout: float) -> None:
        self._policy = policy
        self._lookup_timeout = lookup_timeout
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
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
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


class HttpResponse:
    """An upstream response being streamed (implements ``slice_cache.UpstreamResponse``)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def url(self) -> str:
        return str(self._response.url)

    def header(self, name: str) -> str | None:
        value: str | None = self._response.headers.get(name)
        return value

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Raw body bytes as they arrive (no content decoding); failures are UpstreamError."""
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            raise _classify(exc) from None


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
    ) -> None:
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
                    PinnedBackend(self._policies[lenient], connect_timeout), limits
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
        response = await self._send("GET", target.url, headers, None, target.allow_private)
        try:
            yield HttpResponse(response)
        finally:
            with trio.CancelScope(shield=True):
                await response.aclose()

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        json_body: object = None,
        allow_private: bool = False,
    ) -> JsonReply:
        """One provider API call (implements ``providers.base.ProviderHttp``)."""
        base = [("user-agent", self._user_agent), ("accept", "application/json")]
        body = None if json_body is None else json.dumps(json_body).encode()
        if body is not None:
            base.append(("content-type", "application/json"))
        try:
            response = await self._send(method, url, _override(base, headers), body, allow_private)
            try:
                raw = await _read_bounded(response, MAX_JSON_BYTES)
            finally:
                await response.aclose()
        except UpstreamError as exc:
            raise ProviderHttpError(exc.kind, str(exc)) from None
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
        allow_private: bool,
    ) -> httpx.Response:
        lenient = allow_private or self._allow_private
        client = self._clients[lenient]
        origin = _origin(url)
        for _ in range(self._max_redirects + 1):
            _check_url(url, self._policies[lenient])
            if _origin(url) != origin:
                headers = [(k, v) for k, v in headers if k.lower() not in _CREDENTIAL_HEADERS]
            request = client.build_request(method, url, headers=headers, content=body)
            try:
                response = await client.send(request, stream=True)
            except AddressRefused as exc:
                raise UpstreamError("refused", str(exc)) from None
            except httpx.HTTPError as exc:
                raise _classify(exc) from None
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or location is None:
                return response
            await response.aclose()
            url = urljoin(url, location)
            if response.status_code == 303:
                method, body = "GET", None
        raise UpstreamError("redirects", f"more than {self._max_redirects} redirects")


def _check_url(url: str, policy: AddressPolicy) -> None:
    """Refuse non-HTTP schemes and refused literal hosts before any connection is attempted."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise UpstreamError("refused", "malformed upstream URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise UpstreamError("refused", "upstream URL must be http(s) with a host")
    try:
        policy.check_name(host)
        literal = parse_ip(host)
        if literal is not None:
            policy.check_address(literal)
    except AddressRefused as exc:
        raise UpstreamError("refused", str(exc)) from None


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        return parts.scheme, (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", "", None


def _override(
    base: list[tuple[str, str]], extra: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    extra = list(extra)
    names = {name.lower() for name, _ in extra}
    return [(k, v) for k, v in base if k.lower() not in names] + extra


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    buffer = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            buffer += chunk
            if len(buffer) > limit:
                raise UpstreamError("protocol", f"upstream answer larger than {limit} bytes")
    except httpx.HTTPError as exc:
        raise _classify(exc) from None
    return bytes(buffer)


def _classify(exc: httpx.HTTPError) -> UpstreamError:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError("timeout", f"upstream timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError | httpx.NetworkError):
        return UpstreamError("connect", f"upstream unreachable: {exc}")
    return UpstreamError("protocol", f"upstream protocol error: {exc}")
