"""Run the real server tree in-process for tests, on ephemeral loopback ports."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import trio
from pydantic import SecretStr

from synctv.app import Controller, RouteFactory, serve
from synctv.config import Config


def server_config(data_dir: Path, dsn: str | None, **sections: dict[str, Any]) -> Config:
    """A config on loopback with every port ephemeral; ``sections`` override per section."""
    raw: dict[str, Any] = {
        "data_dir": data_dir,
        "server": {"host": "127.0.0.1", "port": 0, "shutdown_drain_timeout_seconds": 2.0},
        "health": {"host": "127.0.0.1", "port": 0},
        "metrics": {"host": "127.0.0.1", "port": 0},
        "grpc": {"host": "127.0.0.1", "port": 0},
        "livestream": {"rtmp_host": "127.0.0.1", "rtmp_port": 0},
        "webrtc": {"stun_host": "127.0.0.1", "stun_port": 0},
    }
    if dsn is not None:
        raw["database"] = {"url": SecretStr(dsn)}
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return Config.model_validate(raw)


@asynccontextmanager
async def running_server(
    config: Config, extra_routes: RouteFactory | None = None
) -> AsyncIterator[Controller]:
    """Start the tree; on exit, abort it (tests that test shutdown call it themselves)."""
    async with trio.open_nursery() as nursery:
        controller: Controller = await nursery.start(
            partial(serve, config, extra_routes=extra_routes, handle_signals=False)
        )
        try:
            yield controller
        finally:
            controller.abort()


def url(binds: list[str], path: str) -> str:
    return binds[0].replace("0.0.0.0", "127.0.0.1") + path


async def create_live_stream(data_dir: Path) -> tuple[str, str]:
    """(stream id, publish key) of a new live stream, created the way an operator does it:
    ``synctv admin live create`` in a child process, over the running server's socket."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCTV_")}
    env["SYNCTV_DATA_DIR"] = str(data_dir)
    done = await trio.run_process(
        [sys.executable, "-m", "synctv", "admin", "live", "create", "--json"],
        env=env,
        capture_stdout=True,
    )
    created = json.loads(done.stdout)
    return created["stream"]["stream_id"], created["stream_key"]
