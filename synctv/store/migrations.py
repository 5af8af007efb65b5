"""Versioned SQL migrations: ``migrations/NNNN_name.sql`` files shipped in the package.

Each pending file runs in its own transaction and is recorded in ``schema_migrations``. A session
advisory lock serialises concurrent migrators (several replicas starting at once). A database that
already has a version this code does not know is refused: running old code on a newer schema is how
data gets lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from synctv.store.db import Database

# Arbitrary constant: the advisory lock id that all SyncTV migrators agree on.
_MIGRATION_LOCK_ID = 0x5_7C_7F_00_01
_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql\Z")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


class SchemaTooNew(Exception):
    """The database was migrated by a newer SyncTV than this one."""


def load_migrations() -> list[Migration]:
    """The migrations shipped with this code, in version order (versions must be unique)."""
    found: list[Migration] = []
    for entry in resources.files("synctv.store").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {versions}")
    return found


async def migrate(db: Database, migrations: list[Migration] | None = None) -> list[int]:
    """Apply pending migrations; returns the versions applied (empty when up to date)."""
    plan = load_migrations() if migrations is None else migrations
    return await db.run_on_connection(_migrate, plan)


async def schema_version(db: Database) -> int | None:
    """The newest applied version, or ``None`` before the first migration."""
    exists = await db.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return None
    version = await db.fetchval("SELECT max(version) FROM schema_migrations")
    return int(version) if version is not None else None


def latest_version(migrations: list[Migration] | None = None) -> int:
    plan = load_migrations() if migrations is None else migrations
    return plan[-1].version if plan else 0


async def _migrate(conn: Any, plan: list[Migration]) -> list[int]:
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
    try:
        return await _apply_pending(conn, plan)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)


async def _apply_pending(conn: Any, plan: list[Migration]) -> list[int]:
    await conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    rows = await conn.fetch("SELECT version FROM schema_migrations")
    applied = {int(row["version"]) for row in rows}
    newest_known = plan[-1].version if plan else 0
    if applied and max(applied) > newest_known:
        raise SchemaTooNew(
            f"the database schema is at version {max(applied)}, newer than this SyncTV knows "
            f"({newest_known}); upgrade SyncTV instead of running an older release on it"
        )
    done: list[int] = []
    for migration in plan:
        if migration.version in applied:
            continue
        async with conn.transaction():  # one migration, all or nothing
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
        done.append(migration.version)
    return done
