"""Fixtures for the state tests: one real redis-server for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests._harness.redis import redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a session-wide redis-server; tests isolate themselves with distinct key prefixes."""
    with redis_server() as server:
        yield server.url
