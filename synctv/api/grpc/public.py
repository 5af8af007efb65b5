"""The public gRPC server on ``grpc.host``:``grpc.port`` (grpclib, inside the trio-asyncio loop).

It serves the business services that features hand it, plus the standard
``grpc.health.v1.Health`` service, whose status follows the node's readiness: ``SERVING`` while
ready, ``NOT_SERVING`` while not (database down, schema behind) and from the first moment of a
shutdown, through the whole drain (the server keeps answering until the drain is over, so load
balancers and orchestrators see the node leave instead of a refused connection). Server
reflection (``grpc.reflection.v1``/``v1alpha``) is added only when ``grpc.enable_reflection`` is
set: it lists every service and message of the API to anyone who can connect. Each request's
``:authority`` is kept for the servicers (``CallContext.authority``; grpclib drops it).

Resource handling: :func:`serve_public` binds the socket itself (so the real port of a
``port: 0`` config is known and a bind failure is an ``OSError`` here), reports the binding
through ``task_status``, and on cancellation closes the server (running calls are cancelled).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from typing import Any

import trio
import trio_asyncio
from grpclib.health.check import CheckBase
from grpclib.health.service import OVERALL, Health
from grpclib.protocol import AbstractHandler, H2Protocol, Stream
from grpclib.reflection.service import ServerReflection
from grpclib.server import Server

from synctv.api.grpc.bridge import AUTHORITY_ATTRIBUTE

# How often a change of readiness is pushed to ``Health/Watch`` subscribers. ``Health/Check``
# does not wait for it: it reads readiness when asked.
WATCH_POLL_SECONDS = 0.25
# Connections waiting to be accepted (asyncio's default).
BACKLOG = 100


class ReadinessCheck(CheckBase):
    """A grpclib health check that reads the node's readiness (never blocks, never raises)."""

    def __init__(self, ready: Callable[[], bool]) -> None:
        self._ready = ready
        self._events: set[asyncio.Event] = set()

    def __status__(self) -> bool:
        return self._ready()

    async def __check__(self) -> bool:
        return self._ready()

    async def __subscribe__(self) -> asyncio.Event:
        event = asyncio.Event()
        self._events.add(event)
        return event

    async def __unsubscribe__(self, event: asyncio.Event) -> None:
        self._events.discard(event)

    async def changed(self) -> None:
        """Wake every ``Watch`` stream (asyncio side: call through ``aio_as_trio``)."""
        for event in self._events:
            event.set()


def public_services(
    handlers: Sequence[Any], check: CheckBase, *, enable_reflection: bool
) -> list[Any]:
    """``handlers`` plus Health (overall and per service, all following ``check``), and
    reflection when enabled."""
    checks: dict[Any, list[CheckBase]] = {OVERALL: [check]}
    checks.update({handler: [check] for handler in handlers})
    services: list[Any] = [*handlers, Health(checks)]
    if enable_reflection:
        services = list(ServerReflection.extend(services))
    return services


async def serve_public(
    host: str,
    port: int,
    handlers: Sequence[Any],
    *,
    ready: Callable[[], bool],
    enable_reflection: bool = False,
    task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; report ``[(host, port)]`` once listening."""
    check = ReadinessCheck(ready)
    server = _Server(public_services(handlers, check, enable_reflection=enable_reflection))
    sock = await _bind(host, port)
    try:
        await trio_asyncio.aio_as_trio(server.start)(sock=sock, backlog=BACKLOG)
    except BaseException:
        sock.close()
        raise
    try:
        bound = sock.getsockname()
        task_status.started([(str(bound[0]), int(bound[1]))])
        await _push_readiness_changes(check, ready)
    finally:
        with trio.CancelScope(shield=True):
            server.close()
            await trio_asyncio.aio_as_trio(server.wait_closed)()


class _Server(Server):
    """grpclib's server whose requests keep their ``:authority`` (:class:`_KeepAuthority`)."""

    def _protocol_factory(self) -> H2Protocol:
        protocol = super()._protocol_factory()
        protocol.handler = _KeepAuthority(protocol.handler)
        return protocol


class _KeepAuthority(AbstractHandler):
    """grpclib's request handler, which also keeps each request's ``:authority`` (the host the
    client called, as HTTP/1.1's Host) on its HTTP/2 stream for the servicers
    (``CallContext.authority``): grpclib leaves pseudo-headers out of the metadata and has no
    accessor for them. Everything else is the wrapped handler's."""

    def __init__(self, handler: AbstractHandler) -> None:
        self._handler = handler

    def accept(
        self, stream: Stream, headers: list[tuple[str, str]], release_stream: Callable[[], None]
    ) -> None:
        authority = next((v for k, v in headers if k == ":authority"), None)
        setattr(stream, AUTHORITY_ATTRIBUTE, authority)
        self._handler.accept(stream, headers, release_stream)

    def cancel(self, stream: Stream) -> None:
        self._handler.cancel(stream)

    def close(self) -> None:
        self._handler.close()


async def _push_readiness_changes(check: ReadinessCheck, ready: Callable[[], bool]) -> None:
    last = ready()
    while True:
        await trio.sleep(WATCH_POLL_SECONDS)
        now = ready()
        if now != last:
            last = now
            await trio_asyncio.aio_as_trio(check.changed)()


async def _bind(host: str, port: int) -> socket.socket:
    """A bound TCP socket for ``host``:``port`` (the first address ``host`` resolves to)."""
    infos = await trio.socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock
