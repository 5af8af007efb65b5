"""The room live gate (synctv.core.room_live.RoomLiveGate) on a real PostgreSQL: streams of no
room play openly; a private room's need the room's token (required, invalid, expired); a public
room's play anonymously while allowAnonymousLive is on; what it remembers of a room lasts its
cache TTL, by its clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from synctv.auth.live_tokens import LiveViewerTokens
from synctv.core.room_live import RoomLiveGate, ViewerCounts, diagnose
from synctv.errors import DomainError
from synctv.store.db import Database
from tests.support.rooms import rooms_on

pytestmark = pytest.mark.slow

NOW = 1_700_000_000.0


@dataclass(frozen=True)
class Stream:
    room_id: str | None


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


async def refused(gate: RoomLiveGate, stream: Stream, token: str | None) -> str:
    with pytest.raises(DomainError) as caught:
        await gate.admit(stream, token)
    return caught.value.code


async def test_who_the_gate_admits(database: Database) -> None:
    rooms, store, owner = await rooms_on(database)
    private = await rooms.create(owner, name="private", is_public=False)
    public = await rooms.create(owner, name="public")
    closed = await rooms.create(owner, name="no anonymous")
    await rooms.patch_settings(owner, closed.id, {"allowAnonymousLive": False})
    clock = Clock()
    tokens = LiveViewerTokens(b"k" * 48, clock, ttl=60)
    gate = RoomLiveGate(store, tokens.check, clock=clock)

    await gate.admit(Stream(None), None)  # no room: public, as before rooms existed
    for room in (private, closed):
        assert await refused(gate, Stream(room.id), None) == "live_token_required"
        assert await refused(gate, Stream(room.id), "") == "live_token_required"
        await gate.admit(Stream(room.id), tokens.issue(room.id, "alice")[0])
        assert await refused(gate, Stream(room.id), "junk") == "live_token_invalid"
    assert await refused(gate, Stream("no-such-room"), None) == "live_token_required"
    # A token of another room is refused; an expired one too, by the token's own code.
    public_token, _ = tokens.issue(public.id, "alice")
    assert await refused(gate, Stream(private.id), public_token) == "live_token_invalid"
    private_token, _ = tokens.issue(private.id, "alice")
    clock.now = NOW + 60
    assert await refused(gate, Stream(private.id), private_token) == "live_token_expired"
    # A public room plays anonymously, whatever token comes along.
    await gate.admit(Stream(public.id), None)
    await gate.admit(Stream(public.id), "junk")
    await gate.admit(Stream(public.id), private_token)


async def test_the_gate_remembers_a_room_for_its_cache_ttl(database: Database) -> None:
    rooms, store, owner = await rooms_on(database)
    room = await rooms.create(owner, name="public")
    clock = Clock()
    gate = RoomLiveGate(store, LiveViewerTokens(b"k" * 48, clock, ttl=60).check, clock=clock)
    await gate.admit(Stream(room.id), None)
    await rooms.update(owner, room.id, is_public=False)
    await gate.admit(Stream(room.id), None)  # remembered
    clock.now = NOW + 5
    assert await refused(gate, Stream(room.id), None) == "live_token_required"


@dataclass
class Facts:
    """A publisher's facts as the RTMP server records them (PublisherFacts)."""

    encoder: str = "obs-output module (libobs version 30.0.0)"
    video_codec: str = "avc"
    video_profile: str = "High"
    video_level: str = "4.1"
    audio_codec: str = "aac"
    width: int | None = 1920
    height: int | None = 1080
    frame_rate: float | None = 30.0
    video_kbps: float | None = 4500.0
    audio_kbps: float | None = 160.0
    keyframe_interval_ms: int | None = 2000
    measured_kbps: float | None = 4700.0


def codes(facts: Facts) -> list[str]:
    return [w.code for w in diagnose(facts).warnings]


def test_diagnose_a_good_obs_setup_has_no_warning() -> None:
    found = diagnose(Facts())
    assert found.warnings == ()
    assert (found.announced_kbps, found.bitrate_kbps) == (4660.0, 4700.0)
    assert codes(Facts(keyframe_interval_ms=2500)) == []  # within the tolerance


def test_diagnose_warns_in_plain_words() -> None:
    hevc = diagnose(Facts(video_codec="hevc", keyframe_interval_ms=8000))
    assert [w.message for w in hevc.warnings] == [
        "HEVC: most browsers cannot play this; set OBS to x264",
        "keyframe interval 8 s: set 2 s for lower latency",
    ]
    assert codes(Facts(audio_codec="")) == ["no_audio"]
    assert codes(Facts(audio_codec="", measured_kbps=None)) == []  # not a second in yet
    assert codes(Facts(audio_codec="opus")) == ["audio_codec_unsupported"]
    assert codes(Facts(measured_kbps=9000.0)) == ["bitrate_high"]
    assert codes(Facts(measured_kbps=None, video_kbps=8000.0)) == ["bitrate_high"]
    quiet = diagnose(Facts(measured_kbps=None, video_kbps=None, audio_kbps=None))
    assert quiet.announced_kbps is None
    assert quiet.warnings == ()


def test_diagnose_carries_who_watches_by_protocol() -> None:
    assert diagnose(Facts()).viewers == ViewerCounts()  # nobody (no counts given)
    counts = ViewerCounts.of({"flv": 2, "hls": 3, "rtmp": 1, "webrtc": 7})
    assert (counts.flv, counts.hls, counts.rtmp, counts.total) == (2, 3, 1, 6)
    assert diagnose(Facts(), counts).viewers is counts
    assert ViewerCounts.of({"hls": 4}).total == 4
