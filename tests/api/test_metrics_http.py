"""The /metrics route: collectors run where the objects they read live (the Trio thread)."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import trio
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from synctv.api.http.asgi import App
from synctv.api.metrics_http import metrics_routes


class TrioClockCollector(Collector):
    """Like the hub's snapshot collector: it needs trio's clock, so it fails off the Trio thread."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("synctv_test_trio_now", "trio.current_time()", trio.current_time())


async def get(app: App, path: str) -> tuple[int, bytes]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 9090),
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


async def test_collectors_that_need_trio_are_scraped() -> None:
    collector = TrioClockCollector()
    REGISTRY.register(collector)
    try:
        status, body = await get(App(metrics_routes(), clock=trio.current_time), "/metrics")
    finally:
        REGISTRY.unregister(collector)
    assert status == 200, body
    assert b"synctv_test_trio_now " in body
    assert b"process_cpu_seconds_total" in body
