"""`synctv serve` as a child process, configured through its environment as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


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
