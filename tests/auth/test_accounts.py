"""The first account and account administration, against the whole server: the setup link
(logged once, used once, from the browser library), ``synctv admin user …`` with the password
read from a file (then signing in from the browser library), bans that stop tokens at once,
roles with their rules, the review queue, deletion."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio

from synctv.auth import opaque
from synctv.auth.accounts import check_may_act, check_may_set_role
from synctv.errors import DomainError
from synctv.store.users import UserRow
from tests.support.cli import synctv
from tests.support.identity import (
    PASSWORD,
    Server,
    identity_server,
    serenity_login,
    std64,
    unstd64,
)
from tests.support.opaque_node import SerenityOpaque, b64
from tests.support.postgres import RunningPostgres, fetch_rows
from tests.support.rooms import Member

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def serenity() -> Iterator[SerenityOpaque]:
    peer = SerenityOpaque()
    yield peer
    peer.close()


async def browser_login(server: Server, serenity: SerenityOpaque, n: int, name: str) -> dict:
    done = await serenity_login(server.person(n), serenity, name)
    assert done is not None, "the browser library refused the server's answer"
    return {"status": done.status_code, **done.json()}


async def test_the_setup_link(
    tmp_path: Path,
    postgres: RunningPostgres,
    serenity: SerenityOpaque,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="synctv.identity")
    async with identity_server(tmp_path, postgres) as server:
        with trio.fail_after(10):
            while True:  # the announcement waits for the HTTP port
                if any("setup?token=" in r.getMessage() for r in caplog.records):
                    break
                await trio.sleep(0.05)
        lines = [r.getMessage() for r in caplog.records if "setup?token=" in r.getMessage()]
        assert len(lines) == 1
        link = re.search(r"(http://\S+)/setup\?token=(\S+) ", lines[0])
        assert link is not None
        assert link.group(1) == server.base
        token = link.group(2)
        browser = server.person(2)
        assert (await browser.http.get("/api/setup")).json() == {"needed": True}

        wrong = await browser.post(
            "/api/setup/registration/start",
            {"setupToken": "nope", "username": "root", "registrationRequest": b64(bytes(32))},
        )
        assert (wrong.status_code, wrong.json()["code"]) == (403, "setup_token_invalid")

        start = serenity.call("client.startRegistration", {"password": PASSWORD})
        started = await browser.post(
            "/api/setup/registration/start",
            {
                "setupToken": token,
                "username": "Admiral",
                "registrationRequest": start["registrationRequest"],
            },
        )
        assert started.status_code == 200, started.text
        upload = serenity.call(
            "client.finishRegistration",
            {
                "password": PASSWORD,
                "clientRegistrationState": start["clientRegistrationState"],
                "registrationResponse": b64(unstd64(started.json()["registrationResponse"])),
            },
        )
        done = await browser.post(
            "/api/setup/registration/finish",
            {
                "sessionId": started.json()["sessionId"],
                "registrationUpload": upload["registrationRecord"],
            },
        )
        assert done.status_code == 200, done.text
        assert done.json()["user"]["role"] == "root"
        assert done.json()["accessToken"]
        assert (await browser.http.get("/api/setup")).json() == {"needed": False}
        again = await browser.post(
            "/api/setup/registration/start",
            {
                "setupToken": token,
                "username": "second",
                "registrationRequest": start["registrationRequest"],
            },
        )
        assert (again.status_code, again.json()["code"]) == (403, "setup_token_invalid")
        # The link is a secret: it is in that one log line and nowhere else.
        assert sum(token in r.getMessage() for r in caplog.records) == 1


async def test_admin_user_commands(
    tmp_path: Path, postgres: RunningPostgres, serenity: SerenityOpaque
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        secret = tmp_path / "password"
        secret.write_text(PASSWORD + "\n")

        async def admin(*words: str) -> tuple[int, str, str]:
            return await synctv(server.data_dir, "admin", "user", *words)

        code, out, err = await admin(
            "create", "Boss", "--role", "root", "--password-file", str(secret)
        )
        assert code == 0, err
        assert out.startswith("Created Boss (")
        # No terminal and no file: a clear refusal, nothing created.
        code, _out, err = await admin("create", "nobody")
        assert code == 1
        assert "--password-file" in err
        short = tmp_path / "short"
        short.write_text("abc\n")
        code, _out, err = await admin("create", "shorty", "--password-file", str(short))
        assert (code, "at least 8" in err) == (1, True)

        # The CLI's account signs in from the browser library (same Argon2id).
        signed = await browser_login(server, serenity, 2, "boss")
        assert signed["status"] == 200, signed
        assert signed["user"]["role"] == "root"

        # Someone signs up over REST; the operator sees them and bans them.
        person = server.person(3)
        registered = (await person.register("Viewer")).json()
        viewer = Member(person, registered["user"]["id"], registered["accessToken"])
        assert (await viewer.ok("GET", "/api/user"))["username"] == "Viewer"
        code, out, _err = await admin("list", "--json")
        listed = json.loads(out)
        assert [u["username"] for u in listed["users"]] == ["Boss", "Viewer"]
        code, out, err = await admin("ban", "viewer", "--reason", "spam")
        assert code == 0, err
        assert "banned" in out
        assert await viewer.refused("GET", "/api/user") == (401, "token_revoked")
        refreshed = await person.post(
            "/api/auth/refresh", {"refreshToken": registered["refreshToken"]}
        )
        assert refreshed.json()["code"] == "token_revoked"
        assert (await person.login("Viewer")).json()["code"] == "account_banned"
        code, out, _err = await admin("list", "--banned")
        assert "Viewer" in out
        assert "Boss" not in out
        code, out, _err = await admin("show", "Viewer")
        assert "ban:       spam\nbanned by: cli\nbanned at: " in out
        assert out.endswith("until:     lifted\n")
        code, out, err = await admin("ban", "viewer", "--reason", "later", "--until", "2099-01-01")
        assert code == 0, err
        code, out, _err = await admin("show", "Viewer", "--json")
        ban = json.loads(out)["ban"]
        assert (ban["reason"], ban["bannedBy"], ban["until"]) == (
            "later",
            "cli",
            "2099-01-01T00:00:00+00:00",
        )
        assert "bannedByName" not in ban
        code, out, _err = await admin("list", "--json")
        assert [u.get("ban", {}).get("reason") for u in json.loads(out)["users"]] == [None, "later"]
        assert (await admin("unban", "Viewer"))[0] == 0
        assert (await person.login("Viewer")).status_code == 200

        # Roles; the last root stays.
        code, out, err = await admin("set-role", "Viewer", "admin")
        assert code == 0, err
        assert "admin" in out
        for words in (
            ("set-role", "Boss", "user"),
            ("ban", "Boss", "--reason", "x"),
            ("delete", "Boss"),
        ):
            code, _out, err = await admin(*words)
            assert code == 1
            assert "role_rule" in err, words
        # The role change ended Viewer's sessions; one new sign-in is one session.
        code, out, _err = await admin("sessions", "Viewer")
        assert out == "No live sessions.\n"
        assert (await person.login("Viewer")).status_code == 200
        code, out, _err = await admin("sessions", "Viewer")
        assert out.startswith("SESSION")
        code, out, _err = await admin("revoke-sessions", "Viewer")
        assert out.startswith("Revoked 1 session")

        # Delete frees the name.
        assert (await admin("delete", "Viewer"))[0] == 0
        code, _out, err = await admin("show", "Viewer")
        assert (code, "user_not_found" in err) == (1, True)
        assert (await server.person(4).register("viewer")).status_code == 200

        audit = await synctv(server.data_dir, "admin", "audit", "list", "--action", "user")
        for action in ("user.banned", "user.unbanned", "user.role_changed", "user.deleted"):
            assert action in audit[1], action


async def test_the_review_queue(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        await server.set_setting("user.signupNeedsReview", "true")
        waiting = await server.person(2).register("Newcomer")
        assert waiting.json()["status"] == "pending_review"
        later = await server.person(3).register("Spammer")
        assert later.json()["status"] == "pending_review"
        _code, out, _err = await synctv(server.data_dir, "admin", "user", "list", "--pending")
        assert "Newcomer" in out
        assert "Spammer" in out
        assert (await synctv(server.data_dir, "admin", "user", "approve", "newcomer"))[0] == 0
        assert (await server.person(2).login("Newcomer")).status_code == 200
        assert (await synctv(server.data_dir, "admin", "user", "reject", "spammer"))[0] == 0
        assert (await server.person(3).login("Spammer")).json()["code"] == "invalid_credentials"


def user(role: str, user_id: str = "target-00000000000") -> UserRow:
    now = datetime.now(UTC)
    return UserRow(user_id, "t", "t", "t", role, "active", None, 1, False, now, now, False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("actor", "target", "allowed"),
    [
        ("root", "user", True),
        ("root", "admin", True),
        ("root", "root", True),
        ("admin", "user", True),
        ("admin", "admin", False),
        ("admin", "root", False),
    ],
)
def test_who_may_act_on_whom(actor: str, target: str, allowed: bool) -> None:
    if allowed:
        check_may_act(actor, "actor-0000000000000", user(target))  # type: ignore[arg-type]
    else:
        with pytest.raises(DomainError, match="cannot act"):
            check_may_act(actor, "actor-0000000000000", user(target))  # type: ignore[arg-type]
    with pytest.raises(DomainError):
        check_may_act("root", "same-000000000000000", user("user", "same-000000000000000"))


@pytest.mark.parametrize(
    ("actor", "current", "wanted", "allowed"),
    [
        ("root", "user", "admin", True),
        ("root", "admin", "user", True),
        ("root", "user", "root", True),
        ("admin", "user", "user", True),
        ("admin", "user", "admin", False),
        ("admin", "admin", "user", False),
    ],
)
def test_who_may_set_roles(actor: str, current: str, wanted: str, allowed: bool) -> None:
    try:
        check_may_set_role(actor, current, wanted)  # type: ignore[arg-type]
    except DomainError:
        assert not allowed
    else:
        assert allowed


async def test_password_change(
    tmp_path: Path, postgres: RunningPostgres, serenity: SerenityOpaque
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        laptop = server.person(2)
        registered = (await laptop.register("Carol")).json()
        phone = server.person(3)
        on_phone = (await phone.login("carol")).json()
        auth = {"authorization": f"Bearer {registered['accessToken']}"}

        async def change(headers: dict[str, str], new: str) -> dict:
            request, state = opaque.client_registration_start(new.encode())
            started = await laptop.http.post(
                "/api/auth/password/change/start",
                json={"registrationRequest": std64(request)},
                headers=headers,
            )
            if started.status_code != 200:
                return {"status": started.status_code, **started.json()}
            upload = opaque.client_registration_finish(
                state, unstd64(started.json()["registrationResponse"])
            ).registration_upload
            done = await laptop.http.post(
                "/api/auth/password/change/finish",
                json={
                    "sessionId": started.json()["sessionId"],
                    "registrationUpload": std64(upload),
                },
                headers=headers,
            )
            return {"status": done.status_code, **done.json()}

        # A sign-in older than 5 minutes is not enough.
        await fetch_rows(
            server.dsn,
            "UPDATE login_sessions SET created_at = now() - interval '6 minutes' WHERE user_id = $1",
            registered["user"]["id"],
        )
        stale = await change(auth, "a new long password")
        assert (stale["status"], stale["code"]) == (403, "reauthentication_required")
        await fetch_rows(
            server.dsn,
            "UPDATE login_sessions SET created_at = now() WHERE user_id = $1",
            registered["user"]["id"],
        )
        changed = await change(auth, PASSWORD + " (new)")
        assert changed["status"] == 200, changed
        assert changed["accessToken"]

        # Every other session ended: the laptop's old token, the phone's token and refresh.
        for token in (registered["accessToken"], on_phone["accessToken"]):
            me = await laptop.http.get("/api/user", headers={"authorization": f"Bearer {token}"})
            assert me.json()["code"] == "token_revoked"
        refresh = await phone.post("/api/auth/refresh", {"refreshToken": on_phone["refreshToken"]})
        assert refresh.json()["code"] == "token_revoked"
        fresh = {"authorization": f"Bearer {changed['accessToken']}"}
        assert (await laptop.http.get("/api/user", headers=fresh)).status_code == 200

        # The old password is refused; the new one works (set with the browser's Argon2id).
        assert (await server.person(4).login("carol")).json()["code"] == "invalid_credentials"
        browser_like = server.person(5, ksf=opaque.argon2id_ksf)
        assert (await browser_like.login("carol", PASSWORD + " (new)")).status_code == 200
        audit = await synctv(server.data_dir, "admin", "audit", "list", "--action", "user")
        assert "user.password_changed" in audit[1]


async def test_admin_rest_and_its_role_rules(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        secret = tmp_path / "password"
        secret.write_text(PASSWORD + "\n")
        code, _out, err = await synctv(
            server.data_dir, "admin", "user", "create", "Root", "--role", "root",
            "--password-file", str(secret),
        )  # fmt: skip
        assert code == 0, err
        signed = (await server.person(2, ksf=opaque.argon2id_ksf).login("root")).json()
        root = Member(server.person(2), signed["user"]["id"], signed["accessToken"])

        async def account(n: int, name: str) -> Member:
            person = server.person(n)
            body = (await person.register(name)).json()
            return Member(person, body["user"]["id"], body["accessToken"])

        alice, bob, carol = (
            await account(3, "alice"),
            await account(4, "bob"),
            await account(5, "carol"),
        )
        assert await alice.refused("GET", "/api/admin/users") == (403, "permission_denied")

        listed = await root.ok("GET", "/api/admin/users?role=user")
        assert [u["username"] for u in listed["users"]] == ["alice", "bob", "carol"]
        await root.ok("PUT", "/api/admin/users/alice/role", {"role": "admin"})
        await root.ok("PUT", "/api/admin/users/carol/role", {"role": "admin"})
        # The role change ended alice's session: she signs in again as an admin.
        assert await alice.refused("GET", "/api/user") == (401, "token_revoked")
        again = (await server.person(3).login("alice")).json()
        alice = Member(server.person(3), again["user"]["id"], again["accessToken"])
        assert (await alice.ok("GET", "/api/user"))["role"] == "admin"

        # An admin manages users, not admins, not root, and makes no admins.
        banned = await alice.ok("PUT", "/api/admin/users/bob/ban", {"reason": "spam"})
        assert banned["banned"] is True
        assert banned["ban"] == {
            "reason": "spam",
            "bannedBy": alice.id,
            "bannedByName": "alice",
            "bannedAt": banned["ban"]["bannedAt"],
            "until": None,
        }
        assert banned["ban"]["bannedAt"].endswith("+00:00")
        assert (await root.ok("GET", "/api/admin/users/carol"))["ban"] is None
        # A new ban replaces the one in force; show and list give its reason, author and end.
        until = {"reason": "again", "until": "2099-01-01T00:00:00Z"}
        await root.ok("PUT", f"/api/admin/users/{bob.id}/ban", until)
        shown = (await root.ok("GET", "/api/admin/users/bob"))["ban"]
        assert (shown["reason"], shown["bannedByName"], shown["until"]) == (
            "again",
            "Root",
            "2099-01-01T00:00:00+00:00",
        )
        listed = (await root.ok("GET", "/api/admin/users?banned=true"))["users"]
        assert [(u["username"], u["ban"]) for u in listed] == [("bob", shown)]
        everyone = (await root.ok("GET", "/api/admin/users"))["users"]
        assert {u["username"]: u["ban"] is None for u in everyone} == {
            "Root": True,
            "alice": True,
            "bob": False,
            "carol": True,
        }
        assert await bob.refused("GET", "/api/user") == (401, "token_revoked")
        for method, path, body in [
            ("PUT", "/api/admin/users/carol/ban", {"reason": "x"}),
            ("PUT", "/api/admin/users/root/ban", {"reason": "x"}),
            ("PUT", "/api/admin/users/bob/role", {"role": "admin"}),
            ("DELETE", "/api/admin/users/carol", None),
            ("DELETE", "/api/admin/users/alice", None),
        ]:
            assert await alice.refused(method, path, body) == (403, "role_rule"), path
        lifted = await alice.ok("DELETE", "/api/admin/users/bob/ban")
        assert (lifted["banned"], lifted["ban"]) == (False, None)
        # carol's role change ended her session; a new sign-in is one session to revoke.
        assert await carol.refused("GET", "/api/user") == (401, "token_revoked")
        assert (await server.person(5).login("carol")).status_code == 200
        assert (await root.ok("DELETE", "/api/admin/users/carol/sessions"))["revoked"] == 1
        assert await root.refused("GET", "/api/admin/users/nobody") == (404, "user_not_found")

        # Creating accounts over REST: the admin's client runs OPAQUE with a first password.
        async def create(by: Member, name: str, role: str) -> tuple[int, Any]:
            request, state = opaque.client_registration_start(b"first password")
            started = await by.call(
                "POST",
                "/api/admin/users/create/start",
                {"username": name, "role": role, "registrationRequest": std64(request)},
            )
            if started.status_code != 200:
                return started.status_code, started.json()["code"]
            upload = opaque.client_registration_finish(
                state, unstd64(started.json()["registrationResponse"]), ksf=opaque.identity_ksf
            ).registration_upload
            done = await by.call(
                "POST",
                "/api/admin/users/create/finish",
                {"sessionId": started.json()["sessionId"], "registrationUpload": std64(upload)},
            )
            return done.status_code, done.json()

        assert await create(alice, "deputy", "admin") == (403, "role_rule")
        status, made = await create(alice, "erin", "user")
        assert (status, made["role"]) == (201, "user")
        status, made = await create(root, "deputy", "admin")
        assert (status, made["role"]) == (201, "admin")
        assert (await server.person(6).login("erin", "first password")).status_code == 200


async def test_admin_password_reset(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        person = server.person(2, ksf=opaque.argon2id_ksf)
        registered = (await person.register("dora")).json()
        token = registered["accessToken"]
        code, out, err = await synctv(server.data_dir, "admin", "user", "reset-password", "dora")
        assert code == 0, err
        link = re.search(r"(http://\S+)/reset-password\?token=(\S+)", out)
        assert link is not None, out
        assert link.group(1) == server.base
        reset = link.group(2)

        # The old password and sessions are gone at once.
        me = await person.http.get("/api/user", headers={"authorization": f"Bearer {token}"})
        assert me.json()["code"] == "token_revoked"
        assert (await person.login("dora")).json()["code"] == "invalid_credentials"

        async def set_new(reset_token: str, password: str) -> dict:
            request, state = opaque.client_registration_start(password.encode())
            started = await person.post(
                "/api/auth/password-reset/start",
                {"resetToken": reset_token, "registrationRequest": std64(request)},
            )
            if started.status_code != 200:
                return {"status": started.status_code, **started.json()}
            upload = opaque.client_registration_finish(
                state, unstd64(started.json()["registrationResponse"])
            ).registration_upload
            done = await person.post(
                "/api/auth/password-reset/finish",
                {
                    "resetToken": reset_token,
                    "sessionId": started.json()["sessionId"],
                    "registrationUpload": std64(upload),
                },
            )
            return {"status": done.status_code, **done.json()}

        assert (await set_new("not-a-token", "x" * 10))["code"] == "reset_token_invalid"
        done = await set_new(reset, "a brand new password")
        assert done["status"] == 200, done
        assert done["user"]["username"] == "dora"
        assert (await set_new(reset, "again and again"))["code"] == "reset_token_invalid"
        assert (await person.login("dora", "a brand new password")).status_code == 200
        audit = await synctv(server.data_dir, "admin", "audit", "list", "--action", "user")
        assert "user.password_reset" in audit[1]
        assert reset not in audit[1]  # the link is a secret: never in the audit log
