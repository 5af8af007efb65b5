"""Sign-up and sign-in over real HTTP, for tests: a person at their own loopback address with
our OPAQUE client, and a whole server with identity on a fresh database.

Each simulated person talks from their own loopback address (127.0.0.N): the per-address limits
on logins and registrations are real and on, so a test that needs more attempts than one address
is allowed uses more addresses, as separate people would.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import trio

from synctv.app import Controller
from synctv.auth import opaque
from synctv.auth.opaque import Ksf
from tests.support.cli import synctv
from tests.support.postgres import RunningPostgres
from tests.support.server import running_server, server_config

PASSWORD = "correct horse battery staple ✓"


def std64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unstd64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@dataclass
class Person:
    """One person at one loopback address, with our OPAQUE client."""

    http: httpx.AsyncClient
    ksf: Ksf = opaque.identity_ksf

    async def post(self, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return await self.http.post(path, json=body, headers=headers)

    async def register(self, username: str, password: str = PASSWORD) -> httpx.Response:
        request, state = opaque.client_registration_start(password.encode())
        started = await self.post(
            "/api/auth/opaque/registration/start",
            {"username": username, "registrationRequest": std64(request)},
        )
        if started.status_code != 200:
            return started
        response = unstd64(started.json()["registrationResponse"])
        upload = opaque.client_registration_finish(state, response, ksf=self.ksf)
        return await self.post(
            "/api/auth/opaque/registration/finish",
            {
                "sessionId": started.json()["sessionId"],
                "registrationUpload": std64(upload.registration_upload),
            },
        )

    async def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        ke1, state = opaque.client_login_start(password.encode())
        started = await self.post(
            "/api/auth/opaque/login/start", {"username": username, "credentialRequest": std64(ke1)}
        )
        if started.status_code != 200:
            return started
        try:
            done = opaque.client_login_finish(
                state, unstd64(started.json()["credentialResponse"]), ksf=self.ksf
            )
            ke3 = done.credential_finalization
        except opaque.InvalidCredentials:
            ke3 = bytes(64)  # the client knows; it sends something anyway, the server must refuse
        return await self.post(
            "/api/auth/opaque/login/finish",
            {"sessionId": started.json()["sessionId"], "credentialFinalization": std64(ke3)},
        )


@dataclass
class Server:
    controller: Controller
    data_dir: Path
    base: str
    _clients: list[httpx.AsyncClient]
    dsn: str = ""  # the server's database, for tests that read rows

    def person(self, n: int, ksf: Ksf = opaque.identity_ksf) -> Person:
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.0.{n}")
        client = httpx.AsyncClient(base_url=self.base, transport=transport, timeout=30)
        self._clients.append(client)
        return Person(client, ksf)

    async def set_setting(self, key: str, value: str) -> None:
        code, _out, err = await synctv(self.data_dir, "admin", "settings", "set", key, value)
        assert code == 0, err
        expected = value == "true"
        with trio.fail_after(10):  # the server applies it when the notification arrives
            async with httpx.AsyncClient(base_url=self.base) as client:
                while True:
                    public = (await client.get("/api/public/settings")).json()
                    if public[key] is expected:
                        return
                    await trio.sleep(0.05)


@asynccontextmanager
async def identity_server(
    tmp_path: Path,
    postgres: RunningPostgres,
    *,
    keep_database: bool = False,
    **sections: dict[str, Any],
) -> AsyncIterator[Server]:
    """A whole server on a fresh database, dropped once the server has stopped (unless
    ``keep_database``: the caller drops it); ``sections`` override config sections."""
    data_dir = tmp_path / "data"
    dsn = await trio.to_thread.run_sync(postgres.create_database)
    try:
        config = server_config(data_dir, dsn, **sections)
        async with running_server(config) as controller:
            server = Server(controller, data_dir, controller.addresses.http[0], [], dsn)
            try:
                yield server
            finally:
                for client in server._clients:
                    await client.aclose()
    finally:
        if not keep_database:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(postgres.drop_database, dsn)


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


async def serenity_register(
    person: Person, serenity: Any, name: str, password: str = PASSWORD
) -> httpx.Response:
    """Sign up through the browser library (tests/support/opaque_node): its URL-safe base64
    without padding goes to the server as the library emits it."""
    from tests.support.opaque_node import b64

    start = serenity.call("client.startRegistration", {"password": password})
    started = await person.post(
        "/api/auth/opaque/registration/start",
        {"username": name, "registrationRequest": start["registrationRequest"]},
    )
    if started.status_code != 200:
        return started
    upload = serenity.call(
        "client.finishRegistration",
        {
            "password": password,
            "clientRegistrationState": start["clientRegistrationState"],
            "registrationResponse": b64(unstd64(started.json()["registrationResponse"])),
        },
    )
    return await person.post(
        "/api/auth/opaque/registration/finish",
        {
            "sessionId": started.json()["sessionId"],
            "registrationUpload": upload["registrationRecord"],
        },
    )


async def serenity_login(
    person: Person, serenity: Any, name: str, password: str = PASSWORD
) -> httpx.Response | None:
    """Sign in through the browser library; None when the library itself refuses the server's
    answer (a wrong password, another KSF, an unknown name)."""
    from tests.support.opaque_node import b64

    login = serenity.call("client.startLogin", {"password": password})
    started = await person.post(
        "/api/auth/opaque/login/start",
        {"username": name, "credentialRequest": login["startLoginRequest"]},
    )
    finished = serenity.call(
        "client.finishLogin",
        {
            "password": password,
            "clientLoginState": login["clientLoginState"],
            "loginResponse": b64(unstd64(started.json()["credentialResponse"])),
        },
    )
    if finished is None:
        return None
    return await person.post(
        "/api/auth/opaque/login/finish",
        {
            "sessionId": started.json()["sessionId"],
            "credentialFinalization": finished["finishLoginRequest"],
        },
    )
