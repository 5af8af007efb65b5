"""Identity: accounts, OPAQUE sign-up and sign-in, sessions and tokens (``/api/auth``,
``/api/user``), and the authenticator every REST route's caller is read through.

At start the OPAQUE server setup is derived from ``security.opaque_server_setup`` and its
fingerprint compared with the stored one: a changed setup under existing accounts stops the
start with a message naming the key (every login would fail otherwise).
"""

from __future__ import annotations

import time

from synctv.api.http.routes.auth import auth_router, guest_router, token_authenticator
from synctv.api.http.routes.password import password_router
from synctv.api.http.routes.tickets import tickets_router
from synctv.api.http.routes.user import user_router
from synctv.app.feature import Feature, Services
from synctv.auth.guests import GuestService
from synctv.auth.identity import IdentityService, ServerSetupChanged
from synctv.auth.password_change import PasswordChange
from synctv.auth.server_setup import server_setup_from_seed
from synctv.auth.tickets import TicketService
from synctv.auth.tokens import token_issuer
from synctv.config import ConfigError
from synctv.core.settings import (
    USER_ENABLE_GUEST,
    USER_ENABLE_PASSWORD_SIGNUP,
    USER_SIGNUP_NEEDS_REVIEW,
)
from synctv.store.audit import AuditLog
from synctv.store.passwords import PasswordStore
from synctv.store.sessions import SessionStore
from synctv.store.users import UserStore


def identity_service(services: Services) -> IdentityService:
    settings = services.settings
    return IdentityService(
        users=UserStore(services.db),
        sessions=SessionStore(services.db),
        audit=AuditLog(services.db),
        state=services.state,
        limits=services.limits,
        tokens=token_issuer(services.config.security, services.secrets.jwt_secret, time.time),
        setup=server_setup_from_seed(services.secrets.opaque_server_setup),
        signup_enabled=lambda: settings.get(USER_ENABLE_PASSWORD_SIGNUP),
        signup_needs_review=lambda: settings.get(USER_SIGNUP_NEEDS_REVIEW),
    )


async def build(services: Services) -> Feature:
    identity = identity_service(services)
    try:
        await identity.check_server_setup()
    except ServerSetupChanged as exc:
        raise ConfigError("security.opaque_server_setup", str(exc)) from None
    settings = services.settings
    guests = GuestService(
        tokens=identity.tokens,
        limits=services.limits,
        enabled=lambda: settings.get(USER_ENABLE_GUEST),
    )
    return Feature(
        "identity",
        api_routers=[
            auth_router(identity),
            guest_router(guests),
            tickets_router(TicketService(services.state, services.limits)),
            password_router(
                PasswordChange(
                    identity=identity,
                    setup=server_setup_from_seed(services.secrets.opaque_server_setup),
                    state=services.state,
                    passwords=PasswordStore(services.db),
                )
            ),
            user_router(identity),
        ],
        authenticator=token_authenticator(identity),
    )
