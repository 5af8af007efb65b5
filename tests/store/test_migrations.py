"""Migrations against a real PostgreSQL: fresh, repeated, and refusal of a newer database."""

from __future__ import annotations

import pytest

from synctv.store.db import Database
from synctv.store.migrations import (
    Migration,
    SchemaTooNew,
    latest_version,
    load_migrations,
    migrate,
    schema_version,
)


async def test_fresh_database_gets_every_migration(database: Database) -> None:
    # The fixture already migrated; a fresh schema shows every shipped version recorded.
    rows = await database.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == [m.version for m in load_migrations()]
    assert await schema_version(database) == latest_version()


async def test_repeated_migrate_applies_nothing(database: Database) -> None:
    assert await migrate(database) == []
    assert await migrate(database) == []


async def test_pending_migrations_apply_in_order_each_in_its_own_transaction(
    database: Database,
) -> None:
    base = load_migrations()
    top = base[-1].version
    good = Migration(top + 1, "add_t", "CREATE TABLE t_ok (id int)")
    bad = Migration(top + 2, "broken", "CREATE TABLE t_bad (id int); SELECT no_such_fn()")
    with pytest.raises(Exception, match="no_such_fn"):
        await migrate(database, [*base, good, bad])
    # The good one stays applied; the broken one left nothing behind.
    assert await schema_version(database) == top + 1
    assert await database.fetchval("SELECT to_regclass('t_bad') IS NULL")
    assert await database.fetchval("SELECT to_regclass('t_ok') IS NOT NULL")


async def test_newer_database_is_refused(database: Database) -> None:
    await database.execute(
        "INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')",
        latest_version() + 10,
    )
    with pytest.raises(SchemaTooNew, match="newer than this SyncTV knows"):
        await migrate(database)
