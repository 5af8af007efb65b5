"""Server secrets: configured, or generated once and kept in ``data_dir/secrets`` (mode 0600).

Restarts must find the same secrets (tokens and encrypted credentials stay valid), so generated
values are persisted. In ``server.mode: production`` nothing is generated: a missing secret is a
start-up error, because a silently generated key on a fresh replica would split the cluster.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from synctv.config import Config, ConfigError


@dataclass(frozen=True, slots=True)
class Secrets:
    jwt_secret: bytes
    # Seed material for the OPAQUE server setup (OPRF seed and server keypair are derived from it).
    opaque_server_setup: bytes
    credential_encryption_key: bytes  # 32 bytes, AES-256-GCM
    cluster_secret: bytes

    def __repr__(self) -> str:
        return "Secrets(***)"


# name -> (how to generate, how to decode the stored/configured text)
_GENERATORS = {
    "jwt_secret": lambda: secrets.token_urlsafe(48),
    "opaque_server_setup": lambda: secrets.token_hex(64),
    "credential_encryption_key": lambda: secrets.token_hex(32),
    "cluster_secret": lambda: secrets.token_urlsafe(48),
}


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
    return Secrets(**values)


def _decode(name: str, text: str) -> bytes:
    if name == "credential_encryption_key":
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ConfigError(f"security.{name}", "must be 64 hexadecimal characters")
        return key
    return text.encode()


def _read_or_generate(path: Path, generate: object) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    assert callable(generate)
    value = str(generate())
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    os.replace(temp, path)  # atomic: a crash never leaves half a key
    return value
