"""Sign-up, sign-in and sessions over real HTTP against the whole server.

Each simulated person talks from their own loopback address (127.0.0.N): the per-address
limits on logins and registrations are real and on, so a test that needs more attempts than one
address is allowed uses more addresses, as separate people would. Our own OPAQUE client runs
with the identity KSF where speed matters (the KSF is the client's alone; the server never sees
it), and with Argon2id where it meets the browser library.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from pydantic import SecretStr

from synctv.auth import opaque
from tests.support.cli import synctv
from tests.support.identity import (
    PASSWORD,
    Person,
    claims,
    identity_server,
    std64,
    unstd64,
)
from tests.support.opaque_node import SerenityOpaque, b64
from tests.support.postgres import RunningPostgres
from tests.support.server import running_server, server_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def serenity() -> Iterator[SerenityOpaque]:
    peer = SerenityOpaque()
    yield peer
    peer.close()


def documented(document: dict[str, Any], part: dict[str, Any]) -> set[str]:
    """The property names of a request body's or response's JSON schema in the document."""
    reference = part["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
    return set(schema["properties"])


async def test_register_login_refresh_logout(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        alice = server.person(2)
        registered = await alice.register("Alice")
        assert registered.status_code == 200, registered.text
        body = registered.json()
        assert body["status"] == "registered"
        assert body["user"]["username"] == "Alice"
        assert body["user"]["role"] == "user"
        user_id = body["user"]["id"]
        assert len(user_id) >= 16
        assert not user_id.isdigit()

        # Case and width do not make another account: the name is taken.
        taken = await server.person(3).register("ＡＬＩＣＥ")
        assert (taken.status_code, taken.json()["code"]) == (409, "username_taken")

        signed_in = await alice.login("alice")  # any case signs in to the same account
        assert signed_in.status_code == 200, signed_in.text
        tokens = signed_in.json()
        assert tokens["user"]["id"] == user_id
        access = claims(tokens["accessToken"])
        assert set(access) == {"sub", "role", "sid", "pv", "typ", "iat", "exp", "jti"}
        assert (access["sub"], access["role"], access["typ"]) == (user_id, "user", "access")
        assert access["exp"] - access["iat"] == 3600
        refresh_claims = claims(tokens["refreshToken"])
        assert refresh_claims["typ"] == "refresh"
        assert refresh_claims["exp"] - refresh_claims["iat"] == 30 * 24 * 3600

        me = await alice.http.get(
            "/api/user", headers={"authorization": f"Bearer {tokens['accessToken']}"}
        )
        assert me.status_code == 200, me.text
        assert me.json()["id"] == user_id
        assert me.json()["username"] == "Alice"

        # A refresh token is not an access token, and no token is no one.
        wrong_kind = await alice.http.get(
            "/api/user", headers={"authorization": f"Bearer {tokens['refreshToken']}"}
        )
        assert wrong_kind.json()["code"] == "authentication_required"
        assert (await alice.http.get("/api/user")).status_code == 401

        # Refresh rotates: a new pair; the old refresh token is spent.
        rotated = await alice.post("/api/auth/refresh", {"refreshToken": tokens["refreshToken"]})
        assert rotated.status_code == 200, rotated.text
        pair = rotated.json()
        assert claims(pair["refreshToken"])["sid"] == refresh_claims["sid"]
        assert claims(pair["refreshToken"])["jti"] != refresh_claims["jti"]
        # Reuse of the spent one revokes the whole session: every token of it stops at once.
        reused = await alice.post("/api/auth/refresh", {"refreshToken": tokens["refreshToken"]})
        assert (reused.status_code, reused.json()["code"]) == (401, "token_revoked")
        for token in (tokens["accessToken"], pair["accessToken"]):
            after = await alice.http.get("/api/user", headers={"authorization": f"Bearer {token}"})
            assert (after.status_code, after.json()["code"]) == (401, "token_revoked")
        again = await alice.post("/api/auth/refresh", {"refreshToken": pair["refreshToken"]})
        assert again.json()["code"] == "token_revoked"

        # Two devices: list, revoke the other one, log out of this one.
        phone = (await server.person(4).login("alice")).json()
        laptop = (await server.person(5).login("alice")).json()
        auth = {"authorization": f"Bearer {laptop['accessToken']}"}
        listed = (await alice.http.get("/api/user/sessions", headers=auth)).json()["sessions"]
        # Registration signed in too; the reused session is gone from the list.
        assert len(listed) == 3
        current = [s for s in listed if s["current"]]
        assert len(current) == 1
        assert current[0]["clientAddress"] == "127.0.0.5"
        phone_sid = claims(phone["accessToken"])["sid"]
        assert {s["id"] for s in listed} == {
            phone_sid,
            claims(laptop["accessToken"])["sid"],
            claims(body["accessToken"])["sid"],
        }
        revoked = await alice.http.delete(f"/api/user/sessions/{phone_sid}", headers=auth)
        assert revoked.status_code == 204
        gone = await alice.http.delete(f"/api/user/sessions/{phone_sid}", headers=auth)
        assert (gone.status_code, gone.json()["code"]) == (404, "session_not_found")
        phone_now = await alice.http.get(
            "/api/user", headers={"authorization": f"Bearer {phone['accessToken']}"}
        )
        assert phone_now.json()["code"] == "token_revoked"
        logout = await alice.http.post("/api/user/logout", headers=auth)
        assert logout.status_code == 204
        assert (await alice.http.get("/api/user", headers=auth)).json()["code"] == "token_revoked"
        stale = await alice.post("/api/auth/refresh", {"refreshToken": laptop["refreshToken"]})
        assert stale.json()["code"] == "token_revoked"

        # Each of these wrote its audit row.
        code, out, err = await synctv(server.data_dir, "admin", "audit", "list", "--json")
        assert code == 0, err
        actions = [(e["action"], e["outcome"]) for e in map(json.loads, out.splitlines())]
        assert actions.count(("user.registered", "success")) == 1
        assert actions.count(("user.login", "success")) == 3
        assert actions.count(("session.revoked", "success")) == 3  # reuse, revoke, logout


async def test_unknown_user_and_wrong_password_look_alike(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        bob = server.person(10)
        assert (await bob.register("bob")).status_code == 200
        answers = []
        for n, (name, password) in enumerate(
            [("bob", "not the password"), ("nobody", PASSWORD), ("nobody", "x")]
        ):
            person = server.person(11 + n)
            ke1, _state = opaque.client_login_start(password.encode())
            started = await person.post(
                "/api/auth/opaque/login/start", {"username": name, "credentialRequest": std64(ke1)}
            )
            assert started.status_code == 200
            body = started.json()
            answers.append((sorted(body), len(body["credentialResponse"]), len(body["sessionId"])))
            finished = await person.login(name, password)
            assert finished.status_code == 401
            assert finished.json() == {
                "code": "invalid_credentials",
                "message": "wrong username or password",
            }
        assert answers[0] == answers[1] == answers[2]
        # What was sent is what /api/openapi.json documents, field for field.
        document = (await bob.http.get("/api/openapi.json")).json()
        start = document["paths"]["/api/auth/opaque/login/start"]["post"]
        assert documented(document, start["requestBody"]) == {"username", "credentialRequest"}
        assert documented(document, start["responses"]["200"]) == set(answers[0][0])
        for path in ("/api/user", "/api/user/sessions", "/api/user/sessions/{session_id}"):
            for operation in document["paths"][path].values():
                assert "401" in operation["responses"]
        # The fake answer for a name is stable: its OPRF part is the same on every attempt.
        evaluated = set()
        for n in range(2):
            ke1, _ = opaque.client_login_start(b"same", random_bytes=lambda k: bytes([7]) * k)
            started = await server.person(20 + n).post(
                "/api/auth/opaque/login/start",
                {"username": "nobody", "credentialRequest": std64(ke1)},
            )
            evaluated.add(unstd64(started.json()["credentialResponse"])[:32])
        assert len(evaluated) == 1

        # A finish is single use, and a made-up handshake id is the same refusal.
        person = server.person(30)
        for session_id in ("not-a-session", "x" * 64):
            refused = await person.post(
                "/api/auth/opaque/login/finish",
                {"sessionId": session_id, "credentialFinalization": std64(bytes(64))},
            )
            assert refused.json()["code"] == "invalid_credentials"
        malformed = await person.post(
            "/api/auth/opaque/login/start", {"username": "bob", "credentialRequest": "@@@"}
        )
        assert (malformed.status_code, malformed.json()["code"]) == (400, "opaque_message_invalid")
        short = await person.post(
            "/api/auth/opaque/login/start", {"username": "bob", "credentialRequest": "AAAA"}
        )
        assert (short.status_code, short.json()["code"]) == (400, "opaque_message_invalid")


async def test_rate_limit_and_lockout(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        carol = server.person(40)
        assert (await carol.register("carol")).status_code == 200
        # Five wrong passwords from five addresses lock the account (the default policy) ...
        for n in range(5):
            wrong = await server.person(41 + n).login("carol", "guess")
            assert wrong.json()["code"] == "invalid_credentials"
        # ... so even the right password is refused now, with when to retry.
        locked = await server.person(46).login("carol")
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 0
        assert "locked" in locked.json()["message"]
        # One address gets five login attempts a minute, whoever they are for.
        dave = server.person(50)
        for _ in range(5):
            assert (await dave.login("nobody-at-all")).status_code == 401
        limited = await dave.login("nobody-at-all")
        assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")


async def test_signup_settings(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        await server.set_setting("user.enablePasswordSignup", "false")
        refused = await server.person(60).register("erin")
        assert (refused.status_code, refused.json()["code"]) == (403, "signup_disabled")

        await server.set_setting("user.enablePasswordSignup", "true")
        await server.set_setting("user.signupNeedsReview", "true")
        pending = await server.person(61).register("erin")
        assert pending.status_code == 200, pending.text
        body = pending.json()
        assert body["status"] == "pending_review"
        assert "accessToken" not in body
        assert "refreshToken" not in body
        waiting = await server.person(62).login("erin")
        assert (waiting.status_code, waiting.json()["code"]) == (403, "account_pending_review")
        # The wrong password still gets the usual answer: no hint that the account exists.
        wrong = await server.person(63).login("erin", "nope")
        assert wrong.json()["code"] == "invalid_credentials"

        bad_name = await server.person(64).register("a\u200bb")
        assert (bad_name.status_code, bad_name.json()["code"]) == (422, "invalid_username")


async def test_browser_library_and_our_client_share_passwords(
    tmp_path: Path, postgres: RunningPostgres, serenity: SerenityOpaque
) -> None:
    """A password set through @serenity-kit/opaque signs in through our client, and back;
    the browser library sends URL-safe base64 without padding, which the server accepts."""
    async with identity_server(tmp_path, postgres) as server:
        browser = server.person(70)
        start = serenity.call("client.startRegistration", {"password": PASSWORD})
        started = await browser.post(
            "/api/auth/opaque/registration/start",
            {"username": "frank", "registrationRequest": start["registrationRequest"]},
        )
        assert started.status_code == 200, started.text
        finish = serenity.call(
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
        assert done.json()["status"] == "registered", done.text

        ours = server.person(71, ksf=opaque.argon2id_ksf)
        signed_in = await ours.login("frank")
        assert signed_in.status_code == 200, signed_in.text

        # And back: our client registers, the browser library signs in.
        assert (await ours.register("grace")).status_code == 200
        login = serenity.call("client.startLogin", {"password": PASSWORD})
        started = await browser.post(
            "/api/auth/opaque/login/start",
            {"username": "grace", "credentialRequest": login["startLoginRequest"]},
        )
        assert started.status_code == 200, started.text
        finished = serenity.call(
            "client.finishLogin",
            {
                "password": PASSWORD,
                "clientLoginState": login["clientLoginState"],
                "loginResponse": b64(unstd64(started.json()["credentialResponse"])),
            },
        )
        assert finished is not None, "the browser library refused our server's answer"
        done = await browser.post(
            "/api/auth/opaque/login/finish",
            {
                "sessionId": started.json()["sessionId"],
                "credentialFinalization": finished["finishLoginRequest"],
            },
        )
        assert done.status_code == 200, done.text
        assert done.json()["user"]["username"] == "grace"


async def test_a_login_started_on_one_replica_finishes_on_another(
    tmp_path: Path, postgres: RunningPostgres, redis_url: str
) -> None:
    """Two servers on one database and one Redis (the same secrets, as a cluster is deployed):
    login state, and a session's revocation, are shared through Redis."""
    dsn = await trio.to_thread.run_sync(postgres.create_database)
    shared: dict[str, Any] = {
        "security": {
            "jwt_secret": SecretStr("j" * 48),
            "opaque_server_setup": SecretStr("ab" * 64),
        },
        "redis": {"url": SecretStr(redis_url), "key_prefix": f"test:{uuid.uuid4().hex}:"},
    }
    configs = [server_config(tmp_path / name, dsn, **shared) for name in ("one", "two")]
    async with running_server(configs[0]) as first, running_server(configs[1]) as second:
        bases = [first.addresses.http[0], second.addresses.http[0]]
        async with httpx.AsyncClient(timeout=30) as http:
            ivan = Person(http)
            http.base_url = httpx.URL(bases[0])
            assert (await ivan.register("ivan")).status_code == 200

            ke1, state = opaque.client_login_start(PASSWORD.encode())
            started = await ivan.post(
                "/api/auth/opaque/login/start",
                {"username": "ivan", "credentialRequest": std64(ke1)},
            )
            assert started.status_code == 200, started.text
            done = opaque.client_login_finish(
                state, unstd64(started.json()["credentialResponse"]), ksf=opaque.identity_ksf
            )
            http.base_url = httpx.URL(bases[1])
            finished = await ivan.post(
                "/api/auth/opaque/login/finish",
                {
                    "sessionId": started.json()["sessionId"],
                    "credentialFinalization": std64(done.credential_finalization),
                },
            )
            assert finished.status_code == 200, finished.text
            auth = {"authorization": f"Bearer {finished.json()['accessToken']}"}
            # Logged out on the second, refused on the first at once.
            assert (await http.get(f"{bases[0]}/api/user", headers=auth)).status_code == 200
            assert (await http.post(f"{bases[1]}/api/user/logout", headers=auth)).status_code == 204
            refused = await http.get(f"{bases[0]}/api/user", headers=auth)
            assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")


async def test_token_lifetimes_are_configurable(tmp_path: Path, postgres: RunningPostgres) -> None:
    lifetimes = {
        "access_token_ttl_seconds": 120,
        "refresh_token_ttl_seconds": 7200,
        "guest_token_ttl_seconds": 600,
    }
    async with identity_server(tmp_path, postgres, security=lifetimes) as server:
        body = (await server.person(2).register("timer")).json()
        access, refresh = claims(body["accessToken"]), claims(body["refreshToken"])
        assert access["exp"] - access["iat"] == 120
        assert refresh["exp"] - refresh["iat"] == 7200
        headers = {"authorization": f"Bearer {body['accessToken']}"}
        room = await server.person(2).http.post(
            "/api/rooms", json={"name": "g", "settings": {"allowGuestJoin": True}}, headers=headers
        )
        guest = await server.person(3).http.post(
            "/api/auth/guest-token", json={"roomId": room.json()["room"]["id"]}
        )
        guest_claims = claims(guest.json()["token"])
        assert guest_claims["exp"] - guest_claims["iat"] == 600
