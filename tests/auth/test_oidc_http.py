"""Signing in with OpenID Connect against a real provider (oidc-provider, certified, under Node):
sign-up then sign-in to the same account, and each way a login must fail — a wrong state, a
replayed code, a wrong nonce, an expired ID token, sign-up disabled — plus linking and
unlinking an identity."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
import trio

from tests.support.cli import synctv
from tests.support.identity import Server, identity_server
from tests.support.oidc_node import CLIENT_ID, CLIENT_SECRET, oidc_provider, walk_to_callback
from tests.support.postgres import RunningPostgres
from tests.support.rooms import Member, sign_up

pytestmark = pytest.mark.slow


@asynccontextmanager
async def with_provider(
    tmp_path: Path, postgres: RunningPostgres, *, skew: int = 0, allow_signup: bool = True
) -> AsyncIterator[Server]:
    async with identity_server(tmp_path, postgres) as server:
        callback = f"{server.base}/api/auth/oidc/test/callback"
        with oidc_provider([callback], clock_skew_seconds=skew) as provider:
            providers = [
                {
                    "name": "test",
                    "displayName": "Test IdP",
                    "issuer": provider.issuer,
                    "clientId": CLIENT_ID,
                    "clientSecret": CLIENT_SECRET,
                    "scopes": ["openid", "profile", "email"],
                    "allowSignup": allow_signup,
                }
            ]
            code, _out, err = await synctv(
                server.data_dir,
                "admin",
                "settings",
                "set",
                "oauth2.providers",
                json.dumps(providers),
            )
            assert code == 0, err
            async with httpx.AsyncClient(base_url=server.base) as client:
                with trio.fail_after(10):
                    while True:  # applied when the settings notification arrives
                        listed = (await client.get("/api/auth/oidc/providers")).json()
                        if listed["providers"]:
                            break
                        await trio.sleep(0.05)
            assert listed["providers"] == [{"name": "test", "displayName": "Test IdP"}]
            yield server


async def authorization_url(server: Server, who: Member | None = None) -> str:
    async with httpx.AsyncClient(base_url=server.base) as client:
        if who is None:
            reply = await client.get("/api/auth/oidc/test/authorize?mode=json&returnTo=/rooms")
        else:
            reply = await client.post(
                "/api/user/identities/test/link", headers={"authorization": who.header}
            )
        assert reply.status_code == 200, reply.text
        return str(reply.json()["authorizationUrl"])


async def at_provider(url: str, account: str) -> str:
    return await trio.to_thread.run_sync(walk_to_callback, url, account)


async def back_at_server(server: Server, callback_url: str) -> httpx.Response:
    parts = urlsplit(callback_url)
    async with httpx.AsyncClient(base_url=server.base) as client:
        return await client.get(f"{parts.path}?{parts.query}")


async def exchange(server: Server, response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    path, _, fragment = location.partition("#")
    assert path == "/rooms"
    code = parse_qs(fragment)["oidcCode"][0]
    async with httpx.AsyncClient(base_url=server.base) as client:
        reply = await client.post("/api/auth/oidc/exchange", json={"code": code})
        again = await client.post("/api/auth/oidc/exchange", json={"code": code})
    assert again.json()["code"] == "oidc_state_invalid"  # once only
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


async def sign_in(
    server: Server, account: str, change: Callable[[str], str] = str
) -> httpx.Response:
    url = change(await authorization_url(server))
    return await back_at_server(server, await at_provider(url, account))


def with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query[name] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_sign_up_then_sign_in(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with with_provider(tmp_path, postgres) as server:
        first = await exchange(server, await sign_in(server, "maria"))
        assert first["user"]["username"] == "maria"
        second = await exchange(server, await sign_in(server, "maria"))
        assert second["user"]["id"] == first["user"]["id"]
        me = Member(server.person(2), first["user"]["id"], second["accessToken"])
        identities = (await me.ok("GET", "/api/user/identities"))["identities"]
        assert [i["provider"] for i in identities] == ["test"]
        # The only way maria signs in cannot be removed.
        assert await me.refused("DELETE", f"/api/user/identities/{identities[0]['id']}") == (
            409,
            "oidc_last_sign_in",
        )
        # The client secret never comes back from the settings API.
        code, out, _err = await synctv(
            server.data_dir, "admin", "settings", "get", "oauth2.providers"
        )
        assert code == 0
        assert CLIENT_SECRET not in out


async def test_what_must_fail(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with with_provider(tmp_path, postgres) as server:
        # A state we never issued.
        forged = await back_at_server(
            server, f"{server.base}/api/auth/oidc/test/callback?code=x&state=y"
        )
        assert (forged.status_code, forged.json()["code"]) == (400, "oidc_state_invalid")

        # A replayed code: a real one, spent once, brought back with a fresh state.
        callback = await at_provider(await authorization_url(server), "replayer")
        assert (await back_at_server(server, callback)).status_code == 302
        spent = parse_qs(urlsplit(callback).query)["code"][0]
        fresh_state = parse_qs(urlsplit(await authorization_url(server)).query)["state"][0]
        replay = await back_at_server(
            server,
            f"{server.base}/api/auth/oidc/test/callback?"
            + urlencode({"code": spent, "state": fresh_state}),
        )
        assert (replay.status_code, replay.json()["code"]) == (401, "oidc_login_refused")
        # The same callback twice: its state is gone.
        twice = await back_at_server(server, callback)
        assert twice.json()["code"] == "oidc_state_invalid"

        # The provider put another nonce in the ID token than the one this login kept.
        wrong_nonce = await sign_in(server, "nonce", lambda url: with_param(url, "nonce", "x" * 43))
        assert (wrong_nonce.status_code, wrong_nonce.json()["code"]) == (401, "oidc_login_refused")


async def test_an_expired_id_token_is_refused(
    tmp_path: Path, postgres: RunningPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    # The provider issues ID tokens by a clock two hours behind: they arrive expired.
    async with with_provider(tmp_path, postgres, skew=-7200) as server:
        expired = await sign_in(server, "late")
        assert (expired.status_code, expired.json()["code"]) == (401, "oidc_login_refused")
    assert any("ID token expired" in r.getMessage() for r in caplog.records)


async def test_sign_up_disabled_and_linking(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with with_provider(tmp_path, postgres, allow_signup=False) as server:
        refused = await sign_in(server, "stranger")
        assert (refused.status_code, refused.json()["code"]) == (403, "signup_disabled")

        # An account with a password links the provider, then signs in with it.
        owner = await sign_up(server, 3, "owner")
        linked = await back_at_server(
            server, await at_provider(await authorization_url(server, owner), "owner-at-idp")
        )
        assert linked.status_code == 302
        assert linked.headers["location"].endswith("#oidcLinked=1")
        tokens = await exchange(server, await sign_in(server, "owner-at-idp"))
        assert tokens["user"]["id"] == owner.id
        # The same identity cannot be linked to a second account.
        other = await sign_up(server, 4, "other")
        taken = await back_at_server(
            server, await at_provider(await authorization_url(server, other), "owner-at-idp")
        )
        assert (taken.status_code, taken.json()["code"]) == (409, "oidc_identity_taken")
        # The owner has a password: unlinking is fine.
        identities = (await owner.ok("GET", "/api/user/identities"))["identities"]
        await owner.ok("DELETE", f"/api/user/identities/{identities[0]['id']}")
        assert (await owner.ok("GET", "/api/user/identities"))["identities"] == []
        again = await sign_in(server, "owner-at-idp")
        assert again.json()["code"] == "signup_disabled"
