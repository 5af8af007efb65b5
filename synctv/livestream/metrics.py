"""Prometheus metrics of the live-stream hub (definitions only, default registry).

The hub keeps plain integer counters (no metric call per tag or per batch); the collector turns
``StreamHub.statistics()`` into families at scrape time, like ``synctv.metrics.SnapshotCollector``
but with the viewer gauge labelled by protocol. ``app.py`` calls ``export_hub_metrics(hub)`` once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from synctv.livestream.hub import HubStatistics, StreamHub
from synctv.livestream.stream import DROP_REASONS

__all__ = ["FLV_VIEWER_ENDS", "HubCollector", "export_hub_metrics"]

FLV_VIEWER_ENDS = Counter(
    "synctv_livestream_flv_viewer_ends_total",
    "HTTP-FLV viewers that ended, by reason "
    "(stream_ended, write_timeout, lagged, duration_cap, disconnected, error).",
    ["reason"],
)

_PREFIX = "synctv_livestream"


class HubCollector(Collector):
    """Exports a hub statistics snapshot at scrape time."""

    def __init__(self, snapshot: Callable[[], HubStatistics]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        stats = self.snapshot()
        gauges = {
            "streams": ("Live streams (including those within the reconnect grace)", stats.streams),
            "publishers": ("Publishers connected", stats.publishers),
            "gop_cache_bytes": ("Bytes held by the GOP caches", stats.gop_cache_bytes),
            "backlog_bytes": ("Bytes held by the batch rings", stats.backlog_bytes),
        }
        for name, (help_text, value) in gauges.items():
            gauge = GaugeMetricFamily(f"{_PREFIX}_{name}", help_text)
            gauge.add_metric([], float(value))
            yield gauge
        viewers = GaugeMetricFamily(
            f"{_PREFIX}_viewers", "Viewers by protocol", labels=["protocol"]
        )
        for protocol, count in sorted(stats.viewers.items()):
            viewers.add_metric([protocol], float(count))
        yield viewers
        dropped = CounterMetricFamily(
            f"{_PREFIX}_slow_viewers_dropped",
            "Slow viewers cut: behind the hub's bound (lagged) or a write stuck past "
            "flv_write_timeout_seconds (write_timeout), by protocol",
            labels=["protocol", "reason"],
        )
        by = stats.dropped_viewers_by
        for protocol in sorted({p for p, _ in by} | {"flv", "rtmp"}):
            for reason in DROP_REASONS:
                dropped.add_metric([protocol, reason], float(by.get((protocol, reason), 0)))
        yield dropped
        counters = {
            "bytes_in": ("Tag body bytes received from publishers", stats.bytes_in),
            "bytes_out": ("FLV bytes handed to viewers", stats.bytes_out),
            "rejected_tags": ("Publisher tags refused (too large)", stats.rejected_tags),
            "streams_started": ("Streams that went live", stats.streams_started),
            "stream_task_failures": ("Stream tasks that raised", stats.stream_task_failures),
        }
        for name, (help_text, value) in counters.items():
            family = CounterMetricFamily(f"{_PREFIX}_{name}", help_text)
            family.add_metric([], float(value))
            yield family


_collector: HubCollector | None = None


def export_hub_metrics(hub: StreamHub) -> None:
    """Register the hub's collector (or re-point it at a new hub in the same process)."""
    global _collector
    if _collector is not None:
        _collector.snapshot = hub.statistics
        return
    _collector = HubCollector(hub.statistics)
    REGISTRY.register(_collector)
