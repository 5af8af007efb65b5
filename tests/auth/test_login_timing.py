"""No user enumeration by timing: ``login/start`` for an unknown name runs the same OPAQUE work
(on the setup's fake record) as for a known one, so its answer takes as long.

Known and unknown names alternate (in a random order within each pair), so drift in the
machine's load hits both alike; the medians of a few hundred samples are compared. The bound is
a fraction of the OPAQUE work itself: skipping it for unknown names (what would leak) moves the
unknown median by about that work, which this test catches (checked by replacing the fake-record
path with a no-op: see ``test_the_check_would_see_a_skipped_opaque_step``).
"""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest
import trio

from synctv.auth import opaque
from tests.support.cli import synctv
from tests.support.identity import Person, identity_server, std64
from tests.support.postgres import RunningPostgres

pytestmark = pytest.mark.slow
PAIRS = 300


async def start_time(person: Person, name: str) -> float:
    ke1, _state = opaque.client_login_start(b"whatever")
    began = trio.current_time()
    response = await person.post(
        "/api/auth/opaque/login/start", {"username": name, "credentialRequest": std64(ke1)}
    )
    took = trio.current_time() - began
    assert response.status_code == 200, response.text
    return took


async def medians(tmp_path: Path, postgres: RunningPostgres) -> tuple[float, float, float]:
    """Median start times (known, unknown) and the OPAQUE server work's own median."""
    async with identity_server(tmp_path, postgres) as server:
        code, _out, err = await synctv(
            server.data_dir, "admin", "settings", "set", "ratelimit.authPerAddressPerMinute", "0"
        )
        assert code == 0, err
        person = server.person(2)
        assert (await person.register("known")).status_code == 200
        await trio.sleep(1.5)  # the setting reaches the server
        rng = random.Random(7)
        known, unknown = [], []
        for _ in range(20):  # warm-up
            await start_time(person, "known")
        for _ in range(PAIRS):
            pair = ["known", "nobody-by-this-name"]
            rng.shuffle(pair)
            for name in pair:
                (known if name == "known" else unknown).append(await start_time(person, name))
    setup = opaque.ServerSetup.generate()
    ke1, _ = opaque.client_login_start(b"x")
    work = []
    for _ in range(50):
        began = trio.current_time()
        opaque.server_login_start(setup, None, ke1, b"nobody")
        work.append(trio.current_time() - began)
    return statistics.median(known), statistics.median(unknown), statistics.median(work)


async def test_unknown_names_take_as_long(tmp_path: Path, postgres: RunningPostgres) -> None:
    known, unknown, work = await medians(tmp_path, postgres)
    # Within half the OPAQUE work (skipping it would differ by about all of it), or 3 % of a
    # request, whichever is larger (the noise of a shared machine).
    bound = max(work / 2, known * 0.03)
    assert abs(known - unknown) <= bound, (known, unknown, work)


async def test_the_check_would_see_a_skipped_opaque_step(
    tmp_path: Path, postgres: RunningPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same measurement with a server that answers unknown names without the OPAQUE work
    (a leak): the difference is now about the work, beyond the bound above."""
    real = opaque.server_login_start
    fake_response = real(
        opaque.ServerSetup.generate(), None, opaque.client_login_start(b"x")[0], b"n"
    )

    def leaky(setup, record, request, identifier, **kwargs):  # type: ignore[no-untyped-def]
        if record is None:
            return fake_response
        return real(setup, record, request, identifier, **kwargs)

    monkeypatch.setattr(opaque, "server_login_start", leaky)
    known, unknown, work = await medians(tmp_path, postgres)
    assert known - unknown > max(work / 2, known * 0.03), (known, unknown, work)
