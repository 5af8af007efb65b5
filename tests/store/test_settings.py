"""Runtime settings storage on real PostgreSQL: a change, its audit row and its notification
commit together; a change whose audit row cannot be written leaves nothing behind."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from synctv.core.runtime_settings import SettingsService
from synctv.core.setting_secrets import SettingCipher
from synctv.errors import DomainError
from synctv.store.audit import CLI_ACTOR, AuditActor, UndeclaredAuditAction
from synctv.store.db import Database
from synctv.store.settings import SettingsStore, SettingWrite

KEY = bytes(range(32))
GOOGLE = {
    "name": "google",
    "issuer": "https://accounts.example",
    "clientId": "client-1",
    "clientSecret": "s3cr3t-value",
}


def service(database: Database) -> SettingsService:
    return SettingsService(SettingsStore(database), SettingCipher(KEY))


async def audit_rows(database: Database) -> list[dict[str, Any]]:
    records = await database.fetch(
        "SELECT actor, action, target_type, target_id, outcome, details::text AS details"
        " FROM audit_events ORDER BY id"
    )
    return [{**dict(r), "details": json.loads(r["details"])} for r in records]


async def test_set_reset_with_audit_rows_and_versions(database: Database) -> None:
    settings = service(database)
    change = await settings.set("server.maxRoomsPerUser", 20, CLI_ACTOR)
    assert (change.old, change.new) == (10, 20)
    change = await settings.set_text("server.maxRoomsPerUser", "30", CLI_ACTOR)
    assert (change.old, change.new) == (20, 30)
    view = await settings.get("server.maxRoomsPerUser")
    assert (view.value, view.is_set, view.version, view.updated_by) == (30, True, 2, "cli")
    reset = await settings.reset("server.maxRoomsPerUser", CLI_ACTOR)
    assert (reset.old, reset.new) == (30, 10)
    view = await settings.get("server.maxRoomsPerUser")
    assert (view.value, view.is_set, view.version) == (10, False, 0)
    rows = await audit_rows(database)
    assert [(r["action"], r["target_id"], r["details"]) for r in rows] == [
        ("settings.changed", "server.maxRoomsPerUser", {"old": 10, "new": 20}),
        ("settings.changed", "server.maxRoomsPerUser", {"old": 20, "new": 30}),
        ("settings.reset", "server.maxRoomsPerUser", {"old": 30, "new": 10}),
    ]
    assert {(r["actor"], r["target_type"], r["outcome"]) for r in rows} == {
        ("cli", "setting", "success")
    }


async def test_invalid_values_write_nothing(database: Database) -> None:
    settings = service(database)
    for key, value in [
        ("webrtc.maxVoiceParticipantsPerRoom", 64),
        ("ratelimit.authLockoutMinutes", [15, 5]),
        ("user.enableGuest", "yes"),
    ]:
        with pytest.raises(DomainError) as refused:
            await settings.set(key, value, CLI_ACTOR)
        assert refused.value.code == "invalid_setting_value"
        assert str(refused.value).startswith(f"invalid_setting_value: {key} must be ")
        assert refused.value.details["key"] == key
    with pytest.raises(DomainError) as unknown:
        await settings.set("server.nope", 1, CLI_ACTOR)
    assert unknown.value.code == "setting_not_found"
    assert await database.fetchval("SELECT count(*) FROM runtime_settings") == 0
    assert await audit_rows(database) == []


@pytest.mark.parametrize(
    ("actor", "action", "error"),
    [
        (AuditActor(""), "settings.changed", asyncpg.CheckViolationError),  # actor CHECK
        (AuditActor("x" * 200), "settings.changed", asyncpg.CheckViolationError),
        (CLI_ACTOR, "settings.undeclared", UndeclaredAuditAction),
    ],
)
async def test_a_change_whose_audit_row_fails_does_not_happen(
    database: Database, actor: AuditActor, action: str, error: type[Exception]
) -> None:
    store = SettingsStore(database)
    await service(database).set("audit.retentionDays", 30, CLI_ACTOR)
    before = await store.load("audit.retentionDays")
    with pytest.raises(error):
        await store.apply(
            [SettingWrite("audit.retentionDays", 90), SettingWrite("chat.maxMessagesPerRoom", 50)],
            by=actor,
            action=action,
            mask=lambda _key, value: value,
        )
    assert await store.load("audit.retentionDays") == before
    assert await store.load("chat.maxMessagesPerRoom") is None
    assert len(await audit_rows(database)) == 1  # the first, successful change only


async def test_secrets_sealed_at_rest_masked_in_audit_and_carried_over(database: Database) -> None:
    settings = service(database)
    change = await settings.set("oauth2.providers", [GOOGLE], CLI_ACTOR)
    assert change.new[0]["clientSecret"] == "***"
    stored = await database.fetchval("SELECT value::text FROM runtime_settings")
    assert "s3cr3t" not in stored
    assert "client-1" in stored
    audit = await database.fetchval("SELECT string_agg(details::text, '') FROM audit_events")
    assert "s3cr3t" not in audit
    listed = await settings.get("oauth2.providers")
    assert "clientSecret" not in listed.value[0]
    shown = await settings.get("oauth2.providers", include_secrets=True)
    assert shown.value[0]["clientSecret"] == "s3cr3t-value"

    # Export without secrets, import it back: the secret is kept, not lost.
    document = await settings.export()
    assert "s3cr3t" not in json.dumps(document)
    document["settings"]["oauth2.providers"][0]["clientId"] = "client-2"
    await settings.import_document(document, CLI_ACTOR)
    shown = await settings.get("oauth2.providers", include_secrets=True)
    assert (shown.value[0]["clientId"], shown.value[0]["clientSecret"]) == (
        "client-2",
        "s3cr3t-value",
    )
    full = await settings.export(include_secrets=True)
    assert full["settings"]["oauth2.providers"][0]["clientSecret"] == "s3cr3t-value"

    # Under a key this server does not have, the secret cannot be shown, and says why.
    stranger = SettingsService(SettingsStore(database), SettingCipher(b"\x07" * 32))
    with pytest.raises(DomainError) as unreadable:
        await stranger.export(include_secrets=True)
    assert unreadable.value.code == "setting_secret_unavailable"


async def test_import_is_validated_whole_before_anything_is_written(database: Database) -> None:
    settings = service(database)
    for document in [
        {"format": 1, "settings": {"server.name": "Ours", "room.defaultMaxMembers": 1}},
        {"format": 1, "settings": {"server.name": "Ours", "server.unknown": 1}},
        {"format": 2, "settings": {"server.name": "Ours"}},
        ["not", "an", "object"],
    ]:
        with pytest.raises(DomainError):
            await settings.import_document(document, CLI_ACTOR)
    assert await database.fetchval("SELECT count(*) FROM runtime_settings") == 0
    changes = await settings.import_document(
        {"server.name": "Ours", "room.defaultMaxMembers": 50}, CLI_ACTOR
    )
    assert [(c.key, c.old, c.new) for c in changes] == [
        ("server.name", "SyncTV", "Ours"),
        ("room.defaultMaxMembers", 100, 50),
    ]
    assert {r["action"] for r in await audit_rows(database)} == {"settings.imported"}
    exported = await settings.export()
    assert exported == {
        "format": 1,
        "settings": {"room.defaultMaxMembers": 50, "server.name": "Ours"},
    }
    listed = await settings.list_all("room")
    assert [v.key for v in listed] == ["room.defaultMaxMembers", "room.passwordPolicy"]
    with pytest.raises(DomainError) as no_group:
        await settings.list_all("nope")
    assert no_group.value.code == "setting_not_found"


async def test_secrets_under_a_previous_key_are_resealed(database: Database) -> None:
    await service(database).set("oauth2.providers", [GOOGLE], CLI_ACTOR)
    await service(database).set("server.name", "Plain", CLI_ACTOR)  # no secret: untouched
    new_key = b"\x09" * 32
    rotated = SettingsService(SettingsStore(database), SettingCipher(new_key, previous=[KEY]))
    assert await rotated.reseal_stale() == ["oauth2.providers"]
    assert await rotated.reseal_stale() == []  # nothing left to do
    only_new = SettingsService(SettingsStore(database), SettingCipher(new_key))
    shown = await only_new.get("oauth2.providers", include_secrets=True)
    assert shown.value[0]["clientSecret"] == "s3cr3t-value"
    assert shown.version == 1  # the same value: no new version
    rows = await audit_rows(database)
    assert [(r["action"], r["actor"], r["target_id"]) for r in rows[2:]] == [
        ("credentials.key_rotated", "system", "oauth2.providers")
    ]
    # Under a key this server does not hold at all: left alone, not destroyed.
    stranger = SettingsService(SettingsStore(database), SettingCipher(b"\x05" * 32))
    assert await stranger.reseal_stale() == []
    assert (await only_new.get("oauth2.providers", include_secrets=True)).value == shown.value
