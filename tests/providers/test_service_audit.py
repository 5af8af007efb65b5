"""Every provider change writes one audit row in its transaction, refused attempts write a
failed/denied row, no row ever holds a credential, and a change whose row cannot be written
does not happen (fail closed, with a CHECK planted in the test database)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from synctv.errors import DomainError
from synctv.outbound.client import HttpUpstream
from synctv.providers.crypto import CredentialCipher
from synctv.providers.service import ProviderService, UnpersistedKey
from synctv.store.audit import CLI_ACTOR, AuditActor
from synctv.store.db import Database
from synctv.store.providers import ProviderInstanceStore
from synctv.store.secrets import ConfiguredKey
from tests.support.audit import audit_rows, everything_as_text, forbid

KEY = bytes(range(32))
NEW_KEY = bytes(range(100, 132))
PASSWORD = "alist-secret-pw-4711"
ALICE = AuditActor("u_alice", address="203.0.113.9", request_id="req-1")


@pytest.fixture
def service(database: Database, http: HttpUpstream) -> ProviderService:
    return ProviderService(
        ProviderInstanceStore(database), CredentialCipher(KEY), http, key_custody=UnpersistedKey()
    )


async def add_nas(service: ProviderService, by: AuditActor = CLI_ACTOR) -> str:
    added = await service.add(
        "alist",
        "nas",
        {"base_url": "http://nas.lan:5244", "username": "admin"},
        {"password": PASSWORD},
        lan_service=True,
        by=by,
    )
    return added.id


async def test_each_change_writes_one_row_with_who_what_and_no_secret(
    service: ProviderService, database: Database
) -> None:
    instance_id = await add_nas(service, ALICE)
    await service.update("nas", name="nas2", credentials={"password": "new-" + PASSWORD}, by=ALICE)
    await service.rotate_key(KEY, NEW_KEY, by=CLI_ACTOR)
    await service.remove("nas2", by=CLI_ACTOR)

    rows = await audit_rows(database)
    assert [(r["action"], r["outcome"], r["target_type"], r["target_id"]) for r in rows] == [
        ("provider.added", "success", "provider", instance_id),
        ("provider.updated", "success", "provider", instance_id),
        ("credentials.key_rotated", "success", "credential_key", CredentialCipher(NEW_KEY).key_id),
        ("provider.removed", "success", "provider", instance_id),
    ]
    added, updated, rotated, removed = rows
    assert (added["actor"], added["actor_address"], added["request_id"]) == (
        "u_alice",
        "203.0.113.9",
        "req-1",
    )
    assert added["details"] == {
        "kind": "alist",
        "name": "nas",
        "has_credentials": True,
        "lan_service": True,
    }
    assert updated["details"] == {
        "changed": ["name", "credentials"],
        "name": "nas2",
        "kind": "alist",
    }
    assert rotated["actor"] == "cli"
    assert rotated["details"] == {
        "from_key_id": CredentialCipher(KEY).key_id,
        "to_key_id": CredentialCipher(NEW_KEY).key_id,
        "rotated": 1,
        "already_current": 0,
    }
    assert removed["details"] == {"kind": "alist", "name": "nas2"}
    text = await everything_as_text(database)
    assert PASSWORD not in text
    assert KEY.hex() not in text
    assert NEW_KEY.hex() not in text


async def test_refused_attempts_are_recorded_as_failed_or_denied(
    service: ProviderService, database: Database
) -> None:
    await add_nas(service)
    for attempt in (
        service.add("direct", "nas", {}, by=CLI_ACTOR),  # name taken
        service.update("ghost", name="x", by=CLI_ACTOR),
        service.remove("ghost", by=CLI_ACTOR),
        service.rotate_key(bytes(32), NEW_KEY, by=CLI_ACTOR),  # a key we do not hold
    ):
        with pytest.raises(DomainError):
            await attempt
    rows = (await audit_rows(database))[1:]
    assert [(r["action"], r["outcome"], r["target_id"], r["details"]) for r in rows] == [
        ("provider.added", "failed", "", {"name": "nas", "reason": "provider_name_taken"}),
        ("provider.updated", "failed", "ghost", {"reason": "provider_not_found"}),
        ("provider.removed", "failed", "ghost", {"reason": "provider_not_found"}),
        (
            "credentials.key_rotated",
            "denied",
            CredentialCipher(NEW_KEY).key_id,
            {
                "from_key_id": CredentialCipher(KEY).key_id,
                "to_key_id": CredentialCipher(NEW_KEY).key_id,
                "reason": "credentials_unavailable",
            },
        ),
    ]
    # Invalid config is refused before anything is attempted: no row.
    with pytest.raises(DomainError):
        await service.add("alist", "x", {"base_url": "ftp://nope"}, by=CLI_ACTOR)
    assert len(await audit_rows(database)) == 1 + 4


async def test_a_configured_key_refusal_is_denied(database: Database, http: HttpUpstream) -> None:
    service = ProviderService(
        ProviderInstanceStore(database),
        CredentialCipher(KEY),
        http,
        key_custody=ConfiguredKey(),
    )
    with pytest.raises(DomainError) as refused:
        await service.rotate_key(None, NEW_KEY, by=CLI_ACTOR)
    assert refused.value.code == "credential_key_configured"
    [row] = await audit_rows(database)
    assert (row["action"], row["outcome"], row["details"]["reason"]) == (
        "credentials.key_rotated",
        "denied",
        "credential_key_configured",
    )


async def instances(database: Database) -> list[tuple[Any, ...]]:
    rows = await database.fetch(
        "SELECT id, name, config::text, credentials, credentials_key_id, updated_at"
        " FROM provider_instances ORDER BY id"
    )
    return [tuple(r) for r in rows]


@pytest.mark.parametrize(
    "action", ["provider.added", "provider.updated", "provider.removed", "credentials.key_rotated"]
)
async def test_a_change_whose_audit_row_fails_does_not_happen(
    service: ProviderService, database: Database, action: str
) -> None:
    await add_nas(service)
    before = await instances(database)
    rows_before = await audit_rows(database)
    await forbid(database, action)
    change: dict[str, Callable[[], Awaitable[object]]] = {
        "provider.added": lambda: service.add("direct", "web", {}, by=CLI_ACTOR),
        "provider.updated": lambda: service.update("nas", name="renamed", by=CLI_ACTOR),
        "provider.removed": lambda: service.remove("nas", by=CLI_ACTOR),
        "credentials.key_rotated": lambda: service.rotate_key(None, NEW_KEY, by=CLI_ACTOR),
    }
    with pytest.raises(asyncpg.CheckViolationError, match="test_refuse"):
        await change[action]()
    assert await instances(database) == before
    assert await audit_rows(database) == rows_before
    resolved = await service.get("nas")  # still there, still readable under the old key
    assert resolved.credentials_key_id == CredentialCipher(KEY).key_id
