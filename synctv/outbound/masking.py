"""Masking credentials in URLs and text before they reach a log line or an admin's screen.

Pure (stdlib only); shared by the outbound client (its log lines), the proxy and the providers.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# URL query parameters whose values are (or may be) credentials: masked in any output.
SENSITIVE_QUERY = frozenset(
    {"api_key", "apikey", "token", "access_token", "sign", "x-emby-token", "auth_key", "key"}
)


def mask_url(url: str, secrets: Iterable[str] = ()) -> str:
    """``url`` with credential query parameters, user info and known secrets masked.

    Safe for log lines about any URL: one that does not even parse is not shown at all.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(malformed URL)"
    query = [
        (k, MASK if k.lower() in SENSITIVE_QUERY else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    masked = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*/"), ""))
    return mask_text(masked, secrets)


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every known secret (4 characters or more, longest first) masked."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
