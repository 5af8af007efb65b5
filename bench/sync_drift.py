"""How far apart the players of one room are after each change (issue 13, "Done means" 2).

    .venv/bin/python bench/sync_drift.py [--players 50] [--rounds 3] [--hold 8]

Starts ``synctv serve`` as a user does (``api_bench.started_server``), makes a room with two
media, and connects ``--players`` simulated players through a loopback **delay proxy**: every
chunk each way is held 50 ms ± 25 ms (uniform; order kept, as TCP keeps it). Each player is the
reference client (``synctv.client.room``) with

* a clock of its own (the machine's shifted by up to ±5 s: the clock estimate must find it),
* a media clock running at its set rate times a rate error of up to ±0.5 %,
* a startup latency (50-300 ms, per player, ±20 % per occurrence): after loading a media item,
  starting to play or seeking, its position stands still for that long (it is "buffering"),

and corrects itself with ``synctv.realtime.sync.correct`` every 250 ms, as docs/realtime.md
describes (rate nudges up to ±5 %, a seek past 2 s, nothing while buffering). A commander
(another client through the same proxy) changes the room ``--rounds`` times: play (after a
pause), seek, start another media item, each held ``--hold`` seconds.

Every 100 ms all players' true positions are read at the same instant (one process, one clock)
and every pair's distance recorded. Prints one JSON line: the pairwise drift's p95/p99 from 5 s
after a change until the next (goals: p95 ≤ 100 ms, p99 ≤ 250 ms), the same over the first 5 s (``early_``),
each player's distance from the room's true position, and the time until the room's players are
in step (p95 of pairwise drift ≤ 100 ms and staying there) after each change.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import trio
from api_bench import register, started_server  # bench/ is the script's directory

from synctv.client.room import RoomClient
from synctv.realtime.sync import correct

SETTLE_SECONDS = 5.0  # "within 5 s of a change" (--settle)
IN_STEP_SECONDS = 0.100  # the goal for p95 pairwise drift
TICK_SECONDS = 0.25  # how often a player corrects itself
SAMPLE_SECONDS = 0.1


# -- the delay proxy ---------------------------------------------------------------------------


async def _pump(
    source: trio.SocketStream, sink: trio.SocketStream, rng: random.Random, delay: float
) -> None:
    """Copy ``source`` to ``sink``, each chunk held ``delay`` ± ``delay / 2`` seconds, in
    order."""
    held: deque[tuple[float, bytes]] = deque()
    arrived = trio.Event()

    async def write() -> None:
        nonlocal arrived
        while True:
            while not held:
                await arrived.wait()
                arrived = trio.Event()
            release, data = held.popleft()
            await trio.sleep_until(release)
            if not data:
                await sink.send_eof()
                return
            await sink.send_all(data)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(write)
        last = 0.0
        while True:
            try:
                data = await source.receive_some(65536)
            except trio.BrokenResourceError:
                data = b""
            last = max(last, trio.current_time() + rng.uniform(delay / 2, delay * 1.5))
            held.append((last, data))
            arrived.set()
            if not data:
                return


async def delay_proxy(
    upstream_port: int,
    delay: float,
    seed: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on a loopback port (reported to ``task_status``) and relay to ``upstream_port``."""
    rng = random.Random(seed)

    async def relay(client: trio.SocketStream) -> None:
        try:
            async with (
                client,
                await trio.open_tcp_stream("127.0.0.1", upstream_port) as server,
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(_pump, client, server, rng, delay)
                nursery.start_soon(_pump, server, client, rng, delay)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(relay, listeners)


# -- simulated players ---------------------------------------------------------------------------


@dataclass
class Player:
    """A media clock: position moves at ``rate * (1 + rate_error)`` unless buffering."""

    rate_error: float
    startup: float  # seconds of standing still after load, play or seek
    rng: random.Random
    media_id: str = ""
    anchor_position: float = 0.0
    anchor_time: float = 0.0  # time.monotonic() of the anchor
    rate: float = 1.0
    playing: bool = False
    buffering_until: float = 0.0
    lead: float = 0.0  # how long the last start took (what a player can measure of itself)

    def position(self, now: float) -> float:
        if not self.playing:
            return self.anchor_position
        moving_from = max(self.anchor_time, self.buffering_until)
        return self.anchor_position + max(0.0, now - moving_from) * self.rate * (
            1.0 + self.rate_error
        )

    def _anchor(self, now: float) -> None:
        self.anchor_position = self.position(now)
        self.anchor_time = max(now, self.buffering_until)

    def buffering(self, now: float) -> bool:
        return now < self.buffering_until

    def seek(self, position: float, now: float) -> None:
        self.anchor_position, self.anchor_time = position, now
        took = self.startup * self.rng.uniform(0.8, 1.2)
        self.buffering_until = now + took
        self.lead = took

    def set_rate(self, rate: float, now: float) -> None:
        if rate != self.rate:
            self._anchor(now)
            self.rate = rate

    def set_playing(self, playing: bool, now: float) -> None:
        if playing == self.playing:
            return
        self._anchor(now)
        self.playing = playing
        if playing:  # starting costs the startup latency too
            self.buffering_until = now + self.startup * self.rng.uniform(0.8, 1.2)


async def run_player(client: RoomClient, player: Player, stop: trio.Event, lead: bool) -> None:
    """The player's control loop: follow the room's state, correct every tick. With ``lead``,
    a seek, a start and a load aim ahead of the room by the player's last startup time
    (``correct(startup_lead=...)``); without, exactly at the room (the plain rule)."""
    await trio.sleep(random.uniform(0, TICK_SECONDS))
    while not stop.is_set():
        now = time.monotonic()
        state = client.view.playback
        if state:
            media = str(state.get("mediaId", ""))
            playing = bool(state.get("playing"))
            speed = float(state.get("speed", 1.0))
            room = client.room_position()
            ahead = player.lead * speed if lead and playing else 0.0
            if media != player.media_id or (playing and not player.playing):
                # A new item, or the room starts playing: start where the room will be.
                player.media_id = media
                player.set_playing(playing, now)
                player.seek(room + ahead, now)
            else:
                player.set_playing(playing, now)
                fix = correct(
                    player.position(now),
                    room,
                    speed,
                    playing,
                    buffering=player.buffering(now),
                    startup_lead=player.lead if lead else 0.0,
                )
                if fix.kind == "seek" and fix.seek_to is not None:
                    player.seek(fix.seek_to, now)
                player.set_rate(fix.rate, now)
        if client.clock.due(client._clock()):
            await client.measure_clock(samples=8)
        await trio.sleep(TICK_SECONDS)


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Change:
    kind: str
    at: float  # time.monotonic() when the commander sent it
    state: dict[str, Any]  # the answer (playbackState), once it arrived
    pairwise: list[tuple[float, float]] = field(default_factory=list)  # (since, p95 pairwise)
    settled: list[float] = field(default_factory=list)  # pairwise drifts after --settle
    early: list[float] = field(default_factory=list)  # pairwise drifts before --settle
    vs_room: list[float] = field(default_factory=list)  # |player - room| after --settle


def room_position(state: dict[str, Any], wall_now: float) -> float:
    if not state.get("playing"):
        return float(state["position"])
    return float(state["position"]) + (wall_now - float(state["serverTime"])) * float(
        state.get("speed", 1.0)
    )


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pairwise(positions: list[float]) -> list[float]:
    return [abs(a - b) for a, b in itertools.combinations(positions, 2)]


async def sample(
    players: list[Player], changes: list[Change], stop: trio.Event, settle: float
) -> None:
    while not stop.is_set():
        await trio.sleep(SAMPLE_SECONDS)
        if not changes:
            continue
        change = changes[-1]
        now, wall = time.monotonic(), time.time()
        positions = [p.position(now) for p in players]
        distances = pairwise(positions)
        since = now - change.at
        change.pairwise.append((since, percentile(distances, 0.95) or 0.0))
        if since >= settle:
            change.settled.extend(distances)
            if change.state:
                room = room_position(change.state, wall)
                change.vs_room.extend(abs(p - room) for p in positions)
        else:
            change.early.extend(distances)


def converge_seconds(change: Change) -> float | None:
    """From the change until p95 pairwise drift is within IN_STEP_SECONDS for good."""
    last_out = 0.0
    for since, p95 in change.pairwise:
        if p95 > IN_STEP_SECONDS:
            last_out = since
    if change.pairwise and change.pairwise[-1][1] > IN_STEP_SECONDS:
        return None  # never in step before the next change
    return round(last_out + SAMPLE_SECONDS, 2)


async def measure(
    args: argparse.Namespace, base: str, room: str, token: str, media: list[str]
) -> dict[str, Any]:
    rng = random.Random(args.seed)
    http_port = int(base.rsplit(":", 1)[1])
    stop = trio.Event()
    changes: list[Change] = []
    async with trio.open_nursery() as nursery:
        proxy_port = await nursery.start(
            partial(delay_proxy, http_port, args.delay_ms / 1000, args.seed)
        )
        proxied = f"http://127.0.0.1:{proxy_port}"
        players: list[Player] = []
        clients: list[RoomClient] = []

        async def one_player(n: int, ready: trio.Semaphore) -> None:
            offset = rng.uniform(-5, 5)
            player = Player(
                rate_error=rng.uniform(-0.005, 0.005),
                startup=rng.uniform(0.05, 0.3),
                rng=random.Random(args.seed * 1000 + n),
            )
            async with RoomClient.connect(
                proxied, room, token, wall_clock=lambda: time.time() + offset
            ) as client:
                with trio.fail_after(30):
                    while not client.view.playback:
                        await client.changed.wait()
                await client.measure_clock(samples=8)
                players.append(player)
                clients.append(client)
                ready.release()
                await run_player(client, player, stop, not args.no_lead)

        ready = trio.Semaphore(0)
        for n in range(args.players):
            nursery.start_soon(one_player, n, ready)
        with trio.fail_after(120):
            for _ in range(args.players):
                await ready.acquire()
        async with RoomClient.connect(proxied, room, token) as commander:
            with trio.fail_after(30):
                while not commander.view.playback:
                    await commander.changed.wait()
            await commander.measure_clock(samples=8)
            nursery.start_soon(sample, players, changes, stop, args.settle)
            plan: list[tuple[str, dict[str, Any]]] = []
            for n in range(args.rounds):
                plan += [
                    ("pause", {}),
                    ("play", {}),
                    ("seek", {"position": 100.0 + 37.0 * n}),
                    ("start", {"mediaId": media[(n + 1) % len(media)]}),
                ]
            for kind, fields in plan:
                change = Change(kind, time.monotonic(), {})  # from the moment it is sent
                changes.append(change)
                change.state = await commander.command(kind, **fields)
                await trio.sleep(min(2.0, args.hold) if kind == "pause" else args.hold)
        stop.set()
        offsets = [c.clock.error_bound or 0.0 for c in clients]
        nursery.cancel_scope.cancel()
    changes = [c for c in changes if c.kind != "pause"]  # a pause sets up the next play
    settled = [d for c in changes for d in c.settled]
    early = [d for c in changes for d in c.early]
    vs_room = [d for c in changes for d in c.vs_room]
    converge = [converge_seconds(c) for c in changes]
    by_kind: dict[str, list[float | None]] = {}
    for change, seconds in zip(changes, converge, strict=True):
        by_kind.setdefault(change.kind, []).append(seconds)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    p95, p99 = percentile(settled, 0.95), percentile(settled, 0.99)
    return {
        "bench": "sync_drift",
        "players": args.players,
        "startup_lead": not args.no_lead,
        "changes": len(changes),
        "settle_s": args.settle,
        "delay_ms": f"{args.delay_ms} ± {args.delay_ms / 2:g} each way",
        "pairwise_drift_ms_p50": ms(percentile(settled, 0.5)),
        "pairwise_drift_ms_p95": ms(p95),
        "pairwise_drift_ms_p99": ms(p99),
        "pairwise_drift_ms_max": ms(max(settled, default=None)),
        "early_pairwise_drift_ms_p95": ms(percentile(early, 0.95)),
        "early_pairwise_drift_ms_p99": ms(percentile(early, 0.99)),
        "vs_room_ms_p95": ms(percentile(vs_room, 0.95)),
        "vs_room_ms_p99": ms(percentile(vs_room, 0.99)),
        "converge_s_by_change": by_kind,
        "converge_s_max": max((c for c in converge if c is not None), default=None),
        "never_converged": sum(c is None for c in converge),
        "clock_error_bound_ms_median": ms(statistics.median(offsets) if offsets else None),
        "goals_met": p95 is not None and p99 is not None and p95 <= 0.100 and p99 <= 0.250,
        "load_average": round(os.getloadavg()[0], 2),
    }


def prepare(base: str) -> tuple[str, str, list[str]]:
    """(room, token, media ids): a room with two media, the first playing."""
    token = register(base, f"drift{os.getpid()}{int(time.time() * 1000) % 100_000}")
    headers = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        room = http.post("/api/rooms", json={"name": "drift"}).json()["room"]["id"]
        items = [
            {"name": name, "source": {"kind": "url", "url": f"https://h.test/{name}"}}
            for name in ("a", "b")
        ]
        added = http.post(f"/api/rooms/{room}/media", json={"items": items}).json()["media"]
        media = [m["id"] for m in added]
        started = http.post(f"/api/rooms/{room}/playback/start", json={"mediaId": media[0]})
        assert started.status_code < 300, started.text
    return room, token, media


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--players", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="each: pause, play, seek, start")
    parser.add_argument("--hold", type=float, default=8.0, help="seconds after each change")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="one way, ± half of it")
    parser.add_argument(
        "--settle", type=float, default=SETTLE_SECONDS, help="seconds a change may take"
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--no-lead", action="store_true", help="seek exactly to the room (no startup lead)"
    )
    parser.add_argument("--database-url", help="a database for the server (default embedded)")
    args = parser.parse_args()
    # Every player is the same account: its connection cap (20 by default) is raised to fit.
    caps = {"SYNCTV_REALTIME_MAX_CONNECTIONS_PER_USER": str(args.players + 10)}
    with started_server(args, extra_env=caps) as rig:
        room, token, media = prepare(rig.http_base)
        figures = trio.run(measure, args, rig.http_base, room, token, media)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
