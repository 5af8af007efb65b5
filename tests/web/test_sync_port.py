"""The browser client's clock estimate and drift correction (``synctv/web/app/clock.js`` and
``sync.js``) agree with the reference (:mod:`synctv.realtime.sync`) on every case of a table
that crosses each threshold, run under Node (the modules are plain ES modules)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from synctv.realtime.sync import ClockEstimate, ClockSample, RoomClock, correct

APP = Path(__file__).resolve().parents[2] / "synctv" / "web" / "app"
NODE = shutil.which("node")

SCRIPT = """
import { correct, roomPosition } from "%(app)s/sync.js";
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
console.log(JSON.stringify({ corrections, positions, offsets }));
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


@pytest.fixture(scope="module")
def port() -> dict[str, list]:
    if NODE is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is required in CI")
        pytest.skip("node not installed")
    cases = {"corrections": CORRECTIONS, "positions": POSITIONS, "clocks": CLOCKS}
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
