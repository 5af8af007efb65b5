"""``/api/auth``: OPAQUE registration and login, token refresh; and the bearer authenticator.

The API shape is fixed by the identity issue so other clients can be written against it: JSON in
camelCase, OPAQUE messages in the opaque-ke wire format (what ``@serenity-kit/opaque`` produces),
base64 as the protobuf JSON mapping writes it (standard alphabet, padded). Input is also accepted
in the URL-safe alphabet and without padding, which is what the browser library emits.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel
from starlette.requests import HTTPConnection

from synctv import errors
from synctv.api.http.asgi import REQUEST_ID
from synctv.api.http.principal import (
    Authenticator,
    Principal,
    Role,
    bearer_token,
    current_principal,
)
from synctv.api.http.rest import ErrorBody
from synctv.auth.identity import TICKET_TTL_SECONDS, Client, IdentityService, Ticket
from synctv.auth.tokens import TokenPair
from synctv.errors import DomainError
from synctv.store.users import UserRow

# The largest OPAQUE message is KE2 (320 bytes, 428 in base64); anything much longer is not one.
MAX_MESSAGE_CHARS = 1024
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}\Z")

Message = Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS)]
Username = Annotated[str, StringConstraints(min_length=1, max_length=128)]
HandshakeId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class RegistrationStartIn(CamelModel):
    username: Username
    registration_request: Message = Field(description="OPAQUE RegistrationRequest, base64.")


class RegistrationStartOut(CamelModel):
    session_id: str = Field(description="Pass to registration/finish within 300 s.")
    registration_response: str = Field(description="OPAQUE RegistrationResponse, base64.")


class RegistrationFinishIn(CamelModel):
    session_id: HandshakeId
    registration_upload: Message = Field(description="OPAQUE RegistrationUpload, base64.")


class UserOut(CamelModel):
    """An account as its owner sees it."""

    id: str
    username: str
    display_name: str
    role: Literal["root", "admin", "user"]
    status: Literal["active", "pending_review"]
    created_at: str = Field(description="RFC 3339, UTC.")


class RegistrationFinishOut(CamelModel):
    status: Literal["registered", "pending_review"]
    user: UserOut | None = None
    access_token: str | None = None
    refresh_token: str | None = None


class LoginStartIn(CamelModel):
    username: Username
    credential_request: Message = Field(description="OPAQUE CredentialRequest (KE1), base64.")


class LoginStartOut(CamelModel):
    session_id: str = Field(description="Pass to login/finish within 300 s.")
    credential_response: str = Field(description="OPAQUE CredentialResponse (KE2), base64.")


class LoginFinishIn(CamelModel):
    session_id: HandshakeId
    credential_finalization: Message = Field(description="OPAQUE KE3, base64.")


class TokensOut(CamelModel):
    access_token: str
    refresh_token: str


class LoginFinishOut(TokensOut):
    user: UserOut


class RefreshIn(CamelModel):
    refresh_token: Token


def decode_message(text: str, what: str) -> bytes:
    """Base64 in the standard or URL-safe alphabet, padded or not."""
    if not _BASE64.match(text):
        raise DomainError(errors.OPAQUE_MESSAGE_INVALID, f"{what} is not base64")
    standard = text.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except binascii.Error:
        raise DomainError(errors.OPAQUE_MESSAGE_INVALID, f"{what} is not base64") from None


def encode_message(data: bytes) -> str:
    return base64.b64encode(data).decode()


def client_of(request: Request) -> Client:
    client = request.client
    return Client(
        client.host if client is not None else None,
        request.headers.get("user-agent", ""),
        request.scope.get(REQUEST_ID),
    )


def user_out(user: UserRow) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        status=user.status,
        created_at=user.created_at.isoformat(),
    )


def user_json(user: UserRow) -> dict[str, str]:
    """:func:`user_out` as the JSON object it dumps to (camelCase, in field order)."""
    return {
        "id": user.id,
        "username": user.username,
        "displayName": user.display_name,
        "role": user.role,
        "status": user.status,
        "createdAt": user.created_at.isoformat(),
    }


def json_answer(body: object, status: int = 200) -> Response:
    """A route's answer as JSON built directly, for the hot routes (sign-in): FastAPI would
    validate the returned model against the route's ``response_model`` and then dump it, ~50
    µs per request for a model that we built ourselves. The route keeps its
    ``response_model`` as its documented contract; a test checks the bytes are the same."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, status, media_type="application/json")


def _tokens(pair: TokenPair) -> dict[str, str]:
    return {"access_token": pair.access_token, "refresh_token": pair.refresh_token}


def refusals(*codes: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody, "description": text} for status, text in codes}


_RATE = (429, "`rate_limited` (per address, or the account is locked after failed logins)")


def _role(role: str) -> Role:
    return role if role in ("root", "admin", "user", "guest") else "user"  # type: ignore[return-value]


def token_authenticator(identity: IdentityService) -> Authenticator:
    """The authenticator of the REST routes and the WebSocket handshakes: ``Authorization:
    Bearer <access token>``."""

    async def authenticate(request: HTTPConnection) -> Principal | None:
        token = bearer_token(request)
        if token is None:
            ticket = request.query_params.get("ticket")
            if ticket is None or request.scope["type"] != "websocket":
                return None  # tickets open WebSockets only: they are in URLs, so in logs
            holder = await identity.take_ticket(ticket)
            return Principal(
                holder.user_id,
                _role(holder.role),
                holder.session_id or None,
                room_id=holder.room_id,
            )
        claims = await identity.authenticate(token)
        if claims.type == "guest":
            return Principal(claims.user_id, "guest", None, room_id=claims.room_id)
        return Principal(claims.user_id, _role(claims.role), claims.session_id)

    return authenticate


def auth_router(identity: IdentityService) -> APIRouter:
    router = APIRouter(prefix="/api/auth", tags=["auth"])

    @router.post(
        "/opaque/registration/start",
        response_model=RegistrationStartOut,
        responses=refusals(
            (400, "`opaque_message_invalid`"),
            (403, "`signup_disabled`"),
            (409, "`username_taken`"),
            (422, "`invalid_username` or `invalid_request`"),
            _RATE,
        ),
    )
    async def registration_start(body: RegistrationStartIn, request: Request) -> Any:
        """Start a password sign-up: the client's OPAQUE RegistrationRequest → the response."""
        message = decode_message(body.registration_request, "registrationRequest")
        handshake, response = await identity.registration_start(
            body.username, message, client_of(request)
        )
        return RegistrationStartOut(
            session_id=handshake, registration_response=encode_message(response)
        )

    @router.post(
        "/opaque/registration/finish",
        response_model=RegistrationFinishOut,
        response_model_exclude_none=True,
        responses=refusals(
            (400, "`opaque_message_invalid`"),
            (401, "`invalid_credentials`: the registration expired or was finished already"),
            (403, "`signup_disabled`"),
            (409, "`username_taken`"),
        ),
    )
    async def registration_finish(body: RegistrationFinishIn, request: Request) -> Any:
        """Finish a sign-up with the RegistrationUpload. With ``user.signupNeedsReview`` the
        account waits for approval (``pending_review``, no tokens)."""
        upload = decode_message(body.registration_upload, "registrationUpload")
        done = await identity.registration_finish(body.session_id, upload, client_of(request))
        if done.tokens is None:
            return RegistrationFinishOut(status="pending_review", user=user_out(done.user))
        return RegistrationFinishOut(
            status="registered", user=user_out(done.user), **_tokens(done.tokens)
        )

    @router.post(
        "/opaque/login/start",
        response_model=LoginStartOut,
        responses=refusals((400, "`opaque_message_invalid`"), _RATE),
    )
    async def login_start(body: LoginStartIn, request: Request) -> Any:
        """Start a sign-in: KE1 → KE2. Unknown names get a well-formed answer too."""
        message = decode_message(body.credential_request, "credentialRequest")
        handshake, response = await identity.login_start(body.username, message, client_of(request))
        # LoginStartOut, as FastAPI would send it (see json_answer).
        return json_answer({"sessionId": handshake, "credentialResponse": encode_message(response)})

    @router.post(
        "/opaque/login/finish",
        response_model=LoginFinishOut,
        responses=refusals(
            (400, "`opaque_message_invalid`"),
            (401, "`invalid_credentials`: wrong name or password, or the login expired"),
            (403, "`account_banned` or `account_pending_review`"),
            _RATE,
        ),
    )
    async def login_finish(body: LoginFinishIn, request: Request) -> Any:
        """Finish a sign-in with KE3: the user and a new session's tokens."""
        message = decode_message(body.credential_finalization, "credentialFinalization")
        done = await identity.login_finish(body.session_id, message, client_of(request))
        # LoginFinishOut, as FastAPI would send it (see json_answer).
        return json_answer(
            {
                "accessToken": done.tokens.access_token,
                "refreshToken": done.tokens.refresh_token,
                "user": user_json(done.user),
            }
        )

    @router.post(
        "/refresh",
        response_model=TokensOut,
        responses=refusals(
            (
                401,
                "`token_expired`, `token_revoked` (also when a used refresh token comes"
                " again: the whole session is revoked) or `authentication_required`",
            ),
        ),
    )
    async def refresh(body: RefreshIn, request: Request) -> Any:
        """Swap a refresh token for a new pair; the old refresh token is spent."""
        return TokensOut(**_tokens(await identity.refresh(body.refresh_token, client_of(request))))

    return router


class TicketIn(CamelModel):
    room_id: str = Field(min_length=1, max_length=64)


class TicketOut(CamelModel):
    ticket: str = Field(description="Pass as ?ticket= to GET /ws/rooms/{roomId}, once.")
    room_id: str
    expires_in_secs: int


def tickets_router(identity: IdentityService) -> APIRouter:
    router = APIRouter(prefix="/api/tickets", tags=["auth"])

    @router.post(
        "",
        response_model=TicketOut,
        responses=refusals(
            (401, "`authentication_required`, `token_expired` or `token_revoked`"),
            (403, "`permission_denied` (a guest asking for another room)"),
            (429, "`rate_limited` (ratelimit.wsTicketsPerUserPerMinute)"),
        ),
    )
    async def issue(request: Request, body: TicketIn) -> Any:
        """A one-time ticket (30 s) to open a room's channel from a browser, which cannot set
        an Authorization header on a WebSocket. Whether the caller may enter the room is
        checked when the channel opens."""
        principal = await current_principal(request)
        if principal.room_id is not None and principal.room_id != body.room_id:
            raise DomainError(errors.PERMISSION_DENIED, "a guest token admits to one room only")
        ticket = await identity.issue_ticket(
            Ticket(principal.user_id, principal.role, principal.session_id or "", body.room_id)
        )
        return TicketOut(ticket=ticket, room_id=body.room_id, expires_in_secs=TICKET_TTL_SECONDS)

    return router


class WhoAmIOut(CamelModel):
    """Who the presented token says the caller is (checked: signature, expiry, revocation)."""

    user_id: str
    role: Literal["root", "admin", "user", "guest"]
    room_id: str | None = Field(None, description="A guest token's room.")


def whoami_router() -> APIRouter:
    router = APIRouter(prefix="/api/auth", tags=["auth"])

    @router.get(
        "/whoami",
        response_model=WhoAmIOut,
        responses=refusals((401, "`authentication_required`, `token_expired` or `token_revoked`")),
    )
    async def whoami(request: Request) -> Any:
        """The caller as the token says, without a database read: clients use it to learn
        whether a stored token still works (and benches to price token checking)."""
        principal = await current_principal(request)
        return WhoAmIOut(user_id=principal.user_id, role=principal.role, room_id=principal.room_id)

    return router
