"""Fixtures: a real origin on 127.0.0.1 and the HTTP client providers use."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from synctv.outbound.client import HttpUpstream
from tests.proxy.upstream_server import UpstreamServer


@pytest.fixture
async def origin(nursery: trio.Nursery) -> UpstreamServer:
    server = UpstreamServer()
    await nursery.start(server.serve)
    return server


@pytest.fixture
async def http() -> AsyncIterator[HttpUpstream]:
    upstream = HttpUpstream(connect_timeout=2.0, read_timeout=5.0)
    yield upstream
    await upstream.aclose()
