"""Provider instances as a service: add/list/update/remove/resolve/browse and key rotation.

Credentials are encrypted here (``crypto.CredentialCipher``) before they reach the store and
decrypted only to build a live provider; the plaintext is never returned, logged or put into an
error. Live providers (which hold login tokens) are kept per instance and rebuilt when the
instance changes; listeners (the proxy's source cache) hear of every update and removal.

Key rotation must survive a restart. Where the key lives is a :class:`KeyCustody`: a generated
key (``data_dir/secrets``) is replaced on disk *before* any row is re-encrypted, with the old key
kept beside it as a previous key until the re-encryption transaction has committed (so a crash
at any point leaves every row decryptable at the next start), and put back if the re-encryption
fails; a configured key cannot be replaced by us, so rotating to another key is refused with
what to configure instead. Rows under any previous key stay readable (key ids pick the key), and
rotating to the key already current re-encrypts them, which is how a rotation by configuration
ends. Credential writes and rotation are serialised in-process (a row written under the old key
while a rotation runs would be missed by it).

Audit: every change is recorded by the store in its own transaction (``by`` names who acts). An
attempt on an instance that does not exist, or a name that is taken, is recorded as ``failed``;
a key rotation refused before anything changed (a key this server does not hold, a configured
key) as ``denied``, one that failed while re-encrypting as ``failed``. A rejected config is not
recorded: nothing was attempted.

Error handling: every failure is a :class:`synctv.errors.DomainError` with a declared code:
``provider_not_found``, ``provider_name_taken``, ``invalid_provider_config``,
``unknown_provider_kind``, ``credentials_unavailable``, ``credential_key_configured``,
``credential_key_store_failed`` and the providers' own codes.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import trio

from synctv.errors import DomainError
from synctv.outbound.masking import mask_text, mask_url
from synctv.outbound.scope import LanScope
from synctv.providers.base import (
    BrowseEntry,
    PlaybackSource,
    Provider,
    ProviderContext,
    ProviderHttp,
    ProviderKind,
    ProviderRegistry,
    Quality,
    ResolvedSource,
    Subtitle,
    builtin_registry,
    checked_source,
    client_safe,
    mask_headers,
    secret_values,
    sub_resource_id,
)
from synctv.providers.crypto import CredentialCipher, CredentialError, key_id
from synctv.store.audit import AuditActor, AuditEvent, Outcome
from synctv.store.providers import ProviderInstanceRow, ProviderInstanceStore, ProviderNameTaken

log = logging.getLogger("synctv.providers")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")

ProxyUrl = Callable[[str, str, str | None], str]
"""``(instance_id, media_ref, selector) -> URL`` of the proxy for that media or sub-resource."""
InstanceListener = Callable[[str], Awaitable[None]]


class KeyCustody(Protocol):
    """Where the credential key lives, so that a rotation survives a restart (see module doc).

    Implemented in ``synctv.store.secrets`` (generated key files, configured keys).
    """

    def refusal(self, current_key_id: str, new_key: bytes) -> str | None:
        """Why the key cannot be replaced by ``new_key`` here, or ``None`` if it can."""
        ...

    async def stage(self, new_key: bytes) -> None:
        """Persist ``new_key`` as the key, keeping the current one as a previous key."""
        ...

    async def commit(self) -> None:
        """The rotation committed: the previous key is no longer needed."""
        ...

    async def abort(self) -> None:
        """The rotation failed: put the current key back."""
        ...


class UnpersistedKey:
    """A key that lives only in this process (tests, and embedders keeping keys themselves)."""

    def refusal(self, current_key_id: str, new_key: bytes) -> str | None:
        return None

    async def stage(self, new_key: bytes) -> None:
        return None

    async def commit(self) -> None:
        return None

    async def abort(self) -> None:
        return None


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
        key_custody: KeyCustody,
        registry: ProviderRegistry | None = None,
        clock: Callable[[], float] = time.time,
        rotation_hooks: Sequence[Callable[[bytes], Awaitable[object]]] = (),
    ) -> None:
        self._store = store
        # Other owners of secrets under the credential key (runtime settings): each re-seals
        # under the new key before the previous one is dropped.
        self._rotation_hooks = rotation_hooks
        self._cipher = cipher
        self._http = http
        self._custody = key_custody
        self._registry = registry or builtin_registry()
        self._clock = clock
        self._live: dict[str, tuple[datetime, str, Provider, list[str]]] = {}
        self._listeners: list[InstanceListener] = []
        self._key_lock = trio.Lock()

    def kinds(self) -> list[str]:
        return self._registry.names()

    def kind_details(self) -> list[ProviderKind]:
        """Each kind with its config and credential keys (what a form for it asks for)."""
        return [self._registry.get(name) for name in self._registry.names()]

    def subscribe(self, listener: InstanceListener) -> None:
        """Call ``await listener(instance_id)`` after every update or removal of an instance."""
        self._listeners.append(listener)

    async def _changed(self, instance_id: str) -> None:
        self._live.pop(instance_id, None)
        for listener in self._listeners:
            await listener(instance_id)

    # -- management -------------------------------------------------------------------------

    async def add(
        self,
        kind: str,
        name: str,
        config: Mapping[str, Any],
        credentials: Mapping[str, Any] | None = None,
        *,
        lan_service: bool = False,
        by: AuditActor,
    ) -> ProviderInstance:
        _check_name(name)
        instance_id = str(uuid.uuid4())
        credentials = dict(credentials or {})
        self._validate(kind, instance_id, config, credentials, lan_service)
        async with self._key_lock:
            sealed = self._cipher.encrypt(credentials, instance_id) if credentials else None
            try:
                row = await self._store.insert(
                    instance_id=instance_id,
                    kind=kind,
                    name=name,
                    config=dict(config),
                    credentials=sealed,
                    lan_service=lan_service,
                    by=by,
                )
            except ProviderNameTaken:
                attempt = AuditEvent(by, "provider.added", "provider", details={"name": name})
                raise await self._refused(
                    attempt, "failed", "provider_name_taken", f"a provider named {name!r} exists"
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
        by: AuditActor,
    ) -> ProviderInstance:
        """Change what is given; ``credentials`` replaces the stored set as a whole."""
        row = await self._row(ref, AuditEvent(by, "provider.updated", "provider", ref[:128]))
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
        async with self._key_lock:
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
                    by=by,
                )
            except ProviderNameTaken:
                attempt = AuditEvent(
                    by, "provider.updated", "provider", row.id, details={"name": name}
                )
                raise await self._refused(
                    attempt, "failed", "provider_name_taken", f"a provider named {name!r} exists"
                ) from None
        if updated is None:
            attempt = AuditEvent(by, "provider.updated", "provider", row.id)
            raise await self._refused(
                attempt, "failed", "provider_not_found", f"no provider instance {ref!r}"
            )
        await self._changed(row.id)
        return _public(updated)

    async def remove(self, ref: str, *, by: AuditActor) -> None:
        row = await self._row(ref, AuditEvent(by, "provider.removed", "provider", ref[:128]))
        if not await self._store.delete(row.id, by=by):
            attempt = AuditEvent(by, "provider.removed", "provider", row.id)
            raise await self._refused(
                attempt, "failed", "provider_not_found", f"no provider instance {ref!r}"
            )
        await self._changed(row.id)

    async def _refused(
        self, attempt: AuditEvent, outcome: Outcome, code: str, message: str
    ) -> DomainError:
        """Record an attempt that changed nothing; returns the error to raise."""
        await self._store.record(attempt.with_outcome(outcome, reason=code))
        return DomainError(code, message)

    async def rotate_key(
        self, old_key: bytes | None, new_key: bytes, *, by: AuditActor
    ) -> KeyRotation:
        """Re-encrypt every row under ``new_key`` (one transaction), then use it from now on.

        ``old_key``, when given, must be a key this server holds (a confirmation). Rows already
        under the new key are left alone, so an interrupted rotation can be rerun; a row under
        a key the server does not hold fails the whole rotation (nothing is changed, and a
        staged key file is put back). See the module docstring for where the key is kept.
        """
        async with self._key_lock:
            cipher = self._cipher
            audit = AuditEvent(
                by,
                "credentials.key_rotated",
                "credential_key",
                key_id(new_key),
                details={"from_key_id": cipher.key_id, "to_key_id": key_id(new_key)},
            )
            if old_key is not None and key_id(old_key) not in cipher.key_ids:
                raise await self._refused(
                    audit,
                    "denied",
                    "credentials_unavailable",
                    f"key {key_id(old_key)} is not a key this server holds "
                    f"(current {cipher.key_id})",
                )
            staged = key_id(new_key) != cipher.key_id
            target = cipher.with_key(new_key) if staged else cipher
            if staged:
                await self._stage(cipher.key_id, new_key, audit)
            try:
                rotated, kept = await self._store.reencrypt_all(_reencryptor(target), audit=audit)
            except BaseException as exc:
                if staged:
                    with trio.CancelScope(shield=True):
                        await self._custody.abort()
                if isinstance(exc, DomainError):
                    await self._store.record(audit.with_outcome("failed", reason=exc.code))
                raise
            others_resealed = await self._run_rotation_hooks(new_key)
            if staged and others_resealed:
                try:
                    await self._custody.commit()
                except OSError as exc:  # the previous key stays on disk: harmless
                    log.warning("could not remove the previous credential key: %s", exc)
            self._cipher = target
            self._live.clear()
        return KeyRotation(rotated, kept)

    async def _run_rotation_hooks(self, new_key: bytes) -> bool:
        """Let every other owner re-seal under ``new_key``; False if one failed. Then the
        previous key stays on disk as a previous key (harmless), and the start-up re-seal of
        the runtime settings finishes the job at the next start."""
        done = True
        for hook in self._rotation_hooks:
            try:
                await hook(new_key)
            except Exception:
                log.exception("re-sealing other secrets under the new credential key failed")
                done = False
        return done

    async def _stage(self, current_key_id: str, new_key: bytes, audit: AuditEvent) -> None:
        reason = self._custody.refusal(current_key_id, new_key)
        if reason is not None:
            raise await self._refused(audit, "denied", "credential_key_configured", reason)
        try:
            await self._custody.stage(new_key)
        except OSError as exc:
            raise await self._refused(
                audit,
                "failed",
                "credential_key_store_failed",
                f"cannot save the new key: {exc.strerror}",
            ) from None

    # -- use ----------------------------------------------------------------------------------

    async def resolve(self, ref: str, media_ref: str) -> PlaybackSource:
        """The source a room gets: never ``direct`` when a client would see a credential."""
        provider, _, secrets = await self._provider(ref)
        return client_safe(checked_source(await provider.resolve(media_ref)), secrets)

    async def resolve_for_proxy(self, instance_id: str, media_ref: str) -> ResolvedSource:
        """The proxy's :class:`SourceResolver`: a grant's instance id → source + LAN scope."""
        provider, row, _ = await self._provider(instance_id)
        source = checked_source(await provider.resolve(media_ref))
        return ResolvedSource(source, self._lan_scope(row))

    async def browse(self, ref: str, path: str = "/") -> list[BrowseEntry]:
        provider, _, _ = await self._provider(ref)
        return await provider.browse(path)

    async def describe_resolution(
        self, ref: str, media_ref: str, proxy_url: ProxyUrl | None = None
    ) -> dict[str, Any]:
        """What a room would get, as printable data with every secret masked (admin resolve):
        the source, and a proxy URL for it and for each of its subtitles and qualities."""
        provider, row, secrets = await self._provider(ref)
        source = client_safe(checked_source(await provider.resolve(media_ref)), secrets)
        scope = self._lan_scope(row)

        def link(selector: str | None) -> str | None:
            return None if proxy_url is None else proxy_url(row.id, media_ref, selector)

        out: dict[str, Any] = {
            "instance": row.name,
            "kind": row.kind,
            "url": mask_url(source.url, secrets),
            "headers": dict(mask_headers(source.headers, secrets, source.credential_headers)),
            "mode": source.mode,
            "expires_at": source.expires_at,
            "title": source.title,
            "lan_hosts": None if scope is None else scope.entries(),
            "subtitles": _describe_items("subtitle", source.subtitles, secrets, link),
            "qualities": _describe_items("quality", source.qualities, secrets, link),
        }
        if proxy_url is not None:
            out["proxy_url"] = link(None)
        return out

    # -- internals ------------------------------------------------------------------------------

    async def _row(self, ref: str, attempt: AuditEvent | None = None) -> ProviderInstanceRow:
        """The instance ``ref`` names; when it names none, ``attempt`` is recorded as failed."""
        row = await self._store.get(ref)
        if row is None:
            message = f"no provider instance {ref!r}"
            if attempt is not None:
                raise await self._refused(attempt, "failed", "provider_not_found", message)
            raise DomainError("provider_not_found", message)
        return row

    async def _provider(self, ref: str) -> tuple[Provider, ProviderInstanceRow, list[str]]:
        row = await self._row(ref)
        live = self._live.get(row.id)
        if live is not None and live[0] == row.updated_at and live[1] == self._cipher.key_id:
            return live[2], row, live[3]
        credentials = self._decrypt(row)
        kind = self._registry.get(row.kind)
        context = ProviderContext(self._http, row.id, self._lan_scope(row), self._clock)
        provider = kind.create(row.config, credentials, context)
        secrets = secret_values(credentials)
        self._live[row.id] = (row.updated_at, self._cipher.key_id, provider, secrets)
        return provider, row, secrets

    def _lan_scope(self, row: ProviderInstanceRow) -> LanScope | None:
        if not row.lan_service:
            return None
        return self._registry.get(row.kind).lan_scope(row.config)

    def _decrypt(self, row: ProviderInstanceRow) -> dict[str, Any]:
        if row.credentials is None or row.credentials_key_id is None:
            return {}
        try:
            return self._cipher.decrypt(row.credentials, row.credentials_key_id, row.id)
        except CredentialError as exc:
            raise DomainError("credentials_unavailable", str(exc)) from None

    def _validate(
        self,
        kind_name: str,
        instance_id: str,
        config: Mapping[str, Any],
        credentials: Mapping[str, Any],
        lan_service: bool,
    ) -> None:
        kind = self._registry.get(kind_name)
        kind.validate(config, credentials, lan_service)
        scope = kind.lan_scope(config) if lan_service else None
        context = ProviderContext(self._http, instance_id, scope, self._clock)
        kind.create(config, credentials, context)  # builds nothing remote; checks the values


def _describe_items(
    kind: str,
    items: Sequence[Subtitle | Quality],
    secrets: list[str],
    link: Callable[[str | None], str | None],
) -> list[dict[str, Any]]:
    """Subtitles or qualities for admin output: id, masked URL, and the proxy URL selecting it."""
    described = []
    for position, item in enumerate(items):
        item_id = sub_resource_id(item, position)
        entry: dict[str, Any] = {
            "id": item_id,
            "name": mask_text(item.name, secrets),
            "url": mask_url(item.url, secrets),
        }
        if isinstance(item, Subtitle):
            entry["language"] = item.language
        proxied = link(f"{kind}:{item_id}")
        if proxied is not None:
            entry["proxy_url"] = proxied
        described.append(entry)
    return described


def _reencryptor(
    target: CredentialCipher,
) -> Callable[[str, bytes, str], tuple[bytes, str] | None]:
    """The per-row step of a rotation: rows under any key ``target`` holds move to its key."""

    def reencrypt(instance_id: str, blob: bytes, stored_key_id: str) -> tuple[bytes, str] | None:
        if stored_key_id == target.key_id:
            return None
        if stored_key_id not in target.key_ids:
            raise DomainError(
                "credentials_unavailable",
                f"instance {instance_id} is encrypted under key {stored_key_id}, "
                "which this server does not hold",
            )
        try:
            return target.encrypt(target.decrypt(blob, stored_key_id, instance_id), instance_id)
        except CredentialError as exc:
            raise DomainError("credentials_unavailable", str(exc)) from None

    return reencrypt


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise DomainError(
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
