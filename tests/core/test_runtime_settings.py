"""The per-process snapshot on real PostgreSQL: a change committed through one pool reaches a
snapshot listening on another within a second, subscribers hear it, a lost listening
connection reconnects and reloads everything (so a change it was not told about is seen)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import trio
from prometheus_client import REGISTRY

from synctv.core.runtime_settings import RuntimeSettings, SettingsService
from synctv.core.setting_secrets import SettingCipher
from synctv.core.settings import (
    OAUTH2_PROVIDERS,
    RATELIMIT_AUTH_LOCKOUT_MINUTES,
    RATELIMIT_STUN_PER_SOURCE_PER_SECOND,
    SERVER_NAME,
)
from synctv.store.audit import CLI_ACTOR
from synctv.store.db import Database, open_database
from synctv.store.settings import SettingsStore
from synctv.supervision import restarting
from tests.support.postgres import terminate_listening

KEY = bytes(range(32))


@pytest.fixture
async def other_pool(database: Database) -> AsyncIterator[Database]:
    """A second pool on the same database: what another process would hold."""
    dsn = await database.fetchval(
        "SELECT 'postgresql:///' || current_database() || '?host=' ||"
        " current_setting('unix_socket_directories') || '&port=' || current_setting('port')"
        " || '&user=' || current_user"
    )
    async with open_database(dsn, min_size=1, max_size=3) as pool:
        yield pool


def snapshot_on(db: Database) -> RuntimeSettings:
    return RuntimeSettings(SettingsStore(db), SettingCipher(KEY), db)


async def wait_for(predicate: object, limit: float) -> float:
    began = trio.current_time()
    with trio.fail_after(limit):
        # Polled as a reader of the snapshot would see it (no event to wait on from outside).
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110
            await trio.sleep(0.01)
    return trio.current_time() - began


async def test_a_change_reaches_another_pool_within_a_second(
    database: Database, other_pool: Database, nursery: trio.Nursery
) -> None:
    writer = SettingsService(SettingsStore(database), SettingCipher(KEY))
    await writer.set("ratelimit.authLockoutMinutes", [2, 4], CLI_ACTOR)  # before it starts
    snapshot = snapshot_on(other_pool)
    heard: list[object] = []
    snapshot.subscribe("server.name", heard.append)
    snapshot.subscribe("server.name", lambda _value: 1 / 0)  # a broken subscriber is contained
    await nursery.start(snapshot.run)
    assert snapshot.get(RATELIMIT_AUTH_LOCKOUT_MINUTES) == [2, 4]
    assert snapshot.get(SERVER_NAME) == "SyncTV"
    assert snapshot.public()["server.name"] == "SyncTV"

    await writer.set("server.name", "Movie night", CLI_ACTOR)
    elapsed = await wait_for(lambda: snapshot.get("server.name") == "Movie night", 1.0)
    assert elapsed < 1.0
    assert heard == ["Movie night"]
    assert snapshot.public()["server.name"] == "Movie night"

    await writer.set("ratelimit.stunPerSourcePerSecond", 5, CLI_ACTOR)
    await wait_for(lambda: snapshot.get(RATELIMIT_STUN_PER_SOURCE_PER_SECOND) == 5.0, 1.0)
    await writer.reset("server.name", CLI_ACTOR)
    await wait_for(lambda: snapshot.get("server.name") == "SyncTV", 1.0)
    assert heard == ["Movie night", "SyncTV"]

    secret = {"name": "g", "issuer": "https://id.example", "clientId": "c", "clientSecret": "s"}
    await writer.set("oauth2.providers", [secret], CLI_ACTOR)
    await wait_for(lambda: snapshot.get(OAUTH2_PROVIDERS) != [], 1.0)
    assert snapshot.get(OAUTH2_PROVIDERS)[0].client_secret == "s"  # opened for its users
    assert "oauth2.providers" not in snapshot.public()


async def test_reconnect_reloads_everything(
    database: Database, other_pool: Database, nursery: trio.Nursery
) -> None:
    snapshot = snapshot_on(other_pool)
    await nursery.start(snapshot.run)
    assert snapshot.reloads == 1
    assert await terminate_listening(database) == 1
    # Written with no notification at all: only a full reload can find it.
    await database.execute(
        "INSERT INTO runtime_settings (key, value, updated_by) VALUES ($1, $2::jsonb, 'cli')",
        "server.name",
        json.dumps("Written while away"),
    )
    await wait_for(lambda: snapshot.reloads == 2, 10.0)
    assert snapshot.get("server.name") == "Written while away"
    # And it listens again.
    writer = SettingsService(SettingsStore(database), SettingCipher(KEY))
    await writer.set("server.name", "Back", CLI_ACTOR)
    await wait_for(lambda: snapshot.get("server.name") == "Back", 1.0)


async def test_an_unusable_stored_value_serves_the_default(database: Database) -> None:
    await database.execute(
        "INSERT INTO runtime_settings (key, value, updated_by) VALUES"
        " ('room.defaultMaxMembers', '1'::jsonb, 'cli'), ('gone.setting', '1'::jsonb, 'cli')"
    )
    snapshot = snapshot_on(database)
    await snapshot.reload_all()
    assert snapshot.get("room.defaultMaxMembers") == 100


def crashes() -> float:
    value = REGISTRY.get_sample_value("synctv_task_crashes_total", {"task": "settings_listener"})
    return value or 0.0


async def test_a_crashing_listener_is_restarted_by_its_supervisor(
    database: Database, other_pool: Database, nursery: trio.Nursery
) -> None:
    """Not a lost connection but a failing reload (the table is gone): the listener crashes,
    `restarting` starts it again with backoff, and once the table is back it serves again."""
    snapshot = snapshot_on(other_pool)
    await nursery.start(restarting, "settings_listener", snapshot.run)
    crashes_before = crashes()
    await database.execute("ALTER TABLE runtime_settings RENAME TO runtime_settings_away")
    await database.execute("SELECT pg_notify('synctv_settings', 'server.name')")
    await wait_for(lambda: crashes() > crashes_before, 5.0)
    await database.execute("ALTER TABLE runtime_settings_away RENAME TO runtime_settings")
    writer = SettingsService(SettingsStore(database), SettingCipher(KEY))
    await writer.set("server.name", "Restarted", CLI_ACTOR)
    await wait_for(lambda: snapshot.get("server.name") == "Restarted", 10.0)
