"""``ProviderAdmin`` servicer: provider instances over the management socket.

Thin: decodes JSON fields and calls :class:`ProviderService`; its :class:`DomainError` codes reach
the client as they are (the bridge maps them). Credentials come in (the socket is 0600) and never
go out. The caller is the management socket: every change is audited as ``cli``.
"""

from __future__ import annotations

import json
from typing import Any

from synctv import errors
from synctv.api.grpc._gen.synctv.admin.v1 import providers_grpc, providers_pb2
from synctv.api.grpc.bridge import unary
from synctv.errors import DomainError
from synctv.providers.crypto import key_id, parse_key
from synctv.providers.service import ProviderInstance, ProviderService, ProxyUrl
from synctv.store.audit import CLI_ACTOR


class ProviderAdmin(providers_grpc.ProviderAdminBase):
    def __init__(self, service: ProviderService, proxy_url: ProxyUrl | None = None) -> None:
        self._service = service
        self._proxy_url = proxy_url

    @unary
    async def Add(
        self, request: providers_pb2.AddProviderRequest
    ) -> providers_pb2.ProviderInstance:
        instance = await self._service.add(
            request.kind,
            request.name,
            _object(request.config_json, "config_json"),
            _object(request.credentials_json, "credentials_json"),
            lan_service=request.lan_service,
            by=CLI_ACTOR,
        )
        return _message(instance)

    @unary
    async def List(
        self, request: providers_pb2.ListProvidersRequest
    ) -> providers_pb2.ListProvidersResponse:
        instances = await self._service.list_instances()
        return providers_pb2.ListProvidersResponse(
            instances=[_message(i) for i in instances], kinds=self._service.kinds()
        )

    @unary
    async def Update(
        self, request: providers_pb2.UpdateProviderRequest
    ) -> providers_pb2.ProviderInstance:
        has = request.HasField
        instance = await self._service.update(
            request.instance,
            name=request.name if has("name") else None,
            config=_object(request.config_json, "config_json") if has("config_json") else None,
            credentials=(
                _object(request.credentials_json, "credentials_json")
                if has("credentials_json")
                else None
            ),
            clear_credentials=request.clear_credentials,
            lan_service=request.lan_service if has("lan_service") else None,
            by=CLI_ACTOR,
        )
        return _message(instance)

    @unary
    async def Remove(
        self, request: providers_pb2.RemoveProviderRequest
    ) -> providers_pb2.RemoveProviderResponse:
        await self._service.remove(request.instance, by=CLI_ACTOR)
        return providers_pb2.RemoveProviderResponse()

    @unary
    async def Resolve(
        self, request: providers_pb2.ResolveProviderMediaRequest
    ) -> providers_pb2.ResolveProviderMediaResponse:
        document = await self._service.describe_resolution(
            request.instance, request.media_ref, self._proxy_url
        )
        return providers_pb2.ResolveProviderMediaResponse(source_json=json.dumps(document))

    @unary
    async def RotateKey(
        self, request: providers_pb2.RotateProviderKeyRequest
    ) -> providers_pb2.RotateProviderKeyResponse:
        try:
            # An empty old key: the server's own (the confirmation is optional).
            old = parse_key(request.old_key_hex) if request.old_key_hex else None
            new = parse_key(request.new_key_hex)
        except ValueError:
            raise DomainError(
                errors.INVALID_PARAMETER, "keys must be 64 hexadecimal characters"
            ) from None
        result = await self._service.rotate_key(old, new, by=CLI_ACTOR)
        return providers_pb2.RotateProviderKeyResponse(
            rotated=result.rotated, already_current=result.already_current, new_key_id=key_id(new)
        )


def _object(text: str, field: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise DomainError(errors.INVALID_PARAMETER, f"{field} is not valid JSON") from None
    if not isinstance(value, dict):
        raise DomainError(errors.INVALID_PARAMETER, f"{field} must be a JSON object")
    return value


def _message(instance: ProviderInstance) -> providers_pb2.ProviderInstance:
    return providers_pb2.ProviderInstance(
        id=instance.id,
        kind=instance.kind,
        name=instance.name,
        config_json=json.dumps(dict(instance.config)),
        lan_service=instance.lan_service,
        has_credentials=instance.has_credentials,
        credentials_key_id=instance.credentials_key_id or "",
        created_at_ms=int(instance.created_at.timestamp() * 1000),
        updated_at_ms=int(instance.updated_at.timestamp() * 1000),
    )
