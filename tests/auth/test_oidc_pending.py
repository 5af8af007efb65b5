"""Take-once OIDC login state and exchange codes in the (real, in-memory) short-lived store."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv import errors
from synctv.auth.oidc import PendingLogin
from synctv.auth.oidc_pending import (
    EXCHANGE_TTL_SECONDS,
    PENDING_TTL_SECONDS,
    issue_exchange,
    keep_pending,
    redeem_exchange,
    take_pending,
)
from synctv.errors import DomainError
from synctv.state import MemoryState

PENDING = PendingLogin(
    provider="example",
    nonce="n" * 43,
    code_verifier="v" * 43,
    redirect_uri="https://tv.example/api/auth/oidc/example/callback",
    return_to="/",
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused(exc: pytest.ExceptionInfo[DomainError]) -> bool:
    return exc.value.error is errors.OIDC_LOGIN_INVALID


async def test_a_login_state_is_taken_once() -> None:
    state = MemoryState(clock=Clock())
    token = await keep_pending(state, PENDING)
    assert len(token) == 43
    assert await take_pending(state, token) == PENDING
    with pytest.raises(DomainError) as again:
        await take_pending(state, token)
    assert refused(again)


async def test_a_link_keeps_its_user() -> None:
    state = MemoryState(clock=Clock())
    linking = dataclasses.replace(PENDING, link_user="u" * 16)
    assert (await take_pending(state, await keep_pending(state, linking))).link_user == "u" * 16


async def test_a_login_state_expires_after_ten_minutes() -> None:
    clock = Clock()
    state = MemoryState(clock=clock)
    kept = await keep_pending(state, PENDING)
    late = await keep_pending(state, PENDING)
    clock.now += PENDING_TTL_SECONDS - 1
    assert await take_pending(state, kept) == PENDING
    clock.now += 2
    with pytest.raises(DomainError) as expired:
        await take_pending(state, late)
    assert refused(expired)


async def test_an_exchange_code_is_redeemed_once_within_a_minute() -> None:
    clock = Clock()
    state = MemoryState(clock=clock)
    code = await issue_exchange(state, b"payload")
    stale = await issue_exchange(state, b"other")
    assert await redeem_exchange(state, code) == b"payload"
    with pytest.raises(DomainError):
        await redeem_exchange(state, code)
    clock.now += EXCHANGE_TTL_SECONDS + 1
    with pytest.raises(DomainError) as expired:
        await redeem_exchange(state, stale)
    assert refused(expired)


async def test_the_two_kinds_do_not_stand_in_for_each_other() -> None:
    state = MemoryState(clock=Clock())
    code = await issue_exchange(state, PENDING.to_json().encode())
    with pytest.raises(DomainError):
        await take_pending(state, code)
    token = await keep_pending(state, PENDING)
    with pytest.raises(DomainError):
        await redeem_exchange(state, token)


async def test_an_unreadable_stored_state_is_a_refusal() -> None:
    state = MemoryState(clock=Clock())
    await state.set("oidc:state:planted", b'{"p": 1}', 60)
    with pytest.raises(DomainError) as unreadable:
        await take_pending(state, "planted")
    assert refused(unreadable)


@given(st.text(max_size=300))
async def test_any_presented_token_is_refused_not_crashed(token: str) -> None:
    state = MemoryState(clock=Clock())
    with pytest.raises(DomainError) as caught:
        await take_pending(state, token)
    assert refused(caught)
