"""The management gRPC server on the Unix socket ``data_dir/synctv.sock``.

Resource handling: grpclib serves inside the trio-asyncio loop; :func:`serve_admin` starts it,
reports the socket path through ``task_status``, and on cancellation closes the server and removes
the socket. grpclib neither removes a stale socket nor restricts its mode, so we do both, and we
refuse to start when another live server already answers on the socket (two nodes on one
data_dir would corrupt it).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import trio
import trio_asyncio
from grpclib.server import Server

from synctv.api.grpc._gen.synctv.admin.v1 import admin_grpc, admin_pb2
from synctv.api.grpc.bridge import unary

StatusSource = Callable[[], Awaitable[admin_pb2.StatusResponse]]


class AdminService(admin_grpc.AdminServiceBase):
    """Node status for ``synctv admin status``."""

    def __init__(self, status: StatusSource) -> None:
        self._status = status

    @unary
    async def Status(self, request: admin_pb2.StatusRequest) -> admin_pb2.StatusResponse:
        return await self._status()


class SocketInUse(Exception):
    """Another server is already listening on the management socket."""


async def serve_admin(
    socket_path: Path,
    handlers: Sequence[Any],
    *,
    task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED,
) -> None:
    _remove_stale_socket(socket_path)
    server = Server(list(handlers))
    await trio_asyncio.aio_as_trio(server.start)(path=str(socket_path))
    try:
        os.chmod(socket_path, 0o600)
        task_status.started(socket_path)
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            server.close()
            await trio_asyncio.aio_as_trio(server.wait_closed)()
            await trio.Path(socket_path).unlink(missing_ok=True)


def _remove_stale_socket(path: Path) -> None:
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # nobody answers: left over from a crash
        return
    finally:
        probe.close()
    raise SocketInUse(f"another SyncTV server is already running on {path}")
