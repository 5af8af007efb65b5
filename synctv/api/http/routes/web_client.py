"""The browser client: the static files of ``synctv/web/`` served at ``/`` on the main port.

Theory of operation: there is no build step, so fingerprinting is done here, for the whole tree
at once. At load every file is read and one digest of the tree (paths and contents) is taken;
``index.html`` names its scripts and styles under ``/assets/__VERSION__/`` and is served with that
marker replaced by the digest. Everything under ``/assets/<digest>/`` is then immutable (a year,
``immutable``): a changed file changes the digest, so a new ``index.html`` names new URLs, and the
client's own relative ``import``s stay inside the same versioned directory. ``index.html`` (and a
request for an old digest, from a page loaded before an upgrade) is revalidated instead: a strong
``ETag`` per representation and ``304`` on ``If-None-Match``.

Any ``GET`` of a path no route took and that is not under a server prefix (``/api``, ``/ws``,
``/live``, ``/proxy``, ``/assets`` ...) and does not look like a file (a dot in its last segment)
is the client's own route (``/rooms/abc``): it gets ``index.html`` and the client routes it.

Compression: gzip (stdlib) for text types, computed once per file on first request (in a
thread) and kept.
Brotli needs a dependency the server does not have (``brotli``/``brotlicffi``), so it is not
offered; ``Vary: Accept-Encoding`` is always sent.

Every response carries a strict Content-Security-Policy (scripts from this origin only, plus
``'wasm-unsafe-eval'`` for the OPAQUE library's WebAssembly; no inline script or style) and the
usual headers: ``nosniff``, a same-origin referrer policy, framing refused.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import trio

from synctv import errors
from synctv.api.http.asgi import Request, Response, Route
from synctv.errors import DomainError

WEB_ROOT = Path(__file__).resolve().parents[3] / "web"
ASSETS_PREFIX = "/assets"
INDEX = "index.html"
VERSION_MARKER = b"__VERSION__"
# Media comes from wherever a playlist item points (the direct provider plays the URL itself),
# so media and the fetches of hls.js/mpegts.js may go to any http(s) origin; scripts may not.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: http: https:",
        "connect-src 'self' http: https: ws: wss:",
        "worker-src 'self' blob:",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
)
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Paths that belong to the server, never to the client's router: an unknown one stays a 404.
SERVER_PREFIXES = ("/api", "/ws", "/live", "/proxy", "/assets", "/health", "/metrics")
# Below this, gzip's header and a round of CPU cost more than they save.
MIN_COMPRESSED_BYTES = 512

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}
_COMPRESSIBLE = ("text/", "application/json", "image/svg+xml", "application/wasm")


@dataclass(slots=True)
class Asset:
    """One file as served: its bytes, type and strong validator; gzip made on first use."""

    body: bytes
    content_type: str
    etag: str
    _gzipped: bytes | None = field(default=None, repr=False)

    @property
    def compressible(self) -> bool:
        return len(self.body) >= MIN_COMPRESSED_BYTES and self.content_type.startswith(
            _COMPRESSIBLE
        )

    @property
    def cached_gzip(self) -> bytes | None:
        return self._gzipped

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=9, mtime=0)
        return self._gzipped


def content_type(name: str) -> str:
    """The type served for a file name; licence texts (no suffix) are plain text."""
    return _TYPES.get(Path(name).suffix.lower(), "text/plain; charset=utf-8")


class WebClient:
    """The files of one web tree, its digest, and the routes and fallback that serve them."""

    def __init__(self, files: dict[str, bytes]) -> None:
        if INDEX not in files:
            raise ValueError(f"the web client has no {INDEX}")
        tree = hashlib.sha256()
        for name in sorted(files):
            tree.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
        self.version = tree.hexdigest()[:16]
        self.assets = {name: _asset(name, body) for name, body in files.items()}
        index = files[INDEX].replace(VERSION_MARKER, self.version.encode())
        self.index = _asset(INDEX, index)

    @classmethod
    def from_directory(cls, root: Path) -> WebClient:
        files = {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file() and not path.name.startswith(".")
        }
        return cls(files)

    @property
    def base(self) -> str:
        """Where this tree's immutable files are: ``/assets/<digest>``."""
        return f"{ASSETS_PREFIX}/{self.version}"

    def routes(self) -> list[Route]:
        return [
            Route(("GET",), "/", self.page, "web_client"),
            Route(
                ("GET",),
                f"{ASSETS_PREFIX}/{{version:[0-9a-f]+}}/{{name:[A-Za-z0-9._/@-]+}}",
                self.asset,
                "web_asset",
            ),
        ]

    async def page(self, request: Request) -> Response:
        """``index.html``: at ``/`` and, as :meth:`fallback`, at every client route."""
        return await _answer(request, self.index, REVALIDATE)

    async def fallback(self, request: Request) -> Response | None:
        """The dispatcher's last resort for a GET nothing matched: the client's own routes get
        ``index.html``; server prefixes and file-like paths get None (their 404 stands)."""
        path = request.path
        last = path.rsplit("/", 1)[-1]
        if "." in last or any(path == p or path.startswith(p + "/") for p in SERVER_PREFIXES):
            return None
        return await self.page(request)

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        found = self.assets.get(name)
        if found is None:
            raise DomainError(errors.NOT_FOUND, f"no asset {name}")
        if name == INDEX:
            found = self.index
        current = request.path_params["version"] == self.version
        return await _answer(request, found, IMMUTABLE if current else REVALIDATE)


@cache
def load_web_client(root: Path = WEB_ROOT) -> WebClient:
    """The installed client, read once per process (servers in one process share it)."""
    return WebClient.from_directory(root)


def _asset(name: str, body: bytes) -> Asset:
    return Asset(body, content_type(name), hashlib.sha256(body).hexdigest()[:24])


async def _answer(request: Request, asset: Asset, cache_control: str) -> Response:
    """The representation the client accepts, or 304 when its ``If-None-Match`` names it."""
    compressed = asset.compressible and _accepts_gzip(request.header("accept-encoding"))
    etag = f'"{asset.etag}-gz"' if compressed else f'"{asset.etag}"'
    headers = [
        ("cache-control", cache_control),
        ("etag", etag),
        ("vary", "Accept-Encoding"),
        *SECURITY_HEADERS,
    ]
    if _matches(request.header("if-none-match"), etag):
        return Response(304, b"", headers, None, length_known=False)
    if compressed:
        headers.append(("content-encoding", "gzip"))
        # The first request of a big file compresses it in a thread (hls.js: ~50 ms of CPU the
        # event loop, which also feeds live viewers, should not spend); later ones reuse it.
        body = asset.cached_gzip
        if body is None:
            body = await trio.to_thread.run_sync(asset.gzipped)
        return Response(200, body, headers, asset.content_type)
    return Response(200, asset.body, headers, asset.content_type)


def _accepts_gzip(header: str | None) -> bool:
    """Whether ``Accept-Encoding`` lists gzip (or ``*``) with a non-zero weight."""
    for item in (header or "").split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        weight = params.strip().lower().removeprefix("q=")
        try:
            return not params or float(weight) > 0
        except ValueError:
            return False
    return False


def _matches(header: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison over the listed tags, ``*`` matches any."""
    if header is None:
        return False
    wanted = etag.removeprefix("W/")
    return any(tag.strip() in ("*", wanted) or tag.strip().removeprefix("W/") == wanted
               for tag in header.split(","))  # fmt: skip
