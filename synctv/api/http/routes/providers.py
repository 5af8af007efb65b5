"""Provider instances over REST: ``/api/admin/providers`` for platform admins (the operations of
``synctv admin provider``, audited as the signed-in admin), and a room's library
``/api/rooms/{room_id}/providers`` for members with ``browse_library``
(:mod:`synctv.api.room_library`).

Credentials are write-only: accepted on create and update, encrypted by the provider service,
and never returned (an instance says only ``hasCredentials``), logged or put into an error body
(the validation errors name fields, never their input). Members of a room see an instance's id,
name and kind, not its config.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import Field

from synctv.api.http.principal import Principal, audit_actor, require_admin
from synctv.api.http.routes.auth import CamelModel, refusals
from synctv.api.http.routes.rooms import Who
from synctv.api.room_library import MAX_PATH, LibraryInstance, Listing, RoomLibrary
from synctv.providers.base import COMMON_CONFIG_KEYS, BrowseEntry
from synctv.providers.service import ProviderInstance, ProviderService

Admin = Annotated[Principal, Depends(require_admin)]
InstanceRef = Annotated[str, Path(min_length=1, max_length=128, description="Id or name.")]
RoomId = Annotated[str, Path(min_length=1, max_length=64)]
BrowsePath = Annotated[str, Query(max_length=MAX_PATH, description="A folder; `/` the top.")]
_AUTH = (401, "`authentication_required`, `token_expired` or `token_revoked`")
_ADMIN = (403, "`permission_denied` (not an admin)")
_MISSING = (404, "`provider_not_found`")
_INVALID = (
    400,
    "`invalid_provider_config` or `unknown_provider_kind` (names the key, never its value)",
)
_UPSTREAM = (502, "`provider_unavailable` or `provider_auth_failed`")
_NOT_BROWSABLE = (400, "`provider_not_supported` (a direct instance has no folders)")


class KindOut(CamelModel):
    name: str = Field(examples=["alist"])
    description: str
    config_keys: list[str] = Field(description="Plain settings, shown back to admins.")
    credential_keys: list[str] = Field(description="Secrets: write-only, stored encrypted.")
    default_mode: str


class ProviderOut(CamelModel):
    id: str
    kind: str
    name: str
    config: dict[str, Any]
    lan_service: bool = Field(description="May reach the hosts of its config on the LAN.")
    has_credentials: bool = Field(description="Credentials are never returned, only this.")
    created_at: datetime
    updated_at: datetime


class ProvidersOut(CamelModel):
    instances: list[ProviderOut]
    kinds: list[KindOut]


class CreateProviderIn(CamelModel):
    kind: str = Field(min_length=1, max_length=32, examples=["alist"])
    name: str = Field(min_length=1, max_length=64, examples=["nas"])
    config: dict[str, Any] = Field(default_factory=dict, examples=[{"base_url": "http://nas"}])
    credentials: dict[str, Any] = Field(
        default_factory=dict, description="Write-only.", examples=[{"password": "..."}]
    )
    lan_service: bool = False


class UpdateProviderIn(CamelModel):
    """What is given changes; ``credentials`` replaces the stored set as a whole."""

    name: str | None = Field(None, min_length=1, max_length=64)
    config: dict[str, Any] | None = None
    credentials: dict[str, Any] | None = Field(None, description="Write-only.")
    clear_credentials: bool = False
    lan_service: bool | None = None


class EntryOut(CamelModel):
    name: str
    path: str = Field(description="A folder's path to browse, or a file's to add as a source.")
    is_dir: bool
    size: int | None


class BrowseOut(CamelModel):
    path: str
    entries: list[EntryOut] = Field(description="Folders first, then files, by name.")


class LibraryInstanceOut(CamelModel):
    id: str
    name: str
    kind: str
    browsable: bool


class LibraryOut(CamelModel):
    instances: list[LibraryInstanceOut]


class LibraryBrowseOut(BrowseOut):
    instance: LibraryInstanceOut


def provider_out(instance: ProviderInstance) -> ProviderOut:
    return ProviderOut(
        id=instance.id,
        kind=instance.kind,
        name=instance.name,
        config=dict(instance.config),
        lan_service=instance.lan_service,
        has_credentials=instance.has_credentials,
        created_at=instance.created_at,
        updated_at=instance.updated_at,
    )


def entry_out(entry: BrowseEntry) -> EntryOut:
    return EntryOut(name=entry.name, path=entry.ref, is_dir=entry.is_dir, size=entry.size)


def library_instance_out(instance: LibraryInstance) -> LibraryInstanceOut:
    return LibraryInstanceOut(
        id=instance.id, name=instance.name, kind=instance.kind, browsable=instance.browsable
    )


def listing_out(listing: Listing) -> LibraryBrowseOut:
    return LibraryBrowseOut(
        instance=library_instance_out(listing.instance),
        path=listing.path,
        entries=[entry_out(e) for e in listing.entries],
    )


def admin_providers_router(service: ProviderService) -> APIRouter:
    router = APIRouter(prefix="/api/admin/providers", tags=["admin"])

    @router.get("", response_model=ProvidersOut, responses=refusals(_AUTH, _ADMIN))
    async def list_providers(admin: Admin) -> Any:
        """Every provider instance (without credentials), and the kinds one can add."""
        kinds = [
            KindOut(
                name=k.name,
                description=k.description,
                config_keys=sorted(k.config_keys | COMMON_CONFIG_KEYS),
                credential_keys=sorted(k.secret_keys),
                default_mode=k.default_mode,
            )
            for k in service.kind_details()
        ]
        instances = await service.list_instances()
        return ProvidersOut(instances=[provider_out(i) for i in instances], kinds=kinds)

    @router.post(
        "",
        status_code=201,
        response_model=ProviderOut,
        responses=refusals(_AUTH, _ADMIN, _INVALID, (409, "`provider_name_taken`")),
    )
    async def create(admin: Admin, request: Request, body: CreateProviderIn) -> Any:
        """Add an instance; its credentials are encrypted and never shown again."""
        made = await service.add(
            body.kind,
            body.name,
            body.config,
            body.credentials,
            lan_service=body.lan_service,
            by=audit_actor(request, admin),
        )
        return provider_out(made)

    @router.get(
        "/{instance}", response_model=ProviderOut, responses=refusals(_AUTH, _ADMIN, _MISSING)
    )
    async def show(admin: Admin, instance: InstanceRef) -> Any:
        return provider_out(await service.get(instance))

    @router.patch(
        "/{instance}",
        response_model=ProviderOut,
        responses=refusals(_AUTH, _ADMIN, _MISSING, _INVALID, (409, "`provider_name_taken`")),
    )
    async def update(
        admin: Admin, request: Request, instance: InstanceRef, body: UpdateProviderIn
    ) -> Any:
        """Change what is given (credentials: a new set, or ``clearCredentials``)."""
        changed = await service.update(
            instance,
            name=body.name,
            config=body.config,
            credentials=body.credentials,
            clear_credentials=body.clear_credentials,
            lan_service=body.lan_service,
            by=audit_actor(request, admin),
        )
        return provider_out(changed)

    @router.delete("/{instance}", status_code=204, responses=refusals(_AUTH, _ADMIN, _MISSING))
    async def delete(admin: Admin, request: Request, instance: InstanceRef) -> Response:
        """Remove an instance (playlist items naming it stop resolving)."""
        await service.remove(instance, by=audit_actor(request, admin))
        return Response(status_code=204)

    @router.get(
        "/{instance}/browse",
        response_model=BrowseOut,
        responses=refusals(_AUTH, _ADMIN, _MISSING, _NOT_BROWSABLE, _UPSTREAM),
    )
    async def browse(admin: Admin, instance: InstanceRef, path: BrowsePath = "/") -> Any:
        """List a folder: the connection test (it signs in to the provider's server)."""
        path = path.strip() or "/"
        entries = await service.browse(instance, path)
        return BrowseOut(path=path, entries=[entry_out(e) for e in entries])

    return router


def room_providers_router(library: RoomLibrary) -> APIRouter:
    router = APIRouter(prefix="/api/rooms/{room_id}/providers", tags=["playlists"])
    denied = (403, "`permission_denied` (`browse_library`)")

    @router.get(
        "",
        response_model=LibraryOut,
        responses=refusals(_AUTH, denied, (404, "`room_not_found`")),
    )
    async def instances(who: Who, room_id: RoomId) -> Any:
        """The provider instances the room's members may browse (``browse_library``)."""
        found = await library.instances(who, room_id)
        return LibraryOut(instances=[library_instance_out(i) for i in found])

    @router.get(
        "/{instance}/browse",
        response_model=LibraryBrowseOut,
        responses=refusals(
            _AUTH,
            denied,
            (404, "`room_not_found` or `provider_not_found`"),
            _NOT_BROWSABLE,
            _UPSTREAM,
        ),
    )
    async def browse(
        who: Who, room_id: RoomId, instance: InstanceRef, path: BrowsePath = "/"
    ) -> Any:
        """One folder of an instance (``browse_library``). Add a file to the playlist with
        ``POST /api/rooms/{room_id}/media`` and the source
        ``{kind: "provider", instance: <id>, path: <entry path>}``."""
        return listing_out(await library.browse(who, room_id, instance, path))

    return router
