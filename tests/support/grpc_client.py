"""Our public gRPC services seen by Google's grpcio client (an independent HTTP/2 and gRPC
implementation), for tests: one unary call from a worker thread, and a refusal read back as its
status, its catalogue code and details (``google.rpc.ErrorInfo`` in ``grpc-status-details-bin``)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import grpc
import trio
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

M = TypeVar("M", bound=Message)


class Refused(Exception):
    def __init__(self, status: grpc.StatusCode, code: str, details: dict[str, Any]) -> None:
        super().__init__(f"{status}: {code} {details}")
        self.status = status
        self.code = code
        self.details = details


def _error_info(exc: grpc.RpcError) -> tuple[str, dict[str, Any]]:
    trailer = dict(exc.trailing_metadata() or ()).get("grpc-status-details-bin")
    for detail in status_pb2.Status.FromString(trailer).details if trailer else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason, {k: json.loads(v) for k, v in info.metadata.items()}
    return "", {}


def _call(
    address: str,
    path: str,
    request: Message,
    reply: type[M],
    token: str | None,
    authority: str | None = None,
) -> M:
    options = [] if authority is None else [("grpc.default_authority", authority)]
    with grpc.insecure_channel(address, options=options) as channel:
        stub = channel.unary_unary(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=reply.FromString,
        )
        metadata = [("authorization", f"Bearer {token}")] if token else None
        try:
            return stub(request, metadata=metadata, timeout=20)  # type: ignore[no-any-return]
        except grpc.RpcError as exc:
            code, details = _error_info(exc)
            raise Refused(exc.code(), code, details) from None


async def call(
    address: str,
    path: str,
    request: Message,
    reply: type[M],
    token: str | None = None,
    authority: str | None = None,
) -> M:
    """``path`` is ``/package.Service/Method``; ``token`` goes in ``authorization: Bearer``;
    ``authority``: the call's ``:authority`` (default: ``address``)."""
    return await trio.to_thread.run_sync(_call, address, path, request, reply, token, authority)


def grpc_address(controller: Any) -> str:
    """The public gRPC port of a running server (its controller)."""
    host, port = controller.addresses.grpc[0]
    return f"{host}:{port}"
