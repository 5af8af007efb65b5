"""Shared test configuration: hypothesis profiles and the fixture-file loader."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio_asyncio
from hypothesis import HealthCheck, settings

from synctv.store.db import Database, open_database
from synctv.store.migrations import migrate
from tests._harness.postgres import RunningPostgres, postgres_server
from tests._harness.redis import redis_server

FIXTURES = Path(__file__).parent / "fixtures"

# `ci` keeps the whole suite inside its time budget and reproducible; `fuzz` is for `make fuzz`.
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=20_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def fixture_bytes(relative: str) -> bytes:
    """Read a binary fixture from tests/fixtures (see tests/fixtures/README.md for provenance)."""
    return (FIXTURES / relative).read_bytes()


@pytest.fixture(scope="session")
def postgres() -> Iterator[RunningPostgres]:
    """One real PostgreSQL server for the whole session (embedded mechanism, Unix socket).

    Its directory is not under pytest's tmp_path rotation, which deletes old session dirs (and so
    a running server's socket) when another pytest run starts on the same machine.
    """
    directory = Path(tempfile.mkdtemp(prefix="synctv-test-pg-"))
    try:
        with postgres_server(directory / "postgres") as server:
            yield server
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """A private directory outside pytest's tmp_path, for tests that put PostgreSQL data in it.

    Another pytest session resets /tmp/pytest-of-<user> to 0700; as root PostgreSQL runs as its
    own user and needs the search bit on every parent, so a cluster under tmp_path could fail.
    """
    directory = Path(tempfile.mkdtemp(prefix="synctv-test-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_dsn(postgres: RunningPostgres) -> str:
    return postgres.dsn


@pytest.fixture
def fresh_dsn(postgres: RunningPostgres) -> str:
    """A brand-new empty database on the session server, for tests that run the whole app."""
    return postgres.create_database()


@pytest.fixture
async def database(postgres_dsn: str) -> AsyncIterator[Database]:
    """A migrated database on the session server, inside a trio-asyncio loop, fresh per test."""
    async with trio_asyncio.open_loop(), open_database(postgres_dsn) as db:
        await db.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await migrate(db)
        yield db


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a session-wide redis-server; tests isolate themselves with distinct key prefixes."""
    with redis_server() as server:
        yield server.url
