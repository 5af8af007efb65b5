"""VoiceMesh: a reference voice participant: the room channel's ``voice_*`` signalling (Trio)
driving real WebRTC peer connections (aiortc, on asyncio), one per other participant.

It does what docs/voice.md asks of a client: ``voice_join``; an offer to every participant named
in ``voice_joined`` (the newcomer offers, so two peers never offer to each other); an answer to
every offer; candidates trickled one ``voice_candidate`` at a time, then an empty one for the end
of candidates; a peer connection closed on ``voice_peer_left``. Each connection sends a
generated tone, and counts what it hears from each peer (frames, loud frames, the tone's
frequency), so a test can tell that audio really arrived and from whom.

aiortc is asyncio code: it runs on its own event loop in a thread (:class:`AsyncioThread`), and
the Trio side calls into it with :meth:`AsyncioThread.call`. What the asyncio side observes
(state changes, frames) it writes into plain fields that the Trio side polls.

aiortc is a test and bench dependency (``pip install -e '.[test]'``), not a server one: only
the test suite, ``bench/voice_bench.py`` and other clients import this module.
"""

from __future__ import annotations

import array
import asyncio
import fractions
import itertools
import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio
from aiortc import (
    RTCConfiguration,
    RTCIceCandidate,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp
from av import AudioFrame
from trio_websocket import ConnectionClosed, WebSocketConnection

T = TypeVar("T")

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms, Opus's usual frame
# A decoded frame whose RMS is above this is sound, not the silence a lost stream decodes to.
LOUD_RMS = 1000.0


class AsyncioThread:
    """An asyncio event loop running in its own thread, for aiortc."""

    def __init__(self) -> None:
        # A plain selector loop, made directly: trio-asyncio's event loop policy (installed when
        # it is imported, as the server does) refuses new_event_loop() inside Trio.
        self.loop = asyncio.SelectorEventLoop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="aiortc")

    def __enter__(self) -> AsyncioThread:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(drain(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    async def call(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``factory()`` on the asyncio loop; its result here, in Trio."""
        future = asyncio.run_coroutine_threadsafe(factory(), self.loop)
        return await trio.to_thread.run_sync(future.result, abandon_on_cancel=True)


class ToneTrack(MediaStreamTrack):
    """A sine tone at ``hz``, 48 kHz mono, in real time."""

    kind = "audio"

    def __init__(self, hz: float) -> None:
        super().__init__()
        period = [
            int(8000 * math.sin(2 * math.pi * hz * n / SAMPLE_RATE)) for n in range(SAMPLE_RATE)
        ]
        self._second = array.array("h", period * 2).tobytes()  # two seconds: slices never wrap
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + self._pts / SAMPLE_RATE - time.monotonic()))
        offset = (self._pts % SAMPLE_RATE) * 2
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(self._second[offset : offset + FRAME_SAMPLES * 2])
        frame.pts = self._pts
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        return frame


@dataclass
class Link:
    """One peer connection to another participant, and what was heard on it."""

    remote: str
    pc: RTCPeerConnection
    offered: bool
    local_candidate_types: list[str] = field(default_factory=list)
    ice_connected_at: float | None = None
    connected_at: float | None = None
    failed: bool = False
    frames: int = 0
    loud_frames: int = 0
    _crossings: int = 0
    _samples: int = 0
    listener: asyncio.Task[None] | None = None

    def heard(self, frame: AudioFrame) -> None:
        channels = len(frame.layout.channels)
        # Packed s16; the plane may be larger than the frame (aiortc's Opus decoder allocates
        # its 120 ms maximum), so only the frame's own samples are read.
        data = bytes(frame.planes[0])[: frame.samples * channels * 2]
        left = array.array("h", data)[::channels]
        self.frames += 1
        if not left:
            return
        rms = math.sqrt(sum(s * s for s in left) / len(left))
        if rms > LOUD_RMS:
            self.loud_frames += 1
            self._crossings += sum(1 for a, b in itertools.pairwise(left) if (a < 0) != (b < 0))
            self._samples += len(left)

    def tone_hz(self) -> float:
        """The heard tone's frequency, from its zero crossings (two per period)."""
        return self._crossings / 2 / (self._samples / SAMPLE_RATE) if self._samples else 0.0

    def selected_pair_types(self) -> tuple[str, str] | None:
        """(local, remote) candidate types of the nominated pair (aiortc internals)."""
        for transceiver in self.pc.getTransceivers():
            connection = getattr(transceiver.receiver.transport.transport, "_connection", None)
            nominated = getattr(connection, "_nominated", {})
            for pair in nominated.values():
                return pair.local_candidate.type, pair.remote_candidate.type
        return None


def split_candidates(sdp: str) -> tuple[str, list[tuple[str, str, int]]]:
    """The SDP without its candidate lines, and each candidate with its mid and m-line index
    (what a browser trickles one by one)."""
    kept: list[str] = []
    candidates: list[tuple[str, str, int]] = []
    index, mid = -1, ""
    for line in sdp.splitlines():
        if line.startswith("m="):
            index, mid = index + 1, ""
        elif line.startswith("a=mid:"):
            mid = line.removeprefix("a=mid:")
        if line.startswith("a=candidate:"):
            candidates.append((line.removeprefix("a="), mid, index))
        elif line != "a=end-of-candidates":
            kept.append(line)
    return "\r\n".join(kept) + "\r\n", candidates


class VoiceMesh:
    """One room channel connection in voice. ``run`` (in a nursery) reads the channel."""

    def __init__(
        self,
        ws: WebSocketConnection,
        aio: AsyncioThread,
        ice_servers: list[dict[str, Any]],
        *,
        relay_only: bool = False,
        tone_hz: float = 440.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ws = ws
        self._aio = aio
        self._config = RTCConfiguration(
            iceServers=[RTCIceServer(**server) for server in ice_servers],
            iceTransportPolicy=RTCIceTransportPolicy.RELAY
            if relay_only
            else RTCIceTransportPolicy.ALL,
        )
        self._tone_hz = tone_hz
        self._clock = clock
        self.connection_id = ""
        self.links: dict[str, Link] = {}
        self.received: list[dict[str, Any]] = []  # every voice message and error, in order
        self.joined_at: float | None = None
        self.changed = trio.Event()

    # -- the channel ---------------------------------------------------------------------------

    async def hello(self) -> dict[str, Any]:
        await self._ws.send_message(json.dumps({"hello": {}}))
        welcome: dict[str, Any] = json.loads(await self._ws.get_message())["welcome"]
        self.connection_id = welcome["connectionId"]
        return welcome

    async def send(self, message: dict[str, Any]) -> None:
        await self._ws.send_message(json.dumps(message))

    async def join(self) -> None:
        """Send ``voice_join``; the offers follow from :meth:`run` when the answer comes."""
        self.joined_at = self._clock()
        await self.send({"voiceJoin": {}})

    async def wait_for(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """The first received message with body ``kind`` (``voiceJoined``, ``error`` ...)."""
        with trio.fail_after(timeout):
            while True:
                for message in self.received:
                    if kind in message:
                        return message
                await self.changed.wait()

    async def run(self) -> None:
        """Read the channel and act on voice messages until it closes."""
        while True:
            try:
                message = json.loads(await self._ws.get_message())
            except ConnectionClosed:
                return
            if any(key.startswith("voice") or key == "error" for key in message):
                self.received.append(message)
                await self._act(message)
                self.changed.set()
                self.changed = trio.Event()

    async def _act(self, message: dict[str, Any]) -> None:
        if "voiceJoined" in message:
            for peer in message["voiceJoined"]["participants"]:
                await self._offer(peer["connectionId"])
        elif "voiceOffer" in message:
            await self._answer(message["voiceOffer"]["from"], message["voiceOffer"]["sdp"])
        elif "voiceAnswer" in message:
            answer = message["voiceAnswer"]
            link = self.links[answer["from"]]
            description = RTCSessionDescription(answer["sdp"], "answer")
            await self._aio.call(lambda: link.pc.setRemoteDescription(description))
        elif "voiceCandidate" in message:
            await self._candidate(message["voiceCandidate"])
        elif "voicePeerLeft" in message:
            link_gone = self.links.pop(message["voicePeerLeft"]["connectionId"], None)
            if link_gone is not None:
                await self._aio.call(link_gone.pc.close)
        elif "voiceEnded" in message:
            await self.close_links()

    # -- peer connections (their methods run on the asyncio loop) --------------------------------

    async def _link(self, remote: str, offered: bool) -> Link:
        """A new peer connection (made on the asyncio loop: aiortc binds to the running loop)."""
        pc = RTCPeerConnection(self._config)
        link = Link(remote, pc, offered)
        pc.addTrack(ToneTrack(self._tone_hz))

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            link.listener = asyncio.ensure_future(self._listen(link, track))

        @pc.on("iceconnectionstatechange")
        def _ice() -> None:
            if (
                pc.iceConnectionState in ("completed", "connected")
                and link.ice_connected_at is None
            ):
                link.ice_connected_at = self._clock()
            elif pc.iceConnectionState == "failed":
                link.failed = True

        @pc.on("connectionstatechange")
        def _state() -> None:
            if pc.connectionState == "connected" and link.connected_at is None:
                link.connected_at = self._clock()
            elif pc.connectionState == "failed":
                link.failed = True

        self.links[remote] = link
        return link

    @staticmethod
    async def _listen(link: Link, track: MediaStreamTrack) -> None:
        try:
            while True:
                link.heard(await track.recv())  # type: ignore[arg-type]
        except MediaStreamError:
            pass

    async def _describe(self, link: Link, remote_offer: str | None) -> str:
        async def steps() -> str:
            if remote_offer is not None:
                await link.pc.setRemoteDescription(RTCSessionDescription(remote_offer, "offer"))
                await link.pc.setLocalDescription(await link.pc.createAnswer())
            else:
                await link.pc.setLocalDescription(await link.pc.createOffer())
            return link.pc.localDescription.sdp

        return await self._aio.call(steps)

    async def _send_description(self, kind: str, link: Link, sdp: str) -> None:
        bare, candidates = split_candidates(sdp)
        link.local_candidate_types = [c[0].split()[7] for c in candidates]
        await self.send({kind: {"to": link.remote, "sdp": bare}})
        for candidate, mid, index in candidates:
            await self.send(
                {"voiceCandidate": {"to": link.remote, "candidate": candidate, "sdpMid": mid,
                                    "sdpMLineIndex": index}}
            )  # fmt: skip
        await self.send({"voiceCandidate": {"to": link.remote, "candidate": ""}})

    async def _offer(self, remote: str) -> None:
        link = await self._aio.call(lambda: self._link(remote, offered=True))
        await self._send_description("voiceOffer", link, await self._describe(link, None))

    async def _answer(self, remote: str, sdp: str) -> None:
        link = await self._aio.call(lambda: self._link(remote, offered=False))
        await self._send_description("voiceAnswer", link, await self._describe(link, sdp))

    async def _candidate(self, fields: dict[str, Any]) -> None:
        link = self.links.get(fields["from"])
        if link is None:
            return
        text = fields.get("candidate", "")
        candidate: RTCIceCandidate | None = None
        if text:
            candidate = candidate_from_sdp(text.removeprefix("candidate:"))
            candidate.sdpMid = fields.get("sdpMid") or None
            candidate.sdpMLineIndex = fields.get("sdpMLineIndex", 0)
        await self._aio.call(lambda: link.pc.addIceCandidate(candidate))

    # -- waiting and closing ---------------------------------------------------------------------

    async def wait_connected(self, peers: int, timeout: float = 30.0) -> None:
        """Until there are ``peers`` links, each ICE-connected and DTLS-connected.
        :class:`ConnectionError` when one fails, :class:`TimeoutError` naming the states."""
        with trio.move_on_after(timeout):
            while True:
                links = list(self.links.values())
                failed = [link.remote for link in links if link.failed]
                if failed:
                    raise ConnectionError(f"{self.connection_id}: ICE failed with {failed}")
                if len(links) >= peers and all(link.connected_at for link in links):
                    return
                await trio.sleep(0.01)
        raise TimeoutError(f"{self.connection_id}: not connected in {timeout:g} s: {self.states()}")

    def states(self) -> dict[str, str]:
        """Each link's ICE and connection state, and its local candidate types."""
        return {
            remote: f"ice={link.pc.iceConnectionState} pc={link.pc.connectionState} "
            f"candidates={link.local_candidate_types}"
            for remote, link in self.links.items()
        }

    async def wait_heard(self, frames: int, timeout: float = 30.0) -> None:
        """Until every link has heard ``frames`` loud frames."""
        with trio.move_on_after(timeout):
            while True:
                # The asyncio thread counts frames; polling is the bridge (no Trio event there).
                if all(link.loud_frames >= frames for link in self.links.values()):
                    return
                await trio.sleep(0.05)
        heard = {remote: link.loud_frames for remote, link in self.links.items()}
        raise TimeoutError(f"{self.connection_id}: heard only {heard} in {timeout:g} s")

    async def close_links(self) -> None:
        links, self.links = list(self.links.values()), {}
        for link in links:
            await self._aio.call(link.pc.close)

    async def aclose(self) -> None:
        """Hang up: the peer connections, then the channel connection."""
        await self.close_links()
        await self._ws.aclose()


async def wait_all(waits: list[Callable[[], Awaitable[None]]]) -> None:
    """Run the waits concurrently; the first failure ends them all."""
    async with trio.open_nursery() as nursery:
        for wait in waits:
            nursery.start_soon(wait)
