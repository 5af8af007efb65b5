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

Compression: brotli (quality 11) or gzip (level 9) for text types, chosen by ``Accept-Encoding``
(RFC 9110 §12.5.3: q-values respected, ``q=0`` refuses, ``*`` stands for any coding not listed,
``x-gzip`` is gzip; on equal weight br is preferred to gzip, and either to identity, which is
acceptable unless refused and is what an unknown, absent or malformed header gets; when every coding
is refused the identity bytes are sent anyway, as if the header were absent). Each encoding of a
file is made once, on its first request, in a worker thread (both compressors release the GIL; a
lock per file makes concurrent first requests wait for one compression) and kept for the process:
the tree is fixed at load, so the cache is bounded by it (at most one body per coding per file,
in practice a fifth to a third of the file's size). Each encoding is its own representation: its own strong ``ETag``
(``"<digest>-br"``, ``"<digest>-gz"``) and ``304``; ``Vary: Accept-Encoding`` is always sent.
``Range`` is not served here: it is ignored and the whole selected representation answers ``200``
(RFC 9110 §14.2 lets a server ignore it), so a range never addresses compressed bytes.

Why brotli (a dependency, Google's reference ``brotli``), measured on this tree (December 2026):
the sign-in page's first load (30 files: the page, its stylesheet and icon, the static import graph
of ``main.js``) is 174,223 bytes raw, 63,035 gzip-9, 54,440 br-11 (-14 %); the vendored libraries
loaded later: hls.js 597,142 raw / 182,189 gzip / 148,738 br (-18 %), OPAQUE 434,604 / 159,395 /
131,863 (-17 %), mpegts.js 275,488 / 61,797 / 51,654 (-16 %): a room page with its player fetches
~70 KB less. Quality 11 costs CPU (hls.js: ~2 s against gzip's ~55 ms on a shared dev core), paid
once per file per process, in a background thread, never per request; until it is made, a client
that also takes gzip gets gzip (so the first visitor after a start never waits those seconds).
A compressor that fails (logged and counted as a crash, once) is not tried again for that file:
its coding is no longer offered, so a client that took only br gets the identity bytes (gzip if
it takes gzip), never a 500 nor a retried compression per request.

Every response carries a strict Content-Security-Policy (scripts from this origin only, plus
``'wasm-unsafe-eval'`` for the OPAQUE library's WebAssembly; no inline script or style) and the
usual headers: ``nosniff``, a same-origin referrer policy, framing refused.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import brotli
import trio

from synctv import errors
from synctv.api.http.asgi import Request, Response, Route
from synctv.errors import DomainError
from synctv.supervision import boundary, record_crash

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
# Below this, a coding's header and a round of CPU cost more than they save.
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


BR = "br"
GZIP = "gzip"
# Content codings offered, most preferred first (on equal weight in ``Accept-Encoding``).
CODINGS = (BR, GZIP)
_ETAG_SUFFIX = {BR: "-br", GZIP: "-gz"}


def _brotli(body: bytes) -> bytes:
    encoded: bytes = brotli.compress(body, quality=11)
    return encoded


def _gzip(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=9, mtime=0)


_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {BR: _brotli, GZIP: _gzip}


@dataclass(slots=True)
class Asset:
    """One file as served: its bytes, type and strong validator; each encoding made on first use
    and kept (one compression per file and coding, whoever asks first)."""

    body: bytes
    content_type: str
    etag: str
    _encoded: dict[str, bytes] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _started: set[str] = field(default_factory=set, repr=False)
    _failed: set[str] = field(default_factory=set, repr=False)

    @property
    def compressible(self) -> bool:
        return len(self.body) >= MIN_COMPRESSED_BYTES and self.content_type.startswith(
            _COMPRESSIBLE
        )

    def codings(self) -> tuple[str, ...]:
        """The codings offered for this file: all but those whose compressor failed."""
        return tuple(c for c in CODINGS if c not in self._failed)

    def cached(self, coding: str) -> bytes | None:
        """The body in ``coding`` if it was made already."""
        return self._encoded.get(coding)

    def start(self, coding: str) -> None:
        """Make ``coding`` in a background thread, once (whoever asks later finds it made)."""
        with self._lock:
            if coding in self._encoded or coding in self._started:
                return
            self._started.add(coding)
        threading.Thread(target=self._make, args=(coding,), daemon=True).start()

    def _make(self, coding: str) -> None:
        """The background thread's work (see :meth:`encoded` for a compressor that fails)."""
        with boundary("web_client_compression", coding):
            self.encoded(coding)

    def encoded(self, coding: str) -> bytes | None:
        """The body in ``coding`` (``br`` or ``gzip``), made now if needed (blocking: call it
        from a thread); concurrent callers wait for the one compression. None when its
        compressor failed: logged and counted like any crash (in a thread, not left to its
        default hook, which only prints to stderr), once; it is not tried again, and
        :meth:`codings` no longer offers it."""
        found = self._encoded.get(coding)
        if found is None:
            with self._lock:
                found = self._encoded.get(coding)
                if found is None:
                    if coding in self._failed:
                        return None
                    try:
                        found = self._encoded[coding] = _COMPRESSORS[coding](self.body)
                    except Exception as exc:
                        self._failed.add(coding)
                        record_crash("web_client_compression", exc, coding)
                        return None
        return found


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
    accept = request.header("accept-encoding")
    codings = asset.codings()
    coding = negotiate(accept, codings) if asset.compressible else None
    if (
        coding == BR
        and asset.cached(BR) is None
        and GZIP in codings
        and negotiate(accept, (GZIP,)) == GZIP
    ):
        # Brotli 11 of a big file takes seconds: nobody waits for it. It is made in the
        # background and this client, who takes gzip too, gets gzip (~50 ms) meanwhile.
        asset.start(BR)
        coding = GZIP
    etag = f'"{asset.etag}{_ETAG_SUFFIX[coding]}"' if coding else f'"{asset.etag}"'
    headers = [
        ("cache-control", cache_control),
        ("etag", etag),
        ("vary", "Accept-Encoding"),
        *SECURITY_HEADERS,
    ]
    if _matches(request.header("if-none-match"), etag):
        return Response(304, b"", headers, None, length_known=False)
    if coding is None:
        return Response(200, asset.body, headers, asset.content_type)
    headers.append(("content-encoding", coding))
    # The first request of a big file compresses it in a thread (hls.js at brotli 11: ~2 s of CPU
    # the event loop, which also feeds live viewers, must not spend); later ones reuse it.
    body = asset.cached(coding)
    if body is None:
        body = await trio.to_thread.run_sync(asset.encoded, coding)
        if body is None:  # its compressor failed just now (logged): answered without it
            return await _answer(request, asset, cache_control)
    return Response(200, body, headers, asset.content_type)


def negotiate(header: str | None, codings: tuple[str, ...] = CODINGS) -> str | None:
    """The content coding to send for this ``Accept-Encoding`` (RFC 9110 §12.5.3): ``"br"``,
    ``"gzip"``, or None for identity. The highest weight wins, br before gzip before identity on
    a tie; an unlisted coding takes the weight of ``*`` (else it is refused), identity is
    acceptable unless refused; a malformed weight refuses its coding. ``codings``: the ones to
    consider (all by default)."""
    if header is None:
        return None
    weights: dict[str, float] = {}
    for item in header.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        name = name.lower()
        if not name:
            continue
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                weight = _weight(value.strip())
        weights.setdefault("gzip" if name == "x-gzip" else name, weight)
    star = weights.get("*")
    best, best_weight = None, 0.0
    for coding in codings:
        weight = weights.get(coding, star if star is not None else 0.0)
        if weight > best_weight:
            best, best_weight = coding, weight
    identity = weights.get("identity", star)
    if best is None or (identity is not None and identity > best_weight):
        return None
    return best


def _weight(value: str) -> float:
    """A ``q`` value: 0 to 1, at most three decimals (RFC 9110 §12.4.2); anything else is 0."""
    try:
        weight = float(value)
    except ValueError:
        return 0.0
    if len(value) > 5 or not 0.0 <= weight <= 1.0 or not value[:1].isdigit():
        return 0.0
    return weight


def _matches(header: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison over the listed tags, ``*`` matches any."""
    if header is None:
        return False
    wanted = etag.removeprefix("W/")
    return any(tag.strip() in ("*", wanted) or tag.strip().removeprefix("W/") == wanted
               for tag in header.split(","))  # fmt: skip
