"""The ingest clock: a live stream's media time mapped to the server time its frames arrived."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.config import LivestreamConfig
from synctv.livestream.ingest_clock import IngestClock
from synctv.livestream.stream import LiveStream
from tests.support.flv_tags import AVC_SEQ, inter, key


def test_the_least_delayed_arrival_of_the_window_sets_the_mapping() -> None:
    clock = IngestClock(window=5.0)
    assert clock.mapping() is None
    clock.arrived(0, 1_000.30)  # 300 ms late (encoder warm-up)
    clock.arrived(40, 1_000.05)  # 10 ms late: the best so far
    clock.arrived(80, 1_000.20)  # a burst read late
    media, server = clock.mapping() or (0.0, 0.0)
    assert media == pytest.approx(0.080)
    assert server == pytest.approx(1_000.05 + 0.040)  # the newest frame, at the best offset
    # Five seconds on, the old best has left the window: the mapping follows the new arrivals.
    clock.arrived(6_000, 1_006.10)
    assert clock.mapping() == pytest.approx((6.0, 1_006.10))
    clock.reset()
    assert clock.mapping() is None


@given(
    st.floats(1e9, 2e9),
    st.lists(st.floats(0.0, 0.5), min_size=1, max_size=200),
)
def test_jitter_only_delays_so_the_mapping_is_the_path_without_it(
    start: float, delays: list[float]
) -> None:
    """Frames every 40 ms, each delayed by some jitter: the mapping's offset is the smallest
    delay of the last 5 s, never more than any of them."""
    clock = IngestClock(window=5.0)
    for n, delay in enumerate(delays):
        clock.arrived(n * 40, start + n * 0.040 + delay)
    media, server = clock.mapping() or (0.0, 0.0)
    assert media == pytest.approx((len(delays) - 1) * 0.040)
    recent = [d for n, d in enumerate(delays) if n * 0.040 + d >= (len(delays) - 1) * 0.040 - 5]
    assert server - (start + media) == pytest.approx(min(recent), abs=1e-6)


async def test_a_stream_maps_its_normalised_timestamps_and_restarts_the_clock_per_session() -> None:
    now = [1_700_000_000.0]
    stream = LiveStream(
        "s1",
        LivestreamConfig.model_validate({"fanout_batch_window_ms": 0}),
        wall_clock=lambda: now[0],
    )
    publisher = stream._attach()
    assert stream.media_clock() is None
    publisher.publish_video(5_000, AVC_SEQ)  # the publisher's clock starts anywhere: normalised
    publisher.publish_video(5_000, key(0))
    now[0] += 0.040
    publisher.publish_video(5_040, inter(1))
    publisher.flush()
    assert stream.media_clock() == pytest.approx((0.040, 1_700_000_000.040))
    # A reconnect 3 s later: time continues after the old session, the clock starts over.
    now[0] += 3.0
    publisher = stream._attach()
    publisher.publish_video(0, AVC_SEQ)
    publisher.publish_video(0, key(2))
    media, server = stream.media_clock() or (0.0, 0.0)
    assert media > 0.040
    assert server == pytest.approx(now[0])
