"""The user_identities repository against a real PostgreSQL: sign-up, sign-in, link, unlink."""

from __future__ import annotations

import pytest

from synctv.store.audit import AuditActor
from synctv.store.db import Database
from synctv.store.identities import IdentityStore, IdentityTaken, LastSignInMethod
from synctv.store.users import UserStore
from tests.support.audit import audit_rows, forbid

ISSUER = "https://id.example"
BY = AuditActor("system")
RECORD = bytes(192)


async def sign_up(store: IdentityStore, user_id: str, name: str, subject: str) -> None:
    made = await store.sign_up(
        user_id=user_id,
        username=name,
        username_key=name.lower(),
        role="user",
        status="active",
        provider="example",
        issuer=ISSUER,
        subject=subject,
        by=BY,
    )
    assert made is not None


async def test_first_login_creates_a_passwordless_account_and_the_next_finds_it(
    database: Database,
) -> None:
    store = IdentityStore(database)
    assert await store.sign_in(ISSUER, "sub-1") is None
    await sign_up(store, "u" * 16, "Alice", "sub-1")

    user = await store.sign_in(ISSUER, "sub-1")
    assert user is not None
    assert (user.id, user.username, user.opaque_record, user.banned) == (
        "u" * 16,
        "Alice",
        None,
        False,
    )
    # The same subject at another issuer is another person.
    assert await store.sign_in("https://other.example", "sub-1") is None
    [identity] = await store.list("u" * 16)
    assert (identity.provider, identity.issuer, identity.subject) == ("example", ISSUER, "sub-1")
    assert identity.last_used_at >= identity.created_at
    actions = [row["action"] for row in await audit_rows(database)]
    assert actions == ["user.registered", "identity.linked"]


async def test_a_taken_name_creates_nothing(database: Database) -> None:
    store = IdentityStore(database)
    await sign_up(store, "a" * 16, "Alice", "sub-1")
    taken = await store.sign_up(
        user_id="b" * 16,
        username="ALICE",
        username_key="alice",
        role="user",
        status="active",
        provider="example",
        issuer=ISSUER,
        subject="sub-2",
        by=BY,
    )
    assert taken is None
    assert await store.sign_in(ISSUER, "sub-2") is None


async def test_an_identity_signs_in_to_one_account_only(database: Database) -> None:
    store = IdentityStore(database)
    await sign_up(store, "a" * 16, "Alice", "sub-1")
    # A second first-login of the same subject (a race) rolls its new account back.
    with pytest.raises(IdentityTaken):
        await sign_up(store, "b" * 16, "Bob", "sub-1")
    assert await UserStore(database).by_id("b" * 16) is None
    # Linking it to another account is refused too.
    await UserStore(database).insert(
        user_id="c" * 16,
        username="Carol",
        username_key="carol",
        role="user",
        status="active",
        opaque_record=RECORD,
        by=BY,
    )
    with pytest.raises(IdentityTaken):
        await store.link("c" * 16, "example", ISSUER, "sub-1", BY)
    assert await store.list("c" * 16) == []


async def test_unlink_keeps_a_way_to_sign_in(database: Database) -> None:
    store = IdentityStore(database)
    await sign_up(store, "a" * 16, "Alice", "sub-1")
    [only] = await store.list("a" * 16)
    with pytest.raises(LastSignInMethod):
        await store.unlink("a" * 16, only.id, BY)
    assert await store.list("a" * 16) == [only]

    second = await store.link("a" * 16, "other", "https://other.example", "x", BY)
    # Someone else's identity id is not found, whatever it is.
    await sign_up(store, "b" * 16, "Bob", "sub-2")
    assert not await store.unlink("b" * 16, only.id, BY)
    assert await store.unlink("a" * 16, only.id, BY)
    assert await store.list("a" * 16) == [second]
    assert not await store.unlink("a" * 16, only.id, BY)
    with pytest.raises(LastSignInMethod):
        await store.unlink("a" * 16, second.id, BY)


async def test_an_account_with_a_password_may_unlink_its_only_identity(database: Database) -> None:
    await UserStore(database).insert(
        user_id="c" * 16,
        username="Carol",
        username_key="carol",
        role="user",
        status="active",
        opaque_record=RECORD,
        by=BY,
    )
    store = IdentityStore(database)
    linked = await store.link("c" * 16, "example", ISSUER, "sub-3", BY)
    assert await store.unlink("c" * 16, linked.id, BY)
    assert await store.sign_in(ISSUER, "sub-3") is None
    unlinked = [r for r in await audit_rows(database) if r["action"] == "identity.unlinked"]
    assert unlinked[0]["target_id"] == "c" * 16
    assert unlinked[0]["details"] == {"provider": "example", "identity": linked.id}


async def test_a_failed_audit_write_undoes_the_link(database: Database) -> None:
    store = IdentityStore(database)
    await forbid(database, "identity.linked")
    with pytest.raises(Exception, match="test_refuse"):
        await sign_up(store, "a" * 16, "Alice", "sub-1")
    assert await UserStore(database).by_id("a" * 16) is None
    assert await store.sign_in(ISSUER, "sub-1") is None
