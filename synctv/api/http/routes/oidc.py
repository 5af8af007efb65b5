"""``/api/auth/oidc``: signing in with an OpenID Connect provider, and ``/api/user/identities``:
the providers linked to one's account (:mod:`synctv.auth.oidc_login` does the work).

``GET /api/auth/oidc/{provider}/authorize`` redirects the browser to the provider (or, with
``?mode=json``, returns the URL for a client that navigates itself); the provider returns to
``/api/auth/oidc/{provider}/callback``, which redirects to ``returnTo`` with
``#oidcCode=…`` in the fragment; the page posts that code to ``/api/auth/oidc/exchange`` for the
tokens. Register ``<public url>/api/auth/oidc/<provider>/callback`` as the redirect URI.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import Field

from synctv.api.http.principal import require_user
from synctv.api.http.routes.auth import CamelModel, LoginFinishOut, client_of, refusals, user_out
from synctv.auth.identity import IdentityService
from synctv.auth.oidc_login import OidcLogins

Provider = Annotated[str, Path(min_length=1, max_length=32)]


class ProviderOut(CamelModel):
    name: str
    display_name: str


class ProvidersOut(CamelModel):
    providers: list[ProviderOut]


class AuthorizeOut(CamelModel):
    authorization_url: str


class ExchangeIn(CamelModel):
    code: str = Field(min_length=1, max_length=128, description="The callback's #oidcCode=.")


class IdentityOut(CamelModel):
    id: str
    provider: str
    issuer: str
    email: str | None
    created_at: str
    last_used_at: str


class IdentitiesOut(CamelModel):
    identities: list[IdentityOut]


def oidc_router(logins: OidcLogins, identity: IdentityService, base_url: Any) -> APIRouter:
    """``base_url()`` is this server's public base (server.public_url, else the bound address):
    the redirect URI the provider was told."""
    router = APIRouter(tags=["auth"])

    def redirect_uri(name: str) -> str:
        return f"{base_url()}/api/auth/oidc/{name}/callback"

    @router.get("/api/auth/oidc/providers", response_model=ProvidersOut)
    async def providers() -> Any:
        """The enabled providers, for a sign-in page's buttons."""
        return ProvidersOut(
            providers=[
                ProviderOut(name=p.name, display_name=p.display_name or p.name)
                for p in logins.enabled()
            ]
        )

    @router.get(
        "/api/auth/oidc/{provider}/authorize",
        response_model=AuthorizeOut,
        responses={
            302: {"description": "To the provider's sign-in page."},
            **refusals((404, "`oidc_provider_not_found`"), (502, "`oidc_provider_unavailable`")),
        },
    )
    async def authorize(
        provider: Provider,
        return_to: Annotated[str, Query(alias="returnTo", max_length=512)] = "/",
        mode: Literal["redirect", "json"] = "redirect",
    ) -> Any:
        url = await logins.authorize(provider, redirect_uri(provider), return_to)
        if mode == "json":
            return AuthorizeOut(authorization_url=url)
        return RedirectResponse(url, status_code=302)

    @router.get(
        "/api/auth/oidc/{provider}/callback",
        status_code=302,
        responses=refusals(
            (400, "`oidc_state_invalid`"),
            (401, "`oidc_login_refused`"),
            (403, "`signup_disabled`, `account_banned` or `account_pending_review`"),
            (409, "`oidc_identity_taken` (a link)"),
        ),
    )
    async def callback(
        request: Request,
        provider: Provider,
        code: Annotated[str, Query(min_length=1, max_length=2048)],
        state: Annotated[str, Query(min_length=1, max_length=128)],
    ) -> Response:
        """Where the provider sends the browser back: on to ``returnTo#oidcCode=…``."""
        finished = await logins.callback(provider, code, state, client_of(request))
        target = finished.return_to
        if finished.exchange_code is not None:
            target += f"#oidcCode={finished.exchange_code}"
        else:
            target += "#oidcLinked=1"
        return RedirectResponse(target, status_code=302)

    @router.post(
        "/api/auth/oidc/exchange",
        response_model=LoginFinishOut,
        responses=refusals((400, "`oidc_state_invalid`")),
    )
    async def exchange(body: ExchangeIn) -> Any:
        """The tokens of a finished OpenID sign-in, once."""
        user_id, tokens = await logins.exchange(body.code)
        user = await identity.current_user_by_id(user_id)
        return LoginFinishOut(
            user=user_out(user),
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
        )

    @router.post(
        "/api/user/identities/{provider}/link",
        response_model=AuthorizeOut,
        responses=refusals((401, "`authentication_required`"), (404, "`oidc_provider_not_found`")),
    )
    async def link(
        request: Request,
        provider: Provider,
        return_to: Annotated[str, Query(alias="returnTo", max_length=512)] = "/",
    ) -> Any:
        """Start linking a provider to the signed-in account: go to the returned URL."""
        principal = await require_user(request)
        url = await logins.authorize(provider, redirect_uri(provider), return_to, principal.user_id)
        return AuthorizeOut(authorization_url=url)

    @router.get(
        "/api/user/identities",
        response_model=IdentitiesOut,
        responses=refusals((401, "`authentication_required`")),
    )
    async def identities(request: Request) -> Any:
        principal = await require_user(request)
        rows = await logins.identities(principal.user_id)
        return IdentitiesOut(
            identities=[
                IdentityOut(
                    id=r.id,
                    provider=r.provider,
                    issuer=r.issuer,
                    email=r.email,
                    created_at=r.created_at.isoformat(),
                    last_used_at=r.last_used_at.isoformat(),
                )
                for r in rows
            ]
        )

    @router.delete(
        "/api/user/identities/{identity_id}",
        status_code=204,
        responses=refusals(
            (401, "`authentication_required`"),
            (404, "`oidc_identity_not_found`"),
            (409, "`oidc_last_sign_in`"),
        ),
    )
    async def unlink(
        request: Request, identity_id: Annotated[str, Path(min_length=1, max_length=64)]
    ) -> Response:
        principal = await require_user(request)
        await logins.unlink(principal.user_id, identity_id, client_of(request))
        return Response(status_code=204)

    return router
