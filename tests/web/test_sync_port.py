"""The browser client's clock estimate and drift correction (``synctv/web/app/clock.js`` and
``sync.js``), live in step included, agree with the reference (:mod:`synctv.realtime.sync`) on
every case of a table that crosses each threshold, run under Node (the modules are plain ES
modules)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from synctv.realtime.sync import (
    ClockEstimate,
    ClockSample,
    LatencyMeter,
    LiveMapping,
    RoomClock,
    correct,
    correct_live,
    live_floor,
)

APP = Path(__file__).resolve().parents[2] / "synctv" / "web" / "app"
NODE = shutil.which("node")

SCRIPT = """
import { LatencyMeter, correct, correctLive, liveFloor, liveLatency, liveTarget, roomPosition }
  from "%(app)s/sync.js";
import { ClockEstimate } from "%(app)s/clock.js";
const cases = JSON.parse(await new Promise((resolve) => {
  let text = ""; process.stdin.on("data", (d) => (text += d)); process.stdin.on("end", () => resolve(text));
}));
const corrections = cases.corrections.map(([p, r, s, playing, seeking, buffering]) =>
  correct(p, r, s, playing, { seeking, buffering }));
const positions = cases.positions.map(([position, serverTime, speed, playing, now, offset]) =>
  roomPosition({ position, serverTime, speed, playing, duration: 0 }, now, offset));
const offsets = cases.clocks.map((samples) => {
  const clock = new ClockEstimate();
  for (const [t0, t1, t2, t3] of samples) clock.add(t0, t1, t2, t3);
  return clock.offset;
});
const live = cases.live.map(([clock, player, now, offset, from, until, seeking, buffering]) => ({
  latency: liveLatency(clock, player, now, offset),
  target: liveTarget(clock, now, offset),
  correction: correctLive(player, liveTarget(clock, now, offset), { seeking, buffering }, from, until),
}));
const meters = cases.meters.map(([protocol, segment, samples]) => {
  const meter = new LatencyMeter(liveFloor(protocol, segment));
  return samples.map(([at, latency]) => (meter.add(at, latency), meter.safe(at)));
});
console.log(JSON.stringify({ corrections, positions, offsets, live, meters }));
"""

DRIFTS = [0, 0.01, 0.039, 0.04, 0.041, 0.0999, 0.1, 0.1001, 0.5, 0.1999, 1.99, 2.0, 2.5, 30]
CORRECTIONS = [
    (100 + sign * drift, 100.0, speed, playing, seeking, buffering)
    for drift, sign, speed, playing, seeking, buffering in itertools.product(
        DRIFTS, (1, -1), (0.5, 1.0, 1.5), (True, False), (False, True), (False, True)
    )
]
POSITIONS = [
    (12.5, 1000.0, speed, playing, now, offset)
    for speed, playing, now, offset in itertools.product(
        (0.25, 1.0, 2.0), (True, False), (999.0, 1000.0, 1003.5), (-0.35, 0.0, 2.0)
    )
]
CLOCKS = [
    [(0.0, 10.02, 10.03, 0.05)],
    [(0.0, 10.02, 10.03, 0.05), (1.0, 11.001, 11.002, 1.004), (2.0, 12.3, 12.31, 2.5)],
    [
        (float(i), i + 5.0 + i % 3 * 0.01, i + 5.001 + i % 3 * 0.01, i + 0.01 * (i % 5 + 1))
        for i in range(20)
    ],
    [(5.0, 1.0, 2.0, 4.0)],  # the client clock went backwards: ignored
]


LIVE = [
    (
        {
            "streamId": "s",
            "mediaId": "m",
            "mediaTime": 754.32,
            "serverTime": 1000.0,
            "targetLatency": target,
        },
        player,
        now,
        offset,
        None,
        until,
        seeking,
        False,
    )
    for target, player, now, offset, until, seeking in itertools.product(
        (1.0, 3.35),
        (749.0, 751.0, 752.9, 753.3, 754.0),
        (1000.0, 1000.5),
        (-0.2, 0.0),
        (None, 752.0),
        (False, True),
    )
]
METERS = [
    ("flv", 0.0, [(0.0, 0.3), (1.0, 0.9), (5.0, 0.2), (11.5, 0.4), (12.0, float("nan"))]),
    ("hls", 2.0, [(0.0, 2.5), (3.0, 7.9), (13.5, 1.0), (14.0, 70.0)]),
]


@pytest.fixture(scope="module")
def port() -> dict[str, list]:
    if NODE is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is required in CI")
        pytest.skip("node not installed")
    cases = {
        "corrections": CORRECTIONS,
        "positions": POSITIONS,
        "clocks": CLOCKS,
        "live": LIVE,
        "meters": [[p, s, [[a, x if x == x else None] for a, x in m]] for p, s, m in METERS],
    }
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", SCRIPT % {"app": APP.as_uri()}],
        input=json.dumps(cases), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    answers: dict[str, list] = json.loads(done.stdout)
    return answers


def test_the_correction_table_matches_the_reference(port: dict[str, list]) -> None:
    for case, answer in zip(CORRECTIONS, port["corrections"], strict=True):
        player, room, speed, playing, seeking, buffering = case
        expected = correct(player, room, speed, playing, seeking=seeking, buffering=buffering)
        assert answer["kind"] == expected.kind, case
        assert answer["rate"] == pytest.approx(expected.rate, abs=1e-12), case
        assert answer["seekTo"] == expected.seek_to, case


def test_the_room_position_matches_the_reference(port: dict[str, list]) -> None:
    for case, answer in zip(POSITIONS, port["positions"], strict=True):
        position, server_time, speed, playing, now, offset = case
        expected = RoomClock(position, server_time, speed, playing).position_at(now, offset)
        assert answer == pytest.approx(expected, abs=1e-9), case


def test_the_clock_estimate_matches_the_reference(port: dict[str, list]) -> None:
    for samples, answer in zip(CLOCKS, port["offsets"], strict=True):
        estimate = ClockEstimate()
        for sample in samples:
            estimate.add(ClockSample(*sample))
        assert answer == pytest.approx(estimate.offset or 0.0, abs=1e-12), samples


def test_live_in_step_matches_the_reference(port: dict[str, list]) -> None:
    for case, answer in zip(LIVE, port["live"], strict=True):
        clock, player, now, offset, _from, until, seeking, buffering = case
        mapping = LiveMapping(clock["mediaTime"], clock["serverTime"], clock["targetLatency"])
        assert answer["latency"] == pytest.approx(mapping.latency(player, now, offset)), case
        assert answer["target"] == pytest.approx(mapping.target_position(now, offset)), case
        expected = correct_live(
            player, mapping, now, offset, buffered_until=until, seeking=seeking, buffering=buffering
        )
        assert answer["correction"]["kind"] == expected.kind, case
        assert answer["correction"]["rate"] == pytest.approx(expected.rate, abs=1e-12), case
        assert answer["correction"]["seekTo"] == pytest.approx(expected.seek_to), case
        assert answer["correction"]["wait"] is False


def test_a_live_target_older_than_what_is_held_is_waited_for(port: dict[str, list]) -> None:
    done = subprocess.run(
        [NODE or "node", "--input-type=module", "-e",
         f'import {{ correctLive }} from "{APP.as_uri()}/sync.js";'
         "console.log(JSON.stringify(correctLive(30, 20, {}, 25, 31)));"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout) == {"kind": "seek", "rate": 1, "seekTo": 25, "wait": True}


def test_the_latency_meter_matches_the_reference(port: dict[str, list]) -> None:
    for (protocol, segment, samples), answers in zip(METERS, port["meters"], strict=True):
        meter = LatencyMeter(live_floor(protocol, segment))  # type: ignore[arg-type]
        for (at, latency), answer in zip(samples, answers, strict=True):
            meter.add(at, latency)
            assert answer == pytest.approx(meter.safe(at)), (protocol, at)
