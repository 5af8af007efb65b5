"""Does each configured port answer as SyncTV? HTTP, health, an RTMP handshake, a STUN
Binding, gRPC health, the management socket.

These connect to this machine's own listeners, so HTTP proxy environment variables are ignored.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import httpx
import trio
import trio_asyncio

from synctv.api.grpc.socket_path import ADMIN_SOCKET_NAME
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
from synctv.rtmp.errors import RtmpProtocolError
from synctv.rtmp.handshake import HANDSHAKE_RANDOM_SIZE, ClientHandshake
from synctv.stun.probe import probe


async def check_http(config: Config) -> CheckResult:
    """The main port answers, and it is SyncTV that answers (the diagnostics route)."""
    name, key = "http", "server.port"
    host, port = connect_host(config.server.host), config.server.port
    if port == 0:
        return warn(name, f"{key} is 0 (ephemeral): cannot check it", f"set a fixed {key}")
    url = f"http://{hostport(host, port)}{DIAGNOSTICS_PATH}"
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS, trust_env=False) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        return fail(
            name,
            f"nothing answers on {hostport(host, port)} ({key}): {describe(exc)}",
            "start the server (`synctv serve`) with this config, or fix " + key,
        )
    if synctv_report(response) is None:
        return fail(
            name,
            f"{hostport(host, port)} answers HTTP {response.status_code}, but not as SyncTV",
            f"another program uses this port: stop it or change {key}",
        )
    return ok(name, f"SyncTV answers on {hostport(host, port)}")


async def check_health(config: Config) -> CheckResult:
    """The health port's readiness, which names the failing part (database, schema, ...)."""
    name = "health"
    if not config.health.enabled:
        return ok(name, "health port disabled (health.enabled: false)")
    host, port = connect_host(config.health.host), config.health.port
    if port == 0:
        return warn(name, "health.port is 0 (ephemeral): cannot check it", "set a fixed port")
    url = f"http://{hostport(host, port)}/health/ready"
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS, trust_env=False) as client:
            response = await client.get(url)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return fail(
            name,
            f"no health answer on {hostport(host, port)} (health.port): {describe(exc)}",
            "start the server (`synctv serve`), or fix health.port",
        )
    if response.status_code == 200:
        return ok(name, f"ready ({hostport(host, port)}/health/ready)")
    checks = body.get("checks", {}) if isinstance(body, dict) else {}
    failing = [
        f"{key}: {value.get('detail')}"
        for key, value in checks.items()
        if isinstance(value, dict) and not value.get("ok")
    ]
    return fail(
        name,
        "server is not ready: " + ("; ".join(failing) or f"HTTP {response.status_code}"),
        "see the checks below and the server log (`synctv serve` output)",
    )


async def rtmp_handshake(host: str, port: int) -> str | None:
    """A real RTMP handshake (C0/C1 → S0/S1/S2 → C2), as OBS starts every push; None when it
    completed, else why not."""
    handshake = ClientHandshake(secrets.token_bytes(HANDSHAKE_RANDOM_SIZE))
    try:
        with trio.fail_after(CHECK_TIMEOUT_SECONDS):
            stream = await trio.open_tcp_stream(host, port)
            async with stream:
                await stream.send_all(handshake.data_to_send())
                while not handshake.done:
                    data = await stream.receive_some(65536)
                    if not data:
                        raise ConnectionResetError("closed during the handshake")
                    handshake.receive_data(data)
                await stream.send_all(handshake.data_to_send())
    except trio.TooSlowError:
        return f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except (OSError, RtmpProtocolError) as exc:
        return describe(exc)
    return None


async def check_rtmp(config: Config) -> list[CheckResult]:
    """The RTMP listener completes a handshake; and so does the host OBS is told to use, when
    a public one is configured (RTMP cannot pass an HTTP reverse proxy or CDN)."""
    name, key = "rtmp", "livestream.rtmp_port"
    live = config.livestream
    if not live.enabled:
        return [ok(name, "live streaming disabled (livestream.enabled: false)")]
    host, port = connect_host(live.rtmp_host), live.rtmp_port
    if port == 0:
        return [warn(name, f"{key} is 0 (ephemeral): cannot check it", f"set a fixed {key}")]
    where = hostport(host, port)
    problem = await rtmp_handshake(host, port)
    if problem is not None:
        return [
            fail(
                name,
                f"no RTMP handshake on {where} ({key}): {problem}",
                "start the server, or fix livestream.rtmp_port; OBS needs this TCP port open",
            )
        ]
    out = [ok(name, f"RTMP handshake completed on {where}")]
    public = live.rtmp_public_host or (
        urlsplit(config.server.public_url).hostname if config.server.public_url else None
    )
    if public is None or public.strip("[]") == host:
        return out
    public_where = hostport(public.strip("[]"), port)
    problem = await rtmp_handshake(public.strip("[]"), port)
    if problem is None:
        out.append(ok("rtmp (OBS URL)", f"RTMP handshake completed on {public_where}"))
    else:
        out.append(
            fail(
                "rtmp (OBS URL)",
                f"OBS cannot reach rtmp://{public_where}: {problem}",
                f"RTMP does not pass an HTTP proxy or CDN: open TCP {port} to this machine and "
                "set livestream.rtmp_public_host to a name that reaches it directly",
            )
        )
    return out


async def check_stun(config: Config) -> CheckResult:
    """A STUN Binding request over UDP, answered with our reflexive address."""
    name, key = "stun", "webrtc.stun_port"
    rtc = config.webrtc
    if not rtc.enable_builtin_stun:
        return ok(name, "built-in STUN disabled (webrtc.enable_builtin_stun: false)")
    host, port = connect_host(rtc.stun_host), rtc.stun_port
    if port == 0:
        return warn(name, f"{key} is 0 (ephemeral): cannot check it", f"set a fixed {key}")
    where = hostport(host, port)
    result = await probe(host, port, CHECK_TIMEOUT_SECONDS)
    if result.error is not None:
        return fail(
            name,
            f"no STUN answer on udp {where} ({key}): {describe(result.error)}",
            "start the server, or fix webrtc.stun_port; voice needs this UDP port open",
        )
    if not result.reachable:
        return fail(
            name,
            f"no STUN Binding answer on udp {where} ({key}) within {CHECK_TIMEOUT_SECONDS:g} s",
            "start the server, or fix webrtc.stun_port; voice needs this UDP port open",
        )
    return ok(name, f"STUN Binding answered on udp {where}")


async def check_grpc(config: Config) -> CheckResult:
    """The standard ``grpc.health.v1.Health/Check`` on the public gRPC port."""
    name, key = "grpc", "grpc.port"
    if not config.grpc.enabled:
        return ok(name, "public gRPC disabled (grpc.enabled: false)")
    host, port = connect_host(config.grpc.host), config.grpc.port
    if port == 0:
        return warn(name, f"{key} is 0 (ephemeral): cannot check it", f"set a fixed {key}")
    where = hostport(host, port)

    async def ask() -> int:
        from grpclib.client import Channel
        from grpclib.health.v1.health_grpc import HealthStub
        from grpclib.health.v1.health_pb2 import HealthCheckRequest

        channel = Channel(host, port)
        try:
            reply = await HealthStub(channel).Check(
                HealthCheckRequest(), timeout=CHECK_TIMEOUT_SECONDS
            )
            return int(reply.status)
        finally:
            channel.close()

    try:
        status = await trio_asyncio.aio_as_trio(ask)()
    except Exception as exc:  # grpclib raises GRPCError, OSError, StreamTerminatedError...
        return fail(
            name,
            f"no gRPC health answer on {where} ({key}): {describe(exc)}",
            "start the server, or fix grpc.port",
        )
    serving = 1  # grpc.health.v1.HealthCheckResponse.SERVING
    if status != serving:
        return fail(
            name,
            f"gRPC on {where} answers NOT_SERVING (the server is not ready)",
            "see the health check: the database or schema is the usual cause",
        )
    return ok(name, f"gRPC health SERVING on {where}")


async def check_management_socket(config: Config) -> CheckResult:
    """``synctv admin`` talks over ``data_dir/synctv.sock``: does the server answer there?"""
    name = "management socket"
    from synctv.cli.client import AdminUnavailable, status

    path = config.data_dir / ADMIN_SOCKET_NAME
    try:
        reply = await trio.to_thread.run_sync(status, path)
    except AdminUnavailable as exc:
        return fail(
            name,
            str(exc),
            "start the server with the same data_dir, and run doctor as a user who may open it",
        )
    return ok(name, f"answers at {path} (node {reply.node_id}, version {reply.version})")
