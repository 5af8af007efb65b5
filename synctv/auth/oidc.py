"""OpenID Connect relying party, sans-IO: discovery, PKCE, authorization URL, token request, ID token.

The Trio driver (fetching discovery, JWKS and the token endpoint through the outbound client,
keeping ``state`` in the short-lived store) is thin and lives elsewhere; everything that decides
whether a login is genuine is here, takes the clock and the randomness as parameters, and raises
:class:`OidcError` subclasses that map one-to-one to declared error codes.

Why joserfc (not Authlib): it is the JOSE half of Authlib by the same maintainer, released often,
ships ``py.typed`` and has no HTTP client of its own. We need only JOSE: the OAuth 2.0 messages
of the code flow are a few form fields, and every request must go through our outbound client
(address policy, Trio), which Authlib's httpx/requests integrations would bypass.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

#: Clock skew tolerated on ``exp``/``iat``/``nbf``, seconds.
LEEWAY_S: Final = 60
#: An ID token issued longer ago than this is refused even if ``exp`` is far away.
MAX_AGE_S: Final = 600
#: Algorithms accepted for ID token signatures (never ``none``, never HMAC with the secret).
ALGORITHMS: Final = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "EdDSA",
)

TokenAuthMethod = Literal["client_secret_basic", "client_secret_post"]


class OidcError(Exception):
    """Base of every refusal of this module; the message is safe to show (no secrets)."""


class DiscoveryInvalid(OidcError):
    """The discovery document is malformed or names another issuer."""


class TokenInvalid(OidcError):
    """The token response or the ID token failed a check."""


class UnknownSigningKey(TokenInvalid):
    """The ID token's ``kid`` is not in the JWKS we hold: refetch the JWKS once, then give up."""


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """The parts of a provider's discovery document the code flow uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_methods: tuple[str, ...]

    def token_auth_method(self) -> TokenAuthMethod:
        """``client_secret_basic`` unless the provider supports only ``client_secret_post``."""
        if "client_secret_basic" in self.token_auth_methods:
            return "client_secret_basic"
        if "client_secret_post" in self.token_auth_methods:
            return "client_secret_post"
        raise DiscoveryInvalid("provider supports neither client_secret_basic nor _post")


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    """A verified end user, as the sign-in sink receives it. (issuer, subject) is the key."""

    provider: str
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    preferred_username: str | None


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """What the authorize step keeps server-side under ``state`` until the callback takes it."""

    provider: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    return_to: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "p": self.provider,
                "n": self.nonce,
                "v": self.code_verifier,
                "r": self.redirect_uri,
                "t": self.return_to,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> PendingLogin:
        try:
            raw = json.loads(text)
            fields = (raw["p"], raw["n"], raw["v"], raw["r"], raw["t"])
        except (ValueError, KeyError, TypeError) as exc:
            raise OidcError("stored login state is unreadable") from exc
        if not all(isinstance(f, str) for f in fields):
            raise OidcError("stored login state is unreadable")
        return cls(*fields)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def random_token(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """256 random bits, URL-safe: used for ``state``, ``nonce`` and the PKCE verifier."""
    return _b64url(random_bytes(32))


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(ASCII(verifier)))."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def _https_or_same_origin(url: object, field: str) -> str:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2048:
        raise DiscoveryInvalid(f"discovery field {field} is not an http(s) URL")
    return url


def parse_discovery(document: object, expected_issuer: str) -> ProviderMetadata:
    """The discovery document checked (OIDC Discovery §4.3: ``issuer`` must equal the configured one)."""
    if not isinstance(document, Mapping):
        raise DiscoveryInvalid("discovery document is not a JSON object")
    issuer = document.get("issuer")
    if issuer != expected_issuer:
        raise DiscoveryInvalid("discovery document names another issuer")
    methods = document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise DiscoveryInvalid("token_endpoint_auth_methods_supported is not a list of strings")
    challenge = document.get("code_challenge_methods_supported")
    if isinstance(challenge, list) and "S256" not in challenge:
        raise DiscoveryInvalid("provider does not support PKCE S256")
    return ProviderMetadata(
        issuer=expected_issuer,
        authorization_endpoint=_https_or_same_origin(
            document.get("authorization_endpoint"), "authorization_endpoint"
        ),
        token_endpoint=_https_or_same_origin(document.get("token_endpoint"), "token_endpoint"),
        jwks_uri=_https_or_same_origin(document.get("jwks_uri"), "jwks_uri"),
        token_auth_methods=tuple(methods),
    )


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def authorization_url(
    meta: ProviderMetadata,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: list[str],
    state: str,
    nonce: str,
    code_verifier: str,
) -> str:
    """The URL the browser is sent to: code flow, PKCE S256, ``state`` and ``nonce``."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes if "openid" in scopes else ["openid", *scopes]),
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(code_verifier),
            "code_challenge_method": "S256",
        }
    )
    sep = "&" if "?" in meta.authorization_endpoint else "?"
    return meta.authorization_endpoint + sep + query


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A POST to the token endpoint: the caller sends it with its own HTTP client."""

    url: str
    headers: dict[str, str]
    form: dict[str, str]


def token_request(
    meta: ProviderMetadata,
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    method: TokenAuthMethod,
) -> TokenRequest:
    """The authorization code exchange (RFC 6749 §4.1.3 + RFC 7636 §4.5)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    headers = {"Accept": "application/json"}
    if method == "client_secret_basic":
        # RFC 6749 §2.3.1: both parts form-urlencoded before base64.
        pair = f"{_form_escape(client_id)}:{_form_escape(client_secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    else:
        form["client_id"] = client_id
        form["client_secret"] = client_secret
    return TokenRequest(url=meta.token_endpoint, headers=headers, form=form)


def _form_escape(value: str) -> str:
    return urlencode({"": value})[1:]


def id_token_from_response(body: object) -> str:
    """The ``id_token`` of a successful token response; :class:`TokenInvalid` otherwise."""
    if not isinstance(body, Mapping):
        raise TokenInvalid("token response is not a JSON object")
    if "error" in body:
        raise TokenInvalid(f"token endpoint refused the code: {str(body['error'])[:64]}")
    token = body.get("id_token")
    if not isinstance(token, str) or not token:
        raise TokenInvalid("token response has no id_token")
    return token


def token_kid(id_token: str) -> str | None:
    """The ``kid`` of the JWS header (unverified), to pick or refetch the JWKS."""
    try:
        header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
    except (ValueError, IndexError) as exc:
        raise TokenInvalid("ID token is not a JWS") from exc
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def verify_id_token(
    id_token: str,
    jwks: KeySet,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    now: float,
    leeway: int = LEEWAY_S,
) -> dict[str, object]:
    """The ID token's claims after OIDC Core §3.1.3.7: signature, iss, aud/azp, exp/iat, nonce."""
    kid = token_kid(id_token)
    if kid is not None and not any(k.kid == kid for k in jwks.keys):
        raise UnknownSigningKey("ID token is signed with a key the provider does not list")
    try:
        token = jwt.decode(id_token, jwks, algorithms=list(ALGORITHMS))
    except (JoseError, ValueError) as exc:
        raise TokenInvalid("ID token signature or format is invalid") from exc
    claims: dict[str, object] = dict(token.claims)
    if claims.get("iss") != issuer:
        raise TokenInvalid("ID token issuer mismatch")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
    if not audiences or client_id not in audiences:
        raise TokenInvalid("ID token audience mismatch")
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise TokenInvalid("ID token authorized party mismatch")
    exp, iat = _number(claims.get("exp")), _number(claims.get("iat"))
    if exp is None or iat is None:
        raise TokenInvalid("ID token lacks exp or iat")
    if now > exp + leeway:
        raise TokenInvalid("ID token expired")
    if iat > now + leeway or iat < now - MAX_AGE_S - leeway:
        raise TokenInvalid("ID token issued at an implausible time")
    nbf = _number(claims.get("nbf"))
    if nbf is not None and nbf > now + leeway:
        raise TokenInvalid("ID token not yet valid")
    if claims.get("nonce") != nonce:
        raise TokenInvalid("ID token nonce mismatch")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise TokenInvalid("ID token subject is missing or too long")
    return claims


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _opt_str(claims: Mapping[str, object], key: str) -> str | None:
    value = claims.get(key)
    return value[:256] if isinstance(value, str) and value else None


def identity_from_claims(provider: str, claims: Mapping[str, object]) -> OidcIdentity:
    """The verified identity the sink receives (claims already checked by :func:`verify_id_token`)."""
    return OidcIdentity(
        provider=provider,
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        email=_opt_str(claims, "email"),
        email_verified=claims.get("email_verified") is True,
        name=_opt_str(claims, "name"),
        preferred_username=_opt_str(claims, "preferred_username"),
    )


def parse_jwks(document: object) -> KeySet:
    """The provider's public keys; private or symmetric members are refused."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise TokenInvalid("JWKS is not an object with a keys list")
    keys = [k for k in document["keys"] if isinstance(k, Mapping)]
    if any("d" in k or k.get("kty") == "oct" for k in keys):
        raise TokenInvalid("JWKS holds private or symmetric keys")
    try:
        return KeySet.import_key_set({"keys": [dict(k) for k in keys]})
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise TokenInvalid("JWKS holds an unreadable key") from exc
