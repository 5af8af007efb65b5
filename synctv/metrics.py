"""Metric definitions (no exporter): the one place metric names and labels are decided.

Importable by every layer above the codecs. The exporter (``synctv.api.metrics_http``) renders the
default registry, which also carries prometheus_client's process collector (CPU, RSS, fds).
Label sets are bounded: routes are route *names*, never raw paths.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "synctv_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_REQUEST_SECONDS = Histogram(
    "synctv_http_request_duration_seconds",
    "Time from request to end of response (streaming responses: their whole life)",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
DB_POOL_SIZE = Gauge("synctv_db_pool_connections", "Open connections in the database pool")
DB_POOL_IDLE = Gauge("synctv_db_pool_idle_connections", "Idle connections in the database pool")
DB_POOL_MAX = Gauge("synctv_db_pool_max_connections", "Configured maximum pool size")
READY = Gauge("synctv_ready", "1 when the node reports ready, else 0")
BUILD_INFO = Gauge("synctv_build_info", "Always 1; labels carry the version", ["version"])
