"""Take-once records of an OpenID Connect sign-in in the short-lived store.

Two kinds, both keyed by a random 256-bit token and readable exactly once (``take``): the
:class:`~synctv.auth.oidc.PendingLogin` kept under ``state`` between the authorize redirect and
the callback (10 minutes: the issue's bound on a person at the provider's login page), and the
one-time exchange code that carries a finished sign-in to the browser. The exchange code is why
tokens never ride in a redirect URL (where history, proxies and ``Referer`` would keep them):
the callback redirects with a code good for 60 seconds and one use, the page posts it back.
"""

from __future__ import annotations

from synctv import errors
from synctv.auth.oidc import OidcError, PendingLogin, random_token
from synctv.errors import DomainError
from synctv.state import ShortLivedState, StateUnavailable

PENDING_TTL_SECONDS = 600.0
EXCHANGE_TTL_SECONDS = 60.0
_PENDING_KEY = "oidc:state:"
_EXCHANGE_KEY = "oidc:exchange:"
# A token is 43 base64url characters; anything much longer is refused before reaching the store.
_MAX_TOKEN = 128


def _refused() -> DomainError:
    return DomainError(errors.OIDC_LOGIN_INVALID, "this sign-in is unknown, expired or used")


async def _put(state: ShortLivedState, prefix: str, value: bytes, ttl: float) -> str:
    try:
        while True:
            token = random_token()
            if await state.set_if_absent(prefix + token, value, ttl):
                return token
    except StateUnavailable:
        raise DomainError(
            errors.DEPENDENCY_UNAVAILABLE, "the session store is unavailable; try again shortly"
        ) from None


async def _take(state: ShortLivedState, prefix: str, token: str) -> bytes:
    if not token or len(token) > _MAX_TOKEN:
        raise _refused()
    try:
        value = await state.take(prefix + token)
    except StateUnavailable:
        raise DomainError(
            errors.DEPENDENCY_UNAVAILABLE, "the session store is unavailable; try again shortly"
        ) from None
    if value is None:
        raise _refused()
    return value


async def keep_pending(state: ShortLivedState, pending: PendingLogin) -> str:
    """Store ``pending``; the ``state`` value to send to the provider."""
    return await _put(state, _PENDING_KEY, pending.to_json().encode(), PENDING_TTL_SECONDS)


async def take_pending(state: ShortLivedState, state_token: str) -> PendingLogin:
    """The login started under ``state_token``, once; :data:`errors.OIDC_LOGIN_INVALID` after."""
    raw = await _take(state, _PENDING_KEY, state_token)
    try:
        return PendingLogin.from_json(raw)
    except OidcError:
        raise _refused() from None


async def issue_exchange(state: ShortLivedState, payload: bytes) -> str:
    """A one-time code for ``payload`` (a finished sign-in), good for 60 seconds."""
    return await _put(state, _EXCHANGE_KEY, payload, EXCHANGE_TTL_SECONDS)


async def redeem_exchange(state: ShortLivedState, code: str) -> bytes:
    """The payload issued under ``code``, once; :data:`errors.OIDC_LOGIN_INVALID` after."""
    return await _take(state, _EXCHANGE_KEY, code)
