"""Prometheus metrics of the media proxy and its slice cache (definitions only, default registry).

The objects also expose ``statistics()`` snapshots (frozen dataclasses); these counters are the
process-wide totals the metrics endpoint exports. Upstream bytes and errors are counted by the
outbound client (``synctv.outbound.metrics``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CACHE_LOOKUPS = Counter(
    "synctv_proxy_slice_cache_lookups_total",
    "Slice cache lookups by result (hit, miss, stale).",
    ["result"],
)
CACHE_BYTES = Gauge("synctv_proxy_slice_cache_bytes", "Bytes held by the proxy slice cache.")
CACHE_ENTRIES = Gauge("synctv_proxy_slice_cache_entries", "Slices held by the proxy slice cache.")
CACHE_EVICTIONS = Counter(
    "synctv_proxy_slice_cache_evictions_total",
    "Slices removed from the cache, by reason (size, expired, corrupt, changed, store_error).",
    ["reason"],
)
CACHE_STORE_ERRORS = Counter(
    "synctv_proxy_slice_cache_store_errors_total",
    "Slice store operations that failed (a full, read-only or vanished cache disk), by"
    " operation (save, load, delete, scan); the proxy then serves without caching.",
    ["operation"],
)
SINGLE_FLIGHT_JOINS = Counter(
    "synctv_proxy_single_flight_joins_total",
    "Slice requests that joined a fetch already in flight instead of fetching again.",
)
CLIENT_BYTES = Counter("synctv_proxy_client_bytes_total", "Body bytes sent to proxy clients.")
SLICE_FETCHES_IN_FLIGHT = Gauge(
    "synctv_proxy_slice_fetches_in_flight", "Slice fetches running against upstream servers."
)
SLICE_FETCHES_QUEUED = Gauge(
    "synctv_proxy_slice_fetches_queued",
    "Slice fetches waiting for a free slot (proxy_slice_cache.max_in_flight_fetches).",
)
PROXY_RESPONSES = Counter(
    "synctv_proxy_responses_total",
    "Proxy responses by how they were served (cache, passthrough, manifest, error).",
    ["path"],
)
