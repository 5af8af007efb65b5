"""The access log and request metrics: one line and one count per finished request.

The line names the request id and the client address resolved behind trusted proxies, so an
operator can follow one request through every log and tell clients apart behind a proxy. A
client that left before the answer is logged and counted with status 499.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

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


# The metric children by label values, so a request costs a dict look-up instead of
# prometheus_client's ``labels()`` (argument checks, a lock) twice. Bounded: past this many
# distinct label sets (methods are the client's) ``labels()`` is asked every time.
_MAX_CACHED_CHILDREN = 4096
_counted: dict[tuple[str, str, int], Any] = {}
_timed: dict[str, Any] = {}


def log_and_count(record: RequestRecord) -> None:
    """The dispatcher's default observer: ``synctv_http_requests_total`` and the access log."""
    key = (record.method, record.route, record.status)
    counted = _counted.get(key)
    if counted is None:
        counted = metrics.HTTP_REQUESTS.labels(record.method, record.route, str(record.status))
        if len(_counted) < _MAX_CACHED_CHILDREN:
            _counted[key] = counted
    counted.inc()
    timed = _timed.get(record.route)
    if timed is None:
        timed = metrics.HTTP_REQUEST_SECONDS.labels(record.route)
        if len(_timed) < _MAX_CACHED_CHILDREN:
            _timed[record.route] = timed
    timed.observe(record.seconds)
    if not access_log.isEnabledFor(logging.INFO):
        return  # the line and its fields are not built when nobody reads them
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
