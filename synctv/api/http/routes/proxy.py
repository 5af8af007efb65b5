"""``GET|HEAD /proxy/<token>``: the media proxy (raw ASGI streaming; see synctv.proxy.service).

The handler streams through ``request.send`` itself and returns ``None``; errors raised before
the response starts are :class:`synctv.errors.DomainError`, which the app turns into
``{"code", "message"}`` JSON bodies. CORS,
preflights and the client-disconnect cancellation are the dispatcher's (``asgi.App``).
"""

from __future__ import annotations

from synctv.api.http.asgi import Request, Response, Route
from synctv.proxy.service import MediaProxy

# Request headers the proxy reads; everything else the client sends is ignored.
_READ_HEADERS = ("range", "if-none-match", "if-range")


def proxy_routes(service: MediaProxy) -> list[Route]:
    """The proxy's routes, to be mounted by the app."""

    async def proxy(request: Request) -> Response | None:
        headers = {
            name: value for name in _READ_HEADERS if (value := request.header(name)) is not None
        }
        await service.serve(
            request.path_params["token"],
            request.method,
            headers,
            request.send,
        )
        return None

    return [Route(("GET",), "/proxy/{token}", proxy, "proxy", streaming=True)]
