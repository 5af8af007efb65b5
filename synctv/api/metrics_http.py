"""Prometheus exposition on ``metrics.port``: the default registry in the text format."""

from __future__ import annotations

import trio
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from synctv.api.http.asgi import Request, Response, Route


def metrics_routes() -> list[Route]:
    async def render(request: Request) -> Response:
        # Collection walks every metric (and reads /proc): keep it off the event loop.
        body = await trio.to_thread.run_sync(generate_latest, REGISTRY)
        return Response(200, body, [("cache-control", "no-store")], CONTENT_TYPE_LATEST)

    return [Route(("GET",), "/metrics", render, "metrics")]
