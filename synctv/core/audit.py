"""Reading the audit log, and keeping it to its retention.

:func:`list_events` is the one place both readers (the management gRPC behind ``synctv admin
audit list`` and ``GET /api/admin/audit``) go through, so both refuse the same input with the
same codes. :class:`AuditRetention` is the background task that deletes rows older than
``audit.retentionDays``, in short batches (see :meth:`synctv.store.audit.AuditLog.prune`), and
records what it deleted as one ``audit.pruned`` row by ``system``.

Resource handling: the retention task holds nothing between runs; each run is a few short
transactions. Error handling: a failed run raises (the supervisor logs it, counts it and starts
the task again with backoff); the next run deletes what this one left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import trio

from synctv import errors
from synctv.errors import DomainError
from synctv.store.audit import (
    SYSTEM_ACTOR,
    AuditFilter,
    AuditLog,
    AuditPage,
    InvalidAuditFilter,
    InvalidCursor,
)

log = logging.getLogger("synctv.audit")

# How often retention runs: rows are kept for days, so an hour late is nothing, and an idle
# server does one cheap indexed DELETE an hour.
RETENTION_INTERVAL_SECONDS = 3600.0


async def list_events(
    audit: AuditLog,
    *,
    since: datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> AuditPage:
    """One page, newest first; refusals are ``invalid_parameter`` / ``audit_cursor_invalid``."""
    try:
        where = AuditFilter(since=since, actor=actor, action=action, target=target)
        return await audit.list(where, cursor=cursor, limit=limit)
    except InvalidCursor as exc:
        raise DomainError(errors.AUDIT_CURSOR_INVALID, str(exc)) from None
    except InvalidAuditFilter as exc:
        raise DomainError(errors.INVALID_PARAMETER, str(exc)) from None


class AuditRetention:
    """Deletes rows older than ``retention_days()`` every ``interval`` seconds.

    ``retention_days`` is read at every run, so a change of the setting applies at the next run
    without a restart.
    """

    def __init__(
        self,
        audit: AuditLog,
        retention_days: Callable[[], int],
        *,
        interval: float = RETENTION_INTERVAL_SECONDS,
        batch_size: int | None = None,
    ) -> None:
        self._audit = audit
        self._retention_days = retention_days
        self._interval = interval
        self._batch_size = batch_size
        self.runs = 0

    async def run_once(self) -> int:
        """Prune now; returns how many rows were deleted."""
        days = self._retention_days()
        if self._batch_size is None:
            deleted = await self._audit.prune(days, by=SYSTEM_ACTOR)
        else:
            deleted = await self._audit.prune(days, batch_size=self._batch_size, by=SYSTEM_ACTOR)
        self.runs += 1
        if deleted:
            log.info("audit log: deleted %d events older than %d days", deleted, days)
        return deleted

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run at start, then every interval, until cancelled (a supervised :class:`Task`)."""
        task_status.started()
        while True:
            await self.run_once()
            await trio.sleep(self._interval)
