"""The identity service as the features build it: the identity feature serves it, and features
with their own gRPC services (rooms) read callers' bearer tokens through it.

Feature builders never import each other, so what two of them build alike lives here.
"""

from __future__ import annotations

import time

from synctv.app.feature import Services
from synctv.auth.identity import IdentityService
from synctv.auth.server_setup import server_setup_from_seed
from synctv.auth.tokens import TokenIssuer
from synctv.core.settings import USER_ENABLE_PASSWORD_SIGNUP, USER_SIGNUP_NEEDS_REVIEW
from synctv.store.audit import AuditLog
from synctv.store.sessions import SessionStore
from synctv.store.users import UserStore


def token_issuer(services: Services) -> TokenIssuer:
    security = services.config.security
    return TokenIssuer(
        services.secrets.jwt_secret,
        time.time,
        access_ttl=security.access_token_ttl_seconds,
        refresh_ttl=security.refresh_token_ttl_seconds,
        guest_ttl=security.guest_token_ttl_seconds,
    )


def identity_service(services: Services) -> IdentityService:
    settings = services.settings
    return IdentityService(
        users=UserStore(services.db),
        sessions=SessionStore(services.db),
        audit=AuditLog(services.db),
        state=services.state,
        limits=services.limits,
        tokens=token_issuer(services),
        setup=server_setup_from_seed(services.secrets.opaque_server_setup),
        signup_enabled=lambda: settings.get(USER_ENABLE_PASSWORD_SIGNUP),
        signup_needs_review=lambda: settings.get(USER_SIGNUP_NEEDS_REVIEW),
    )
