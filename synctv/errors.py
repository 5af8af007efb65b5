"""The one catalogue of error codes that cross an API boundary, and :class:`DomainError`.

Every refusal a client can see has a stable code declared here exactly once, in one line, with
its HTTP status, its gRPC status and a one-line description. Every transport (the HTTP routes, the
management gRPC, the CLI's error output, later the WebSocket) maps a :class:`DomainError` through
this table and nothing else, so a code means the same everywhere. ``docs/errors.md`` is generated
from it (``scripts/gen_error_docs.py``).

Codes are flat ``snake_case`` and start with their area's noun (``stream_not_found``,
``proxy_token_expired``, ``provider_name_taken``): the existing wire codes already read that way
and clients match on them, so they stay. A code never changes meaning; add a new one instead.
Declare a code, one line, under its :class:`Area` (``G`` is :class:`GrpcStatus`)::

    MEMBER_NOT_FOUND = ROOMS.code("member_not_found", 404, G.NOT_FOUND, "No member with this id.")

Raising a code that is not declared is a bug: the constructor refuses it at run time and
``tests/test_errors.py`` finds literal codes in the source that are not declared.

What a client sees: ``code``, ``message`` and ``details`` (a small JSON object). They are public:
never put secrets, credentials, URLs of upstreams or the text of a lower-level exception in them
(log those). Unexpected exceptions never reach a client; they become ``internal_error``.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import TypeAlias

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"

_CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+\Z")
_HTTP_STATUSES = frozenset(status.value for status in HTTPStatus)


class GrpcStatus(enum.IntEnum):
    """The canonical gRPC status codes (grpc/doc/statuscodes.md), without importing grpclib:
    this module sits below every transport. ``tests/test_errors.py`` checks them against grpclib.
    """

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


G = GrpcStatus


class ErrorCode(str):
    """One declared code: the string clients match on, with how each transport reports it.

    A ``str`` so that it compares, hashes and serialises as the wire code itself.
    """

    __slots__ = ("area", "description", "grpc_status", "http_status")

    http_status: int
    grpc_status: GrpcStatus
    description: str
    area: str

    def __new__(
        cls, code: str, http_status: int, grpc_status: GrpcStatus, description: str, area: str
    ) -> ErrorCode:
        self = super().__new__(cls, code)
        self.http_status = http_status
        self.grpc_status = grpc_status
        self.description = description
        self.area = area
        return self

    @property
    def code(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"ErrorCode({self.code!r}, {self.http_status}, {self.grpc_status.name})"


_CATALOGUE: dict[str, ErrorCode] = {}
_AREAS: dict[str, Area] = {}


class Area:
    """A group of codes (one section of ``docs/errors.md``); declare its codes with :meth:`code`."""

    def __init__(self, name: str, title: str) -> None:
        if name in _AREAS:
            raise ValueError(f"error area {name!r} declared twice")
        self.name = name
        self.title = title
        _AREAS[name] = self

    def code(
        self, code: str, http_status: int, grpc_status: GrpcStatus, description: str
    ) -> ErrorCode:
        """Declare ``code``; a second declaration of the same string is refused at import."""
        if not _CODE.match(code):
            raise ValueError(f"error code {code!r} is not snake_case with at least two words")
        if code in _CATALOGUE:
            raise ValueError(f"error code {code!r} declared twice")
        if not 400 <= http_status <= 599 or http_status not in _HTTP_STATUSES:
            raise ValueError(f"{code}: {http_status} is not an HTTP error status")
        if grpc_status is GrpcStatus.OK:
            raise ValueError(f"{code}: gRPC status OK is not an error")
        if not description or "\n" in description:
            raise ValueError(f"{code}: the description is one non-empty line")
        declared = ErrorCode(code, http_status, GrpcStatus(grpc_status), description, self.name)
        _CATALOGUE[code] = declared
        return declared


class UndeclaredErrorCode(LookupError):
    """A code that is not in the catalogue: a bug in the caller, never a client's fault."""


def lookup(code: str) -> ErrorCode:
    try:
        return _CATALOGUE[code]
    except KeyError:
        raise UndeclaredErrorCode(f"error code {code!r} is not declared in synctv.errors") from None


def catalogue() -> tuple[ErrorCode, ...]:
    """Every declared code, in declaration order (grouped by area)."""
    return tuple(_CATALOGUE.values())


def areas() -> tuple[Area, ...]:
    return tuple(_AREAS.values())


class DomainError(Exception):
    """An expected failure a client is told about: a declared code, a message, details.

    ``headers`` are HTTP response headers the HTTP mapping adds (``Allow`` on 405,
    ``Content-Range`` on 416, ``Retry-After``, CORS); other transports ignore them.
    """

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        details: Mapping[str, JsonValue] | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        declared = lookup(code)
        if isinstance(code, ErrorCode) and code is not declared:
            raise UndeclaredErrorCode(f"error code {code.code!r} is not from the catalogue")
        super().__init__(message)
        self.error = declared
        self.message = message
        self.details: dict[str, JsonValue] = dict(details or {})
        json.dumps(self.details)  # TypeError here, not in a transport, if it is not JSON
        self.headers = tuple(headers)

    @property
    def code(self) -> str:
        return self.error.code

    def __str__(self) -> str:
        return f"{self.error.code}: {self.message}"

    def __reduce__(self) -> tuple[object, ...]:
        # copy and pickle rebuild through __init__, whose arguments differ from ``self.args``.
        return (
            type(self),
            (self.error.code, self.message, self.details),
            {"headers": self.headers},
        )


def error_body(error: DomainError) -> dict[str, JsonValue]:
    """The JSON object an HTTP response (and later a WebSocket error frame) carries.

    ``{"code": ..., "message": ...}`` plus ``"details"`` when there are any: the shape clients and
    tests already read (``reply.json()["code"]``), so it stays flat.
    """
    body: dict[str, JsonValue] = {"code": error.error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    return body


# --- The catalogue. One line per code; group by area; keep each area's codes together. ---

REQUESTS = Area("requests", "Requests (any route)")
NOT_FOUND = REQUESTS.code("not_found", 404, G.NOT_FOUND, "No route or resource at this path.")
METHOD_NOT_ALLOWED = REQUESTS.code(
    "method_not_allowed", 405, G.UNIMPLEMENTED, "The route exists; the method does not (see Allow)."
)
INVALID_JSON = REQUESTS.code("invalid_json", 400, G.INVALID_ARGUMENT, "The body is not JSON.")
INVALID_PARAMETER = REQUESTS.code(
    "invalid_parameter", 400, G.INVALID_ARGUMENT, "A parameter or argument has an invalid value."
)
BODY_TOO_LARGE = REQUESTS.code(
    "body_too_large", 413, G.RESOURCE_EXHAUSTED, "The request body exceeds the route's limit."
)
RANGE_NOT_SATISFIABLE = REQUESTS.code(
    "range_not_satisfiable", 416, G.OUT_OF_RANGE, "The requested byte range is outside the object."
)
TOO_MANY_CONNECTIONS = REQUESTS.code(
    "too_many_connections", 503, G.RESOURCE_EXHAUSTED, "Connection cap reached; retry later."
)
SERVICE_UNAVAILABLE = REQUESTS.code(
    "service_unavailable", 503, G.UNAVAILABLE, "Not ready to answer yet; retry later."
)
INTERNAL_ERROR = REQUESTS.code(
    "internal_error", 500, G.INTERNAL, "An unexpected failure; the detail is in the server log."
)
REQUEST_TIMEOUT = REQUESTS.code(
    "request_timeout", 504, G.DEADLINE_EXCEEDED, "No answer within server.request_timeout_seconds."
)
CORS_ORIGIN_DENIED = REQUESTS.code(
    "cors_origin_denied", 403, G.PERMISSION_DENIED, "This origin is not in server.cors_origins."
)
INVALID_REQUEST = REQUESTS.code(
    "invalid_request", 422, G.INVALID_ARGUMENT, "The request is malformed (see details)."
)

ACCESS = Area("access", "Authentication, permissions and rate limits (any route)")
UNAUTHENTICATED = ACCESS.code(
    "authentication_required", 401, G.UNAUTHENTICATED, "No valid credentials were presented."
)
PERMISSION_DENIED = ACCESS.code(
    "permission_denied", 403, G.PERMISSION_DENIED, "The caller may not do this."
)
RATE_LIMITED = ACCESS.code(
    "rate_limited", 429, G.RESOURCE_EXHAUSTED, "Too many requests; retry after Retry-After."
)
DEPENDENCY_UNAVAILABLE = ACCESS.code(
    "dependency_unavailable",
    503,
    G.UNAVAILABLE,
    "A store this check needs (Redis) is unreachable, so it is refused rather than unchecked.",
)

LIVE = Area("live", "Live streams (HTTP-FLV, HLS, live admin)")
STREAM_NOT_FOUND = LIVE.code("stream_not_found", 404, G.NOT_FOUND, "No live stream with this id.")
STREAM_NOT_LIVE = LIVE.code(
    "stream_not_live", 503, G.UNAVAILABLE, "The stream exists but nobody is publishing it now."
)
SEGMENT_NOT_FOUND = LIVE.code(
    "segment_not_found", 404, G.NOT_FOUND, "The HLS segment was evicted or does not exist yet."
)
LIVE_TOKEN_REQUIRED = LIVE.code(
    "live_token_required", 401, G.UNAUTHENTICATED,
    "This room's live stream plays only with a viewer token (`?token=` from the room's API).",
)  # fmt: skip
LIVE_TOKEN_INVALID = LIVE.code(
    "live_token_invalid", 403, G.PERMISSION_DENIED,
    "The viewer token is not valid for this stream (tampered, or for another room).",
)  # fmt: skip
LIVE_TOKEN_EXPIRED = LIVE.code(
    "live_token_expired", 401, G.UNAUTHENTICATED,
    "The viewer token has expired; get fresh playback URLs from the room.",
)  # fmt: skip

PROXY = Area("proxy", "Media proxy (`/proxy/{token}`)")
PROXY_TOKEN_INVALID = PROXY.code(
    "proxy_token_invalid", 403, G.PERMISSION_DENIED, "Not a valid proxy link (or not for proxying)."
)
PROXY_TOKEN_EXPIRED = PROXY.code(
    "proxy_token_expired", 403, G.PERMISSION_DENIED, "The proxy link has expired."
)
UPSTREAM_NOT_FOUND = PROXY.code(
    "upstream_not_found", 404, G.NOT_FOUND, "The upstream has no such object (404 or 410)."
)
UPSTREAM_TIMEOUT = PROXY.code(
    "upstream_timeout", 504, G.DEADLINE_EXCEEDED, "The upstream did not answer in time."
)
UPSTREAM_ADDRESS_REFUSED = PROXY.code(
    "upstream_address_refused", 403, G.PERMISSION_DENIED, "The upstream address is not allowed."
)
UPSTREAM_BAD_PLAYLIST = PROXY.code(
    "upstream_bad_playlist", 502, G.UNAVAILABLE, "The upstream playlist is malformed or too large."
)
UPSTREAM_ERROR = PROXY.code(
    "upstream_error", 502, G.UNAVAILABLE, "The upstream request failed (any other reason)."
)

PROVIDERS = Area("providers", "Media providers (admin and proxy)")
PROVIDER_NOT_FOUND = PROVIDERS.code(
    "provider_not_found", 404, G.NOT_FOUND, "No provider instance with this id or name."
)
PROVIDER_NAME_TAKEN = PROVIDERS.code(
    "provider_name_taken", 409, G.ALREADY_EXISTS, "Another provider instance has this name."
)
UNKNOWN_PROVIDER_KIND = PROVIDERS.code(
    "unknown_provider_kind", 400, G.INVALID_ARGUMENT, "No provider kind with this name."
)
INVALID_PROVIDER_CONFIG = PROVIDERS.code(
    "invalid_provider_config",
    400,
    G.INVALID_ARGUMENT,
    "The provider config or credentials are invalid.",
)
PROVIDER_NOT_SUPPORTED = PROVIDERS.code(
    "provider_not_supported", 400, G.INVALID_ARGUMENT, "This provider kind cannot do that."
)
MEDIA_NOT_FOUND = PROVIDERS.code(
    "media_not_found", 404, G.NOT_FOUND, "The provider has no such media, subtitle or quality."
)
INVALID_MEDIA_REF = PROVIDERS.code(
    "invalid_media_ref", 400, G.INVALID_ARGUMENT, "The media reference or URL is malformed."
)
PROVIDER_UNAVAILABLE = PROVIDERS.code(
    "provider_unavailable", 502, G.UNAVAILABLE, "The provider's server failed or is unreachable."
)
PROVIDER_AUTH_FAILED = PROVIDERS.code(
    "provider_auth_failed", 502, G.UNAVAILABLE, "The provider's server refused our credentials."
)
CREDENTIALS_UNAVAILABLE = PROVIDERS.code(
    "credentials_unavailable",
    503,
    G.FAILED_PRECONDITION,
    "The key for stored credentials is missing.",
)
CREDENTIAL_KEY_CONFIGURED = PROVIDERS.code(
    "credential_key_configured",
    409,
    G.FAILED_PRECONDITION,
    "The key comes from config; rotate it there.",
)
CREDENTIAL_KEY_STORE_FAILED = PROVIDERS.code(
    "credential_key_store_failed", 503, G.UNAVAILABLE, "The new credential key could not be saved."
)

SETTINGS = Area("settings", "Runtime settings (admin CLI and REST)")
SETTING_NOT_FOUND = SETTINGS.code(
    "setting_not_found", 404, G.NOT_FOUND, "No runtime setting (or group) with this key."
)
INVALID_SETTING_VALUE = SETTINGS.code(
    "invalid_setting_value",
    400,
    G.INVALID_ARGUMENT,
    "The value breaks the setting's rule; the message names the key and the rule.",
)
SETTING_SECRET_UNAVAILABLE = SETTINGS.code(
    "setting_secret_unavailable",
    503,
    G.FAILED_PRECONDITION,
    "A stored secret cannot be decrypted with this server's credential keys.",
)

AUDIT = Area("audit", "Audit log (admin audit list, `GET /api/admin/audit`)")
AUDIT_CURSOR_INVALID = AUDIT.code(
    "audit_cursor_invalid",
    400,
    G.INVALID_ARGUMENT,
    "The page cursor was not issued by this server.",
)

IDENTITY = Area("identity", "Accounts, sign-in and sessions (`/api/auth`, `/api/user`)")
INVALID_CREDENTIALS = IDENTITY.code(
    "invalid_credentials", 401, G.UNAUTHENTICATED,
    "The username or password is wrong (the two are not told apart), or the login expired.",
)  # fmt: skip
TOKEN_EXPIRED = IDENTITY.code(
    "token_expired", 401, G.UNAUTHENTICATED, "The token is past its expiry; refresh or sign in."
)
TOKEN_REVOKED = IDENTITY.code(
    "token_revoked", 401, G.UNAUTHENTICATED,
    "The token's session was revoked (logout, or a refresh token was used twice).",
)  # fmt: skip
SIGNUP_DISABLED = IDENTITY.code(
    "signup_disabled", 403, G.PERMISSION_DENIED, "Password sign-up is turned off on this server."
)
USERNAME_TAKEN = IDENTITY.code(
    "username_taken", 409, G.ALREADY_EXISTS, "An account with this name already exists."
)
INVALID_USERNAME = IDENTITY.code(
    "invalid_username", 422, G.INVALID_ARGUMENT,
    "A username is 3 to 32 letters, digits or _ - . (after NFKC), in scripts written together.",
)  # fmt: skip
OPAQUE_MESSAGE_INVALID = IDENTITY.code(
    "opaque_message_invalid", 400, G.INVALID_ARGUMENT,
    "An OPAQUE message is not valid base64 or not a well-formed message of its kind.",
)  # fmt: skip
ACCOUNT_PENDING_REVIEW = IDENTITY.code(
    "account_pending_review", 403, G.PERMISSION_DENIED,
    "The account waits for an administrator's approval.",
)  # fmt: skip
ACCOUNT_BANNED = IDENTITY.code("account_banned", 403, G.PERMISSION_DENIED, "The account is banned.")
SETUP_TOKEN_INVALID = IDENTITY.code(
    "setup_token_invalid", 403, G.PERMISSION_DENIED,
    "The setup link is unknown or used, or an account exists already.",
)  # fmt: skip
USER_NOT_FOUND = IDENTITY.code(
    "user_not_found", 404, G.NOT_FOUND, "No account with this id or name."
)
ROLE_RULE = IDENTITY.code(
    "role_rule", 403, G.PERMISSION_DENIED,
    "Only root manages admins; admins cannot act on root or other admins; the last root stays.",
)  # fmt: skip
RESET_TOKEN_INVALID = IDENTITY.code(
    "reset_token_invalid", 403, G.PERMISSION_DENIED,
    "The password reset link is unknown, used, expired or superseded.",
)  # fmt: skip
REAUTHENTICATION_REQUIRED = IDENTITY.code(
    "reauthentication_required", 403, G.PERMISSION_DENIED,
    "Sign in again: this needs a sign-in from the last 5 minutes.",
)  # fmt: skip
SESSION_NOT_FOUND = IDENTITY.code(
    "session_not_found", 404, G.NOT_FOUND, "No live session of yours with this id."
)

# -- rooms (issue 12) ----------------------------------------------------------------------------
ROOMS = Area("rooms", "Rooms, members and playback (`/api/rooms`)")
ROOM_NOT_FOUND = ROOMS.code("room_not_found", 404, G.NOT_FOUND, "No room with this id.")
INVALID_ROOM = ROOMS.code(
    "invalid_room", 422, G.INVALID_ARGUMENT,
    "A room name is 1 to 100 characters and a description at most 500, without < or >.",
)  # fmt: skip
INVALID_ROOM_SETTINGS = ROOMS.code(
    "invalid_room_settings", 422, G.INVALID_ARGUMENT,
    "A room settings value or key is not valid; the message names it.",
)  # fmt: skip
ROOM_CREATION_DISABLED = ROOMS.code(
    "room_creation_disabled", 403, G.PERMISSION_DENIED, "Creating rooms is turned off."
)
ROOM_LIMIT_REACHED = ROOMS.code(
    "room_limit_reached", 409, G.RESOURCE_EXHAUSTED,
    "You own as many rooms as server.maxRoomsPerUser allows.",
)  # fmt: skip
ROOM_FULL = ROOMS.code(
    "room_full", 409, G.RESOURCE_EXHAUSTED, "The room has as many members as it allows."
)
ROOM_JOIN_CLOSED = ROOMS.code(
    "room_join_closed", 403, G.PERMISSION_DENIED,
    "The room does not let people join by themselves; ask a room manager to add you.",
)  # fmt: skip
ROOM_BANNED = ROOMS.code("room_banned", 403, G.PERMISSION_DENIED, "You are banned from this room.")
ROOM_KICK_COOLDOWN = ROOMS.code(
    "room_kick_cooldown", 403, G.PERMISSION_DENIED,
    "You were removed from this room and may not join again yet (details: until).",
)  # fmt: skip
ROOM_PASSWORD_REQUIRED = ROOMS.code(
    "room_password_required", 403, G.PERMISSION_DENIED,
    "The room has a password and it was missing or wrong.",
)  # fmt: skip
MEMBER_NOT_FOUND = ROOMS.code(
    "member_not_found", 404, G.NOT_FOUND, "No member of this room with this id."
)
CREATOR_MUST_TRANSFER = ROOMS.code(
    "creator_must_transfer", 409, G.FAILED_PRECONDITION,
    "The creator must transfer the room to another member before leaving.",
)  # fmt: skip
JOIN_REQUEST_NOT_FOUND = ROOMS.code(
    "join_request_not_found", 404, G.NOT_FOUND, "No pending join request from this user."
)
VERSION_CONFLICT = ROOMS.code(
    "version_conflict", 409, G.ABORTED,
    "The change was made against a state that has changed since (version or media); reload.",
)  # fmt: skip
INVALID_PLAYBACK_CHANGE = ROOMS.code(
    "invalid_playback_change", 422, G.FAILED_PRECONDITION,
    "A playback change that cannot apply: nothing selected, a live stream sought, a bad value.",
)  # fmt: skip
PLAYLIST_ITEM_NOT_FOUND = ROOMS.code(
    "playlist_item_not_found", 404, G.NOT_FOUND, "No such media or playlist in this room."
)
INVALID_MEDIA_SOURCE = ROOMS.code(
    "invalid_media_source", 422, G.INVALID_ARGUMENT,
    "A media source field is not valid; the message names it (items[i].source.url ...).",
)  # fmt: skip
DIRECT_PLAYBACK_REFUSED = ROOMS.code(
    "direct_playback_refused", 409, G.FAILED_PRECONDITION,
    "The media's proxy mode is direct_only but its source needs credentials: it plays only by proxy.",
)  # fmt: skip
ROOM_SUSPENDED = ROOMS.code(
    "room_suspended", 403, G.PERMISSION_DENIED,
    "A platform administrator suspended this room (details: reason).",
)  # fmt: skip
GUEST_NOT_ADMITTED = ROOMS.code(
    "guest_not_admitted", 403, G.PERMISSION_DENIED,
    "Guests may not enter this room (it is private, has a password, or guests are turned off).",
)  # fmt: skip

# -- chat and danmaku (issue 13) ---------------------------------------------------------------
CHAT = Area("chat", "Chat and danmaku (`/api/rooms/{room}/chat`, the channel's `chat`)")
CHAT_DISABLED = CHAT.code(
    "chat_disabled", 403, G.FAILED_PRECONDITION,
    "Chat is turned off in this room (room setting chatEnabled).",
)  # fmt: skip
INVALID_CHAT_MESSAGE = CHAT.code(
    "invalid_chat_message", 422, G.INVALID_ARGUMENT,
    "A message is 1 to 500 characters after cleanup; a danmaku needs a mode (scroll, top, bottom),"
    " a #rrggbb colour and media selected in the room.",
)  # fmt: skip
CHAT_MESSAGE_NOT_FOUND = CHAT.code(
    "chat_message_not_found", 404, G.NOT_FOUND, "No (undeleted) chat message with this id here."
)
CHAT_NOT_STORED = CHAT.code(
    "chat_not_stored", 503, G.UNAVAILABLE,
    "The message or its deletion could not be stored, so nobody was sent anything; retry.",
)  # fmt: skip

# -- the realtime room channel (issue 13) -------------------------------------------------------
CHANNEL = Area("channel", "The realtime room channel (`/ws/rooms/{room}`, `RoomService/Channel`)")
CHANNEL_USER_LIMIT = CHANNEL.code(
    "channel_user_limit_reached", 429, G.RESOURCE_EXHAUSTED,
    "You have as many channel connections open as realtime.max_connections_per_user allows.",
)  # fmt: skip
CHANNEL_ROOM_LIMIT = CHANNEL.code(
    "channel_room_limit_reached", 503, G.RESOURCE_EXHAUSTED,
    "The room has as many channel connections as realtime.max_connections_per_room allows.",
)  # fmt: skip
CHANNEL_NODE_LIMIT = CHANNEL.code(
    "channel_node_limit_reached", 503, G.RESOURCE_EXHAUSTED,
    "This server has as many channel connections as realtime.max_connections allows; retry later.",
)  # fmt: skip
CHANNEL_CHAT_IN_FLIGHT = CHANNEL.code(
    "chat_in_flight_limit_reached", 429, G.RESOURCE_EXHAUSTED,
    "This connection has 64 chat messages waiting for their commit; send more once they are"
    " answered.",
)  # fmt: skip

# -- Voice chat (issue 14) ---------------------------------------------------------------------
VOICE = Area("voice", "Voice chat (the room channel's `voice_*` messages, room ICE servers)")
VOICE_DISABLED = VOICE.code(
    "voice_disabled", 403, G.FAILED_PRECONDITION, "The room has voice chat turned off."
)
VOICE_FULL = VOICE.code(
    "voice_full", 409, G.RESOURCE_EXHAUSTED,
    "The room's voice chat has no free slot (details: maxParticipants).",
)  # fmt: skip
VOICE_NOT_JOINED = VOICE.code(
    "voice_not_joined", 409, G.FAILED_PRECONDITION,
    "This connection is not in the room's voice chat (send voice_join first).",
)  # fmt: skip
VOICE_ALREADY_JOINED = VOICE.code(
    "voice_already_joined", 409, G.ALREADY_EXISTS, "This connection is in the voice chat already."
)
VOICE_PEER_NOT_FOUND = VOICE.code(
    "voice_peer_not_found", 404, G.NOT_FOUND,
    "The target (`to`) is not another connection in the room's voice chat.",
)  # fmt: skip
VOICE_MESSAGE_TOO_LARGE = VOICE.code(
    "voice_message_too_large", 413, G.INVALID_ARGUMENT,
    "An SDP over 16 KiB or an ICE candidate over 1 KiB (details: field, limit).",
)  # fmt: skip

# -- OpenID Connect sign-in (issue 11) ---------------------------------------------------------
OIDC = Area("oidc", "Signing in with an OpenID Connect provider (`/api/auth/oidc`)")
OIDC_PROVIDER_NOT_FOUND = OIDC.code(
    "oidc_provider_not_found", 404, G.NOT_FOUND, "No enabled OpenID provider by this name."
)
OIDC_PROVIDER_UNAVAILABLE = OIDC.code(
    "oidc_provider_unavailable", 502, G.UNAVAILABLE,
    "The OpenID provider could not be reached or answered something unusable.",
)  # fmt: skip
OIDC_STATE_INVALID = OIDC.code(
    "oidc_state_invalid", 400, G.INVALID_ARGUMENT,
    "The sign-in's state (or exchange code) is unknown, used or expired: start again.",
)  # fmt: skip
OIDC_LOGIN_REFUSED = OIDC.code(
    "oidc_login_refused", 401, G.UNAUTHENTICATED,
    "The provider's answer failed a check (code, ID token signature, issuer, audience, expiry, nonce).",
)  # fmt: skip
OIDC_IDENTITY_TAKEN = OIDC.code(
    "oidc_identity_taken", 409, G.ALREADY_EXISTS, "This identity is linked to an account already."
)
OIDC_IDENTITY_NOT_FOUND = OIDC.code(
    "oidc_identity_not_found", 404, G.NOT_FOUND, "No linked identity of yours with this id."
)
OIDC_LAST_SIGN_IN = OIDC.code(
    "oidc_last_sign_in", 409, G.FAILED_PRECONDITION,
    "The account's only way to sign in cannot be removed (set a password first).",
)  # fmt: skip
