"""The whole tree in-process: readiness, admin socket, metrics, drain, request cancellation."""

from __future__ import annotations

import gc
import logging
import os
import signal
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from synctv.api.http.asgi import Request, Response, Route, json_response
from synctv.app import Services, serve
from synctv.cli import client as admin_client
from tests.support.postgres import start_postgres
from tests.support.server import running_server, server_config, url

pytestmark = pytest.mark.slow


async def test_ready_admin_status_and_metrics(tmp_path: Path, fresh_dsn: str) -> None:
    config = server_config(tmp_path / "data", fresh_dsn)
    async with running_server(config) as server, httpx.AsyncClient() as client:
        live = await client.get(url(server.addresses.health, "/health/live"))
        assert live.status_code == 200
        ready = await client.get(url(server.addresses.health, "/health/ready"))
        assert ready.status_code == 200
        assert ready.json()["checks"]["database"]["ok"] is True
        assert ready.json()["checks"]["migrations"]["ok"] is True

        missing = await client.get(url(server.addresses.http, "/live/no/such/route"))
        assert missing.status_code == 404
        assert missing.json()["code"] == "not_found"
        page = await client.get(url(server.addresses.http, "/rooms/anything"))  # the web client's
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"

        status = await trio.to_thread.run_sync(admin_client.status, server.addresses.admin_socket)
        assert status.ready
        assert status.database_status == "ok"
        assert status.database_kind == "external"
        assert status.node_id.startswith("node-")
        assert status.schema_version == status.expected_schema_version > 0
        assert server.addresses.admin_socket.stat().st_mode & 0o777 == 0o600

        text = (await client.get(url(server.addresses.metrics, "/metrics"))).text
        assert 'synctv_http_requests_total{method="GET",route="unmatched",status="404"}' in text
        assert "synctv_http_request_duration_seconds_bucket" in text
        assert "synctv_db_pool_connections" in text
        assert "process_resident_memory_bytes" in text


def signal_cluster(postmaster: int, signum: int) -> None:
    """Signal the postmaster and every backend (each backend is a process group of its own)."""
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            pids.append(int(stat.parent.name))
    for pid in pids:
        os.kill(pid, signum)


async def test_the_start_up_heap_is_frozen_once_ready(tmp_path: Path, fresh_dsn: str) -> None:
    """Full collections skip what start-up built: during a join storm of hundreds of viewers
    they otherwise rescan it, a pause of tens of milliseconds every viewer waits through."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        async with running_server(server_config(tmp_path / "data", fresh_dsn)):
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


async def test_readiness_answers_at_once_while_the_database_hangs(scratch_dir: Path) -> None:
    """PostgreSQL stopped with SIGSTOP (a hung database, not a refusing one): every probe
    answers within an orchestrator's 1 s timeout, and turns 503 while the database hangs.
    Before, the first probe took 19 s."""
    pg = await trio.to_thread.run_sync(start_postgres, scratch_dir / "pg-hang")
    assert pg.process is not None
    postmaster = pg.process.pid
    try:
        config = server_config(scratch_dir / "data-hang", pg.dsn)
        async with running_server(config) as server, httpx.AsyncClient(timeout=1.0) as client:
            ready_url = url(server.addresses.health, "/health/ready")
            assert (await client.get(ready_url)).status_code == 200
            signal_cluster(postmaster, signal.SIGSTOP)
            try:
                statuses = []
                for _ in range(10):
                    began = trio.current_time()
                    answer = await client.get(ready_url)  # raises past 1 s
                    assert trio.current_time() - began < 1.0
                    statuses.append(answer.status_code)
                    await trio.sleep(0.5)
                assert statuses[-3:] == [503, 503, 503], statuses
                assert answer.json()["checks"]["database"]["ok"] is False
            finally:
                signal_cluster(postmaster, signal.SIGCONT)
            with trio.fail_after(15):
                while (await client.get(ready_url)).status_code != 200:  # noqa: ASYNC110
                    await trio.sleep(0.1)
    finally:
        await trio.to_thread.run_sync(pg.stop)


async def test_readiness_follows_the_database(
    scratch_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="synctv.store.db")
    pg = await trio.to_thread.run_sync(start_postgres, scratch_dir / "pg")
    try:
        config = server_config(scratch_dir / "data", pg.dsn)
        async with running_server(config) as server, httpx.AsyncClient() as client:
            ready_url = url(server.addresses.health, "/health/ready")
            assert (await client.get(ready_url)).status_code == 200

            await trio.to_thread.run_sync(pg.stop)
            # Readiness answers from a result refreshed in the background every second.
            with trio.fail_after(5):
                while (await client.get(ready_url)).status_code != 503:  # noqa: ASYNC110
                    await trio.sleep(0.1)
            for _ in range(3):
                down = await client.get(ready_url)
                assert down.status_code == 503
                assert down.json()["checks"]["database"]["ok"] is False

            await trio.to_thread.run_sync(pg.start)
            with trio.fail_after(10):
                # Polling: the condition lives in another process.
                while (await client.get(ready_url)).status_code != 200:  # noqa: ASYNC110
                    await trio.sleep(0.1)
    finally:
        await trio.to_thread.run_sync(pg.stop)
    # One line per change of state, not one per failed probe.
    changes = [r.getMessage() for r in caplog.records if r.name == "synctv.store.db"]
    assert len(changes) == 2, changes
    assert changes[0].startswith("database down: ")
    assert "\n" not in changes[0]
    assert changes[1] == "database up again"


def slow_stream_route(chunks_sent: list[int]) -> Route:
    async def stream(request: Request) -> None:
        await request.send({"type": "http.response.start", "status": 200, "headers": []})
        for index in range(1000):
            await request.send({"type": "http.response.body", "body": b"x" * 10, "more_body": True})
            chunks_sent.append(index)
            await trio.sleep(0.05)

    return Route(("GET",), "/test/stream", stream, "test_stream")


async def stun_answers(port: int, timeout: float = 0.3) -> bool:
    """Whether a STUN Binding request to 127.0.0.1:port (UDP) gets a reply within ``timeout``."""
    from aioice import stun as aioice_stun

    request = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
    with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
        await sock.bind(("127.0.0.1", 0))
        await sock.sendto(bytes(request), ("127.0.0.1", port))
        with trio.move_on_after(timeout):
            try:
                await sock.recvfrom(2048)
            except ConnectionRefusedError:  # the port is closed (ICMP port unreachable)
                return False
            return True
    return False


async def test_graceful_shutdown_drains_long_responses_then_cuts_them(
    tmp_path: Path, fresh_dsn: str
) -> None:
    chunks: list[int] = []
    config = server_config(
        tmp_path / "data", fresh_dsn, server={"shutdown_drain_timeout_seconds": 1.0}
    )
    async with trio.open_nursery() as nursery:
        controller = await nursery.start(
            partial(
                serve,
                config,
                extra_routes=lambda _services: [slow_stream_route(chunks)],
                handle_signals=False,
            )
        )
        async with httpx.AsyncClient() as client:
            stream_url = url(controller.addresses.http, "/test/stream")
            assert controller.addresses.stun is not None
            assert await stun_answers(controller.addresses.stun.port, timeout=5) is True
            rtmp_port = controller.addresses.rtmp[0][1]
            rtmp_session = await trio.open_tcp_stream("127.0.0.1", rtmp_port)
            async with client.stream("GET", stream_url) as response:
                iterator = response.aiter_raw()
                await iterator.__anext__()
                shutdown_at = trio.current_time()
                controller.shutdown()
                # Readiness flips at once, while the health port keeps answering.
                ready = await client.get(url(controller.addresses.health, "/health/ready"))
                assert ready.status_code == 503
                assert ready.json()["checks"]["shutdown"]["ok"] is False
                # STUN stops at once: nothing of it is worth a drain.
                assert controller.addresses.stun is not None
                assert await stun_answers(controller.addresses.stun.port) is False
                with pytest.raises(OSError):
                    await trio.open_tcp_stream("127.0.0.1", controller.addresses.stun.port)
                # RTMP stops accepting at once too; its open session is left to drain.
                await trio.testing.wait_all_tasks_blocked()
                with pytest.raises(OSError):
                    await trio.open_tcp_stream("127.0.0.1", rtmp_port)
                # The open response keeps flowing during the drain ...
                sent_at_shutdown = len(chunks)
                with pytest.raises(httpx.HTTPError):
                    async for _ in iterator:
                        pass
                cut_after = trio.current_time() - shutdown_at
            with trio.fail_after(3):  # the RTMP session lasted the drain, then was closed
                assert await rtmp_session.receive_some() == b""
            rtmp_cut_after = trio.current_time() - shutdown_at
            await rtmp_session.aclose()
            # ... new connections are refused ...
            with pytest.raises(httpx.ConnectError):
                await client.get(stream_url)
    # ... the open one was cut at the drain deadline, and serve() has returned.
    assert 0.8 <= cut_after <= 3.0
    assert 0.8 <= rtmp_cut_after <= 3.5
    assert len(chunks) > sent_at_shutdown + 5
    assert trio.current_time() - shutdown_at < 5.0


def db_routes(services: Services) -> list[Route]:
    async def sleep(request: Request) -> Response:
        await services.db.fetchval("SELECT pg_sleep(30)")
        return json_response({"slept": True})

    async def active(request: Request) -> Response:
        count = await services.db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' "
            "AND state = 'active' AND pid <> pg_backend_pid()"
        )
        return json_response({"active": count})

    return [
        Route(("GET",), "/test/sleep", sleep, "test_sleep"),
        Route(("GET",), "/test/active", active, "test_active"),
    ]


async def test_cancelled_request_cancels_its_database_query(tmp_path: Path, fresh_dsn: str) -> None:
    config = server_config(tmp_path / "data", fresh_dsn)
    async with running_server(config, db_routes) as server, httpx.AsyncClient() as client:
        active_url = url(server.addresses.http, "/test/active")
        with pytest.raises(httpx.ReadTimeout):
            await client.get(url(server.addresses.http, "/test/sleep"), timeout=1.0)
        with trio.fail_after(5):
            # Polling: the condition lives in the database server.
            while (await client.get(active_url)).json()["active"] != 0:  # noqa: ASYNC110
                await trio.sleep(0.05)
        # The pool is healthy afterwards.
        assert (await client.get(active_url)).json() == {"active": 0}


async def test_redis_backed_state_joins_readiness(
    tmp_path: Path, fresh_dsn: str, redis_url: str
) -> None:
    config = server_config(tmp_path / "data", fresh_dsn, redis={"url": redis_url})
    async with running_server(config) as server, httpx.AsyncClient() as client:
        ready = await client.get(url(server.addresses.health, "/health/ready"))
        assert ready.status_code == 200
        assert ready.json()["checks"]["redis"] == {"ok": True, "detail": "ok"}
        status = await trio.to_thread.run_sync(admin_client.status, server.addresses.admin_socket)
        assert status.state_backend == "redis"


async def test_stun_is_served_and_advertised(tmp_path: Path, fresh_dsn: str) -> None:
    from aioice import stun as aioice_stun

    config = server_config(tmp_path / "data", fresh_dsn, webrtc={"public_host": "stun.example.org"})
    async with running_server(config) as server, httpx.AsyncClient() as client:
        assert server.addresses.stun is not None
        port = server.addresses.stun.port
        listing = await client.get(url(server.addresses.http, "/api/webrtc/ice-servers"))
        assert listing.status_code == 200
        assert listing.json()["ice_servers"][0]["urls"] == [f"stun:stun.example.org:{port}"]

        request = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with sock:
            await sock.bind(("127.0.0.1", 0))
            await sock.sendto(bytes(request), ("127.0.0.1", port))
            with trio.fail_after(5):
                data, _ = await sock.recvfrom(2048)
            reply = aioice_stun.parse_message(data)
            assert reply.attributes["XOR-MAPPED-ADDRESS"] == sock.getsockname()

        text = (await client.get(url(server.addresses.metrics, "/metrics"))).text
        assert "synctv_stun_requests_total 1.0" in text
        assert 'synctv_stun_drops_total{reason="malformed"} 0.0' in text


async def test_media_proxy_is_wired_end_to_end(tmp_path: Path, fresh_dsn: str) -> None:
    """Operator adds a provider with the real CLI; the printed proxy URL plays a Range."""
    import json
    import os
    import subprocess
    import sys

    from tests.proxy.upstream_server import Obj, UpstreamServer

    payload = bytes(range(256)) * 4096  # 1 MiB
    upstream = UpstreamServer(objects={"/movie.mp4": Obj(payload)})
    config = server_config(tmp_path / "data", fresh_dsn)

    def cli(*args: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCTV_")}
        env["SYNCTV_DATA_DIR"] = str(config.data_dir)
        done = subprocess.run(
            [sys.executable, "-m", "synctv", "admin", "provider", *args],
            capture_output=True, text=True, env=env, timeout=30, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    async with trio.open_nursery() as nursery:
        await nursery.start(upstream.serve)
        async with running_server(config) as server, httpx.AsyncClient() as client:
            await trio.to_thread.run_sync(
                cli, "add", "direct", "nas", "--lan-service", "--options",
                json.dumps({"lan_hosts": [upstream.host]}),
            )  # fmt: skip
            out = await trio.to_thread.run_sync(cli, "resolve", "nas", f"{upstream.base}/movie.mp4")
            proxy_url = next(
                line.split(":", 1)[1].strip()
                for line in out.splitlines()
                if line.startswith("Proxy URL")
            )
            assert proxy_url.startswith(server.addresses.http[0].replace("0.0.0.0", "127.0.0.1"))
            first = await client.get(proxy_url, headers={"range": "bytes=100-199"})
            assert first.status_code == 206
            assert first.headers["content-range"] == f"bytes 100-199/{len(payload)}"
            # The seam's CORS reaches the proxy too (it never sent Vary: Origin before).
            assert first.headers["vary"] == "Origin"
            assert "Content-Range" in first.headers["access-control-expose-headers"]
            assert first.content == payload[100:200]
            tampered = proxy_url[:-2] + ("A" if proxy_url[-2] != "A" else "B") + proxy_url[-1]
            refused = await client.get(tampered)
            assert refused.status_code in (400, 403)
            # A LAN instance's own host is allowed, but never this server's own listeners.
            health = url(server.addresses.health, "/health/live").replace("0.0.0.0", "127.0.0.1")
            own = await trio.to_thread.run_sync(cli, "resolve", "nas", health)
            own_url = next(
                line.split(":", 1)[1].strip()
                for line in own.splitlines()
                if line.startswith("Proxy URL")
            )
            to_self = await client.get(own_url)
            assert to_self.status_code == 403, to_self.text
            assert to_self.json()["code"] == "upstream_address_refused"
            assert "health" not in to_self.text
            assert "127.0.0.1" not in to_self.text
            text = (await client.get(url(server.addresses.metrics, "/metrics"))).text
            assert 'synctv_http_requests_total{method="GET",route="proxy",status="206"}' in text
        nursery.cancel_scope.cancel()


async def test_a_data_dir_too_long_for_a_unix_socket_gets_a_short_admin_socket(
    scratch_dir: Path, fresh_dsn: str
) -> None:
    import os
    import subprocess
    import sys

    data = scratch_dir / ("d" * 100)
    pointer = data / "synctv.sock"
    config = server_config(data, fresh_dsn)
    async with running_server(config) as server:
        bound = server.addresses.admin_socket
        assert len(str(pointer)) > 107 >= len(str(bound))
        assert pointer.is_symlink()
        assert pointer.readlink() == bound
        assert bound.stat().st_mode & 0o777 == 0o600
        assert bound.parent.stat().st_mode & 0o777 == 0o700
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCTV_")}
        env["SYNCTV_DATA_DIR"] = str(data)
        status = partial(
            subprocess.run,
            [sys.executable, "-m", "synctv", "admin", "status"],
            env=env, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        done = await trio.to_thread.run_sync(status)
        assert done.returncode == 0, done.stderr
        assert "ready:     yes" in done.stdout
    assert not pointer.exists()
    assert not pointer.is_symlink()
    assert not bound.parent.exists()  # the private directory went with the socket


async def test_a_second_server_on_the_same_data_dir_is_refused(
    tmp_path: Path, fresh_dsn: str
) -> None:
    import os

    from synctv.app import DataDirInUse

    config = server_config(tmp_path / "data", fresh_dsn)
    async with running_server(config):
        with pytest.raises(ExceptionGroup) as info:
            await serve(config, handle_signals=False)
        (refusal,) = info.value.exceptions
        assert isinstance(refusal, DataDirInUse)
        assert str(refusal) == (
            f"another synctv is running with data_dir {config.data_dir} (pid {os.getpid()})"
        )
