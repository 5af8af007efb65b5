"""`synctv serve` as a real process on embedded defaults: ready, admin status, signals, restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCTV_")}
    env.update(
        {
            "SYNCTV_DATA_DIR": str(data_dir),
            "SYNCTV_SERVER_HOST": "127.0.0.1",
            "SYNCTV_SERVER_PORT": str(free_port()),
            "SYNCTV_HEALTH_HOST": "127.0.0.1",
            "SYNCTV_HEALTH_PORT": str(free_port()),
            "SYNCTV_METRICS_HOST": "127.0.0.1",
            "SYNCTV_METRICS_PORT": str(free_port()),
            "SYNCTV_GRPC_PORT": "0",
            "SYNCTV_LIVESTREAM_RTMP_HOST": "127.0.0.1",
            "SYNCTV_LIVESTREAM_RTMP_PORT": "0",
            "SYNCTV_WEBRTC_STUN_HOST": "127.0.0.1",
            "SYNCTV_WEBRTC_STUN_PORT": "0",
            "SYNCTV_SERVER_SHUTDOWN_DRAIN_TIMEOUT_SECONDS": "2",
        }
    )
    return env


def start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "synctv", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_ready(env: dict[str, str], process: subprocess.Popen[str], limit: float) -> float:
    began = time.monotonic()
    ready_url = f"http://127.0.0.1:{env['SYNCTV_HEALTH_PORT']}/health/ready"
    while time.monotonic() - began < limit:
        assert process.poll() is None, process.communicate()[0]
        try:
            if httpx.get(ready_url, timeout=1).status_code == 200:
                return time.monotonic() - began
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"not ready within {limit} s: {process.communicate()[0]}")


def admin_status(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "synctv", "admin", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


def stop(process: subprocess.Popen[str], signum: int) -> tuple[int, float, str]:
    began = time.monotonic()
    process.send_signal(signum)
    output, _ = process.communicate(timeout=30)
    return process.returncode, time.monotonic() - began, output


def test_serve_on_embedded_defaults_survives_restart(tmp_path: Path) -> None:
    env = environment(tmp_path / "data")
    first = start(env)
    first_ready = wait_ready(env, first, limit=60)
    status = admin_status(env)
    assert "ready:     yes" in status
    assert "embedded" in status
    node_line = next(line for line in status.splitlines() if line.startswith("node id"))
    code, took, output = stop(first, signal.SIGINT)
    assert code == 0, output
    assert took < 2 + 5
    assert "Traceback" not in output
    secrets_before = sorted(p.read_text() for p in (tmp_path / "data" / "secrets").iterdir())

    second = start({**env, "SYNCTV_LOG_FORMAT": "json"})
    assert wait_ready(env, second, limit=10) < 10
    assert node_line in admin_status(env)  # same node, same data
    code, _, output = stop(second, signal.SIGTERM)
    assert code == 0, output
    secrets_after = sorted(p.read_text() for p in (tmp_path / "data" / "secrets").iterdir())
    assert secrets_after == secrets_before
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(r["msg"].startswith("SyncTV") and r["level"] == "info" for r in records)
    assert any(r.get("route") == "health_ready" and r.get("status") == 200 for r in records)
    for secret in secrets_before:  # no log line ever carries a secret
        assert secret.strip() not in output
    assert not (tmp_path / "data" / "synctv.sock").exists()
    assert first_ready < 60


def create_live_stream(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "synctv", "admin", "live", "create", "--json"],
        env=env, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return str(json.loads(result.stdout)["stream"]["stream_id"])


def hold_open(url: str, results: list[str]) -> None:
    """A viewer waiting for a publisher: a long-lived response the drain must respect."""
    try:
        with httpx.stream("GET", url, timeout=60) as response:
            results.append(f"status {response.status_code}")
            for _ in response.iter_raw():
                pass
        results.append("closed")
    except httpx.HTTPError as exc:
        results.append(type(exc).__name__)


@pytest.mark.parametrize("signals", [1, 2], ids=["drain", "second-signal"])
def test_signals_drain_long_requests_and_a_second_signal_stops_at_once(
    tmp_path: Path, signals: int
) -> None:
    env = environment(tmp_path / "data")
    env["SYNCTV_LIVESTREAM_FLV_WAIT_FOR_PUBLISHER_SECONDS"] = "60"
    env["SYNCTV_SERVER_SHUTDOWN_DRAIN_TIMEOUT_SECONDS"] = "3" if signals == 1 else "60"
    process = start(env)
    wait_ready(env, process, limit=60)
    stream_id = create_live_stream(env)
    viewer: list[str] = []
    flv_url = f"http://127.0.0.1:{env['SYNCTV_SERVER_PORT']}/live/{stream_id}.flv"
    thread = threading.Thread(target=hold_open, args=(flv_url, viewer))
    thread.start()
    time.sleep(0.5)  # the request is in, waiting for a publisher
    began = time.monotonic()
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert process.poll() is None  # draining: the open request is given time
    ready_url = f"http://127.0.0.1:{env['SYNCTV_HEALTH_PORT']}/health/ready"
    assert httpx.get(ready_url, timeout=5).status_code == 503
    if signals == 2:
        process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    took = time.monotonic() - began
    thread.join(timeout=10)
    assert process.returncode == 0, output
    if signals == 1:
        assert 2.5 <= took <= 3 + 5  # cut at the drain deadline
    else:
        assert took < 3  # nowhere near the 60 s drain
    assert viewer, "the viewer saw neither a response nor an error"
