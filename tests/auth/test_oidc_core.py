"""The sans-IO OIDC relying party: real keys, real JWS, a fixed clock."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from synctv.auth import oidc

ISSUER = "https://idp.example"
CLIENT = "synctv"
NOW = 1_800_000_000.0

DISCOVERY = {
    "issuer": ISSUER,
    "authorization_endpoint": ISSUER + "/auth",
    "token_endpoint": ISSUER + "/token",
    "jwks_uri": ISSUER + "/jwks",
    "token_endpoint_auth_methods_supported": ["client_secret_post"],
    "code_challenge_methods_supported": ["S256"],
}


@pytest.fixture(scope="module")
def signer() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})


@pytest.fixture(scope="module")
def jwks(signer: RSAKey) -> KeySet:
    return oidc.parse_jwks({"keys": [signer.as_dict(private=False)]})


def _claims(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "user-42",
        "exp": int(NOW) + 300,
        "iat": int(NOW) - 5,
        "nonce": "n0nce",
        "email": "a@example.org",
        "email_verified": True,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def _sign(key: RSAKey | ECKey, claims: dict[str, object], alg: str = "RS256") -> str:
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key)


def _verify(token: str, jwks: KeySet, now: float = NOW, nonce: str = "n0nce") -> dict[str, object]:
    return oidc.verify_id_token(token, jwks, issuer=ISSUER, client_id=CLIENT, nonce=nonce, now=now)


def test_valid_token_gives_identity(signer: RSAKey, jwks: KeySet) -> None:
    claims = _verify(_sign(signer, _claims()), jwks)
    ident = oidc.identity_from_claims("idp", claims)
    assert (ident.issuer, ident.subject, ident.email, ident.email_verified) == (
        ISSUER,
        "user-42",
        "a@example.org",
        True,
    )


@pytest.mark.parametrize(
    ("over", "now", "nonce", "message"),
    [
        ({"iss": "https://evil.example"}, NOW, "n0nce", "issuer"),
        ({"aud": "other"}, NOW, "n0nce", "audience"),
        ({"aud": [CLIENT, "other"]}, NOW, "n0nce", "authorized party"),
        ({"aud": [CLIENT, "other"], "azp": "other"}, NOW, "n0nce", "authorized party"),
        ({}, NOW + 300 + oidc.LEEWAY_S + 1, "n0nce", "expired"),
        ({"iat": int(NOW) + 3600, "exp": int(NOW) + 7200}, NOW, "n0nce", "implausible"),
        ({}, NOW, "other-nonce", "nonce"),
        ({"nonce": None}, NOW, "n0nce", "nonce"),
        ({"sub": None}, NOW, "n0nce", "subject"),
        ({"exp": None}, NOW, "n0nce", "exp"),
    ],
)
def test_claim_checks_refuse(
    signer: RSAKey, jwks: KeySet, over: dict[str, object], now: float, nonce: str, message: str
) -> None:
    with pytest.raises(oidc.TokenInvalid, match=message):
        _verify(_sign(signer, _claims(**over)), jwks, now=now, nonce=nonce)


def test_several_audiences_with_our_azp_pass(signer: RSAKey, jwks: KeySet) -> None:
    _verify(_sign(signer, _claims(aud=[CLIENT, "other"], azp=CLIENT)), jwks)


def test_expiry_within_leeway_passes(signer: RSAKey, jwks: KeySet) -> None:
    _verify(_sign(signer, _claims()), jwks, now=NOW + 300 + oidc.LEEWAY_S - 1)


def test_unknown_kid_asks_for_refetch(jwks: KeySet) -> None:
    other = RSAKey.generate_key(2048, parameters={"kid": "k2"})
    with pytest.raises(oidc.UnknownSigningKey):
        _verify(_sign(other, _claims()), jwks)


def test_forged_signature_with_known_kid_refused(jwks: KeySet) -> None:
    forger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    with pytest.raises(oidc.TokenInvalid, match="signature"):
        _verify(_sign(forger, _claims()), jwks)


def test_alg_none_refused(jwks: KeySet) -> None:
    def seg(d: bytes) -> str:
        return base64.urlsafe_b64encode(d).rstrip(b"=").decode()

    token = seg(b'{"alg":"none","kid":"k1"}') + "." + seg(b'{"sub":"x"}') + "."
    with pytest.raises(oidc.TokenInvalid):
        _verify(token, jwks)


def test_tampered_payload_refused(signer: RSAKey, jwks: KeySet) -> None:
    head, _, sig = _sign(signer, _claims()).split(".")
    payload = base64.urlsafe_b64encode(b'{"sub":"admin"}').rstrip(b"=").decode()
    with pytest.raises(oidc.TokenInvalid):
        _verify(f"{head}.{payload}.{sig}", jwks)


def test_ec_keys_work() -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "e1"})
    keys = oidc.parse_jwks({"keys": [key.as_dict(private=False)]})
    _verify(_sign(key, _claims(), alg="ES256"), keys)


def test_jwks_with_private_or_symmetric_members_refused(signer: RSAKey) -> None:
    with pytest.raises(oidc.TokenInvalid, match="private"):
        oidc.parse_jwks({"keys": [signer.as_dict(private=True)]})
    with pytest.raises(oidc.TokenInvalid, match="private"):
        oidc.parse_jwks({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})


def test_discovery_issuer_mismatch_refused() -> None:
    with pytest.raises(oidc.DiscoveryInvalid, match="another issuer"):
        oidc.parse_discovery({**DISCOVERY, "issuer": "https://evil.example"}, ISSUER)


def test_discovery_without_s256_refused() -> None:
    with pytest.raises(oidc.DiscoveryInvalid, match="S256"):
        oidc.parse_discovery({**DISCOVERY, "code_challenge_methods_supported": ["plain"]}, ISSUER)


def test_authorization_url_has_pkce_state_nonce() -> None:
    meta = oidc.parse_discovery(DISCOVERY, ISSUER)
    verifier = oidc.random_token(lambda n: b"\x01" * n)
    url = oidc.authorization_url(
        meta,
        client_id=CLIENT,
        redirect_uri="https://tv.example/api/auth/oidc/idp/callback",
        scopes=["profile"],
        state="st",
        nonce="nn",
        code_verifier=verifier,
    )
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert q["code_challenge"] == expected.decode()
    assert (q["code_challenge_method"], q["state"], q["nonce"], q["scope"]) == (
        "S256",
        "st",
        "nn",
        "openid profile",
    )
    assert url.startswith(ISSUER + "/auth?")


def test_pkce_rfc7636_appendix_b_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B
    assert oidc.pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_token_request_basic_and_post() -> None:
    meta = oidc.parse_discovery(DISCOVERY, ISSUER)
    assert meta.token_auth_method() == "client_secret_post"
    common = {
        "client_id": "c d",
        "client_secret": "s:é",
        "code": "C",
        "redirect_uri": "R",
        "code_verifier": "V",
    }
    basic = oidc.token_request(meta, method="client_secret_basic", **common)
    raw = base64.b64decode(basic.headers["Authorization"].removeprefix("Basic ")).decode()
    assert raw == "c+d:s%3A%C3%A9"
    assert "client_secret" not in basic.form
    post = oidc.token_request(meta, method="client_secret_post", **common)
    assert post.form["client_secret"] == "s:é"
    assert "Authorization" not in post.headers
    assert post.form["code_verifier"] == "V"
    assert post.form["grant_type"] == "authorization_code"


def test_pending_login_roundtrip_and_garbage() -> None:
    p = oidc.PendingLogin("idp", "n", "v", "https://r", "/")
    assert oidc.PendingLogin.from_json(p.to_json()) == p
    with pytest.raises(oidc.OidcError):
        oidc.PendingLogin.from_json('{"p": 1}')


@given(st.text(max_size=300))
def test_verify_never_crashes_on_garbage(text: str) -> None:
    keys = KeySet([])
    with pytest.raises(oidc.TokenInvalid):
        oidc.verify_id_token(text, keys, issuer=ISSUER, client_id=CLIENT, nonce="n", now=NOW)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=6),
                    max_leaves=20))  # fmt: skip
def test_discovery_and_jwks_parsers_refuse_cleanly(doc: object) -> None:
    for parse in (lambda d: oidc.parse_discovery(d, ISSUER), oidc.parse_jwks):
        try:
            parse(doc)
        except oidc.OidcError:
            pass
