"""Audit retention as the server runs it: a supervised task that prunes at start and then every
interval, survives its own crashes, and reads the retention at every run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio

from synctv import metrics
from synctv.core.audit import AuditRetention, list_events
from synctv.errors import DomainError
from synctv.store.audit import AuditFilter, AuditLog
from synctv.store.db import Database
from synctv.supervision import restarting


async def plant_old(database: Database, count: int, days: int) -> None:
    await database.execute(
        "INSERT INTO audit_events (occurred_at, actor, action, outcome)"
        " SELECT now() - make_interval(days => $2), 'cli', 'live.created', 'success'"
        " FROM generate_series(1, $1)",
        count,
        days,
    )


async def count(database: Database, action: str) -> int:
    return int(
        await database.fetchval("SELECT count(*) FROM audit_events WHERE action = $1", action)
    )


async def test_retention_runs_at_start_then_every_interval(database: Database) -> None:
    await plant_old(database, 12, days=400)
    await plant_old(database, 2, days=30)
    retention = AuditRetention(AuditLog(database), lambda: 365, interval=0.05, batch_size=5)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(restarting, "audit_retention", retention.run)
            while retention.runs < 1:  # noqa: ASYNC110
                await trio.sleep(0.01)
            assert await count(database, "live.created") == 2
            await plant_old(database, 3, days=366)  # aged out later: the next run takes them
            while await count(database, "live.created") > 2:  # noqa: ASYNC110
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    page = await AuditLog(database).list(AuditFilter(action="audit.pruned"))
    assert [(r.actor, r.details) for r in reversed(page.records)] == [
        ("system", {"deleted": 12, "retention_days": 365}),
        ("system", {"deleted": 3, "retention_days": 365}),
    ]
    assert retention.runs >= 2


async def test_a_crashing_run_is_restarted_and_the_retention_is_read_each_run(
    database: Database,
) -> None:
    days = iter([365, "boom", 20])

    def retention_days() -> int:
        value = next(days, 20)
        if not isinstance(value, int):
            raise RuntimeError("settings unreadable")
        return value

    await plant_old(database, 4, days=30)
    crashes = metrics.TASK_CRASHES.labels("audit_retention")
    before = crashes._value.get()
    retention = AuditRetention(AuditLog(database), retention_days, interval=0.01)
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            await nursery.start(restarting, "audit_retention", retention.run)
            # 365 days: nothing to prune; the second run crashes; after the restart 20 days.
            while await count(database, "live.created") > 0:  # noqa: ASYNC110
                await trio.sleep(0.02)
            nursery.cancel_scope.cancel()
    assert crashes._value.get() == before + 1
    assert await count(database, "audit.pruned") == 1


async def test_list_events_refuses_with_catalogue_codes(database: Database) -> None:
    audit = AuditLog(database)
    with pytest.raises(DomainError) as cursor:
        await list_events(audit, cursor="not-one")
    assert cursor.value.code == "audit_cursor_invalid"
    with pytest.raises(DomainError) as actor:
        await list_events(audit, actor="x" * 300)
    assert actor.value.code == "invalid_parameter"
    with pytest.raises(DomainError):
        await list_events(audit, since=datetime(2026, 1, 1))  # no zone
    page = await list_events(audit, since=datetime.now(UTC) - timedelta(days=1))
    assert page.records == []
