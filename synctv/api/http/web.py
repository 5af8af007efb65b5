"""Builds the main listener's one dispatcher from the ``server`` config section.

The app's composition root calls :func:`build_web_app` once with every feature's raw routes
(media hot paths), REST route groups and WebSocket routes; the chain's settings come from
``server.cors_origins``, ``server.trusted_proxies`` and ``server.request_timeout_seconds``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastapi.routing import APIRouter

from synctv.api.http.access import log_and_count
from synctv.api.http.asgi import (
    ApiLimit,
    App,
    ObserveRequest,
    Route,
    WebPolicy,
    WebSocketRoute,
)
from synctv.api.http.cors import CorsPolicy
from synctv.api.http.forwarded import ClientAddressResolver
from synctv.api.http.principal import SOCKET_AUTHENTICATOR, Authenticator
from synctv.api.http.rest import build_indexed_rest_api, docs_asset_routes
from synctv.api.http.routes.web_client import WebClient
from synctv.api.http.websocket import WebSocket
from synctv.config import ConfigError, ServerConfig


def web_policy(server: ServerConfig) -> WebPolicy:
    """The chain's settings; :class:`ConfigError` names a bad origin or CIDR."""
    try:
        cors = CorsPolicy(server.cors_origins)
    except ValueError as exc:
        raise ConfigError("server.cors_origins", str(exc)) from None
    try:
        addresses = ClientAddressResolver(server.trusted_proxies)
    except ValueError as exc:
        raise ConfigError("server.trusted_proxies", str(exc)) from None
    return WebPolicy(
        cors=cors,
        client_addresses=addresses,
        request_timeout_seconds=server.request_timeout_seconds,
    )


def build_web_app(
    server: ServerConfig,
    *,
    routes: Iterable[Route],
    api_routers: Iterable[APIRouter] = (),
    websocket_routes: Iterable[WebSocketRoute] = (),
    observe: ObserveRequest | None = log_and_count,
    clock: Callable[[], float],
    api_limit: ApiLimit | None = None,
    authenticator: Authenticator | None = None,
    web_client: WebClient | None = None,
) -> App:
    """Raw routes first (matched before the framework), then the REST API under ``/api``,
    each of its requests first through ``api_limit`` (``RateLimits.check_api``) when given;
    with a ``web_client``, its files at ``/`` and its page for every client route."""
    client_routes = web_client.routes() if web_client is not None else []
    return App(
        [*routes, *docs_asset_routes(), *client_routes],
        observe=observe,
        clock=clock,
        policy=web_policy(server),
        framework=build_indexed_rest_api(api_routers, authenticator),
        websocket_routes=[_authenticated(route, authenticator) for route in websocket_routes],
        api_limit=api_limit,
        fallback=web_client.fallback if web_client is not None else None,
    )


def _authenticated(route: WebSocketRoute, authenticator: Authenticator | None) -> WebSocketRoute:
    """The route with the REST API's authenticator in its scope (``socket_principal`` reads it):
    a WebSocket is authenticated by the same code as a REST call."""

    async def handler(socket: WebSocket) -> None:
        socket.scope[SOCKET_AUTHENTICATOR] = authenticator
        await route.handler(socket)

    return WebSocketRoute(route.path, handler, route.name)
