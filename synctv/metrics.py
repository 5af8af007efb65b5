"""Every metric the server exports, declared once: name, type, help, labels, unit.

This module is the catalogue. A metric exists only if it is declared here, in one of two styles
that share one declaration shape (:class:`MetricSpec`):

* **pushed** (:func:`counter`, :func:`gauge`, :func:`histogram`): a prometheus_client object the
  code updates where the event happens (once per request, per segment, per slice; never per
  packet or per tag).
* **sampled** (:func:`sampled_counter`, :func:`sampled_gauge`, grouped by :func:`snapshot`): read
  from a component's ``statistics()`` snapshot at scrape time, so hot paths keep plain integers.
  A feature builder registers the group with :func:`export_snapshot`.

Names follow the Prometheus conventions, ``synctv_<area>_<what>[_<unit>][_total]``: the area is
one of :data:`AREAS`, counters end in ``_total``, a unit (seconds, bytes) is named only as the
suffix. ``scripts/gen_metrics_docs.py`` writes ``docs/metrics.md`` from this catalogue, and
``tests/test_metrics_catalogue.py`` checks the conventions and that the running server emits
exactly what is declared. The exporter (``synctv.api.metrics_http``) renders the default
registry, which also carries prometheus_client's process and Python collectors. Label sets are
bounded: routes are route *names*, never raw paths.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# area -> section title in docs/metrics.md, in the order of the document.
AREAS: Mapping[str, str] = {
    "build": "Build",
    "node": "Node",
    "task": "Supervision",
    "http": "HTTP listeners",
    "ratelimit": "Rate limits",
    "db": "Database pool",
    "livestream": "Live streams (hub, HTTP-FLV)",
    "rtmp": "RTMP",
    "hls": "HLS",
    "stun": "STUN",
    "proxy": "Media proxy and slice cache",
    "outbound": "Outbound HTTP (proxy slices, pass-through, provider APIs)",
    "room": "Rooms and the realtime room channel",
    "voice": "Voice chat signalling",
}
UNITS = ("seconds", "bytes")

# Old name -> new name, for dashboards written before the names followed the conventions
# (listed at the end of docs/metrics.md). An old name is never declared again.
RENAMED: Mapping[str, str] = {
    "synctv_ready": "synctv_node_ready",
    "synctv_livestream_bytes_in_total": "synctv_livestream_received_bytes_total",
    "synctv_livestream_bytes_out_total": "synctv_livestream_sent_bytes_total",
    "synctv_rtmp_accepted_total": "synctv_rtmp_connections_accepted_total",
    "synctv_rtmp_refused_total": "synctv_rtmp_connections_refused_total",
    "synctv_rtmp_closed_total": "synctv_rtmp_connections_closed_total",
    "synctv_rtmp_bytes_received_total": "synctv_rtmp_received_bytes_total",
    "synctv_rtmp_bytes_sent_total": "synctv_rtmp_sent_bytes_total",
    "synctv_hls_bytes_served_total": "synctv_hls_served_bytes_total",
    "synctv_proxy_client_bytes_total": "synctv_proxy_sent_bytes_total",
    "synctv_proxy_upstream_bytes_total": "synctv_outbound_received_bytes_total",
    "synctv_proxy_upstream_errors_total": "synctv_outbound_errors_total",
}


class Kind(enum.Enum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric as operators see it; ``name`` is the exposed name (counters with ``_total``).

    ``read`` is the ``statistics()`` attribute of a sampled metric (``None``: pushed). A sampled
    metric with labels reads a mapping keyed by the label value (one label) or by a tuple of
    them (several).
    """

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""  # one of UNITS, or "" for a count
    read: str | None = None

    @property
    def area(self) -> str:
        return self.name.split("_")[1]


_catalogue: dict[str, MetricSpec] = {}


def catalogue() -> list[MetricSpec]:
    """Every declared metric, in declaration order."""
    return list(_catalogue.values())


def _declare(spec: MetricSpec) -> MetricSpec:
    if spec.name in _catalogue:
        raise ValueError(f"metric {spec.name} declared twice")
    if spec.area not in AREAS:
        raise ValueError(f"metric {spec.name}: area {spec.area!r} is not in AREAS")
    _catalogue[spec.name] = spec
    return spec


def counter(name: str, help: str, *, labels: tuple[str, ...] = (), unit: str = "") -> Counter:
    spec = _declare(MetricSpec(name, Kind.COUNTER, help, labels, unit))
    return Counter(spec.name, spec.help, spec.labels)


def gauge(name: str, help: str, *, labels: tuple[str, ...] = (), unit: str = "") -> Gauge:
    spec = _declare(MetricSpec(name, Kind.GAUGE, help, labels, unit))
    return Gauge(spec.name, spec.help, spec.labels)


def histogram(
    name: str,
    help: str,
    *,
    buckets: tuple[float, ...],
    labels: tuple[str, ...] = (),
    unit: str = "",
) -> Histogram:
    spec = _declare(MetricSpec(name, Kind.HISTOGRAM, help, labels, unit))
    return Histogram(spec.name, spec.help, spec.labels, buckets=buckets)


def sampled_counter(
    name: str, help: str, *, read: str, labels: tuple[str, ...] = (), unit: str = ""
) -> MetricSpec:
    return _declare(MetricSpec(name, Kind.COUNTER, help, labels, unit, read))


def sampled_gauge(
    name: str, help: str, *, read: str, labels: tuple[str, ...] = (), unit: str = ""
) -> MetricSpec:
    return _declare(MetricSpec(name, Kind.GAUGE, help, labels, unit, read))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The sampled metrics of one component's ``statistics()``."""

    component: str
    metrics: tuple[MetricSpec, ...]


def snapshot(component: str, *metrics: MetricSpec) -> Snapshot:
    return Snapshot(component, metrics)


class SnapshotCollector(Collector):
    """Turns a component's ``statistics()`` into its declared families, at scrape time."""

    def __init__(self, declared: Snapshot, statistics: Callable[[], object]) -> None:
        self.declared = declared
        self.statistics = statistics

    def collect(self) -> Iterator[Metric]:
        stats = self.statistics()
        for spec in self.declared.metrics:
            assert spec.read is not None
            family: CounterMetricFamily | GaugeMetricFamily
            if spec.kind is Kind.COUNTER:
                family = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
            else:
                family = GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
            value = getattr(stats, spec.read)
            if not spec.labels:
                family.add_metric([], float(value))
            else:
                for key, count in sorted(value.items()):
                    family.add_metric([key] if isinstance(key, str) else list(key), float(count))
            yield family


_exported: dict[str, SnapshotCollector] = {}


def export_snapshot(declared: Snapshot, statistics: Callable[[], object]) -> None:
    """Register a component's snapshot collector once per process; a restarted component (a
    second server in the same process, as in tests) re-points the existing one."""
    existing = _exported.get(declared.component)
    if existing is not None:
        existing.statistics = statistics
        return
    collector = _exported[declared.component] = SnapshotCollector(declared, statistics)
    REGISTRY.register(collector)


# --- build and node -------------------------------------------------------------------------------

BUILD_INFO = gauge("synctv_build_info", "Always 1; labels carry the version", labels=("version",))
NODE_READY = gauge("synctv_node_ready", "1 when the node reports ready, else 0")
TASK_CRASHES = counter(
    "synctv_task_crashes_total",
    "Unexpected exceptions contained by a supervision boundary (the unit of work ended)",
    labels=("task",),
)

# --- HTTP -----------------------------------------------------------------------------------------

HTTP_REQUESTS = counter(
    "synctv_http_requests_total",
    "HTTP requests answered",
    labels=("method", "route", "status"),
)
HTTP_REQUEST_SECONDS = histogram(
    "synctv_http_request_duration_seconds",
    "Time from request to end of response (streaming responses: their whole life)",
    labels=("route",),
    unit="seconds",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
HTTP_CONNECTIONS = gauge(
    "synctv_http_connections", "Open HTTP connections, by listener", labels=("listener",)
)
HTTP_CONNECTIONS_REFUSED = counter(
    "synctv_http_connections_refused_total",
    "HTTP connections refused with 503 at accept, by listener and the cap that refused",
    labels=("listener", "cap"),
)
HTTP_HANDOVERS = counter(
    "synctv_http_handovers_total",
    "HTTP/1.1 connections our own loop handed to hypercorn, by listener and why (upgrade,"
    " http2, chunked_body, expect, too_large, malformed)",
    labels=("listener", "kind"),
)

# --- rate limits (synctv.state.limits) -----------------------------------------------------------

RATE_LIMITED = counter(
    "synctv_ratelimit_refused_total", "Requests refused by a rate limit, by rule", labels=("rule",)
)
RATE_LIMIT_FAIL_OPEN = counter(
    "synctv_ratelimit_fail_open_total",
    "Requests let through unchecked because the rate-limit store (Redis) was unreachable",
    labels=("rule",),
)

# --- database pool (Database.statistics) ----------------------------------------------------------

DB_POOL = snapshot(
    "db_pool",
    sampled_gauge(
        "synctv_db_pool_connections", "Open connections in the database pool", read="size"
    ),
    sampled_gauge(
        "synctv_db_pool_idle_connections", "Idle connections in the database pool", read="idle"
    ),
    sampled_gauge(
        "synctv_db_pool_max_connections", "Configured maximum pool size", read="max_size"
    ),
)

# --- live streams: the hub (StreamHub.statistics) and HTTP-FLV ------------------------------------

LIVESTREAM_HUB = snapshot(
    "livestream_hub",
    sampled_gauge(
        "synctv_livestream_streams",
        "Live streams (including those within the reconnect grace)",
        read="streams",
    ),
    sampled_gauge("synctv_livestream_publishers", "Publishers connected", read="publishers"),
    sampled_gauge(
        "synctv_livestream_gop_cache_bytes",
        "Bytes held by the GOP caches",
        read="gop_cache_bytes",
        unit="bytes",
    ),
    sampled_gauge(
        "synctv_livestream_backlog_bytes",
        "Bytes held by the batch rings",
        read="backlog_bytes",
        unit="bytes",
    ),
    sampled_gauge(
        "synctv_livestream_viewers",
        "Viewers by protocol (people: flv and rtmp connections, hls viewer sessions that "
        "fetched a whole segment within 3 target durations; the HLS segmenter is not a viewer)",
        read="viewers",
        labels=("protocol",),
    ),
    sampled_counter(
        "synctv_livestream_slow_viewers_dropped_total",
        "Slow viewers cut: behind the hub's bound (lagged) or a write stuck past "
        "flv_write_timeout_seconds (write_timeout), by protocol",
        read="dropped_viewers_by",
        labels=("protocol", "reason"),
    ),
    sampled_counter(
        "synctv_livestream_received_bytes_total",
        "Tag body bytes received from publishers",
        read="bytes_in",
        unit="bytes",
    ),
    sampled_counter(
        "synctv_livestream_sent_bytes_total",
        "FLV bytes handed to viewers",
        read="bytes_out",
        unit="bytes",
    ),
    sampled_counter(
        "synctv_livestream_rejected_tags_total",
        "Publisher tags refused (too large)",
        read="rejected_tags",
    ),
    sampled_counter(
        "synctv_livestream_streams_started_total", "Streams that went live", read="streams_started"
    ),
    sampled_counter(
        "synctv_livestream_stream_task_failures_total",
        "Stream tasks that raised",
        read="stream_task_failures",
    ),
)
FLV_VIEWER_ENDS = counter(
    "synctv_livestream_flv_viewer_ends_total",
    "HTTP-FLV viewers that ended, by reason "
    "(stream_ended, write_timeout, lagged, duration_cap, disconnected, error)",
    labels=("reason",),
)

# --- RTMP (RtmpServer.statistics) -----------------------------------------------------------------

RTMP_SERVER = snapshot(
    "rtmp_server",
    sampled_counter(
        "synctv_rtmp_connections_accepted_total", "RTMP connections admitted", read="accepted"
    ),
    sampled_counter(
        "synctv_rtmp_connections_refused_total",
        "RTMP connections refused at accept, by reason",
        read="refused",
        labels=("reason",),
    ),
    sampled_counter(
        "synctv_rtmp_connections_closed_total",
        "RTMP connections closed by the server, by reason",
        read="closed",
        labels=("reason",),
    ),
    sampled_counter(
        "synctv_rtmp_received_bytes_total",
        "Bytes read from RTMP connections",
        read="bytes_received",
        unit="bytes",
    ),
    sampled_counter(
        "synctv_rtmp_sent_bytes_total",
        "Bytes written to RTMP connections",
        read="bytes_sent",
        unit="bytes",
    ),
    sampled_gauge("synctv_rtmp_connections", "Open RTMP connections", read="connections"),
    sampled_gauge("synctv_rtmp_publishers", "RTMP connections publishing now", read="publishers"),
    sampled_gauge("synctv_rtmp_viewers", "RTMP players playing now", read="viewers"),
)

# --- HLS: the segmenter, the segment store and the playlist/segment routes ------------------------

HLS_SEGMENTS = counter("synctv_hls_segments_total", "HLS segments produced by the segmenters")
HLS_SEGMENT_SECONDS = histogram(
    "synctv_hls_segment_duration_seconds",
    "Media duration of produced HLS segments (their EXTINF)",
    unit="seconds",
    buckets=(0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 45),
)
HLS_FORCED_CUTS = counter(
    "synctv_hls_forced_cuts_total",
    "Segments cut mid-GOP because a GOP outgrew the stream's target duration",
)
HLS_TIMESTAMP_GAPS = counter(
    "synctv_hls_timestamp_gaps_total",
    "DTS jumps longer than the target duration, ended with EXT-X-DISCONTINUITY",
)
HLS_SEGMENTER_ERRORS = counter(
    "synctv_hls_segmenter_errors_total",
    "Tags the segmenter could not convert (malformed media), skipped",
)
HLS_DISCONTINUITIES = counter(
    "synctv_hls_discontinuities_total", "EXT-X-DISCONTINUITY tags written (reconnects, lag)"
)
HLS_PLAYLIST_REQUESTS = counter(
    "synctv_hls_playlist_requests_total",
    "HLS playlist requests by outcome (ok, blocked, not_found, timeout, bad_request, "
    "session_redirect: sent to the same URL with a viewer session id)",
    labels=("outcome",),
)
HLS_SEGMENT_REQUESTS = counter(
    "synctv_hls_segment_requests_total",
    "HLS segment requests by status (200, 206, 304, 404, 416)",
    labels=("status",),
)
HLS_SERVED_BYTES = counter(
    "synctv_hls_served_bytes_total",
    "Body bytes sent for HLS playlists and segments",
    unit="bytes",
)
HLS_VIEWER_SESSIONS = snapshot(
    "hls_viewer_sessions",
    sampled_gauge(
        "synctv_hls_viewer_sessions",
        "HLS viewer sessions tracked (bounded: 5,000 per stream, 20,000 in all)",
        read="sessions",
    ),
    sampled_counter(
        "synctv_hls_viewer_sessions_refused_total",
        "New HLS viewer sessions not counted because a bound on tracked sessions was reached",
        read="refused",
    ),
)
HLS_STORE_BYTES = gauge(
    "synctv_hls_store_bytes", "Bytes of HLS segments held by the store", unit="bytes"
)
HLS_STORE_SEGMENTS = gauge("synctv_hls_store_segments", "HLS segments held by the store")
HLS_STORE_STREAMS = gauge("synctv_hls_store_streams", "Streams with a playlist in the HLS store")
HLS_STORE_PRESSURE_EVICTIONS = counter(
    "synctv_hls_store_pressure_evictions_total",
    "Segments dropped early because the memory store was over its byte bound",
)

# --- STUN (StunServer.statistics) -----------------------------------------------------------------

STUN_SERVER = snapshot(
    "stun_server",
    sampled_counter("synctv_stun_requests_total", "STUN requests received", read="requests"),
    sampled_counter("synctv_stun_responses_total", "STUN success responses sent", read="responses"),
    sampled_counter(
        "synctv_stun_errors_total",
        "STUN error responses sent, by kind",
        read="errors",
        labels=("kind",),
    ),
    sampled_counter(
        "synctv_stun_drops_total",
        "STUN inputs dropped without a reply, by reason",
        read="drops",
        labels=("reason",),
    ),
    sampled_gauge(
        "synctv_stun_rate_limit_sources",
        "Sources tracked by the STUN rate limiter",
        read="rate_limit_sources",
    ),
    sampled_gauge(
        "synctv_stun_tcp_connections", "Open STUN-over-TCP connections", read="tcp_connections"
    ),
)

# --- media proxy and slice cache ------------------------------------------------------------------

PROXY_CACHE_LOOKUPS = counter(
    "synctv_proxy_slice_cache_lookups_total",
    "Slice cache lookups by result (hit, miss, stale)",
    labels=("result",),
)
PROXY_CACHE_BYTES = gauge(
    "synctv_proxy_slice_cache_bytes", "Bytes held by the proxy slice cache", unit="bytes"
)
PROXY_CACHE_ENTRIES = gauge(
    "synctv_proxy_slice_cache_entries", "Slices held by the proxy slice cache"
)
PROXY_CACHE_EVICTIONS = counter(
    "synctv_proxy_slice_cache_evictions_total",
    "Slices removed from the cache, by reason (size, expired, corrupt, changed, store_error)",
    labels=("reason",),
)
PROXY_CACHE_STORE_ERRORS = counter(
    "synctv_proxy_slice_cache_store_errors_total",
    "Slice store operations that failed (a full, read-only or vanished cache disk), by"
    " operation (save, load, delete, scan); the proxy then serves without caching",
    labels=("operation",),
)
PROXY_SINGLE_FLIGHT_JOINS = counter(
    "synctv_proxy_single_flight_joins_total",
    "Slice requests that joined a fetch already in flight instead of fetching again",
)
PROXY_SENT_BYTES = counter(
    "synctv_proxy_sent_bytes_total", "Body bytes sent to proxy clients", unit="bytes"
)
PROXY_FETCHES_IN_FLIGHT = gauge(
    "synctv_proxy_slice_fetches_in_flight", "Slice fetches running against upstream servers"
)
PROXY_FETCHES_QUEUED = gauge(
    "synctv_proxy_slice_fetches_queued",
    "Slice fetches waiting for a free slot (proxy_slice_cache.max_in_flight_fetches)",
)
PROXY_RESPONSES = counter(
    "synctv_proxy_responses_total",
    "Proxy responses by how they were served (cache, passthrough, manifest, error)",
    labels=("path",),
)

# --- outbound HTTP --------------------------------------------------------------------------------

OUTBOUND_RECEIVED_BYTES = counter(
    "synctv_outbound_received_bytes_total",
    "Body bytes received from upstream servers (slices, pass-through, playlists, provider APIs)",
    unit="bytes",
)
OUTBOUND_ERRORS = counter(
    "synctv_outbound_errors_total",
    "Failed upstream requests by class (timeout, connect, status, not_found, protocol, refused,"
    " redirects, invalid_url, internal), on every path: slices, pass-through, playlists,"
    " provider APIs",
    labels=("kind",),
)

# --- realtime room channel ------------------------------------------------------------------------

ROOM_PLAYBACK_DRIFT = histogram(
    "synctv_room_playback_drift_seconds",
    "Absolute drift of players from their room's playback state, as clients report it every 2 s",
    unit="seconds",
    buckets=(0.01, 0.025, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 1, 2, 5),
)
ROOM_CHANNEL_CONNECTIONS = gauge(
    "synctv_room_channel_connections", "Open realtime room channel connections on this node"
)
ROOM_CHANNEL_REFUSED = counter(
    "synctv_room_channel_refused_total",
    "Room channel connections refused at a connection cap (limit: user, room or node)",
    labels=("limit",),
)
ROOM_CHANNEL_TERMINATED = counter(
    "synctv_room_channel_terminated_total",
    "Room channel connections ended with a termination (reason: kicked, banned, room_deleted,"
    " access_revoked)",
    labels=("reason",),
)
ROOM_CHANNEL_SLOW_CUT = counter(
    "synctv_room_channel_slow_cut_total",
    "Room channel connections closed (4408) because they could not keep up",
)

# --- voice chat (VoiceSessions.statistics) ------------------------------------------------------

VOICE_SESSIONS = snapshot(
    "voice_sessions",
    sampled_gauge(
        "synctv_voice_sessions", "Rooms with a voice chat session on this node", read="sessions"
    ),
    sampled_gauge(
        "synctv_voice_participants", "Connections in voice chat on this node", read="participants"
    ),
    sampled_counter(
        "synctv_voice_signalling_relayed_total",
        "Voice offers, answers and candidates relayed to their target",
        read="relayed",
    ),
    sampled_counter(
        "synctv_voice_signalling_refused_total",
        "Voice offers, answers and candidates refused (not in the session, size, rate)",
        read="refused",
    ),
)
