"""THE nursery tree: the only place that opens a root nursery and wires services to adapters.

Theory of operation::

    signal nursery                            the signal watcher, open before anything starts
    └─ data_dir lock                          flock data_dir/synctv.lock: one process per data_dir
       └─ trio_asyncio.open_loop()            the single asyncio bridge
          └─ infra nursery                    outlives the server: embedded PostgreSQL
             └─ database pool, short-lived state
                └─ root nursery               cancelled last
                   ├─ health, metrics         keep answering during the drain (ready → 503)
                   ├─ management gRPC         Unix socket data_dir/synctv.sock
                   ├─ StreamHub, HLS store    outlive every session that feeds or reads them
                   ├─ STUN                    stops answering when the shutdown starts
                   └─ drain nursery           listeners that drain: HTTP (hypercorn) and RTMP
                                              stop accepting at shutdown, then their open
                                              connections get server.shutdown_drain_timeout_seconds

Signals: the watcher runs from the very start, so a signal never meets Python's default handling
(a KeyboardInterrupt mid start-up, or SIGTERM killing the process with PostgreSQL left running).
The first SIGINT/SIGTERM stops gracefully: during start-up it cancels the start-up (PostgreSQL
still gets its fast shutdown); once serving it calls :meth:`Controller.shutdown`. The second
aborts: :meth:`Controller.abort`, no drain.

Shutdown: :meth:`Controller.shutdown` flips readiness to 503, tells the draining listeners (and
STUN) to stop accepting; when they have finished (or the drain deadline passed) the root scope
is cancelled, the pool closes and PostgreSQL gets its fast shutdown. :meth:`Controller.abort`
cancels everything at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import resource
import secrets as random_secrets
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import trio
import trio_asyncio

from synctv import __version__, metrics
from synctv.api.grpc._gen.synctv.admin.v1 import admin_pb2
from synctv.api.grpc.admin import AdminService, serve_admin
from synctv.api.grpc.admin_live import LiveAdminService, LiveStatusSnapshot, LiveUrls
from synctv.api.grpc.admin_providers import ProviderAdmin
from synctv.api.grpc.cli_common import ADMIN_SOCKET_NAME
from synctv.api.health import Readiness, health_routes
from synctv.api.http.asgi import App, Route
from synctv.api.http.routes.live_flv import live_flv_routes
from synctv.api.http.routes.live_hls import live_hls_routes
from synctv.api.http.routes.proxy import proxy_routes
from synctv.api.http.routes.webrtc import webrtc_router
from synctv.api.http.server import HttpListenerSettings, HttpServer
from synctv.api.http.web import build_web_app
from synctv.api.metrics_http import metrics_routes
from synctv.config import Config, HealthConfig, MetricsConfig
from synctv.livestream.hls import HlsSegmenter
from synctv.livestream.hls_store import open_hls_store
from synctv.livestream.hub import StreamHub
from synctv.livestream.metrics import export_hub_metrics
from synctv.livestream.registry import LiveStreamRegistry
from synctv.providers.crypto import CredentialCipher
from synctv.providers.service import ProviderService
from synctv.proxy.service import MediaProxy
from synctv.proxy.slice_cache import SliceCache
from synctv.proxy.slice_store import FileSliceStore
from synctv.proxy.token import ProxyTokenSigner
from synctv.proxy.upstream import HttpUpstream
from synctv.rtmp.server import RtmpServer, encode_rtmp_tags, export_rtmp_metrics
from synctv.state import MemoryState, ShortLivedState, StateUnavailable, open_state
from synctv.store.db import Database, open_database
from synctv.store.embedded_pg import run_embedded_postgres
from synctv.store.migrations import latest_version, migrate, schema_version
from synctv.store.providers import ProviderInstanceStore
from synctv.store.secrets import Secrets, credential_key_custody, load_or_create_secrets
from synctv.stun.server import StunEndpoints, StunServer
from synctv.supervision import restarting

log = logging.getLogger("synctv.app")

T = TypeVar("T")

# flock'd by the process that owns data_dir (serve or migrate); holds that process's pid.
LOCK_NAME = "synctv.lock"
# Health and metrics serve probes and scrapers: a few connections each, capped apart from the
# main port so that a flood there leaves them answering.
SIDE_PORT_MAX_CONNECTIONS = 128
SIDE_PORT_MAX_CONNECTIONS_PER_ADDRESS = 32
# With server.max_connections = 0 (auto) HTTP may hold this share of the descriptor limit; the
# rest stays for RTMP, the database pool, files, the management socket and refusals.
AUTO_HTTP_SHARE_OF_FD_LIMIT = 0.5


class DataDirInUse(Exception):
    """Another synctv process holds the data_dir lock; nothing was touched."""


class ListenError(Exception):
    """A listener could not bind; the message names the config key and the address."""


@dataclass(frozen=True, slots=True)
class BoundAddresses:
    """What actually listens (ports may have been 0 = ephemeral in the config)."""

    http: list[str]
    health: list[str]
    metrics: list[str]
    admin_socket: Path
    stun: StunEndpoints | None = None
    rtmp: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Services:
    """What the tree built, for route factories (the embedding and test seam)."""

    config: Config
    secrets: Secrets
    db: Database
    state: ShortLivedState
    node_id: str
    hub: StreamHub
    live_streams: LiveStreamRegistry


RouteFactory = Callable[[Services], Sequence[Route]]


@dataclass
class Controller:
    """Handed out by :func:`serve` so signals (and tests) can stop the tree."""

    readiness: Readiness
    addresses: BoundAddresses
    _stop_accepting: trio.Event = field(default_factory=trio.Event)
    _root: trio.CancelScope | None = None

    def shutdown(self) -> None:
        """Graceful: ready → 503 now, stop accepting, drain, then cancel."""
        if not self._stop_accepting.is_set():
            log.info("shutting down: draining connections")
        self.readiness.shutting_down = True
        metrics.READY.set(0)
        self._stop_accepting.set()

    def abort(self) -> None:
        """Immediate: cancel the whole tree without draining."""
        log.warning("stopping now, without draining")
        self.readiness.shutting_down = True
        if self._root is not None:
            self._root.cancel()


def node_id_for(config: Config) -> str:
    """The configured node id, else one generated once and kept in data_dir/node_id."""
    if config.cluster.node_id:
        return config.cluster.node_id
    path = config.data_dir / "node_id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = f"node-{random_secrets.token_hex(6)}"
        path.write_text(value + "\n")
        return value


@contextlib.contextmanager
def prepare_data_dir(config: Config) -> Iterator[None]:
    """Own ``data_dir`` for as long as the block runs: lock it first, then make it private.

    The lock comes before anything in the directory is touched: a second instance must not get
    as far as stopping the running server's PostgreSQL as a "leftover". It is an exclusive
    ``flock`` on ``data_dir/synctv.lock``, which the kernel drops when the process dies however
    it dies (kill -9 included), so a crash never leaves a stale lock; the descriptor is
    close-on-exec, so PostgreSQL (a child) never holds it. Raises :class:`DataDirInUse`.
    """
    config.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(config.data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise DataDirInUse(
                f"another synctv is running with data_dir {config.data_dir} (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.chmod(config.data_dir, 0o700)  # secrets, the admin socket and the database live here
        yield
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


async def serve(
    config: Config,
    *,
    extra_routes: RouteFactory | None = None,
    handle_signals: bool = True,
    task_status: trio.TaskStatus[Controller] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the server until shut down. ``extra_routes`` is the embedding (and test) seam.

    Returns normally after a graceful stop, including one that a signal caused during start-up.
    """
    await _stoppable(partial(_serve_database, config, extra_routes, task_status), handle_signals)


async def migrate_only(config: Config, *, handle_signals: bool = True) -> list[int] | None:
    """``synctv migrate``: apply pending migrations; ``None`` when a signal stopped it first."""
    return await _stoppable(partial(_migrate_database, config), handle_signals)


@dataclass
class _Lifecycle:
    """What a signal means as the process moves from start-up to serving."""

    scope: trio.CancelScope = field(default_factory=trio.CancelScope)  # all but the watcher
    controller: Controller | None = None  # set once serving

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.shutdown()
        else:
            log.info("stopping: start-up cancelled")
            self.scope.cancel()

    def abort(self) -> None:
        if self.controller is not None:
            self.controller.abort()
        else:  # start-up is already cancelled: PostgreSQL's fast shutdown is what remains
            self.scope.cancel()


async def _stoppable(work: Callable[[_Lifecycle], Awaitable[T]], handle_signals: bool) -> T | None:
    """Run ``work`` under the signal watcher; ``None`` when a signal cancelled it before the end.

    The watcher outlives ``work``: signals that arrive while PostgreSQL stops are still ours.
    """
    life = _Lifecycle()
    result: T | None = None
    async with trio.open_nursery() as watcher:
        if handle_signals:
            await watcher.start(_watch_signals, life)
        with life.scope:
            result = await work(life)
        watcher.cancel_scope.cancel()
    return result


async def _serve_database(
    config: Config,
    extra_routes: RouteFactory | None,
    task_status: trio.TaskStatus[Controller],
    life: _Lifecycle,
) -> None:
    with prepare_data_dir(config):
        log.info("starting", extra={"data_dir": str(config.data_dir)})
        secrets = load_or_create_secrets(config)
        await _serve_with_lock(config, secrets, extra_routes, task_status, life)


async def _serve_with_lock(
    config: Config,
    secrets: Secrets,
    extra_routes: RouteFactory | None,
    task_status: trio.TaskStatus[Controller],
    life: _Lifecycle,
) -> None:
    async with trio_asyncio.open_loop() as loop, trio.open_nursery() as infra:
        loop.set_exception_handler(_AsyncioErrors().handle)
        dsn, kind = await _database_dsn(config, infra)
        async with (
            open_database(
                dsn,
                min_size=config.database.pool_min_size,
                max_size=config.database.pool_max_size,
                connect_timeout=config.database.connect_timeout_seconds,
                query_timeout=config.database.query_timeout_seconds,
            ) as db,
            open_state(config.redis) as state,
        ):
            applied = await migrate(db)
            if applied:
                log.info("applied migrations %s", applied)
            await _serve_tree(config, secrets, db, state, kind, extra_routes, life, task_status)
        infra.cancel_scope.cancel()


async def _migrate_database(config: Config, life: _Lifecycle) -> list[int]:
    with prepare_data_dir(config):
        async with trio_asyncio.open_loop(), trio.open_nursery() as infra:
            dsn, _ = await _database_dsn(config, infra)
            async with open_database(
                dsn, min_size=1, max_size=2, connect_timeout=config.database.connect_timeout_seconds
            ) as db:
                applied = await migrate(db)
            infra.cancel_scope.cancel()
    return applied


async def _database_dsn(config: Config, infra: trio.Nursery) -> tuple[str, str]:
    if config.database.url is not None:
        return config.database.url.get_secret_value(), "external"
    cluster = await infra.start(run_embedded_postgres, config.data_dir / "postgres")
    return cluster.dsn, "embedded"


async def _serve_tree(
    config: Config,
    secrets: Secrets,
    db: Database,
    state: ShortLivedState,
    database_kind: str,
    extra_routes: RouteFactory | None,
    life: _Lifecycle,
    task_status: trio.TaskStatus[Controller],
) -> None:
    started_at = time.monotonic()
    fd_limit = raise_descriptor_limit()
    node_id = node_id_for(config)
    await db.execute(
        "INSERT INTO nodes (node_id, version) VALUES ($1, $2) "
        "ON CONFLICT (node_id) DO UPDATE SET version = $2, started_at = now()",
        node_id,
        __version__,
    )
    _register_pool_metrics(db)
    readiness = Readiness(db, expected_schema=latest_version())
    if config.redis.url is not None:
        readiness.extra_checks["redis"] = partial(_state_check, state)

    async def status() -> admin_pb2.StatusResponse:
        ready, checks = await readiness.evaluate()
        version = await _schema_version_or_minus_one(db)
        return admin_pb2.StatusResponse(
            node_id=node_id,
            version=__version__,
            uptime_seconds=time.monotonic() - started_at,
            ready=ready,
            database_status=str(checks["database"]["detail"]),
            database_kind=database_kind,
            schema_version=version,
            expected_schema_version=latest_version(),
            state_backend="redis" if config.redis.url else "memory",
        )

    registry = LiveStreamRegistry(db)
    hub = StreamHub(config.livestream, rtmp_encoder=encode_rtmp_tags)
    rtmp = RtmpServer(config.livestream, hub, registry, registry)
    rtmp_binds: list[tuple[str, int]] = []
    services = Services(config, secrets, db, state, node_id, hub, registry)
    bound_http: list[str] = []  # becomes controller.addresses.http; filled once HTTP is bound
    urls = LiveUrls(
        config,
        http_binds=lambda: bound_http,
        rtmp_port=lambda: rtmp_binds[0][1] if rtmp_binds else None,
    )
    stun = StunServer(config.webrtc)
    stun_endpoints: list[StunEndpoints] = []
    side_binds: list[str] = []  # health and metrics, once bound

    def own_listeners() -> list[tuple[str, int]]:
        """Every address this process listens on: the proxy never fetches from itself."""
        found = [_host_port(bind) for bind in [*bound_http, *side_binds]]
        found += rtmp_binds
        for endpoints in stun_endpoints:
            found += [*endpoints.tcp, *endpoints.udp]
        return found

    proxy = _build_proxy(config, secrets, db, own_listeners)
    live = config.livestream
    hls_store = open_hls_store(
        live.hls_storage.backend,
        memory_max_bytes=live.hls_storage.memory_max_mb * 1024 * 1024,
        directory=config.path(live.hls_storage.dir),
    )
    await hls_store.clean_on_start()  # a crash may have left segments of streams long gone
    if live.hls_enabled:
        hub.add_stream_task_factory(HlsSegmenter.from_config(hls_store, live).task_factory)
    routes: list[Route] = [
        *live_flv_routes(hub, registry, live),
        *live_hls_routes(hls_store, config=live, directory=registry),
        *proxy_routes(proxy.service),
    ]
    if extra_routes is not None:
        routes += extra_routes(services)
    api_routers = [
        webrtc_router(
            config.webrtc,
            bound_stun_port=lambda: stun_endpoints[0].port if stun_endpoints else None,
        ),
    ]
    http_app = build_web_app(
        config.server, routes=routes, api_routers=api_routers, clock=trio.current_time
    )
    admin_handlers = [
        AdminService(status),
        LiveAdminService(registry, urls, live_status=partial(_live_status, hub), kick=hub.kick),
        ProviderAdmin(
            proxy.providers,
            lambda instance, ref, selector: (
                f"{urls.http_base()}/proxy/"
                f"{proxy.service.issue_token(instance, ref, selector=selector)}"
            ),
        ),
    ]

    stop_accepting = trio.Event()  # Controller.shutdown() sets it
    try:
        async with trio.open_nursery() as root:
            # Long-lived services restart with backoff after a crash (synctv.supervision);
            # a failure to start at all still fails the start-up.
            if isinstance(state, MemoryState):
                await root.start(restarting, "short_lived_state", state.run)
            socket_path = await root.start(
                restarting,
                "management_grpc",
                serve_admin,
                config.data_dir / ADMIN_SOCKET_NAME,
                admin_handlers,
            )
            if proxy.cache is not None:
                await root.start(restarting, "slice_cache", proxy.cache.run)
            # The hub lives in root, outside the draining nursery: live viewers are HTTP
            # responses that drain; the hub's per-stream nurseries end when root is cancelled.
            await root.start(restarting, "hls_store", hls_store.run)
            await root.start(restarting, "stream_hub", hub.run)
            await root.start(restarting, "readiness", readiness.run)
            export_hub_metrics(hub)
            if config.webrtc.enable_builtin_stun:
                rtc = config.webrtc
                stun_endpoints.append(
                    await _start_listener(
                        root,
                        "webrtc.stun_port",
                        rtc.stun_host,
                        rtc.stun_port,
                        partial(
                            restarting,
                            "stun_listener",
                            partial(stun.serve, shutdown_trigger=stop_accepting.wait),
                        ),
                    )
                )
                _export_stun_metrics(stun)
            health_binds = await _start_side_port(
                root,
                "health.port",
                config.health,
                App(health_routes(readiness), clock=trio.current_time),
            )
            metrics_binds = await _start_side_port(
                root,
                "metrics.port",
                config.metrics,
                App(metrics_routes(), clock=trio.current_time),
            )
            side_binds += [*health_binds, *metrics_binds]
            controller = Controller(
                readiness,
                BoundAddresses(
                    bound_http,
                    health_binds,
                    metrics_binds,
                    socket_path,
                    stun_endpoints[0] if stun_endpoints else None,
                    rtmp_binds,
                ),
                stop_accepting,
                root.cancel_scope,
            )
            life.controller = controller
            async with trio.open_nursery() as draining:
                if live.enabled:
                    # RTMP drains like HTTP: listeners close at shutdown, open sessions get the
                    # drain timeout. The hub stays in root, so it outlives every session.
                    rtmp_binds.extend(
                        await _start_listener(
                            draining,
                            "livestream.rtmp_port",
                            live.rtmp_host,
                            live.rtmp_port,
                            partial(
                                restarting,
                                "rtmp_listener",
                                partial(
                                    rtmp.serve,
                                    shutdown_trigger=stop_accepting.wait,
                                    drain_timeout=config.server.shutdown_drain_timeout_seconds,
                                ),
                            ),
                        )
                    )
                    export_rtmp_metrics(rtmp)
                http_server = HttpServer(http_app, _main_http_settings(config, fd_limit))
                http_binds = await _start_listener(
                    draining,
                    "server.port",
                    config.server.host,
                    config.server.port,
                    partial(
                        restarting,
                        "http_listener",
                        partial(http_server.serve, shutdown_trigger=stop_accepting.wait),
                    ),
                )
                bound_http.extend(http_binds)
                log.info(
                    "SyncTV %s ready",
                    __version__,
                    extra={
                        "node_id": node_id,
                        "http": ",".join(http_binds),
                        "health": ",".join(health_binds),
                        "metrics": ",".join(metrics_binds),
                        "rtmp": ",".join(f"{host}:{port}" for host, port in rtmp_binds),
                        "database": database_kind,
                    },
                )
                metrics.BUILD_INFO.labels(__version__).set(1)
                task_status.started(controller)
            # Every draining listener has returned: drained, or past its deadline.
            root.cancel_scope.cancel()
    finally:
        await proxy.upstream.aclose()


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (as Go's runtime does); the new soft limit.

    The usual soft limit (1024) is a compatibility default for select(); trio does not use
    select, and a media server holds one descriptor per viewer.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
        return hard
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def _main_http_settings(config: Config, fd_limit: int) -> HttpListenerSettings:
    server = config.server
    limit = server.max_connections or max(64, int(fd_limit * AUTO_HTTP_SHARE_OF_FD_LIMIT))
    return HttpListenerSettings(
        "http",
        server.host,
        server.port,
        max_connections=limit,
        max_connections_per_address=server.max_connections_per_address,
        keep_alive_timeout=server.keep_alive_timeout_seconds,
        graceful_timeout=server.shutdown_drain_timeout_seconds,
    )


class _AsyncioErrors:
    """The asyncio loop's exception handler: log and count, never raise.

    trio-asyncio's default handler re-raises into the loop's nursery, which is the root of
    everything: an ``accept()`` of the management socket failing with EMFILE (asyncio reports it
    here and retries by itself a second later) would end the process. Repeats of one message are
    logged once per interval.
    """

    INTERVAL_SECONDS = 10.0

    def __init__(self) -> None:
        self._last_logged: dict[str, float] = {}

    def handle(self, loop: object, context: dict[str, Any]) -> None:
        message = str(context.get("message") or "unhandled error in the asyncio loop")
        error = context.get("exception")
        metrics.TASK_CRASHES.labels("asyncio_loop").inc()
        now = time.monotonic()
        last = self._last_logged.get(message)
        if last is not None and now - last < self.INTERVAL_SECONDS:
            return
        if len(self._last_logged) > 256:  # bounded: messages are few, but never trust that
            self._last_logged.clear()
        self._last_logged[message] = now
        exc_info = (type(error), error, error.__traceback__) if error is not None else None
        log.error("asyncio: %s: %s", message, error or "", exc_info=exc_info)


def _live_status(hub: StreamHub, stream_id: str) -> LiveStatusSnapshot | None:
    stats = hub.stream_statistics(stream_id)
    if stats is None:
        return None
    return LiveStatusSnapshot(stats.live, stats.bitrate_bps, sum(stats.viewers.values()))


@dataclass(frozen=True, slots=True)
class _ProxyParts:
    upstream: HttpUpstream
    cache: SliceCache | None
    providers: ProviderService
    service: MediaProxy


def _host_port(bind: str) -> tuple[str, int]:
    """``http://[::1]:8080`` → ``("::1", 8080)``."""
    host, _, port = bind.split("://", 1)[-1].rpartition(":")
    return host.strip("[]"), int(port)


def _build_proxy(
    config: Config,
    secrets: Secrets,
    db: Database,
    own_listeners: Callable[[], Iterable[tuple[str, int]]],
) -> _ProxyParts:
    """The media proxy: one upstream client pool, the slice cache, the provider service."""
    settings, cache_settings = config.proxy, config.proxy_slice_cache
    upstream = HttpUpstream(
        connect_timeout=settings.upstream_connect_timeout_seconds,
        read_timeout=settings.upstream_read_timeout_seconds,
        max_connections=settings.max_upstream_connections,
        max_redirects=settings.max_redirects,
        allow_private=settings.allow_private_upstreams,
        own_listeners=own_listeners,
    )
    cache = None
    if cache_settings.enabled:
        store = (
            FileSliceStore(config.path(cache_settings.dir))
            if cache_settings.file_backend_enabled
            else None
        )
        cache = SliceCache(
            upstream,
            slice_size=cache_settings.slice_size_bytes,
            max_bytes=cache_settings.max_size_mb * 1024 * 1024,
            ttl=cache_settings.ttl_seconds,
            stale_max_age=cache_settings.stale_max_age_seconds,
            stale_while_revalidate=cache_settings.stale_while_revalidate,
            eviction_interval=cache_settings.eviction_interval_seconds,
            target_ratio=cache_settings.eviction_target_ratio,
            store=store,
            max_in_flight=cache_settings.max_in_flight_fetches,
        )
    providers = ProviderService(
        ProviderInstanceStore(db),
        CredentialCipher(
            secrets.credential_encryption_key, secrets.previous_credential_encryption_keys
        ),
        upstream,
        key_custody=credential_key_custody(config, secrets),
    )
    service = MediaProxy(
        signer=ProxyTokenSigner(secrets.jwt_secret),
        resolver=providers,
        upstream=upstream,
        cache=cache,
        token_ttl=settings.token_ttl_seconds,
    )
    return _ProxyParts(upstream, cache, providers, service)


async def _start_side_port(
    nursery: trio.Nursery, key: str, section: HealthConfig | MetricsConfig, app: App
) -> list[str]:
    """Health and metrics: their own ports, never drained (they must answer during the drain).

    Their own small connection caps keep them answering while the main port is flooded.
    """
    if not section.enabled:
        return []
    server = HttpServer(
        app,
        HttpListenerSettings(
            key.split(".")[0],
            section.host,
            section.port,
            max_connections=SIDE_PORT_MAX_CONNECTIONS,
            max_connections_per_address=SIDE_PORT_MAX_CONNECTIONS_PER_ADDRESS,
        ),
    )
    serve_port = partial(restarting, f"{key.split('.')[0]}_listener", server.serve)
    binds: list[str] = await _start_listener(nursery, key, section.host, section.port, serve_port)
    return binds


async def _start_listener(
    nursery: trio.Nursery,
    key: str,
    host: str,
    port: int,
    listener: Callable[..., Awaitable[object]],
) -> Any:
    """``nursery.start(listener)``, with a bind failure told as the config key and address.

    "[Errno 98] Address already in use" alone does not say which of six listeners failed.
    """
    try:
        return await nursery.start(listener)
    except (OSError, BaseExceptionGroup) as exc:
        error = _bind_error(exc)
        if error is None:
            raise
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        reason = error.strerror or str(error)
        raise ListenError(f"cannot listen on {key} {where}: {reason.lower()}") from exc


def _bind_error(exc: BaseException) -> OSError | None:
    """The OSError a failed bind raised, possibly inside nurseries' exception groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, OSError) and exc.errno is not None else None


async def _watch_signals(
    life: _Lifecycle, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        received = 0
        async for signum in signals:
            received += 1
            log.info("received %s", signal.Signals(signum).name)
            if received == 1:
                life.stop()
            else:
                life.abort()


def _export_stun_metrics(stun: StunServer) -> None:
    metrics.export_snapshot(
        metrics.SnapshotCollector(
            "synctv_stun",
            stun.statistics,
            counters={
                "requests": "STUN requests received",
                "responses": "STUN success responses sent",
            },
            gauges={
                "rate_limit_sources": "Sources tracked by the STUN rate limiter",
                "tcp_connections": "Open STUN-over-TCP connections",
            },
            labelled={
                "errors": ("kind", "STUN error responses sent, by kind"),
                "drops": ("reason", "STUN inputs dropped without a reply, by reason"),
            },
        )
    )


def _register_pool_metrics(db: Database) -> None:
    metrics.DB_POOL_SIZE.set_function(lambda: db.statistics().size)
    metrics.DB_POOL_IDLE.set_function(lambda: db.statistics().idle)
    metrics.DB_POOL_MAX.set_function(lambda: db.statistics().max_size)


async def _state_check(state: ShortLivedState) -> tuple[bool, str]:
    try:
        await state.get("health-probe")
    except StateUnavailable as exc:
        return False, str(exc)
    return True, "ok"


async def _schema_version_or_minus_one(db: Database) -> int:
    try:
        version = await schema_version(db)
    except Exception:
        return -1
    return -1 if version is None else version
