"""What the world is told and how it gets in: the URLs shown to viewers and OBS, a
WebSocket upgrade through the public URL (the reverse proxy), and whether the proxy's
forwarded address is trusted.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio
import trio_websocket

from synctv.api.grpc.admin_live import LiveUrls
from synctv.api.http.routes.diagnostics import DIAGNOSTICS_PATH
from synctv.cli.doctor_checks.result import (
    CHECK_TIMEOUT_SECONDS,
    CheckResult,
    connect_host,
    describe,
    fail,
    hostport,
    ok,
    synctv_report,
    warn,
)
from synctv.config import Config
from synctv.livestream.registry import NO_ROOM_APP

_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0", "::", "[::]"})
# What a proxy must forward for WebSockets (nginx spelling; the fix users paste).
NGINX_UPGRADE_LINES = (
    "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
    'proxy_set_header Connection "upgrade";'
)


def _is_local(host: str | None) -> bool:
    if not host:
        return True
    return host.lower() in _LOOPBACK_NAMES or host.startswith("127.")


def check_public_urls(config: Config, tested_url: str | None = None) -> CheckResult:
    """The URLs viewers and streamers are shown: never 127.0.0.1 when the server is public, and
    the address the operator tested (``--public-url``) when one was given."""
    name = "public urls"
    urls = LiveUrls(config)
    http, rtmp = urls.http_base(), urls.rtmp_base()
    details = {
        "web": http + "/",
        "OBS server": f"{rtmp}/{NO_ROOM_APP}",
        "OBS stream key": "the key from `synctv admin live create`",
        "HTTP-FLV": f"{http}/live/<stream-id>.flv",
        "HLS": f"{http}/live/<stream-id>/index.m3u8",
    }
    set_it = (
        f"set server.public_url: {tested_url.rstrip('/')}"
        if tested_url
        else "set server.public_url to the address viewers open, e.g. https://tv.example.org"
    )
    public = config.server.public_url
    listening_publicly = config.server.host in _WILDCARDS or not _is_local(config.server.host)
    if public is None:
        if listening_publicly or tested_url:
            return warn(name, f"server.public_url is not set: links show {http}", set_it, **details)
        return ok(name, "listening on loopback only (no public URL needed)", **details)
    if tested_url and public.rstrip("/") != tested_url.rstrip("/"):
        return warn(
            name,
            f"links show {public.rstrip('/')}, but viewers open {tested_url}",
            set_it,
            **details,
        )
    host = urlsplit(public).hostname
    if listening_publicly and _is_local(host):
        return warn(
            name,
            f"server.public_url {public} points at this machine only: others cannot open it",
            set_it,
            **details,
        )
    rtmp_host = urlsplit(rtmp).hostname
    if config.livestream.enabled and listening_publicly and _is_local(rtmp_host):
        return warn(
            name,
            f"the OBS server URL {rtmp} points at this machine only",
            "set livestream.rtmp_public_host to the host name OBS can reach",
            **details,
        )
    return ok(name, f"links use {http}", **details)


async def check_public_websocket(config: Config, public_url: str | None) -> list[CheckResult]:
    """A WebSocket upgrade through the public URL (the reverse proxy), then what the server saw
    of it: whether the proxy's ``X-Forwarded-For`` is trusted."""
    name = "websocket"
    base = public_url or config.server.public_url
    direct = False
    if base is None:
        host, port = connect_host(config.server.host), config.server.port
        if port == 0:
            return [warn(name, "server.port is 0 (ephemeral): cannot check it", "set a port")]
        base, direct = f"http://{hostport(host, port)}", True
    parts = urlsplit(base.rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            fail(
                name,
                f"{base} is not an http:// or https:// URL",
                "give the address viewers open, e.g. --public-url https://tv.example.org",
            )
        ]
    http_url = base.rstrip("/") + DIAGNOSTICS_PATH
    ws_url = ("wss" if parts.scheme == "https" else "ws") + http_url[len(parts.scheme) :]
    report: dict[str, Any] | None = None
    failure: str | None = None
    rejected_with: int | None = None
    try:
        with trio.fail_after(CHECK_TIMEOUT_SECONDS):
            async with trio_websocket.open_websocket_url(
                ws_url, connect_timeout=CHECK_TIMEOUT_SECONDS, disconnect_timeout=1
            ) as ws:
                report = json.loads(await ws.get_message())
    except trio_websocket.ConnectionRejected as exc:
        rejected_with = exc.status_code
        failure = f"rejected with HTTP {exc.status_code}"
    except (
        OSError,
        trio.TooSlowError,
        trio_websocket.HandshakeError,
        trio_websocket.ConnectionClosed,
        trio_websocket.DisconnectionTimeout,  # after the report arrived: still a success
        ValueError,
    ) as exc:
        failure = "no answer" if isinstance(exc, trio.TooSlowError) else describe(exc)
    if report is not None and report.get("server") == "synctv":
        return [
            ok(
                name,
                f"WebSocket upgrade works at {ws_url}"
                + (" (direct: --public-url URL tests your proxy)" if direct else ""),
            ),
            forwarding_result(report),
        ]
    # The upgrade failed: a plain GET tells a proxy that drops Upgrade from a wrong URL.
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS, verify=True) as client:
            plain = synctv_report(await client.get(http_url))
    except httpx.HTTPError as exc:
        fix = (
            "start the server (`synctv serve`), or fix server.port"
            if direct
            else "check server.public_url / --public-url: host, port and scheme viewers use"
        )
        return [fail(name, f"nothing answers at {base}: {describe(exc)}", fix)]
    if plain is not None:
        return [
            fail(
                name,
                f"WebSocket upgrade at {ws_url} fails: the proxy drops the Upgrade and "
                "Connection headers (the server got a plain request)",
                f"in the proxy's location block add: {NGINX_UPGRADE_LINES}",
            ),
            forwarding_result(plain),
        ]
    if rejected_with in (502, 503, 504):
        fix = "the proxy cannot reach SyncTV: start the server, or fix the proxy's upstream address"
    else:
        fix = (
            "check server.public_url / --public-url, and that the proxy passes every path to SyncTV"
        )
    return [fail(name, f"{base} does not reach SyncTV ({failure})", fix)]


def forwarding_result(report: dict[str, Any]) -> CheckResult:
    """Whether the proxy's forwarded address is believed, from what the server reported."""
    name = "forwarded address"
    headers = report.get("forwarding_headers") or []
    peer, client = report.get("peer"), report.get("client")
    if not headers:
        return ok(name, f"no proxy headers arrived; the server sees you as {client}")
    names = ", ".join(h.title() for h in headers)
    if not report.get("peer_trusted"):
        return warn(
            name,
            f"the proxy at {peer} sends {names}, but it is not in server.trusted_proxies: "
            f"every client looks like {peer} to logs, audit and rate limits",
            f'set server.trusted_proxies: ["{peer}"] (the proxy\'s address or network)',
        )
    return ok(name, f"{names} from {peer} is trusted; the server sees you as {client}")
