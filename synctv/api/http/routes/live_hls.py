"""HLS playlists and segments: ``GET|HEAD /live/<stream_id>/index.m3u8`` and ``/<sequence>.ts``.

Both answer from the :class:`~synctv.livestream.hls_store.HlsStore` the segmenters write to; a
request never touches the hub. Playlists are ``no-cache`` (they change every segment); segments
are immutable under their URL (sequence numbers never repeat, see ``hls_store``), so they carry a
long ``max-age``, a strong ETag, and honour one byte range.

A stream that is live but has no segment yet holds a playlist request until its first segment
is listed (also the first request of a stream whose segmenter runs on demand, which the request
wakes) (for three floor target durations, and at least as long as the longest first segment
can take), so a player started with the stream does not get a 404 it may treat as fatal.

Blocking playlist reload (RFC 8216bis §6.2.5.2, the part that needs no partial segments), which
served playlists advertise with ``#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES`` (added here, not
by the segmenter, so a plain file server reading the file backend's directory does not claim
it): ``?_HLS_msn=M`` holds the request until the playlist lists segment M or later, at most
three of the stream's target durations (then 503), and answers with the whole playlist; M more
than two beyond the newest segment is refused at once (400). Once the playlist has ENDLIST the
directives are ignored. ``_HLS_part`` without ``_HLS_msn`` is 400; with it, it must be a
decimal integer and is satisfied by segment M itself (no partial segments are listed, and a
complete segment holds all of its parts). ``_HLS_skip`` is ignored (no CAN-SKIP-UNTIL).

CORS and preflights are the dispatcher's (``asgi.App``, one policy for every route).

Viewer access: with a ``gate`` (:mod:`synctv.livestream.access`), every playlist and segment
request is first admitted by it with the request's ``?token=`` (a private room's stream needs a
viewer token: refused with the gate's code, 401/403, before anything about the stream is told),
and a playlist requested with a token lists its segment URIs with the same ``?token=``, since a
player fetches them as the playlist names them.

Viewers (with an ``audience``, as the app mounts them): HLS players hold no connection, so they
are counted by viewer sessions (:mod:`synctv.livestream.hls_viewers` has the rules). A playlist
request without ``?hls_session=`` is answered ``302`` to the same relative URL with a fresh id
added to its query (the token and directives kept); a playlist requested with one lists its
segment URIs with it (they stay relative). A whole segment (``200`` to a ``GET``) served counts
its session, or, without a well-formed id, its client address and User-Agent, as a viewer of
the stream for three target durations. The id is a label, not a credential: the gate still
admits every request first, and a refused request gets no id.

Errors: unknown stream → 404 ``stream_not_found`` (503 ``stream_not_live`` when the directory
knows the id: one status per code, as HTTP-FLV answers it), evicted or future segment → 404
``segment_not_found``, bad range → 416.
"""

from __future__ import annotations

from urllib.parse import quote

from synctv import errors, metrics
from synctv.api.http.asgi import Request, Response, Route
from synctv.config import LivestreamConfig
from synctv.errors import DomainError
from synctv.livestream.access import TOKEN_PARAMETER, ViewerGate
from synctv.livestream.hls import HlsDemand
from synctv.livestream.hls_audience import HlsAudience
from synctv.livestream.hls_store import STREAM_ID_PATTERN, HlsStore, StoredSegment
from synctv.livestream.hls_viewers import SESSION_PARAMETER, valid_session_id
from synctv.livestream.registry import StreamDirectory
from synctv.media.hls import SegmentationPolicy, advertise_blocking_reload, with_uri_query
from synctv.proxy.ranges import answer_range, parse_client_range

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
# A segment URL never names different bytes (sequence numbers are not reused), so caches may
# keep it as long as they like; a day bounds what a misbehaving cache holds on to.
SEGMENT_CACHE_CONTROL = "public, max-age=86400, immutable"
PLAYLIST_CACHE_CONTROL = "no-cache"
# RFC 8216bis §6.2.5.2: a blocking request may be held for three target durations, and an
# _HLS_msn more than two beyond the last segment is answered 400 at once.
BLOCKING_TARGET_DURATIONS = 3
MAX_MSN_AHEAD = 2
# Delivery directives are decimal integers; 19 digits is every u63 (and more is abuse).
_MAX_DIRECTIVE_DIGITS = 19

# Route placeholders cannot hold "{m,n}" quantifiers; lengths are checked by the handlers.
_STREAM_ID = r"[A-Za-z0-9_-]+"
_SEQUENCE = r"[0-9]+"
_MAX_SEQUENCE_DIGITS = 19


def live_hls_routes(
    store: HlsStore,
    *,
    config: LivestreamConfig,
    directory: StreamDirectory | None = None,
    demand: HlsDemand | None = None,
    gate: ViewerGate | None = None,
    audience: HlsAudience | None = None,
) -> list[Route]:
    """The HLS routes, to be mounted by the app; with ``demand`` (``hls_on_demand``) every
    playlist and segment request keeps its stream's segmenter running; with ``gate`` (which
    needs the ``directory``) every request is admitted by it first; with ``audience`` players
    get viewer session ids and whole segments are counted as viewers (module docstring)."""
    if gate is not None and directory is None:
        raise ValueError("a viewer gate needs the stream directory")
    policy = SegmentationPolicy(config.hls_segment_seconds)
    # The first segment is cut within max_target_duration of the first keyframe (media.hls).
    first_wait = float(
        max(BLOCKING_TARGET_DURATIONS * policy.min_target_duration, policy.max_target_duration)
    )

    async def not_found(stream_id: str) -> DomainError:
        if directory is not None and await directory.get(stream_id) is not None:
            return DomainError(errors.STREAM_NOT_LIVE, f"stream {stream_id} is not live")
        return DomainError(errors.STREAM_NOT_FOUND, f"no stream {stream_id}")

    async def admit(request: Request, stream_id: str) -> str | None:
        """Ask the gate (if any); the token the request brought."""
        token = request.query.get(TOKEN_PARAMETER) or None
        if gate is None or directory is None:
            return token
        record = await directory.get(stream_id)
        if record is None:
            raise DomainError(errors.STREAM_NOT_FOUND, f"no stream {stream_id}")
        await gate(record, token)
        return token

    async def playlist(request: Request) -> Response:
        stream_id = _stream_id(request)
        token = await admit(request, stream_id)
        msn = _blocking_msn(request)
        if demand is not None:
            demand.touch(stream_id)
        snapshot = await store.get_playlist(stream_id)
        if snapshot is None and await store.wait_for_sequence(stream_id, 0, first_wait):
            # Live, first segment still being made: hold the request rather than 404 a player
            # that started with the stream (returns at once for streams that are not live).
            snapshot = await store.get_playlist(stream_id)
        outcome = "ok"
        if snapshot is not None and msn is not None and not snapshot.ended:
            if msn > snapshot.newest_sequence + MAX_MSN_AHEAD:
                metrics.HLS_PLAYLIST_REQUESTS.labels("bad_request").inc()
                raise DomainError(errors.INVALID_PARAMETER, "_HLS_msn is too far ahead")
            outcome = "blocked"
            if snapshot.newest_sequence < msn:
                target = snapshot.target_duration or policy.min_target_duration
                if not await store.wait_for_sequence(
                    stream_id, msn, float(BLOCKING_TARGET_DURATIONS * target)
                ):
                    metrics.HLS_PLAYLIST_REQUESTS.labels("timeout").inc()
                    raise DomainError(errors.SERVICE_UNAVAILABLE, f"segment {msn} is not ready")
                snapshot = await store.get_playlist(stream_id)
        if snapshot is None:
            metrics.HLS_PLAYLIST_REQUESTS.labels("not_found").inc()
            raise await not_found(stream_id)
        query = [] if token is None else [f"{TOKEN_PARAMETER}={quote(token, safe='')}"]
        if audience is not None:
            session = request.query.get(SESSION_PARAMETER)
            if session is None:
                address, agent = request.client_host, request.header("user-agent")
                if (issued := audience.new_session_id(address, agent)) is not None:
                    metrics.HLS_PLAYLIST_REQUESTS.labels("session_redirect").inc()
                    return _session_redirect(request, issued)
            elif valid_session_id(session):
                query.append(f"{SESSION_PARAMETER}={session}")
            audience.playlist(stream_id, snapshot.target_duration)
        metrics.HLS_PLAYLIST_REQUESTS.labels(outcome).inc()
        body = advertise_blocking_reload(snapshot.text)
        if query:
            body = with_uri_query(body, "&".join(query).encode())
        if request.method == "GET":
            metrics.HLS_SERVED_BYTES.inc(len(body))
        headers = [("cache-control", PLAYLIST_CACHE_CONTROL)]
        return Response(200, body, headers, PLAYLIST_TYPE)

    async def segment(request: Request) -> Response:
        stream_id = _stream_id(request)
        await admit(request, stream_id)
        if demand is not None:
            demand.touch(stream_id)
        sequence = request.path_params["sequence"]
        if len(sequence) > _MAX_SEQUENCE_DIGITS:
            raise DomainError(errors.SEGMENT_NOT_FOUND, "no such segment")
        stored = await store.get_segment(stream_id, int(sequence))
        if stored is None:
            metrics.HLS_SEGMENT_REQUESTS.labels("404").inc()
            if await store.get_playlist(stream_id) is None:
                raise await not_found(stream_id)
            raise DomainError(errors.SEGMENT_NOT_FOUND, "no such segment")
        response = _segment_response(request, stored)
        metrics.HLS_SEGMENT_REQUESTS.labels(str(response.status)).inc()
        if audience is not None and response.status == 200 and request.method == "GET":
            # Only whole segments count: the bytes a counted viewer costs its client.
            audience.segment(
                stream_id,
                request.query.get(SESSION_PARAMETER),
                request.client_host,
                request.header("user-agent"),
            )
        if request.method == "GET":
            metrics.HLS_SERVED_BYTES.inc(len(response.body))
        return response

    playlist_path = f"/live/{{stream_id:{_STREAM_ID}}}/index.m3u8"
    segment_path = f"/live/{{stream_id:{_STREAM_ID}}}/{{sequence:{_SEQUENCE}}}.ts"
    return [
        # A blocking playlist request has its own bound (three target durations), which may
        # be longer than server.request_timeout_seconds: exempt, like the streaming routes.
        Route(("GET",), playlist_path, playlist, "live_hls_playlist", streaming=True),
        Route(("GET",), segment_path, segment, "live_hls_segment"),
    ]


def _session_redirect(request: Request, session_id: str) -> Response:
    """302 to the same playlist with a viewer session id added to its query (kept otherwise:
    the token, delivery directives). The Location is relative to the playlist's own URL, so
    it stays valid behind a reverse proxy that mounts the server under a path."""
    query = bytes(request.scope.get("query_string", b"")).decode("latin-1")
    added = f"{SESSION_PARAMETER}={session_id}"
    location = f"index.m3u8?{query}&{added}" if query else f"index.m3u8?{added}"
    headers = [("location", location), ("cache-control", "no-store")]
    return Response(302, b"", headers, content_type=None)


def _stream_id(request: Request) -> str:
    stream_id = request.path_params["stream_id"]
    if not STREAM_ID_PATTERN.fullmatch(stream_id):
        raise DomainError(errors.STREAM_NOT_FOUND, "no such stream")
    return stream_id


def _blocking_msn(request: Request) -> int | None:
    """``_HLS_msn`` (None when absent), after checking ``_HLS_part`` (RFC 8216bis §6.2.5.2)."""
    msn = _directive(request, "_HLS_msn")
    part = _directive(request, "_HLS_part")
    if part is not None and msn is None:
        metrics.HLS_PLAYLIST_REQUESTS.labels("bad_request").inc()
        raise DomainError(errors.INVALID_PARAMETER, "_HLS_part needs _HLS_msn")
    return msn


def _directive(request: Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > _MAX_DIRECTIVE_DIGITS:
        metrics.HLS_PLAYLIST_REQUESTS.labels("bad_request").inc()
        raise DomainError(errors.INVALID_PARAMETER, f"{name} must be a non-negative integer")
    return int(raw)


def _segment_response(request: Request, stored: StoredSegment) -> Response:
    """200, 206, 304 or 416 for one stored segment, per the request's validators and Range."""
    size = len(stored.data)
    headers = [
        ("cache-control", SEGMENT_CACHE_CONTROL),
        ("etag", stored.etag),
        ("accept-ranges", "bytes"),
    ]
    if_none_match = request.header("if-none-match")
    if if_none_match is not None and _etag_matches(if_none_match, stored.etag):
        return Response(304, b"", headers, content_type=None)
    range_value = request.header("range")
    if_range = request.header("if-range")
    if range_value is None or (if_range is not None and if_range.strip() != stored.etag):
        return Response(200, stored.data, headers, SEGMENT_TYPE)
    answer = answer_range(parse_client_range(range_value), size)
    if answer.status == 416:
        assert answer.content_range is not None
        raise DomainError(
            errors.RANGE_NOT_SATISFIABLE,
            f"range not satisfiable for {size} bytes",
            headers=[*headers, ("content-range", answer.content_range)],
        )
    if answer.status == 200 or answer.span.length == size:
        return Response(200, stored.data, headers, SEGMENT_TYPE)
    assert answer.content_range is not None
    headers.append(("content-range", answer.content_range))
    return Response(206, stored.data[answer.span.start : answer.span.stop], headers, SEGMENT_TYPE)


def _etag_matches(header: str, etag: str) -> bool:
    """RFC 9110 §13.1.2 weak comparison over a comma list (``*`` matches anything)."""
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False
