"""Server secrets: configured, or generated once and kept in ``data_dir/secrets`` (mode 0600).

Restarts must find the same secrets (tokens and encrypted credentials stay valid), so generated
values are persisted. In ``server.mode: production`` nothing is generated: a missing secret is a
start-up error, because a silently generated key on a fresh replica would split the cluster.

The credential encryption key can be rotated (``synctv admin provider rotate-key``); where it
lives decides how (:func:`credential_key_custody`). A generated key file is replaced atomically
*before* any row is re-encrypted, the old key moving to ``credential_encryption_key.previous``
until the re-encryption has committed, and that previous key is loaded at start (decrypt only),
so a crash at any point of a rotation leaves every credential readable after a restart. A
configured key is the operator's: it cannot be replaced from here, so rotation to another key is
refused with what to configure (``security.previous_credential_encryption_keys`` holds the old
keys, decrypt only, for a rotation by configuration).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import trio

from synctv.config import OPAQUE_SEED_HEX_CHARS, Config, ConfigError

CREDENTIAL_KEY = "credential_encryption_key"
PREVIOUS_SUFFIX = ".previous"


@dataclass(frozen=True, slots=True)
class Secrets:
    jwt_secret: bytes
    # The 64-byte OPAQUE server setup seed (OPRF seed and server keypair are derived from it).
    opaque_server_setup: bytes
    credential_encryption_key: bytes  # 32 bytes, AES-256-GCM
    cluster_secret: bytes
    # Decrypt-only keys: configured ones, or a generated key's previous key (rotation in flight).
    previous_credential_encryption_keys: tuple[bytes, ...] = ()
    credential_key_configured: bool = False

    def __repr__(self) -> str:
        return "Secrets(***)"


# name -> (how to generate, how to decode the stored/configured text)
_GENERATORS = {
    "jwt_secret": lambda: secrets.token_urlsafe(48),
    "opaque_server_setup": lambda: secrets.token_hex(OPAQUE_SEED_HEX_CHARS // 2),
    "credential_encryption_key": lambda: secrets.token_hex(32),
    "cluster_secret": lambda: secrets.token_urlsafe(48),
}
# Every server secret, by its security.* key (and file name under data_dir/secrets).
SECRET_NAMES = tuple(_GENERATORS)


def load_or_create_secrets(config: Config) -> Secrets:
    """Resolve every secret: config first, then ``data_dir/secrets/<name>``, then generate."""
    directory = config.data_dir / "secrets"
    values: dict[str, bytes] = {}
    missing: list[str] = []
    for name, generate in _GENERATORS.items():
        configured = getattr(config.security, name)
        if configured is not None:
            values[name] = _decode(name, configured.get_secret_value())
            continue
        if config.server.mode == "production":
            missing.append(f"security.{name}")
            continue
        values[name] = _decode(name, _read_or_generate(directory / name, generate))
    if missing:
        raise ConfigError(
            missing[0],
            "is required in production mode (set it, or its *_file, explicitly); missing: "
            + ", ".join(missing),
        )
    configured = config.security.credential_encryption_key is not None
    return Secrets(
        **values,
        previous_credential_encryption_keys=_previous_keys(config, directory, configured),
        credential_key_configured=configured,
    )


def _previous_keys(config: Config, directory: Path, configured: bool) -> tuple[bytes, ...]:
    setting = config.security.previous_credential_encryption_keys
    texts = [] if setting is None else setting.get_secret_value().split(",")
    if not configured:
        try:
            texts.append((directory / (CREDENTIAL_KEY + PREVIOUS_SUFFIX)).read_text("utf-8"))
        except FileNotFoundError:
            pass
    return tuple(_decode(CREDENTIAL_KEY, t.strip()) for t in texts if t.strip())


def _decode(name: str, text: str) -> bytes:
    if name == "credential_encryption_key":
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ConfigError(f"security.{name}", "must be 64 hexadecimal characters")
        return key
    if name == "opaque_server_setup":
        try:
            seed = bytes.fromhex(text)
        except ValueError:
            seed = b""
        if len(seed) * 2 != OPAQUE_SEED_HEX_CHARS:
            raise ConfigError(
                f"security.{name}", f"must be {OPAQUE_SEED_HEX_CHARS} hexadecimal characters"
            )
        return seed
    return text.encode()


def _read_or_generate(path: Path, generate: object) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    assert callable(generate)
    value = str(generate())
    _write_secret(path, value)
    return value


def _write_secret(path: Path, value: str) -> None:
    """Write a secret file atomically with mode 0600 (fsync'd: a crash never leaves half a key,
    nor a rename that reached the disk before the bytes did)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# -- credential key custody (implements synctv.providers.service.KeyCustody) -----------------


class GeneratedKeyFile:
    """The generated credential key in ``data_dir/secrets``: rotation rewrites the file."""

    def __init__(self, directory: Path) -> None:
        self._path = directory / CREDENTIAL_KEY
        self._previous = directory / (CREDENTIAL_KEY + PREVIOUS_SUFFIX)

    def refusal(self, current_key_id: str, new_key: bytes) -> str | None:
        try:
            on_disk = _decode(CREDENTIAL_KEY, self._path.read_text(encoding="utf-8").strip())
        except (OSError, ConfigError) as exc:
            return f"cannot read the key file {self._path}: {exc}"
        if _key_id(on_disk) != current_key_id:
            return (
                f"the key file {self._path} holds key {_key_id(on_disk)}, not the key this "
                f"server uses ({current_key_id}); restart the server before rotating"
            )
        return None

    async def stage(self, new_key: bytes) -> None:
        await trio.to_thread.run_sync(self._stage_sync, new_key)

    def _stage_sync(self, new_key: bytes) -> None:
        current = self._path.read_text(encoding="utf-8").strip()
        _write_secret(self._previous, current)  # first: the old key is never only in memory
        _write_secret(self._path, new_key.hex())

    async def commit(self) -> None:
        await trio.to_thread.run_sync(self._unlink_previous)

    async def abort(self) -> None:
        await trio.to_thread.run_sync(self._abort_sync)

    def _abort_sync(self) -> None:
        _write_secret(self._path, self._previous.read_text(encoding="utf-8").strip())
        self._unlink_previous()

    def _unlink_previous(self) -> None:
        self._previous.unlink(missing_ok=True)


class ConfiguredKey:
    """A credential key set in the configuration: only the operator can replace it."""

    def refusal(self, current_key_id: str, new_key: bytes) -> str | None:
        return (
            "security.credential_encryption_key is set in the configuration, so the server "
            "cannot replace it (a restart would bring the old key back). To rotate: set "
            "security.credential_encryption_key to the new key, add the current one to "
            "security.previous_credential_encryption_keys, restart, then run "
            "`synctv admin provider rotate-key --new-key-file <new key>` to re-encrypt every "
            "credential under it; then remove the previous key from the configuration"
        )

    async def stage(self, new_key: bytes) -> None:
        raise AssertionError("a configured key is never staged")

    async def commit(self) -> None:
        return None

    async def abort(self) -> None:
        return None


def credential_key_custody(config: Config, keys: Secrets) -> GeneratedKeyFile | ConfiguredKey:
    """Where the credential key lives: configured, or generated under ``data_dir/secrets``."""
    if keys.credential_key_configured:
        return ConfiguredKey()
    return GeneratedKeyFile(config.data_dir / "secrets")


def _key_id(key: bytes) -> str:
    # The same id as synctv.providers.crypto.key_id (the store may not import services).
    return hashlib.sha256(key).hexdigest()[:8]
