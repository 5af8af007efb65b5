"""Voice chat rigs for tests: a room with members, voice participants (the reference client
with real aiortc peer connections), and a real coturn TURN server started on loopback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import WebSocketConnection

from synctv.client.voice import AsyncioThread, VoiceMesh
from synctv.stun.probe import probe
from tests.support.identity import Server
from tests.support.rooms import Member, sign_up
from tests.support.websocket import ws_client

# Debian's coturn package; scripts/dev.sh installs it.
TURNSERVER = shutil.which("turnserver")


async def voice_room(server: Server, people: int) -> tuple[str, list[Member]]:
    """A room and ``people`` members (the first is its creator), signed up from 127.0.0.2 on."""
    members = [await sign_up(server, 2 + i, f"voice{i}") for i in range(people)]
    room = (await members[0].ok("POST", "/api/rooms", {"name": "voice"}))["room"]["id"]
    for member in members[1:]:
        await member.ok("PUT", f"/api/rooms/{room}/members/@me")
    return room, members


async def ice_servers(member: Member, room: str) -> dict[str, Any]:
    answer: dict[str, Any] = await member.ok("GET", f"/api/rooms/{room}/webrtc/ice-servers")
    return answer


@asynccontextmanager
async def channel(server: Server, room: str, member: Member) -> AsyncIterator[WebSocketConnection]:
    headers = {"authorization": member.header}
    async with ws_client(server.base, f"/ws/rooms/{room}", headers, ["synctv.v1"]) as ws:
        yield ws


class Voices:
    """Voice participants on one asyncio thread, each reading its channel in the nursery."""

    def __init__(self, server: Server, room: str, nursery: trio.Nursery, aio: AsyncioThread):
        self.server, self.room, self.nursery, self.aio = server, room, nursery, aio
        self.stack = AsyncExitStack()
        self.meshes: list[VoiceMesh] = []

    async def open(
        self, member: Member, *, tone_hz: float = 440.0, relay_only: bool = False
    ) -> VoiceMesh:
        """A channel connection for ``member`` with its ICE servers from the room's route."""
        servers = (await ice_servers(member, self.room))["iceServers"]
        ws = await self.stack.enter_async_context(channel(self.server, self.room, member))
        mesh = VoiceMesh(ws, self.aio, servers, tone_hz=tone_hz, relay_only=relay_only)
        await mesh.hello()
        self.nursery.start_soon(mesh.run)
        self.meshes.append(mesh)
        return mesh

    async def hang_up(self, mesh: VoiceMesh) -> None:
        """Close the participant's peer connections and its channel connection."""
        self.meshes.remove(mesh)
        await mesh.aclose()


@asynccontextmanager
async def voices(server: Server, room: str) -> AsyncIterator[Voices]:
    with AsyncioThread() as aio:
        async with trio.open_nursery() as nursery:
            rig = Voices(server, room, nursery, aio)
            try:
                yield rig
            finally:
                for mesh in list(rig.meshes):
                    await mesh.close_links()
                await rig.stack.aclose()
                nursery.cancel_scope.cancel()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return int(udp.getsockname()[1])


@asynccontextmanager
async def coturn(tmp_path: Path, secret: str) -> AsyncIterator[int]:
    """coturn on 127.0.0.1 with the TURN REST API shared secret; yields its port. Relays are
    on loopback too (so it must allow loopback peers: both ends of a test call are here)."""
    if TURNSERVER is None:
        if os.environ.get("CI"):
            pytest.fail("coturn (turnserver) is missing: scripts/dev.sh installs it")
        pytest.skip("coturn (turnserver) is not installed")
    port = _free_udp_port()
    relay_low = 49152 + (os.getpid() * 37) % 10000
    work = tmp_path / "coturn"
    work.mkdir()
    log = work / "turn.log"
    command = [
        TURNSERVER, "-n", "--listening-ip=127.0.0.1", f"--listening-port={port}",
        "--relay-ip=127.0.0.1", f"--min-port={relay_low}", f"--max-port={relay_low + 200}",
        "--use-auth-secret", f"--static-auth-secret={secret}", "--realm=synctv.test",
        "--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers", "--fingerprint",
        f"--userdb={work / 'turndb'}", f"--pidfile={work / 'turn.pid'}",
        f"--log-file={log}", "--simple-log", "--no-stdout-log",
    ]  # fmt: skip
    process = await trio.lowlevel.open_process(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with trio.fail_after(15):
            while not (await probe("127.0.0.1", port, 0.3)).reachable:
                if process.poll() is not None:
                    text = log.read_text() if log.exists() else ""
                    raise RuntimeError(f"turnserver exited: {text[-2000:]}")
        yield port
    finally:
        process.terminate()
        with trio.move_on_after(5):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
    shutil.rmtree(work, ignore_errors=True)


def dump(meshes: list[VoiceMesh]) -> str:
    """Each participant's links and the last voice messages it received (assertion messages)."""
    seen = {m.connection_id: {"links": m.states(), "received": m.received[-6:]} for m in meshes}
    return json.dumps(seen, indent=1)[-6000:]
