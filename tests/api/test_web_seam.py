"""The web seam against the real listener over sockets: one chain for raw media routes and the
FastAPI app alike (errors, limits, HEAD, 499, CORS, trusted proxies, request ids, timeouts,
WebSocket)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import trio
from fastapi import APIRouter
from fastapi import Request as ApiRequest
from prometheus_client import REGISTRY
from pydantic import BaseModel, Field
from trio_websocket import ConnectionClosed

from synctv.api.http.access import RequestRecord, log_and_count
from synctv.api.http.asgi import (
    DEFAULT_MAX_BODY_BYTES,
    Request,
    Response,
    Route,
    WebSocketRoute,
    json_response,
)
from synctv.api.http.server import HttpListenerSettings, HttpServer
from synctv.api.http.web import build_web_app
from synctv.api.http.websocket import WebSocket
from synctv.config import ServerConfig
from tests.support.websocket import ws_client

GUARD = 15
ALLOWED = "https://a.example"


class Seen:
    """What the test routes saw, and every finished request's record."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self.clients: list[str | None] = []
        self.started = trio.Event()
        self.cancelled = trio.Event()

    def observe(self, record: RequestRecord) -> None:
        self.records.append(record)
        log_and_count(record)

    async def settled(self, count: int) -> list[RequestRecord]:
        """The records once ``count`` requests ended (a record is written after the answer)."""
        with trio.fail_after(GUARD):
            while len(self.records) < count:  # noqa: ASYNC110 (no event to wait on)
                await trio.sleep(0.01)
        return self.records

    async def hold(self) -> None:
        """Wait for ever, noting the start and the cancellation."""
        self.started.set()
        try:
            await trio.sleep_forever()
        finally:
            self.cancelled.set()


async def exchange(base: str, head: bytes, body_chunks: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    """Send a request (head, then body chunks while the server still reads) on a socket of
    our own; the response head the server sent, or ``b""`` when it closed without one."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    received = b""
    with trio.fail_after(GUARD):
        async with await trio.open_tcp_stream(host, int(port)) as stream:

            async def read() -> None:
                nonlocal received
                while not _complete(received):
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        return
                    received += chunk

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                await stream.send_all(head)
                try:
                    for chunk in body_chunks:
                        if received:
                            break
                        await stream.send_all(chunk)
                except trio.BrokenResourceError:
                    pass  # the server answered and closed while we were still sending
    return received


def _complete(response: bytes) -> bool:
    """A whole response (head and a content-length body) is in."""
    head, found, body = response.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return True


async def rejected_upgrade(base: str, resource: str, **headers: str) -> int:
    """The HTTP status answering a WebSocket upgrade request (trio-websocket's own connect
    leaks its socket when refused, so these are sent by hand)."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head = (
        f"GET {resource} HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        f"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n{extra}\r\n"
    )
    answer = await exchange(base, head.encode())
    return int(answer.split(b" ", 2)[1])


def raw_routes(seen: Seen) -> list[Route]:
    async def media(request: Request) -> Response:
        seen.clients.append(request.client_host)
        return Response(200, b"media bytes", [("accept-ranges", "bytes")], "video/mp2t")

    async def echo(request: Request) -> Response:
        return json_response({"got": await request.json()})

    async def slow(request: Request) -> Response:
        await seen.hold()
        raise AssertionError

    async def stream(request: Request) -> None:
        await request.send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(3):
            await trio.sleep(0.4)
            await request.send({"type": "http.response.body", "body": b"x", "more_body": True})
        await request.send({"type": "http.response.body", "body": b""})

    return [
        Route(("GET",), "/live/{name}.ts", media, "test_media"),
        Route(("POST",), "/raw/echo", echo, "test_raw_echo"),
        Route(("GET",), "/raw/slow", slow, "test_raw_slow"),
        Route(("GET",), "/raw/stream", stream, "test_raw_stream", streaming=True),
    ]


class Note(BaseModel):
    text: str = Field(max_length=100)


def api_router(seen: Seen) -> APIRouter:
    router = APIRouter(prefix="/api/test", tags=["test"])

    @router.post("/notes")
    async def add_note(note: Note, request: ApiRequest) -> dict[str, Any]:
        assert request.client is not None
        return {"text": note.text, "client": request.client.host}

    @router.get("/notes")
    async def notes() -> dict[str, Any]:
        return {"notes": ["one"]}

    @router.get("/crash")
    async def crash() -> dict[str, Any]:
        raise RuntimeError("boom in a REST route: secret-detail-7")

    @router.get("/slow")
    async def slow() -> dict[str, Any]:
        await seen.hold()
        raise AssertionError

    return router


def websocket_routes(seen: Seen) -> list[WebSocketRoute]:
    async def echo(socket: WebSocket) -> None:
        await socket.accept()
        while True:
            message = await socket.receive()
            await socket.send(message)

    async def never_accepts(socket: WebSocket) -> None:
        await seen.hold()

    async def crashes(socket: WebSocket) -> None:
        await socket.accept()
        await socket.receive()
        raise RuntimeError("boom in a websocket handler")

    return [
        WebSocketRoute("/ws/echo", echo, "test_ws_echo"),
        WebSocketRoute("/ws/silent", never_accepts, "test_ws_silent"),
        WebSocketRoute("/ws/crash", crashes, "test_ws_crash"),
    ]


@asynccontextmanager
async def serving(seen: Seen, handshake_timeout: float = 10.0, **server: Any) -> AsyncIterator[str]:
    config = ServerConfig.model_validate({"cors_origins": [ALLOWED], **server})
    app = build_web_app(
        config,
        routes=raw_routes(seen),
        api_routers=[api_router(seen)],
        websocket_routes=websocket_routes(seen),
        observe=seen.observe,
        clock=trio.current_time,
    )
    app.policy = replace(app.policy, websocket_handshake_timeout_seconds=handshake_timeout)
    settings = HttpListenerSettings(
        "test", "127.0.0.1", 0, max_connections=100, max_connections_per_address=100
    )
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(HttpServer(app, settings).serve)
        yield binds[0]
        nursery.cancel_scope.cancel()


@pytest.fixture
async def seen() -> Seen:
    return Seen()


@pytest.fixture
async def base(seen: Seen) -> AsyncIterator[str]:
    async with serving(seen) as url:
        yield url


async def test_not_found_raw_and_api(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for path in ("/nothing", "/api/nothing", "/live/x.flv"):
            reply = await client.get(path)
            assert reply.status_code == 404, path
            assert reply.json()["code"] == "not_found", path
            assert reply.headers["vary"] == "Origin"


async def test_method_not_allowed_names_the_allowed_ones(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        raw = await client.post("/live/a.ts")
        assert (raw.status_code, raw.json()["code"]) == (405, "method_not_allowed")
        assert raw.headers["allow"] == "GET, HEAD"
        api = await client.delete("/api/test/notes")
        assert (api.status_code, api.json()["code"]) == (405, "method_not_allowed")
        assert set(api.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


@pytest.mark.parametrize("path", ["/raw/echo", "/api/test/notes"])
async def test_body_limit_413_with_and_without_content_length(base: str, path: str) -> None:
    size = DEFAULT_MAX_BODY_BYTES + 1
    declared = await exchange(
        base, f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {size}\r\n\r\n".encode()
    )
    assert declared.startswith(b"HTTP/1.1 413"), declared  # refused before reading the body
    chunk = b"x" * 65536
    chunked = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (size // len(chunk) + 2)
    streamed = await exchange(
        base,
        f"POST {path} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n".encode(),
        chunked,
    )
    assert streamed.startswith(b"HTTP/1.1 413"), streamed  # counted as it arrives
    for response in (declared, streamed):
        assert json.loads(response.partition(b"\r\n\r\n")[2])["code"] == "body_too_large"


async def test_invalid_json_is_400_and_invalid_fields_422(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for path in ("/raw/echo", "/api/test/notes"):
            reply = await client.post(
                path, content=b'{"text": ', headers={"content-type": "application/json"}
            )
            assert (reply.status_code, reply.json()["code"]) == (400, "invalid_json"), path
        invalid = await client.post("/api/test/notes", json={"text": "s3cret" * 100})
        assert invalid.status_code == 422
        body = invalid.json()
        assert body["code"] == "invalid_request"
        assert body["details"]["problems"][0]["loc"] == ["body", "text"]
        assert "s3cret" not in invalid.text  # the input is never echoed
        good = await client.post("/api/test/notes", json={"text": "hi"})
        assert good.status_code == 200
        assert good.json() == {"text": "hi", "client": "127.0.0.1"}


async def test_head_on_raw_and_api_routes(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        raw = await client.head("/live/a.ts")
        assert raw.status_code == 200
        assert raw.content == b""
        assert raw.headers["content-length"] == str(len(b"media bytes"))
        api = await client.head("/api/test/notes")
        assert api.status_code == 200
        assert api.content == b""
        assert "x-request-id" in api.headers


@pytest.mark.parametrize(
    ("path", "route"), [("/raw/slow", "test_raw_slow"), ("/api/test/slow", "api:/api/test/slow")]
)
async def test_client_disconnect_cancels_and_is_logged_as_499(
    seen: Seen, base: str, path: str, route: str, caplog: pytest.LogCaptureFixture
) -> None:
    labels = {"method": "GET", "route": route, "status": "499"}
    before = REGISTRY.get_sample_value("synctv_http_requests_total", labels) or 0.0
    caplog.set_level(logging.INFO, "synctv.access")
    port = int(base.rsplit(":", 1)[1])
    with trio.fail_after(GUARD):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(
            f"GET {path} HTTP/1.1\r\nhost: x\r\nx-request-id: gone-1\r\n\r\n".encode()
        )
        await seen.started.wait()
        await stream.aclose()
        await seen.cancelled.wait()  # the handler's work stopped with the client
    record = (await seen.settled(1))[-1]
    assert (record.status, record.route, record.request_id) == (499, route, "gone-1")
    after = REGISTRY.get_sample_value("synctv_http_requests_total", labels)
    assert after == before + 1
    logged = [r for r in caplog.records if r.name == "synctv.access"]
    assert logged[-1].status == 499  # type: ignore[attr-defined]
    assert logged[-1].request_id == "gone-1"  # type: ignore[attr-defined]


async def test_cors_one_policy_for_media_and_api(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for path in ("/live/a.ts", "/api/test/notes"):
            allowed = await client.get(path, headers={"origin": ALLOWED})
            assert allowed.headers["access-control-allow-origin"] == ALLOWED, path
            assert allowed.headers["vary"] == "Origin"
            assert "Content-Range" in allowed.headers["access-control-expose-headers"]
            for other in ("https://b.example", "http://a.example", "https://a.example:8443"):
                denied = await client.get(path, headers={"origin": other})
                assert denied.status_code == 200  # the browser, not us, withholds the body
                assert "access-control-allow-origin" not in denied.headers, (path, other)
                assert denied.headers["vary"] == "Origin"
            plain = await client.get(path)
            assert plain.headers["vary"] == "Origin"  # a cache must not reuse it across origins
            asked = {"origin": ALLOWED, "access-control-request-method": "POST"}
            preflight = await client.options(path, headers=asked)
            assert preflight.status_code == 204, path
            assert preflight.headers["access-control-allow-origin"] == ALLOWED
            assert "POST" in preflight.headers["access-control-allow-methods"]
            assert "Range" in preflight.headers["access-control-allow-headers"]
            assert preflight.headers["vary"] == "Origin"
            refused = await client.options(path, headers={**asked, "origin": "https://b.example"})
            assert (refused.status_code, refused.json()["code"]) == (403, "cors_origin_denied")
            assert "access-control-allow-origin" not in refused.headers
            assert refused.headers["vary"] == "Origin"


async def test_configured_origin_matches_scheme_host_and_port_exactly(seen: Seen) -> None:
    async with (
        serving(seen, cors_origins=["https://A.example:443", "http://b.example:8080"]) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        for origin, allowed in (
            ("https://a.example", True),
            ("https://b.example", False),
            ("http://b.example:8080", True),
            ("http://b.example", False),
        ):
            reply = await client.get("/live/a.ts", headers={"origin": origin})
            assert ("access-control-allow-origin" in reply.headers) is allowed, origin


async def test_forwarded_headers_are_believed_only_from_trusted_proxies(seen: Seen) -> None:
    spoofed = {
        "x-forwarded-for": "203.0.113.7",
        "forwarded": "for=198.51.100.9",
        "x-real-ip": "192.0.2.1",
    }
    async with (
        serving(seen, trusted_proxies=["10.0.0.0/8"]) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        await client.get("/live/a.ts", headers=spoofed)
        api = await client.post("/api/test/notes", json={"text": "x"}, headers=spoofed)
    assert seen.clients[-1] == "127.0.0.1"  # the peer is not trusted: the headers are ignored
    assert api.json()["client"] == "127.0.0.1"
    assert {r.client for r in await seen.settled(2)} == {"127.0.0.1"}
    seen.records.clear()
    async with (
        serving(seen, trusted_proxies=["127.0.0.0/8"]) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        await client.get("/live/a.ts", headers={"x-forwarded-for": "203.0.113.7, 127.0.0.2"})
        assert seen.clients[-1] == "203.0.113.7"  # the trusted hop 127.0.0.2 skipped
        api = await client.post("/api/test/notes", json={"text": "x"}, headers=spoofed)
        assert api.json()["client"] == "198.51.100.9"  # Forwarded wins over X-Forwarded-For
        await client.get("/live/a.ts", headers={"x-real-ip": "192.0.2.1"})
        assert seen.clients[-1] == "192.0.2.1"
    assert [r.client for r in await seen.settled(3)] == [
        "203.0.113.7",
        "198.51.100.9",
        "192.0.2.1",
    ]


async def test_request_id_echoed_generated_or_replaced(seen: Seen, base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        given = await client.get("/api/test/notes", headers={"x-request-id": "abc-123"})
        assert given.headers["x-request-id"] == "abc-123"
        made = await client.get("/live/a.ts")
        assert len(made.headers["x-request-id"]) == 16
        hostile = await client.get("/live/a.ts", headers={"x-request-id": "a b\tc" + "x" * 200})
        assert hostile.headers["x-request-id"] != "a b\tc" + "x" * 200
    assert [r.request_id for r in await seen.settled(3)] == [
        "abc-123",
        made.headers["x-request-id"],
        hostile.headers["x-request-id"],
    ]


async def test_request_timeout_for_non_streaming_routes_only(seen: Seen) -> None:
    async with (
        serving(seen, request_timeout_seconds=0.5) as url,
        httpx.AsyncClient(base_url=url, timeout=GUARD) as client,
    ):
        for path in ("/raw/slow", "/api/test/slow"):
            seen.cancelled = trio.Event()
            reply = await client.get(path)
            assert (reply.status_code, reply.json()["code"]) == (504, "request_timeout"), path
            assert seen.cancelled.is_set()
        streamed = await client.get("/raw/stream")  # 1.2 s of streaming: not cut at 0.5 s
        assert (streamed.status_code, streamed.content) == (200, b"xxx")


async def test_websocket_echo_size_limit_and_handshake_timeout(base: str) -> None:
    with trio.fail_after(GUARD):
        async with ws_client(base, "/ws/echo") as ws:
            await ws.send_message("hello")
            assert await ws.get_message() == "hello"
            await ws.send_message(b"\x00\x01")
            assert await ws.get_message() == b"\x00\x01"
            await ws.send_message(b"x" * (1024 * 1024 + 1))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
            assert closed.value.reason.code == 1009
        assert await rejected_upgrade(base, "/ws/nowhere") == 403
        assert await rejected_upgrade(base, "/ws/echo", origin="https://b.example") == 403
        async with ws_client(base, "/ws/echo", {"origin": ALLOWED}) as ws:
            await ws.send_message("allowed")
            assert await ws.get_message() == "allowed"


async def test_websocket_handshake_timeout(seen: Seen) -> None:
    async with serving(seen, handshake_timeout=0.5) as url:
        started = trio.current_time()
        with trio.fail_after(GUARD):
            assert await rejected_upgrade(url, "/ws/silent") == 403
        assert trio.current_time() - started >= 0.5
        assert seen.cancelled.is_set()  # the handler that never accepted was stopped
        assert (await seen.settled(1))[-1].status == 403


async def test_a_crashing_rest_route_answers_the_catalogue_body_and_is_logged(
    base: str, seen: Seen, caplog: pytest.LogCaptureFixture
) -> None:
    """Starlette's own answer to a crash is a plain-text 500; every refusal here is the
    catalogue's JSON, and the detail stays in the log (never in the body)."""
    async with httpx.AsyncClient(base_url=base) as client:
        got = await client.get("/api/test/crash")
        after = await client.get("/api/test/notes")  # the connection and server carry on
    assert got.status_code == 500
    assert got.json() == {"code": "internal_error", "message": "internal error"}
    assert "secret-detail-7" not in got.text
    assert "secret-detail-7" in caplog.text
    assert after.status_code == 200


async def test_a_crashing_websocket_handler_ends_only_its_connection(
    base: str, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(GUARD):
        async with ws_client(base, "/ws/crash") as ws:
            await ws.send_message("go")
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
            assert closed.value.reason.code == 1011
        assert any(
            "boom in a websocket handler" in r.getMessage() or r.exc_info for r in caplog.records
        )
        async with ws_client(base, "/ws/echo") as ws:  # the server goes on
            await ws.send_message("still here")
            assert await ws.get_message() == "still here"


async def test_openapi_document_lists_the_api_routes_only(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        document = (await client.get("/api/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {"/api/test/notes", "/api/test/crash", "/api/test/slow"}
    assert json.dumps(document).count("/live/") == 0
