"""Reading audit rows in tests, and forcing an audit insert to fail."""

from __future__ import annotations

import json
from typing import Any

from synctv.store.db import Database


async def audit_rows(database: Database) -> list[dict[str, Any]]:
    rows = await database.fetch(
        "SELECT actor, actor_address, action, target_type, target_id, outcome, details::text"
        " AS details, request_id FROM audit_events ORDER BY id"
    )
    return [{**dict(r), "details": json.loads(r["details"])} for r in rows]


async def everything_as_text(database: Database) -> str:
    """Every audit row, every column, as text: what a secret must never appear in."""
    rows = await database.fetch("SELECT row_to_json(a)::text AS t FROM audit_events a")
    return "\n".join(r["t"] for r in rows)


async def forbid(database: Database, action: str) -> None:
    """Plant a CHECK that refuses new rows of ``action``: the forced audit failure."""
    await database.execute(
        "ALTER TABLE audit_events ADD CONSTRAINT test_refuse"
        f" CHECK (action <> '{action}') NOT VALID"
    )
