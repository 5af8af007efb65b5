"""A simulated HTTP-FLV live player kept in step with its room (docs/realtime.md, "Live in
step"), for tests: it reads the stream's FLV tags over HTTP (through its own network path), has
a media clock of its own (a rate error, a skewed wall clock) and steers it with the reference
rules (``synctv.realtime.sync``) from the room channel's ``live_clock`` messages.

Its *playout position* is where its clock is; it never plays past the newest frame it holds (it
stalls there: buffering) and never seeks outside what it holds. Like a real player it first
measures (a few seconds of arrivals), reports its safe latency, waits for the room's target to
take it in, and starts at the target position.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import trio

from synctv.client.room import RoomClient
from synctv.media.flv import TAG_SCRIPT, FlvReader
from synctv.realtime.sync import LatencyMeter, LiveMapping, correct_live

TICK_SECONDS = 0.25  # how often the player corrects itself
REPORT_SECONDS = 1.0
WARM_UP_SECONDS = 2.0


@dataclass
class LivePlayer:
    name: str
    skew: float = 0.0  # this machine's wall clock minus the true one
    rate_error: float = 0.0  # its media clock runs this much fast (+) or slow (-)
    meter: LatencyMeter = field(default_factory=LatencyMeter)
    oldest: float | None = None  # media seconds held: [oldest, newest]
    newest: float | None = None
    started: bool = False
    rate: float = 1.0
    seeks: int = 0
    stalled_since: float | None = None
    _anchor_position: float = 0.0
    _anchor_time: float = 0.0  # trio clock

    def wall(self) -> float:
        return time.time() + self.skew

    def position(self, now: float | None = None) -> float | None:
        """The playout position at trio time ``now``: where the media clock is, held at the
        newest frame while it has nothing further."""
        if not self.started or self.newest is None:
            return None
        now = trio.current_time() if now is None else now
        moved = self._anchor_position + (now - self._anchor_time) * self.rate * (
            1 + self.rate_error
        )
        return min(moved, self.newest)

    def _reanchor(self, now: float) -> float:
        position = self.position(now)
        assert position is not None
        self._anchor_position, self._anchor_time = position, now
        return position

    def _seek(self, to: float, now: float) -> None:
        assert self.oldest is not None
        assert self.newest is not None
        self._anchor_position = min(max(to, self.oldest), self.newest)
        self._anchor_time = now

    def buffering(self) -> bool:
        position = self.position()
        return position is not None and self.newest is not None and position >= self.newest

    def received(self, media_times: list[float], client: RoomClient) -> None:
        """Tags arrived: the player holds more, and measures the newest one's latency."""
        now = trio.current_time()
        if self.started:
            self._reanchor(now)  # a stall ends here, not earlier
        newest = max(media_times)
        self.oldest = min(media_times) if self.oldest is None else self.oldest
        self.newest = newest if self.newest is None else max(self.newest, newest)
        mapping, offset = client.live_mapping(), client.clock.offset
        if mapping is not None and offset is not None:
            self.meter.add(now, mapping.latency(self.newest, self.wall(), offset))

    def steer(self, mapping: LiveMapping, offset: float) -> None:
        now = trio.current_time()
        if not self.started:
            return
        position = self._reanchor(now)
        decision = correct_live(position, mapping, self.wall(), offset, buffered_until=self.newest)
        if decision.kind == "seek":
            assert decision.seek_to is not None
            self._seek(decision.seek_to, now)
            self.seeks += 1
        self.rate = decision.rate

    def start(self, mapping: LiveMapping, offset: float) -> None:
        self.started = True
        self._seek(mapping.target_position(self.wall(), offset), trio.current_time())


async def read_flv(host: str, port: int, path: str, player: LivePlayer, client: RoomClient) -> None:
    """GET ``path`` over HTTP/1.0 (the body is the FLV stream until the server closes) and hand
    the media tags' times to the player as they arrive."""
    async with await trio.open_tcp_stream(host, port) as stream:
        await stream.send_all(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = await stream.receive_some(65536)
            if not data:
                raise AssertionError(f"no HTTP answer: {head!r}")
            head += data
        head, _, body = head.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        assert b" 200 " in status, status
        reader = FlvReader()
        while True:
            tags = reader.receive_data(body)
            times = [tag.timestamp / 1000 for tag in tags if tag.tag_type != TAG_SCRIPT]
            if times:
                player.received(times, client)
            body = await stream.receive_some(65536)
            if not body:
                return


async def play(
    client: RoomClient, player: LivePlayer, flv: tuple[str, int, str], stop: trio.Event
) -> None:
    """Watch until ``stop``: read the stream, measure, report, start at the target, steer."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_flv, *flv, player, client)
        nursery.start_soon(client.measure_clock, 5)  # refines the offset meanwhile
        with trio.fail_after(15):
            while None in (client.live_mapping(), client.clock.offset, player.newest):
                await client.changed.wait()
        await trio.sleep(WARM_UP_SECONDS)  # measure the path before saying what it needs
        safe = player.meter.safe(trio.current_time())
        await client.report(player.newest or 0.0, latency=safe)
        with trio.move_on_after(3):  # until the room's target takes this player's in
            while (mapping := client.live_mapping()) is None or mapping.target_latency < safe:
                await client.changed.wait()
        mapping = client.live_mapping()
        assert mapping is not None
        player.start(mapping, client.clock.offset or 0.0)

        async def report() -> None:
            while True:
                await trio.sleep(REPORT_SECONDS)
                position = player.position()
                assert position is not None
                latency = player.meter.safe(trio.current_time())
                await client.report(position, player.buffering(), latency=latency)

        nursery.start_soon(report)
        while not stop.is_set():
            mapping = client.live_mapping()
            if mapping is not None:
                player.steer(mapping, client.clock.offset or 0.0)
            with trio.move_on_after(TICK_SECONDS):
                await stop.wait()
        nursery.cancel_scope.cancel()
