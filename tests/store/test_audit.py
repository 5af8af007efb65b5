"""The audit log's read side and retention on real PostgreSQL: filters, newest-first cursor
pages (checked against a model with hypothesis), bounded pages, cursors, batched pruning."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import trio
import trio_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from synctv.store.audit import (
    CLI_ACTOR,
    MAX_PAGE_SIZE,
    SYSTEM_ACTOR,
    AuditActor,
    AuditEvent,
    AuditFilter,
    AuditLog,
    InvalidAuditFilter,
    InvalidCursor,
    UndeclaredAuditAction,
    decode_cursor,
    encode_cursor,
    write_audit,
)
from synctv.store.db import Database, open_database
from tests.support.postgres import RunningPostgres

T = TypeVar("T")

BASE = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ACTORS = ["cli", "system", "u_alice", "u_bob"]
ACTIONS = ["live.created", "live.deleted", "provider.added", "settings.changed", "live.kicked"]
TARGETS = [("live_stream", "s1"), ("live_stream", "s2"), ("provider", "s1"), ("", "")]


async def plant(db: Database, rows: list[tuple[Any, ...]]) -> None:
    """Insert rows with chosen times: (occurred_at, actor, action, target_type, target_id)."""
    await db.run(
        lambda conn: conn.executemany(
            "INSERT INTO audit_events (occurred_at, actor, action, target_type, target_id,"
            " outcome) VALUES ($1, $2, $3, $4, $5, 'success')",
            rows,
        )
    )


def dataset() -> list[tuple[Any, ...]]:
    """60 rows with many equal timestamps (the id breaks ties) over every filter value."""
    rows = []
    for i in range(60):
        target = TARGETS[i % len(TARGETS)]
        rows.append(
            (BASE + timedelta(minutes=i // 4), ACTORS[i % 4], ACTIONS[i % 5], target[0], target[1])
        )
    return rows


def expected_ids(rows: list[dict[str, Any]], where: AuditFilter) -> list[int]:
    """The model: the same filter and order, in Python."""

    def keep(row: dict[str, Any]) -> bool:
        if where.since is not None and row["occurred_at"] < where.since:
            return False
        if where.actor is not None and row["actor"] != where.actor:
            return False
        if where.action is not None:
            if "." in where.action and row["action"] != where.action:
                return False
            if "." not in where.action and not row["action"].startswith(where.action + "."):
                return False
        if where.target is not None:
            kind, sep, target_id = where.target.partition(":")
            if sep and (row["target_type"], row["target_id"]) != (kind, target_id):
                return False
            if not sep and row["target_id"] != where.target:
                return False
        return True

    ordered = sorted(rows, key=lambda r: (r["occurred_at"], r["id"]), reverse=True)
    return [r["id"] for r in ordered if keep(r)]


async def all_rows(db: Database) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetch("SELECT * FROM audit_events")]


async def test_write_and_read_back_one_event(database: Database) -> None:
    audit = AuditLog(database)
    by = AuditActor("u_alice", address="198.51.100.7", request_id="r-123")
    await audit.record(
        AuditEvent(by, "live.kicked", "live_stream", "abc", "failed", {"reason": "not_live"})
    )
    page = await audit.list(AuditFilter())
    assert page.next_cursor is None
    [record] = page.records
    assert (record.actor, record.actor_address, record.request_id) == (
        "u_alice",
        "198.51.100.7",
        "r-123",
    )
    assert (record.action, record.target_type, record.target_id, record.outcome) == (
        "live.kicked",
        "live_stream",
        "abc",
        "failed",
    )
    assert record.details == {"reason": "not_live"}
    assert record.occurred_at.tzinfo is not None


async def test_an_undeclared_action_is_refused_and_its_transaction_rolls_back(
    database: Database,
) -> None:
    async def change_then_audit(conn: Any) -> None:
        await conn.execute(
            "INSERT INTO audit_events (actor, action, outcome) VALUES ('cli', 'live.created',"
            " 'success')"
        )
        await write_audit(conn, AuditEvent(CLI_ACTOR, "live.exploded"))

    with pytest.raises(UndeclaredAuditAction):
        await database.run(change_then_audit)
    assert await database.fetchval("SELECT count(*) FROM audit_events") == 0


async def test_filters_and_newest_first(database: Database) -> None:
    await plant(database, dataset())
    audit = AuditLog(database)
    rows = await all_rows(database)
    for where in (
        AuditFilter(actor="u_bob"),
        AuditFilter(action="live"),  # an area: every live.*
        AuditFilter(action="live.kicked"),
        AuditFilter(target="s1"),  # the id, whatever its type
        AuditFilter(target="provider:s1"),
        AuditFilter(since=BASE + timedelta(minutes=10)),
        AuditFilter(actor="cli", action="live", target="live_stream:s1"),
        AuditFilter(action="nothing_like_this"),
    ):
        page = await audit.list(where, limit=MAX_PAGE_SIZE)
        assert [r.id for r in page.records] == expected_ids(rows, where), where
    # "live" as an area must not match "livestream.x"; LIKE wildcards in a filter are literal.
    assert (await audit.list(AuditFilter(action="li_e"))).records == []
    assert (await audit.list(AuditFilter(action="%"))).records == []


async def test_pages_are_bounded_and_a_cursor_continues_where_the_last_page_ended(
    database: Database,
) -> None:
    await plant(database, [(BASE, "cli", "live.created", "", "")] * (MAX_PAGE_SIZE + 20))
    audit = AuditLog(database)
    first = await audit.list(AuditFilter(), limit=10_000)
    assert len(first.records) == MAX_PAGE_SIZE
    assert first.next_cursor is not None
    rest = await audit.list(AuditFilter(), cursor=first.next_cursor, limit=10_000)
    assert len(rest.records) == 20
    assert rest.next_cursor is None
    ids = [r.id for r in first.records + rest.records]
    assert ids == sorted(ids, reverse=True)  # same timestamp throughout: id decides
    assert len(set(ids)) == MAX_PAGE_SIZE + 20
    assert len((await audit.list(AuditFilter(), limit=0)).records) == 1  # at least one
    assert len((await audit.list(AuditFilter())).records) == 50  # the default


def test_paging_through_any_filter_yields_the_model_exactly_once(
    postgres: RunningPostgres, migrated_template: str
) -> None:
    """Hypothesis drives filters and page sizes; each example pages to the end over a fixed
    dataset and must see exactly the model's rows, in the model's order. (The examples run in
    their own trio loops: pytest-trio's async fixtures do not span hypothesis examples.)"""
    name = f"t_{uuid.uuid4().hex[:16]}"

    async def in_database(work: Callable[[Database], Awaitable[T]], dsn: str) -> T:
        async with trio_asyncio.open_loop(), open_database(dsn, min_size=1, max_size=1) as db:
            return await work(db)

    async def create(db: Database) -> list[dict[str, Any]]:
        await db.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
        return []

    async def fill(db: Database) -> list[dict[str, Any]]:
        await plant(db, dataset())
        return await all_rows(db)

    dsn = postgres.database_dsn(name)
    trio.run(in_database, create, postgres.dsn)
    try:
        rows = trio.run(in_database, fill, dsn)

        @settings(max_examples=60)
        @given(
            actor=st.none() | st.sampled_from(ACTORS),
            action=st.none() | st.sampled_from([*ACTIONS, "live", "provider", "audit"]),
            target=st.none()
            | st.sampled_from(["s1", "s2", "live_stream:s1", "provider:s1", "x:y"]),
            since_minutes=st.none() | st.integers(0, 16),
            page=st.integers(1, 25),
        )
        def pages_match_the_model(
            actor: str | None,
            action: str | None,
            target: str | None,
            since_minutes: int | None,
            page: int,
        ) -> None:
            since = None if since_minutes is None else BASE + timedelta(minutes=since_minutes)
            where = AuditFilter(since=since, actor=actor, action=action, target=target)

            async def walk(db: Database) -> list[int]:
                audit = AuditLog(db)
                seen: list[int] = []
                cursor = None
                for _ in range(100):
                    result = await audit.list(where, cursor=cursor, limit=page)
                    assert len(result.records) <= page
                    seen += [r.id for r in result.records]
                    cursor = result.next_cursor
                    if cursor is None:
                        return seen
                    assert len(result.records) == page  # only a full page says "more"
                raise AssertionError("paging did not end")

            assert trio.run(in_database, walk, dsn) == expected_ids(rows, where)

        pages_match_the_model()
    finally:

        async def drop(db: Database) -> list[dict[str, Any]]:
            await db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            return []

        trio.run(in_database, drop, postgres.dsn)


def test_cursor_round_trip_and_refusals() -> None:
    moment = datetime(2026, 12, 5, 7, 40, 12, 123456, tzinfo=UTC)
    assert decode_cursor(encode_cursor(moment, 42)) == (moment, 42)
    for bad in ("", "nope", "MTIz", encode_cursor(moment, 42)[:-3] + "!!!", "A" * 200):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad)


@given(st.text(max_size=80))
def test_any_text_is_a_cursor_or_invalid_cursor(text: str) -> None:
    try:
        moment, row_id = decode_cursor(text)
    except InvalidCursor:
        return
    assert row_id >= 1
    assert moment.tzinfo is not None


def test_filter_values_are_bounded() -> None:
    with pytest.raises(InvalidAuditFilter):
        AuditFilter(actor="")
    with pytest.raises(InvalidAuditFilter):
        AuditFilter(target="x" * 257)
    with pytest.raises(InvalidAuditFilter):
        AuditFilter(since=datetime(2026, 1, 1))  # no time zone


async def test_prune_deletes_old_rows_in_batches_and_records_it_once(database: Database) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    recent = datetime.now(UTC) - timedelta(days=10)
    await plant(database, [(old, "cli", "live.created", "live_stream", f"o{i}") for i in range(23)])
    await plant(
        database, [(recent, "cli", "live.created", "live_stream", f"n{i}") for i in range(3)]
    )
    audit = AuditLog(database)

    assert await audit.prune(365, batch_size=5, by=SYSTEM_ACTOR) == 23
    rows = await all_rows(database)
    assert sorted(r["target_id"] for r in rows if r["action"] == "live.created") == [
        "n0",
        "n1",
        "n2",
    ]
    [pruned] = [r for r in rows if r["action"] == "audit.pruned"]
    assert pruned["actor"] == "system"
    assert json.loads(pruned["details"]) == {"deleted": 23, "retention_days": 365}

    assert await audit.prune(365, batch_size=5, by=SYSTEM_ACTOR) == 0  # nothing old: no row
    assert len(await all_rows(database)) == len(rows)
    assert await audit.prune(5, batch_size=100, by=SYSTEM_ACTOR) == 3  # a shorter retention
    with pytest.raises(ValueError, match="at least 1"):
        await audit.prune(0, by=SYSTEM_ACTOR)


async def test_prune_exactly_a_batch_still_records_it(database: Database) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    await plant(database, [(old, "cli", "live.created", "", "")] * 10)
    assert await AuditLog(database).prune(365, batch_size=5, by=SYSTEM_ACTOR) == 10
    details = await database.fetchval(
        "SELECT details::text FROM audit_events WHERE action = 'audit.pruned'"
    )
    assert json.loads(details)["deleted"] == 10


async def test_prune_fails_closed_when_its_row_cannot_be_written(database: Database) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    await plant(database, [(old, "cli", "live.created", "", "")] * 3)
    await database.execute(
        "ALTER TABLE audit_events ADD CONSTRAINT test_no_prune CHECK (action <> 'audit.pruned')"
    )
    with pytest.raises(Exception, match="test_no_prune"):
        await AuditLog(database).prune(365, by=SYSTEM_ACTOR)
    assert await database.fetchval("SELECT count(*) FROM audit_events") == 3
