"""Runtime settings reach the running server's behaviour without a restart: rate limits (hot,
including 0 = off and the STUN limit's fall-back to the config file), the ICE server list, and
the audit retention pass."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
import trio_asyncio

from synctv.app.state import follow_limit_settings
from synctv.core.runtime_settings import RuntimeSettings, SettingsService
from synctv.core.setting_secrets import SettingCipher
from synctv.core.settings import RATELIMIT_STUN_PER_SOURCE_PER_SECOND
from synctv.state.limits import API_PER_ADDRESS, STUN_PER_SOURCE, LimitBook
from synctv.store.audit import CLI_ACTOR
from synctv.store.db import Database, open_database
from synctv.store.migrations import migrate
from synctv.store.settings import SettingsStore
from tests.support.cli import synctv
from tests.support.postgres import RunningPostgres
from tests.support.process import environment
from tests.support.server import running_server, server_config, url

pytestmark = pytest.mark.slow

KEY = bytes(range(32))
STUN_SETTING = RATELIMIT_STUN_PER_SOURCE_PER_SECOND.key


async def cli(data_dir: Path, *args: str) -> str:
    """``synctv admin settings ARGS`` against the server of ``data_dir``; must succeed."""
    code, out, err = await synctv(data_dir, "admin", "settings", *args)
    assert code == 0, err
    return out


def limit_of(book: LimitBook, name: str) -> float | None:
    rule = book.rule(name)
    return None if rule is None else rule.limit


async def statuses(client: httpx.AsyncClient, target: str, count: int) -> list[int]:
    return [(await client.get(target)).status_code for _ in range(count)]


async def test_a_rate_limit_change_applies_to_the_running_server(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    data_dir = tmp_path / "data"
    config = server_config(data_dir, await trio.to_thread.run_sync(postgres.create_database))
    async with running_server(config) as server, httpx.AsyncClient() as client:
        target = url(server.addresses.http, "/api/public/settings")
        assert set(await statuses(client, target, 20)) == {200}  # default: 600/min

        await cli(data_dir, "set", "ratelimit.apiPerAddressPerMinute", "3")
        with trio.fail_after(5):  # the listener delivers within about a second
            while 429 not in (seen := await statuses(client, target, 5)):  # noqa: ASYNC110 (polled as a client sees it)
                await trio.sleep(0.05)
        refused = await client.get(target)
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert seen.count(200) <= 3

        await cli(data_dir, "set", "ratelimit.apiPerAddressPerMinute", "0")  # 0: off
        with trio.fail_after(5):
            while 429 in await statuses(client, target, 3):  # noqa: ASYNC110 (polled as a client sees it)
                await trio.sleep(0.05)
        assert set(await statuses(client, target, 30)) == {200}


async def test_external_ice_servers_are_offered_after_the_builtin_stun(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    data_dir = tmp_path / "data"
    config = server_config(data_dir, await trio.to_thread.run_sync(postgres.create_database))
    turn = {"urls": ["turn:turn.example:3478"], "username": "u", "credential": "s3cret"}
    async with running_server(config) as server, httpx.AsyncClient() as client:
        target = url(server.addresses.http, "/api/webrtc/ice-servers")
        before = (await client.get(target)).json()["ice_servers"]
        assert [s["urls"][0].split(":")[0] for s in before] == ["stun"]

        await cli(data_dir, "set", "webrtc.externalIceServers", json.dumps([turn]))
        with trio.fail_after(5):
            while len(servers := (await client.get(target)).json()["ice_servers"]) < 2:  # noqa: ASYNC110 (polled as a client sees it)
                await trio.sleep(0.05)
        assert servers == [*before, turn]


async def test_stun_limit_keeps_the_config_value_until_the_setting_is_stored(
    database: Database,
) -> None:
    settings = RuntimeSettings(SettingsStore(database), SettingCipher(KEY), database)
    await settings.reload_all()
    book = LimitBook()
    follow_limit_settings(book, settings, {STUN_SETTING: 50.0})
    assert limit_of(book, STUN_PER_SOURCE) == 50.0  # the config file's value

    writer = SettingsService(SettingsStore(database), SettingCipher(KEY))
    await writer.set(STUN_SETTING, 7, CLI_ACTOR)
    await settings.reload(STUN_SETTING)
    assert limit_of(book, STUN_PER_SOURCE) == 7.0

    await writer.reset(STUN_SETTING, CLI_ACTOR)
    await settings.reload(STUN_SETTING)
    assert limit_of(book, STUN_PER_SOURCE) == 50.0  # back to the file's value

    await writer.set("ratelimit.apiPerAddressPerMinute", 0, CLI_ACTOR)
    await settings.reload("ratelimit.apiPerAddressPerMinute")
    assert book.rule(API_PER_ADDRESS) is None  # 0 turns it off


async def test_audit_retention_reads_its_setting(tmp_path: Path, postgres: RunningPostgres) -> None:
    dsn = await trio.to_thread.run_sync(postgres.create_database)
    async with trio_asyncio.open_loop(), open_database(dsn, min_size=1, max_size=2) as database:
        await migrate(database)
        await SettingsService(SettingsStore(database), SettingCipher(KEY)).set(
            "audit.retentionDays", 3, CLI_ACTOR
        )
        for age_days in (10, 1):
            await database.execute(
                "INSERT INTO audit_events (occurred_at, actor, action, target_type, target_id,"
                " outcome, details) VALUES ($1, 'cli', 'settings.changed', 'setting', $2,"
                " 'success', '{}')",
                datetime.now(UTC) - timedelta(days=age_days),
                f"aged-{age_days}",
            )

    async def aged_left() -> list[str]:
        done = await trio.run_process(
            ["psql", dsn, "-tAc", "SELECT target_id FROM audit_events"
             " WHERE target_id LIKE 'aged-%' ORDER BY target_id"],
            capture_stdout=True,
        )  # fmt: skip
        return done.stdout.decode().split()

    config = server_config(tmp_path / "data", dsn)
    async with running_server(config):
        with trio.fail_after(10):  # the retention task runs once at start
            while (left := await aged_left()) != ["aged-1"]:  # noqa: ASYNC110 (polled as a client sees it)
                await trio.sleep(0.1)
    assert left == ["aged-1"]  # 365 days (the default) would have kept both


async def test_a_credential_key_rotation_reseals_secret_settings(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    """``synctv admin provider rotate-key`` re-seals the secret settings too: after it, and
    after a restart with only the new key on disk, the TURN credential still reads back."""
    data_dir = tmp_path / "data"
    dsn = await trio.to_thread.run_sync(postgres.create_database)
    turn = {"urls": ["turn:turn.example:3478"], "username": "u", "credential": "s3cret"}

    async def stored_key_ids() -> str:
        done = await trio.run_process(
            ["psql", dsn, "-tAc", "SELECT value::text FROM runtime_settings"
             " WHERE key = 'webrtc.externalIceServers'"],
            capture_stdout=True,
        )  # fmt: skip
        return done.stdout.decode()

    async def offered(server_http: list[str]) -> list[dict[str, object]]:
        async with httpx.AsyncClient() as client:
            got = await client.get(url(server_http, "/api/webrtc/ice-servers"))
        servers: list[dict[str, object]] = got.json()["ice_servers"]
        return servers

    async with running_server(server_config(data_dir, dsn)) as server:
        await cli(data_dir, "set", "webrtc.externalIceServers", json.dumps([turn]))
        sealed_before = await stored_key_ids()
        assert "s3cret" not in sealed_before
        code, _, err = await synctv(
            data_dir, "admin", "provider", "rotate-key", "--generate-new-key"
        )
        assert code == 0, err
        sealed_after = await stored_key_ids()
        assert sealed_after != sealed_before  # re-sealed under the new key
        assert turn in await offered(server.addresses.http)

    keys_on_disk = sorted(p.name for p in (data_dir / "secrets").iterdir())
    async with running_server(server_config(data_dir, dsn)) as server:
        with trio.fail_after(5):
            while turn not in (servers := await offered(server.addresses.http)):  # noqa: ASYNC110
                await trio.sleep(0.05)
    assert turn in servers, keys_on_disk


async def test_a_change_made_through_one_server_process_reaches_another_within_a_second(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    """Two `synctv serve` processes on one database (the issue's "Done means 1"): the CLI
    changes a setting through the second one; the first serves it within a second."""
    dsn = await trio.to_thread.run_sync(postgres.create_database)
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    env = environment(second_dir) | {"SYNCTV_DATABASE_URL": dsn}

    async with running_server(server_config(first_dir, dsn)) as first, trio.open_nursery() as n:
        second = await n.start(
            partial(trio.run_process, [sys.executable, "-m", "synctv", "serve"], env=env,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        )  # fmt: skip
        try:
            with trio.fail_after(60):  # the second process answers on its management socket
                while (await synctv(second_dir, "admin", "status"))[0] != 0:  # noqa: ASYNC110
                    await trio.sleep(0.2)
            target = url(first.addresses.http, "/api/public/settings")
            async with httpx.AsyncClient() as client:
                assert (await client.get(target)).json()["server.name"] == "SyncTV"
                await cli(second_dir, "set", "server.name", "Friday Night")
                changed_at = trio.current_time()
                with trio.fail_after(5):
                    while (await client.get(target)).json()["server.name"] != "Friday Night":  # noqa: ASYNC110
                        await trio.sleep(0.01)
                assert trio.current_time() - changed_at < 1.0
        finally:
            second.send_signal(signal.SIGINT)
