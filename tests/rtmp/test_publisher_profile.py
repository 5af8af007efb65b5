"""PublisherProfile: what a publisher announced and what its media shows, for the log."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from synctv.media.flv import TAG_AUDIO, TAG_VIDEO, FlvReader, FlvTag
from synctv.rtmp.publisher_profile import (
    MAX_ANNOUNCED_TEXT,
    PublisherProfile,
    video_profile_name,
)
from tests.conftest import fixture_bytes
from tests.support.rtmp import TAGS

AVC_HEADER, AAC_HEADER = TAGS[1].data, TAGS[2].data
KEY, INTER = b"\x17\x01\x00\x00\x00" + bytes(20), b"\x27\x01\x00\x00\x00" + bytes(20)


def test_obs_announcement_and_measured_keyframe_interval() -> None:
    profile = PublisherProfile()
    profile.connected({"app": "live", "flashVer": "FMLE/3.0 (compatible; FMSc/1.0)"})
    profile.metadata(
        {
            "encoder": "obs-output module (libobs version 29.0.2)",
            "width": 1280.0,
            "height": 720.0,
            "framerate": 30.0,
            "videodatarate": 2500.0,
            "audiodatarate": 160.0,
        }
    )
    assert profile.media(TAG_VIDEO, 0, AVC_HEADER) is None
    assert profile.media(TAG_AUDIO, 0, AAC_HEADER) is None
    assert profile.media(TAG_VIDEO, 0, KEY) is None  # the first key frame: nothing to measure
    assert profile.media(TAG_VIDEO, 33, INTER) is None
    assert profile.media(TAG_VIDEO, 8333, KEY) == 8333
    assert profile.media(TAG_VIDEO, 10333, KEY) == 2000
    assert profile.keyframe_interval_ms == 8333  # the longest gap
    assert profile.describe() == (
        "flashVer='FMLE/3.0 (compatible; FMSc/1.0)' "
        "encoder='obs-output module (libobs version 29.0.2)' "
        "video=avc 1280x720 30fps 2500kbps audio=aac 160kbps keyframe_interval=8.33s "
        f"measured={profile.measured_kbps:.0f}kbps"
    )


def test_nothing_announced() -> None:
    assert PublisherProfile().describe() == (
        "flashVer='' encoder='' video=none audio=none keyframe_interval=unmeasured"
    )


def test_announced_text_is_cut_and_made_printable() -> None:
    profile = PublisherProfile()
    profile.connected({"flashVer": "a\nb" + "x" * 500})
    assert profile.flash_ver == "a?b" + "x" * (MAX_ANNOUNCED_TEXT - 3) + "…"


def test_nonsense_numbers_are_ignored() -> None:
    profile = PublisherProfile()
    profile.metadata({"width": float("nan"), "height": -1.0, "framerate": True, "encoder": 5.0})
    assert (profile.width, profile.height, profile.frame_rate, profile.encoder) == (
        None,
        None,
        None,
        "",
    )


amf0_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.text(max_size=20),
    lambda inner: st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)


@given(
    st.dictionaries(st.sampled_from(["encoder", "width", "height", "framerate"]), amf0_values),
    st.lists(
        st.tuples(st.sampled_from([TAG_AUDIO, TAG_VIDEO]), st.integers(0, 2**32), st.binary())
    ),
)
def test_any_input_is_described_without_raising(
    metadata: dict[str, object], media: list[tuple[int, int, bytes]]
) -> None:
    profile = PublisherProfile()
    profile.metadata(metadata)  # type: ignore[arg-type]
    for tag_type, timestamp, body in media:
        profile.media(tag_type, timestamp, body)
    assert profile.describe().startswith("flashVer=")


def _first_tags(name: str) -> list[FlvTag]:
    return FlvReader().receive_data(fixture_bytes(name))


def test_profile_level_and_size_from_the_sequence_header() -> None:
    # No onMetaData: the size comes from the SPS, profile and level from the record.
    profile = PublisherProfile()
    profile.media(TAG_VIDEO, 0, AVC_HEADER)
    assert (profile.video_codec, profile.video_profile, profile.video_level) == (
        "avc",
        "High",
        "1.3",
    )
    assert (profile.width, profile.height) == (320, 240)
    hevc = PublisherProfile()
    for tag in _first_tags("flv/hevc.flv")[:6]:
        if tag.tag_type in (TAG_AUDIO, TAG_VIDEO):
            hevc.media(tag.tag_type, tag.timestamp, tag.data)
    assert (hevc.video_codec, hevc.video_profile, hevc.video_level) == ("hevc", "Main", "2")
    assert (hevc.width, hevc.height) == (320, 240)
    announced = PublisherProfile()
    announced.metadata({"width": 1920.0, "height": 1080.0})
    announced.media(TAG_VIDEO, 0, AVC_HEADER)
    assert (announced.width, announced.height) == (1920, 1080)  # the announcement stands


def test_profile_names() -> None:
    assert video_profile_name("avc", 100) == "High"
    assert video_profile_name("hevc", 2) == "Main 10"
    assert video_profile_name("avc", 7) == "7"
    assert video_profile_name("vp9", 0) == "0"
