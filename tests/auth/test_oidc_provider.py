"""The sans-IO relying party (synctv.auth.oidc) against a real OpenID provider (oidc-provider).

Each test runs the code flow end to end: discovery, the authorization URL with PKCE S256,
a person signing in and consenting, the code exchange, the JWKS and the ID-token checks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from synctv.auth.oidc import (
    LEEWAY_S,
    ProviderMetadata,
    TokenInvalid,
    authorization_url,
    discovery_url,
    id_token_from_response,
    identity_from_claims,
    parse_discovery,
    parse_jwks,
    random_token,
    token_request,
    verify_id_token,
)
from tests.support.oidc_node import (
    CLIENT_ID,
    CLIENT_SECRET,
    RunningProvider,
    oidc_provider,
    walk_to_callback,
)

REDIRECT = "http://127.0.0.1:9/api/auth/oidc/test/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[RunningProvider]:
    with oidc_provider([REDIRECT]) as running:
        yield running


@dataclass
class Flow:
    meta: ProviderMetadata
    state: str
    nonce: str
    verifier: str
    code: str


def authorize(provider: RunningProvider, login: str) -> Flow:
    document = httpx.get(discovery_url(provider.issuer)).json()
    meta = parse_discovery(document, provider.issuer)
    state, nonce, verifier = random_token(), random_token(), random_token()
    url = authorization_url(
        meta,
        client_id=CLIENT_ID,
        redirect_uri=REDIRECT,
        scopes=["openid", "profile", "email"],
        state=state,
        nonce=nonce,
        code_verifier=verifier,
    )
    back = parse_qs(urlsplit(walk_to_callback(url, login)).query)
    assert back["state"] == [state]
    return Flow(meta, state, nonce, verifier, back["code"][0])


def exchange(provider: RunningProvider, flow: Flow, verifier: str | None = None) -> str:
    request = token_request(
        flow.meta,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        code=flow.code,
        redirect_uri=REDIRECT,
        code_verifier=verifier or flow.verifier,
        method=flow.meta.token_auth_method,
    )
    response = httpx.post(request.url, headers=request.headers, data=request.form)
    return id_token_from_response(response.json())


def verify(
    provider: RunningProvider, flow: Flow, id_token: str, **changes: object
) -> dict[str, object]:
    jwks = parse_jwks(httpx.get(flow.meta.jwks_uri).json())
    arguments: dict[str, object] = {
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "nonce": flow.nonce,
        "now": time.time(),
    }
    arguments.update(changes)
    return verify_id_token(id_token, jwks, **arguments)  # type: ignore[arg-type]


def test_the_code_flow_yields_a_verified_identity(provider: RunningProvider) -> None:
    flow = authorize(provider, "alice")
    claims = verify(provider, flow, exchange(provider, flow))
    identity = identity_from_claims("test", claims)
    assert (identity.issuer, identity.subject) == (provider.issuer, "alice")
    assert (identity.preferred_username, identity.email) == ("alice", "alice@example.test")


def test_a_code_is_exchanged_once(provider: RunningProvider) -> None:
    flow = authorize(provider, "bob")
    exchange(provider, flow)
    with pytest.raises(TokenInvalid, match="invalid_grant"):
        exchange(provider, flow)


def test_a_wrong_pkce_verifier_is_refused_by_the_provider(provider: RunningProvider) -> None:
    flow = authorize(provider, "carol")
    with pytest.raises(TokenInvalid, match="invalid_grant"):
        exchange(provider, flow, verifier=random_token())


def test_a_wrong_nonce_is_refused(provider: RunningProvider) -> None:
    flow = authorize(provider, "dave")
    with pytest.raises(TokenInvalid, match="nonce"):
        verify(provider, flow, exchange(provider, flow), nonce=random_token())


def test_another_audience_or_issuer_is_refused(provider: RunningProvider) -> None:
    flow = authorize(provider, "erin")
    token = exchange(provider, flow)
    with pytest.raises(TokenInvalid, match="audience"):
        verify(provider, flow, token, client_id="someone-else")
    with pytest.raises(TokenInvalid, match="issuer"):
        verify(provider, flow, token, issuer="http://127.0.0.1:1")


def test_an_expired_id_token_is_refused(provider: RunningProvider) -> None:
    flow = authorize(provider, "frank")
    token = exchange(provider, flow)
    claims = verify(provider, flow, token)
    later = float(claims["exp"]) + LEEWAY_S + 1  # type: ignore[arg-type]
    with pytest.raises(TokenInvalid, match="expired"):
        verify(provider, flow, token, now=later)
