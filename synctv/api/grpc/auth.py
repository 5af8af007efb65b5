"""``synctv.v1.AuthService`` on the public gRPC port: sign-up, sign-in and sessions, the same
operations as ``/api/auth`` and ``/api/user`` through the same :class:`IdentityService` and
:class:`AccountService`, so the rules and refusal codes are the REST API's."""

from __future__ import annotations

from datetime import UTC

from synctv import errors
from synctv.api.grpc._gen.synctv.v1 import auth_grpc, auth_pb2
from synctv.api.grpc.bridge import CallContext, unary_with_context
from synctv.auth.accounts import AccountService
from synctv.auth.identity import TICKET_TTL_SECONDS, Client, IdentityService, Ticket
from synctv.auth.tokens import Claims, TokenPair
from synctv.errors import DomainError
from synctv.store.users import UserRow


def _user(user: UserRow) -> auth_pb2.User:
    return auth_pb2.User(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        status=user.status,
        created_at=user.created_at.astimezone(UTC).isoformat(),
    )


def _tokens(pair: TokenPair) -> auth_pb2.Tokens:
    return auth_pb2.Tokens(access_token=pair.access_token, refresh_token=pair.refresh_token)


def _client(context: CallContext) -> Client:
    return Client(context.peer, context.metadata.get("user-agent", "")[:512])


class AuthService(auth_grpc.AuthServiceBase):
    def __init__(self, identity: IdentityService, accounts: AccountService) -> None:
        self._identity = identity
        self._accounts = accounts

    async def _caller(self, context: CallContext) -> Claims:
        token = context.bearer()
        if token is None:
            raise DomainError(errors.UNAUTHENTICATED, "sign in first")
        claims = await self._identity.authenticate(token)
        if claims.type != "access":
            raise DomainError(errors.PERMISSION_DENIED, "sign in with an account first")
        return claims

    @unary_with_context
    async def RegistrationStart(
        self, request: auth_pb2.RegistrationStartRequest, context: CallContext
    ) -> auth_pb2.RegistrationStartResponse:
        session, response = await self._identity.registration_start(
            request.username, request.registration_request, _client(context)
        )
        return auth_pb2.RegistrationStartResponse(
            session_id=session, registration_response=response
        )

    @unary_with_context
    async def RegistrationFinish(
        self, request: auth_pb2.RegistrationFinishRequest, context: CallContext
    ) -> auth_pb2.RegistrationFinishResponse:
        registered = await self._identity.registration_finish(
            request.session_id, request.registration_upload, _client(context)
        )
        if registered.tokens is None:
            return auth_pb2.RegistrationFinishResponse(
                status="pending_review", user=_user(registered.user)
            )
        return auth_pb2.RegistrationFinishResponse(
            status="registered", user=_user(registered.user), tokens=_tokens(registered.tokens)
        )

    @unary_with_context
    async def LoginStart(
        self, request: auth_pb2.LoginStartRequest, context: CallContext
    ) -> auth_pb2.LoginStartResponse:
        session, response = await self._identity.login_start(
            request.username, request.credential_request, _client(context)
        )
        return auth_pb2.LoginStartResponse(session_id=session, credential_response=response)

    @unary_with_context
    async def LoginFinish(
        self, request: auth_pb2.LoginFinishRequest, context: CallContext
    ) -> auth_pb2.SignedIn:
        signed = await self._identity.login_finish(
            request.session_id, request.credential_finalization, _client(context)
        )
        return auth_pb2.SignedIn(user=_user(signed.user), tokens=_tokens(signed.tokens))

    @unary_with_context
    async def Refresh(
        self, request: auth_pb2.RefreshRequest, context: CallContext
    ) -> auth_pb2.Tokens:
        return _tokens(await self._identity.refresh(request.refresh_token, _client(context)))

    @unary_with_context
    async def Logout(self, request: auth_pb2.Empty, context: CallContext) -> auth_pb2.Empty:
        claims = await self._caller(context)
        await self._identity.revoke_session(
            claims.user_id, claims.session_id, "logout", _client(context)
        )
        return auth_pb2.Empty()

    @unary_with_context
    async def GetUser(self, request: auth_pb2.Empty, context: CallContext) -> auth_pb2.User:
        claims = await self._caller(context)
        return _user(await self._identity.current_user_by_id(claims.user_id))

    @unary_with_context
    async def ListSessions(
        self, request: auth_pb2.Empty, context: CallContext
    ) -> auth_pb2.Sessions:
        claims = await self._caller(context)
        rows = await self._identity.list_sessions(claims.user_id)
        return auth_pb2.Sessions(
            sessions=[
                auth_pb2.Session(
                    id=r.id,
                    created_at=r.created_at.astimezone(UTC).isoformat(),
                    last_used_at=r.last_used_at.astimezone(UTC).isoformat(),
                    client_address=r.client_address or "",
                    user_agent=r.user_agent,
                    current=r.id == claims.session_id,
                )
                for r in rows
            ]
        )

    @unary_with_context
    async def RevokeSession(
        self, request: auth_pb2.RevokeSessionRequest, context: CallContext
    ) -> auth_pb2.Empty:
        claims = await self._caller(context)
        await self._identity.revoke_session(
            claims.user_id, request.session_id, "revoked_by_user", _client(context)
        )
        return auth_pb2.Empty()

    @unary_with_context
    async def CreateTicket(
        self, request: auth_pb2.CreateTicketRequest, context: CallContext
    ) -> auth_pb2.Ticket:
        claims = await self._caller(context)
        if not 0 < len(request.room_id) <= 64:
            raise DomainError(errors.INVALID_PARAMETER, "room_id is 1 to 64 characters")
        ticket = await self._identity.issue_ticket(
            Ticket(claims.user_id, claims.role, claims.session_id, request.room_id)
        )
        return auth_pb2.Ticket(
            ticket=ticket, room_id=request.room_id, expires_in_secs=TICKET_TTL_SECONDS
        )

    @unary_with_context
    async def PasswordChangeStart(
        self, request: auth_pb2.PasswordChangeStartRequest, context: CallContext
    ) -> auth_pb2.RegistrationStartResponse:
        claims = await self._caller(context)
        session, response = await self._accounts.password_change_start(
            claims.user_id, claims.session_id, request.registration_request
        )
        return auth_pb2.RegistrationStartResponse(
            session_id=session, registration_response=response
        )

    @unary_with_context
    async def PasswordChangeFinish(
        self, request: auth_pb2.PasswordChangeFinishRequest, context: CallContext
    ) -> auth_pb2.SignedIn:
        claims = await self._caller(context)
        client = _client(context)
        user = await self._accounts.password_change_finish(
            claims.user_id,
            request.session_id,
            request.registration_upload,
            client.actor(claims.user_id),
        )
        tokens = await self._identity.open_session(user, client)
        return auth_pb2.SignedIn(user=_user(user), tokens=_tokens(tokens))
