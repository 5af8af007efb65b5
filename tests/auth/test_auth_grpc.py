"""``synctv.v1.AuthService`` seen by Google's grpcio client (an independent HTTP/2 and gRPC
implementation): sign-up and sign-in, refresh rotation and reuse, logout, sessions, tickets,
and a password change that ends the other sessions; refusals carry the catalogue code in
``google.rpc.ErrorInfo``, as over REST."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
import trio
from google.protobuf.message import Message

from synctv.api.grpc._gen.synctv.v1 import auth_pb2
from synctv.auth import opaque
from tests.support.cli import synctv
from tests.support.grpc_client import Refused
from tests.support.grpc_client import call as grpc_call
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres

pytestmark = pytest.mark.slow
M = TypeVar("M", bound=Message)
PW = b"grpc password 1234"


async def call(
    address: str, method: str, request: Message, reply: type[M], token: str | None = None
) -> M:
    return await grpc_call(address, f"/synctv.v1.AuthService/{method}", request, reply, token)


async def refused(address: str, method: str, request: Message, token: str | None = None) -> Any:
    with pytest.raises(Refused) as failure:
        await call(address, method, request, auth_pb2.Empty, token)
    return failure.value.status, failure.value.code


async def login(address: str, name: str, password: bytes = PW) -> auth_pb2.SignedIn:
    ke1, state = opaque.client_login_start(password)
    started = await call(
        address,
        "LoginStart",
        auth_pb2.LoginStartRequest(username=name, credential_request=ke1),
        auth_pb2.LoginStartResponse,
    )
    ke3 = opaque.client_login_finish(
        state, started.credential_response, ksf=opaque.identity_ksf
    ).credential_finalization
    return await call(
        address,
        "LoginFinish",
        auth_pb2.LoginFinishRequest(session_id=started.session_id, credential_finalization=ke3),
        auth_pb2.SignedIn,
    )


async def test_auth_service(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        host, port = server.controller.addresses.grpc[0]
        address = f"{host}:{port}"
        # Every call comes from 127.0.0.1: more sign-ins than the per-address limit allows.
        code, _out, err = await synctv(
            server.data_dir, "admin", "settings", "set", "ratelimit.authPerAddressPerMinute", "0"
        )
        assert code == 0, err
        await trio.sleep(1.5)  # the setting reaches the server
        request, state = opaque.client_registration_start(PW)
        started = await call(
            address,
            "RegistrationStart",
            auth_pb2.RegistrationStartRequest(username="Gina", registration_request=request),
            auth_pb2.RegistrationStartResponse,
        )
        upload = opaque.client_registration_finish(
            state, started.registration_response, ksf=opaque.identity_ksf
        ).registration_upload
        registered = await call(
            address,
            "RegistrationFinish",
            auth_pb2.RegistrationFinishRequest(
                session_id=started.session_id, registration_upload=upload
            ),
            auth_pb2.RegistrationFinishResponse,
        )
        assert (registered.status, registered.user.username) == ("registered", "Gina")
        first = registered.tokens
        me = await call(address, "GetUser", auth_pb2.Empty(), auth_pb2.User, first.access_token)
        assert me.id == registered.user.id
        assert await refused(address, "GetUser", auth_pb2.Empty()) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "authentication_required",
        )
        wrong = await refused(
            address,
            "LoginStart",
            auth_pb2.LoginStartRequest(username="gina", credential_request=b"x"),
        )
        assert wrong == (grpc.StatusCode.INVALID_ARGUMENT, "opaque_message_invalid")

        # Refresh rotates; the spent token presented again revokes the session.
        second = await call(
            address,
            "Refresh",
            auth_pb2.RefreshRequest(refresh_token=first.refresh_token),
            auth_pb2.Tokens,
        )
        assert second.refresh_token != first.refresh_token
        reuse = await refused(
            address, "Refresh", auth_pb2.RefreshRequest(refresh_token=first.refresh_token)
        )
        assert reuse == (grpc.StatusCode.UNAUTHENTICATED, "token_revoked")
        assert (await refused(address, "GetUser", auth_pb2.Empty(), second.access_token))[1] == (
            "token_revoked"
        )

        # Two sign-ins: sessions, a ticket, logout of one.
        laptop, phone = await login(address, "gina"), await login(address, "GINA")
        sessions = await call(
            address, "ListSessions", auth_pb2.Empty(), auth_pb2.Sessions, laptop.tokens.access_token
        )
        assert sum(s.current for s in sessions.sessions) == 1
        assert len(sessions.sessions) == 2
        ticket = await call(
            address,
            "CreateTicket",
            auth_pb2.CreateTicketRequest(room_id="some-room"),
            auth_pb2.Ticket,
            laptop.tokens.access_token,
        )
        assert (ticket.room_id, ticket.expires_in_secs) == ("some-room", 30)
        await call(address, "Logout", auth_pb2.Empty(), auth_pb2.Empty, phone.tokens.access_token)
        assert (await refused(address, "GetUser", auth_pb2.Empty(), phone.tokens.access_token))[
            1
        ] == ("token_revoked")

        # A password change (within 5 minutes of signing in) ends the other sessions.
        other = await login(address, "gina")
        request, state = opaque.client_registration_start(b"another password 99")
        begun = await call(
            address,
            "PasswordChangeStart",
            auth_pb2.PasswordChangeStartRequest(registration_request=request),
            auth_pb2.RegistrationStartResponse,
            laptop.tokens.access_token,
        )
        upload = opaque.client_registration_finish(
            state, begun.registration_response, ksf=opaque.identity_ksf
        ).registration_upload
        changed = await call(
            address,
            "PasswordChangeFinish",
            auth_pb2.PasswordChangeFinishRequest(
                session_id=begun.session_id, registration_upload=upload
            ),
            auth_pb2.SignedIn,
            laptop.tokens.access_token,
        )
        for token in (laptop.tokens.access_token, other.tokens.access_token):
            assert (await refused(address, "GetUser", auth_pb2.Empty(), token))[
                1
            ] == "token_revoked"
        assert (
            await call(
                address, "GetUser", auth_pb2.Empty(), auth_pb2.User, changed.tokens.access_token
            )
        ).username == "Gina"
        with pytest.raises(opaque.InvalidCredentials):  # the client sees it first
            await login(address, "gina")
        fresh = await login(address, "gina", b"another password 99")
        assert fresh.user.username == "Gina"

        # A ban (by the operator) stops the gRPC session at its next call too.
        code, _out, err = await synctv(
            server.data_dir, "admin", "user", "ban", "gina", "--reason", "test"
        )
        assert code == 0, err
        assert (await refused(address, "GetUser", auth_pb2.Empty(), fresh.tokens.access_token))[
            1
        ] == "token_revoked"
        banned = await refused(
            address, "Refresh", auth_pb2.RefreshRequest(refresh_token=fresh.tokens.refresh_token)
        )
        assert banned[1] == "token_revoked"
