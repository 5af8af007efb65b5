"""HLS metric definitions: the segmenter, the segment store and the playlist/segment routes.

Counted once per segment or per request (never per tag or per packet), so the cost is a few
metric calls per segment duration per stream plus one or two per HTTP request.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SEGMENTS = Counter("synctv_hls_segments_total", "HLS segments produced by the segmenters")
SEGMENT_SECONDS = Histogram(
    "synctv_hls_segment_duration_seconds",
    "Media duration of produced HLS segments (their EXTINF)",
    buckets=(0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 45),
)
FORCED_CUTS = Counter(
    "synctv_hls_forced_cuts_total",
    "Segments cut mid-GOP because a GOP outgrew the stream's target duration",
)
TIMESTAMP_GAPS = Counter(
    "synctv_hls_timestamp_gaps_total",
    "DTS jumps longer than the target duration, ended with EXT-X-DISCONTINUITY",
)
SEGMENTER_ERRORS = Counter(
    "synctv_hls_segmenter_errors_total",
    "Tags the segmenter could not convert (malformed media), skipped",
)
DISCONTINUITIES = Counter(
    "synctv_hls_discontinuities_total", "EXT-X-DISCONTINUITY tags written (reconnects, lag)"
)
PLAYLIST_REQUESTS = Counter(
    "synctv_hls_playlist_requests_total",
    "HLS playlist requests by outcome",
    ["outcome"],  # ok | blocked | not_found | timeout | bad_request
)
SEGMENT_REQUESTS = Counter(
    "synctv_hls_segment_requests_total",
    "HLS segment requests by status",
    ["status"],  # 200 | 206 | 304 | 404 | 416
)
BYTES_SERVED = Counter(
    "synctv_hls_bytes_served_total", "Body bytes sent for HLS playlists and segments"
)
STORE_BYTES = Gauge("synctv_hls_store_bytes", "Bytes of HLS segments held by the store")
STORE_SEGMENTS = Gauge("synctv_hls_store_segments", "HLS segments held by the store")
STORE_STREAMS = Gauge("synctv_hls_store_streams", "Streams with a playlist in the HLS store")
STORE_PRESSURE_EVICTIONS = Counter(
    "synctv_hls_store_pressure_evictions_total",
    "Segments dropped early because the memory store was over its byte bound",
)
