"""Provider credentials at rest: AES-256-GCM under ``security.credential_encryption_key``.

Ciphertext layout: a 12-byte random nonce followed by the GCM ciphertext and 16-byte tag. The
associated data binds a ciphertext to its row (``synctv provider credentials v1`` + instance id),
so a ciphertext copied onto another row does not decrypt. Each row also stores the key id (first
8 hex digits of SHA-256 of the key), which is how rotation knows which rows still need the old
key and how a wrong configured key is reported (as a key-id mismatch, not as garbage). A cipher
holds one current key (it encrypts) and any number of previous keys (they only decrypt, picked by
the row's key id), so a half-done rotation, or one an operator does by configuration, leaves
every row readable.

The plaintext is a JSON object of the kind's secret fields. It is never logged, never put in an
exception message, and never returned by any API: only "has credentials" is.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
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
    """Encrypts under one 256-bit key; decrypts under it or any of the ``previous`` keys."""

    def __init__(self, key: bytes, previous: Iterable[bytes] = ()) -> None:
        for candidate in (key, *previous):
            if len(candidate) != 32:
                raise ValueError("AES-256-GCM needs a 32-byte key")
        self.key_id = key_id(key)
        self._aeads = {self.key_id: AESGCM(key)}
        for old in previous:
            self._aeads.setdefault(key_id(old), AESGCM(old))

    def __repr__(self) -> str:
        return f"CredentialCipher(key_id={self.key_id!r}, previous={len(self._aeads) - 1})"

    @property
    def key_ids(self) -> frozenset[str]:
        """The ids of every key this cipher can decrypt with (current and previous)."""
        return frozenset(self._aeads)

    def with_key(self, key: bytes) -> CredentialCipher:
        """A cipher whose current key is ``key``, still decrypting under every key known here."""
        rotated = CredentialCipher(key)
        for kid, aead in self._aeads.items():
            rotated._aeads.setdefault(kid, aead)
        return rotated

    def encrypt(self, credentials: Mapping[str, Any], instance_id: str) -> tuple[bytes, str]:
        """(ciphertext, key id) for the credentials of one instance, under the current key."""
        plaintext = json.dumps(dict(credentials), separators=(",", ":")).encode()
        nonce = os.urandom(_NONCE_BYTES)
        aead = self._aeads[self.key_id]
        return nonce + aead.encrypt(nonce, plaintext, _aad(instance_id)), self.key_id

    def decrypt(self, blob: bytes, stored_key_id: str, instance_id: str) -> dict[str, Any]:
        aead = self._aeads.get(stored_key_id)
        if aead is None:
            raise CredentialError(
                f"credentials are encrypted under key {stored_key_id}, the configured key is "
                f"{self.key_id}: finish `synctv admin provider rotate-key`, or configure that key "
                "in security.previous_credential_encryption_keys"
            )
        nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        try:
            plaintext = aead.decrypt(nonce, sealed, _aad(instance_id))
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
