"""Proofs over real HTTP: opaque-ke-py as the client of our server, which KSF each client
library runs, and that an unknown name costs the server what a known one does.

The KSF parameters, established by the tests below rather than by reading documentation:

- ours (:func:`synctv.auth.opaque.argon2id_ksf`) and @serenity-kit/opaque: Argon2id v1.3,
  t=3, m=65536 KiB, p=4, 16 zero bytes of salt;
- opaque-ke-py 0.1.0 (Rust opaque-ke's ``Argon2::default()``): Argon2id v1.3, t=2,
  m=19456 KiB, p=1, the same zero salt.

So a password set through opaque-ke-py opens the account from any client that runs *its*
parameters (our client does, below), but not from the browser library, and back: the KSF is
the client's alone and the server never runs it. That is a property of the client library,
not of our server, and these tests pin it down so it cannot change unnoticed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import opaque_ke_py as rust
import pytest
from argon2.low_level import Type, hash_secret_raw

from synctv.auth import opaque
from tests.support.identity import PASSWORD, Person, Server, identity_server, std64, unstd64
from tests.support.opaque_node import SerenityOpaque, b64
from tests.support.postgres import RunningPostgres

pytestmark = pytest.mark.slow
PW = PASSWORD.encode()


def opaque_ke_py_ksf(oprf_output: bytes) -> bytes:
    """What opaque-ke-py runs: RustCrypto argon2's defaults (Argon2id, t=2, 19 MiB, p=1)."""
    return hash_secret_raw(
        secret=oprf_output,
        salt=bytes(16),
        time_cost=2,
        memory_cost=19456,
        parallelism=1,
        hash_len=len(oprf_output),
        type=Type.ID,
        version=19,
    )


@pytest.fixture(scope="module")
def serenity() -> Iterator[SerenityOpaque]:
    peer = SerenityOpaque()
    yield peer
    peer.close()


async def rust_register(person: Person, username: str, password: bytes = PW) -> dict[str, str]:
    start = rust.client_registration_start(password)
    started = await person.post(
        "/api/auth/opaque/registration/start",
        {"username": username, "registrationRequest": std64(start.get_message())},
    )
    assert started.status_code == 200, started.text
    response = unstd64(started.json()["registrationResponse"])
    finish = rust.client_registration_finish(password, start.get_state(), response)
    done = await person.post(
        "/api/auth/opaque/registration/finish",
        {
            "sessionId": started.json()["sessionId"],
            "registrationUpload": std64(finish.get_message()),
        },
    )
    assert done.status_code == 200, done.text
    body: dict[str, str] = done.json()
    return body


async def rust_login(person: Person, username: str, password: bytes = PW) -> dict[str, str]:
    """A login through opaque-ke-py; raises what opaque-ke-py raises when it refuses KE2."""
    login = rust.client_login_start(password)
    started = await person.post(
        "/api/auth/opaque/login/start",
        {"username": username, "credentialRequest": std64(login.get_message())},
    )
    assert started.status_code == 200, started.text
    ke2 = unstd64(started.json()["credentialResponse"])
    done = rust.client_login_finish(password, login.get_state(), ke2)
    finished = await person.post(
        "/api/auth/opaque/login/finish",
        {
            "sessionId": started.json()["sessionId"],
            "credentialFinalization": std64(done.get_message()),
        },
    )
    assert finished.status_code == 200, finished.text
    body: dict[str, str] = finished.json()
    return body


async def serenity_register(server: Server, peer: SerenityOpaque, n: int, username: str) -> None:
    browser = server.person(n)
    start = peer.call("client.startRegistration", {"password": PASSWORD})
    started = await browser.post(
        "/api/auth/opaque/registration/start",
        {"username": username, "registrationRequest": start["registrationRequest"]},
    )
    assert started.status_code == 200, started.text
    finish = peer.call(
        "client.finishRegistration",
        {
            "password": PASSWORD,
            "clientRegistrationState": start["clientRegistrationState"],
            "registrationResponse": b64(unstd64(started.json()["registrationResponse"])),
        },
    )
    done = await browser.post(
        "/api/auth/opaque/registration/finish",
        {
            "sessionId": started.json()["sessionId"],
            "registrationUpload": finish["registrationRecord"],
        },
    )
    assert done.status_code == 200, done.text


async def serenity_accepts(server: Server, peer: SerenityOpaque, n: int, username: str) -> bool:
    """Whether the browser library accepts our server's KE2 for ``username`` and PASSWORD."""
    login = peer.call("client.startLogin", {"password": PASSWORD})
    started = await server.person(n).post(
        "/api/auth/opaque/login/start",
        {"username": username, "credentialRequest": login["startLoginRequest"]},
    )
    assert started.status_code == 200, started.text
    finished = peer.call(
        "client.finishLogin",
        {
            "password": PASSWORD,
            "clientLoginState": login["clientLoginState"],
            "loginResponse": b64(unstd64(started.json()["credentialResponse"])),
        },
    )
    return finished is not None


async def test_opaque_ke_py_registers_and_logs_in_over_http(
    tmp_path: Path, postgres: RunningPostgres, serenity: SerenityOpaque
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        registered = await rust_register(server.person(2), "rusty")
        assert registered["status"] == "registered"
        signed_in = await rust_login(server.person(3), "rusty")
        assert signed_in["user"]["username"] == "rusty"  # type: ignore[index]
        me = await server.person(3).http.get(
            "/api/user", headers={"authorization": f"Bearer {signed_in['accessToken']}"}
        )
        assert me.status_code == 200, me.text
        # The wrong password: opaque-ke-py itself refuses our KE2, as the RFC says it must.
        with pytest.raises(ValueError, match="InvalidLoginError"):
            await rust_login(server.person(4), "rusty", b"not the password")

        # Our client with opaque-ke-py's KSF opens the account opaque-ke-py set; with the
        # browser library's KSF it does not, and neither does the browser library.
        assert (await server.person(5, ksf=opaque_ke_py_ksf).login("rusty")).status_code == 200
        refused = await server.person(6, ksf=opaque.argon2id_ksf).login("rusty")
        assert refused.status_code == 401
        assert not await serenity_accepts(server, serenity, 7, "rusty")


async def test_cross_client_passwords(
    tmp_path: Path, postgres: RunningPostgres, serenity: SerenityOpaque
) -> None:
    """Set through the browser library: our client signs in, opaque-ke-py cannot (its KSF
    differs); set through our client with opaque-ke-py's KSF: opaque-ke-py signs in."""
    async with identity_server(tmp_path, postgres) as server:
        await serenity_register(server, serenity, 10, "browser")
        assert (
            await server.person(11, ksf=opaque.argon2id_ksf).login("browser")
        ).status_code == 200
        assert await serenity_accepts(server, serenity, 12, "browser")
        with pytest.raises(ValueError, match="InvalidLoginError"):
            await rust_login(server.person(13), "browser")

        ours = server.person(14, ksf=opaque_ke_py_ksf)
        assert (await ours.register("ours")).status_code == 200
        assert (await rust_login(server.person(15), "ours"))["user"]["username"] == "ours"  # type: ignore[index]
        assert not await serenity_accepts(server, serenity, 16, "ours")


def rank_auc(first: list[float], second: list[float]) -> float:
    """P(a sample of ``first`` > one of ``second``), ties half: the Mann-Whitney U statistic
    over n1·n2. 0.5 means neither is slower; a constant extra cost on one side moves it
    towards 0 or 1 however noisy the machine is, as long as the noise hits both sides."""
    above = sum((a > b) + 0.5 * (a == b) for a in first for b in second)
    return above / (len(first) * len(second))


SAMPLES = 200  # per side; the median's standard error is then ~9 % of the spread's sigma


async def test_unknown_user_costs_what_a_known_one_does(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    """login/start for an unknown name runs the OPAQUE work a known one does, so its time
    does not say whether the name exists.

    The bound: the server's OPAQUE part of login/start (``opaque_cost``, measured here on the
    same machine at the same moment, so a loaded CI box scales it like the requests) is what
    an unknown path that skipped it would save. Known and unknown requests are interleaved in
    alternating order, so load spikes fall on both sides alike; medians ignore the outliers
    they leave; each address connects before its samples, so no sample pays a connection
    set-up. The medians must differ by less than half of ``opaque_cost``, and the rank
    statistic must sit closer to 0.5 than half the way to where the same samples would put it
    had the unknown path skipped the OPAQUE work. Checked against a server broken that way:
    medians 0.6 ms apart (bound 0.2 ms), rank statistic 0.85-0.87; unbroken: 0.02-0.09 ms and
    0.54-0.61 (the known name's row and ban lookup cost a little more in the database).
    """
    async with identity_server(tmp_path, postgres) as server:
        assert (await server.person(2).register("known")).status_code == 200
        setup = opaque.ServerSetup.generate()
        ke1, _ = opaque.client_login_start(PW)
        costs = []
        for _ in range(100):
            began = time.perf_counter()
            opaque.server_login_start(setup, None, ke1, b"someone")
            costs.append(time.perf_counter() - began)
        opaque_cost = statistics.median(costs)

        async def start(person: Person, name: str) -> tuple[float, tuple[object, ...]]:
            ke1, _ = opaque.client_login_start(PW)
            began = time.perf_counter()
            started = await person.post(
                "/api/auth/opaque/login/start",
                {"username": name, "credentialRequest": std64(ke1)},
            )
            elapsed = time.perf_counter() - began
            assert started.status_code == 200, started.text
            body = started.json()
            shape = (
                tuple(sorted(body)),
                len(body["credentialResponse"]),
                len(body["sessionId"]),
                len(started.content),
                tuple(sorted(k for k in started.headers if k != "date")),
            )
            return elapsed, shape

        for i in range(20):  # warm-up (connections, caches), on addresses of its own
            await start(server.person(200 + i // 4), ("known", "unknown")[i % 2])
        people = [server.person(n) for n in range(100, 200)]  # 4 starts each: under 5 a minute
        for person in people:  # connect first: a first request's connection set-up is no sample
            assert (await person.http.get("/api/public/settings")).status_code == 200
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        shapes = set()
        for i in range(2 * SAMPLES):
            pair = ("known", "unknown") if (i // 2) % 2 == 0 else ("unknown", "known")
            name = pair[i % 2]
            elapsed, shape = await start(people[i // 4], name)
            timings[name].append(elapsed)
            shapes.add(shape)
        assert len(shapes) == 1, shapes  # same fields, sizes, body length and headers

        known, unknown = timings["known"], timings["unknown"]
        gap = statistics.median(known) - statistics.median(unknown)
        auc = rank_auc(known, unknown)
        # What the same samples would show had the unknown path skipped the OPAQUE work.
        auc_skipping = rank_auc(known, [t - opaque_cost for t in unknown])
        report = (
            f"known median {statistics.median(known) * 1e3:.2f} ms, unknown "
            f"{statistics.median(unknown) * 1e3:.2f} ms, OPAQUE part {opaque_cost * 1e3:.2f} ms, "
            f"rank statistic {auc:.3f} (skipping would give {auc_skipping:.3f})"
        )
        print(report)
        assert abs(gap) < opaque_cost / 2, report
        assert abs(auc - 0.5) < abs(auc_skipping - 0.5) / 2, report
