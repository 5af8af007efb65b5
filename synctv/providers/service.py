"""Provider instances as a service: add/list/update/remove/resolve/browse and key rotation.

Credentials are encrypted here (``crypto.CredentialCipher``) before they reach the store and
decrypted only to build a live provider; the plaintext is never returned, logged or put into an
error. Live providers (which hold login tokens) are kept per instance and rebuilt when the
instance changes.

Error handling: every failure is a :class:`ProviderError` with a stable code:
``provider_not_found``, ``provider_name_taken``, ``invalid_provider_config``,
``unknown_provider_kind``, ``credentials_unavailable`` and the providers' own codes.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from synctv.providers.base import (
    BrowseEntry,
    PlaybackSource,
    Provider,
    ProviderContext,
    ProviderError,
    ProviderHttp,
    ProviderRegistry,
    ResolvedSource,
    builtin_registry,
    mask_headers,
    mask_text,
    mask_url,
    secret_values,
)
from synctv.providers.crypto import CredentialCipher, CredentialError
from synctv.store.providers import ProviderInstanceRow, ProviderInstanceStore, ProviderNameTaken

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


@dataclass(frozen=True, slots=True)
class ProviderInstance:
    """An instance as the outside world may see it: no credentials, only whether there are any."""

    id: str
    kind: str
    name: str
    config: Mapping[str, Any]
    lan_service: bool
    has_credentials: bool
    credentials_key_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class KeyRotation:
    rotated: int
    already_current: int


class ProviderService:
    """See the module docstring. ``cipher`` holds the configured credential key."""

    def __init__(
        self,
        store: ProviderInstanceStore,
        cipher: CredentialCipher,
        http: ProviderHttp,
        *,
        registry: ProviderRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._http = http
        self._registry = registry or builtin_registry()
        self._clock = clock
        self._live: dict[str, tuple[datetime, str, Provider, list[str]]] = {}

    def kinds(self) -> list[str]:
        return self._registry.names()

    # -- management -------------------------------------------------------------------------

    async def add(
        self,
        kind: str,
        name: str,
        config: Mapping[str, Any],
        credentials: Mapping[str, Any] | None = None,
        *,
        lan_service: bool = False,
    ) -> ProviderInstance:
        _check_name(name)
        instance_id = str(uuid.uuid4())
        credentials = dict(credentials or {})
        self._validate(kind, instance_id, config, credentials, lan_service)
        sealed = self._cipher.encrypt(credentials, instance_id) if credentials else None
        try:
            row = await self._store.insert(
                instance_id=instance_id,
                kind=kind,
                name=name,
                config=dict(config),
                credentials=sealed,
                lan_service=lan_service,
            )
        except ProviderNameTaken:
            raise ProviderError(
                "provider_name_taken", f"a provider named {name!r} exists"
            ) from None
        return _public(row)

    async def list_instances(self) -> list[ProviderInstance]:
        return [_public(row) for row in await self._store.list_all()]

    async def get(self, ref: str) -> ProviderInstance:
        return _public(await self._row(ref))

    async def update(
        self,
        ref: str,
        *,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        credentials: Mapping[str, Any] | None = None,
        clear_credentials: bool = False,
        lan_service: bool | None = None,
    ) -> ProviderInstance:
        """Change what is given; ``credentials`` replaces the stored set as a whole."""
        row = await self._row(ref)
        if name is not None:
            _check_name(name)
        new_config = dict(row.config if config is None else config)
        if credentials is not None:
            new_credentials = dict(credentials)
        elif clear_credentials:
            new_credentials = {}
        else:
            new_credentials = self._decrypt(row)
        lan = row.lan_service if lan_service is None else lan_service
        self._validate(row.kind, row.id, new_config, new_credentials, lan)
        sealed = self._cipher.encrypt(credentials, row.id) if credentials else None
        try:
            updated = await self._store.update(
                row.id,
                name=name,
                config=None if config is None else new_config,
                credentials=sealed,
                clear_credentials=clear_credentials
                or (credentials is not None and not credentials),
                lan_service=lan_service,
            )
        except ProviderNameTaken:
            raise ProviderError(
                "provider_name_taken", f"a provider named {name!r} exists"
            ) from None
        if updated is None:
            raise ProviderError("provider_not_found", f"no provider instance {ref!r}")
        self._live.pop(row.id, None)
        return _public(updated)

    async def remove(self, ref: str) -> None:
        row = await self._row(ref)
        if not await self._store.delete(row.id):
            raise ProviderError("provider_not_found", f"no provider instance {ref!r}")
        self._live.pop(row.id, None)

    async def rotate_key(self, old_key: bytes, new_key: bytes) -> KeyRotation:
        """Re-encrypt every row under ``new_key`` (one transaction), then use it from now on.

        Rows already under the new key are left alone, so an interrupted rotation can be rerun.
        A row under neither key fails the whole rotation (nothing is changed).
        """
        old, new = CredentialCipher(old_key), CredentialCipher(new_key)

        def reencrypt(instance_id: str, blob: bytes, key_id: str) -> tuple[bytes, str] | None:
            if key_id == new.key_id:
                return None
            if key_id != old.key_id:
                raise ProviderError(
                    "credentials_unavailable",
                    f"instance {instance_id} is encrypted under key {key_id}, neither old nor new",
                )
            try:
                return new.encrypt(old.decrypt(blob, key_id, instance_id), instance_id)
            except CredentialError as exc:
                raise ProviderError("credentials_unavailable", str(exc)) from None

        rotated, kept = await self._store.reencrypt_all(reencrypt)
        self._cipher = new
        self._live.clear()
        return KeyRotation(rotated, kept)

    # -- use ----------------------------------------------------------------------------------

    async def resolve(self, ref: str, media_ref: str) -> PlaybackSource:
        provider, _, _ = await self._provider(ref)
        return await provider.resolve(media_ref)

    async def resolve_for_proxy(self, instance_id: str, media_ref: str) -> ResolvedSource:
        """The proxy's :class:`SourceResolver`: a grant's instance id → source + LAN flag."""
        provider, row, _ = await self._provider(instance_id)
        return ResolvedSource(await provider.resolve(media_ref), row.lan_service)

    async def browse(self, ref: str, path: str = "/") -> list[BrowseEntry]:
        provider, _, _ = await self._provider(ref)
        return await provider.browse(path)

    async def describe_resolution(
        self,
        ref: str,
        media_ref: str,
        proxy_url: Callable[[str, str], str] | None = None,
    ) -> dict[str, Any]:
        """What a room would get, as printable data with every secret masked (admin resolve)."""
        provider, row, secrets = await self._provider(ref)
        source = await provider.resolve(media_ref)
        out: dict[str, Any] = {
            "instance": row.name,
            "kind": row.kind,
            "url": mask_url(source.url, secrets),
            "headers": dict(mask_headers(source.headers, secrets)),
            "mode": source.mode,
            "expires_at": source.expires_at,
            "title": source.title,
            "subtitles": [
                {"name": mask_text(s.name, secrets), "url": mask_url(s.url, secrets)}
                for s in source.subtitles
            ],
            "qualities": [
                {"name": q.name, "url": mask_url(q.url, secrets)} for q in source.qualities
            ],
        }
        if proxy_url is not None:
            out["proxy_url"] = proxy_url(row.id, media_ref)
        return out

    # -- internals ------------------------------------------------------------------------------

    async def _row(self, ref: str) -> ProviderInstanceRow:
        row = await self._store.get(ref)
        if row is None:
            raise ProviderError("provider_not_found", f"no provider instance {ref!r}")
        return row

    async def _provider(self, ref: str) -> tuple[Provider, ProviderInstanceRow, list[str]]:
        row = await self._row(ref)
        live = self._live.get(row.id)
        if live is not None and live[0] == row.updated_at and live[1] == self._cipher.key_id:
            return live[2], row, live[3]
        credentials = self._decrypt(row)
        kind = self._registry.get(row.kind)
        context = ProviderContext(self._http, row.id, row.lan_service, self._clock)
        provider = kind.create(row.config, credentials, context)
        secrets = secret_values(credentials)
        self._live[row.id] = (row.updated_at, self._cipher.key_id, provider, secrets)
        return provider, row, secrets

    def _decrypt(self, row: ProviderInstanceRow) -> dict[str, Any]:
        if row.credentials is None or row.credentials_key_id is None:
            return {}
        try:
            return self._cipher.decrypt(row.credentials, row.credentials_key_id, row.id)
        except CredentialError as exc:
            raise ProviderError("credentials_unavailable", str(exc)) from None

    def _validate(
        self,
        kind_name: str,
        instance_id: str,
        config: Mapping[str, Any],
        credentials: Mapping[str, Any],
        lan_service: bool,
    ) -> None:
        kind = self._registry.get(kind_name)
        kind.validate(config, credentials)
        context = ProviderContext(self._http, instance_id, lan_service, self._clock)
        kind.create(config, credentials, context)  # builds nothing remote; checks the values


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ProviderError(
            "invalid_provider_config",
            "a provider name is 1-64 characters: letters, digits, '_', '.', '-'",
        )


def _public(row: ProviderInstanceRow) -> ProviderInstance:
    return ProviderInstance(
        id=row.id,
        kind=row.kind,
        name=row.name,
        config=row.config,
        lan_service=row.lan_service,
        has_credentials=row.credentials is not None,
        credentials_key_id=row.credentials_key_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
