"""The general REST limit through the real HTTP listener: 429 with Retry-After on /api routes,
media routes untouched, the trusted-proxy resolved address is what is limited, and with Redis
stopped the API keeps answering (fail open)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
import trio_asyncio

from synctv.api.http.asgi import Request, Response, Route
from synctv.api.http.routes.webrtc import webrtc_router
from synctv.api.http.server import HttpListenerSettings, HttpServer
from synctv.api.http.web import build_web_app
from synctv.config import ServerConfig, WebRTCConfig
from synctv.state.base import ShortLivedState
from synctv.state.limits import LimitBook, RateLimits
from synctv.state.memory import MemoryState
from synctv.state.redis import open_redis_state
from tests.support.redis import RedisServer, redis_server

ICE = "/api/webrtc/ice-servers"
PER_MINUTE = 3


@asynccontextmanager
async def serving(state: ShortLivedState, **server: Any) -> AsyncIterator[str]:
    """The web app with the real ICE route and a raw media-like route, limited by a small book."""
    limits = RateLimits(state, LimitBook({"ratelimit.apiPerAddressPerMinute": PER_MINUTE}))

    async def media(request: Request) -> Response:
        return Response(200, b"media")

    app = build_web_app(
        ServerConfig.model_validate(server),
        routes=[Route(("GET",), "/live/{name}", media, "media")],
        api_routers=[webrtc_router(WebRTCConfig(), bound_stun_port=lambda: 3478)],
        observe=None,
        clock=trio.current_time,
        api_limit=limits.check_api,
    )
    settings = HttpListenerSettings(
        "test", "127.0.0.1", 0, max_connections=100, max_connections_per_address=100
    )
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(HttpServer(app, settings).serve)
        yield binds[0]
        nursery.cancel_scope.cancel()


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[ShortLivedState]:
    if request.param == "memory":
        memory = MemoryState()
        yield memory
        await memory.aclose()
        return
    url: str = request.getfixturevalue("redis_url")
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(url, key_prefix=f"test:{uuid.uuid4().hex}:", timeout_seconds=3.0) as st,
    ):
        yield st


async def test_api_past_the_limit_gets_429_with_retry_after(state: ShortLivedState) -> None:
    async with serving(state) as url, httpx.AsyncClient(base_url=url) as client:
        for _ in range(PER_MINUTE):
            assert (await client.get(ICE)).status_code == 200
        refused = await client.get(ICE)
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert refused.headers["retry-after"] == str(60 // PER_MINUTE)  # whole seconds, up
        assert refused.headers["x-request-id"]  # the chain's headers are still there
        # Unmatched /api paths count too (a 404 flood is a flood); media routes never do.
        assert (await client.get("/api/nothing")).status_code == 429
        for _ in range(10):
            assert (await client.get("/live/a.flv")).status_code == 200


async def test_the_resolved_client_address_is_what_is_limited(state: ShortLivedState) -> None:
    # Untrusted peer: a fresh X-Forwarded-For per request does not buy a fresh bucket.
    async with (
        serving(state, trusted_proxies=["10.0.0.0/8"]) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        statuses = [
            (await client.get(ICE, headers={"x-forwarded-for": f"203.0.113.{i}"})).status_code
            for i in range(PER_MINUTE + 2)
        ]
        assert statuses == [200] * PER_MINUTE + [429, 429]
    # Trusted proxy in front: each forwarded client has its own bucket, and one is limited.
    async with (
        serving(state, trusted_proxies=["127.0.0.0/8"]) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        for i in range(PER_MINUTE + 2):
            forwarded = {"x-forwarded-for": f"198.51.100.{i}"}
            assert (await client.get(ICE, headers=forwarded)).status_code == 200
        same = {"x-forwarded-for": "192.0.2.50"}
        statuses = [(await client.get(ICE, headers=same)).status_code for _ in range(4)]
        assert statuses == [200] * PER_MINUTE + [429]


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


async def test_with_redis_stopped_the_api_fails_open(own_redis: RedisServer) -> None:
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(
            own_redis.url, key_prefix=f"test:{uuid.uuid4().hex}:", timeout_seconds=0.5
        ) as st,
        serving(st) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        for _ in range(PER_MINUTE):
            assert (await client.get(ICE)).status_code == 200
        assert (await client.get(ICE)).status_code == 429
        await trio.to_thread.run_sync(own_redis.stop)
        for _ in range(PER_MINUTE + 2):
            assert (await client.get(ICE)).status_code == 200  # unchecked, counted, logged once
