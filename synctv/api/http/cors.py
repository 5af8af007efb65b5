"""The one CORS policy of the HTTP listener (``server.cors_origins``), pure.

Every response carries ``Vary: Origin``: what we answer depends on the request's ``Origin``, and a
shared cache that did not know it could serve one site's ``Access-Control-Allow-Origin`` to
another. An allowed origin is one configured origin exactly (scheme, host and port; ``*`` allows
any); it gets ``Access-Control-Allow-Origin`` (the origin echoed, or ``*``) and the headers a
media player needs to read (``Content-Range`` ...). Credentials are never allowed cross-origin.

Preflights (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) are answered by the
dispatcher for every path before routing; a refused origin gets a 403 with a stable code.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

ANY_ORIGIN = "*"
DEFAULT_PORTS = {"http": 80, "https": 443}
EXPOSED_HEADERS = "Content-Range, Content-Length, Accept-Ranges, ETag, X-Request-Id"
ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = "Range, If-None-Match, If-Range, Content-Type, Authorization, X-Request-Id"
PREFLIGHT_MAX_AGE_SECONDS = 600

Headers = list[tuple[bytes, bytes]]

_VARY: Headers = [(b"vary", b"Origin")]


def canonical_origin(origin: str) -> str:
    """``scheme://host[:port]`` lower-cased with the scheme's default port left out, as browsers
    serialize an ``Origin``; ``ValueError`` for anything that is not an origin (path, query...)."""
    parts = urlsplit(origin.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) origin: {origin!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"an origin is scheme://host[:port] only: {origin!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in origin: {origin!r}") from None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class CorsPolicy:
    """Which origins may read our responses; builds the headers for responses and preflights."""

    def __init__(self, origins: Iterable[str]) -> None:
        origins = tuple(origins)
        self.any_origin = ANY_ORIGIN in origins
        # Raises ValueError naming the bad entry (the config key is named by the caller).
        self._allowed = frozenset(canonical_origin(o) for o in origins if o != ANY_ORIGIN)
        any_headers: Headers = [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
        ]
        self._any_headers = [*_VARY, *any_headers]

    def allows(self, origin: str | None) -> bool:
        """True for an allowed ``Origin`` value (None, no header, is not an origin to allow)."""
        if origin is None:
            return False
        return self.any_origin or origin.lower() in self._allowed

    def response_headers(self, origin: str | None) -> Headers:
        """Headers to add to every response to a request with this ``Origin`` (or none)."""
        if self.any_origin:
            return self._any_headers
        if origin is not None and origin.lower() in self._allowed:
            return [
                *_VARY,
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
            ]
        return _VARY

    def preflight_headers(self) -> Headers:
        """What an allowed preflight gets besides :meth:`response_headers`."""
        return [
            (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
            (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
            (b"access-control-max-age", str(PREFLIGHT_MAX_AGE_SECONDS).encode()),
        ]
