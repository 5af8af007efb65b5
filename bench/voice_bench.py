"""Voice chat setup time: from ``voice_join`` to ICE connected, for a mesh of 2 and of 4 peers.

    .venv/bin/python bench/voice_bench.py [--runs 10] [--sizes 2,4] [--database-url DSN]

Starts ``synctv serve`` as a user does (bench/api_bench.py's rig: its own process, a fresh
data_dir, embedded PostgreSQL unless ``--database-url``), signs up one account per peer, makes a
room, and then, ``--runs`` times per mesh size: opens a room channel connection per peer (the
reference voice client, :mod:`synctv.client.voice`, with aiortc peer connections on one asyncio
thread), gets each peer's ICE servers from ``GET /api/rooms/{room}/webrtc/ice-servers`` (the
built-in STUN), and has the peers send ``voice_join`` one after another as soon as the previous
one's ``voice_joined`` arrived. A run's figure is the time from the first ``voice_join`` to the
moment the last of the mesh's peer connections reports ICE connected (aiortc's ``completed``),
both ends; then everyone hangs up. It prints one JSON line: the median and the spread per size,
and the median time to DTLS connected (audio can flow) alongside.

Everything runs on this machine: the figures are signalling through the server (the WebSocket
hops), host and server-reflexive candidate gathering against the built-in STUN, and ICE checks
over loopback; a real network adds its round trips to the checks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import trio
from trio_websocket import open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_bench import register, set_setting, started_server

from synctv.client.voice import AsyncioThread, VoiceMesh


async def one_run(
    base: str, room: str, tokens: list[str], aio: AsyncioThread
) -> tuple[float, float]:
    """(seconds to ICE connected, seconds to DTLS connected) for one mesh of len(tokens)."""
    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as http,
        trio.open_nursery() as nursery,
        AsyncExitStack() as sockets,  # inside the nursery: each socket has a nursery of its own
    ):
        meshes: list[VoiceMesh] = []
        try:
            for token in tokens:
                auth = f"Bearer {token}"
                path = f"/api/rooms/{room}/webrtc/ice-servers"
                ice = (await http.get(path, headers={"authorization": auth})).json()
                ws = await sockets.enter_async_context(
                    open_websocket_url(
                        base.replace("http", "ws", 1) + f"/ws/rooms/{room}",
                        subprotocols=["synctv.v1"],
                        extra_headers=[(b"authorization", auth.encode())],
                    )
                )
                mesh = VoiceMesh(ws, aio, ice["iceServers"])
                await mesh.hello()
                nursery.start_soon(mesh.run)
                meshes.append(mesh)
            for mesh in meshes:
                await mesh.join()
                await mesh.wait_for("voiceJoined")
            for mesh in meshes:
                await mesh.wait_connected(len(meshes) - 1, timeout=60)
            start = min(m.joined_at or 0.0 for m in meshes)
            links = [link for m in meshes for link in m.links.values()]
            ice_done = max(link.ice_connected_at or 0.0 for link in links)
            dtls_done = max(link.connected_at or 0.0 for link in links)
        finally:
            for mesh in meshes:
                await mesh.aclose()
            await sockets.aclose()
            nursery.cancel_scope.cancel()
    return ice_done - start, dtls_done - start


async def measure(args: argparse.Namespace, base: str, tokens: list[str]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        auth = {"authorization": f"Bearer {tokens[0]}"}
        room = (await http.post("/api/rooms", json={"name": "voice bench"}, headers=auth)).json()[
            "room"
        ]["id"]
        for token in tokens[1:]:
            joined = await http.put(
                f"/api/rooms/{room}/members/@me", headers={"authorization": f"Bearer {token}"}
            )
            joined.raise_for_status()
    with AsyncioThread() as aio:
        for size in args.sizes:
            ice, dtls = [], []
            for _ in range(args.runs):
                to_ice, to_dtls = await one_run(base, room, tokens[:size], aio)
                ice.append(to_ice)
                dtls.append(to_dtls)
            figures[f"join_to_ice_connected_{size}_peers_median_s"] = round(
                statistics.median(ice), 3
            )
            figures[f"join_to_ice_connected_{size}_peers_min_s"] = round(min(ice), 3)
            figures[f"join_to_ice_connected_{size}_peers_max_s"] = round(max(ice), 3)
            figures[f"join_to_dtls_connected_{size}_peers_median_s"] = round(
                statistics.median(dtls), 3
            )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10, help="runs per mesh size (the median)")
    parser.add_argument("--sizes", type=lambda s: [int(n) for n in s.split(",")], default=[2, 4])
    parser.add_argument("--database-url", help="an existing PostgreSQL (default: embedded)")
    args = parser.parse_args()
    figures: dict[str, Any] = {"bench": "voice_bench", "runs": args.runs}
    with started_server(args) as rig:
        set_setting(rig, "ratelimit.registrationPerAddressPerHour", "0")
        stamp = int(time.time() * 1000) % 100_000
        tokens = [register(rig.http_base, f"voice{stamp}x{n}") for n in range(max(args.sizes))]
        figures.update(trio.run(measure, args, rig.http_base, tokens))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
