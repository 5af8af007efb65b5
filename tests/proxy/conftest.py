"""Fixtures: a real origin on 127.0.0.1, and the proxy (cache + upstream + route) in front of it."""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio

from synctv.api.http.asgi import App
from synctv.api.http.routes.proxy import proxy_routes
from synctv.errors import DomainError
from synctv.outbound.client import HttpUpstream
from synctv.outbound.scope import LanScope
from synctv.providers.base import PlaybackSource, ResolvedSource
from synctv.proxy.service import MediaProxy
from synctv.proxy.slice_cache import SliceCache
from synctv.proxy.token import ProxyTokenSigner
from tests.proxy.upstream_server import UpstreamServer

SECRET = b"s" * 32


@dataclass
class StaticResolver:
    """Instance ``"origin"`` maps a media reference (a path) onto the origin's base URL.

    As a LAN service its scope is the origin's host plus ``lan_hosts``; ``source`` overrides the
    whole source (subtitles, qualities) for the tests that need one.
    """

    base: str
    headers: tuple[tuple[str, str], ...] = ()
    lan_service: bool = True
    calls: int = 0
    lan_hosts: tuple[str, ...] = ()
    source: PlaybackSource | None = None
    listeners: list[Callable[[str], Awaitable[None]]] = field(default_factory=list)

    async def resolve_for_proxy(self, instance_id: str, media_ref: str) -> ResolvedSource:
        self.calls += 1
        if instance_id != "origin":
            raise DomainError("provider_not_found", "no such instance")
        url = media_ref if "://" in media_ref else self.base + media_ref
        source = self.source or PlaybackSource(url, self.headers)
        scope = LanScope.parse(["127.0.0.1", *self.lan_hosts]) if self.lan_service else None
        return ResolvedSource(source, scope)

    def subscribe(self, listener: Callable[[str], Awaitable[None]]) -> None:
        self.listeners.append(listener)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    complete: bool
    length: int = 0
    crc: int = 0


@dataclass
class CacheRun:
    """Runs ``SliceCache.run`` and records how it ended: a crash must not pass unnoticed."""

    alive: bool = False
    crash: BaseException | None = None

    async def watch(
        self, cache: SliceCache, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self.alive = True
        try:
            await cache.run(task_status=task_status)
        except Exception as exc:  # recorded for the test to assert on, not raised into the fixture
            self.crash = exc
        finally:
            self.alive = False


@dataclass
class Harness:
    origin: UpstreamServer
    proxy: MediaProxy
    cache: SliceCache | None
    upstream: HttpUpstream
    resolver: StaticResolver
    app: App
    signer: ProxyTokenSigner = field(default_factory=lambda: ProxyTokenSigner(SECRET))
    cache_run: CacheRun = field(default_factory=CacheRun)

    def path(self, media_ref: str, instance: str = "origin") -> str:
        return f"/proxy/{self.proxy.issue_token(instance, media_ref)}"

    async def get(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        method: str = "GET",
        keep_body: bool = True,
    ) -> Reply:
        return await call(self.app, path, headers or {}, method, keep_body)


async def call(
    app: App, path: str, headers: dict[str, str], method: str = "GET", keep_body: bool = True
) -> Reply:
    """Drive the ASGI app directly, as an ASGI server would."""
    sent: list[MutableMapping[str, Any]] = []
    body = bytearray()
    length = 0
    crc = 0
    complete = False

    async def receive() -> MutableMapping[str, Any]:
        if not sent and not getattr(receive, "done", False):
            receive.done = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b"", "more_body": False}
        await trio.sleep_forever()
        raise AssertionError

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal length, crc, complete
        if message["type"] == "http.response.start":
            sent.append(message)
            return
        chunk = bytes(message.get("body", b""))
        length += len(chunk)
        crc = zlib.crc32(chunk, crc)
        if keep_body:
            body.extend(chunk)
        if not message.get("more_body", False):
            complete = True

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
    }
    await app(scope, receive, send)
    start = sent[0]
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return Reply(start["status"], response_headers, bytes(body), complete, length, crc)


HarnessFactory = Callable[..., Any]


@pytest.fixture
async def origin(nursery: trio.Nursery) -> UpstreamServer:
    server = UpstreamServer()
    await nursery.start(server.serve)
    return server


@pytest.fixture
async def make_harness(
    nursery: trio.Nursery, origin: UpstreamServer
) -> AsyncIterator[HarnessFactory]:
    upstreams: list[HttpUpstream] = []

    async def factory(
        *,
        cache: bool = True,
        slice_size: int = 4096,
        max_bytes: int = 4096 * 1024,
        read_timeout: float = 5.0,
        lan_service: bool = True,
        allow_private: bool = False,
        ttl: float = 300.0,
        stale_max_age: float = 60.0,
        clock: Callable[[], float] = time.time,
        store: Any = None,
        allowed_addresses: tuple[str, ...] = (),
        max_redirects: int = 5,
        own_listeners: Callable[[], Any] | None = None,
    ) -> Harness:
        upstream = HttpUpstream(
            connect_timeout=2.0,
            read_timeout=read_timeout,
            max_connections=64,
            allow_private=allow_private,
            allowed_addresses=allowed_addresses,
            max_redirects=max_redirects,
            own_listeners=own_listeners or (lambda: ()),
        )
        upstreams.append(upstream)
        slice_cache = None
        cache_run = CacheRun()
        if cache:
            slice_cache = SliceCache(
                upstream,
                slice_size=slice_size,
                max_bytes=max_bytes,
                ttl=ttl,
                stale_max_age=stale_max_age,
                fetch_timeout=read_timeout * 2,
                clock=clock,
                store=store,
            )
            await nursery.start(cache_run.watch, slice_cache)
        resolver = StaticResolver(origin.base, lan_service=lan_service)
        proxy = MediaProxy(
            signer=ProxyTokenSigner(SECRET),
            resolver=resolver,
            upstream=upstream,
            cache=slice_cache,
            token_ttl=3600,
            clock=clock,
        )
        app = App(proxy_routes(proxy), clock=time.monotonic)
        return Harness(origin, proxy, slice_cache, upstream, resolver, app, cache_run=cache_run)

    yield factory
    for upstream in upstreams:
        await upstream.aclose()
