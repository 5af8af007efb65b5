"""``/ws/diagnostics``: what the server saw of a connection, for ``synctv doctor``.

Behind a reverse proxy two things go wrong silently: the proxy drops ``Upgrade``/``Connection``
(every WebSocket fails while plain pages work), and the proxy's ``X-Forwarded-For`` is not
trusted (every client looks like the proxy to logs, audit and rate limits). A client that opens
this path through the proxy learns both: a WebSocket upgrade that reaches us is answered with one
JSON message and closed; a plain ``GET`` (the upgrade was dropped on the way, or a direct check
of the HTTP port) gets the same JSON with ``"websocket": false``.

What it reveals is what the client could learn anyway plus the proxy's address as we see it:
the resolved client address, the TCP peer, the *names* of forwarding headers that arrived (never
their values), whether the peer is a trusted proxy, and the request id. No config, no secrets.
"""

from __future__ import annotations

import json

from synctv.api.http.asgi import Request, Response, Route, WebSocketRoute, json_response
from synctv.api.http.asgi_types import Scope
from synctv.api.http.forwarded import ClientAddressResolver, parse_address
from synctv.api.http.websocket import WebSocket

DIAGNOSTICS_PATH = "/ws/diagnostics"
# Headers a reverse proxy uses to name the client (forwarded.py reads the same three).
FORWARDING_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


def connection_report(
    scope: Scope, resolver: ClientAddressResolver, request_id: str, *, websocket: bool
) -> dict[str, object]:
    """The JSON both routes answer with (the dispatcher has already resolved ``client``)."""
    client = scope.get("client")
    # The dispatcher keeps the TCP peer here when it replaced the client by a forwarded address.
    peer = scope.get("synctv.peer") or client
    peer_host = str(peer[0]) if peer else None
    peer_address = parse_address(peer_host) if peer_host else None
    present = sorted(
        {bytes(name).decode("latin-1") for name, _ in scope["headers"]} & _HEADER_NAMES
    )
    return {
        "server": "synctv",
        "websocket": websocket,
        "client": str(client[0]) if client else None,
        "peer": peer_host,
        "forwarding_headers": present,
        "peer_trusted": peer_address is not None and resolver.trusts(peer_address),
        "request_id": request_id,
    }


_HEADER_NAMES = frozenset(name.decode() for name in FORWARDING_HEADERS)


def diagnostics_routes(
    trusted_proxies: tuple[str, ...],
) -> tuple[list[Route], list[WebSocketRoute]]:
    """The plain-HTTP and the WebSocket route on the same path."""
    resolver = ClientAddressResolver(trusted_proxies)

    async def plain(request: Request) -> Response:
        report = connection_report(request.scope, resolver, request.request_id, websocket=False)
        return json_response(report, 200, [("cache-control", "no-store")])

    async def upgraded(socket: WebSocket) -> None:
        await socket.accept()
        report = connection_report(socket.scope, resolver, socket.request_id, websocket=True)
        await socket.send(json.dumps(report, separators=(",", ":")))

    return (
        [Route(("GET",), DIAGNOSTICS_PATH, plain, "diagnostics")],
        [WebSocketRoute(DIAGNOSTICS_PATH, upgraded, "diagnostics_ws")],
    )
