"""The access log and request metrics: one line and one count per finished request.

The line names the request id and the client address resolved behind trusted proxies, so an
operator can follow one request through every log and tell clients apart behind a proxy. A
client that left before the answer is logged and counted with status 499.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from synctv import metrics

access_log = logging.getLogger("synctv.access")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What is known of a finished request (``route`` is the route's name, not the path)."""

    method: str
    route: str
    status: int
    seconds: float
    request_id: str
    client: str | None


def log_and_count(record: RequestRecord) -> None:
    """The dispatcher's default observer: ``synctv_http_requests_total`` and the access log."""
    metrics.HTTP_REQUESTS.labels(record.method, record.route, str(record.status)).inc()
    metrics.HTTP_REQUEST_SECONDS.labels(record.route).observe(record.seconds)
    access_log.info(
        "%s %s %d %.1fms %s",
        record.method,
        record.route,
        record.status,
        record.seconds * 1000,
        record.client or "-",
        extra={
            "method": record.method,
            "route": record.route,
            "status": record.status,
            "duration_ms": round(record.seconds * 1000, 2),
            "request_id": record.request_id,
            "client": record.client,
        },
    )
