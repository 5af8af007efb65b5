"""A room's media library: the provider instances a room member may browse, and browsing one.

Both the REST routes (``GET /api/rooms/{room}/providers``, ``.../providers/{instance}/browse``)
and their gRPC twins (``ListRoomProviders``, ``BrowseRoomProvider``) call this, so the rule is
one: the caller needs the room permission ``browse_library`` (members have it by default;
platform admins have every permission). A member sees an instance's id, name and kind and
whether it can be browsed, never its config or credentials. Adding a browsed file to the
playlist is the playlist's own add with a ``{kind: "provider", instance, path}`` source.

Wiring: the rooms feature is built before the media proxy feature, which owns the provider
service; it calls :meth:`RoomLibrary.attach` at start-up (``Services.room_library``). Until then
the library is empty.

Error handling: ``permission_denied`` (no ``browse_library``), ``room_not_found``, and the
provider service's codes (``provider_not_found``, ``provider_not_supported`` for a kind that
cannot be browsed, ``provider_unavailable`` ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from synctv import errors
from synctv.core.permissions import Permission
from synctv.core.rooms import Caller, RoomService
from synctv.errors import DomainError
from synctv.providers.base import BrowseEntry
from synctv.providers.service import ProviderInstance

# Kinds whose instances have folders to list (``direct`` takes any URL: nothing to browse).
NOT_BROWSABLE = frozenset({"direct"})
MAX_PATH = 2048


class Providers(Protocol):
    """The provider service, as far as a room's library needs it."""

    async def list_instances(self) -> list[ProviderInstance]: ...

    async def get(self, ref: str) -> ProviderInstance: ...

    async def browse(self, ref: str, path: str = "/") -> list[BrowseEntry]: ...


@dataclass(frozen=True, slots=True)
class LibraryInstance:
    """An instance as a room member sees it."""

    id: str
    name: str
    kind: str
    browsable: bool


@dataclass(frozen=True, slots=True)
class Listing:
    instance: LibraryInstance
    path: str
    entries: Sequence[BrowseEntry]


def _seen(instance: ProviderInstance) -> LibraryInstance:
    return LibraryInstance(
        instance.id, instance.name, instance.kind, instance.kind not in NOT_BROWSABLE
    )


class RoomLibrary:
    """See the module docstring."""

    def __init__(self) -> None:
        self._providers: Providers | None = None
        self._rooms: RoomService | None = None

    def attach_providers(self, providers: Providers) -> None:
        """Called once by the media proxy feature, with its provider service."""
        self._providers = providers

    def attach_rooms(self, rooms: RoomService) -> None:
        """Called once by the rooms feature, with its room service."""
        self._rooms = rooms

    async def _allowed(self, caller: Caller, room_id: str) -> None:
        if self._rooms is None:
            raise DomainError(errors.ROOM_NOT_FOUND, "this server has no rooms")
        access = await self._rooms.access(caller, room_id)
        access.require(Permission.BROWSE_LIBRARY)

    async def instances(self, caller: Caller, room_id: str) -> list[LibraryInstance]:
        """Every instance, by name (``browse_library``)."""
        await self._allowed(caller, room_id)
        if self._providers is None:
            return []
        found = await self._providers.list_instances()
        return sorted((_seen(i) for i in found), key=lambda i: i.name)

    async def browse(self, caller: Caller, room_id: str, instance: str, path: str) -> Listing:
        """One folder of an instance: its folders, then its files, each by name."""
        await self._allowed(caller, room_id)
        if self._providers is None:
            raise DomainError(errors.PROVIDER_NOT_FOUND, f"no provider instance {instance!r}")
        path = path.strip() or "/"
        if len(path) > MAX_PATH:
            raise DomainError(errors.INVALID_PARAMETER, f"a path is at most {MAX_PATH} characters")
        found = _seen(await self._providers.get(instance))
        if not found.browsable:
            raise DomainError(
                errors.PROVIDER_NOT_SUPPORTED, f"{found.kind} instances have no folders to browse"
            )
        entries = await self._providers.browse(found.id, path)
        ordered = sorted(entries, key=lambda e: (not e.is_dir, e.name.casefold()))
        return Listing(found, path, ordered)
