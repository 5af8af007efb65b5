"""``/api/auth/password/change``: the signed-in user's own password change (OPAQUE
re-registration; see :mod:`synctv.auth.password_change`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from synctv.api.http.principal import Principal, require_user
from synctv.api.http.routes.auth import (
    CamelModel,
    HandshakeId,
    Message,
    TokensOut,
    client_of,
    decode_message,
    encode_message,
    refusals,
)
from synctv.auth.password_change import PasswordChange

SignedIn = Annotated[Principal, Depends(require_user)]
_WHO = (401, "`reauthentication_required` (sign in again first), or the token's refusal")


class PasswordChangeStartIn(CamelModel):
    registration_request: Message = Field(description="OPAQUE RegistrationRequest, base64.")


class PasswordChangeStartOut(CamelModel):
    session_id: str = Field(description="Pass to password/change/finish within 300 s.")
    registration_response: str = Field(description="OPAQUE RegistrationResponse, base64.")


class PasswordChangeFinishIn(CamelModel):
    session_id: HandshakeId
    registration_upload: Message = Field(description="OPAQUE RegistrationUpload, base64.")


def password_router(change: PasswordChange) -> APIRouter:
    router = APIRouter(prefix="/api/auth/password/change", tags=["auth"])

    @router.post(
        "/start",
        response_model=PasswordChangeStartOut,
        responses=refusals((400, "`opaque_message_invalid`"), _WHO),
    )
    async def start(body: PasswordChangeStartIn, principal: SignedIn) -> Any:
        """Begin a new password; only within 5 minutes of signing in."""
        request = decode_message(body.registration_request, "registrationRequest")
        handshake, response = await change.start(principal.user_id, principal.session_id, request)
        return PasswordChangeStartOut(
            session_id=handshake, registration_response=encode_message(response)
        )

    @router.post(
        "/finish",
        response_model=TokensOut,
        responses=refusals((400, "`opaque_message_invalid`"), _WHO),
    )
    async def finish(body: PasswordChangeFinishIn, principal: SignedIn, request: Request) -> Any:
        """Store the new password, sign out every session, and return a fresh one."""
        upload = decode_message(body.registration_upload, "registrationUpload")
        pair = await change.finish(
            principal.user_id, principal.session_id, body.session_id, upload, client_of(request)
        )
        return TokensOut(access_token=pair.access_token, refresh_token=pair.refresh_token)

    return router
