"""Stable error codes that cross the API boundary (HTTP JSON ``code``, gRPC status details).

Clients match on these strings, so they never change meaning; add new ones instead.
"""

from __future__ import annotations

from typing import Final

NOT_FOUND: Final = "not_found"
METHOD_NOT_ALLOWED: Final = "method_not_allowed"
INVALID_JSON: Final = "invalid_json"
INVALID_PARAMETER: Final = "invalid_parameter"
BODY_TOO_LARGE: Final = "body_too_large"
INTERNAL_ERROR: Final = "internal_error"
SERVICE_UNAVAILABLE: Final = "service_unavailable"
STREAM_NOT_FOUND: Final = "stream_not_found"
STREAM_NOT_LIVE: Final = "stream_not_live"
SEGMENT_NOT_FOUND: Final = "segment_not_found"
RANGE_NOT_SATISFIABLE: Final = "range_not_satisfiable"
UPSTREAM_ERROR: Final = "upstream_error"
UPSTREAM_TIMEOUT: Final = "upstream_timeout"
UPSTREAM_NOT_ALLOWED: Final = "upstream_not_allowed"
INVALID_TOKEN: Final = "invalid_token"
TOKEN_EXPIRED: Final = "token_expired"
RATE_LIMITED: Final = "rate_limited"
INVALID_MEDIA_REF: Final = "invalid_media_ref"
PROXY_TOKEN_INVALID: Final = "proxy_token_invalid"
PROXY_TOKEN_EXPIRED: Final = "proxy_token_expired"
UPSTREAM_ADDRESS_REFUSED: Final = "upstream_address_refused"
TOO_MANY_CONNECTIONS: Final = "too_many_connections"
# The web seam (synctv.api.http): a request that took longer than server.request_timeout_seconds,
# a CORS preflight from an origin not in server.cors_origins, a request the API refused as
# malformed (a FastAPI validation error).
REQUEST_TIMEOUT: Final = "request_timeout"
CORS_ORIGIN_DENIED: Final = "cors_origin_denied"
INVALID_REQUEST: Final = "invalid_request"
