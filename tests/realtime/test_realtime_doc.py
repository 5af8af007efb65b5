"""docs/realtime.md says what the server does: every event type the server writes is in its
table (and nothing else is), the close codes are the code's, the correction parameters are
the reference implementation's."""

from __future__ import annotations

import re
from pathlib import Path

from synctv.api import room_session as room_channel
from synctv.config import RealtimeConfig
from synctv.realtime import hub, limits, sync

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "realtime.md").read_text()


def written_event_types() -> set[str]:
    """The literal types passed to append_event anywhere in the server."""
    found: set[str] = set()
    for path in (ROOT / "synctv").rglob("*.py"):
        text = path.read_text()
        found.update(re.findall(r'append_event\(\s*conn,\s*room_id,\s*"([a-z_]+)"', text))
        found.update(re.findall(r'event_type="([a-z_]+)"', text))
        # insert_event(conn, room_id, seq, "<type>", ...): a sequence taken by the caller.
        found.update(re.findall(r'insert_event\(\s*conn,\s*room_id,\s*seq,\s*"([a-z_]+)"', text))
        # RoomStore.update(room_id, changes, "<type>", actor)
        found.update(re.findall(r'_store\.update\(\s*room_id,.*?"([a-z_]+)",\s*caller', text, re.S))
    # Types built from an action name: room.suspended / room.restored.
    found.update({"room_suspended", "room_restored"})
    return found


def documented_event_types() -> set[str]:
    table = DOC.split("Event types and payloads")[1].split("## Playback")[0]
    return set(re.findall(r"`([a-z]+(?:_[a-z]+)+)`", table.split("| type | payload |")[1]))


def test_every_event_type_is_documented_and_only_those() -> None:
    written = written_event_types()
    documented = documented_event_types()
    assert "playback_changed" in written
    assert written <= documented, written - documented
    # Payload field names in backticks are camelCase, so only types have underscores.
    assert documented <= written, documented - written


def test_close_codes_and_limits() -> None:
    for code in (
        room_channel.CLOSE_UNAUTHENTICATED,
        room_channel.CLOSE_FORBIDDEN,
        room_channel.CLOSE_NO_ROOM,
        room_channel.CLOSE_BAD_MESSAGE,
        room_channel.CLOSE_TOO_MANY,
        hub.CLOSE_TOO_SLOW,
    ):
        assert f"| {code} |" in DOC
    assert f"{int(limits.MESSAGES_PER_SECOND)} per second" in DOC
    assert f"{int(limits.IDLE_SECONDS)} s" in DOC
    assert (
        f"| queued frames per connection | {hub.QUEUE_FRAMES}; full for {int(hub.SLOW_DEADLINE_SECONDS)} s"
        in DOC
    )


def test_correction_parameters_are_the_reference_implementations() -> None:
    assert f"Keep the last {sync.CLOCK_WINDOW} samples" in DOC
    assert f"every {int(sync.CLOCK_REFRESH_SECONDS)} s" in DOC
    assert f"`abs(drift) < {sync.DEADBAND_SECONDS:.3f}`" in DOC
    assert f"`abs(drift) >= {sync.SEEK_THRESHOLD_SECONDS}`" in DOC
    assert f"`abs(drift) > {sync.PAUSED_TOLERANCE_SECONDS}`" in DOC
    assert (
        f"drift / {sync.CATCH_UP_SECONDS}, -{sync.MAX_RATE_CHANGE}, {sync.MAX_RATE_CHANGE}" in DOC
    )


def test_live_in_step_parameters_are_the_reference_implementations() -> None:
    from synctv.api import live_clock
    from synctv.livestream import ingest_clock
    from synctv.media import mpegts

    section = " ".join(DOC.split("### Live in step")[1].split("### Wait for everyone")[0].split())
    assert live_clock.INTERVAL_SECONDS == 1
    assert "**every second**" in section
    offset = mpegts.TIMESTAMP_OFFSET_MS / 1000
    assert f"`(mediaTime + {offset:g}) × 90000`" in section
    assert f"subtracts {offset:g} s from the PTS" in section
    assert f"the last {int(ingest_clock.WINDOW_SECONDS)} s: network" in section
    assert f"keeps the worst of the last {int(sync.LATENCY_WINDOW_SECONDS)} s" in section
    assert f"adds {sync.LATENCY_MARGIN_SECONDS} s" in section
    assert f"{int(sync.LIVE_FLOOR_SECONDS)} s for HTTP-FLV and RTMP" in section
    assert f"{sync.HLS_FLOOR_SEGMENTS} segment durations for HLS" in section
    assert f"in the last {int(live_clock.REPORT_FRESH_SECONDS)} s by the room's" in section
    assert f"at least {int(sync.LIVE_FLOOR_SECONDS)} s." in section
    assert f"the same seek beyond {sync.SEEK_THRESHOLD_SECONDS:g} s" in section


def test_the_grpc_status_table_is_the_codes() -> None:
    from synctv.api.grpc.room_channel import STATUS_FOR_CLOSE

    for code, status in STATUS_FOR_CLOSE.items():
        label = f"{code} (idle)" if code == 1001 else str(code)
        assert f"| {label} | `{status.name}` |" in DOC


def test_the_connection_caps_are_the_configs_defaults() -> None:
    caps = RealtimeConfig()
    for key, value in (
        ("max_connections_per_user", caps.max_connections_per_user),
        ("max_connections_per_room", caps.max_connections_per_room),
        ("max_connections", caps.max_connections),
    ):
        assert f"`realtime.{key}` ({value:,})" in DOC, key
    for cap in ("user", "room", "node"):
        code = f"channel_{cap}_limit_reached"
        assert room_channel.CLOSE_FOR[code] == room_channel.CLOSE_TOO_MANY
        assert f"`error` `{code}`, close {room_channel.CLOSE_TOO_MANY}" in DOC


def test_each_termination_reason_has_its_close_code_and_status() -> None:
    from synctv.api.grpc.room_channel import STATUS_FOR_CLOSE

    table = DOC.split("## Termination")[1].split("| reason |")[1].split("\n\n")[0]
    rows = {row.split("|")[1].strip(" `"): row.split("|") for row in table.splitlines()[2:]}
    assert set(rows) == {"kicked", "banned", "room_deleted", "access_revoked", "too_slow"}
    closes = {
        "kicked": room_channel.CLOSE_FORBIDDEN,
        "banned": room_channel.CLOSE_FORBIDDEN,
        "room_deleted": room_channel.CLOSE_NO_ROOM,
        "access_revoked": room_channel.CLOSE_FORBIDDEN,
        "too_slow": hub.CLOSE_TOO_SLOW,
    }
    for reason, code in closes.items():
        close, status = rows[reason][3].strip(), rows[reason][4].strip()
        assert close.startswith(str(code)), reason
        assert status.startswith(f"`{STATUS_FOR_CLOSE[code].name}`"), reason
    assert f"every {int(room_channel.SESSION_CHECK_SECONDS)} s whether it was revoked" in DOC
