"""No user enumeration by timing: ``login/start`` for an unknown name runs the same OPAQUE work
(on the setup's fake record) as for a known one, so its answer takes as long.

Known and unknown names alternate (in a random order within each pair), so drift in the
machine's load hits both alike; the fast quarters of a few hundred samples of each are compared
against half the OPAQUE work itself. Skipping the work for unknown names (what would leak) moves
them by about all of it, which ``test_the_check_would_see_a_skipped_opaque_step`` shows with a
server that does so.
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


async def warmed_up(person: Person) -> None:
    """Starts until 20 in a row are answered: the warm-up, and the wait for the limit's change
    to reach the server (until then, past the default limit, a start is refused 429; a fixed
    wait raced it on a busy machine)."""
    in_a_row = 0
    with trio.fail_after(30):
        while in_a_row < 20:
            ke1, _state = opaque.client_login_start(b"whatever")
            response = await person.post(
                "/api/auth/opaque/login/start",
                {"username": "known", "credentialRequest": std64(ke1)},
            )
            if response.status_code == 429:
                in_a_row = 0
                await trio.sleep(0.1)
                continue
            assert response.status_code == 200, response.text
            in_a_row += 1


def fast_quarter(times: list[float]) -> float:
    """The 25th percentile: load on a shared machine only ever adds delay, so the fast end of
    the distribution moves least with it, while skipping the OPAQUE work moves all of it."""
    return statistics.quantiles(times, n=4)[0]


async def samples(
    tmp_path: Path, postgres: RunningPostgres
) -> tuple[list[float], list[float], float]:
    """Start times (known, unknown), interleaved, and the OPAQUE server work's own median."""
    async with identity_server(tmp_path, postgres) as server:
        # Both limits this test's ~620 requests from one address would reach: login attempts
        # (5 a minute) and all API requests (600 a minute: a faster server reached it mid-run).
        for limit in ("ratelimit.authPerAddressPerMinute", "ratelimit.apiPerAddressPerMinute"):
            code, _out, err = await synctv(server.data_dir, "admin", "settings", "set", limit, "0")
            assert code == 0, err
        person = server.person(2)
        assert (await person.register("known")).status_code == 200
        await warmed_up(person)
        rng = random.Random(7)
        known, unknown = [], []
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
    return known, unknown, statistics.median(work)


async def test_unknown_names_take_as_long(tmp_path: Path, postgres: RunningPostgres) -> None:
    known, unknown, work = await samples(tmp_path, postgres)
    difference = abs(fast_quarter(known) - fast_quarter(unknown))
    assert difference <= work / 2, (difference, work)


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
    known, unknown, work = await samples(tmp_path, postgres)
    difference = fast_quarter(known) - fast_quarter(unknown)
    assert difference > work / 2, (difference, work)
