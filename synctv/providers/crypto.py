"""Provider credentials at rest: AES-256-GCM under ``security.credential_encryption_key``.

Ciphertext layout: a 12-byte random nonce followed by the GCM ciphertext and 16-byte tag. The
associated data binds a ciphertext to its row (``synctv provider credentials v1`` + instance id),
so a ciphertext copied onto another row does not decrypt. Each row also stores the key id (first
8 hex digits of SHA-256 of the key), which is how rotation knows which rows still need the old
key and how a wrong configured key is reported (as a key-id mismatch, not as garbage).

The plaintext is a JSON object of the kind's secret fields. It is never logged, never put in an
exception message, and never returned by any API: only "has credentials" is.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12
_AAD_PREFIX = b"synctv provider credentials v1\x00"


class CredentialError(Exception):
    """Credentials cannot be decrypted (wrong key, or tampered/corrupt ciphertext)."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def parse_key(text: str) -> bytes:
    """A 64-hex-digit key (as configured) → 32 bytes; ValueError otherwise."""
    key = bytes.fromhex(text.strip())
    if len(key) != 32:
        raise ValueError("the credential key must be 64 hexadecimal characters")
    return key


class CredentialCipher:
    """Encrypts and decrypts credential mappings under one 256-bit key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aead = AESGCM(key)
        self.key_id = key_id(key)

    def __repr__(self) -> str:
        return f"CredentialCipher(key_id={self.key_id!r})"

    def encrypt(self, credentials: Mapping[str, Any], instance_id: str) -> tuple[bytes, str]:
        """(ciphertext, key id) for the credentials of one instance."""
        plaintext = json.dumps(dict(credentials), separators=(",", ":")).encode()
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, _aad(instance_id)), self.key_id

    def decrypt(self, blob: bytes, stored_key_id: str, instance_id: str) -> dict[str, Any]:
        if stored_key_id != self.key_id:
            raise CredentialError(
                f"credentials are encrypted under key {stored_key_id}, the configured key is "
                f"{self.key_id}: finish `synctv admin provider rotate-key` or fix the config"
            )
        nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        try:
            plaintext = self._aead.decrypt(nonce, sealed, _aad(instance_id))
        except (InvalidTag, ValueError):
            raise CredentialError(
                "credentials failed authentication (tampered or corrupt)"
            ) from None
        value = json.loads(plaintext)
        if not isinstance(value, dict):
            raise CredentialError("credentials are not an object")
        return value


def _aad(instance_id: str) -> bytes:
    return _AAD_PREFIX + instance_id.encode()
