"""Metric definitions (no exporter): the one place metric names and labels are decided.

Importable by every layer above the codecs. The exporter (``synctv.api.metrics_http``) renders the
default registry, which also carries prometheus_client's process collector (CPU, RSS, fds).
Label sets are bounded: routes are route *names*, never raw paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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
HTTP_CONNECTIONS = Gauge(
    "synctv_http_connections", "Open HTTP connections, by listener", ["listener"]
)
HTTP_CONNECTIONS_REFUSED = Counter(
    "synctv_http_connections_refused_total",
    "HTTP connections refused with 503 at accept, by listener and the cap that refused",
    ["listener", "cap"],
)
TASK_CRASHES = Counter(
    "synctv_task_crashes_total",
    "Unexpected exceptions contained by a supervision boundary (the unit of work ended)",
    ["task"],
)
RATE_LIMITED = Counter(
    "synctv_rate_limited_total", "Requests refused by a rate limit, by rule", ["rule"]
)
RATE_LIMIT_FAIL_OPEN = Counter(
    "synctv_rate_limit_fail_open_total",
    "Requests let through unchecked because the rate-limit store (Redis) was unreachable",
    ["rule"],
)
BUILD_INFO = Gauge("synctv_build_info", "Always 1; labels carry the version", ["version"])


class SnapshotCollector(Collector):
    """Exports a component's ``statistics()`` snapshot at scrape time.

    Hot paths keep plain integer counters in their own objects (no metric call per packet or per
    tag); this turns the snapshot into Prometheus families only when scraped. ``counters`` and
    ``gauges`` map attribute → help; ``labelled`` maps a Mapping attribute → (label, help) and
    becomes one counter family with a sample per key.
    """

    def __init__(
        self,
        prefix: str,
        snapshot: Callable[[], object],
        *,
        counters: Mapping[str, str] = {},
        gauges: Mapping[str, str] = {},
        labelled: Mapping[str, tuple[str, str]] = {},
    ) -> None:
        self.prefix = prefix
        self.snapshot = snapshot
        self.counters = dict(counters)
        self.gauges = dict(gauges)
        self.labelled = dict(labelled)

    def collect(self) -> Iterator[Metric]:
        stats = self.snapshot()
        for attribute, help_text in self.counters.items():
            family = CounterMetricFamily(f"{self.prefix}_{attribute}", help_text)
            family.add_metric([], float(getattr(stats, attribute)))
            yield family
        for attribute, help_text in self.gauges.items():
            gauge = GaugeMetricFamily(f"{self.prefix}_{attribute}", help_text)
            gauge.add_metric([], float(getattr(stats, attribute)))
            yield gauge
        for attribute, (label, help_text) in self.labelled.items():
            family = CounterMetricFamily(f"{self.prefix}_{attribute}", help_text, labels=[label])
            for key, value in sorted(getattr(stats, attribute).items()):
                family.add_metric([key], float(value))
            yield family


_snapshot_collectors: dict[str, SnapshotCollector] = {}


def export_snapshot(collector: SnapshotCollector) -> None:
    """Register (or, for a restarted component in the same process, re-point) a collector."""
    existing = _snapshot_collectors.get(collector.prefix)
    if existing is not None:
        existing.snapshot = collector.snapshot
        return
    _snapshot_collectors[collector.prefix] = collector
    REGISTRY.register(collector)
