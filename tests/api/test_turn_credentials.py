"""TURN REST API credentials (coturn's --use-auth-secret scheme), checked against the scheme's
own definition: username "<expiry>:<user>", password base64(HMAC-SHA1(secret, username))."""

from __future__ import annotations

from pydantic import SecretStr

from synctv.api.http.routes.voice_ice import turn_rest_credential, turn_servers
from synctv.config import TurnConfig


def test_credential_is_the_rest_api_scheme() -> None:
    # Computed independently: printf '1700003600:alice' | openssl dgst -sha1 -hmac s3cret -binary | base64
    assert turn_rest_credential("s3cret", "alice", 1_700_003_600) == (
        "1700003600:alice",
        "YAFdW/YDZewZsR1QSgUk2IrfbRI=",
    )


def test_turn_entry_only_when_configured() -> None:
    assert turn_servers(TurnConfig(), "u", 1000.0) == ([], 0)
    turn = TurnConfig(
        urls=("turn:t.example:3478", "turn:t.example:3478?transport=tcp"),
        shared_secret=SecretStr("k"),
        ttl_seconds=600,
    )
    [entry], expires = turn_servers(turn, "u", 1000.5)
    assert expires == 1600
    assert entry.urls == list(turn.urls)
    assert entry.username == "1600:u"
    assert entry.credential == turn_rest_credential("k", "u", 1600)[1]
