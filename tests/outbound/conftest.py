"""Real origins for the outbound client tests (127.0.0.1)."""

from __future__ import annotations

import pytest
import trio

from tests.proxy.upstream_server import UpstreamServer


@pytest.fixture
async def origin(nursery: trio.Nursery) -> UpstreamServer:
    server = UpstreamServer()
    await nursery.start(server.serve)
    return server
