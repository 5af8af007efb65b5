"""The checks of ``synctv doctor``: plain async functions returning :class:`CheckResult`.

Each check answers one question users of watch-together servers keep asking in issue trackers
(OBS cannot reach the RTMP port, the push URL shows 127.0.0.1, WebSockets die behind a reverse
proxy, every client looks like the proxy, the clock is off, the disk is full) with OK / WARN /
FAIL and, when not OK, one line a newcomer can act on. They run from the server's machine with
the server's config: the ports come from the config (a port of 0 cannot be checked), the
database is reached the way the server reaches it, the public URL from outside the way a browser
does. Nothing here prints; :mod:`synctv.cli.doctor` renders the results.

They run inside ``trio_asyncio.open_loop()`` (asyncpg, grpclib and Redis live on asyncio).
"""

from __future__ import annotations

import enum
import json
import os
import pwd
import secrets
import shutil
import socket
import stat
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio
import trio_asyncio
import trio_websocket

from synctv.api.grpc.admin_live import LiveUrls
from synctv.api.grpc.socket_path import ADMIN_SOCKET_NAME
from synctv.api.http.routes.diagnostics import DIAGNOSTICS_PATH
from synctv.config import Config
from synctv.livestream.registry import NO_ROOM_APP
from synctv.rtmp.errors import RtmpProtocolError
from synctv.rtmp.handshake import HANDSHAKE_RANDOM_SIZE, ClientHandshake
from synctv.store import embedded_pg
from synctv.stun import message as stun
from synctv.stun.errors import StunError

# One check never waits longer than this (a firewall that drops packets answers with silence).
CHECK_TIMEOUT_SECONDS = 5.0
# A whole check (some make two or three exchanges) is cut off after this, and reported.
RUN_TIMEOUT_SECONDS = 3 * CHECK_TIMEOUT_SECONDS
# Clock skew between this machine and the database at or above this fails: sync positions and
# token expiry are computed from both clocks.
MAX_CLOCK_SKEW_SECONDS = 1.0
# Free space under data_dir (PostgreSQL, logs, secrets): PostgreSQL stops writing when the disk
# is full, so warn early and fail while there is still room to act.
DATA_DIR_WARN_FREE_BYTES = 2 * 1024**3
DATA_DIR_FAIL_FREE_BYTES = 512 * 1024**2
# HLS file storage: each live stream keeps hls_playlist_length segments of a few MB; below this
# a few streams at once can fill the disk.
HLS_WARN_FREE_BYTES = 2 * 1024**3
HLS_FAIL_FREE_BYTES = 256 * 1024**2
# Slice cache on disk: it fails when the disk cannot hold proxy_slice_cache.max_size_mb, and
# warns when less than this is left beside a full cache.
SLICE_CACHE_HEADROOM_BYTES = 1024**3
SECRET_NAMES = ("jwt_secret", "opaque_server_setup", "credential_encryption_key", "cluster_secret")
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0", "::", "[::]"})
# What a proxy must forward for WebSockets (nginx spelling; the fix users paste).
NGINX_UPGRADE_LINES = (
    "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
    'proxy_set_header Connection "upgrade";'
)


class Status(enum.IntEnum):
    """Ordered by severity; the exit status of ``synctv doctor`` is the worst one."""

    OK = 0
    WARN = 1
    FAIL = 2


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    message: str
    fix: str = ""
    # Values worth copying (the URLs to paste into OBS or a player), shown under the line.
    details: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "status": self.status.name.lower(),
            "message": self.message,
            "fix": self.fix or None,
        }
        if self.details:
            out["details"] = self.details
        return out


def ok(name: str, message: str, **details: str) -> CheckResult:
    return CheckResult(name, Status.OK, message, details=details)


def warn(name: str, message: str, fix: str, **details: str) -> CheckResult:
    return CheckResult(name, Status.WARN, message, fix, details)


def fail(name: str, message: str, fix: str, **details: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, message, fix, details)


def worst(results: Sequence[CheckResult]) -> Status:
    return max((r.status for r in results), default=Status.OK)


def connect_host(bind_host: str) -> str:
    """Where to reach a listener from this machine: a wildcard bind answers on loopback."""
    if bind_host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if bind_host in ("::", "[::]"):
        return "::1"
    return bind_host.strip("[]")


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _refused(exc: BaseException | None, depth: int = 0) -> bool:
    if exc is None or depth > 8:
        return False
    if isinstance(exc, ConnectionRefusedError):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_refused(inner, depth + 1) for inner in exc.exceptions)
    return _refused(exc.__cause__ or exc.__context__, depth + 1)


def _describe(exc: BaseException) -> str:
    # httpx and trio wrap the socket error ("all attempts to connect failed"): name the cause.
    if _refused(exc):
        return "connection refused (nothing listens there)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# -- ports ----------------------------------------------------------------------------------


async def check_http(config: Config) -> CheckResult:
    """The main port answers, and it is SyncTV that answers (the diagnostics route)."""
    name, key = "http", "server.port"
    host, port = connect_host(config.server.host), config.server.port
    if port == 0:
        return warn(name, f"{key} is 0 (ephemeral): cannot check it", f"set a fixed {key}")
    url = f"http://{_hostport(host, port)}{DIAGNOSTICS_PATH}"
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        return fail(
            name,
            f"nothing answers on {_hostport(host, port)} ({key}): {_describe(exc)}",
            "start the server (`synctv serve`) with this config, or fix " + key,
        )
    if _synctv_report(response) is None:
        return fail(
            name,
            f"{_hostport(host, port)} answers HTTP {response.status_code}, but not as SyncTV",
            f"another program uses this port: stop it or change {key}",
        )
    return ok(name, f"SyncTV answers on {_hostport(host, port)}")


def _synctv_report(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and body.get("server") == "synctv" else None


async def check_health(config: Config) -> CheckResult:
    """The health port's readiness, which names the failing part (database, schema, ...)."""
    name = "health"
    if not config.health.enabled:
        return ok(name, "health port disabled (health.enabled: false)")
    host, port = connect_host(config.health.host), config.health.port
    if port == 0:
        return warn(name, "health.port is 0 (ephemeral): cannot check it", "set a fixed port")
    url = f"http://{_hostport(host, port)}/health/ready"
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS) as client:
            response = await client.get(url)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return fail(
            name,
            f"no health answer on {_hostport(host, port)} (health.port): {_describe(exc)}",
            "start the server (`synctv serve`), or fix health.port",
        )
    if response.status_code == 200:
        return ok(name, f"ready ({_hostport(host, port)}/health/ready)")
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
        return _describe(exc)
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
    where = _hostport(host, port)
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
    public_where = _hostport(public.strip("[]"), port)
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
    where = _hostport(host, port)
    request = stun.StunMessage(
        stun.Method.BINDING, stun.MessageClass.REQUEST, secrets.token_bytes(12)
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    answer: stun.StunMessage | None = None
    with trio.socket.socket(family, socket.SOCK_DGRAM) as udp:
        try:
            await udp.connect((host, port))
            # UDP loses packets: ask up to three times within the check's time.
            for _ in range(3):
                await udp.send(bytes(request))
                with trio.move_on_after(CHECK_TIMEOUT_SECONDS / 3):
                    answer = stun.decode(await udp.recv(2048))
                if answer is not None:
                    break
        except (OSError, StunError) as exc:
            return fail(
                name,
                f"no STUN answer on udp {where} ({key}): {_describe(exc)}",
                "start the server, or fix webrtc.stun_port; voice needs this UDP port open",
            )
    mapped = answer.find(stun.XorMappedAddress) if answer is not None else None
    if answer is None or answer.transaction_id != request.transaction_id or mapped is None:
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
    where = _hostport(host, port)

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
            f"no gRPC health answer on {where} ({key}): {_describe(exc)}",
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


# -- what the world is told ------------------------------------------------------------------


def _is_local(host: str | None) -> bool:
    if not host:
        return True
    return host.lower() in _LOOPBACK_NAMES or host.startswith("127.")


def check_public_urls(config: Config) -> CheckResult:
    """The URLs viewers and streamers are shown: never 127.0.0.1 when the server is public."""
    name = "public urls"
    urls = LiveUrls(config)
    http, rtmp = urls.http_base(), urls.rtmp_base()
    details = {
        "web": http + "/",
        "OBS server": f"{rtmp}/{NO_ROOM_APP}",
        "OBS stream key": "the key from `synctv admin live create`",
        "HTTP-FLV": f"{http}/live/<stream-id>.flv",
        "HLS": f"{http}/live/<stream-id>/index.m3u8",
    }
    public = config.server.public_url
    listening_publicly = config.server.host in _WILDCARDS or not _is_local(config.server.host)
    if public is None:
        if listening_publicly:
            return warn(
                name,
                "server.public_url is not set: links are built from this machine's name",
                "set server.public_url to the address viewers open, e.g. https://tv.example.org",
                **details,
            )
        return ok(name, "listening on loopback only (no public URL needed)", **details)
    host = urlsplit(public).hostname
    if listening_publicly and _is_local(host):
        return warn(
            name,
            f"server.public_url {public} points at this machine only: others cannot open it",
            "set server.public_url to the address viewers open, e.g. https://tv.example.org",
            **details,
        )
    rtmp_host = urlsplit(rtmp).hostname
    if config.livestream.enabled and listening_publicly and _is_local(rtmp_host):
        return warn(
            name,
            f"the OBS server URL {rtmp} points at this machine only",
            "set livestream.rtmp_public_host to the host name OBS can reach",
            **details,
        )
    return ok(name, f"links use {http}", **details)


async def check_public_websocket(config: Config, public_url: str | None) -> list[CheckResult]:
    """A WebSocket upgrade through the public URL (the reverse proxy), then what the server saw
    of it: whether the proxy's ``X-Forwarded-For`` is trusted."""
    name = "websocket"
    base = public_url or config.server.public_url
    direct = False
    if base is None:
        host, port = connect_host(config.server.host), config.server.port
        if port == 0:
            return [warn(name, "server.port is 0 (ephemeral): cannot check it", "set a port")]
        base, direct = f"http://{_hostport(host, port)}", True
    parts = urlsplit(base.rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            fail(
                name,
                f"{base} is not an http:// or https:// URL",
                "give the address viewers open, e.g. --public-url https://tv.example.org",
            )
        ]
    http_url = base.rstrip("/") + DIAGNOSTICS_PATH
    ws_url = ("wss" if parts.scheme == "https" else "ws") + http_url[len(parts.scheme) :]
    report: dict[str, Any] | None = None
    failure: str | None = None
    try:
        with trio.fail_after(CHECK_TIMEOUT_SECONDS):
            async with trio_websocket.open_websocket_url(
                ws_url, connect_timeout=CHECK_TIMEOUT_SECONDS, disconnect_timeout=1
            ) as ws:
                report = json.loads(await ws.get_message())
    except trio_websocket.ConnectionRejected as exc:
        failure = f"rejected with HTTP {exc.status_code}"
    except (
        OSError,
        trio.TooSlowError,
        trio_websocket.HandshakeError,
        trio_websocket.ConnectionClosed,
        ValueError,
    ) as exc:
        failure = "no answer" if isinstance(exc, trio.TooSlowError) else _describe(exc)
    if report is not None and report.get("server") == "synctv":
        return [
            ok(
                name,
                f"WebSocket upgrade works at {ws_url}"
                + (" (direct: --public-url URL tests your proxy)" if direct else ""),
            ),
            _forwarding_result(config, report),
        ]
    # The upgrade failed: a plain GET tells a proxy that drops Upgrade from a wrong URL.
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS, verify=True) as client:
            plain = _synctv_report(await client.get(http_url))
    except httpx.HTTPError as exc:
        fix = (
            "start the server (`synctv serve`), or fix server.port"
            if direct
            else "check server.public_url / --public-url: host, port and scheme viewers use"
        )
        return [fail(name, f"nothing answers at {base}: {_describe(exc)}", fix)]
    if plain is not None:
        return [
            fail(
                name,
                f"WebSocket upgrade at {ws_url} fails: the proxy drops the Upgrade and "
                "Connection headers (the server got a plain request)",
                f"in the proxy's location block add: {NGINX_UPGRADE_LINES}",
            ),
            _forwarding_result(config, plain),
        ]
    return [
        fail(
            name,
            f"{base} does not reach SyncTV ({failure})",
            "check server.public_url / --public-url, and that the proxy passes every path "
            "to the server",
        )
    ]


def _forwarding_result(config: Config, report: dict[str, Any]) -> CheckResult:
    name = "forwarded address"
    headers = report.get("forwarding_headers") or []
    peer, client = report.get("peer"), report.get("client")
    if not headers:
        return ok(name, f"no proxy headers arrived; the server sees you as {client}")
    names = ", ".join(h.title() for h in headers)
    if not report.get("peer_trusted"):
        return warn(
            name,
            f"the proxy at {peer} sends {names}, but it is not in server.trusted_proxies: "
            f"every client looks like {peer} to logs, audit and rate limits",
            f'set server.trusted_proxies: ["{peer}"] (the proxy\'s address or network)',
        )
    return ok(name, f"{names} from {peer} is trusted; the server sees you as {client}")


# -- storage, database, secrets ----------------------------------------------------------------


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _free(path: Path) -> int:
    return shutil.disk_usage(_existing_ancestor(path)).free


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def check_disk(config: Config, free: Callable[[Path], int] = _free) -> list[CheckResult]:
    """Free space where the server writes, against the thresholds above (named in the line)."""
    out: list[CheckResult] = []
    places: list[tuple[str, Path, int, int, str]] = [
        ("disk: data_dir", config.data_dir, DATA_DIR_FAIL_FREE_BYTES, DATA_DIR_WARN_FREE_BYTES,
         "free space on that disk or move data_dir"),
    ]  # fmt: skip
    storage = config.livestream.hls_storage
    if config.livestream.enabled and config.livestream.hls_enabled and storage.backend == "file":
        places.append(
            ("disk: HLS", config.path(storage.dir), HLS_FAIL_FREE_BYTES, HLS_WARN_FREE_BYTES,
             "free space there, move livestream.hls_storage.dir, or use backend: memory")
        )  # fmt: skip
    cache = config.proxy_slice_cache
    if cache.enabled and cache.file_backend_enabled:
        need = cache.max_size_mb * 1024**2
        places.append(
            ("disk: slice cache", config.path(cache.dir), need, need + SLICE_CACHE_HEADROOM_BYTES,
             "free space, or lower proxy_slice_cache.max_size_mb")
        )  # fmt: skip
    for name, path, fail_below, warn_below, fix in places:
        try:
            available = free(path)
        except OSError as exc:
            out.append(fail(name, f"cannot read free space of {path}: {_describe(exc)}", fix))
            continue
        line = f"{_size(available)} free at {path}"
        if available < fail_below:
            out.append(fail(name, f"{line} (needs at least {_size(fail_below)})", fix))
        elif available < warn_below:
            out.append(warn(name, f"{line} (below the {_size(warn_below)} warning mark)", fix))
        else:
            out.append(ok(name, f"{line} (warns below {_size(warn_below)})"))
    return out


def check_embedded_data_dir(config: Config) -> CheckResult | None:
    """The embedded cluster's directory exists (or can be made) and its owner may write it."""
    if config.database.url is not None:
        return None
    name = "embedded postgres dir"
    pgdata = config.data_dir / "postgres"
    if not pgdata.exists():
        parent = _existing_ancestor(pgdata)
        if not parent.is_dir():
            return fail(name, f"cannot create {pgdata}: {parent} is not a directory",
                        "point data_dir at a directory (it is created when missing)")  # fmt: skip
        if os.access(parent, os.W_OK):
            return ok(name, f"{pgdata} will be created at first start")
        return fail(name, f"cannot create {pgdata}: {parent} is not writable",
                    f"make {parent} writable for the user that runs synctv")  # fmt: skip
    info = pgdata.stat()
    if os.geteuid() == 0:
        # As root the cluster belongs to a system user (embedded_pg.SYSTEM_USER).
        try:
            owner = pwd.getpwnam(embedded_pg.SYSTEM_USER).pw_uid
        except KeyError:
            owner = None
        if owner is not None and info.st_uid != owner:
            return fail(name, f"{pgdata} is not owned by {embedded_pg.SYSTEM_USER}",
                        f"chown -R {embedded_pg.SYSTEM_USER} {pgdata}")  # fmt: skip
        writable = bool(info.st_mode & stat.S_IWUSR)
    else:
        writable = os.access(pgdata, os.W_OK)
    if not writable:
        return fail(name, f"{pgdata} is not writable", f"chmod u+w {pgdata}")
    return ok(name, f"{pgdata} is writable")


async def check_database(config: Config) -> list[CheckResult]:
    """Reachable as the server reaches it; schema at this code's version; clocks agree."""
    from synctv.store.db import DatabaseUnavailable, open_database
    from synctv.store.migrations import latest_version, schema_version

    url = config.database.url
    embedded = url is None
    dsn = (
        url.get_secret_value()
        if url is not None
        else embedded_pg.client_dsn(config.data_dir / "postgres")
    )
    kind = "embedded PostgreSQL" if embedded else "database.url"
    try:
        with trio.fail_after(CHECK_TIMEOUT_SECONDS + 1):
            async with open_database(
                dsn, min_size=1, max_size=1, connect_timeout=CHECK_TIMEOUT_SECONDS
            ) as db:
                before = time.time()
                db_now = await db.fetchval("SELECT extract(epoch FROM clock_timestamp())::float8")
                after = time.time()
                version = await schema_version(db)
    except (DatabaseUnavailable, trio.TooSlowError, OSError) as exc:
        fix = (
            "the embedded database runs inside `synctv serve`: start the server"
            if embedded
            else "check database.url (host, port, user, password) and that PostgreSQL runs"
        )
        reason = "no answer" if isinstance(exc, trio.TooSlowError) else _scrub(str(exc), dsn)
        return [fail("database", f"cannot reach the {kind}: {reason}", fix)]
    out = [ok("database", f"{kind} answers")]
    expected = latest_version()
    if version == expected:
        out.append(ok("schema", f"schema version {version} (current)"))
    elif version is None or version < expected:
        found = "no schema yet" if version is None else f"schema version {version}"
        out.append(fail("schema", f"{found}, this SyncTV needs version {expected}",
                        "run `synctv migrate` (or restart `synctv serve`, which migrates)"))  # fmt: skip
    else:
        out.append(fail("schema", f"schema version {version} is newer than this SyncTV "
                        f"({expected})", "upgrade synctv to the release that migrated it"))  # fmt: skip
    # The database's clock read at the midpoint of the round trip.
    skew = float(db_now) - (before + after) / 2
    line = f"database clock is {abs(skew):.3f} s {'ahead' if skew > 0 else 'behind'}"
    if abs(skew) >= MAX_CLOCK_SKEW_SECONDS:
        out.append(fail("clock", f"{line} (limit {MAX_CLOCK_SKEW_SECONDS:g} s)",
                        "enable time sync (chrony or systemd-timesyncd) on both machines"))  # fmt: skip
    else:
        out.append(ok("clock", f"{line} (limit {MAX_CLOCK_SKEW_SECONDS:g} s)"))
    return out


def _scrub(text: str, dsn: str) -> str:
    """Never print the DSN (it may carry a password)."""
    return text.replace(dsn, "<database.url>").strip().splitlines()[0] if text.strip() else text


async def check_redis(config: Config) -> CheckResult | None:
    if config.redis.url is None:
        return None
    from synctv.state import StateUnavailable, open_state

    try:
        with trio.fail_after(CHECK_TIMEOUT_SECONDS + 1):
            async with open_state(config.redis) as state:
                await state.get("doctor-probe")
    except (StateUnavailable, trio.TooSlowError, OSError) as exc:
        reason = "no answer" if isinstance(exc, trio.TooSlowError) else str(exc)
        return fail("redis", f"Redis (redis.url) does not answer: {reason}",
                    "start redis-server, or fix redis.url")  # fmt: skip
    return ok("redis", "Redis (redis.url) answers")


def check_secrets(config: Config) -> list[CheckResult]:
    """Each secret configured, or kept in ``data_dir/secrets`` readable by its owner only."""
    directory = config.data_dir / "secrets"
    problems: list[CheckResult] = []
    configured, stored, pending = [], [], []
    for secret in SECRET_NAMES:
        if getattr(config.security, secret) is not None:
            configured.append(secret)
            continue
        if config.server.mode == "production":
            problems.append(fail("secrets", f"security.{secret} is not set (production mode "
                                 "generates nothing)", f"set security.{secret}_file to a file "
                                 "holding it (mode 0600)"))  # fmt: skip
            continue
        path = directory / secret
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            pending.append(secret)
            continue
        except OSError as exc:  # data_dir or secrets/ is not a directory, or is unreadable
            return [fail("secrets", f"cannot read {path}: {_describe(exc)}",
                         "check data_dir: it must be a directory synctv may write")]  # fmt: skip
        if mode & 0o077:
            problems.append(fail("secrets", f"{path} is readable by others "
                                 f"(mode {stat.S_IMODE(mode):04o})", f"chmod 600 {path}"))  # fmt: skip
            continue
        stored.append(secret)
    if directory.exists() and stat.S_IMODE(directory.stat().st_mode) & 0o077:
        problems.append(warn("secrets", f"{directory} is open to others",
                             f"chmod 700 {directory}"))  # fmt: skip
    if problems:
        return problems
    parts = []
    if configured:
        parts.append(f"{len(configured)} configured")
    if stored:
        parts.append(f"{len(stored)} in {directory} (mode 0600)")
    if pending:
        parts.append(f"{len(pending)} generated at first start")
    return [ok("secrets", "; ".join(parts))]


# -- all of them ----------------------------------------------------------------------------


async def run_checks(config: Config, public_url: str | None = None) -> list[CheckResult]:
    """Every check, concurrently; results in a fixed order (ports, URLs, database, storage).

    A check that raises or hangs becomes its own FAIL line: the doctor always finishes and
    reports everything else.
    """
    slots: list[list[CheckResult]] = []

    def later(name: str, check: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        slot: list[CheckResult] = []
        slots.append(slot)

        async def run() -> None:
            found: object = None
            with trio.move_on_after(RUN_TIMEOUT_SECONDS) as scope:
                try:
                    found = await check()
                except Exception as exc:
                    found = fail(name, f"the check itself failed: {_describe(exc)}",
                                 "this is a bug in synctv doctor: please report this line")  # fmt: skip
            if scope.cancelled_caught:
                found = fail(name, f"no result within {RUN_TIMEOUT_SECONDS:g} s",
                             "something on the way does not answer: a firewall, a stuck service")  # fmt: skip
            if isinstance(found, CheckResult):
                slot.append(found)
            elif isinstance(found, list):
                slot.extend(found)

        return run

    runs = [
        later("http", lambda: check_http(config)),
        later("health", lambda: check_health(config)),
        later("rtmp", lambda: check_rtmp(config)),
        later("stun", lambda: check_stun(config)),
        later("grpc", lambda: check_grpc(config)),
        later("management socket", lambda: check_management_socket(config)),
        later("public urls", lambda: _now(check_public_urls(config))),
        later("websocket", lambda: check_public_websocket(config, public_url)),
        later("database", lambda: check_database(config)),
        later("embedded postgres dir", lambda: _now(check_embedded_data_dir(config))),
        later("redis", lambda: check_redis(config)),
        later("disk", lambda: _now(check_disk(config))),
        later("secrets", lambda: _now(check_secrets(config))),
    ]
    async with trio.open_nursery() as nursery:
        for run in runs:
            nursery.start_soon(run)
    return [result for slot in slots for result in slot]


async def _now(value: object) -> object:
    return value
