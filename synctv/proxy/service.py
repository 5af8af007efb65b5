"""The media proxy: ``GET /proxy/<token>`` → a verified grant → a provider's source → bytes.

Theory of operation: the token (``token.py``) names a provider instance and media reference (and
optionally a subtitle or quality of it, by selector); the :class:`SourceResolver` (the provider
service) turns that into a URL plus the provider's upstream headers, cached briefly (and dropped
when the instance changes). Then one of three paths serves the request:

* **slices** (cache enabled, upstream honours Range, or ignores it but tells the size): the
  client's range is resolved against the
  object size learnt from its first slice and streamed slice by slice from the
  :class:`SliceCache`, one ASGI body message per slice, with the next slice fetched while the
  current one is sent (a one-slot channel: at most two slices per response in memory). Every
  slice must carry the identity (size, ETag, Last-Modified) of the first; if the object changes
  mid-response the response is cut (the handler returns with the body incomplete, so the server
  closes the connection) and the object's slices are dropped.
  An origin that ignores Range answers with the whole body; the cache cuts it into slices as
  it arrives and stops reading once nobody wants the rest (see ``slice_cache.py``), so the
  client still gets its ``206``.
* **pass-through** (cache disabled, upstream hides its size or encodes the body): the upstream
  response is relayed as it arrives, with the client's Range/If-None-Match/If-Range forwarded.
  When the client asked for a range and the upstream answered ``200`` with the whole body
  (identity-encoded, size known), the range is cut out of it (``206``) and the upstream read
  stops at its end.
* **playlist** (``.m3u8`` URLs, or a playlist content type): fetched fresh (never cached: live
  playlists change every segment), rewritten so every URI is a new proxy token.

Upstream requests carry only the provider's headers plus the three conditional/range headers we
set ourselves; nothing else from the client is forwarded. The provider's headers are scoped to
the origin of the URL it resolved (``outbound.scope.scoped_headers``): a manifest URI or a
subtitle on another origin, like a redirect hop, gets only the cross-origin allow-list, and the
instance's LAN scope decides, per host, whether private addresses may be reached.

Error handling: failures before the response starts raise :class:`synctv.errors.DomainError`
(its code's status comes from the catalogue), which the HTTP layer turns into a JSON body:
bad/expired token 403, unknown media 404, a malformed media reference 400, upstream 404 → 404,
upstream timeout → 504, refused address → 403, every other upstream failure (whatever raised it)
→ 502, unsatisfiable range → 416 (with ``Content-Range: bytes */size`` whenever the size is
known; an invalid ``Range`` is ignored, see ``ranges.py``). After the response started, failures cut the connection. The client gets a
fixed message per failure kind; the detail (which address was refused and why, what the
transport said) is logged here, with the upstream URL masked (``outbound.masking.mask_url``): a
token holder learns nothing about how names resolve or what the upstream URL holds. A provider
failure on the server's side (a 5xx code) reaches the client as its code with the catalogue's
description; the provider's own message is logged.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from synctv import errors, metrics
from synctv.errors import DomainError, ErrorCode
from synctv.outbound.masking import mask_url
from synctv.outbound.request import UpstreamError, UpstreamTarget
from synctv.outbound.scope import origin_of, scoped_headers
from synctv.providers.base import ResolvedSource
from synctv.proxy.m3u8 import (
    MAX_PLAYLIST_BYTES,
    PlaylistError,
    decode_playlist,
    is_playlist_content_type,
    looks_like_playlist,
    rewrite_playlist,
)
from synctv.proxy.ranges import (
    ByteRangeSpec,
    RangeError,
    RangeSpec,
    Span,
    SuffixRangeSpec,
    answer_range,
    format_range,
    parse_client_range,
    resolve_range,
    slice_pieces,
    unsatisfied_content_range,
)
from synctv.proxy.slice_cache import (
    ObjectIdentity,
    RangeUnsupported,
    Slice,
    SliceCache,
    SliceCacheStatistics,
    Upstream,
    UpstreamResponse,
    UpstreamUnsatisfiable,
    identity_of,
)
from synctv.proxy.token import ProxyGrant, ProxyTokenSigner, TokenExpired, TokenInvalid

log = logging.getLogger("synctv.proxy")

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# Resolved sources are reused this long at most (less when the provider's link expires sooner),
# so a provider is not asked again for every Range request of the same film.
SOURCE_CACHE_SECONDS = 60.0
SOURCE_CACHE_ENTRIES = 1024
# Objects that cannot be sliced (the upstream ignores Range and hides the size, or encodes the
# body) are remembered (bounded) to skip the probing request next time,
# for a while only: an upstream may be fixed or replaced, and the memo must not pin it uncached.
NO_RANGE_ENTRIES = 1024
NO_RANGE_SECONDS = 600.0
_RELAYED = (
    "content-type",
    "content-length",
    "content-range",
    "accept-ranges",
    "etag",
    "last-modified",
    "content-encoding",
)
# Upstream failure kind → (code, what the client is told). The detail is logged only.
_UPSTREAM_ERRORS: dict[str, tuple[ErrorCode, str]] = {
    "not_found": (errors.UPSTREAM_NOT_FOUND, "the upstream has no such object"),
    "timeout": (errors.UPSTREAM_TIMEOUT, "the upstream did not answer in time"),
    "refused": (errors.UPSTREAM_ADDRESS_REFUSED, "upstream address refused"),
}
_UPSTREAM_FAILED = (errors.UPSTREAM_ERROR, "the upstream request failed")


class SourceResolver(Protocol):
    """Turns a grant's instance + media reference into a source (the provider service)."""

    async def resolve_for_proxy(self, instance_id: str, media_ref: str) -> ResolvedSource: ...

    def subscribe(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """Call ``listener(instance_id)`` whenever an instance is updated or removed."""
        ...


@dataclass(frozen=True, slots=True)
class ProxyStatistics:
    client_bytes: int
    responses: tuple[tuple[str, int], ...]
    cuts: int
    cache: SliceCacheStatistics | None


class _Cut(Exception):
    """The response must stop here (object changed or upstream failed mid-body)."""


class MediaProxy:
    """See the module docstring. ``cache=None`` disables slice caching (all pass-through)."""

    def __init__(
        self,
        *,
        signer: ProxyTokenSigner,
        resolver: SourceResolver,
        upstream: Upstream,
        cache: SliceCache | None,
        token_ttl: int = 6 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signer = signer
        self._resolver = resolver
        self._upstream = upstream
        self._cache = cache
        self._token_ttl = token_ttl
        self._clock = clock
        self._sources: OrderedDict[tuple[str, str], tuple[ResolvedSource, float]] = OrderedDict()
        self._no_range: OrderedDict[str, float] = OrderedDict()
        self._counts: Counter[str] = Counter()
        resolver.subscribe(self.forget_instance)

    # -- tokens -----------------------------------------------------------------------------

    def issue_token(
        self,
        instance_id: str,
        media_ref: str,
        *,
        url: str | None = None,
        selector: str | None = None,
    ) -> str:
        """A token for the media (or its ``subtitle:<id>``/``quality:<id>`` selector)."""
        expires = int(self._clock()) + self._token_ttl
        grant = ProxyGrant(instance_id, media_ref, "proxy", expires, url, selector)
        return self._signer.sign(grant)

    async def forget_instance(self, instance_id: str) -> None:
        """Drop what is cached for an instance that changed: its sources and its slices."""
        for slot in [s for s in self._sources if s[0] == instance_id]:
            del self._sources[slot]
        if self._cache is not None:
            await self._cache.invalidate_prefix(f"{instance_id}\n")

    def statistics(self) -> ProxyStatistics:
        return ProxyStatistics(
            client_bytes=self._counts["client_bytes"],
            responses=tuple(sorted((k, v) for k, v in self._counts.items() if k != "client_bytes")),
            cuts=self._counts["cut"],
            cache=None if self._cache is None else self._cache.statistics(),
        )

    # -- serving ----------------------------------------------------------------------------

    async def serve(self, token: str, method: str, headers: Mapping[str, str], send: Send) -> None:
        """Answer one request; ``headers`` has lower-case names. Raises :class:`DomainError`.

        A client that leaves cancels this (the dispatcher turns its disconnect into
        cancellation), so a gone client does not keep the upstream reads going.
        """
        grant = self._verify(token)
        target = await self._target(grant)
        head = method == "HEAD"
        try:
            if looks_like_playlist(target.url):
                await self._serve_playlist(grant, target, head, send)
            elif self._cache is None or self._ignores_range(target.key):
                await self._serve_passthrough(target, headers, head, send)
            else:
                await self._serve_slices(grant, target, headers, head, send)
        except UpstreamError as exc:
            if exc.status in (401, 403):
                self._sources.pop((grant.instance, grant.media_ref), None)
            level = logging.WARNING if exc.kind in ("refused", "internal") else logging.INFO
            log.log(
                level,
                "proxy upstream %s failure for %s: %s",
                exc.kind,
                mask_url(target.url),
                exc,
                extra={"kind": exc.kind, "instance": grant.instance},
            )
            raise _proxy_error(exc) from None

    def _verify(self, token: str) -> ProxyGrant:
        try:
            grant = self._signer.verify(token, self._clock())
        except TokenExpired:
            raise DomainError(errors.PROXY_TOKEN_EXPIRED, "the proxy link has expired") from None
        except TokenInvalid:
            raise DomainError(errors.PROXY_TOKEN_INVALID, "not a valid proxy link") from None
        if grant.mode != "proxy":
            raise DomainError(errors.PROXY_TOKEN_INVALID, "this link does not allow proxying")
        return grant

    async def _target(self, grant: ProxyGrant) -> UpstreamTarget:
        resolved = await self._resolve(grant.instance, grant.media_ref)
        source = resolved.source
        selected = source.sub_resource(grant.selector)
        if selected is None:
            raise DomainError(errors.MEDIA_NOT_FOUND, "the source has no such subtitle or quality")
        url = grant.url or selected
        # The provider chose its headers for the URL it resolved: that origin only.
        credential_origin = origin_of(source.url)
        headers = tuple(scoped_headers(url, source.headers, credential_origin))
        key = f"{grant.instance}\n{grant.media_ref}\n{grant.selector or ''}\n{grant.url or ''}"
        return UpstreamTarget(key, url, headers, resolved.lan, credential_origin)

    async def _resolve(self, instance: str, media_ref: str) -> ResolvedSource:
        now = self._clock()
        slot = (instance, media_ref)
        cached = self._sources.get(slot)
        if cached is not None and cached[1] > now:
            self._sources.move_to_end(slot)
            return cached[0]
        try:
            resolved = await self._resolver.resolve_for_proxy(instance, media_ref)
        except DomainError as exc:
            if exc.error.http_status < 500:
                raise
            log.warning("proxy source %s failed: %s", instance, exc, extra={"code": exc.code})
            raise DomainError(exc.error, exc.error.description) from None
        until = now + SOURCE_CACHE_SECONDS
        if resolved.source.expires_at is not None:
            until = min(until, resolved.source.expires_at - 5)
        self._sources[slot] = (resolved, until)
        while len(self._sources) > SOURCE_CACHE_ENTRIES:
            self._sources.popitem(last=False)
        return resolved

    # -- slices ---------------------------------------------------------------------------

    async def _serve_slices(
        self,
        grant: ProxyGrant,
        target: UpstreamTarget,
        headers: Mapping[str, str],
        head: bool,
        send: Send,
    ) -> None:
        cache = self._cache
        assert cache is not None
        spec = _client_range(headers.get("range"))
        try:
            first_index, first = await self._first_slice(cache, target, spec)
        except RangeUnsupported:
            self._remember_no_range(target.key)
            await self._serve_passthrough(target, headers, head, send)
            return
        except UpstreamUnsatisfiable as exc:
            known = cache.peek_identity(target.key) if exc.size is None else None
            raise _unsatisfiable(exc.size if known is None else known[0].size) from None
        if (
            is_playlist_content_type(first.content_type)
            and first.identity.size <= MAX_PLAYLIST_BYTES
        ):
            await self._serve_playlist(grant, target, head, send)
            return
        identity = first.identity
        if _none_match(headers.get("if-none-match"), identity.etag):
            await self._start(send, 304, _validators(identity))
            await send({"type": "http.response.body", "body": b""})
            return
        if spec is not None and not _if_range_ok(headers.get("if-range"), identity):
            spec = None
        span, status, extra = _plan(spec, identity.size)
        response_headers = [
            *_validators(identity),
            ("content-length", str(span.length)),
            ("accept-ranges", "bytes"),
            *extra,
        ]
        if first.content_type:
            response_headers.append(("content-type", first.content_type))
        self._count("slices")
        await self._start(send, status, response_headers)
        if head or span.length == 0:
            await send({"type": "http.response.body", "body": b""})
            return
        try:
            await self._stream_span(cache, target, (first_index, first), span, send)
        except _Cut as exc:
            self._count("cut")
            log.warning("proxy response cut: %s", exc)
            return
        await send({"type": "http.response.body", "body": b""})

    async def _first_slice(
        self, cache: SliceCache, target: UpstreamTarget, spec: RangeSpec | None
    ) -> tuple[int, Slice]:
        """The slice a response starts from (or slice 0, to learn the size): (index, slice)."""
        index = 0
        if isinstance(spec, ByteRangeSpec):
            index = spec.first // cache.slice_size
        elif isinstance(spec, SuffixRangeSpec):
            size = await self._object_size(cache, target)
            index = _resolve_or_416(spec, size).start // cache.slice_size
        return index, await cache.get_slice(target, index)

    async def _object_size(self, cache: SliceCache, target: UpstreamTarget) -> int:
        """The size a suffix range needs: from a cached slice, else a one-byte probe (a cold
        ``bytes=-n`` then fetches only the slices it covers, not slice 0 as well)."""
        known = cache.peek_identity(target.key)
        if known is not None:
            return known[0].size
        try:
            return (await cache.probe_identity(target)).size
        except RangeUnsupported:  # an origin that ignores Range: its first slice tells the size
            return (await cache.get_slice(target, 0)).identity.size
        except UpstreamUnsatisfiable as exc:
            if exc.size != 0:
                raise
            return 0  # an empty object: slice 0 (empty) answers it

    async def _stream_span(
        self,
        cache: SliceCache,
        target: UpstreamTarget,
        first: tuple[int, Slice],
        span: Span,
        send: Send,
    ) -> None:
        """Send ``span`` slice by slice, fetching the next slice while this one is sent."""
        send_channel, receive_channel = trio.open_memory_channel[bytes](1)
        failure: Exception | None = None

        async def produce() -> None:
            nonlocal failure
            identity = first[1].identity
            async with send_channel:
                try:
                    for piece in slice_pieces(span, cache.slice_size):
                        if piece.index == first[0]:
                            got = first[1]
                        else:
                            got = await self._next_slice(cache, target, piece.index, identity)
                        data = got.data
                        if piece.offset or piece.length != len(data):
                            data = data[piece.offset : piece.offset + piece.length]
                        await send_channel.send(data)
                except (UpstreamError, RangeUnsupported, UpstreamUnsatisfiable, _Cut) as exc:
                    failure = exc

        last_index = (span.stop - 1) // cache.slice_size
        with cache.reading(target.key, last_index):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(produce)
                async with receive_channel:
                    async for data in receive_channel:
                        await send({"type": "http.response.body", "body": data, "more_body": True})
                        self._sent(len(data))
        if isinstance(failure, _Cut):
            await cache.invalidate(target.key)
            raise failure
        if failure is not None:
            raise _Cut(f"upstream failed mid-response: {failure}")

    async def _next_slice(
        self, cache: SliceCache, target: UpstreamTarget, index: int, identity: ObjectIdentity
    ) -> Slice:
        got = await cache.get_slice(target, index, identity)
        if got.identity != identity:
            raise _Cut(f"upstream object changed ({identity} → {got.identity})")
        return got

    def _remember_no_range(self, key: str) -> None:
        self._no_range[key] = self._clock()
        self._no_range.move_to_end(key)
        while len(self._no_range) > NO_RANGE_ENTRIES:
            self._no_range.popitem(last=False)

    def _ignores_range(self, key: str) -> bool:
        """Whether ``key`` was seen ignoring Range less than NO_RANGE_SECONDS ago."""
        since = self._no_range.get(key)
        if since is None:
            return False
        if self._clock() - since >= NO_RANGE_SECONDS:
            del self._no_range[key]
            return False
        return True

    # -- pass-through ---------------------------------------------------------------------

    async def _serve_passthrough(
        self,
        target: UpstreamTarget,
        headers: Mapping[str, str],
        head: bool,
        send: Send,
    ) -> None:
        forwarded = _forwarded_conditionals(headers)
        async with self._upstream.open(target, forwarded) as response:
            status = response.status
            if status == 416:
                size = _size_from_416(response)
                if size == 0 and isinstance(_client_range(headers.get("range")), SuffixRangeSpec):
                    await self._start(send, 200, [("content-length", "0")])
                    await send({"type": "http.response.body", "body": b""})
                    return
                raise _unsatisfiable(size)
            if status not in (200, 206, 304):
                raise _status_error(response)
            relayed = [(n, v) for n in _RELAYED if (v := response.header(n)) is not None]
            cut = _range_of_whole(response, headers) if status == 200 else None
            if cut is not None:
                span, status, extra = cut
                relayed = [(n, v) for n, v in relayed if n not in ("content-length",)]
                relayed += [("content-length", str(span.length)), *extra]
            self._count("passthrough")
            await self._start(send, status, relayed)
            if head or status == 304:
                await send({"type": "http.response.body", "body": b""})
                return
            try:
                if cut is None:
                    async for chunk in response.iter_bytes():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                        self._sent(len(chunk))
                else:
                    await self._send_cut(response, cut[0], send)
            except UpstreamError as exc:
                self._count("cut")
                log.warning("proxy pass-through cut: %s", exc)
                return
        await send({"type": "http.response.body", "body": b""})

    async def _send_cut(self, response: UpstreamResponse, span: Span, send: Send) -> None:
        """Send ``span`` of a whole body: skip what comes before, stop reading at its end."""
        position = 0
        async for chunk in response.iter_bytes():
            start, stop = max(span.start - position, 0), min(span.stop - position, len(chunk))
            position += len(chunk)
            if start < stop:
                data = chunk if (start, stop) == (0, len(chunk)) else chunk[start:stop]
                await send({"type": "http.response.body", "body": data, "more_body": True})
                self._sent(len(data))
            if position >= span.stop:
                return
        if position < span.stop:
            raise UpstreamError("protocol", "upstream body ended early")

    # -- playlists ------------------------------------------------------------------------

    async def _serve_playlist(
        self, grant: ProxyGrant, target: UpstreamTarget, head: bool, send: Send
    ) -> None:
        async with self._upstream.open(target) as response:
            if response.status != 200:
                raise _status_error(response)
            body = await _read_limited(response, MAX_PLAYLIST_BYTES)
            base_url = response.url
        try:
            text = decode_playlist(body)
        except PlaylistError as exc:
            metrics.OUTBOUND_ERRORS.labels("protocol").inc()
            raise DomainError(errors.UPSTREAM_BAD_PLAYLIST, str(exc)) from None

        def through_proxy(absolute: str) -> str:
            # Relative to /proxy/<token>: resolves to /proxy/<new token> wherever we are mounted.
            sub = ProxyGrant(
                grant.instance,
                grant.media_ref,
                "proxy",
                grant.expires_at,
                absolute,
                grant.selector,
            )
            return self._signer.sign(sub)

        out = rewrite_playlist(text, base_url, through_proxy).encode()
        self._count("playlist")
        await self._start(
            send,
            200,
            [
                ("content-type", "application/vnd.apple.mpegurl"),
                ("content-length", str(len(out))),
                ("cache-control", "no-cache"),
            ],
        )
        await send({"type": "http.response.body", "body": b"" if head else out})
        if not head:
            self._sent(len(out))

    # -- helpers --------------------------------------------------------------------------

    async def _start(self, send: Send, status: int, headers: list[tuple[str, str]]) -> None:
        """Start the response (CORS headers are added by the dispatcher, ``asgi.App``)."""
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            }
        )

    def _sent(self, n: int) -> None:
        self._counts["client_bytes"] += n
        metrics.PROXY_SENT_BYTES.inc(n)

    def _count(self, path: str) -> None:
        self._counts[path] += 1
        metrics.PROXY_RESPONSES.labels(path).inc()


def _client_range(value: str | None) -> RangeSpec | None:
    """The client's range; ``None`` (serve it all) also for several or invalid ranges, which
    RFC 9110 §14.2 lets a server ignore (see ``ranges.py`` for the decision)."""
    return parse_client_range(value)


def _plan(spec: RangeSpec | None, size: int) -> tuple[Span, int, list[tuple[str, str]]]:
    """(span, status, extra headers): 200 for the whole object, 206 with Content-Range."""
    answer = answer_range(spec, size)
    if answer.status == 416:
        raise _unsatisfiable(size)
    extra = [] if answer.content_range is None else [("content-range", answer.content_range)]
    return answer.span, answer.status, extra


def _range_of_whole(
    response: UpstreamResponse, headers: Mapping[str, str]
) -> tuple[Span, int, list[tuple[str, str]]] | None:
    """The client's range, to cut out of a ``200`` with the whole body (an origin that ignored
    Range), as :func:`_plan` gives it; ``None`` to relay the body as it is (no valid range, an
    If-Range that does not match, a size the upstream hides, a content coding)."""
    spec = _client_range(headers.get("range"))
    size = _content_length(response.header("content-length"))
    if spec is None or size is None:
        return None
    if response.header("content-encoding") not in (None, "identity"):
        return None
    if not _if_range_ok(headers.get("if-range"), identity_of(response, size)):
        return None
    return _plan(spec, size)


def _content_length(value: str | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def _resolve_or_416(spec: RangeSpec, size: int) -> Span:
    try:
        return resolve_range(spec, size)
    except RangeError:
        raise _unsatisfiable(size) from None


def _unsatisfiable(size: int | None) -> DomainError:
    extra = () if size is None else (("content-range", unsatisfied_content_range(size)),)
    return DomainError(
        errors.RANGE_NOT_SATISFIABLE, "the requested range is not satisfiable", headers=extra
    )


def _validators(identity: ObjectIdentity) -> list[tuple[str, str]]:
    out = []
    if identity.etag:
        out.append(("etag", identity.etag))
    if identity.last_modified:
        out.append(("last-modified", identity.last_modified))
    return out


def _none_match(value: str | None, etag: str | None) -> bool:
    """RFC 9110 §13.1.2, weak comparison."""
    if value is None or etag is None:
        return False
    if value.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in value.split(","))


def _if_range_ok(value: str | None, identity: ObjectIdentity) -> bool:
    """RFC 9110 §13.1.5: Range applies only if the validator still matches (strong for tags)."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return identity.etag is not None and not value.startswith("W/") and value == identity.etag
    return identity.last_modified is not None and value == identity.last_modified


def _forwarded_conditionals(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The only client headers an upstream sees: a re-serialised Range and two validators."""
    out: list[tuple[str, str]] = []
    spec = _client_range(headers.get("range"))
    if spec is not None:
        out.append(("range", format_range(spec)))
    for name in ("if-none-match", "if-range"):
        value = headers.get(name)
        if value is not None and len(value) < 1024 and value.isprintable():
            out.append((name, value))
    return out


def _size_from_416(response: UpstreamResponse) -> int | None:
    value = response.header("content-range") or ""
    total = value.rpartition("/")[2]
    return int(total) if total.isdigit() and len(total) <= 18 else None


def _status_error(response: UpstreamResponse) -> UpstreamError:
    """The error for an upstream status (already counted by the Upstream that returned it)."""
    status = response.status
    kind = "not_found" if status in (404, 410) else "status"
    return UpstreamError(kind, f"upstream answered {status}", status=status, counted=True)


def _proxy_error(exc: UpstreamError) -> DomainError:
    """The client's side of an upstream failure: a fixed message per kind (the detail, which may
    name addresses, is logged by the caller); an upstream status is worth telling."""
    code, message = _UPSTREAM_ERRORS.get(exc.kind, _UPSTREAM_FAILED)
    if exc.kind == "status" and exc.status is not None:
        message = f"the upstream answered {exc.status}"
    return DomainError(code, message)


async def _read_limited(response: UpstreamResponse, limit: int) -> bytes:
    buffer = bytearray()
    async for chunk in response.iter_bytes():
        buffer += chunk
        if len(buffer) > limit:
            metrics.OUTBOUND_ERRORS.labels("protocol").inc()
            raise DomainError(errors.UPSTREAM_BAD_PLAYLIST, "playlist too large")
    return bytes(buffer)
