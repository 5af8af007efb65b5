"""Diagnostics: ``/ws/diagnostics`` on the main port, the server side of ``synctv doctor``."""

from __future__ import annotations

from synctv.api.http.routes.diagnostics import diagnostics_routes
from synctv.app.feature import Feature, Services


async def build(services: Services) -> Feature:
    routes, websocket_routes = diagnostics_routes(services.config.server.trusted_proxies)
    return Feature("diagnostics", routes=routes, websocket_routes=websocket_routes)
