"""What a feature hands the tree: one :class:`Feature` bundle, built from the shared :class:`Services`.

A feature builder (``live.py``, ``media_proxy.py``, ``stun.py`` ...) is ``build(services) ->
Feature``: it constructs its own objects and returns everything the tree must serve or run for
it. The tree (``tree.py``) never knows what a feature is about; it only knows *where* each part
goes: routes on the HTTP listener, handlers on the public or management gRPC server, tasks and
listeners under :func:`synctv.supervision.restarting`, collectors once serving, health checks in
readiness, closers after the tree has ended.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi.routing import APIRouter

from synctv.api.health import Check, Readiness
from synctv.api.http.asgi import Route, WebSocketRoute
from synctv.api.http.principal import Authenticator
from synctv.api.room_library import RoomLibrary
from synctv.app.addresses import BoundAddresses
from synctv.config import Config
from synctv.core.runtime_settings import RuntimeSettings
from synctv.livestream.hub import StreamHub
from synctv.livestream.registry import LiveStreamRegistry
from synctv.proxy.room_media import RoomMediaLinks
from synctv.state import ShortLivedState
from synctv.state.limits import RateLimits
from synctv.store.db import Database
from synctv.store.secrets import Secrets


@dataclass(frozen=True, slots=True)
class Services:
    """What every feature builds on (and the embedding and test seam of ``extra_routes``)."""

    config: Config
    secrets: Secrets
    db: Database
    state: ShortLivedState
    node_id: str
    hub: StreamHub
    live_streams: LiveStreamRegistry
    database_kind: str  # "embedded" or "external"
    readiness: Readiness
    addresses: BoundAddresses  # filled as each listener becomes ready
    started_at: float  # time.monotonic() when the tree started
    settings: RuntimeSettings  # runtime settings: read, and subscribe to changes
    limits: RateLimits  # the declared rate limits over ``state`` (synctv.state.limits)
    # Run by a credential key rotation with the new key, before the previous key is dropped:
    # every other owner of secrets sealed under that key re-seals them (runtime settings do).
    key_rotation_hooks: list[Callable[[bytes], Awaitable[object]]] = field(default_factory=list)
    # Room media resolved for viewers and for the proxy: held by the rooms feature, attached to
    # the provider service and the proxy by the media proxy feature (built after it).
    room_media: RoomMediaLinks = field(default_factory=RoomMediaLinks)
    # A room's provider library: the rooms feature attaches its room service, the media proxy
    # feature its provider service.
    room_library: RoomLibrary = field(default_factory=RoomLibrary)


RouteFactory = Callable[[Services], Sequence[Route]]


class Stop(enum.Enum):
    """How a listener ends when the server shuts down."""

    # In the draining nursery: stops accepting at shutdown, its open connections get
    # server.shutdown_drain_timeout_seconds, and the drain waits for it.
    DRAIN = "drain"
    # In root: stops answering at shutdown (its work is one packet or one short exchange).
    AT_SHUTDOWN = "at_shutdown"
    # In root, unstopped: answers through the drain (probes, scrapes), ends with root.
    WITH_ROOT = "with_root"


@dataclass(frozen=True, slots=True)
class Task:
    """A long-lived service: ``run(task_status=...)``, started under ``restarting(name, ...)``."""

    name: str
    run: Callable[..., Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Listener:
    """A socket server: ``serve([shutdown_trigger=...,] task_status=...)``, bound at start-up.

    ``key`` names the config key a bind failure is reported under; ``bound`` receives what
    ``serve`` reported through ``task_status`` (it records it in :class:`BoundAddresses`).
    """

    task: str
    key: str
    host: str
    port: int
    serve: Callable[..., Awaitable[object]]
    bound: Callable[[Any], None]
    stop: Stop = Stop.DRAIN


@dataclass(frozen=True, slots=True)
class Feature:
    """One feature's share of the process."""

    name: str
    routes: Sequence[Route] = ()  # raw ASGI routes (media hot paths), matched first
    api_routers: Sequence[APIRouter] = ()  # the business REST API under /api (FastAPI)
    websocket_routes: Sequence[WebSocketRoute] = ()
    grpc_handlers: Sequence[object] = ()  # public gRPC (grpc.port)
    admin_handlers: Sequence[object] = ()  # management gRPC (data_dir/synctv.sock)
    tasks: Sequence[Task] = ()
    listeners: Sequence[Listener] = ()
    collectors: Sequence[Callable[[], None]] = ()  # metric exporters, registered once serving
    health_checks: Mapping[str, Check] = field(default_factory=dict)
    closers: Sequence[Callable[[], Awaitable[None]]] = ()  # after the tree has ended
    authenticator: Authenticator | None = None  # who calls a REST route (one feature: identity)


Builder = Callable[[Services], Awaitable[Feature]]
