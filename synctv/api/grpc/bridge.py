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
