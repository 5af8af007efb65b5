"""Provider headers for the header-scope tests: credentials that must stay on the provider's
origin, and harmless ones that may go anywhere."""

from __future__ import annotations

from synctv.outbound.scope import CROSS_ORIGIN_HEADERS

SECRETS = (
    ("authorization", "Bearer AUTH-SECRET"),
    ("cookie", "sid=COOKIE-SECRET"),
    ("x-emby-token", "EMBY-SECRET"),
    ("x-emby-authorization", 'MediaBrowser Token="EMBY-SECRET"'),
    ("x-api-key", "API-KEY-SECRET"),
    ("proxy-authorization", "Basic PROXY-SECRET"),
)
HARMLESS = (("referer", "https://provider.example/"), ("user-agent", "Provider-UA/1"))


def leaked(headers: dict[str, str]) -> set[str]:
    """Request headers that are neither the allow-list nor framing our client always sends."""
    return {name for name in headers if name not in CROSS_ORIGIN_HEADERS} - {"host", "connection"}
