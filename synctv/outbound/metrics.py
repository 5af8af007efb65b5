"""Prometheus metrics of outbound HTTP (definitions only, default registry).

The names keep their ``synctv_proxy_`` prefix: they were the proxy's before the client moved
here, and dashboards know them by these names.
"""

from __future__ import annotations

from prometheus_client import Counter

UPSTREAM_BYTES = Counter(
    "synctv_proxy_upstream_bytes_total",
    "Body bytes received from upstream servers (slices, pass-through, playlists, provider APIs).",
)
UPSTREAM_ERRORS = Counter(
    "synctv_proxy_upstream_errors_total",
    "Failed upstream requests by class (timeout, connect, status, not_found, protocol, refused,"
    " redirects, invalid_url, internal), on every path: slices, pass-through, playlists,"
    " provider APIs.",
    ["kind"],
)
