"""The business REST API: a FastAPI application under ``/api``, behind the dispatcher's chain.

The dispatcher (:class:`synctv.api.http.asgi.App`) hands a request to this app only when no raw
media route took it, after the request id, client address, CORS, body limit, timeout and
disconnect handling were applied, so none of that is configured here. What is here: the route
groups (one ``APIRouter`` per domain, pydantic models in and out), the OpenAPI 3.1 document at
``/api/openapi.json``, Swagger UI at ``/api/docs`` served from vendored files (``static/``, the
docs work offline), and the mapping of framework errors onto our ``{"code", "message"}`` bodies
with stable codes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route as StarletteRoute

import synctv
from synctv import errors
from synctv.api.http.asgi import ASGIApp, Receive, Response, Route, Scope, Send
from synctv.api.http.asgi import Request as RawRequest
from synctv.api.http.principal import Authenticator
from synctv.errors import DomainError, JsonValue, error_body

API_TITLE = "SyncTV API"
OPENAPI_URL = "/api/openapi.json"
DOCS_URL = "/api/docs"
DOCS_ASSETS = "/api/docs/assets"
SWAGGER_UI_VERSION = "5.35.0"  # static/swagger-ui/README.md says how to update it

_STATIC = Path(__file__).resolve().parent / "static" / "swagger-ui"
_ASSET_TYPES = {
    "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
# Status codes the framework itself answers, as our stable codes.
_HTTP_CODES = {
    404: errors.NOT_FOUND,
    405: errors.METHOD_NOT_ALLOWED,
    413: errors.BODY_TOO_LARGE,
}


# FastAPI's own OpenTelemetry hooks: off. Nothing here configures an OpenTelemetry provider,
# and asking whether one is configured cost ~10 µs on every request.
_NO_TELEMETRY: Any = {"tracing": False, "metrics": False, "logs": False}


def build_rest_api(
    routers: Iterable[APIRouter], authenticator: Authenticator | None = None
) -> FastAPI:
    """The FastAPI app with these route groups, the OpenAPI document and the docs page, and
    ``authenticator`` installed for :mod:`synctv.api.http.principal` (none: every route that
    needs a caller refuses)."""
    api = FastAPI(
        title=API_TITLE,
        version=synctv.__version__,
        openapi_url=OPENAPI_URL,
        docs_url=None,  # our own page below: FastAPI's loads swagger-ui from a CDN
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        telemetry=_NO_TELEMETRY,
    )
    if authenticator is not None:
        api.state.authenticator = authenticator
    routers = list(routers)
    for router in routers:
        api.include_router(router)
    # Starlette's 405 names the methods of the first route on the path only: ours names all.
    api.state.methods_by_path = [
        (route.path_regex, frozenset(route.methods or ()))
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]

    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title=f"{API_TITLE} - Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css?v={SWAGGER_UI_VERSION}",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    api.add_api_route(DOCS_URL, docs, methods=["GET"], include_in_schema=False)
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = _with_our_error_body(generate())
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    _add_error_handlers(api)
    return api


def _add_error_handlers(api: FastAPI) -> None:
    api.add_exception_handler(StarletteHTTPException, _http_exception)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(DomainError, _domain_error)
    # Starlette would answer a crash with its own plain-text 500; ours is the catalogue's
    # ``internal_error`` body. The exception still propagates: the dispatcher logs it.
    api.add_exception_handler(Exception, _internal_error)


class IndexedRestApi:
    """The REST app behind a route index: what the dispatcher calls.

    FastAPI (0.165) keeps each included router as a node and finds a route by walking every
    route of every router before it, twice for the router that holds it (once to match, once
    to handle), saving and restoring scope keys at each step: ~0.1–0.2 ms of CPU per request for
    a route of a late group such as ``GET /api/rooms/{id}``. Here each route group is also
    included, alone, in a small FastAPI app of its own (same error handlers, the same ``state``
    object, so the same authenticator), and a flat list of every route's path pattern and
    methods, in FastAPI's order, picks the group of the first route that matches fully; only
    that group's app walks its few routes. FastAPI too takes the first full match in that
    order, so the same route answers. Anything the index does not match fully (a wrong method,
    an unknown path, the docs, the OpenAPI document) goes to the whole app, which answers as
    before (405 with every allowed method, 404, redirects).
    """

    def __init__(self, api: FastAPI, routers: Iterable[APIRouter]) -> None:
        self.api = api
        groups = {id(router): (router, self._group(api, router)) for router in routers}
        index: list[tuple[Any, frozenset[str], ASGIApp]] = []
        for node in api.router.routes:  # FastAPI's order: its own routes and the groups
            included = groups.get(id(getattr(node, "original_router", None)))
            if included is not None:
                router, group = included
                routes = [route for route in router.routes if isinstance(route, APIRoute)]
                if len(routes) != len(router.routes):
                    break  # another kind of route matches by its own rules
                index += [(r.path_regex, frozenset(r.methods or ()), group) for r in routes]
            elif isinstance(node, StarletteRoute) and node.methods:
                index.append((node.path_regex, frozenset(node.methods), api))
            else:
                break  # from here on the whole app decides, in its order
        self._index = index

    @staticmethod
    def _group(api: FastAPI, router: APIRouter) -> FastAPI:
        group = FastAPI(
            openapi_url=None,
            docs_url=None,
            redoc_url=None,
            swagger_ui_oauth2_redirect_url=None,
            telemetry=_NO_TELEMETRY,
        )
        group.state = api.state
        group.include_router(router)
        _add_error_handlers(group)
        return group

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            for pattern, methods, group in self._index:
                if method in methods and pattern.match(path) is not None:
                    await group(scope, receive, send)
                    return
        await self.api(scope, receive, send)


def build_indexed_rest_api(
    routers: Iterable[APIRouter], authenticator: Authenticator | None = None
) -> IndexedRestApi:
    """:func:`build_rest_api` behind its route index (see :class:`IndexedRestApi`)."""
    routers = list(routers)
    return IndexedRestApi(build_rest_api(routers, authenticator), routers)


class ErrorBody(BaseModel):
    """Every refusal: a stable ``code`` (``synctv.errors``) and a message for people."""

    code: str
    message: str
    details: dict[str, Any] | None = None


def _with_our_error_body(schema: dict[str, Any]) -> dict[str, Any]:
    """The document as generated, with FastAPI's validation error shape (``{"detail"}``)
    replaced by the body we actually send (``_validation_error``)."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    if schemas.pop("HTTPValidationError", None) is not None:
        schemas.pop("ValidationError", None)
    schemas["Error"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    text = json.dumps(schema).replace(
        '"#/components/schemas/HTTPValidationError"', '"#/components/schemas/Error"'
    )
    rewritten: dict[str, Any] = json.loads(text)
    return rewritten


def docs_asset_routes() -> list[Route]:
    """Raw routes for the vendored swagger-ui files (read once, kept in memory)."""

    async def asset(request: RawRequest) -> Response:
        name = request.path_params["name"]
        content_type = _ASSET_TYPES.get(name)
        if content_type is None:
            raise DomainError(errors.NOT_FOUND, f"no asset {name}")
        headers = [("cache-control", "public, max-age=86400")]
        return Response(200, _asset(name), headers, content_type)

    return [Route(("GET",), f"{DOCS_ASSETS}/{{name}}", asset, "api_docs_asset")]


@cache
def _asset(name: str) -> bytes:
    return (_STATIC / name).read_bytes()


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, errors.INVALID_REQUEST)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers = {"allow": ", ".join(sorted(_methods_on_path(request)))}
    body = error_body(DomainError(code, str(exc.detail)))
    return JSONResponse(body, exc.status_code, headers or None)


def _methods_on_path(request: Request) -> set[str]:
    methods: set[str] = set()
    path = request.scope["path"]
    for pattern, route_methods in request.app.state.methods_by_path:
        if pattern.match(path):
            methods |= route_methods
    if "GET" in methods:
        methods.add("HEAD")  # the dispatcher answers HEAD for every GET route
    return methods


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return _error_response(DomainError(errors.INVALID_JSON, "request body is not valid JSON"))
    # Where and what, never the input itself (it may hold a password).
    details: list[JsonValue] = [
        {
            "loc": list(problem.get("loc", ())),
            "type": problem.get("type"),
            "msg": problem.get("msg"),
        }
        for problem in problems
    ]
    return _error_response(
        DomainError(errors.INVALID_REQUEST, "invalid request", {"problems": details})
    )


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return _error_response(exc)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    return _error_response(DomainError(errors.INTERNAL_ERROR, "internal error"))


def _error_response(error: DomainError) -> JSONResponse:
    """The catalogue's body and status, as ``asgi.error_response`` sends them for raw routes."""
    return JSONResponse(error_body(error), error.error.http_status, dict(error.headers) or None)
