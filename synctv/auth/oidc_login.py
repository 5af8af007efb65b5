"""Signing in with an OpenID Connect provider: the Trio driver of :mod:`synctv.auth.oidc`.

Flow (authorization code with PKCE): :meth:`OidcLogins.authorize` fetches (and caches) the
provider's discovery document, keeps ``state`` → (provider, nonce, PKCE verifier, where to return,
and for a link the account) in the short-lived store for 10 minutes, and returns the provider's
authorization URL. The provider sends the browser back to the callback with ``code`` and
``state``; :meth:`OidcLogins.callback` takes the state (once: a replayed or forged callback finds
nothing), exchanges the code at the token endpoint through the outbound client, verifies the ID
token (signature by the provider's JWKS, issuer, audience, expiry, nonce), and then signs the
person in by their (issuer, subject), links the identity to the signed-in account, or signs them
up when the provider allows it.

The tokens never travel in a URL: the callback ends with a redirect carrying a one-time
*exchange code* (60 s) in the URL fragment (which browsers do not send to servers, so it is in
no access log), and the page posts it to ``/api/auth/oidc/exchange`` for the tokens.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

from joserfc.jwk import KeySet

from synctv import errors
from synctv.auth import oidc
from synctv.auth.identity import Client, IdentityService, new_public_id
from synctv.auth.tokens import TokenPair
from synctv.auth.usernames import InvalidUsername, parse_username
from synctv.errors import DomainError
from synctv.outbound.client import HttpUpstream
from synctv.outbound.request import JsonCallError
from synctv.outbound.scope import LanScope
from synctv.state import ShortLivedState, StateUnavailable
from synctv.store.identities import IdentityRow, IdentityStore
from synctv.store.users import UserRow

log = logging.getLogger("synctv.identity")

STATE_TTL_SECONDS: Final = 600
EXCHANGE_TTL_SECONDS: Final = 60
METADATA_TTL_SECONDS: Final = 3600
_STATE_KEY = "oidc:state:"
_EXCHANGE_KEY = "oidc:exchange:"


class OidcProvider(Protocol):
    """A configured provider (the runtime setting ``oauth2.providers`` holds them)."""

    @property
    def name(self) -> str: ...
    @property
    def issuer(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def scopes(self) -> Sequence[str]: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def allow_signup(self) -> bool: ...
    @property
    def signup_needs_review(self) -> bool: ...
    @property
    def display_name(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Finished:
    """Where to send the browser after the callback, with the exchange code for the page."""

    return_to: str
    exchange_code: str | None  # None: a link, nothing to sign in


class OidcLogins:
    def __init__(
        self,
        *,
        providers: Callable[[], Sequence[OidcProvider]],
        state: ShortLivedState,
        http: HttpUpstream,
        identity: IdentityService,
        identities: IdentityStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._providers = providers
        self._state = state
        self._http = http
        self._identity = identity
        self._identities = identities
        self._clock = clock
        self._metadata: dict[str, tuple[float, oidc.ProviderMetadata]] = {}
        self._jwks: dict[str, KeySet] = {}

    # -- the providers -------------------------------------------------------------------------

    def enabled(self) -> list[OidcProvider]:
        return [p for p in self._providers() if p.enabled]

    def _provider(self, name: str) -> OidcProvider:
        for provider in self.enabled():
            if provider.name == name:
                return provider
        raise DomainError(errors.OIDC_PROVIDER_NOT_FOUND, "no OpenID provider by this name")

    def _lan(self, provider: OidcProvider) -> LanScope:
        """The operator named the issuer: it may live on the LAN (a Keycloak next door)."""
        host = urlsplit(provider.issuer).hostname or ""
        return LanScope.parse([host]) if host else LanScope()

    async def _get_json(self, provider: OidcProvider, url: str) -> object:
        try:
            reply = await self._http.request_json("GET", url, lan=self._lan(provider))
        except JsonCallError as exc:
            raise DomainError(errors.OIDC_PROVIDER_UNAVAILABLE, f"the provider: {exc}") from None
        if reply.status != 200:
            raise DomainError(
                errors.OIDC_PROVIDER_UNAVAILABLE, f"the provider answered {reply.status}"
            )
        return reply.data

    async def _meta(self, provider: OidcProvider) -> oidc.ProviderMetadata:
        cached = self._metadata.get(provider.issuer)
        if cached is not None and self._clock() - cached[0] < METADATA_TTL_SECONDS:
            return cached[1]
        document = await self._get_json(provider, oidc.discovery_url(provider.issuer))
        try:
            meta = oidc.parse_discovery(document, provider.issuer)
        except oidc.OidcError as exc:
            raise DomainError(errors.OIDC_PROVIDER_UNAVAILABLE, str(exc)) from None
        self._metadata[provider.issuer] = (self._clock(), meta)
        return meta

    async def _keys(
        self, provider: OidcProvider, meta: oidc.ProviderMetadata, fresh: bool
    ) -> KeySet:
        if fresh or meta.jwks_uri not in self._jwks:
            try:
                self._jwks[meta.jwks_uri] = oidc.parse_jwks(
                    await self._get_json(provider, meta.jwks_uri)
                )
            except oidc.OidcError as exc:
                raise DomainError(errors.OIDC_PROVIDER_UNAVAILABLE, str(exc)) from None
        return self._jwks[meta.jwks_uri]

    # -- the flow ------------------------------------------------------------------------------

    async def authorize(
        self, name: str, redirect_uri: str, return_to: str, link_user: str | None = None
    ) -> str:
        """The provider's authorization URL for a sign-in (or a link to ``link_user``)."""
        provider = self._provider(name)
        meta = await self._meta(provider)
        state, nonce, verifier = oidc.random_token(), oidc.random_token(), oidc.random_token()
        pending = {
            "p": provider.name,
            "n": nonce,
            "v": verifier,
            "r": redirect_uri,
            "t": _local_path(return_to),
            "u": link_user or "",
        }
        await self._keep(_STATE_KEY + state, json.dumps(pending).encode(), STATE_TTL_SECONDS)
        return oidc.authorization_url(
            meta,
            client_id=provider.client_id,
            redirect_uri=redirect_uri,
            scopes=list(provider.scopes),
            state=state,
            nonce=nonce,
            code_verifier=verifier,
        )

    async def callback(self, name: str, code: str, state: str, client: Client) -> Finished:
        raw = await self._take(_STATE_KEY, state)
        if raw is None:
            raise DomainError(errors.OIDC_STATE_INVALID, "this sign-in expired or was used")
        pending = json.loads(raw)
        if pending["p"] != name:
            raise DomainError(errors.OIDC_STATE_INVALID, "this sign-in was for another provider")
        provider = self._provider(name)
        meta = await self._meta(provider)
        request = oidc.token_request(
            meta,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            code=code,
            redirect_uri=pending["r"],
            code_verifier=pending["v"],
            method=meta.token_auth_method(),
        )
        try:
            reply = await self._http.request_json(
                "POST",
                request.url,
                headers=list(request.headers.items()),
                form_body=request.form,
                lan=self._lan(provider),
            )
        except JsonCallError as exc:
            raise DomainError(errors.OIDC_PROVIDER_UNAVAILABLE, f"the provider: {exc}") from None
        try:
            id_token = oidc.id_token_from_response(reply.data)
            claims = await self._verified(provider, meta, id_token, pending["n"])
        except oidc.OidcError as exc:
            log.warning("OpenID sign-in with %s refused: %s", name, exc)
            raise DomainError(errors.OIDC_LOGIN_REFUSED, str(exc)) from None
        person = oidc.identity_from_claims(name, claims)
        if pending["u"]:
            await self._link(pending["u"], person, client)
            return Finished(pending["t"], None)
        user = await self._sign_in_or_up(provider, person, client)
        tokens = await self._identity.open_session(user, client)
        exchange = secrets.token_urlsafe(32)
        kept = json.dumps(
            {"user": user.id, "access": tokens.access_token, "refresh": tokens.refresh_token}
        ).encode()
        await self._keep(_EXCHANGE_KEY + exchange, kept, EXCHANGE_TTL_SECONDS)
        return Finished(pending["t"], exchange)

    async def _verified(
        self, provider: OidcProvider, meta: oidc.ProviderMetadata, id_token: str, nonce: str
    ) -> dict[str, object]:
        for fresh in (False, True):  # a key the cached JWKS lacks: the provider rotated keys
            try:
                return oidc.verify_id_token(
                    id_token,
                    await self._keys(provider, meta, fresh),
                    issuer=meta.issuer,
                    client_id=provider.client_id,
                    nonce=nonce,
                    now=self._clock(),
                )
            except oidc.UnknownSigningKey:
                if fresh:
                    raise
        raise AssertionError("unreachable")

    async def _link(self, user_id: str, person: oidc.OidcIdentity, client: Client) -> None:
        linked = await self._identities.link(
            user_id, person.provider, person.issuer, person.subject, person.email,
            client.actor(user_id),
        )  # fmt: skip
        if linked is None:
            raise DomainError(
                errors.OIDC_IDENTITY_TAKEN, "this identity is linked to an account already"
            )

    async def _sign_in_or_up(
        self, provider: OidcProvider, person: oidc.OidcIdentity, client: Client
    ) -> UserRow:
        user = await self._identities.user_for(person.issuer, person.subject)
        if user is None:
            if not provider.allow_signup:
                raise DomainError(
                    errors.SIGNUP_DISABLED, "this provider cannot create accounts here"
                )
            user = await self._sign_up(provider, person, client)
        if user.banned:
            raise DomainError(errors.ACCOUNT_BANNED, "this account is banned")
        if user.status == "pending_review":
            raise DomainError(errors.ACCOUNT_PENDING_REVIEW, "an administrator has to approve")
        return user

    async def _sign_up(
        self, provider: OidcProvider, person: oidc.OidcIdentity, client: Client
    ) -> UserRow:
        for candidate in _names(person):
            try:
                parsed = parse_username(candidate)
            except InvalidUsername:
                continue
            if await self._identity.users.by_key(parsed.key) is not None:
                continue
            user_id = new_public_id()
            created = await self._identities.create_user(
                user_id=user_id,
                username=parsed.display,
                username_key=parsed.key,
                pending=provider.signup_needs_review,
                provider=provider.name,
                issuer=person.issuer,
                subject=person.subject,
                email=person.email,
                by=client.actor(user_id),
            )
            if created is not None:
                return created
            existing = await self._identities.user_for(person.issuer, person.subject)
            if existing is not None:  # a concurrent first sign-in of the same person won
                return existing
        raise DomainError(errors.INVALID_USERNAME, "no usable name from the provider's profile")

    async def exchange(self, code: str) -> tuple[str, TokenPair]:
        raw = await self._take(_EXCHANGE_KEY, code)
        if raw is None:
            raise DomainError(errors.OIDC_STATE_INVALID, "this sign-in code expired or was used")
        kept = json.loads(raw)
        return kept["user"], TokenPair(kept["access"], kept["refresh"], "")

    async def identities(self, user_id: str) -> list[IdentityRow]:
        return await self._identities.list_for(user_id)

    async def unlink(self, user_id: str, identity_id: str, client: Client) -> None:
        outcome = await self._identities.unlink(user_id, identity_id, client.actor(user_id))
        if outcome == "missing":
            raise DomainError(errors.OIDC_IDENTITY_NOT_FOUND, "no linked identity with this id")
        if outcome == "last":
            raise DomainError(
                errors.OIDC_LAST_SIGN_IN,
                "this is the account's only way to sign in: set a password first",
            )

    # -- the short-lived store -----------------------------------------------------------------

    async def _keep(self, key: str, value: bytes, ttl: int) -> None:
        try:
            await self._state.set(key, value, ttl)
        except StateUnavailable:
            raise DomainError(errors.DEPENDENCY_UNAVAILABLE, "the session store is away") from None

    async def _take(self, prefix: str, token: str) -> bytes | None:
        if not token or len(token) > 128:
            return None
        try:
            return await self._state.take(prefix + token)
        except StateUnavailable:
            raise DomainError(errors.DEPENDENCY_UNAVAILABLE, "the session store is away") from None


def _local_path(return_to: str) -> str:
    """Only a path on this server (no scheme, no host, no //): no open redirect."""
    if return_to.startswith("/") and not return_to.startswith("//") and len(return_to) <= 512:
        return return_to
    return "/"


def _names(person: oidc.OidcIdentity) -> list[str]:
    """Usernames to try, from the profile, then with a number, then a random one."""
    bases = [
        person.preferred_username,
        person.email.split("@")[0] if person.email else None,
        person.name.replace(" ", "") if person.name else None,
    ]
    usable = [b for b in bases if b]
    tries = [*usable]
    for base in usable[:1]:
        tries.extend(f"{base[:28]}{n}" for n in range(2, 10))
    tries.append(f"user{secrets.token_hex(4)}")
    return tries
