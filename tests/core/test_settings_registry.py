"""The runtime settings registry: declarations, strict validation with the key and the rule in
every refusal, secret fields (masking, sealing), and the keys other features read."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.core import settings as registry
from synctv.core.runtime_settings import carry_secrets
from synctv.core.setting_secrets import SettingCipher, SettingSecretError
from synctv.core.settings import REGISTRY, InvalidSettingValue, UnknownSetting

KEY = bytes(range(32))

# The keys and defaults the audit and rate-limit work reads (issue 10's shared interface).
SHARED = {
    "audit.retentionDays": 365,
    "ratelimit.authPerAddressPerMinute": 5,
    "ratelimit.authFailuresBeforeLockout": 5,
    "ratelimit.authLockoutMinutes": [1, 5, 15],
    "ratelimit.registrationPerAddressPerHour": 3,
    "ratelimit.wsTicketsPerUserPerMinute": 30,
    "ratelimit.chatMessagesPerUserPerSecond": 10,
    "ratelimit.apiPerAddressPerMinute": 600,
    "ratelimit.guestTokensPerAddressPerHour": 30,
    "ratelimit.stunPerSourcePerSecond": 20.0,
    "oauth2.providers": [],
    "server.maxRoomsPerUser": 10,
    "user.enablePasswordSignup": True,
    "user.signupNeedsReview": False,
    "user.enableGuest": True,
    "room.defaultMaxMembers": 100,
    "room.passwordPolicy": "optional",
    "chat.maxMessagesPerRoom": 500,
    "chat.messageRetentionDays": 90,
    "webrtc.externalIceServers": [],
    "webrtc.maxVoiceParticipantsPerRoom": 8,
}

GOOGLE = {
    "name": "google",
    "issuer": "https://accounts.example",
    "clientId": "client-1",
    "clientSecret": "s3cr3t-value",
}


def test_declared_keys_and_defaults() -> None:
    for key, default in SHARED.items():
        assert registry.setting(key).default_json() == default, key
    assert {"server.name", "server.allowRoomCreation"} <= set(REGISTRY)
    for key, setting in REGISTRY.items():
        assert registry.KEY_PATTERN.match(key)
        assert setting.description.endswith(".")
        assert setting.validate(setting.default_json()) == setting.default


@pytest.mark.parametrize(
    ("key", "value", "rule_part"),
    [
        ("server.maxRoomsPerUser", "5", "an integer from 1 to 10000"),
        ("server.maxRoomsPerUser", True, "an integer"),
        ("server.maxRoomsPerUser", 0, "from 1 to 10000"),
        ("webrtc.maxVoiceParticipantsPerRoom", 33, "from 2 to 32"),
        ("webrtc.maxVoiceParticipantsPerRoom", 1, "from 2 to 32"),
        ("user.enableGuest", 1, "true or false"),
        ("room.passwordPolicy", "sometimes", '"optional", "required", "forbidden"'),
        ("ratelimit.authLockoutMinutes", [5, 1], "strictly increasing"),
        ("ratelimit.authLockoutMinutes", [], "1 to 10"),
        ("ratelimit.authLockoutMinutes", [0, 5], "from 1 to 10080"),
        ("ratelimit.stunPerSourcePerSecond", -1, "a number from 0"),
        ("audit.retentionDays", 0, "from 1 to 36500"),
        ("server.name", "", "1 to 64 characters"),
        ("oauth2.providers", [GOOGLE, GOOGLE], "unique names"),
        ("oauth2.providers", [{**GOOGLE, "extra": 1}], "OIDC providers"),
        ("webrtc.externalIceServers", [{"urls": ["http://x"]}], "stun:"),
    ],
)
def test_refusals_name_the_key_and_the_rule(key: str, value: object, rule_part: str) -> None:
    with pytest.raises(InvalidSettingValue) as refused:
        registry.setting(key).validate(value)
    message = str(refused.value)
    assert message.startswith(f"{key} must be ")
    assert rule_part in message
    assert refused.value.rule == registry.setting(key).rule


def test_a_refusal_never_echoes_a_secret() -> None:
    bad = [{**GOOGLE, "clientSecret": "s3cr3t-value", "issuer": "ftp://nope"}]
    with pytest.raises(InvalidSettingValue) as refused:
        registry.OAUTH2_PROVIDERS.validate(bad)
    assert "s3cr3t" not in str(refused.value)
    assert "issuer" in str(refused.value)


def test_unknown_key() -> None:
    with pytest.raises(UnknownSetting, match=r"no setting 'server\.nope'"):
        registry.setting("server.nope")


def test_parse_text_json_or_plain() -> None:
    assert registry.SERVER_MAX_ROOMS_PER_USER.parse_text("42") == 42
    assert registry.SERVER_NAME.parse_text("My TV") == "My TV"
    assert registry.SERVER_NAME.parse_text("42") == "42"  # a name that looks like JSON
    assert registry.SERVER_NAME.parse_text('"quoted"') == "quoted"
    assert registry.USER_ENABLE_GUEST.parse_text("false") is False
    assert registry.RATELIMIT_AUTH_LOCKOUT_MINUTES.parse_text("[2, 4]") == [2, 4]
    with pytest.raises(InvalidSettingValue):
        registry.USER_ENABLE_GUEST.parse_text("no")


@given(st.integers())
def test_integer_rules_hold_for_any_integer(value: int) -> None:
    setting = registry.WEBRTC_MAX_VOICE_PARTICIPANTS_PER_ROOM
    if 2 <= value <= 32:
        assert setting.validate(value) == value
    else:
        with pytest.raises(InvalidSettingValue):
            setting.validate(value)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.sampled_from(sorted(REGISTRY)), JSON)
def test_any_json_is_accepted_or_refused_with_the_rule(key: str, value: Any) -> None:
    """Nothing but InvalidSettingValue escapes, and an accepted value round-trips."""
    setting = REGISTRY[key]
    try:
        typed = setting.validate(value)
    except InvalidSettingValue as exc:
        refusal = str(exc)
    else:
        refusal = ""
    if refusal:
        assert refusal.startswith(f"{key} must be {setting.rule}")
        return
    assert setting.validate(setting.to_json(typed)) == typed
    assert json.loads(json.dumps(setting.to_json(typed))) == setting.to_json(typed)


@given(st.lists(st.integers(min_value=1, max_value=10080), min_size=1, max_size=10))
def test_lockout_steps_must_increase(steps: list[int]) -> None:
    increasing = all(b > a for a, b in itertools.pairwise(steps))
    if increasing:
        assert registry.RATELIMIT_AUTH_LOCKOUT_MINUTES.validate(steps) == steps
    else:
        with pytest.raises(InvalidSettingValue, match="strictly increasing"):
            registry.RATELIMIT_AUTH_LOCKOUT_MINUTES.validate(steps)


def test_secret_fields_are_masked_sealed_and_opened() -> None:
    setting = registry.OAUTH2_PROVIDERS
    value = setting.to_json(setting.validate([GOOGLE]))
    assert setting.masked(value)[0]["clientSecret"] == "***"
    assert "clientSecret" not in setting.masked(value, None)[0]
    cipher = SettingCipher(KEY)
    sealed = cipher.seal(setting, value)
    assert "s3cr3t" not in json.dumps(sealed)
    assert sealed[0]["clientId"] == "client-1"  # only the secret field is sealed
    assert cipher.open(setting, sealed) == value
    # A previous key still opens; a stranger's key does not, nor a sealed value moved elsewhere.
    assert SettingCipher(b"\x01" * 32, previous=[KEY]).open(setting, sealed) == value
    with pytest.raises(SettingSecretError, match="sealed under key"):
        SettingCipher(b"\x01" * 32).open(setting, sealed)
    moved = cipher.seal(registry.WEBRTC_EXTERNAL_ICE_SERVERS, [{"credential": "x"}])
    forged = [{**value[0], "clientSecret": moved[0]["credential"]}]
    with pytest.raises(SettingSecretError, match="failed authentication"):
        cipher.open(setting, forged)


def test_missing_or_masked_secrets_are_carried_over_by_name() -> None:
    setting = registry.OAUTH2_PROVIDERS
    current = [GOOGLE, {**GOOGLE, "name": "other", "clientSecret": "other-secret"}]
    without = {k: v for k, v in GOOGLE.items() if k != "clientSecret"}
    new = [{**without, "clientId": "client-2"}, {**GOOGLE, "name": "other", "clientSecret": "***"}]
    carried = carry_secrets(setting, new, current)
    assert carried[0]["clientSecret"] == "s3cr3t-value"
    assert carried[0]["clientId"] == "client-2"
    assert carried[1]["clientSecret"] == "other-secret"
    # A new provider without a secret stays without one, and validation then refuses it.
    fresh = carry_secrets(setting, [{**without, "name": "new"}], current)
    with pytest.raises(InvalidSettingValue, match="clientSecret"):
        setting.validate(fresh)


def _read_outside_the_settings_code(key: str) -> list[str]:
    """Modules that name ``key`` (or its constant) besides the generic settings code."""
    generic = {"core/settings.py", "core/runtime_settings.py", "cli/settings.py"}
    generic |= {"api/http/routes/settings.py", "api/grpc/admin_settings.py"}
    constant = next(name for name, value in vars(registry).items() if value is REGISTRY[key])
    package = Path(registry.__file__).resolve().parent.parent
    found = []
    for path in package.rglob("*.py"):
        relative = path.relative_to(package).as_posix()
        text = path.read_text()
        if relative not in generic and (key in text or re.search(rf"\b{constant}\b", text)):
            found.append(relative)
    return found


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_every_setting_is_read_or_says_when_it_will_be(key: str) -> None:
    readers = _read_outside_the_settings_code(key)
    if key in registry.TAKES_EFFECT_WITH:
        # The rate-limit book sizes every ratelimit.* rule; the callers arrive later.
        assert readers in ([], ["state/limits.py"]), f"{key} is read now: take it off the list"
    else:
        assert readers, f"{key} is read nowhere: list it in TAKES_EFFECT_WITH or read it"
