"""`synctv doctor` against real peers: a running `synctv serve`, a real nginx in front of it
(with and without the WebSocket upgrade headers), trusted and untrusted X-Forwarded-For, a
wrong public URL, closed ports; the JSON shape and the exit status (0 ok, 1 warn, 2 fail)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio_asyncio
import yaml

from synctv.cli.doctor_checks.database import check_database, check_redis
from synctv.cli.doctor_checks.result import Status
from synctv.config import Config
from tests.support.postgres import RunningPostgres

pytestmark = pytest.mark.slow

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
UPGRADE_LINES = """
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
"""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """Distinct ports free for TCP and UDP both (STUN binds both on one port)."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            tcp = socket.socket()
            held.append(tcp)
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(udp)
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SYNCTV_")}


def server_yaml(data_dir: Path, **overrides: dict[str, Any]) -> dict[str, Any]:
    http, health, metrics, grpc, rtmp, stun = free_ports(6)
    config: dict[str, Any] = {
        "data_dir": str(data_dir),
        "server": {"host": "127.0.0.1", "port": http, "shutdown_drain_timeout_seconds": 1},
        "health": {"host": "127.0.0.1", "port": health},
        "metrics": {"host": "127.0.0.1", "port": metrics},
        "grpc": {"host": "127.0.0.1", "port": grpc},
        "livestream": {"rtmp_host": "127.0.0.1", "rtmp_port": rtmp},
        "webrtc": {"stun_host": "127.0.0.1", "stun_port": stun},
    }
    for section, values in overrides.items():
        config[section] = {**config.get(section, {}), **values}
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


class Server:
    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        self.config = config
        self.path = write_config(directory / "synctv.yaml", config)
        self.log = directory / "serve.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "synctv", "serve", "--config", str(self.path)],
                env=environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        ready = f"http://127.0.0.1:{config['health']['port']}/health/ready"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(ready, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail("server not ready within 90 s")

    @property
    def port(self) -> int:
        return int(self.config["server"]["port"])

    def variant(self, directory: Path, name: str, **overrides: dict[str, Any]) -> Path:
        """The same server's config with some keys changed (what doctor is told, not the server)."""
        config = {k: dict(v) if isinstance(v, dict) else v for k, v in self.config.items()}
        for section, values in overrides.items():
            config[section] = {**config.get(section, {}), **values}
        return write_config(directory / name, config)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def module_dir() -> Iterator[Path]:
    # Outside pytest's tmp_path: the embedded PostgreSQL runs as its own user when we are root.
    directory = Path(tempfile.mkdtemp(prefix="synctv-doctor-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def server(module_dir: Path) -> Iterator[Server]:
    """On embedded PostgreSQL (the default), trusting no proxy."""
    directory = module_dir / "plain"
    directory.mkdir()
    running = Server(directory, server_yaml(directory / "data"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def trusting_server(module_dir: Path, postgres: RunningPostgres) -> Iterator[Server]:
    """On an external database (database.url), trusting the loopback proxy."""
    directory = module_dir / "trusting"
    directory.mkdir()
    dsn = postgres.create_database()
    config = server_yaml(
        directory / "data", server={"trusted_proxies": ["127.0.0.1/32"]}, database={"url": dsn}
    )
    running = Server(directory, config)
    yield running
    running.stop()
    postgres.drop_database(dsn)


class Nginx:
    def __init__(self, directory: Path, upstream: int, *, upgrade: bool) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "tmp").mkdir(exist_ok=True)
        self.port = free_port()
        temp = directory / "tmp"
        conf = directory / "nginx.conf"
        conf.write_text(
            f"""
error_log {directory}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {temp}; proxy_temp_path {temp}; fastcgi_temp_path {temp};
  uwsgi_temp_path {temp}; scgi_temp_path {temp};
  server {{
    listen 127.0.0.1:{self.port};
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      {UPGRADE_LINES if upgrade else ""}
    }}
  }}
}}
"""
        )
        self.process = subprocess.Popen(
            [NGINX, "-p", str(directory), "-e", str(directory / "error.log"), "-c", str(conf),
             "-g", f"daemon off; pid {directory}/nginx.pid;"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.communicate()[0]
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        pytest.fail("nginx did not listen within 10 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def nginx_factory(tmp_path: Path) -> Iterator[Any]:
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    started: list[Nginx] = []

    def start(upstream: int, *, upgrade: bool) -> Nginx:
        proxy = Nginx(tmp_path / f"nginx{len(started)}", upstream, upgrade=upgrade)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def doctor(config: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "synctv", "doctor", "--config", str(config), "--json", *extra],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


def test_all_ok_against_a_running_server(server: Server) -> None:
    status, report = doctor(server.path)
    checks = by_name(report)
    assert {n: c["status"] for n, c in checks.items() if c["status"] != "ok"} == {}
    assert status == 0
    assert report["status"] == "ok"
    for name in ("http", "health", "rtmp", "stun", "grpc", "management socket", "public urls",
                 "websocket", "forwarded address", "database", "schema", "clock",
                 "embedded postgres dir", "disk: data_dir", "secrets"):  # fmt: skip
        assert name in checks, name
    urls = checks["public urls"]["details"]
    assert urls["OBS server"] == f"rtmp://127.0.0.1:{server.config['livestream']['rtmp_port']}/live"
    assert urls["HLS"] == f"http://127.0.0.1:{server.port}/live/<stream-id>/index.m3u8"
    assert urls["HTTP-FLV"] == f"http://127.0.0.1:{server.port}/live/<stream-id>.flv"


def test_json_shape(server: Server) -> None:
    _, report = doctor(server.path)
    assert set(report) == {"status", "checks"}
    for check in report["checks"]:
        assert set(check) - {"details"} == {"name", "status", "message", "fix"}
        assert check["status"] in ("ok", "warn", "fail")
        assert isinstance(check["message"], str)
        assert check["message"]
        assert (check["fix"] is None) == (check["status"] == "ok")


def moving(message: str) -> str:
    """A message with what moves between two runs masked: the clock's reading, free space."""
    if message.startswith("database clock"):
        return "database clock"
    return re.sub(r"[0-9.]+", "N", message)


def test_human_output_is_aligned_and_ends_with_a_summary(server: Server) -> None:
    _, report = doctor(server.path)
    result = subprocess.run(
        [sys.executable, "-m", "synctv", "doctor", "--config", str(server.path)],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    checks = [line for line in lines if line[:4] in ("OK  ", "WARN", "FAIL")]
    assert len(checks) == len(report["checks"])
    # "OK    name...  message": every message starts in the same column.
    column = 6 + max(len(check["name"]) for check in report["checks"]) + 2
    for line, check in zip(checks, report["checks"], strict=True):
        assert line[6:].startswith(check["name"])
        assert line[column - 2 : column] == "  "
        # The same message, but for figures that move between the two runs (clock, free disk).
        assert moving(line[column:]) == moving(check["message"])
    assert lines[-1] == f"{len(checks)} ok"


def test_a_wrong_public_url_is_reported(server: Server, tmp_path: Path) -> None:
    closed = free_port()
    status, report = doctor(server.path, "--public-url", f"http://127.0.0.1:{closed}")
    websocket = by_name(report)["websocket"]
    assert status == 2
    assert websocket["status"] == "fail"
    assert f"127.0.0.1:{closed}" in websocket["message"]
    assert "refused" in websocket["message"]
    assert "public_url" in websocket["fix"]
    # The same mistake made in the config file: server.public_url on the wrong port.
    wrong = server.variant(
        tmp_path, "wrong.yaml", server={"public_url": f"http://127.0.0.1:{closed}"}
    )
    status, report = doctor(wrong)
    assert status == 2
    assert by_name(report)["websocket"]["status"] == "fail"


def test_a_public_url_of_another_web_server_is_reported(server: Server, tmp_path: Path) -> None:
    # The health port answers HTTP but is not the main port: "does not reach SyncTV".
    other = f"http://127.0.0.1:{server.config['health']['port']}"
    status, report = doctor(server.path, "--public-url", other)
    websocket = by_name(report)["websocket"]
    assert status == 2
    assert websocket["status"] == "fail"
    assert "does not reach SyncTV" in websocket["message"]


def test_nginx_with_the_upgrade_headers(server: Server, nginx_factory: Any) -> None:
    proxy = nginx_factory(server.port, upgrade=True)
    status, report = doctor(server.path, "--public-url", proxy.url)
    checks = by_name(report)
    assert checks["websocket"]["status"] == "ok", checks["websocket"]
    # nginx sends X-Forwarded-For; this server trusts no proxy: a warning naming the fix.
    forwarded = checks["forwarded address"]
    assert forwarded["status"] == "warn", forwarded
    assert "X-Forwarded-For" in forwarded["message"]
    assert "127.0.0.1" in forwarded["message"]
    assert 'server.trusted_proxies: ["127.0.0.1"]' in forwarded["fix"]
    # The links still show the server's own address: set the one just tested.
    urls = checks["public urls"]
    assert urls["status"] == "warn"
    assert urls["fix"] == f"set server.public_url: {proxy.url}"
    assert status == 1
    assert report["status"] == "warn"


def test_nginx_without_the_upgrade_headers(server: Server, nginx_factory: Any) -> None:
    proxy = nginx_factory(server.port, upgrade=False)
    status, report = doctor(server.path, "--public-url", proxy.url)
    websocket = by_name(report)["websocket"]
    assert status == 2
    assert websocket["status"] == "fail", websocket
    assert "drops the Upgrade" in websocket["message"]
    for line in (
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        'proxy_set_header Connection "upgrade";',
    ):
        assert line in websocket["fix"]


def test_nginx_in_front_of_nothing(server: Server, nginx_factory: Any) -> None:
    proxy = nginx_factory(free_port(), upgrade=True)  # its upstream port is closed: 502
    status, report = doctor(server.path, "--public-url", proxy.url)
    websocket = by_name(report)["websocket"]
    assert status == 2
    assert websocket["message"] == f"{proxy.url} does not reach SyncTV (rejected with HTTP 502)"
    assert websocket["fix"].startswith("the proxy cannot reach SyncTV")


def test_nginx_in_front_of_a_server_that_trusts_it(
    trusting_server: Server, nginx_factory: Any, tmp_path: Path
) -> None:
    proxy = nginx_factory(trusting_server.port, upgrade=True)
    # Set up as it should be: server.public_url is the proxy's address (doctor tests it).
    configured = trusting_server.variant(tmp_path, "proxied.yaml", server={"public_url": proxy.url})
    status, report = doctor(configured)
    checks = by_name(report)
    assert checks["public urls"]["status"] == "ok", checks["public urls"]
    assert checks["public urls"]["details"]["HLS"] == f"{proxy.url}/live/<stream-id>/index.m3u8"
    assert checks["websocket"]["status"] == "ok"
    forwarded = checks["forwarded address"]
    assert forwarded["status"] == "ok", forwarded
    assert "is trusted" in forwarded["message"]
    # An external database: no embedded data dir to check; the rest all OK.
    assert "embedded postgres dir" not in checks
    assert checks["database"]["message"] == "database.url answers"
    assert status == 0, [c for c in report["checks"] if c["status"] != "ok"]


def test_closed_ports_fail(server: Server, tmp_path: Path) -> None:
    closed = server.variant(
        tmp_path,
        "closed.yaml",
        livestream={"rtmp_port": free_port()},
        grpc={"port": free_port()},
        webrtc={"stun_port": free_port(socket.SOCK_DGRAM)},
    )
    status, report = doctor(closed)
    checks = by_name(report)
    assert status == 2
    for name in ("rtmp", "grpc", "stun"):
        assert checks[name]["status"] == "fail", checks[name]
        assert checks[name]["fix"]
    assert "refused" in checks["rtmp"]["message"]
    assert checks["http"]["status"] == "ok"


def test_nothing_running(tmp_path: Path) -> None:
    config = write_config(tmp_path / "idle.yaml", server_yaml(tmp_path / "data"))
    status, report = doctor(config)
    checks = by_name(report)
    assert status == 2
    for name in ("http", "health", "rtmp", "grpc", "management socket", "database", "websocket"):
        assert checks[name]["status"] == "fail", checks[name]
    assert "synctv serve" in checks["database"]["fix"]


def run_check(check: Any, *args: Any) -> Any:
    async def main() -> Any:
        async with trio_asyncio.open_loop():
            return await check(*args)

    return trio.run(main)


def test_redis_reachable_and_not(tmp_path: Path, redis_url: str) -> None:
    reachable = Config.model_validate({"data_dir": tmp_path, "redis": {"url": redis_url}})
    result = run_check(check_redis, reachable)
    assert result.status is Status.OK
    closed = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"
    down = Config.model_validate({"data_dir": tmp_path, "redis": {"url": closed}})
    result = run_check(check_redis, down)
    assert result.status is Status.FAIL
    assert "redis.url" in result.fix
    assert "s3cret-pw" not in result.message
    assert run_check(check_redis, Config.model_validate({"data_dir": tmp_path})) is None


def test_schema_behind_and_database_down(tmp_path: Path, fresh_dsn: str) -> None:
    empty = Config.model_validate({"data_dir": tmp_path, "database": {"url": fresh_dsn}})
    checks = {r.name: r for r in run_check(check_database, empty)}
    assert checks["database"].status is Status.OK
    assert checks["schema"].status is Status.FAIL
    assert checks["schema"].message.startswith("no schema yet, this SyncTV needs version")
    assert "synctv migrate" in checks["schema"].fix
    assert checks["clock"].status is Status.OK
    password_url = f"postgresql://doctor:s3cret-pw@127.0.0.1:{free_port()}/x"
    down = Config.model_validate({"data_dir": tmp_path, "database": {"url": password_url}})
    (result,) = run_check(check_database, down)
    assert result.status is Status.FAIL
    assert result.message.startswith("cannot reach the database.url")
    assert "s3cret-pw" not in result.message


def test_the_obs_url_host_is_tried(server: Server, tmp_path: Path) -> None:
    # 127.0.0.2 is this machine too, but the RTMP listener is bound to 127.0.0.1 only: OBS,
    # told to use it, could not connect (the "OBS cannot connect to the server" issues).
    wrong = server.variant(tmp_path, "obs-wrong.yaml", livestream={"rtmp_public_host": "127.0.0.2"})
    status, report = doctor(wrong)
    obs = by_name(report)["rtmp (OBS URL)"]
    assert status == 2
    assert obs["status"] == "fail", obs
    assert f"rtmp://127.0.0.2:{server.config['livestream']['rtmp_port']}" in obs["message"]
    assert "livestream.rtmp_public_host" in obs["fix"]
    right = server.variant(tmp_path, "obs-right.yaml", livestream={"rtmp_public_host": "localhost"})
    status, report = doctor(right)
    assert by_name(report)["rtmp (OBS URL)"]["status"] == "ok"
    assert status == 0


VANISHING_CLIENTS = int(os.environ.get("DOCTOR_VANISHING_CLIENTS", "10"))


def test_clients_that_vanish_leave_the_diagnostics_route_answering(server: Server) -> None:
    """Per-connection work is contained, and none of it counts as a crash: not these clients
    (reset mid-request, or right after the upgrade), nor any doctor run of this module on the
    same server (a WebSocket client closing as the server closes raced hypercorn's EOF)."""
    request = (
        f"GET /ws/diagnostics HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ).encode()
    for cut in (0, 20, len(request)):  # mid-request, and after the upgrade before reading
        for _ in range(VANISHING_CLIENTS):
            with socket.create_connection(("127.0.0.1", server.port)) as raw:
                raw.sendall(request[: cut or 1])
                raw.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
    status, report = doctor(server.path)
    assert by_name(report)["websocket"]["status"] == "ok"
    assert status == 0
    metrics = httpx.get(f"http://127.0.0.1:{server.config['metrics']['port']}/metrics").text
    crashes = [
        line for line in metrics.splitlines() if line.startswith("synctv_task_crashes_total{")
    ]
    assert all(line.endswith(" 0.0") for line in crashes), server.log.read_text()[-4000:]
