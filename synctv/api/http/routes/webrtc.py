"""WebRTC helpers for the HTTP API: the ICE server list behind ``GET /api/webrtc/ice-servers``.

:func:`build_ice_servers` is pure: it turns the ``webrtc`` config section (plus the host the
browser used to reach us) into a list of RTCIceServer dictionaries, the JSON shape browsers pass
to ``new RTCPeerConnection({iceServers})`` (W3C WebRTC §4.2.4, ``RTCIceServer``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from synctv.config import WebRTCConfig

# A DNS name (RFC 1123 labels) or an IPv4 literal; IPv6 literals are checked with ipaddress.
# The request host comes from the client's Host header, so anything else is ignored rather than
# pasted into a URL.
_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)

IceServer = dict[str, str | list[str]]


def build_ice_servers(
    webrtc_config: WebRTCConfig, *, request_host: str | None, stun_port: int | None = None
) -> list[IceServer]:
    """The ICE servers a browser should use, built-in STUN first, then the configured ones.

    The built-in entry is ``stun:<host>:<port>`` with ``host`` = ``public_host`` or else the
    request's host (a ``Host`` header value: a trailing ``:port`` is dropped, IPv6 literals are
    bracketed). It is left out when the built-in server is disabled, when no usable host is known,
    or when the port is 0 and the caller passes no ``stun_port`` (the bound port) to use instead.
    """
    servers: list[IceServer] = []
    builtin = builtin_stun_address(webrtc_config, request_host=request_host, stun_port=stun_port)
    if builtin is not None:
        servers.append({"urls": [f"stun:{builtin[0]}:{builtin[1]}"]})
    for configured in webrtc_config.ice_servers:
        entry: IceServer = {"urls": list(configured.urls)}
        if configured.username is not None:
            entry["username"] = configured.username
        if configured.credential is not None:
            entry["credential"] = configured.credential.get_secret_value()
        servers.append(entry)
    return servers


def builtin_stun_address(
    webrtc_config: WebRTCConfig, *, request_host: str | None, stun_port: int | None = None
) -> tuple[str, int] | None:
    """The (URL host, port) the built-in STUN is advertised at, or None (see above)."""
    port = webrtc_config.stun_port if stun_port is None else stun_port
    if not webrtc_config.enable_builtin_stun or not port:
        return None
    host = _url_host(webrtc_config.public_host or request_host)
    return None if host is None else (host, port)


def _url_host(raw: str | None) -> str | None:
    """``raw`` (a host, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6) as a URL host."""
    if not raw:
        return None
    host = raw.strip()
    bracketed = host.startswith("[")
    if bracketed:
        host, bracket, _ = host[1:].partition("]")
        if not bracket:
            return None
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if bracketed or ":" in host:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            return None
        return None if address.scope_id else f"[{address.compressed}]"
    return host if _HOSTNAME.fullmatch(host) else None


class IceServerModel(BaseModel):
    """One RTCIceServer (W3C WebRTC §4.2.4)."""

    urls: list[str] = Field(examples=[["stun:media.example:3478"]])
    username: str | None = None
    credential: str | None = None


class IceServersModel(BaseModel):
    """What a browser passes to ``new RTCPeerConnection({iceServers})``."""

    ice_servers: list[IceServerModel]


def webrtc_router(
    webrtc_config: WebRTCConfig,
    *,
    bound_stun_port: Callable[[], int | None],
    external_servers: Callable[[], Sequence[BaseModel]] = tuple,
) -> APIRouter:
    """``GET /api/webrtc/ice-servers``: the RTCIceServer list for this deployment: the built-in
    STUN, the config file's ``webrtc.ice_servers``, then ``external_servers()`` (the runtime
    setting ``webrtc.externalIceServers``, read per request so a change applies at once)."""
    router = APIRouter(prefix="/api/webrtc", tags=["webrtc"])

    @router.get(
        "/ice-servers",
        response_model=IceServersModel,
        response_model_exclude_none=True,
        summary="ICE servers for WebRTC peers",
    )
    async def ice_servers(request: Request) -> JSONResponse:
        servers = build_ice_servers(
            webrtc_config, request_host=request.headers.get("host"), stun_port=bound_stun_port()
        )
        servers += [server.model_dump(exclude_none=True) for server in external_servers()]
        body = IceServersModel.model_validate({"ice_servers": servers})
        return JSONResponse(
            body.model_dump(exclude_none=True), headers={"cache-control": "no-store"}
        )

    return router
