"""Credential key rotation survives restarts: a generated key file is replaced before rows are
re-encrypted (old key kept until commit, put back on failure); a configured key is refused, and
rotated by configuration instead (previous keys decrypt by key id). Real PostgreSQL, real files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from synctv.config import Config, SecurityConfig
from synctv.errors import DomainError
from synctv.outbound.client import HttpUpstream
from synctv.providers.crypto import CredentialCipher, key_id
from synctv.providers.service import ProviderService
from synctv.store.audit import CLI_ACTOR
from synctv.store.db import Database
from synctv.store.providers import ProviderInstanceStore
from synctv.store.secrets import (
    CREDENTIAL_KEY,
    PREVIOUS_SUFFIX,
    GeneratedKeyFile,
    credential_key_custody,
    load_or_create_secrets,
)

NEW_KEY = bytes(range(100, 132))
URL = "https://cdn.example/v.mp4"


def start(config: Config, database: Database, http: HttpUpstream) -> ProviderService:
    """What ``synctv serve`` builds at start (app._build_proxy), from the files on disk."""
    keys = load_or_create_secrets(config)
    cipher = CredentialCipher(
        keys.credential_encryption_key, keys.previous_credential_encryption_keys
    )
    return ProviderService(
        ProviderInstanceStore(database),
        cipher,
        http,
        key_custody=credential_key_custody(config, keys),
    )


async def add_three(service: ProviderService) -> None:
    for name in ("a", "b", "c"):
        await service.add("direct", name, {}, {"headers": {"Cookie": f"sid={name}"}}, by=CLI_ACTOR)


async def cookies(service: ProviderService, names: str = "abc") -> list[str]:
    return [dict((await service.resolve(name, URL)).headers)["cookie"] for name in names]


async def key_ids(database: Database) -> set[str]:
    rows = await database.fetch("SELECT credentials_key_id FROM provider_instances")
    return {r["credentials_key_id"] for r in rows}


async def test_a_generated_key_rotation_survives_a_restart(
    tmp_path: Path, database: Database, http: HttpUpstream
) -> None:
    config = Config(data_dir=tmp_path)
    service = start(config, database, http)
    await add_three(service)
    key_file = tmp_path / "secrets" / CREDENTIAL_KEY

    result = await service.rotate_key(None, NEW_KEY, by=CLI_ACTOR)
    assert (result.rotated, result.already_current) == (3, 0)
    assert key_file.read_text().strip() == NEW_KEY.hex()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not (tmp_path / "secrets" / (CREDENTIAL_KEY + PREVIOUS_SUFFIX)).exists()
    assert await key_ids(database) == {key_id(NEW_KEY)}

    restarted = start(config, database, http)
    assert await cookies(restarted) == ["sid=a", "sid=b", "sid=c"]


async def test_a_failed_rotation_puts_the_key_file_back(
    tmp_path: Path, database: Database, http: HttpUpstream
) -> None:
    config = Config(data_dir=tmp_path)
    service = start(config, database, http)
    await add_three(service)
    key_file = tmp_path / "secrets" / CREDENTIAL_KEY
    old_text = key_file.read_text()
    await database.execute(  # one row the server cannot decrypt: the rotation must fail
        "UPDATE provider_instances SET credentials_key_id = 'deadbeef' WHERE name = 'c'"
    )
    with pytest.raises(DomainError) as info:
        await service.rotate_key(None, NEW_KEY, by=CLI_ACTOR)
    assert info.value.code == "credentials_unavailable"
    assert key_file.read_text() == old_text
    assert not (tmp_path / "secrets" / (CREDENTIAL_KEY + PREVIOUS_SUFFIX)).exists()
    restarted = start(config, database, http)
    assert await cookies(restarted, "ab") == ["sid=a", "sid=b"]


async def test_a_crash_between_key_file_and_commit_loses_nothing(
    tmp_path: Path, database: Database, http: HttpUpstream
) -> None:
    config = Config(data_dir=tmp_path)
    service = start(config, database, http)
    await add_three(service)
    # The process dies right after staging the new key, before any row was re-encrypted.
    await GeneratedKeyFile(tmp_path / "secrets").stage(NEW_KEY)
    restarted = start(config, database, http)  # new key current, old key as previous
    assert await cookies(restarted) == ["sid=a", "sid=b", "sid=c"]
    result = await restarted.rotate_key(None, NEW_KEY, by=CLI_ACTOR)  # finishing it is a rerun
    assert (result.rotated, result.already_current) == (3, 0)
    assert await key_ids(database) == {key_id(NEW_KEY)}
    assert await cookies(start(config, database, http)) == ["sid=a", "sid=b", "sid=c"]


async def test_a_configured_key_is_rotated_by_configuration(
    tmp_path: Path, database: Database, http: HttpUpstream
) -> None:
    old_key = bytes(range(32))
    config = Config(
        data_dir=tmp_path, security=SecurityConfig(credential_encryption_key=old_key.hex())
    )
    service = start(config, database, http)
    await add_three(service)
    with pytest.raises(DomainError) as info:
        await service.rotate_key(old_key, NEW_KEY, by=CLI_ACTOR)
    assert info.value.code == "credential_key_configured"
    assert "security.credential_encryption_key" in info.value.message
    assert "security.previous_credential_encryption_keys" in info.value.message
    assert await key_ids(database) == {key_id(old_key)}  # nothing changed

    # The operator configures the new key, keeps the old one as previous, and restarts.
    rotated = Config(
        data_dir=tmp_path,
        security=SecurityConfig(
            credential_encryption_key=NEW_KEY.hex(),
            previous_credential_encryption_keys=old_key.hex(),
        ),
    )
    restarted = start(rotated, database, http)
    assert await cookies(restarted) == ["sid=a", "sid=b", "sid=c"]  # decrypted by key id
    await restarted.add("direct", "d", {}, {"headers": {"Cookie": "sid=d"}}, by=CLI_ACTOR)
    result = await restarted.rotate_key(None, NEW_KEY, by=CLI_ACTOR)
    assert (result.rotated, result.already_current) == (3, 1)
    # Now the previous key can leave the configuration.
    final = Config(
        data_dir=tmp_path, security=SecurityConfig(credential_encryption_key=NEW_KEY.hex())
    )
    assert await cookies(start(final, database, http)) == ["sid=a", "sid=b", "sid=c"]


async def test_an_unknown_old_key_is_refused(
    tmp_path: Path, database: Database, http: HttpUpstream
) -> None:
    service = start(Config(data_dir=tmp_path), database, http)
    await add_three(service)
    with pytest.raises(DomainError) as info:
        await service.rotate_key(bytes(32), NEW_KEY, by=CLI_ACTOR)
    assert info.value.code == "credentials_unavailable"
    assert (tmp_path / "secrets" / CREDENTIAL_KEY).read_text().strip() != NEW_KEY.hex()


async def test_a_failing_rotation_hook_keeps_the_previous_key_on_disk(
    tmp_path: Path, database: Database, http: HttpUpstream
) -> None:
    """Another owner of secrets (runtime settings) could not re-seal: the rotation of the
    provider rows stands, and the previous key stays on disk so nothing becomes unreadable."""
    config = Config(data_dir=tmp_path)
    keys = load_or_create_secrets(config)
    seen: list[bytes] = []

    async def failing_hook(new_key: bytes) -> None:
        seen.append(new_key)
        raise RuntimeError("database went away")

    service = ProviderService(
        ProviderInstanceStore(database),
        CredentialCipher(keys.credential_encryption_key),
        http,
        key_custody=credential_key_custody(config, keys),
        rotation_hooks=[failing_hook],
    )
    await add_three(service)
    result = await service.rotate_key(None, NEW_KEY, by=CLI_ACTOR)
    assert result.rotated == 3
    assert seen == [NEW_KEY]
    previous = tmp_path / "secrets" / (CREDENTIAL_KEY + PREVIOUS_SUFFIX)
    assert previous.read_text().strip() == keys.credential_encryption_key.hex()
    assert await cookies(start(config, database, http)) == ["sid=a", "sid=b", "sid=c"]
