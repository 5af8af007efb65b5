"""The runtime settings registry: every setting declared once, with its type, default and rule.

Pure (no I/O): declarations and validation only. Storage is ``synctv.store.settings``, the
per-process snapshot and the management operations are ``synctv.core.runtime_settings``.

A key is ``group.name`` in camelCase (``user.enableGuest``). A value is JSON; validation is a
pydantic ``TypeAdapter`` in strict mode (``"5"`` is not an integer, ``1`` is not ``true``), and a
refusal names the key and the rule (``server.maxRoomsPerUser must be an integer from 1 to
10000``). A setting is *public* when anyone may read it (``GET /api/public/settings``, e.g. for
the login page), and has *secret fields* when part of its value (an OIDC client secret, a TURN
credential) must never be printed: those fields are encrypted at rest and left out of listings
and exports unless secrets are asked for explicitly.

Later issues add their settings here, one :func:`_declare` each; docs/settings.md is generated
from this module (``scripts/gen_settings_docs.py``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from pydantic.alias_generators import to_camel

T = TypeVar("T")

KEY_PATTERN = re.compile(r"[a-z][a-zA-Z0-9]*\.[a-z][a-zA-Z0-9]*\Z")
# What listings and audit rows show instead of a secret field's value.
MASK = "***"


class InvalidSettingValue(ValueError):
    """A value breaks its setting's rule; the message names the key and the rule, never the value."""

    def __init__(self, key: str, rule: str, problem: str = "") -> None:
        self.key = key
        self.rule = rule
        self.problem = problem
        super().__init__(f"{key} must be {rule}" + (f" ({problem})" if problem else ""))


class UnknownSetting(KeyError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)

    def __str__(self) -> str:
        return f"no setting {self.key!r}"


@dataclass(frozen=True, slots=True)
class Setting(Generic[T]):
    """One declared setting. ``secret_fields`` name fields of the value's objects (the value
    itself, or each item of a list of objects) that are secret."""

    key: str
    adapter: TypeAdapter[T]
    default: T
    rule: str
    description: str
    public: bool = False
    secret_fields: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def has_secrets(self) -> bool:
        return bool(self.secret_fields)

    def validate(self, value: object) -> T:
        """The typed value of JSON ``value``; :class:`InvalidSettingValue` if it breaks the rule."""
        try:
            return self.adapter.validate_python(value, strict=True)
        except ValidationError as exc:
            raise InvalidSettingValue(self.key, self.rule, _problem(exc)) from None

    def parse_text(self, text: str) -> T:
        """A value typed on a command line: JSON, or else the plain text as a string."""
        try:
            parsed: object = json.loads(text)
        except ValueError:
            return self.validate(text)
        try:
            return self.validate(parsed)
        except InvalidSettingValue:
            if isinstance(parsed, str):
                raise
            try:  # a string setting given plain text that happens to be JSON: `set server.name 42`
                return self.validate(text)
            except InvalidSettingValue:
                pass
            raise

    def to_json(self, value: T) -> Any:
        """The JSON form (camelCase keys, no unset optional fields)."""
        return self.adapter.dump_python(value, mode="json", by_alias=True, exclude_none=True)

    def default_json(self) -> Any:
        return self.to_json(self.default)

    def masked(self, json_value: Any, replacement: str | None = MASK) -> Any:
        """``json_value`` with each secret field replaced (or removed when ``replacement`` is
        None); values without secret fields are returned as they are."""
        if not self.secret_fields:
            return json_value
        return map_secret_fields(
            json_value,
            self.secret_fields,
            lambda _field, _value: replacement,
            drop=replacement is None,
        )


def map_secret_fields(
    json_value: Any,
    fields: Iterable[str],
    transform: Callable[[str, Any], Any],
    *,
    drop: bool = False,
) -> Any:
    """Apply ``transform(field, value)`` to each secret field present in the value's objects."""
    names = frozenset(fields)

    def one(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        out = {}
        for name, value in item.items():
            if name in names:
                if drop:
                    continue
                out[name] = transform(name, value)
            else:
                out[name] = value
        return out

    if isinstance(json_value, list):
        return [one(item) for item in json_value]
    return one(json_value)


def _problem(exc: ValidationError) -> str:
    """Where and what, without echoing the input (it may be a secret)."""
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid"))
    return f"at {where}: {message}" if where else message


# -- value types -------------------------------------------------------------------------------


def _integer(low: int, high: int, off: bool = False) -> tuple[TypeAdapter[Any], str]:
    rule = f"an integer from {low} to {high}" + (" (0 turns the limit off)" if off else "")
    return TypeAdapter(Annotated[int, Field(ge=low, le=high)]), rule


def _number(low: float, high: float, off: bool = False) -> tuple[TypeAdapter[Any], str]:
    rule = f"a number from {low:g} to {high:g}" + (" (0 turns the limit off)" if off else "")
    return TypeAdapter(Annotated[float, Field(ge=low, le=high)]), rule


def _boolean() -> tuple[TypeAdapter[Any], str]:
    return TypeAdapter(bool), "true or false"


def _text(low: int, high: int) -> tuple[TypeAdapter[Any], str]:
    rule = f"a string of {low} to {high} characters"
    return TypeAdapter(Annotated[str, Field(min_length=low, max_length=high)]), rule


def _strictly_increasing(values: list[int]) -> list[int]:
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError("each step must be longer than the one before")
    return values


_LOCKOUT_STEPS = Annotated[
    list[Annotated[int, Field(ge=1, le=10080)]],
    Field(min_length=1, max_length=10),
    AfterValidator(_strictly_increasing),
]


class _Shape(BaseModel):
    """JSON objects inside settings: camelCase keys, nothing unknown accepted."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=False, extra="forbid", frozen=True
    )


class IceServer(_Shape):
    """An RTCIceServer handed to browsers (a TURN server's credential is a secret field)."""

    urls: Annotated[
        list[Annotated[str, Field(pattern=r"^(stun|stuns|turn|turns):\S+$", max_length=512)]],
        Field(min_length=1, max_length=8),
    ]
    username: Annotated[str, Field(max_length=256)] | None = None
    credential: Annotated[str, Field(max_length=512)] | None = None


class OidcProvider(_Shape):
    """An OpenID Connect provider for sign-in (used by the identity issue)."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    display_name: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    issuer: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=512)]
    client_id: Annotated[str, Field(min_length=1, max_length=512)]
    client_secret: Annotated[str, Field(min_length=1, max_length=1024)]
    scopes: Annotated[
        list[Annotated[str, Field(pattern=r"^[!#-\[\]-~]+$", max_length=128)]],
        Field(min_length=1, max_length=32),
    ] = ["openid", "profile", "email"]  # pydantic copies defaults
    enabled: bool = True
    # A first sign-in with this provider creates an account (else: signup_disabled) ...
    allow_signup: bool = True
    # ... which waits for an administrator when this is on.
    signup_needs_review: bool = False


def _unique_names(providers: list[OidcProvider]) -> list[OidcProvider]:
    names = [p.name for p in providers]
    if len(names) != len(set(names)):
        raise ValueError("provider names must be unique")
    return providers


PasswordPolicy = Literal["optional", "required", "forbidden"]


# -- the registry ------------------------------------------------------------------------------

REGISTRY: dict[str, Setting[Any]] = {}


def _declare(
    key: str,
    kind: tuple[TypeAdapter[Any], str],
    default: Any,
    description: str,
    *,
    public: bool = False,
    secret_fields: tuple[str, ...] = (),
) -> Setting[Any]:
    if not KEY_PATTERN.match(key):
        raise AssertionError(f"setting key {key!r} is not group.camelCase")
    if key in REGISTRY:
        raise AssertionError(f"setting {key!r} is declared twice")
    adapter, rule = kind
    setting: Setting[Any] = Setting(key, adapter, default, rule, description, public, secret_fields)
    setting.validate(setting.default_json())  # a default that breaks its own rule is a bug
    REGISTRY[key] = setting
    return setting


SERVER_NAME: Setting[str] = _declare(
    "server.name", _text(1, 64), "SyncTV", "The server's name, shown on the login page.",
    public=True,
)  # fmt: skip
SERVER_ALLOW_ROOM_CREATION: Setting[bool] = _declare(
    "server.allowRoomCreation", _boolean(), True, "Whether users may create rooms.", public=True
)
SERVER_MAX_ROOMS_PER_USER: Setting[int] = _declare(
    "server.maxRoomsPerUser", _integer(1, 10_000), 10, "Rooms one user may own."
)
USER_ENABLE_PASSWORD_SIGNUP: Setting[bool] = _declare(
    "user.enablePasswordSignup", _boolean(), True,
    "Whether people may sign up with a password (a self-hosted server lets friends in).",
    public=True,
)  # fmt: skip
USER_SIGNUP_NEEDS_REVIEW: Setting[bool] = _declare(
    "user.signupNeedsReview", _boolean(), False,
    "Whether a new account waits for an administrator's approval.", public=True,
)  # fmt: skip
USER_ENABLE_GUEST: Setting[bool] = _declare(
    "user.enableGuest", _boolean(), True, "Whether guests may join rooms without an account.",
    public=True,
)  # fmt: skip
ROOM_DEFAULT_MAX_MEMBERS: Setting[int] = _declare(
    "room.defaultMaxMembers", _integer(2, 10_000), 100, "Member limit of a new room."
)
ROOM_PASSWORD_POLICY: Setting[PasswordPolicy] = _declare(
    "room.passwordPolicy",
    (TypeAdapter(PasswordPolicy),
     'one of "optional", "required", "forbidden"'),
    "optional", "Whether a new room may, must or must not have a password.", public=True,
)  # fmt: skip
CHAT_MAX_MESSAGES_PER_ROOM: Setting[int] = _declare(
    "chat.maxMessagesPerRoom", _integer(10, 100_000), 500, "Chat messages kept per room."
)
CHAT_MESSAGE_RETENTION_DAYS: Setting[int] = _declare(
    "chat.messageRetentionDays", _integer(1, 36_500), 90, "Days a chat message is kept."
)
WEBRTC_EXTERNAL_ICE_SERVERS: Setting[list[IceServer]] = _declare(
    "webrtc.externalIceServers",
    (TypeAdapter(Annotated[list[IceServer], Field(max_length=16)]),
     'a list of at most 16 {"urls": ["stun:..."|"turn:..."], "username", "credential"} objects'),
    [],
    "ICE servers offered besides the built-in STUN (none by default: no internet assumed).",
    secret_fields=("credential",),
)  # fmt: skip
WEBRTC_MAX_VOICE_PARTICIPANTS_PER_ROOM: Setting[int] = _declare(
    "webrtc.maxVoiceParticipantsPerRoom", _integer(2, 32), 8,
    "People in one room's voice chat at once.", public=True,
)  # fmt: skip
AUDIT_RETENTION_DAYS: Setting[int] = _declare(
    "audit.retentionDays", _integer(1, 36_500), 365, "Days an audit event is kept."
)
RATELIMIT_AUTH_PER_ADDRESS_PER_MINUTE: Setting[int] = _declare(
    "ratelimit.authPerAddressPerMinute", _integer(0, 10_000, off=True), 5,
    "Sign-in attempts per client address per minute.",
)  # fmt: skip
RATELIMIT_AUTH_FAILURES_BEFORE_LOCKOUT: Setting[int] = _declare(
    "ratelimit.authFailuresBeforeLockout", _integer(0, 1_000, off=True), 5,
    "Failed sign-ins on one account before it is locked out.",
)  # fmt: skip
RATELIMIT_AUTH_LOCKOUT_MINUTES: Setting[list[int]] = _declare(
    "ratelimit.authLockoutMinutes",
    (TypeAdapter(_LOCKOUT_STEPS),
     "a list of 1 to 10 strictly increasing whole minutes, each from 1 to 10080"),
    [1, 5, 15],
    "Lock-out length after each successive lock-out (the last one repeats).",
)  # fmt: skip
RATELIMIT_REGISTRATION_PER_ADDRESS_PER_HOUR: Setting[int] = _declare(
    "ratelimit.registrationPerAddressPerHour", _integer(0, 10_000, off=True), 3,
    "Sign-ups per client address per hour.",
)  # fmt: skip
RATELIMIT_WS_TICKETS_PER_USER_PER_MINUTE: Setting[int] = _declare(
    "ratelimit.wsTicketsPerUserPerMinute", _integer(0, 100_000, off=True), 30,
    "WebSocket tickets issued per user per minute.",
)  # fmt: skip
RATELIMIT_CHAT_MESSAGES_PER_USER_PER_SECOND: Setting[int] = _declare(
    "ratelimit.chatMessagesPerUserPerSecond", _integer(0, 1_000, off=True), 10,
    "Chat messages per user per second.",
)  # fmt: skip
RATELIMIT_API_PER_ADDRESS_PER_MINUTE: Setting[int] = _declare(
    "ratelimit.apiPerAddressPerMinute", _integer(0, 1_000_000, off=True), 600,
    "REST API requests per client address per minute.",
)  # fmt: skip
RATELIMIT_GUEST_TOKENS_PER_ADDRESS_PER_HOUR: Setting[int] = _declare(
    "ratelimit.guestTokensPerAddressPerHour", _integer(0, 100_000, off=True), 30,
    "Guest tokens minted per client address per hour.",
)  # fmt: skip
RATELIMIT_STUN_PER_SOURCE_PER_SECOND: Setting[float] = _declare(
    "ratelimit.stunPerSourcePerSecond", _number(0, 100_000, off=True), 20.0,
    "STUN binding requests per source address per second.",
)  # fmt: skip
OAUTH2_PROVIDERS: Setting[list[OidcProvider]] = _declare(
    "oauth2.providers",
    (TypeAdapter(Annotated[list[OidcProvider], Field(max_length=16),
                           AfterValidator(_unique_names)]),
     'a list of at most 16 OIDC providers {"name", "issuer", "clientId", "clientSecret", '
     '"scopes", "displayName", "enabled", "allowSignup", "signupNeedsReview"} with unique names'),
    [],
    "OpenID Connect providers for sign-in (client secrets are encrypted at rest).",
    secret_fields=("clientSecret",),
)  # fmt: skip


def setting(key: str) -> Setting[Any]:
    """The declaration of ``key``; :class:`UnknownSetting` if there is none."""
    try:
        return REGISTRY[key]
    except KeyError:
        raise UnknownSetting(key) from None


def groups() -> list[str]:
    return sorted({s.group for s in REGISTRY.values()})


def validate_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """Every ``key: value`` of an import document validated, or the first problem raised.

    Returns the typed values; raises :class:`UnknownSetting` or :class:`InvalidSettingValue`.
    """
    return {key: setting(key).validate(value) for key, value in document.items()}


# Declared now so operators can set them ahead (issue 10); the domain that reads them arrives
# with a later issue. docs/settings.md says so per key, and a test fails when a key is read
# before it is taken off this list, or when a key off it is read nowhere.
TAKES_EFFECT_WITH: Mapping[str, str] = {
    "server.name": "the browser client (shown on its pages; served today by /api/public/settings)",
}
