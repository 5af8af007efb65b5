"""Tests for synctv.media.hls: golden playlists, segmentation policy, the sliding window."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.media.errors import LocalProtocolError
from synctv.media.hls import (
    Cut,
    PlaylistWindow,
    Segment,
    SegmentationPolicy,
    advertise_blocking_reload,
    format_program_date_time,
    render_media_playlist,
    with_uri_query,
)
from tests.conftest import fixture_bytes

T0 = 1_709_294_400_000  # 2024-03-01T12:00:00Z in epoch milliseconds

GOLDEN_CASES = [
    (
        "live_window.m3u8",
        [
            Segment(7, 2.0, "7.ts", T0),
            Segment(8, 2.002, "8.ts", T0 + 2_000),
            Segment(9, 1.9684, "9.ts", T0 + 4_002),
        ],
        {"target_duration": 3, "media_sequence": 7},
    ),
    (
        "discontinuity_ended.m3u8",
        [
            Segment(120, 4.0, "120.ts"),
            Segment(121, 6.499, "121.ts", discontinuity=True),
            Segment(122, 1 / 3, "122.ts"),
        ],
        {"target_duration": 6, "media_sequence": 120, "discontinuity_sequence": 2, "ended": True},
    ),
    ("empty_live.m3u8", [], {"target_duration": 3, "media_sequence": 0}),
]


@pytest.mark.parametrize(
    ("fixture", "segments", "kwargs"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES]
)
def test_render_golden(fixture: str, segments: list[Segment], kwargs: dict[str, int]) -> None:
    expected = fixture_bytes(f"hls/{fixture}").decode("ascii")
    assert render_media_playlist(segments, **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("epoch_ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (T0 + 123, "2024-03-01T12:00:00.123Z"),
        (951_782_400_999, "2000-02-29T00:00:00.999Z"),
    ],
)
def test_program_date_time(epoch_ms: int, text: str) -> None:
    assert format_program_date_time(epoch_ms) == text


def test_render_version_is_configurable() -> None:
    text = render_media_playlist([], target_duration=2, media_sequence=5, version=6)
    assert text.splitlines()[1] == "#EXT-X-VERSION:6"


@pytest.mark.parametrize(
    ("segments", "match"),
    [
        ([Segment(4, 1.0, "4.ts")], "listed where 3 belongs"),
        ([Segment(3, 1.0, "a"), Segment(5, 1.0, "b")], "listed where 4 belongs"),
        ([Segment(3, 6.5, "a")], "over the target duration"),
        ([Segment(3, 6.4996, "a")], "over the target duration"),  # printed as 6.500
    ],
)
def test_render_rejects_inconsistent_input(segments: list[Segment], match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        render_media_playlist(segments, target_duration=6, media_sequence=3)


def test_render_accepts_duration_just_under_rounding_boundary() -> None:
    text = render_media_playlist([Segment(0, 6.4994, "a")], target_duration=6, media_sequence=0)
    assert "#EXTINF:6.499," in text


def test_advertise_blocking_reload() -> None:
    live = fixture_bytes("hls/live_window.m3u8")
    advertised = advertise_blocking_reload(live)
    lines = advertised.decode().splitlines()
    assert lines[:4] == [
        "#EXTM3U",
        "#EXT-X-VERSION:3",  # RFC 8216bis §8: EXT-X-SERVER-CONTROL needs no higher version
        "#EXT-X-TARGETDURATION:3",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES",
    ]
    assert advertised.replace(b"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n", b"") == live
    # An ended playlist keeps the tag (§6.2.1: tags do not disappear from a playlist).
    ended = fixture_bytes("hls/discontinuity_ended.m3u8")
    assert advertise_blocking_reload(ended).count(b"CAN-BLOCK-RELOAD=YES\n") == 1
    assert advertise_blocking_reload(b"#EXTM3U\n") == b"#EXTM3U\n"
    assert advertise_blocking_reload(b"#EXT-X-TARGETDURATION:3") == b"#EXT-X-TARGETDURATION:3"


# --------------------------------------------------------------------------- policy

POLICY_CASES = [
    # (elapsed_ms, at_boundary, realign, step_ms, target_duration, boundary_interval_ms, cut)
    # with target_seconds = 2
    (1_999, True, False, 40, 3, None, Cut.NONE),
    (2_000, True, False, 40, 3, None, Cut.TARGET),  # a keyframe after the target
    (2_500, False, False, 40, 3, None, Cut.NONE),  # no keyframe: keep waiting
    (3_459, False, False, 40, 3, None, Cut.NONE),  # the next frame still fits 3.499 s
    (3_460, False, False, 40, 3, None, Cut.FORCED),  # the next would not: last resort
    (3_460, True, False, 40, 3, None, Cut.TARGET),  # a keyframe always wins over forcing
    (5_460, False, False, 40, 5, None, Cut.FORCED),  # a 5 s target duration: 5.499 s fits
    (300, True, True, 40, 3, None, Cut.TARGET),  # realigning after a forced cut
    (300, False, True, 40, 3, None, Cut.NONE),
    (0, True, True, 40, 3, None, Cut.NONE),  # DTS did not advance
    (-2_000, True, False, 40, 3, None, Cut.NONE),  # DTS went backwards
    (11_960, False, False, 40, None, None, Cut.NONE),  # first segment: up to the 12 s cap
    (11_961, False, False, 40, None, None, Cut.FORCED),
    (1_997, True, False, 40, 3, 1_997, Cut.TARGET),  # one GOP more would be 3.994 s: cut now
    (1_997, True, False, 40, None, 1_997, Cut.TARGET),  # first segment: against the 3 s floor
    (1_997, True, False, 40, 5, 1_997, Cut.NONE),  # 3.994 s fits a 5 s target duration
    (1_600, True, False, 40, 3, 1_600, Cut.NONE),  # 3.2 s fits: wait for the target
    (999, True, False, 40, 3, 8_000, Cut.NONE),  # under half the target: no prediction
    (1_000, True, False, 40, 3, 8_000, Cut.TARGET),
]


@pytest.mark.parametrize(
    ("elapsed", "boundary", "realign", "step", "target_duration", "interval", "cut"),
    POLICY_CASES,
)
def test_should_cut(
    elapsed: int,
    boundary: bool,
    realign: bool,
    step: int,
    target_duration: int | None,
    interval: int | None,
    cut: Cut,
) -> None:
    decision = SegmentationPolicy(2.0).should_cut(
        elapsed_ms=elapsed,
        at_boundary=boundary,
        realign=realign,
        step_ms=step,
        target_duration=target_duration,
        boundary_interval_ms=interval,
    )
    assert decision is cut


@pytest.mark.parametrize(("target", "duration"), [(0.5, 1), (1.0, 2), (2.0, 3), (4.0, 6), (6, 9)])
def test_min_target_duration(target: float, duration: int) -> None:
    assert SegmentationPolicy(target).min_target_duration == duration


@pytest.mark.parametrize(
    ("target", "first_ms", "duration"),
    [
        (2.0, 2_000, 3),  # a 2 s GOP: the 1.5x floor
        (2.0, 1_000, 3),
        (2.0, 5_000, 5),  # a 5 s GOP: its own length (EXTINF 5.499 still rounds to 5)
        (2.0, 5_001, 6),
        (2.0, 12_000, 12),
        (2.0, 30_000, 12),  # capped; the first segment is cut by then anyway
        (10.0, 10_000, 15),  # a floor above the cap wins
    ],
)
def test_target_duration_for_the_first_segment(target: float, first_ms: int, duration: int) -> None:
    assert SegmentationPolicy(target).target_duration_for(first_ms) == duration


def test_limits_and_gaps() -> None:
    policy = SegmentationPolicy(2.0)
    assert policy.segment_limit_ms(None) == 12_000
    assert policy.segment_limit_ms(3) == 3_499  # rounds to 3 (§4.3.3.1)
    assert policy.segment_limit_ms(5) == 5_499
    assert policy.is_gap(3_001, None)  # the 3 s floor before the target duration is fixed
    assert not policy.is_gap(3_000, None)
    assert not policy.is_gap(4_000, 5)
    assert policy.is_gap(5_001, 5)
    assert not policy.video_stalled(2_000)
    assert policy.video_stalled(2_001)


@pytest.mark.parametrize("target", [0.0, -1.0, float("nan")])
def test_policy_rejects_bad_target(target: float) -> None:
    with pytest.raises(LocalProtocolError):
        SegmentationPolicy(target)


# --------------------------------------------------------------------------- window


def _fill(window: PlaylistWindow, durations: list[float]) -> list[Segment]:
    evicted: list[Segment] = []
    for duration in durations:
        seq = window.next_sequence
        evicted += window.add(Segment(seq, duration, f"{seq}.ts"))
    return evicted


def test_window_slides_and_counts_media_sequence() -> None:
    window = PlaylistWindow(3, 3)
    assert window.render() == fixture_bytes("hls/empty_live.m3u8").decode()
    assert _fill(window, [3.0, 3.0, 3.0]) == []
    evicted = _fill(window, [3.0, 3.0, 2.9])
    assert [s.sequence for s in evicted] == [0, 1]  # 2.9 s more would leave < 9 s listed
    evicted = _fill(window, [3.1])
    assert [s.sequence for s in evicted] == [2, 3]
    assert window.media_sequence == 4
    assert [s.sequence for s in window.segments] == [4, 5, 6]
    text = window.render()
    assert "#EXT-X-MEDIA-SEQUENCE:4\n" in text
    assert text.count("#EXTINF:") == 3
    assert window.statistics().segments == 3


def test_window_keeps_three_target_durations() -> None:
    """Short segments make the window longer rather than the playlist shorter (§6.2.2)."""
    window = PlaylistWindow(3, 3)
    _fill(window, [1.0] * 12)
    total = sum(s.duration for s in window.segments)
    assert len(window.segments) == 9
    assert total >= 9.0
    assert window.media_sequence == 3


def test_window_first_sequence() -> None:
    window = PlaylistWindow(2, 2, first_sequence=40)
    assert window.media_sequence == 40
    with pytest.raises(LocalProtocolError, match="added where 40 is next"):
        window.add(Segment(0, 1.0, "x"))
    window.add(Segment(40, 1.0, "40.ts"))
    assert window.next_sequence == 41


def test_window_discontinuity_sequence() -> None:
    window = PlaylistWindow(3, 2)
    _fill(window, [2.0, 2.0])
    window.mark_discontinuity()
    _fill(window, [2.0, 2.0])
    window.add(Segment(window.next_sequence, 2.0, "x.ts", discontinuity=True))
    assert [s.sequence for s in window.segments] == [2, 3, 4]
    assert [s.discontinuity for s in window.segments] == [True, False, True]
    assert window.discontinuity_sequence == 0
    _fill(window, [2.0])
    assert window.media_sequence == 3
    assert window.discontinuity_sequence == 1
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1\n" in window.render()
    _fill(window, [2.0, 2.0])
    assert window.discontinuity_sequence == 2
    assert window.statistics().discontinuity_sequence == 2


def test_window_refuses_a_segment_over_the_target_duration() -> None:
    """EXTINF is always the real duration: an over-long segment is the segmenter's bug."""
    window = PlaylistWindow(3, 3)
    window.add(Segment(0, 3.499, "0.ts"))
    with pytest.raises(LocalProtocolError, match="over the target duration"):
        window.add(Segment(1, 3.5, "1.ts"))
    assert "#EXTINF:3.499,\n0.ts" in window.render()


def test_window_availability_duration() -> None:
    """§6.2.2: a segment that left stays available for its duration plus the longest playlist."""
    window = PlaylistWindow(3, 3)
    assert _fill(window, [3.0, 3.0, 3.0]) == []
    [evicted] = _fill(window, [3.4])
    assert window.longest_playlist_seconds == pytest.approx(9.4)  # 3 + 3 + 3.4 listed now
    assert window.availability_seconds(evicted) == pytest.approx(12.4)
    assert _fill(window, [1.0]) == []  # 3 + 3.4 + 1 would be under 9 s: the playlist grows
    assert window.statistics().longest_playlist_seconds == pytest.approx(10.4)


def test_window_end() -> None:
    window = PlaylistWindow(3, 3)
    _fill(window, [2.0])
    window.end()
    assert window.ended
    assert window.render().endswith("#EXTINF:2.000,\n0.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(LocalProtocolError, match="already ended"):
        window.add(Segment(1, 1.0, "1.ts"))
    assert window.statistics().ended


@pytest.mark.parametrize(("length", "target"), [(0, 3), (3, 0)])
def test_window_rejects_bad_configuration(length: int, target: int) -> None:
    with pytest.raises(LocalProtocolError):
        PlaylistWindow(length, target)


@given(
    st.integers(1, 6),
    st.integers(1, 8),
    st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans(), st.booleans()), max_size=40),
)
def test_window_invariants(length: int, target: int, steps: list[tuple[float, bool, bool]]) -> None:
    window = PlaylistWindow(length, target)
    evicted: list[Segment] = []
    added = 0
    longest = 0.0
    for fraction, marked, flagged in steps:
        if marked:
            window.mark_discontinuity()
        duration = round(fraction * (target + 0.499), 3)  # every duration that fits
        evicted += window.add(
            Segment(window.next_sequence, duration, "s.ts", discontinuity=flagged)
        )
        added += 1
        listed = sum(round(s.duration * 1000) for s in window.segments) / 1000
        longest = max(longest, listed)
        assert window.longest_playlist_seconds == pytest.approx(longest)
    segments = window.segments
    assert window.media_sequence + len(segments) == added
    assert [s.sequence for s in evicted + list(segments)] == list(range(added))
    assert window.discontinuity_sequence == sum(s.discontinuity for s in evicted)
    if evicted:
        assert len(segments) >= length
        assert sum(round(s.duration * 1000) for s in segments) >= 3 * target * 1000
    text = window.render()  # never raises: every listed segment fits the target duration
    assert text.count("#EXTINF:") == len(segments)
    assert text.count("#EXT-X-DISCONTINUITY\n") == sum(s.discontinuity for s in segments)


@pytest.mark.parametrize(
    ("playlist", "expected"),
    [
        (b"#EXTM3U\n#EXTINF:2.000,\n7.ts\n", b"#EXTM3U\n#EXTINF:2.000,\n7.ts?token=t\n"),
        (b"#EXTINF:2,\r\n7.ts?a=1\r\n\r\n", b"#EXTINF:2,\r\n7.ts?a=1&token=t\r\n\r\n"),
        (b"#EXTM3U\n#EXT-X-ENDLIST\n", b"#EXTM3U\n#EXT-X-ENDLIST\n"),
        (b"", b""),
    ],
    ids=["uri-line", "crlf-and-existing-query", "tags-only", "empty"],
)
def test_with_uri_query_adds_to_uri_lines_only(playlist: bytes, expected: bytes) -> None:
    assert with_uri_query(playlist, b"token=t") == expected


def test_with_uri_query_on_a_golden_playlist() -> None:
    text = fixture_bytes("hls/live_window.m3u8")
    rewritten = with_uri_query(text, b"token=t").split(b"\n")
    for before, after in zip(text.split(b"\n"), rewritten, strict=True):
        assert after == (before if not before or before.startswith(b"#") else before + b"?token=t")
    assert any(line.endswith(b".ts?token=t") for line in rewritten)
