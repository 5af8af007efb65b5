"""Prometheus exposition on ``metrics.port``: the default registry in the text format.

What it holds is declared in ``synctv.metrics`` (listed in docs/metrics.md); a test scrapes a
running server and fails on any family that is not declared or any declaration not emitted.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from synctv.api.http.asgi import Request, Response, Route


def metrics_routes() -> list[Route]:
    async def render(request: Request) -> Response:
        # Collected on the Trio thread, on purpose: snapshot collectors read live objects (the
        # hub, the RTMP server, STUN counters) that only this thread mutates, and some read
        # trio's clock. A worker thread would race their dicts and raise "must be called from
        # async context". One scrape walks a few hundred series: about a millisecond of work.
        body = generate_latest(REGISTRY)
        return Response(200, body, [("cache-control", "no-store")], CONTENT_TYPE_LATEST)

    return [Route(("GET",), "/metrics", render, "metrics")]
