"""The server's own listeners (HTTP, health, metrics, public gRPC) and how any listener starts.

A bind failure is reported as the config key and address ("[Errno 98] Address already in use"
alone does not say which of seven listeners failed).
"""

from __future__ import annotations

import resource
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import trio

from synctv.api.grpc.public import serve_public
from synctv.api.health import Readiness
from synctv.api.http.asgi import ApiLimit, App, Route
from synctv.api.http.routes.web_client import load_web_client
from synctv.api.http.server import HttpListenerSettings, HttpServer
from synctv.api.http.web import build_web_app
from synctv.app.addresses import BoundAddresses
from synctv.app.feature import Feature, Listener, Stop
from synctv.config import Config, HealthConfig, MetricsConfig
from synctv.supervision import restarting

# Health and metrics serve probes and scrapers: a few connections each, capped apart from the
# main port so that a flood there leaves them answering.
SIDE_PORT_MAX_CONNECTIONS = 128
SIDE_PORT_MAX_CONNECTIONS_PER_ADDRESS = 32
# With server.max_connections = 0 (auto) HTTP may hold this share of the descriptor limit; the
# rest stays for RTMP, the database pool, files, the management socket and refusals.
AUTO_HTTP_SHARE_OF_FD_LIMIT = 0.5


class ListenError(Exception):
    """A listener could not bind; the message names the config key and the address."""


async def start_listener(
    nursery: trio.Nursery, listener: Listener, shutdown_trigger: Callable[[], Awaitable[object]]
) -> None:
    """Start ``listener`` under ``restarting`` in ``nursery``; record what it bound."""
    serve = listener.serve
    if listener.stop is not Stop.WITH_ROOT:
        serve = partial(serve, shutdown_trigger=shutdown_trigger)
    try:
        bound = await nursery.start(partial(restarting, listener.task, serve))
    except (OSError, BaseExceptionGroup) as exc:
        error = _bind_error(exc)
        if error is None:
            raise
        host, port = listener.host, listener.port
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        reason = error.strerror or str(error)
        raise ListenError(f"cannot listen on {listener.key} {where}: {reason.lower()}") from exc
    listener.bound(bound)


def http_listener(
    config: Config,
    features: Sequence[Feature],
    addresses: BoundAddresses,
    fd_limit: int,
    *,
    api_limit: ApiLimit | None = None,
) -> Listener:
    """The main port: every feature's raw routes, REST routers and WebSocket routes; the REST
    API behind ``api_limit`` (the general per-address rate limit); the browser client at ``/``."""
    server = config.server
    limit = server.max_connections or max(64, int(fd_limit * AUTO_HTTP_SHARE_OF_FD_LIMIT))
    settings = HttpListenerSettings(
        "http",
        server.host,
        server.port,
        max_connections=limit,
        max_connections_per_address=server.max_connections_per_address,
        keep_alive_timeout=server.keep_alive_timeout_seconds,
        graceful_timeout=server.shutdown_drain_timeout_seconds,
    )
    app = build_web_app(
        server,
        routes=[route for feature in features for route in feature.routes],
        api_routers=[router for feature in features for router in feature.api_routers],
        websocket_routes=[route for feature in features for route in feature.websocket_routes],
        clock=trio.current_time,
        api_limit=api_limit,
        authenticator=next((f.authenticator for f in features if f.authenticator), None),
        web_client=load_web_client(),
    )
    http = HttpServer(app, settings)
    return Listener(
        "http_listener", "server.port", server.host, server.port, http.serve, addresses.http_bound
    )


def side_listener(
    key: str,
    section: HealthConfig | MetricsConfig,
    routes: Sequence[Route],
    bound: Callable[[list[str]], None],
) -> list[Listener]:
    """Health and metrics: their own ports, never drained (they must answer during the drain).

    Their own small connection caps keep them answering while the main port is flooded.
    """
    if not section.enabled:
        return []
    name = key.split(".")[0]
    server = HttpServer(
        App(list(routes), clock=trio.current_time),
        HttpListenerSettings(
            name,
            section.host,
            section.port,
            max_connections=SIDE_PORT_MAX_CONNECTIONS,
            max_connections_per_address=SIDE_PORT_MAX_CONNECTIONS_PER_ADDRESS,
        ),
    )
    return [
        Listener(
            f"{name}_listener", key, section.host, section.port, server.serve, bound, Stop.WITH_ROOT
        )
    ]


def grpc_listener(
    config: Config, handlers: Sequence[object], readiness: Readiness, addresses: BoundAddresses
) -> list[Listener]:
    """Public gRPC: answers through the drain, its health saying NOT_SERVING meanwhile."""
    grpc = config.grpc
    if not grpc.enabled:
        return []
    serve = partial(
        serve_public,
        grpc.host,
        grpc.port,
        handlers,
        ready=lambda: readiness.current()[0],
        enable_reflection=grpc.enable_reflection,
    )
    return [
        Listener(
            "grpc_listener",
            "grpc.port",
            grpc.host,
            grpc.port,
            serve,
            addresses.grpc_bound,
            Stop.WITH_ROOT,
        )
    ]


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


def _bind_error(exc: BaseException) -> OSError | None:
    """The OSError a failed bind raised, possibly inside nurseries' exception groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, OSError) and exc.errno is not None else None
