"""The REST API on the real server tree: /api/openapi.json is a valid OpenAPI 3.1 document, the
docs page and its assets are served locally, and API routes pass through the web seam."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from tests.support.server import running_server, server_config, url

pytestmark = pytest.mark.slow


async def test_openapi_document_is_valid_3_1_and_docs_are_local(
    tmp_path: Path, fresh_dsn: str
) -> None:
    config = server_config(
        tmp_path / "data",
        fresh_dsn,
        server={"cors_origins": ["https://app.example"], "trusted_proxies": ["127.0.0.1/32"]},
    )
    async with running_server(config) as server, httpx.AsyncClient() as client:
        reply = await client.get(url(server.addresses.http, "/api/openapi.json"))
        assert reply.status_code == 200
        document = reply.json()
        assert document["openapi"].startswith("3.1.")
        validate(document)  # raises on any violation of the 3.1 schema
        assert "/api/webrtc/ice-servers" in document["paths"]
        assert {"/api/public/settings", "/api/admin/settings/{key}"} <= set(document["paths"])
        public = await client.get(url(server.addresses.http, "/api/public/settings"))
        assert public.json()["server.name"] == "SyncTV"
        admin = await client.get(url(server.addresses.http, "/api/admin/settings"))
        assert admin.status_code == 401  # no authenticator until identity lands
        assert set(document["components"]["schemas"]) >= {"IceServersModel", "IceServerModel"}

        broken = {**document, "paths": {"no-leading-slash": {}}}
        with pytest.raises(OpenAPIValidationError):
            validate(broken)  # the validator does refuse a bad document

        ice = await client.get(
            url(server.addresses.http, "/api/webrtc/ice-servers"),
            headers={"origin": "https://app.example", "x-forwarded-for": "198.51.100.4"},
        )
        assert ice.status_code == 200
        assert ice.headers["cache-control"] == "no-store"
        assert ice.headers["access-control-allow-origin"] == "https://app.example"
        assert ice.headers["vary"] == "Origin"
        assert len(ice.headers["x-request-id"]) == 16
        assert isinstance(ice.json()["ice_servers"], list)

        docs = await client.get(url(server.addresses.http, "/api/docs"))
        assert docs.status_code == 200
        assert "<title>SyncTV API - Swagger UI</title>" in docs.text
        assert "cdn." not in docs.text  # nothing loaded from outside
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
            got = await client.get(url(server.addresses.http, f"/api/docs/assets/{asset}"))
            assert got.status_code == 200, asset
            assert len(got.content) > 500, asset
        unknown = await client.get(url(server.addresses.http, "/api/docs/assets/../../app.py"))
        assert unknown.status_code == 404
