"""``/api/setup``: the first account, made from a browser with the one-time setup link.

On a first start with no account, the server logs ``<base>/setup?token=…`` once. The browser
page at ``/setup`` (the browser-client issue) runs OPAQUE's client and calls these two routes
with the link's token; the account they make is root, and the link is spent in the same
transaction. ``synctv admin user create NAME --role root`` is the shell's way to the same end.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from synctv.api.http.principal import require_user
from synctv.api.http.routes.auth import (
    CamelModel,
    HandshakeId,
    LoginFinishOut,
    Message,
    Username,
    client_of,
    decode_message,
    encode_message,
    refusals,
    user_out,
)
from synctv.auth.accounts import AccountService
from synctv.auth.identity import IdentityService


class SetupStatusOut(CamelModel):
    needed: bool = Field(description="True while no account exists (the setup link works).")


class SetupStartIn(CamelModel):
    setup_token: str = Field(min_length=1, max_length=64, description="The link's ?token=.")
    username: Username
    registration_request: Message = Field(description="OPAQUE RegistrationRequest, base64.")


class SetupStartOut(CamelModel):
    session_id: str
    registration_response: str = Field(description="OPAQUE RegistrationResponse, base64.")


class SetupFinishIn(CamelModel):
    session_id: HandshakeId
    registration_upload: Message = Field(description="OPAQUE RegistrationUpload, base64.")


def setup_router(accounts: AccountService, identity: IdentityService) -> APIRouter:
    router = APIRouter(prefix="/api/setup", tags=["auth"])

    @router.get("", response_model=SetupStatusOut)
    async def status() -> Any:
        """Whether the instance still needs its first account."""
        return SetupStatusOut(needed=await accounts.setup_needed())

    @router.post(
        "/registration/start",
        response_model=SetupStartOut,
        responses=refusals(
            (403, "`setup_token_invalid`"), (422, "`invalid_username`"), (409, "`username_taken`")
        ),
    )
    async def start(body: SetupStartIn) -> Any:
        """The first (root) account, step 1."""
        request = decode_message(body.registration_request, "registrationRequest")
        session, response = await accounts.setup_start(body.setup_token, body.username, request)
        return SetupStartOut(session_id=session, registration_response=encode_message(response))

    @router.post(
        "/registration/finish",
        response_model=LoginFinishOut,
        responses=refusals((403, "`setup_token_invalid`")),
    )
    async def finish(request: Request, body: SetupFinishIn) -> Any:
        """Step 2: the root account, signed in."""
        upload = decode_message(body.registration_upload, "registrationUpload")
        client = client_of(request)
        user = await accounts.setup_finish(body.session_id, upload, client.actor("setup"))
        tokens = await identity.open_session(user, client)
        return LoginFinishOut(
            user=user_out(user),
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
        )

    return router


class PasswordChangeStartIn(CamelModel):
    registration_request: Message = Field(description="OPAQUE RegistrationRequest, base64.")


class PasswordChangeStartOut(CamelModel):
    session_id: str
    registration_response: str = Field(description="OPAQUE RegistrationResponse, base64.")


class PasswordChangeFinishIn(CamelModel):
    session_id: HandshakeId
    registration_upload: Message = Field(description="OPAQUE RegistrationUpload, base64.")


def password_router(accounts: AccountService, identity: IdentityService) -> APIRouter:
    """``/api/auth/password/change``: a signed-in user sets a new password (OPAQUE), within
    5 minutes of signing in; every session of the account ends, the caller gets a new one."""
    router = APIRouter(prefix="/api/auth/password/change", tags=["auth"])
    signed_in = (401, "`authentication_required`, `token_expired` or `token_revoked`")

    @router.post(
        "/start",
        response_model=PasswordChangeStartOut,
        responses=refusals(signed_in, (403, "`reauthentication_required`")),
    )
    async def start(request: Request, body: PasswordChangeStartIn) -> Any:
        principal = await require_user(request)
        message = decode_message(body.registration_request, "registrationRequest")
        session, response = await accounts.password_change_start(
            principal.user_id, principal.session_id, message
        )
        return PasswordChangeStartOut(
            session_id=session, registration_response=encode_message(response)
        )

    @router.post("/finish", response_model=LoginFinishOut, responses=refusals(signed_in))
    async def finish(request: Request, body: PasswordChangeFinishIn) -> Any:
        principal = await require_user(request)
        upload = decode_message(body.registration_upload, "registrationUpload")
        client = client_of(request)
        user = await accounts.password_change_finish(
            principal.user_id, body.session_id, upload, client.actor(principal.user_id)
        )
        tokens = await identity.open_session(user, client)
        return LoginFinishOut(
            user=user_out(user),
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
        )

    return router


class ResetStartIn(CamelModel):
    reset_token: str = Field(min_length=1, max_length=64, description="The link's ?token=.")
    registration_request: Message = Field(description="OPAQUE RegistrationRequest, base64.")


class ResetFinishIn(CamelModel):
    reset_token: str = Field(min_length=1, max_length=64)
    session_id: HandshakeId
    registration_upload: Message = Field(description="OPAQUE RegistrationUpload, base64.")


def reset_router(accounts: AccountService, identity: IdentityService) -> APIRouter:
    """``/api/auth/password-reset``: the person an administrator gave a reset link sets a new
    password (OPAQUE) with the link's token, and is signed in."""
    router = APIRouter(prefix="/api/auth/password-reset", tags=["auth"])
    invalid = (403, "`reset_token_invalid`")

    @router.post("/start", response_model=PasswordChangeStartOut, responses=refusals(invalid))
    async def start(body: ResetStartIn) -> Any:
        message = decode_message(body.registration_request, "registrationRequest")
        session, response = await accounts.reset_start(body.reset_token, message)
        return PasswordChangeStartOut(
            session_id=session, registration_response=encode_message(response)
        )

    @router.post("/finish", response_model=LoginFinishOut, responses=refusals(invalid))
    async def finish(request: Request, body: ResetFinishIn) -> Any:
        upload = decode_message(body.registration_upload, "registrationUpload")
        client = client_of(request)
        user = await accounts.reset_finish(
            body.reset_token, body.session_id, upload, client.actor("")
        )
        tokens = await identity.open_session(user, client)
        return LoginFinishOut(
            user=user_out(user),
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
        )

    return router
