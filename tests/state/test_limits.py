"""The declared limits and the account lock-out, on memory (fake clock) and a real redis-server,
and what each does when Redis goes away (login and registration closed, the API open)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
import trio
import trio_asyncio

from synctv import errors
from synctv.errors import DomainError
from synctv.metrics import RATE_LIMIT_FAIL_OPEN
from synctv.state.base import ShortLivedState
from synctv.state.limits import (
    API_PER_ADDRESS,
    AUTH_PER_ADDRESS,
    DEFAULTS,
    GUEST_TOKENS_PER_ADDRESS,
    STUN_PER_SOURCE,
    LimitBook,
    RateLimits,
    address_key,
)
from synctv.state.memory import MemoryState
from synctv.state.ratelimit import RateLimitRule
from synctv.state.redis import open_redis_state
from tests.support.redis import RedisServer, redis_server


class FakeClock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    name: str
    state: ShortLivedState
    advance: Callable[[float], Awaitable[None]]
    # The wall clock lock-outs read; the fake one for memory, real time for Redis.
    wall: Callable[[], float]


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        clock = FakeClock()
        memory = MemoryState(clock)

        async def advance(seconds: float) -> None:
            clock.now += seconds

        yield Backend("memory", memory, advance, clock)
        await memory.aclose()
        return
    url: str = request.getfixturevalue("redis_url")
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(url, key_prefix=f"test:{uuid.uuid4().hex}:", timeout_seconds=3.0) as st,
    ):
        yield Backend("redis", st, trio.sleep, trio.current_time)


def _refusal(exc: pytest.ExceptionInfo[DomainError]) -> int:
    """The Retry-After the refusal carries (and that it is a rate_limited refusal)."""
    assert exc.value.error is errors.RATE_LIMITED
    headers = dict(exc.value.headers)
    assert headers["retry-after"].isdigit()
    assert exc.value.details["retry_after_seconds"] == int(headers["retry-after"])
    return int(headers["retry-after"])


async def test_guest_tokens_per_address_default_to_thirty_an_hour(backend: Backend) -> None:
    limits = RateLimits(backend.state, LimitBook(), wall_clock=backend.wall)
    for _ in range(30):
        await limits.check_guest_token("192.0.2.1")
    with pytest.raises(DomainError) as refused:
        await limits.check_guest_token("192.0.2.1")
    assert _refusal(refused) == 120  # one token back every 3600/30 s
    await limits.check_guest_token("192.0.2.2")  # another address has its own budget
    for n in range(1, 31):  # an IPv6 /64 shares one budget
        await limits.check_guest_token(f"2001:db8::{n:x}")
    with pytest.raises(DomainError):
        await limits.check_guest_token("2001:db8::ffff")


async def test_auth_attempts_per_address_default_to_five_a_minute(backend: Backend) -> None:
    limits = RateLimits(backend.state, LimitBook(), wall_clock=backend.wall)
    for _ in range(5):
        await limits.check_auth_attempt("192.0.2.1")
    with pytest.raises(DomainError) as refused:
        await limits.check_auth_attempt("192.0.2.1")
    assert _refusal(refused) == 12  # one attempt back every 60/5 s
    await limits.check_auth_attempt("192.0.2.2")  # another address has its own budget


async def test_every_declared_limit_refuses_past_its_budget(backend: Backend) -> None:
    book = LimitBook(
        {
            "ratelimit.registrationPerAddressPerHour": 1,
            "ratelimit.wsTicketsPerUserPerMinute": 1,
            "ratelimit.chatMessagesPerUserPerSecond": 1,
            "ratelimit.apiPerAddressPerMinute": 1,
            "ratelimit.guestTokensPerAddressPerHour": 1,
        }
    )
    limits = RateLimits(backend.state, book, wall_clock=backend.wall)
    checks = [
        (limits.check_registration, 3600),
        (limits.check_guest_token, 3600),
        (limits.check_ws_ticket, 60),
        (limits.check_chat_message, 1),
        (limits.check_api, 60),
    ]
    for check, period in checks:
        await check("who")
        with pytest.raises(DomainError) as refused:
            await check("who")
        assert _refusal(refused) == period


async def test_a_changed_setting_takes_effect_on_the_next_check(backend: Backend) -> None:
    book = LimitBook()
    limits = RateLimits(backend.state, book, wall_clock=backend.wall)
    book.apply_setting("ratelimit.authPerAddressPerMinute", 1)
    await limits.check_auth_attempt("a")
    with pytest.raises(DomainError):
        await limits.check_auth_attempt("a")
    book.update(AUTH_PER_ADDRESS, RateLimitRule(AUTH_PER_ADDRESS, 100, 60))
    await limits.check_auth_attempt("a")  # a changed rule starts every key afresh


async def test_lockout_escalates_and_a_success_clears_it(backend: Backend) -> None:
    # 0.3 s, 0.6 s, 1.2 s: real time on Redis stays short.
    book = LimitBook(
        {"ratelimit.authFailuresBeforeLockout": 2, "ratelimit.authLockoutMinutes": [0.005, 0.01]}
    )
    limits = RateLimits(backend.state, book, wall_clock=backend.wall)
    account = "user-1"
    await limits.check_account_lockout(account)
    assert await limits.record_auth_failure(account) == 0
    assert await limits.record_auth_failure(account) == pytest.approx(0.3)
    with pytest.raises(DomainError) as locked:
        await limits.check_account_lockout(account)
    assert _refusal(locked) == 1
    await backend.advance(0.35)
    await limits.check_account_lockout(account)  # unlocked
    assert await limits.record_auth_failure(account) == 0
    assert await limits.record_auth_failure(account) == pytest.approx(0.6)  # next step
    await backend.advance(0.35)
    with pytest.raises(DomainError):
        await limits.check_account_lockout(account)  # still locked: longer this time
    await backend.advance(0.3)
    await limits.check_account_lockout(account)
    await limits.record_auth_failure(account)
    assert await limits.record_auth_failure(account) == pytest.approx(0.6)  # the last repeats
    await backend.advance(0.65)
    await limits.clear_auth_failures(account)  # a successful login
    await limits.record_auth_failure(account)
    assert await limits.record_auth_failure(account) == pytest.approx(0.3)  # back to the first


async def test_default_lockout_is_one_then_five_then_fifteen_minutes() -> None:
    clock = FakeClock()
    state = MemoryState(clock)
    limits = RateLimits(state, LimitBook(), wall_clock=clock)
    for minutes in (1, 5, 15, 15):
        for _ in range(4):
            assert await limits.record_auth_failure("acct") == 0
        assert await limits.record_auth_failure("acct") == minutes * 60
        with pytest.raises(DomainError) as locked:
            await limits.check_account_lockout("acct")
        assert _refusal(locked) == minutes * 60
        clock.now += minutes * 60 - 1
        with pytest.raises(DomainError) as locked:
            await limits.check_account_lockout("acct")
        assert _refusal(locked) == 1
        clock.now += 1
        await limits.check_account_lockout("acct")


def test_the_book_holds_the_declared_defaults() -> None:
    book = LimitBook()
    assert set(DEFAULTS) == {
        "ratelimit.authPerAddressPerMinute",
        "ratelimit.authFailuresBeforeLockout",
        "ratelimit.authLockoutMinutes",
        "ratelimit.registrationPerAddressPerHour",
        "ratelimit.wsTicketsPerUserPerMinute",
        "ratelimit.chatMessagesPerUserPerSecond",
        "ratelimit.apiPerAddressPerMinute",
        "ratelimit.guestTokensPerAddressPerHour",
        "ratelimit.stunPerSourcePerSecond",
    }
    assert book.rule(API_PER_ADDRESS) == RateLimitRule(API_PER_ADDRESS, 600, 60)
    assert book.rule(GUEST_TOKENS_PER_ADDRESS) == RateLimitRule(GUEST_TOKENS_PER_ADDRESS, 30, 3600)
    assert book.rule(STUN_PER_SOURCE) == RateLimitRule(STUN_PER_SOURCE, 20, 1, 40)
    assert book.lockout.failures == 5
    assert book.lockout.minutes == (1, 5, 15)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ratelimit.apiPerAddressPerMinute", -1),
        ("ratelimit.apiPerAddressPerMinute", "600"),
        ("ratelimit.apiPerAddressPerMinute", True),
        ("ratelimit.authFailuresBeforeLockout", -1),
        ("ratelimit.authFailuresBeforeLockout", 2.5),
        ("ratelimit.authLockoutMinutes", []),
        ("ratelimit.authLockoutMinutes", [1, -5]),
        ("ratelimit.authLockoutMinutes", "1,5"),
    ],
)
def test_bad_settings_are_refused_and_change_nothing(key: str, value: object) -> None:
    book = LimitBook()
    before = (book.rule(API_PER_ADDRESS), book.lockout)
    with pytest.raises(ValueError, match=r"ratelimit\.|rule"):
        book.apply_setting(key, value)
    assert (book.rule(API_PER_ADDRESS), book.lockout) == before


async def test_zero_turns_a_limit_off() -> None:
    """The registry's rule for every ``ratelimit.*`` count: 0 turns the limit off."""
    book = LimitBook(
        {"ratelimit.apiPerAddressPerMinute": 0, "ratelimit.authFailuresBeforeLockout": 0}
    )
    assert book.rule(API_PER_ADDRESS) is None
    state = MemoryState()
    limits = RateLimits(state, book)
    for _ in range(1000):
        await limits.check_api("192.0.2.1")
    assert [await limits.record_auth_failure("ann") for _ in range(20)] == [0.0] * 20
    await limits.check_account_lockout("ann")  # never locked


def test_unknown_settings_and_mismatched_rules_are_refused() -> None:
    book = LimitBook()
    with pytest.raises(KeyError):
        book.apply_setting("ratelimit.nope", 1)
    with pytest.raises(ValueError, match="no rule"):
        book.update(API_PER_ADDRESS, RateLimitRule("other", 1, 1))


# --- Redis away ---------------------------------------------------------------------------------


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server this test alone stops."""
    with redis_server() as server:
        yield server


async def test_with_redis_stopped_login_and_registration_fail_closed_reads_fail_open(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="synctv.state.limits")
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(
            own_redis.url, key_prefix=f"test:{uuid.uuid4().hex}:", timeout_seconds=0.5
        ) as state,
    ):
        limits = RateLimits(state, LimitBook())
        await limits.check_auth_attempt("192.0.2.9")
        await limits.check_api("192.0.2.9")
        await trio.to_thread.run_sync(own_redis.stop)

        closed = [
            lambda: limits.check_auth_attempt("192.0.2.9"),
            lambda: limits.check_registration("192.0.2.9"),
            lambda: limits.check_guest_token("192.0.2.9"),
            lambda: limits.check_account_lockout("acct"),
            lambda: limits.record_auth_failure("acct"),
            lambda: limits.clear_auth_failures("acct"),
            lambda: limits.check_ws_ticket("u"),
            lambda: limits.check_chat_message("u"),
        ]
        for check in closed:
            with pytest.raises(DomainError) as refused:
                await check()
            assert refused.value.error is errors.DEPENDENCY_UNAVAILABLE
            assert refused.value.error.http_status == 503
            assert "127.0.0.1" not in refused.value.message  # the store's address stays inside

        fail_open = RATE_LIMIT_FAIL_OPEN.labels(API_PER_ADDRESS)
        before = fail_open._value.get()
        for _ in range(3):
            await limits.check_api("192.0.2.9")  # let through
        assert fail_open._value.get() == before + 3

    messages = [r.getMessage() for r in caplog.records]
    assert sum("failing open" in m for m in messages) == 1  # once on change, not per request
    assert sum("refusing limited requests" in m for m in messages) == 1


def test_rate_limit_errors_map_to_their_transport_statuses() -> None:
    assert (errors.RATE_LIMITED.http_status, errors.RATE_LIMITED.grpc_status) == (429, 8)
    assert errors.DEPENDENCY_UNAVAILABLE.http_status == 503
    assert errors.DEPENDENCY_UNAVAILABLE.grpc_status == 14


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9%eth0", "2001:db8:1:2::/64"),
        ("unix-peer", "unix-peer"),
    ],
)
def test_addresses_are_limited_per_host_and_ipv6_per_64(address: str, key: str) -> None:
    assert address_key(address) == key


async def test_rotating_through_an_ipv6_64_buys_no_fresh_budget() -> None:
    limits = RateLimits(MemoryState(FakeClock()), LimitBook())
    for n in range(5):
        await limits.check_auth_attempt(f"2001:db8::{n + 1}")
    with pytest.raises(DomainError):
        await limits.check_auth_attempt("2001:db8::ffff")
    await limits.check_auth_attempt("2001:db8:0:1::1")  # the next /64 is someone else
