"""Real OBS Studio as a publisher: a headless X server, a throwaway HOME holding a profile and a
scene collection written as files, and ``obs --startstreaming``.

OBS reads ``$HOME/.config/obs-studio``: ``global.ini`` (which profile and scene collection,
``FirstRun=true`` so the auto-configuration wizard does not open, ``ConfirmOnExit=false`` so
SIGINT quits without a dialog), ``basic/profiles/<name>/basic.ini`` (output mode, encoder, video
size and frame rate), ``basic/profiles/<name>/service.json`` (the Custom service: server URL and
stream key) and ``basic/scenes/<name>.json`` (one scene with a looping Media Source).
Rendering uses Mesa's software GL (``LIBGL_ALWAYS_SOFTWARE=1``) on Xvfb.

Stopping: OBS 29 sometimes hangs at exit while it clears the scenes (a looping Media Source),
before it stops the stream (the server then sees the connection die, not an unpublish). So the
stream is stopped first through obs-websocket (built into OBS 28+; enabled without auth on a
free port in ``global.ini``, or ``plugin_config/obs-websocket/config.json`` for 5.3+):
``StopStream`` is what the Stop Streaming button does (FCUnpublish, deleteStream, close). Then
SIGINT, and SIGKILL if OBS hangs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

__all__ = [
    "ObsProfile",
    "Xvfb",
    "free_port",
    "obs_or_skip",
    "running_obs",
    "stop_streaming",
    "write_obs_home",
]

NAME = "synctv-test"


def obs_or_skip() -> str:
    """The obs binary, or skip (fail under CI=true, where scripts/dev.sh installs it)."""
    path = shutil.which("obs")
    if path is None or shutil.which("Xvfb") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("obs (obs-studio) and Xvfb (xvfb) are required in CI", pytrace=False)
        pytest.skip("needs obs-studio and xvfb")
    return path


@dataclass(frozen=True)
class ObsProfile:
    """What a streamer sets in OBS: Settings → Stream (Custom) and Output (Simple mode, x264)."""

    server: str  # rtmp://HOST:PORT/APP
    key: str
    media: Path  # the Media Source's file (looped)
    x264_settings: str = ""  # Simple mode's "x264 Options" field, e.g. "keyint=60"
    width: int = 640
    height: int = 360
    fps: int = 30
    video_kbps: int = 800
    websocket_port: int = 0  # obs-websocket's port; 0 = off


def write_obs_home(home: Path, profile: ObsProfile) -> None:
    config = home / ".config" / "obs-studio"
    profile_dir = config / "basic" / "profiles" / NAME
    scenes_dir = config / "basic" / "scenes"
    profile_dir.mkdir(parents=True, exist_ok=True)
    scenes_dir.mkdir(parents=True, exist_ok=True)
    (config / "global.ini").write_text(
        "[General]\n"
        "FirstRun=true\n"
        "ConfirmOnExit=false\n"
        "LastVersion=486539266\n"
        "[Basic]\n"
        f"Profile={NAME}\nProfileDir={NAME}\n"
        f"SceneCollection={NAME}\nSceneCollectionFile={NAME}\n"
        "[BasicWindow]\n"
        "WarnBeforeStartingStream=false\nWarnBeforeStoppingStream=false\n"
        "SysTrayEnabled=false\n"
        # obs-websocket 5.0-5.2 (OBS 28-29) keep their settings here; 5.3+ in plugin_config
        "[OBSWebSocket]\n"
        "FirstLoad=false\n"
        f"ServerEnabled={'true' if profile.websocket_port else 'false'}\n"
        f"ServerPort={profile.websocket_port or 4455}\n"
        "AlertsEnabled=false\nAuthRequired=false\nServerPassword=\n"
    )
    (profile_dir / "basic.ini").write_text(
        "[General]\n"
        f"Name={NAME}\n"
        "[Output]\n"
        "Mode=Simple\n"
        "Reconnect=true\nRetryDelay=1\nMaxRetries=5\n"
        "[SimpleOutput]\n"
        "StreamEncoder=x264\n"
        f"VBitrate={profile.video_kbps}\n"
        "ABitrate=128\n"
        "Preset=veryfast\n"
        # "Enable Advanced Encoder Settings": without it the x264 Options field is ignored
        f"UseAdvanced={'true' if profile.x264_settings else 'false'}\n"
        f"x264Settings={profile.x264_settings}\n"
        "[Video]\n"
        f"BaseCX={profile.width}\nBaseCY={profile.height}\n"
        f"OutputCX={profile.width}\nOutputCY={profile.height}\n"
        f"FPSType=0\nFPSCommon={profile.fps}\n"
        "[Audio]\n"
        "SampleRate=48000\nChannelSetup=Stereo\n"
    )
    service = {
        "type": "rtmp_custom",
        "settings": {"server": profile.server, "key": profile.key, "use_auth": False},
    }
    (profile_dir / "service.json").write_text(json.dumps(service))
    media = {
        "id": "ffmpeg_source",
        "versioned_id": "ffmpeg_source",
        "name": "Media",
        "uuid": "6f0f1a8e-6c44-4e8c-9d59-000000000002",
        "settings": {
            "is_local_file": True,
            "local_file": str(profile.media),
            "looping": True,
            "restart_on_activate": True,
        },
    }
    scene = {
        "id": "scene",
        "versioned_id": "scene",
        "name": "Scene",
        "uuid": "6f0f1a8e-6c44-4e8c-9d59-000000000001",
        "settings": {
            "id_counter": 1,
            "items": [
                {
                    "name": "Media",
                    "source_uuid": media["uuid"],
                    "visible": True,
                    "locked": False,
                    "id": 1,
                    "pos": {"x": 0.0, "y": 0.0},
                    "scale": {"x": 1.0, "y": 1.0},
                    "rot": 0.0,
                    "align": 5,
                    "bounds_type": 0,
                }
            ],
        },
    }
    collection = {
        "name": NAME,
        "current_scene": "Scene",
        "current_program_scene": "Scene",
        "scene_order": [{"name": "Scene"}],
        "sources": [scene, media],
    }
    (scenes_dir / f"{NAME}.json").write_text(json.dumps(collection))
    if profile.websocket_port:
        websocket_dir = config / "plugin_config" / "obs-websocket"
        websocket_dir.mkdir(parents=True, exist_ok=True)
        websocket = {
            "first_load": False,
            "server_enabled": True,
            "server_port": profile.websocket_port,
            "alerts_enabled": False,
            "auth_required": False,
            "server_password": "",
        }
        (websocket_dir / "config.json").write_text(json.dumps(websocket))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _request(ws: WebSocketConnection, request_type: str) -> dict[str, Any]:
    """One obs-websocket v5 request (op 6); its response (op 7), events skipped."""
    await ws.send_message(
        json.dumps({"op": 6, "d": {"requestType": request_type, "requestId": request_type}})
    )
    while True:
        message = json.loads(await ws.get_message())
        if message["op"] == 7 and message["d"]["requestId"] == request_type:
            status = message["d"]["requestStatus"]
            if not status["result"]:
                raise RuntimeError(f"obs-websocket {request_type} failed: {status}")
            return message["d"].get("responseData") or {}


async def stop_streaming(port: int, timeout: float = 10.0) -> None:
    """obs-websocket v5: Hello, Identify, StopStream; return once the output stopped."""
    with trio.fail_after(timeout):
        async with open_websocket_url(f"ws://127.0.0.1:{port}") as ws:
            json.loads(await ws.get_message())  # op 0, Hello
            await ws.send_message(json.dumps({"op": 1, "d": {"rpcVersion": 1}}))
            json.loads(await ws.get_message())  # op 2, Identified
            await _request(ws, "StopStream")
            while (await _request(ws, "GetStreamStatus"))["outputActive"]:  # noqa: ASYNC110
                await trio.sleep(0.1)


class Xvfb:
    """A headless X server on a free display number (``-displayfd`` reports which)."""

    def __init__(self) -> None:
        read, write = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
            pass_fds=(write,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write)
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            self.process.kill()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def obs_environment(home: Path, display: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "QT_", "WAYLAND"))}
    env.update(
        HOME=str(home),
        DISPLAY=display,
        LIBGL_ALWAYS_SOFTWARE="1",
        QT_QPA_PLATFORM="xcb",
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_RUNTIME_DIR=str(home / "run"),
    )
    (home / "run").mkdir(mode=0o700, exist_ok=True)
    return env


@asynccontextmanager
async def running_obs(
    obs: str, home: Path, display: str, log: Path, websocket_port: int = 0
) -> AsyncIterator[trio.Process]:
    """``obs --startstreaming`` until the block ends; then Stop Streaming through obs-websocket
    if ``websocket_port`` (a clean stop: FCUnpublish and deleteStream), SIGINT, and SIGKILL
    if OBS has not quit within 5 s (see the module docstring)."""
    command = [obs, "--startstreaming", "--multi", "--disable-missing-files-check"]
    with log.open("ab") as out:
        process = await trio.lowlevel.open_process(
            command,
            env=obs_environment(home, display),
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
        if websocket_port:
            await stop_streaming(websocket_port)
    finally:
        with trio.CancelScope(shield=True):
            await stop_obs(process)


async def stop_obs(process: trio.Process, timeout: float = 5.0) -> int:
    """SIGINT (OBS quits without a dialog: ConfirmOnExit=false), then SIGKILL after
    ``timeout``: OBS usually quits in under a second, or hangs at exit (module docstring)."""
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
        with trio.move_on_after(timeout):
            return await process.wait()
        process.kill()
    return await process.wait()
