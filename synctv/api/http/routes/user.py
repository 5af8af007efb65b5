"""``/api/user``: the signed-in account, sign-out, and its login sessions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import Field

from synctv.api.http.principal import Principal, require_user
from synctv.api.http.routes.auth import CamelModel, UserOut, client_of, refusals, user_out
from synctv.auth.identity import IdentityService

SignedIn = Annotated[Principal, Depends(require_user)]
_SIGNED_IN = (401, "`authentication_required`, `token_expired` or `token_revoked`")


class SessionOut(CamelModel):
    """One live login session (one sign-in on one device)."""

    id: str
    created_at: str = Field(description="RFC 3339, UTC.")
    last_used_at: str = Field(description="When its refresh token was last used (RFC 3339).")
    client_address: str | None
    user_agent: str
    current: bool = Field(description="Whether this is the session of the calling token.")


class SessionsOut(CamelModel):
    sessions: list[SessionOut]


def user_router(identity: IdentityService) -> APIRouter:
    router = APIRouter(prefix="/api/user", tags=["user"])

    @router.get("", response_model=UserOut, responses=refusals(_SIGNED_IN))
    async def me(principal: SignedIn) -> Any:
        """The signed-in account."""
        return user_out(await identity.current_user_by_id(principal.user_id))

    @router.post("/logout", status_code=204, responses=refusals(_SIGNED_IN))
    async def logout(principal: SignedIn, request: Request) -> Response:
        """Revoke the calling session: its access and refresh tokens stop working."""
        if principal.session_id is not None:
            await identity.revoke_session(
                principal.user_id, principal.session_id, "logout", client_of(request)
            )
        return Response(status_code=204)

    @router.get("/sessions", response_model=SessionsOut, responses=refusals(_SIGNED_IN))
    async def sessions(principal: SignedIn) -> Any:
        """The caller's live sessions, newest first."""
        rows = await identity.list_sessions(principal.user_id)
        return SessionsOut(
            sessions=[
                SessionOut(
                    id=row.id,
                    created_at=row.created_at.isoformat(),
                    last_used_at=row.last_used_at.isoformat(),
                    client_address=row.client_address,
                    user_agent=row.user_agent,
                    current=row.id == principal.session_id,
                )
                for row in rows
            ]
        )

    @router.delete(
        "/sessions/{session_id}",
        status_code=204,
        responses=refusals(_SIGNED_IN, (404, "`session_not_found`")),
    )
    async def revoke(
        principal: SignedIn,
        request: Request,
        session_id: Annotated[str, Path(min_length=1, max_length=64)],
    ) -> Response:
        """Revoke one of the caller's sessions (sign out another device)."""
        await identity.revoke_session(
            principal.user_id, session_id, "revoked_by_user", client_of(request)
        )
        return Response(status_code=204)

    return router
