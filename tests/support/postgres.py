"""A throwaway PostgreSQL cluster for tests, run by the same mechanism as the embedded default."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from synctv.store import embedded_pg
from synctv.store.db import Database


@dataclass
class RunningPostgres:
    cluster: embedded_pg.Cluster
    process: subprocess.Popen[bytes] | None

    @property
    def dsn(self) -> str:
        return self.cluster.dsn

    def database_dsn(self, name: str) -> str:
        return self.cluster.dsn.replace(f"/{embedded_pg.DATABASE}?", f"/{name}?")

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (named uniquely unless ``name``) and return its DSN; whoever
        creates one drops it (:meth:`drop_database`) when done with it."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        self._client("createdb", name)
        return self.database_dsn(name)

    def drop_database(self, dsn: str) -> None:
        """Drop a database made by :meth:`create_database`, ending connections still open to it.

        Why: one left in the session's cluster is deleted with the cluster's directory at the
        session's end, ~450 files per migrated database, and deleting a file that has reached
        the disk costs milliseconds on a disk mounted with online discard: 33 whole-server
        tests' databases made a 32 s session teardown. Dropped as soon as its test ends, mostly
        before its files are written out, one costs ~20 ms.
        """
        name = dsn.partition("?")[0].rpartition("/")[2]
        self._client("dropdb", "--force", name)

    def _client(self, tool: str, *args: str) -> None:
        """Run one of PostgreSQL's client programs (``createdb``, ``dropdb``) on this server."""
        identity = embedded_pg.process_identity(self.cluster)
        done = subprocess.run(
            [
                str(self.cluster.bindir / tool),
                "-h",
                str(self.cluster.socket_dir),
                "-p",
                str(embedded_pg.SOCKET_PORT),
                "-U",
                embedded_pg.SUPERUSER,
                *args,
            ],
            check=False,
            capture_output=True,
            text=True,
            user=identity.user,
            group=identity.group,
            extra_groups=identity.extra_groups,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stderr.strip()}")

    def start(self) -> None:
        identity = embedded_pg.process_identity(self.cluster)
        with self.cluster.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [*embedded_pg.server_command(self.cluster), *THROWAWAY],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=identity.user,
                group=identity.group,
                extra_groups=identity.extra_groups,
            )
        embedded_pg.wait_ready(self.cluster)

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


# Test clusters are thrown away: no fsync, no waiting for the WAL flush at commit, no full
# pages after a checkpoint (a crash loses the cluster, which a test never needs; the product's
# own embedded server keeps all three). On a busy disk the fsyncs were most of a database test's
# time, and of the session's end (the shutdown checkpoint).
THROWAWAY = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")


def start_postgres(pgdata: Path) -> RunningPostgres:
    """Create (or reuse) a cluster under ``pgdata`` and run it; the caller stops it."""
    server = RunningPostgres(embedded_pg.prepare_cluster(pgdata), None)
    server.start()
    return server


@contextlib.contextmanager
def postgres_server(pgdata: Path) -> Iterator[RunningPostgres]:
    """Create (or reuse) a cluster under ``pgdata``, run it, stop it on exit."""
    server = start_postgres(pgdata)
    try:
        yield server
    finally:
        server.stop()


def require_or_skip(what: str) -> None:
    """Skip locally when a real peer is missing, but fail in CI, where it must be installed."""
    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI", pytrace=False)
    pytest.skip(f"{what} is not installed")


async def fetch_rows(dsn: str, statement: str, *args: object) -> list[Any]:
    """One statement on a server's database from a Trio test, while that server owns the
    trio-asyncio loop: asyncpg on a loop of its own, in a thread. Its rows (empty for a
    statement that returns none)."""
    import asyncio

    import asyncpg

    async def run() -> list[Any]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(statement, *args))
        finally:
            await conn.close()

    return await trio.to_thread.run_sync(lambda: asyncio.run(run()))


# A backend whose last statement was a LISTEN: a Database.listen connection (its keepalive
# query replaces that after 15 quiet seconds, longer than a test looks).
_LISTENING = "FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"


async def listening_backends(database: Database) -> list[int]:
    """The process ids of the database's backends listening (see ``_LISTENING``)."""
    return [row["pid"] for row in await database.fetch(f"SELECT pid {_LISTENING}")]


async def terminate_listening(database: Database) -> int:
    """Ends the database's listening backends with ``pg_terminate_backend``, as a PostgreSQL
    restart or a failover would: how many were ended."""
    return int(await database.fetchval(f"SELECT count(pg_terminate_backend(pid)) {_LISTENING}"))
