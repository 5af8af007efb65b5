"""The grpclib side of the trio-asyncio bridge: servicers are asyncio, our services are Trio.

A servicer method is written as a Trio function ``request -> reply`` and wrapped with
:func:`unary`; the wrapper receives the message in asyncio, runs the Trio function once through
``trio_asyncio.trio_as_aio``, and maps :class:`synctv.errors.DomainError` to the gRPC status the
catalogue declares for its code (``synctv.api.grpc.status``). Anything else becomes
``internal_error`` (INTERNAL) with a generic message (the traceback goes to our log, not the
client).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import trio_asyncio

from synctv import errors
from synctv.api.grpc.status import grpc_error
from synctv.errors import DomainError

log = logging.getLogger("synctv.grpc")

# The attribute of grpclib's HTTP/2 stream where the public server keeps the request's
# ``:authority`` (see :func:`_authority`).
AUTHORITY_ATTRIBUTE = "synctv_authority"

Req = TypeVar("Req")
Rep = TypeVar("Rep")


def unary(
    handler: Callable[[Any, Req], Awaitable[Rep]],
) -> Callable[[Any, Any], Coroutine[Any, Any, None]]:
    """Turn ``async def Method(self, request) -> reply`` (Trio) into a grpclib stream handler."""

    async def method(self: Any, stream: Any) -> None:
        request = await stream.recv_message()
        try:
            reply = await trio_asyncio.trio_as_aio(handler)(self, request)
        except DomainError as exc:
            raise grpc_error(exc) from None
        except Exception:
            log.exception("admin call %s failed", handler.__name__)
            internal = DomainError(errors.INTERNAL_ERROR, "internal error (see the server log)")
            raise grpc_error(internal) from None
        await stream.send_message(reply)

    method.__name__ = handler.__name__
    return method


class CallContext:
    """What a public call carries beside its message: the metadata, the peer's address and the
    ``:authority`` the client called (the host it reached us at, as REST's ``Host``)."""

    def __init__(
        self, metadata: dict[str, str], peer: str | None, authority: str | None = None
    ) -> None:
        self.metadata = metadata
        self.peer = peer
        self.authority = authority

    @classmethod
    def of_stream(cls, stream: Any) -> CallContext:
        """The context of a grpclib server stream (unary calls and the room channel alike)."""
        metadata = {
            str(key): str(value)
            for key, value in (stream.metadata or {}).items()
            if isinstance(value, str)
        }
        peer = stream.peer.addr() if stream.peer is not None else None
        return cls(metadata, str(peer[0]) if peer else None, _authority(stream))

    def bearer(self) -> str | None:
        header = self.metadata.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise DomainError(errors.UNAUTHENTICATED, "use authorization: Bearer <access token>")
        return token.strip()


def unary_with_context(
    handler: Callable[[Any, Req, CallContext], Awaitable[Rep]],
) -> Callable[[Any, Any], Coroutine[Any, Any, None]]:
    """:func:`unary` for public services: the handler also gets the call's metadata and peer."""

    async def method(self: Any, stream: Any) -> None:
        request = await stream.recv_message()
        context = CallContext.of_stream(stream)
        try:
            reply = await trio_asyncio.trio_as_aio(handler)(self, request, context)
        except DomainError as exc:
            raise grpc_error(exc) from None
        except Exception:
            log.exception("call %s failed", handler.__name__)
            internal = DomainError(errors.INTERNAL_ERROR, "internal error (see the server log)")
            raise grpc_error(internal) from None
        await stream.send_message(reply)

    method.__name__ = handler.__name__
    return method


def _authority(stream: Any) -> str | None:
    """The request's ``:authority`` pseudo-header, which grpclib leaves out of the metadata: the
    public server keeps it on the HTTP/2 stream (``synctv.api.grpc.public``); None elsewhere."""
    value = getattr(getattr(stream, "_stream", None), AUTHORITY_ATTRIBUTE, None)
    return value if isinstance(value, str) else None
