"""THE nursery tree: what runs where, in which order it starts, and how it drains.

Theory of operation::

    signal nursery                            the signal watcher, open before anything starts
    └─ data_dir lock                          flock data_dir/synctv.lock: one process per data_dir
       └─ trio_asyncio.open_loop()            the single asyncio bridge
          └─ infra nursery                    outlives the server: embedded PostgreSQL
             └─ database pool, short-lived state           (those four: process.py)
                └─ root nursery               cancelled last
                   ├─ features' tasks         stream hub, HLS store, slice cache ... (restarting)
                   ├─ readiness, management gRPC (Unix socket data_dir/synctv.sock)
                   ├─ STUN                    stops answering when the shutdown starts
                   ├─ health, metrics         keep answering during the drain (ready → 503)
                   ├─ public gRPC             keeps answering during the drain (NOT_SERVING)
                   └─ drain nursery           listeners that drain: RTMP, then HTTP (hypercorn)
                                              stop accepting at shutdown, then their open
                                              connections get server.shutdown_drain_timeout_seconds

Each feature is one builder in :data:`FEATURES` returning a :class:`~synctv.app.feature.Feature`;
this module places its parts and knows nothing else about it. Every task and listener runs under
:func:`synctv.supervision.restarting`: a crash after start-up restarts it with backoff, a failure
to start fails the start-up.

Shutdown: :meth:`Controller.shutdown` flips readiness to 503 (gRPC health NOT_SERVING), tells the
draining listeners (and STUN) to stop accepting; when they have finished (or the drain deadline
passed) the root scope is cancelled, the pool closes and PostgreSQL gets its fast shutdown.
:meth:`Controller.abort` cancels everything at once.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from synctv import __version__, metrics
from synctv.api.grpc.admin import serve_admin
from synctv.api.grpc.socket_path import ADMIN_SOCKET_NAME
from synctv.api.health import Readiness, health_routes
from synctv.api.metrics_http import metrics_routes
from synctv.app import (
    admin,
    audit,
    diagnostics,
    identity,
    live,
    media_proxy,
    rooms,
    settings,
    state,
    stun,
)
from synctv.app.addresses import BoundAddresses
from synctv.app.feature import Builder, Feature, RouteFactory, Services, Stop
from synctv.app.listeners import (
    grpc_listener,
    http_listener,
    raise_descriptor_limit,
    side_listener,
    start_listener,
)
from synctv.app.node import node_id_for, register_node
from synctv.config import Config
from synctv.core.runtime_settings import RuntimeSettings
from synctv.livestream.hub import StreamHub
from synctv.livestream.registry import LiveStreamRegistry
from synctv.state import ShortLivedState
from synctv.state.limits import LimitBook, RateLimits
from synctv.store.db import Database
from synctv.store.migrations import latest_version
from synctv.store.secrets import Secrets
from synctv.supervision import restarting

log = logging.getLogger("synctv.app")

# One line per feature; their tasks start, and their listeners bind, in this order.
FEATURES: tuple[Builder, ...] = (
    settings.build,
    state.build,
    identity.build,
    rooms.build,
    admin.build,
    live.build,
    media_proxy.build,
    stun.build,
    audit.build,
    diagnostics.build,
)


@dataclass
class Controller:
    """Handed out by :func:`~synctv.app.serve` so signals (and tests) can stop the tree."""

    readiness: Readiness
    addresses: BoundAddresses
    _stop_accepting: trio.Event = field(default_factory=trio.Event)
    _root: trio.CancelScope | None = None

    def shutdown(self) -> None:
        """Graceful: ready → 503 now, stop accepting, drain, then cancel."""
        if not self._stop_accepting.is_set():
            log.info("shutting down: draining connections")
        self.readiness.shutting_down = True
        metrics.NODE_READY.set(0)
        self._stop_accepting.set()

    def abort(self) -> None:
        """Immediate: cancel the whole tree without draining."""
        log.warning("stopping now, without draining")
        self.readiness.shutting_down = True
        if self._root is not None:
            self._root.cancel()


async def serve_tree(
    config: Config,
    secrets: Secrets,
    db: Database,
    state: ShortLivedState,
    database_kind: str,
    extra_routes: RouteFactory | None,
    serving: Callable[[Controller], None],
    task_status: trio.TaskStatus[Controller],
) -> None:
    started_at = time.monotonic()
    fd_limit = raise_descriptor_limit()
    node_id = node_id_for(config)
    await register_node(db, node_id)
    readiness = Readiness(db, expected_schema=latest_version())
    addresses = BoundAddresses()
    registry = LiveStreamRegistry(db)
    hub = StreamHub(config.livestream)
    limits = RateLimits(state, LimitBook())  # the state feature makes it follow the settings
    services = Services(
        config, secrets, db, state, node_id, hub, registry,
        database_kind, readiness, addresses, started_at,
        RuntimeSettings.for_database(db, secrets), limits,
    )  # fmt: skip
    features = [await build(services) for build in FEATURES]
    if extra_routes is not None:
        features.append(Feature("extra", routes=extra_routes(services)))
    for feature in features:
        readiness.extra_checks.update(feature.health_checks)
    listeners = [listener for feature in features for listener in feature.listeners]
    listeners += side_listener("health.port", config.health, health_routes(readiness),
                               addresses.health_bound)  # fmt: skip
    listeners += side_listener("metrics.port", config.metrics, metrics_routes(),
                               addresses.metrics_bound)  # fmt: skip
    public_handlers = [handler for feature in features for handler in feature.grpc_handlers]
    listeners += grpc_listener(config, public_handlers, readiness, addresses)
    listeners.append(  # last: drains last
        http_listener(config, features, addresses, fd_limit, api_limit=limits.check_api)
    )

    stop_accepting = trio.Event()  # Controller.shutdown() sets it
    try:
        async with trio.open_nursery() as root:
            for feature in features:
                for task in feature.tasks:
                    await root.start(restarting, task.name, task.run)
            await root.start(restarting, "readiness", readiness.run)
            admin_handlers = [handler for feature in features for handler in feature.admin_handlers]
            addresses.admin_socket = await root.start(
                restarting, "management_grpc", serve_admin,
                config.data_dir / ADMIN_SOCKET_NAME, admin_handlers,
            )  # fmt: skip
            for listener in listeners:
                if listener.stop is not Stop.DRAIN:
                    await start_listener(root, listener, stop_accepting.wait)
            controller = Controller(readiness, addresses, stop_accepting, root.cancel_scope)
            serving(controller)
            async with trio.open_nursery() as draining:
                for listener in listeners:
                    if listener.stop is Stop.DRAIN:
                        await start_listener(draining, listener, stop_accepting.wait)
                for feature in features:
                    for collect in feature.collectors:
                        collect()
                _log_ready(node_id, addresses, database_kind)
                gc.freeze()  # full collections skip the start-up heap (join storms: half the pause)
                metrics.BUILD_INFO.labels(__version__).set(1)
                task_status.started(controller)
            # Every draining listener has returned: drained, or past its deadline.
            root.cancel_scope.cancel()
    finally:
        for feature in features:
            for close in feature.closers:
                await close()


def _log_ready(node_id: str, addresses: BoundAddresses, database_kind: str) -> None:
    log.info(
        "SyncTV %s ready",
        __version__,
        extra={
            "node_id": node_id,
            "http": ",".join(addresses.http),
            "health": ",".join(addresses.health),
            "metrics": ",".join(addresses.metrics),
            "grpc": ",".join(f"{host}:{port}" for host, port in addresses.grpc),
            "rtmp": ",".join(f"{host}:{port}" for host, port in addresses.rtmp),
            "database": database_kind,
        },
    )
