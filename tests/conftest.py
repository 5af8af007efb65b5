"""Shared test configuration: hypothesis profiles, the fixture-file loader, real PostgreSQL and
redis-server for the session, and a migrated database per test copied from a template."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio
import trio_asyncio
from hypothesis import HealthCheck, settings

from synctv.store.db import Database, open_database
from synctv.store.migrations import migrate
from tests.support.postgres import RunningPostgres, postgres_server
from tests.support.redis import redis_server

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
# `quick` is for `make quick`: the same properties, fewer examples.
settings.register_profile(
    "quick",
    max_examples=25,
    deadline=None,
    derandomize=True,
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
def fresh_dsn(postgres: RunningPostgres) -> Iterator[str]:
    """A brand-new empty database on the session server, for tests that run the whole app;
    dropped after the test."""
    dsn = postgres.create_database()
    yield dsn
    postgres.drop_database(dsn)


# Migrated once per session; every ``database`` is a copy of it (CREATE DATABASE ... TEMPLATE:
# a file copy, milliseconds however many migrations there are).
MIGRATED_TEMPLATE = "synctv_migrated_template"


@pytest.fixture(scope="session")
def migrated_template(postgres: RunningPostgres) -> str:
    """The name of a database with every migration applied (never connected to by tests)."""

    async def apply() -> None:
        dsn = postgres.database_dsn(MIGRATED_TEMPLATE)
        async with trio_asyncio.open_loop(), open_database(dsn) as db:
            await migrate(db)

    postgres.create_database(MIGRATED_TEMPLATE)
    trio.run(apply)
    return MIGRATED_TEMPLATE


@pytest.fixture
async def database(
    postgres: RunningPostgres, postgres_dsn: str, migrated_template: str
) -> AsyncIterator[Database]:
    """A migrated database of its own, inside a trio-asyncio loop, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    async with (
        trio_asyncio.open_loop(),
        open_database(postgres_dsn, min_size=1, max_size=1) as admin,
    ):
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
        try:
            async with open_database(postgres.database_dsn(name)) as db:
                yield db
        finally:
            with trio.CancelScope(shield=True):
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a session-wide redis-server; tests isolate themselves with distinct key prefixes."""
    with redis_server() as server:
        yield server.url


# Modules whose tests start processes, whole servers, encoders or real-time waits: left out of
# `make quick` (marked `slow` here, in one place, rather than in each module).
SLOW_MODULES = frozenset(
    {
        "tests/test_serve_process.py",
        "tests/test_doctor.py",
        "tests/test_fd_exhaustion.py",
        "tests/test_cli.py",
        "tests/test_app.py",
        "tests/test_bench_smoke.py",
        "tests/api/test_admin_live.py",
        "tests/livestream/test_hls.py",
        "tests/livestream/test_hls_store.py",
        "tests/rtmp/test_server.py",
        "tests/rtmp/test_server_hardening.py",
        "tests/rtmp/test_preauth_memory.py",
        "tests/rtmp/test_memory_bounds.py",
        "tests/proxy/test_proxy_ranges.py",
        "tests/proxy/test_upstream_failures.py",
        "tests/state/test_redis.py",
        "tests/state/test_state.py",
        "tests/stun/test_server.py",
        "tests/api/test_live_flv_native.py",
        "tests/api/test_public_grpc.py",
        "tests/web/test_sync_port.py",  # runs Node
    }
)
_ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        relative = item.path.resolve().relative_to(_ROOT).as_posix()
        if relative in SLOW_MODULES or relative.startswith("tests/e2e/"):
            item.add_marker(pytest.mark.slow)
