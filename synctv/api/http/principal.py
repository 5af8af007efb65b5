"""Who is calling a REST route: the seam between the web layer and identity.

Routes declare what they need with FastAPI dependencies (``Depends(require_user)``,
``Depends(require_admin)``). The composition root installs one :data:`Authenticator` on the REST
app (``app.state.authenticator``): the identity feature's, which reads ``Authorization: Bearer``
access tokens (:func:`synctv.api.http.routes.auth.token_authenticator`). Without one every route
that needs a caller refuses with ``authentication_required`` (fail closed: no route is ever open).
:func:`audit_actor` gives the audit log who acted, from which resolved address, in which request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request
from starlette.requests import HTTPConnection

from synctv import errors
from synctv.api.http.asgi import REQUEST_ID
from synctv.errors import DomainError
from synctv.store.audit import AuditActor

Role = Literal["root", "admin", "user", "guest"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a user's public id, global role and login session."""

    user_id: str
    role: Role
    session_id: str | None = None  # None for callers without a login session (tests, guests)
    # The one room this caller is bound to: a guest token's, or a WebSocket ticket's.
    room_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role in ("root", "admin")


Authenticator = Callable[[HTTPConnection], Awaitable[Principal | None]]
"""Reads the credentials of a request or a WebSocket handshake (headers, query); ``None`` when
there are none, DomainError when they are bad."""

# Where the dispatcher puts the authenticator for WebSocket routes (they are not FastAPI's).
SOCKET_AUTHENTICATOR = "synctv.authenticator"


async def current_principal(request: Request) -> Principal:
    authenticate: Authenticator | None = getattr(request.app.state, "authenticator", None)
    principal = await authenticate(request) if authenticate is not None else None
    if principal is None:
        raise DomainError(errors.UNAUTHENTICATED, "sign in first")
    return principal


async def socket_principal(scope: MutableMapping[str, Any]) -> Principal:
    """The caller of a WebSocket handshake, by the same authenticator as the REST routes."""
    authenticate = scope.get(SOCKET_AUTHENTICATOR)
    principal = await authenticate(HTTPConnection(scope)) if callable(authenticate) else None
    if principal is None:
        raise DomainError(errors.UNAUTHENTICATED, "sign in first")
    assert isinstance(principal, Principal)
    return principal


def bearer_token(request: HTTPConnection) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None when the header is absent."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DomainError(errors.UNAUTHENTICATED, "use Authorization: Bearer <access token>")
    return token.strip()


async def require_user(request: Request) -> Principal:
    """A signed-in account (any of root, admin, user; not a guest)."""
    principal = await current_principal(request)
    if principal.role == "guest":
        raise DomainError(errors.PERMISSION_DENIED, "sign in with an account first")
    return principal


async def require_admin(request: Request) -> Principal:
    principal = await current_principal(request)
    if not principal.is_admin:
        raise DomainError(errors.PERMISSION_DENIED, "administrators only")
    return principal


def audit_actor(request: Request, principal: Principal) -> AuditActor:
    client = request.client
    return AuditActor(
        principal.user_id,
        address=client.host if client is not None else None,
        request_id=request.scope.get(REQUEST_ID),
    )
