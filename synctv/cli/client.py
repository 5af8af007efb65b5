"""Client side of the management socket, for the ``synctv admin ...`` CLI commands.

The CLI runs outside any Trio tree, so the client simply runs grpclib on a private asyncio loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from grpclib.client import Channel
from grpclib.exceptions import GRPCError, StreamTerminatedError

from synctv.api.grpc.status import error_code

T = TypeVar("T")

# The server answers from memory or one query; anything slower means it is stuck.
DEFAULT_TIMEOUT_SECONDS = 10.0


class AdminUnavailable(Exception):
    """The server could not be reached, or refused the call; the message is one line.

    ``code`` is the catalogue code the server refused with (``docs/errors.md``), None when the
    server was not reached or the failure was not one of ours; the message then starts with it.
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code


def call(
    socket_path: Path,
    operation: Callable[[Channel], Awaitable[T]],
) -> T:
    """Open the socket, run ``operation(channel)``, and turn transport errors into one line."""
    if not socket_path.exists():
        raise AdminUnavailable(
            f"no server socket at {socket_path}: is `synctv serve` running with this data_dir?"
        )

    async def run() -> T:
        channel = Channel(path=str(socket_path))
        try:
            return await operation(channel)
        finally:
            channel.close()

    try:
        return asyncio.run(run())
    except GRPCError as exc:
        raise AdminUnavailable(exc.message or exc.status.name, error_code(exc)) from None
    except (TimeoutError, OSError, StreamTerminatedError) as exc:
        raise AdminUnavailable(f"cannot reach the server at {socket_path}: {exc}") from None


def status(socket_path: Path) -> Any:
    from synctv.api.grpc._gen.synctv.admin.v1 import admin_grpc, admin_pb2

    async def op(channel: Channel) -> Any:
        stub = admin_grpc.AdminServiceStub(channel)
        return await stub.Status(admin_pb2.StatusRequest(), timeout=DEFAULT_TIMEOUT_SECONDS)

    return call(socket_path, op)


def call_method(
    socket_path: Path,
    stub_class: Callable[[Channel], Any],
    method: str,
    request: Any,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Any:
    """One unary call of ``stub_class(channel).<method>`` (the admin command modules' one way
    to the socket)."""

    async def operation(channel: Channel) -> Any:
        return await getattr(stub_class(channel), method)(request, timeout=timeout)

    return call(socket_path, operation)
