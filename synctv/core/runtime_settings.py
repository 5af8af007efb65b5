"""Runtime settings in a running process: the snapshot every feature reads, and the management
operations the admin CLI and REST API share.

:class:`RuntimeSettings` holds every declared setting's current typed value (the default until a
row says otherwise). Reading is a dict lookup (``settings.get(AUDIT_RETENTION_DAYS)`` or
``settings.get("audit.retentionDays")``). :meth:`RuntimeSettings.run` is the listener: it
``LISTEN``\\ s on ``synctv_settings`` on a connection of its own, loads everything once the LISTEN
is active (so no change falls between the two), then reloads each key it is notified of; if the
connection is lost it reconnects and loads everything again, since notifications sent meanwhile
are gone. Code that must rebuild something on a change subscribes to the key.

:class:`SettingsService` changes settings: validate (the key and the rule in every refusal),
keep secret fields that were left out (an export without secrets imports back without losing
them), seal secret fields, then one store transaction with its audit rows and notifications.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, overload

import trio

from synctv import errors
from synctv.core.setting_secrets import SettingCipher, SettingSecretError
from synctv.core.settings import (
    MASK,
    REGISTRY,
    InvalidSettingValue,
    Setting,
    UnknownSetting,
)
from synctv.core.settings import setting as declared
from synctv.errors import DomainError
from synctv.store.audit import SYSTEM_ACTOR, AuditActor
from synctv.store.db import Database, DatabaseUnavailable
from synctv.store.secrets import Secrets
from synctv.store.settings import CHANNEL, SettingsStore, SettingWrite, StoredSetting
from synctv.supervision import boundary

T = TypeVar("T")

log = logging.getLogger("synctv.settings")

# After the listening connection is lost: wait this long before connecting again.
RECONNECT_DELAY_SECONDS = 1.0
RECONNECT_MAX_DELAY_SECONDS = 15.0
# Version of the export document's layout.
EXPORT_FORMAT = 1

Callback = Callable[[Any], None]


class RuntimeSettings:
    """This process's snapshot of every setting, kept current by :meth:`run`."""

    def __init__(self, store: SettingsStore, cipher: SettingCipher, db: Database) -> None:
        self._store = store
        self._cipher = cipher
        self._db = db
        self._values: dict[str, Any] = {key: s.default for key, s in REGISTRY.items()}
        self._stored: set[str] = set()  # keys with a usable stored value (the rest: defaults)
        self._subscribers: dict[str, list[Callback]] = {}
        self._public = self._public_values()
        self.reloads = 0  # full reloads: the first load, then one per reconnection

    @classmethod
    def for_database(cls, db: Database, secrets: Secrets) -> RuntimeSettings:
        cipher = SettingCipher(
            secrets.credential_encryption_key, secrets.previous_credential_encryption_keys
        )
        return cls(SettingsStore(db), cipher, db)

    @overload
    def get(self, key: Setting[T]) -> T: ...
    @overload
    def get(self, key: str) -> Any: ...
    def get(self, key: Setting[Any] | str) -> Any:
        name = key if isinstance(key, str) else key.key
        try:
            return self._values[name]
        except KeyError:
            raise UnknownSetting(name) from None

    def use_key(self, key: bytes) -> None:
        """The credential key was rotated to ``key``: open secrets sealed under it too."""
        self._cipher = self._cipher.with_key(key)

    def is_stored(self, key: str) -> bool:
        """Whether ``key`` has a stored value in use (False: it reads its default)."""
        declared(key)
        return key in self._stored

    def public(self) -> Mapping[str, Any]:
        """The public settings as JSON (rebuilt on change, so serving it costs a lookup)."""
        return self._public

    def subscribe(self, key: str, callback: Callback) -> Callable[[], None]:
        """Call ``callback(new value)`` after each change of ``key``; returns the unsubscriber.

        The callback runs in the listener task: keep it short (set a field, wake a task). An
        exception in it is logged and counted, and does not stop the other subscribers.
        """
        declared(key)
        callbacks = self._subscribers.setdefault(key, [])
        callbacks.append(callback)
        return lambda: callbacks.remove(callback) if callback in callbacks else None

    async def reload_all(self) -> None:
        rows = {row.key: row for row in await self._store.load_all()}
        for key in REGISTRY:
            self._apply(key, rows.get(key))
        self.reloads += 1

    async def reload(self, key: str) -> None:
        if key in REGISTRY:
            self._apply(key, await self._store.load(key))

    def _apply(self, key: str, row: StoredSetting | None) -> None:
        setting = REGISTRY[key]
        value = setting.default
        if row is not None:
            try:
                value = setting.validate(self._cipher.open(setting, row.value))
            except (InvalidSettingValue, SettingSecretError) as exc:
                # A row written under an older rule, or a secret under a lost key: the default
                # serves until an operator sets it again (`synctv admin settings set`).
                log.warning("setting %s: stored value unusable, using the default: %s", key, exc)
                row = None
        was_stored = key in self._stored
        if row is None:
            self._stored.discard(key)
        else:
            self._stored.add(key)
        if value == self._values[key] and was_stored == (row is not None):
            return
        self._values[key] = value
        if setting.public:
            self._public = self._public_values()
        for callback in list(self._subscribers.get(key, ())):
            with boundary("settings_subscriber", key):
                callback(value)

    def _public_values(self) -> dict[str, Any]:
        return {
            key: s.to_json(self._values[key]) for key, s in sorted(REGISTRY.items()) if s.public
        }

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen for changes and reload what changed; reload everything after a reconnection.

        A failure before the first load reaches the caller (start-up fails, as it should with
        no database); after it, a lost connection is logged once and connected again with
        backoff (1 s, doubling to 15 s), every reconnection starting with a full reload.
        """
        started = False
        lost = False  # in a streak of failed connections (logged once per streak)
        delay = RECONNECT_DELAY_SECONDS

        def ready() -> None:
            nonlocal started, lost, delay
            if not started:
                started = True
                task_status.started()
            elif lost:
                log.info("settings listener connected again; every setting reloaded")
            lost, delay = False, RECONNECT_DELAY_SECONDS

        while True:
            try:
                await self._listen_once(ready)
            except* DatabaseUnavailable as group:
                if not started:
                    raise
                if not lost:
                    lost = True
                    log.warning(
                        "settings listener lost its connection (%s); reconnecting",
                        group.exceptions[0],
                    )
            await trio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY_SECONDS)

    async def _listen_once(self, ready: Callable[[], None]) -> None:
        send, receive = trio.open_memory_channel[str](math.inf)

        def deliver(key: str) -> None:
            # A notification racing the end of this listener has nowhere to go: the next
            # listener's full reload covers it.
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                send.send_nowait(key)

        async with trio.open_nursery() as nursery:
            await nursery.start(self._db.listen, CHANNEL, deliver)
            await self.reload_all()  # after LISTEN: a change committed from now on is notified
            ready()
            async for key in receive:
                await self.reload(key)


# -- management --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettingView:
    """One setting as the admin surfaces show it (secret fields left out unless asked for)."""

    key: str
    value: Any
    default: Any
    is_set: bool
    public: bool
    has_secrets: bool
    rule: str
    description: str
    version: int
    updated_at: datetime | None
    updated_by: str


@dataclass(frozen=True, slots=True)
class SettingChange:
    key: str
    old: Any  # JSON, secret fields masked
    new: Any


class SettingsService:
    """list / get / set / reset / export / import, for the admin CLI and REST API."""

    def __init__(self, store: SettingsStore, cipher: SettingCipher) -> None:
        self._store = store
        self._cipher = cipher

    async def list_all(
        self, group: str | None = None, *, include_secrets: bool = False
    ) -> list[SettingView]:
        if group is not None and not any(s.group == group for s in REGISTRY.values()):
            raise DomainError(errors.SETTING_NOT_FOUND, f"no setting group {group!r}")
        rows = {row.key: row for row in await self._store.load_all()}
        return [
            self._view(s, rows.get(key), include_secrets)
            for key, s in sorted(REGISTRY.items())
            if group is None or s.group == group
        ]

    async def get(self, key: str, *, include_secrets: bool = False) -> SettingView:
        setting = _declared(key)
        return self._view(setting, await self._store.load(key), include_secrets)

    async def set(self, key: str, value: Any, by: AuditActor) -> SettingChange:
        """Set ``key`` to JSON ``value`` (secret fields left out or masked keep their value)."""
        setting = _declared(key)
        current = await self._plain(setting)
        typed = _validated(setting, carry_secrets(setting, value, current))
        return (await self._write({key: typed}, by, "settings.changed"))[0]

    async def set_text(self, key: str, text: str, by: AuditActor) -> SettingChange:
        """``set`` with a command-line value: JSON, or else plain text."""
        setting = _declared(key)
        try:
            typed = setting.parse_text(text)
        except InvalidSettingValue as exc:
            raise _invalid(exc) from None
        if setting.has_secrets:
            return await self.set(key, setting.to_json(typed), by)
        return (await self._write({key: typed}, by, "settings.changed"))[0]

    async def reset(self, key: str, by: AuditActor) -> SettingChange:
        setting = _declared(key)
        previous = await self._store.apply(
            [SettingWrite(key, None)], by=by, action="settings.reset", mask=_audit_mask
        )
        return SettingChange(key, self._shown(setting, previous[key]), setting.default_json())

    async def export(self, *, include_secrets: bool = False) -> dict[str, Any]:
        """The stored settings (unset ones follow their defaults) as an import document."""
        values: dict[str, Any] = {}
        for row in await self._store.load_all():
            setting = REGISTRY.get(row.key)
            if setting is None:
                continue
            if include_secrets:
                values[row.key] = self._open(setting, row.value)
            else:
                values[row.key] = setting.masked(row.value, None)
        return {"format": EXPORT_FORMAT, "settings": values}

    async def import_document(self, document: Any, by: AuditActor) -> list[SettingChange]:
        """Validate every value of ``document`` first; then write them all, or nothing."""
        values = _document_settings(document)
        typed: dict[str, Any] = {}
        for key, value in values.items():
            setting = _declared(key)
            current = await self._plain(setting) if setting.has_secrets else None
            typed[key] = _validated(setting, carry_secrets(setting, value, current))
        return await self._write(typed, by, "settings.imported")

    async def rotate_key(self, key: bytes) -> list[str]:
        """The credential key was rotated to ``key`` (``ProviderService.rotate_key``): seal
        under it from now on and re-seal every secret setting under it now, so the previous key
        can be dropped. Returns the re-sealed keys."""
        self._cipher = self._cipher.with_key(key)
        return await self.reseal_stale()

    async def reseal_stale(self) -> list[str]:
        """Re-seal every secret sealed under a previous credential key (one this server still
        holds) under the current one, so the previous key can be dropped from the config.
        A secret under a key the server does not hold is left alone (and stays unreadable)."""

        def rewrite(key: str, stored: Any) -> Any | None:
            setting = REGISTRY.get(key)
            if setting is None or not self._cipher.stale(setting, stored):
                return None
            try:
                return self._cipher.seal(setting, self._cipher.open(setting, stored))
            except SettingSecretError:
                return None

        return await self._store.rewrite_sealed(
            rewrite, by=SYSTEM_ACTOR, key_id=self._cipher.key_id
        )

    async def _write(
        self, typed: Mapping[str, Any], by: AuditActor, action: str
    ) -> list[SettingChange]:
        writes = [
            SettingWrite(key, self._cipher.seal(REGISTRY[key], REGISTRY[key].to_json(value)))
            for key, value in typed.items()
        ]
        previous = await self._store.apply(writes, by=by, action=action, mask=_audit_mask)
        return [
            SettingChange(
                w.key, self._shown(REGISTRY[w.key], previous[w.key]), _audit_mask(w.key, w.value)
            )
            for w in writes
        ]

    async def _plain(self, setting: Setting[Any]) -> Any:
        """The current JSON value with secrets opened (for carrying secrets over)."""
        row = await self._store.load(setting.key)
        if row is None:
            return setting.default_json()
        return self._open(setting, row.value)

    def _open(self, setting: Setting[Any], stored: Any) -> Any:
        try:
            return self._cipher.open(setting, stored)
        except SettingSecretError as exc:
            raise DomainError(errors.SETTING_SECRET_UNAVAILABLE, str(exc)) from None

    def _shown(self, setting: Setting[Any], row: StoredSetting | None) -> Any:
        return setting.masked(row.value) if row is not None else setting.default_json()

    def _view(
        self, setting: Setting[Any], row: StoredSetting | None, include_secrets: bool
    ) -> SettingView:
        if row is None:
            value = setting.default_json()
        elif include_secrets:
            value = self._open(setting, row.value)
        else:
            value = setting.masked(row.value, None)
        return SettingView(
            key=setting.key,
            value=value,
            default=setting.default_json(),
            is_set=row is not None,
            public=setting.public,
            has_secrets=setting.has_secrets,
            rule=setting.rule,
            description=setting.description,
            version=row.version if row is not None else 0,
            updated_at=row.updated_at if row is not None else None,
            updated_by=row.updated_by if row is not None else "",
        )


def carry_secrets(setting: Setting[Any], new: Any, current: Any) -> Any:
    """``new`` with each secret field that is missing (or the mask) filled from the current
    value's matching item (same ``name``, else same ``urls``). Values without secrets pass."""
    if not setting.has_secrets or not isinstance(new, list) or not isinstance(current, list):
        return new

    def identity(item: Any) -> Any:
        if not isinstance(item, dict):
            return None
        return ("name", item["name"]) if "name" in item else ("urls", repr(item.get("urls")))

    known = {identity(item): item for item in current if isinstance(item, dict)}
    carried: list[Any] = []
    for item in new:
        if isinstance(item, dict):
            item = dict(item)
            source = known.get(identity(item), {})
            for field in setting.secret_fields:
                if item.get(field, MASK) == MASK:
                    if field in source:
                        item[field] = source[field]
                    else:
                        item.pop(field, None)
        carried.append(item)
    return carried


def _declared(key: str) -> Setting[Any]:
    try:
        return declared(key)
    except UnknownSetting:
        raise DomainError(
            errors.SETTING_NOT_FOUND,
            f"no setting {key!r} (`synctv admin settings list` shows them all)",
            {"key": key},
        ) from None


def _validated(setting: Setting[Any], value: Any) -> Any:
    try:
        return setting.validate(value)
    except InvalidSettingValue as exc:
        raise _invalid(exc) from None


def _invalid(exc: InvalidSettingValue) -> DomainError:
    return DomainError(errors.INVALID_SETTING_VALUE, str(exc), {"key": exc.key, "rule": exc.rule})


def _audit_mask(key: str, value: Any) -> Any:
    setting = REGISTRY.get(key)
    if value is None:
        return None if setting is None else setting.default_json()
    return value if setting is None else setting.masked(value)


def _document_settings(document: Any) -> dict[str, Any]:
    """The ``settings`` object of an export document (or a bare ``{key: value}`` object)."""
    if not isinstance(document, dict):
        raise DomainError(errors.INVALID_SETTING_VALUE, "an import document is a JSON object")
    if "settings" in document:
        if document.get("format", EXPORT_FORMAT) != EXPORT_FORMAT:
            raise DomainError(
                errors.INVALID_SETTING_VALUE,
                f"unknown export format {document.get('format')!r} (this server reads "
                f"{EXPORT_FORMAT})",
            )
        document = document["settings"]
        if not isinstance(document, dict):
            raise DomainError(errors.INVALID_SETTING_VALUE, '"settings" must be a JSON object')
    return dict(document)
