"""A DomainError reaches each client with its catalogue code and status: HTTP (our listener and
httpx), the management gRPC (grpclib client on the Unix socket) and the CLI (a real ``synctv``
process); an unexpected failure reaches them as ``internal_error`` without its text or a traceback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio
import trio_asyncio
from google.rpc.error_details_pb2 import ErrorInfo
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from synctv import errors
from synctv.api.grpc._gen.synctv.admin.v1 import admin_grpc, admin_pb2
from synctv.api.grpc.admin import AdminService, serve_admin
from synctv.api.grpc.socket_path import ADMIN_SOCKET_NAME
from synctv.api.grpc.status import error_code
from synctv.api.http.asgi import App, Request, Response, Route
from synctv.api.http.server import HttpListenerSettings, HttpServer
from synctv.errors import DomainError
from tests.support.cli import synctv as synctv_cli

GUARD = 30
SECRET = "hunter2-not-for-clients"


async def refused(request: Request) -> Response:
    raise DomainError(
        errors.STREAM_NOT_FOUND,
        "no such stream",
        {"stream_id": "abc", "known": False},
        headers=[("retry-after", "7")],
    )


async def crashes(request: Request) -> Response:
    raise RuntimeError(f"password={SECRET}")


@asynccontextmanager
async def http_server() -> AsyncIterator[str]:
    app = App(
        [
            Route(("GET",), "/refused", refused, "refused"),
            Route(("GET",), "/crash", crashes, "crash"),
        ],
        clock=trio.current_time,
    )
    settings = HttpListenerSettings("errors", "127.0.0.1", 0, 10, 10)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(HttpServer(app, settings).serve)
        yield binds[0]
        nursery.cancel_scope.cancel()


async def test_http_error_has_its_code_status_details_and_headers() -> None:
    with trio.fail_after(GUARD):
        async with http_server() as base, httpx.AsyncClient(base_url=base) as client:
            reply = await client.get("/refused")
            assert reply.status_code == errors.STREAM_NOT_FOUND.http_status == 404
            assert reply.headers["content-type"] == "application/json"
            assert reply.headers["retry-after"] == "7"
            assert reply.json() == {
                "code": "stream_not_found",
                "message": "no such stream",
                "details": {"stream_id": "abc", "known": False},
            }
            missing = await client.get("/nowhere")
            assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
            wrong = await client.post("/refused")
            assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")
            assert wrong.headers["allow"] == "GET, HEAD"


async def test_http_crash_is_internal_error_without_its_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with trio.fail_after(GUARD):
        async with http_server() as base, httpx.AsyncClient(base_url=base) as client:
            reply = await client.get("/crash")
    assert reply.status_code == 500
    assert reply.json() == {"code": "internal_error", "message": "internal error"}
    assert SECRET not in reply.text
    assert "Traceback" not in reply.text
    assert SECRET in caplog.text  # the operator still sees what happened


@asynccontextmanager
async def admin_server(tmp_path: Path, failure: Exception) -> AsyncIterator[Path]:
    async def status() -> admin_pb2.StatusResponse:
        raise failure

    async with trio_asyncio.open_loop(), trio.open_nursery() as nursery:
        socket_path = await nursery.start(
            serve_admin, tmp_path / ADMIN_SOCKET_NAME, [AdminService(status)]
        )
        yield socket_path
        nursery.cancel_scope.cancel()


async def grpc_status_call(socket_path: Path) -> GRPCError:
    async def run() -> GRPCError:
        channel = Channel(path=str(socket_path))
        try:
            await admin_grpc.AdminServiceStub(channel).Status(admin_pb2.StatusRequest())
        except GRPCError as exc:
            return exc
        finally:
            channel.close()
        raise AssertionError("the call succeeded")

    result: GRPCError = await trio_asyncio.aio_as_trio(run)()
    return result


async def test_grpc_error_has_its_code_status_and_details(tmp_path: Path) -> None:
    failure = DomainError(errors.PROVIDER_NAME_TAKEN, "a provider named 'tv' exists", {"n": 1})
    with trio.fail_after(GUARD):
        async with admin_server(tmp_path, failure) as socket_path:
            exc = await grpc_status_call(socket_path)
    assert exc.status is Status.ALREADY_EXISTS
    assert exc.status.value == errors.PROVIDER_NAME_TAKEN.grpc_status
    assert exc.message == "a provider named 'tv' exists"
    assert error_code(exc) == "provider_name_taken"
    [info] = [d for d in exc.details or () if isinstance(d, ErrorInfo)]
    assert (info.domain, dict(info.metadata)) == ("synctv", {"n": "1"})


async def test_grpc_crash_is_internal_error_without_its_text(tmp_path: Path) -> None:
    with trio.fail_after(GUARD):
        async with admin_server(tmp_path, RuntimeError(f"password={SECRET}")) as socket_path:
            exc = await grpc_status_call(socket_path)
    assert exc.status is Status.INTERNAL
    assert error_code(exc) == "internal_error"
    assert SECRET not in (exc.message or "")
    assert SECRET not in str(exc.details)


async def test_cli_prints_the_code_and_message_on_one_line(tmp_path: Path) -> None:
    failure = DomainError(errors.STREAM_NOT_FOUND, "no live stream with id 'abc'")
    with trio.fail_after(GUARD):
        async with admin_server(tmp_path, failure):
            code, out, err = await synctv_cli(tmp_path, "admin", "status", "--json")
    assert (code, out) == (1, "")
    assert err == "synctv: error: stream_not_found: no live stream with id 'abc'\n"


def test_error_body_is_the_json_the_http_layer_sends() -> None:
    # The listener's own refusal (written before any app runs) uses the same body.
    from synctv.api.http.server import _REFUSAL_BODY

    assert json.loads(_REFUSAL_BODY) == {
        "code": "too_many_connections",
        "message": "too many connections, retry later",
    }
