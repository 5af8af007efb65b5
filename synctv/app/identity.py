"""Identity: accounts, OPAQUE sign-up and sign-in, sessions and tokens (``/api/auth``,
``/api/user``), and the authenticator every REST route's caller is read through.

At start the OPAQUE server setup is derived from ``security.opaque_server_setup`` and its
fingerprint compared with the stored one: a changed setup under existing accounts stops the
start with a message naming the key (every login would fail otherwise).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from synctv.api.grpc.admin_live import LiveUrls
from synctv.api.grpc.admin_users import UserAdmin
from synctv.api.grpc.auth import AuthService
from synctv.api.http.routes.admin_users import admin_users_router
from synctv.api.http.routes.auth import (
    auth_router,
    tickets_router,
    token_authenticator,
    whoami_router,
)
from synctv.api.http.routes.oidc import oidc_router
from synctv.api.http.routes.setup import password_router, reset_router, setup_router
from synctv.api.http.routes.user import user_router
from synctv.app.feature import Feature, Services, Task
from synctv.app.identity_service import identity_service
from synctv.auth.accounts import AccountService
from synctv.auth.identity import ServerSetupChanged
from synctv.auth.oidc_login import OidcLogins
from synctv.config import ConfigError
from synctv.core.settings import OAUTH2_PROVIDERS
from synctv.outbound.client import HttpUpstream
from synctv.store.accounts import AccountStore
from synctv.store.identities import IdentityStore

log = logging.getLogger("synctv.identity")


def setup_link_announcer(
    services: Services, accounts: AccountService, link: Callable[[str], str]
) -> Task:
    """On a start with no account: log the one-time setup link once the HTTP port is known.

    The link is a secret shown on purpose: whoever reads the server's log at first start is
    trusted to become root (that is the operator), and nothing else ever logs it. Each start
    without an account makes a new link; the older ones stop working.
    """

    async def announce(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        token = await accounts.setup_link_token()
        if token is None:
            return
        with trio.move_on_after(30):
            await services.addresses.http_ready.wait()
        log.warning(
            "No account exists yet. Open %s to create the first (root) account,"
            " or run: synctv admin user create NAME --role root",
            link(f"/setup?token={token}"),
        )

    return Task("setup_link", announce)


async def build(services: Services) -> Feature:
    identity = identity_service(services)
    try:
        await identity.check_server_setup()
    except ServerSetupChanged as exc:
        raise ConfigError("security.opaque_server_setup", str(exc)) from None
    accounts = AccountService(identity, AccountStore(services.db))
    urls = LiveUrls(services.config, http_binds=services.addresses.http_binds)

    def link(path: str) -> str:
        """A URL of this server for a person (server.public_url, else the bound address)."""
        return urls.http_base() + path

    upstream = HttpUpstream(
        connect_timeout=10.0,
        read_timeout=15.0,
        max_connections=16,
        own_listeners=services.addresses.own_listeners,
    )
    logins = OidcLogins(
        providers=lambda: services.settings.get(OAUTH2_PROVIDERS),
        state=services.state,
        http=upstream,
        identity=identity,
        identities=IdentityStore(services.db),
    )
    return Feature(
        "identity",
        api_routers=[
            auth_router(identity),
            user_router(identity),
            tickets_router(identity),
            whoami_router(),
            setup_router(accounts, identity),
            password_router(accounts, identity),
            admin_users_router(accounts, link),
            reset_router(accounts, identity),
            oidc_router(logins, identity, urls.http_base),
        ],
        admin_handlers=[UserAdmin(accounts, link)],
        grpc_handlers=[AuthService(identity, accounts)],
        tasks=[setup_link_announcer(services, accounts, link)],
        authenticator=token_authenticator(identity),
        closers=[upstream.aclose],
    )
