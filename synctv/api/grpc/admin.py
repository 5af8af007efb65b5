"""The management gRPC server on the Unix socket ``data_dir/synctv.sock``.

Resource handling: grpclib serves inside the trio-asyncio loop; :func:`serve_admin` starts it,
reports the socket path through ``task_status``, and on cancellation closes the server and removes
the socket. grpclib neither removes a stale socket nor restricts its mode, so we do both, and we
refuse to start when another live server already answers on the socket (the data_dir lock
already keeps a second process out; this is the second guard). A ``data_dir`` too deep for an
AF_UNIX path gets its socket in a private temp directory instead, with ``data_dir/synctv.sock``
a symlink to it (see :func:`~synctv.api.grpc.socket_path.short_socket_path`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import trio
import trio_asyncio
from grpclib.server import Server

from synctv.api.grpc._gen.synctv.admin.v1 import admin_grpc, admin_pb2
from synctv.api.grpc.bridge import unary
from synctv.api.grpc.socket_path import is_too_long, short_socket_path

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


class UnsafeSocketDirectory(Exception):
    """The temp directory meant for a long data_dir's socket is not ours alone."""


async def serve_admin(
    socket_path: Path,
    handlers: Sequence[Any],
    *,
    task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED,
) -> None:
    bind_path = socket_path
    if is_too_long(socket_path):
        bind_path = short_socket_path(socket_path)
        _private_directory(bind_path.parent)
    _remove_stale_socket(bind_path)
    server = Server(list(handlers))
    await trio_asyncio.aio_as_trio(server.start)(path=str(bind_path))
    try:
        os.chmod(bind_path, 0o600)
        if bind_path != socket_path:
            _point_to(socket_path, bind_path)
        task_status.started(bind_path)
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            server.close()
            await trio_asyncio.aio_as_trio(server.wait_closed)()
            await trio.Path(bind_path).unlink(missing_ok=True)
            if bind_path != socket_path:
                await trio.Path(socket_path).unlink(missing_ok=True)
                with contextlib.suppress(OSError):  # not empty: not only ours; leave it
                    await trio.Path(bind_path.parent).rmdir()


def _private_directory(path: Path) -> None:
    """Create ``path`` 0700, or accept it only if it is already ours and private (it is in a
    shared temp dir: another user must not be able to plant or watch our socket there)."""
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise UnsafeSocketDirectory(
            f"{path} (the management socket's directory, as data_dir is too long for a Unix "
            "socket path) is not a private directory of this user; remove it or use a shorter "
            "data_dir"
        )


def _point_to(link: Path, target: Path) -> None:
    """Make ``link`` a symlink to ``target``, replacing whatever a crash left there."""
    temporary = link.with_name(link.name + ".new")
    temporary.unlink(missing_ok=True)
    os.symlink(target, temporary)
    os.replace(temporary, link)


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
