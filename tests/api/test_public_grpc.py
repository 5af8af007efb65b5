"""The public gRPC listener, seen by Google's grpcio client: health follows readiness and the
drain; reflection only when enabled."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import trio
from grpclib.health.v1 import health_pb2
from grpclib.reflection.v1 import reflection_pb2

from synctv.app import Controller
from tests.support.server import running_server, server_config, url

pytestmark = pytest.mark.slow

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_WATCH = "/grpc.health.v1.Health/Watch"
REFLECTION = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def target(controller: Controller) -> str:
    host, port = controller.addresses.grpc[0]
    return f"{host}:{port}"


def health_check(address: str, service: str = "") -> int:
    """One ``Health/Check`` over a new grpcio channel (as an orchestrator's probe does)."""
    with grpc.insecure_channel(address) as channel:
        check = channel.unary_unary(
            HEALTH_CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        reply = check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return int(reply.status)


def list_services(address: str) -> list[str]:
    with grpc.insecure_channel(address) as channel:
        info = channel.stream_stream(
            REFLECTION,
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )

        def requests() -> Iterator[reflection_pb2.ServerReflectionRequest]:
            yield reflection_pb2.ServerReflectionRequest(list_services="")

        replies = list(info(requests(), timeout=5))
        return [s.name for s in replies[0].list_services_response.service]


async def test_health_serving_when_ready_and_not_serving_during_the_drain(
    tmp_path: Path, fresh_dsn: str
) -> None:
    config = server_config(
        tmp_path / "data", fresh_dsn, server={"shutdown_drain_timeout_seconds": 3.0}
    )
    async with running_server(config) as server:
        address = target(server)
        assert server.addresses.grpc[0][1] != 0
        assert await trio.to_thread.run_sync(health_check, address) == SERVING

        # Reflection is off by default: the method does not exist.
        with pytest.raises(grpc.RpcError) as refused:
            await trio.to_thread.run_sync(list_services, address)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        # A service the server does not have is not "serving".
        with pytest.raises(grpc.RpcError) as unknown:
            await trio.to_thread.run_sync(health_check, address, "no.such.Service")
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

        # An open RTMP connection keeps the drain going for up to 3 s.
        rtmp = await trio.open_tcp_stream("127.0.0.1", server.addresses.rtmp[0][1])
        began = trio.current_time()
        server.shutdown()
        assert await trio.to_thread.run_sync(health_check, address) == NOT_SERVING
        async with httpx.AsyncClient() as client:  # the drain is still under way
            ready = await client.get(url(server.addresses.health, "/health/ready"))
        assert ready.status_code == 503
        assert trio.current_time() - began < 2.5
        await rtmp.aclose()


async def test_health_watch_sees_the_shutdown(tmp_path: Path, fresh_dsn: str) -> None:
    config = server_config(
        tmp_path / "data", fresh_dsn, server={"shutdown_drain_timeout_seconds": 3.0}
    )
    async with running_server(config) as server:
        address = target(server)
        seen: list[int] = []
        first = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def watch() -> None:
            with grpc.insecure_channel(address) as channel:
                stream = channel.unary_stream(
                    HEALTH_WATCH,
                    request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                    response_deserializer=health_pb2.HealthCheckResponse.FromString,
                )
                for reply in stream(health_pb2.HealthCheckRequest(service=""), timeout=10):
                    seen.append(int(reply.status))
                    trio.from_thread.run_sync(first.set, trio_token=token)
                    if reply.status == NOT_SERVING:
                        return

        rtmp = await trio.open_tcp_stream("127.0.0.1", server.addresses.rtmp[0][1])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, watch)
            with trio.fail_after(5):
                await first.wait()
            server.shutdown()
        assert seen == [SERVING, NOT_SERVING]
        await rtmp.aclose()


async def test_reflection_when_enabled(tmp_path: Path, fresh_dsn: str) -> None:
    config = server_config(tmp_path / "data", fresh_dsn, grpc={"enable_reflection": True})
    async with running_server(config) as server:
        services = await trio.to_thread.run_sync(list_services, target(server))
    assert "grpc.health.v1.Health" in services


async def test_grpc_disabled_binds_nothing(tmp_path: Path, fresh_dsn: str) -> None:
    config = server_config(tmp_path / "data", fresh_dsn, grpc={"enabled": False})
    async with running_server(config) as server:
        assert server.addresses.grpc == []


async def test_garbage_from_a_client_leaves_the_listener_serving(
    tmp_path: Path, fresh_dsn: str
) -> None:
    """Not HTTP/2, a preface then nonsense, a connection dropped mid-frame: each ends only
    that connection."""
    config = server_config(tmp_path / "data", fresh_dsn)
    async with running_server(config) as server:
        host, port = server.addresses.grpc[0]
        for payload in (
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 64,
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04",
        ):
            stream = await trio.open_tcp_stream(host, port)
            await stream.send_all(payload)
            with trio.move_on_after(1):
                await stream.receive_some()
            await stream.aclose()
        assert await trio.to_thread.run_sync(health_check, target(server)) == SERVING


async def test_a_crashed_listener_is_restarted(
    tmp_path: Path, fresh_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gRPC listener runs under ``restarting``: a crash is logged, counted, and the
    listener serves again on its port; the process goes on."""
    from synctv import metrics
    from synctv.api.grpc import public

    original = public._push_readiness_changes
    crashes: list[int] = []

    async def crash_once(*args: object) -> None:
        if not crashes:
            crashes.append(1)
            await trio.sleep(0.2)
            raise RuntimeError("planted crash")
        await original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(public, "_push_readiness_changes", crash_once)
    with socket.socket() as probe:  # a fixed port, so the restarted listener is found again
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = server_config(tmp_path / "data", fresh_dsn, grpc={"port": port})
    before = metrics.TASK_CRASHES.labels("grpc_listener")._value.get()
    async with running_server(config) as server:
        with trio.fail_after(10):
            while metrics.TASK_CRASHES.labels("grpc_listener")._value.get() == before:  # noqa: ASYNC110
                await trio.sleep(0.05)
            while True:
                try:
                    status = await trio.to_thread.run_sync(health_check, f"127.0.0.1:{port}")
                    break
                except grpc.RpcError:
                    await trio.sleep(0.1)
        assert status == SERVING
        async with httpx.AsyncClient() as client:  # the rest of the process never noticed
            ready = await client.get(url(server.addresses.health, "/health/ready"))
        assert ready.status_code == 200
