"""The grpclib side of the trio-asyncio bridge: servicers are asyncio, our services are Trio.

A servicer method is written as a Trio function ``request -> reply`` and wrapped with
:func:`unary`; the wrapper receives the message in asyncio, runs the Trio function once through
``trio_asyncio.trio_as_aio``, and maps :class:`AdminError` to a gRPC status. Anything else becomes
INTERNAL with a generic message (the traceback goes to our log, not the client).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import trio_asyncio
from grpclib.const import Status
from grpclib.exceptions import GRPCError

log = logging.getLogger("synctv.grpc")

Req = TypeVar("Req")
Rep = TypeVar("Rep")


class AdminError(Exception):
    """An expected failure for the caller: not found, invalid argument, conflict..."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Stable error codes → gRPC status.
_STATUS = {
    "not_found": Status.NOT_FOUND,
    "invalid_argument": Status.INVALID_ARGUMENT,
    "already_exists": Status.ALREADY_EXISTS,
    "conflict": Status.FAILED_PRECONDITION,
    "unavailable": Status.UNAVAILABLE,
}


def unary(
    handler: Callable[[Any, Req], Awaitable[Rep]],
) -> Callable[[Any, Any], Coroutine[Any, Any, None]]:
    """Turn ``async def Method(self, request) -> reply`` (Trio) into a grpclib stream handler."""

    async def method(self: Any, stream: Any) -> None:
        request = await stream.recv_message()
        try:
            reply = await trio_asyncio.trio_as_aio(handler)(self, request)
        except AdminError as exc:
            raise GRPCError(
                _STATUS.get(exc.code, Status.UNKNOWN), f"{exc.code}: {exc.message}"
            ) from None
        except Exception:
            log.exception("admin call %s failed", handler.__name__)
            raise GRPCError(Status.INTERNAL, "internal error (see the server log)") from None
        await stream.send_message(reply)

    method.__name__ = handler.__name__
    return method
