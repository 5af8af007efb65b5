"""Secrets: generated once and persisted 0600, configured values win, production refuses gaps."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from synctv.config import ConfigError, load_config
from synctv.store.secrets import load_or_create_secrets


def test_generated_once_persisted_and_reused(tmp_path: Path) -> None:
    config = load_config(None, {"SYNCTV_DATA_DIR": str(tmp_path)})
    first = load_or_create_secrets(config)
    second = load_or_create_secrets(config)
    assert first == second
    assert len(first.credential_encryption_key) == 32
    assert len(first.jwt_secret) >= 48
    for name in (
        "jwt_secret",
        "opaque_server_setup",
        "credential_encryption_key",
        "cluster_secret",
    ):
        mode = stat.S_IMODE((tmp_path / "secrets" / name).stat().st_mode)
        assert mode == 0o600, name
    assert "***" in repr(first)


def test_configured_secret_wins(tmp_path: Path) -> None:
    key = "0f" * 32
    config = load_config(
        None,
        {"SYNCTV_DATA_DIR": str(tmp_path), "SYNCTV_SECURITY_CREDENTIAL_ENCRYPTION_KEY": key},
    )
    assert load_or_create_secrets(config).credential_encryption_key == bytes.fromhex(key)
    assert not (tmp_path / "secrets" / "credential_encryption_key").exists()


def test_production_refuses_missing_secrets(tmp_path: Path) -> None:
    config = load_config(
        None,
        {
            "SYNCTV_DATA_DIR": str(tmp_path),
            "SYNCTV_SERVER_MODE": "production",
            "SYNCTV_SECURITY_JWT_SECRET": "j" * 40,
        },
    )
    with pytest.raises(ConfigError, match="required in production") as info:
        load_or_create_secrets(config)
    assert info.value.key == "security.opaque_server_setup"
    assert not (tmp_path / "secrets").exists()


def test_opaque_setup_is_a_64_byte_seed_generated_and_configured(tmp_path: Path) -> None:
    generated = load_or_create_secrets(load_config(None, {"SYNCTV_DATA_DIR": str(tmp_path)}))
    assert len(generated.opaque_server_setup) == 64
    stored = (tmp_path / "secrets" / "opaque_server_setup").read_text().strip()
    assert bytes.fromhex(stored) == generated.opaque_server_setup
    seed = "5a" * 64
    configured = load_config(
        None, {"SYNCTV_DATA_DIR": str(tmp_path), "SYNCTV_SECURITY_OPAQUE_SERVER_SETUP": seed}
    )
    assert load_or_create_secrets(configured).opaque_server_setup == bytes.fromhex(seed)


def test_a_damaged_stored_opaque_setup_is_refused(tmp_path: Path) -> None:
    config = load_config(None, {"SYNCTV_DATA_DIR": str(tmp_path)})
    load_or_create_secrets(config)
    (tmp_path / "secrets" / "opaque_server_setup").write_text("x\n")
    with pytest.raises(ConfigError, match="128 hexadecimal") as info:
        load_or_create_secrets(config)
    assert info.value.key == "security.opaque_server_setup"
