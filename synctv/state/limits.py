"""The declared rate limits (``ratelimit.*`` runtime settings) and the checks callers make.

:class:`LimitBook` holds the current rules, rebuilt when a setting changes
(:meth:`LimitBook.apply_setting`, subscribed to the settings registry by the app).
:class:`RateLimits` is what routes call: each ``check_*`` either returns or raises a
:class:`~synctv.errors.DomainError` the transports already map (``rate_limited`` 429 with
``Retry-After``; ``dependency_unavailable`` 503).

When the backend (Redis) cannot answer, what happens depends on what the limit protects
(docs/ratelimits.md): limits in front of credentials and account creation, tickets and chat
**fail closed** (refused with ``dependency_unavailable``: an unchecked password guesser or sign-up
flood is worse than a short outage, and those paths need the store anyway); the general REST API
limit **fails open** (the request goes through; a counter counts it and one log line says the
limit is off, one more when it is back), because refusing every read while Redis is away would
turn a Redis outage into a whole-site outage.

Account lock-out: after ``authFailuresBeforeLockout`` failed logins within
:data:`FAILURE_WINDOW_SECONDS`, the account is locked for the next duration of
``authLockoutMinutes`` (1, then 5, then 15 minutes, the last repeating); the escalation is
forgotten :data:`ESCALATION_MEMORY_SECONDS` after the first lock-out, and a successful login
clears it. Built from the state's atomic primitives (``incr_window``, ``set`` with a TTL).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from synctv import errors
from synctv.errors import DomainError
from synctv.metrics import RATE_LIMIT_FAIL_OPEN, RATE_LIMITED
from synctv.state.base import ShortLivedState, StateUnavailable
from synctv.state.ratelimit import RateDecision, RateLimitRule

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Rule names (keys in the store and metric labels) and the settings that size them.
AUTH_PER_ADDRESS = "auth_address"
REGISTRATION_PER_ADDRESS = "registration_address"
WS_TICKETS_PER_USER = "ws_ticket_user"
CHAT_MESSAGES_PER_USER = "chat_user"
API_PER_ADDRESS = "api_address"
GUEST_TOKENS_PER_ADDRESS = "guest_token_address"
STUN_PER_SOURCE = "stun_source"

# setting key -> (rule name, period in seconds); the setting's value is the limit per period.
RULE_SETTINGS: Mapping[str, tuple[str, float]] = {
    "ratelimit.authPerAddressPerMinute": (AUTH_PER_ADDRESS, 60.0),
    "ratelimit.registrationPerAddressPerHour": (REGISTRATION_PER_ADDRESS, 3600.0),
    "ratelimit.wsTicketsPerUserPerMinute": (WS_TICKETS_PER_USER, 60.0),
    "ratelimit.chatMessagesPerUserPerSecond": (CHAT_MESSAGES_PER_USER, 1.0),
    "ratelimit.apiPerAddressPerMinute": (API_PER_ADDRESS, 60.0),
    "ratelimit.guestTokensPerAddressPerHour": (GUEST_TOKENS_PER_ADDRESS, 3600.0),
    "ratelimit.stunPerSourcePerSecond": (STUN_PER_SOURCE, 1.0),
}
LOCKOUT_FAILURES_SETTING = "ratelimit.authFailuresBeforeLockout"
LOCKOUT_MINUTES_SETTING = "ratelimit.authLockoutMinutes"

# The settings' defaults (the settings registry declares the same values).
DEFAULTS: Mapping[str, object] = {
    "ratelimit.authPerAddressPerMinute": 5,
    "ratelimit.authFailuresBeforeLockout": 5,
    "ratelimit.authLockoutMinutes": [1, 5, 15],
    "ratelimit.registrationPerAddressPerHour": 3,
    "ratelimit.wsTicketsPerUserPerMinute": 30,
    "ratelimit.chatMessagesPerUserPerSecond": 10,
    "ratelimit.apiPerAddressPerMinute": 600,
    "ratelimit.guestTokensPerAddressPerHour": 30,
    "ratelimit.stunPerSourcePerSecond": 20.0,
}
# STUN lets a source send twice its per-second rate at once (ICE gathers several candidates).
STUN_BURST_FACTOR = 2.0

# Failed logins counted together towards a lock-out: within this window of the first one.
FAILURE_WINDOW_SECONDS = 15 * 60.0
# How long an account's lock-out level is remembered (from its first lock-out).
ESCALATION_MEMORY_SECONDS = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """Lock an account after ``failures`` failed logins, for ``minutes[level]`` minutes;
    ``failures`` 0 turns lock-out off."""

    failures: int
    minutes: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.failures < 0:
            raise ValueError(f"{LOCKOUT_FAILURES_SETTING} must be 0 (off) or more")
        if not self.minutes or not all(0 < m < math.inf for m in self.minutes):
            raise ValueError(f"{LOCKOUT_MINUTES_SETTING} must be a non-empty list of positives")

    def lock_seconds(self, level: int) -> float:
        """The lock-out for the ``level``-th lock (1-based); the last duration repeats."""
        return 60.0 * self.minutes[min(level, len(self.minutes)) - 1]


def rule_from_setting(key: str, value: object) -> RateLimitRule | None:
    """The rule a ``ratelimit.*`` per-period setting stands for (``None``: 0, the limit is off);
    ValueError for a bad value."""
    name, period = RULE_SETTINGS[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number, got {value!r}")
    if value == 0:
        return None
    burst = STUN_BURST_FACTOR * value if name == STUN_PER_SOURCE else None
    return RateLimitRule(name, float(value), period, None if burst is None else max(1.0, burst))


class LimitBook:
    """The current rules by name and the lock-out policy; replaced whole on a setting change,
    so a check in flight sees either the old rule or the new one."""

    def __init__(self, values: Mapping[str, object] = DEFAULTS) -> None:
        self._rules: dict[str, RateLimitRule | None] = {}
        self._lockout = LockoutPolicy(5, (1.0, 5.0, 15.0))
        merged = {**DEFAULTS, **values}
        for key, value in merged.items():
            self.apply_setting(key, value)

    def rule(self, name: str) -> RateLimitRule | None:
        """The current rule ``name``; ``None`` while its setting is 0 (the limit is off)."""
        return self._rules[name]

    @property
    def lockout(self) -> LockoutPolicy:
        return self._lockout

    def update(self, name: str, rule: RateLimitRule) -> None:
        """Replace the rule ``name`` (``rule.name`` must match: it labels metrics)."""
        if rule.name != name or name not in self._rules:
            raise ValueError(f"no rule {name!r} to replace with {rule.name!r}")
        self._rules[name] = rule

    def apply_setting(self, key: str, value: object) -> None:
        """Rebuild what ``ratelimit.<key>`` sizes; ValueError (nothing changed) for a bad value."""
        if key in RULE_SETTINGS:
            self._rules[RULE_SETTINGS[key][0]] = rule_from_setting(key, value)
        elif key == LOCKOUT_FAILURES_SETTING:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{key} must be an integer, got {value!r}")
            self._lockout = LockoutPolicy(value, self._lockout.minutes)
        elif key == LOCKOUT_MINUTES_SETTING:
            if not isinstance(value, Sequence) or isinstance(value, str | bytes):
                raise ValueError(f"{key} must be a list of minutes, got {value!r}")
            if any(isinstance(m, bool) or not isinstance(m, int | float) for m in value):
                raise ValueError(f"{key} must be a list of numbers, got {value!r}")
            self._lockout = LockoutPolicy(self._lockout.failures, tuple(float(m) for m in value))
        else:
            raise KeyError(f"{key} is not a rate-limit setting")


def _refusal(rule: RateLimitRule, decision: RateDecision, what: str) -> DomainError:
    RATE_LIMITED.labels(rule.name).inc()
    return DomainError(
        errors.RATE_LIMITED,
        f"too many {what}; retry in {decision.retry_after_header} s",
        {"retry_after_seconds": math.ceil(decision.retry_after_seconds) or 1},
        headers=[("retry-after", decision.retry_after_header)],
    )


class RateLimits:
    """The checks routes call, over one state backend (memory or Redis) and one book."""

    def __init__(
        self,
        state: ShortLivedState,
        book: LimitBook,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.book = book
        self._wall_clock = wall_clock
        # Rules now failing open because the store is away (logged once on each change).
        self._failing_open: set[str] = set()
        self._failing_closed = False

    # -- per-address and per-user limits ------------------------------------------------------

    async def check_api(self, address: str | None) -> None:
        """The general REST limit per resolved client address; fails OPEN."""
        if address is None:
            return
        rule = self.book.rule(API_PER_ADDRESS)
        if rule is None:
            return
        try:
            decision = await self.state.check_rate(rule, address_key(address))
        except StateUnavailable as exc:
            RATE_LIMIT_FAIL_OPEN.labels(rule.name).inc()
            if rule.name not in self._failing_open:
                self._failing_open.add(rule.name)
                log.warning("rate limit %s is not enforced (failing open): %s", rule.name, exc)
            return
        if rule.name in self._failing_open:
            self._failing_open.discard(rule.name)
            log.warning("rate limit %s is enforced again", rule.name)
        if not decision.allowed:
            raise _refusal(rule, decision, "requests")

    async def check_auth_attempt(self, address: str) -> None:
        """A login attempt from ``address`` (before the password is checked); fails closed."""
        await self._check_closed(AUTH_PER_ADDRESS, address_key(address), "login attempts")

    async def check_registration(self, address: str) -> None:
        """An account creation from ``address``; fails closed."""
        await self._check_closed(REGISTRATION_PER_ADDRESS, address_key(address), "registrations")

    async def check_guest_token(self, address: str) -> None:
        """A guest token minted for ``address``; fails closed (like account creation: a guest
        token is an identity, and a flood of them must not go unchecked)."""
        await self._check_closed(GUEST_TOKENS_PER_ADDRESS, address_key(address), "guest tokens")

    async def check_ws_ticket(self, user_id: str) -> None:
        """A WebSocket ticket issued to ``user_id``; fails closed (tickets live in the store)."""
        await self._check_closed(WS_TICKETS_PER_USER, user_id, "tickets")

    async def check_chat_message(self, user_id: str) -> None:
        """A chat message from ``user_id``; fails closed (chat fans out through the store)."""
        await self._check_closed(CHAT_MESSAGES_PER_USER, user_id, "messages")

    async def _check_closed(self, name: str, key: str, what: str) -> None:
        rule = self.book.rule(name)
        if rule is None:
            return
        decision = await self._closed(self.state.check_rate(rule, key))
        if not decision.allowed:
            raise _refusal(rule, decision, what)

    # -- account lock-out ----------------------------------------------------------------------

    async def check_account_lockout(self, account: str) -> None:
        """Refuse (429 with the time left) while ``account`` is locked; call before checking the
        password, so a locked account's guesses are neither checked nor counted. Fails closed."""
        until = await self._closed(self.state.get(_lock_key(account)))
        if until is None:
            return
        left = float(until) - self._wall_clock()
        decision = RateDecision(False, max(left, 0.0), 0)
        RATE_LIMITED.labels("auth_lockout").inc()
        raise DomainError(
            errors.RATE_LIMITED,
            f"too many failed logins: this account is locked for {decision.retry_after_header} s",
            {"retry_after_seconds": int(decision.retry_after_header)},
            headers=[("retry-after", decision.retry_after_header)],
        )

    async def record_auth_failure(self, account: str) -> float:
        """Count a failed login; returns the lock-out it started in seconds (0: none). Fails
        closed: if the failure cannot be counted, the caller refuses the login anyway."""
        policy = self.book.lockout
        if policy.failures == 0:
            return 0.0
        failures = await self._closed(
            self.state.incr_window(_failures_key(account), FAILURE_WINDOW_SECONDS)
        )
        if failures < policy.failures:
            return 0.0
        await self._closed(self.state.delete(_failures_key(account)))
        level = await self._closed(
            self.state.incr_window(_level_key(account), ESCALATION_MEMORY_SECONDS)
        )
        seconds = policy.lock_seconds(level)
        until = self._wall_clock() + seconds
        await self._closed(self.state.set(_lock_key(account), repr(until).encode(), seconds))
        log.info("account locked after failed logins", extra={"lock_seconds": seconds})
        return seconds

    async def clear_auth_failures(self, account: str) -> None:
        """A successful login: forget the failures and the escalation. Fails closed."""
        for key in (_failures_key(account), _level_key(account)):
            await self._closed(self.state.delete(key))

    async def _closed(self, operation: Awaitable[_T]) -> _T:
        try:
            result = await operation
        except StateUnavailable as exc:
            if not self._failing_closed:
                self._failing_closed = True
                log.warning("rate-limit store unavailable, refusing limited requests: %s", exc)
            raise DomainError(
                errors.DEPENDENCY_UNAVAILABLE,
                "the rate-limit store is unavailable; try again shortly",
            ) from None
        if self._failing_closed:
            self._failing_closed = False
            log.warning("rate-limit store available again")
        return result


@functools.lru_cache(maxsize=4096)
def address_key(address: str) -> str:
    """The key an address is limited under: IPv4 (and IPv4-mapped IPv6) per address, IPv6 per
    /64, since one host usually owns a whole /64 and could otherwise rotate through it for
    fresh budgets. Anything that is not an IP address (a Unix socket peer) is used as it is.
    Kept for the last few thousand addresses: parsing one costs more than the check itself."""
    try:
        parsed = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def _failures_key(account: str) -> str:
    return f"lockout:failures:{account}"


def _level_key(account: str) -> str:
    return f"lockout:level:{account}"


def _lock_key(account: str) -> str:
    return f"lockout:until:{account}"
