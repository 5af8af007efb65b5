"""Secret fields of runtime settings at rest: AES-256-GCM under the credential encryption key.

A sealed field is ``{"$sealed": base64(nonce || ciphertext || tag), "$key": key id}`` in place of
its value in the ``runtime_settings.value`` jsonb. The associated data binds the ciphertext to
its setting key and field name, so a sealed value copied elsewhere does not open. The key id is
the credential key's (first 8 hex digits of its SHA-256, as ``synctv.providers.crypto``), and
previous keys decrypt, so a rotation in flight leaves settings readable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from synctv.core.settings import Setting, map_secret_fields

_NONCE_BYTES = 12
_AAD_PREFIX = b"synctv runtime setting v1\x00"
SEALED = "$sealed"
KEY_ID = "$key"


class SettingSecretError(Exception):
    """A sealed field cannot be opened (unknown key, or tampered ciphertext)."""


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class SettingCipher:
    """Seals under one key; opens under it or any previous key."""

    def __init__(self, key: bytes, previous: Iterable[bytes] = ()) -> None:
        for candidate in (key, *previous):
            if len(candidate) != 32:
                raise ValueError("AES-256-GCM needs a 32-byte key")
        self.key_id = _key_id(key)
        self._aeads = {self.key_id: AESGCM(key)}
        for old in previous:
            self._aeads.setdefault(_key_id(old), AESGCM(old))

    def __repr__(self) -> str:
        return f"SettingCipher(key_id={self.key_id!r})"

    def with_key(self, key: bytes) -> SettingCipher:
        """A cipher sealing under ``key`` that still opens everything this one opens (after a
        credential key rotation, until the stale secrets are re-sealed)."""
        rotated = SettingCipher(key)
        for kid, aead in self._aeads.items():
            rotated._aeads.setdefault(kid, aead)
        return rotated

    def seal(self, setting: Setting[Any], json_value: Any) -> Any:
        """``json_value`` with each secret field replaced by its sealed form."""

        def seal_one(field: str, value: Any) -> Any:
            nonce = os.urandom(_NONCE_BYTES)
            plaintext = json.dumps(value).encode()
            sealed = self._aeads[self.key_id].encrypt(nonce, plaintext, _aad(setting.key, field))
            return {SEALED: base64.b64encode(nonce + sealed).decode(), KEY_ID: self.key_id}

        return map_secret_fields(json_value, setting.secret_fields, seal_one)

    def open(self, setting: Setting[Any], stored: Any) -> Any:
        """The plain JSON value of a stored one; :class:`SettingSecretError` if it cannot be."""

        def open_one(field: str, value: Any) -> Any:
            if not (isinstance(value, dict) and SEALED in value):
                return value  # stored before the field was declared secret
            aead = self._aeads.get(str(value.get(KEY_ID)))
            if aead is None:
                raise SettingSecretError(
                    f"{setting.key}: a secret is sealed under key {value.get(KEY_ID)}, this "
                    f"server has key {self.key_id}"
                )
            try:
                blob = base64.b64decode(str(value[SEALED]), validate=True)
                plaintext = aead.decrypt(
                    blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(setting.key, field)
                )
            except (InvalidTag, ValueError):
                raise SettingSecretError(
                    f"{setting.key}: a secret failed authentication (tampered or corrupt)"
                ) from None
            return json.loads(plaintext)

        return map_secret_fields(stored, setting.secret_fields, open_one)

    def stale(self, setting: Setting[Any], stored: Any) -> bool:
        """Whether a secret field of ``stored`` is sealed under another key than the current."""
        found = False

        def check(_field: str, value: Any) -> Any:
            nonlocal found
            if isinstance(value, dict) and SEALED in value and value.get(KEY_ID) != self.key_id:
                found = True
            return value

        map_secret_fields(stored, setting.secret_fields, check)
        return found


def _aad(key: str, field: str) -> bytes:
    return _AAD_PREFIX + key.encode() + b"\x00" + field.encode()
