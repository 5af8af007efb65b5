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

import synctv
from synctv import errors
from synctv.api.http.asgi import Request as RawRequest
from synctv.api.http.asgi import Response, Route
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
    api.add_exception_handler(StarletteHTTPException, _http_exception)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(DomainError, _domain_error)
    return api


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


def _error_response(error: DomainError) -> JSONResponse:
    """The catalogue's body and status, as ``asgi.error_response`` sends them for raw routes."""
    return JSONResponse(error_body(error), error.error.http_status, dict(error.headers) or None)
