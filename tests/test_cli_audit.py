"""`synctv admin audit list` parts that need no server: --since, the details column, the table."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.api.grpc._gen.synctv.admin.v1 import audit_pb2
from synctv.cli.audit import format_details, parse_since, render_table

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - timedelta(seconds=90)),
        ("30m", NOW - timedelta(minutes=30)),
        ("24h", NOW - timedelta(days=1)),
        ("7d", NOW - timedelta(days=7)),
        ("2W", NOW - timedelta(weeks=2)),
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12-01T18:30", datetime(2026, 12, 1, 18, 30, tzinfo=UTC)),
        ("2026-12-01T18:30+02:00", datetime(2026, 12, 1, 16, 30, tzinfo=UTC)),
    ],
)
def test_since_accepts_durations_and_utc_times(text: str, expected: datetime) -> None:
    assert parse_since(text, now=NOW) == expected


@given(st.text(max_size=40))
def test_since_refuses_anything_else_with_one_clear_error(text: str) -> None:
    try:
        moment = parse_since(text, now=NOW)
    except argparse.ArgumentTypeError as exc:
        message = str(exc)
    else:
        assert moment.tzinfo is not None
        return
    assert "neither a duration" in message or "too far" in message


def test_details_read_as_key_value_pairs() -> None:
    assert format_details({}) == ""
    assert format_details({"app": "live", "room_id": None, "title": "Friday night"}) == (
        'app=live room_id=null title="Friday night"'
    )
    assert format_details({"changed": ["name", "config"], "n": 3, "ok": True}) == (
        'changed=["name","config"] n=3 ok=true'
    )


def test_the_table_aligns_and_cuts_to_the_terminal() -> None:
    events = [
        audit_pb2.AuditEvent(
            occurred_at="2026-12-05T07:44:58.123456+00:00",
            actor="u_alice",
            actor_address="198.51.100.7",
            action="provider.removed",
            target_type="provider",
            target_id="3f2c",
            outcome="denied",
            details_json='{"reason":"x"}',
        ),
        audit_pb2.AuditEvent(
            occurred_at="2026-12-05T07:00:00+00:00",
            actor="system",
            action="audit.pruned",
            target_type="audit_log",
            outcome="success",
            details_json='{"deleted":5}',
        ),
    ]
    lines = render_table(events).splitlines()
    assert lines[0].split() == ["TIME", "(UTC)", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAILS"]
    assert lines[1].split() == [
        "2026-12-05",
        "07:44:58",
        "u_alice",
        "(198.51.100.7)",
        "provider.removed",
        "provider:3f2c",
        "DENIED",
        "reason=x",
    ]
    assert lines[0].index("ACTION") == lines[1].index("provider.removed")
    assert lines[2].index("audit_log") == lines[1].index("provider:3f2c")
    cut = render_table(events, width=40).splitlines()
    assert all(len(line) <= 40 for line in cut)
    assert cut[1].endswith("…")
