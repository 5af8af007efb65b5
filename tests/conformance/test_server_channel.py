"""The server side of docs/realtime.md, rule by rule, over a plain WebSocket: each test is one
rule of the document, checked against a running server with JSON written by hand (no
``synctv.client``), so that a client written from the document alone would work."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import WebSocketConnection

from synctv.api import room_session as room_channel
from synctv.realtime import hub as hub_module
from tests.support.channel import (
    Site,
    answer_and_event,
    channel,
    closed_with,
    hello,
    receive,
    receive_body,
    refused,
    room_with_media,
    send,
    silent,
    slow_channel,
)
from tests.support.cli import synctv

pytestmark = pytest.mark.slow

PLAYBACK_FIELDS = {
    "mediaId", "kind", "position", "speed", "playing", "version", "duration", "serverTime",
}  # fmt: skip


async def test_subprotocol_synctv_v1_is_negotiated(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room, site.owner.token, protocols=["x", "synctv.v1"]) as ws:
        assert ws.subprotocol == "synctv.v1"
        await hello(ws)
        assert "welcome" in await receive(ws)


async def test_without_the_subprotocol_invalid_request_4400(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room, site.owner.token, protocols=[]) as ws:
        assert await refused(ws) == ("invalid_request", 4400)


async def test_the_first_message_must_be_hello(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room, site.owner.token) as ws:
        await send(ws, {"clock": {"clientSent": 1.0}})
        assert await refused(ws) == ("invalid_request", 4400)


async def test_no_hello_within_10_seconds_is_closed_4400(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The document's 10 s is the server's constant; the wait itself is shrunk to 1 s here (in
    the server's thread) so the test does not sit for ten."""
    assert room_channel.HELLO_TIMEOUT_SECONDS == 10.0
    monkeypatch.setattr(room_channel, "HELLO_TIMEOUT_SECONDS", 1.0)
    room, _ = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room, site.owner.token) as ws:
        began = trio.current_time()
        error = await receive_body(ws, "error", timeout=5)
        waited = trio.current_time() - began
        assert error["code"] == "invalid_request"
        assert await closed_with(ws) == 4400
        assert 0.9 <= waited <= 3


async def test_a_connection_that_sends_nothing_for_300_seconds_is_closed_1001(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 s is the server's constant; shrunk to 1 s here. Anything the client sends (a report
    every 2 s in practice) keeps the connection."""
    assert room_channel.IDLE_SECONDS == 300.0
    monkeypatch.setattr(room_channel, "IDLE_SECONDS", 1.0)
    room, media = await room_with_media(site.base, site.owner, None)
    async with (
        channel(site.base, room, site.owner.token) as quiet,
        channel(site.base, room, site.owner.token) as talking,
    ):
        for ws in (quiet, talking):
            await hello(ws)
            await receive_body(ws, "welcome")
        began = trio.current_time()
        report = {"report": {"mediaId": media, "position": 1.0, "buffering": False, "drift": 0}}
        for _ in range(6):
            await send(talking, report)
            await trio.sleep(0.3)
        assert await closed_with(quiet, timeout=1) == 1001
        assert trio.current_time() - began >= 0.9
        await send(talking, {"clock": {"clientSent": 3.0}})
        assert (await receive_body(talking, "clockAck"))["clientSent"] == 3.0


async def test_welcome_snapshot_fields(site: Site) -> None:
    room, media = await room_with_media(site.base, site.owner, site.member)
    async with channel(site.base, room, site.member.token) as ws:
        await hello(ws)
        welcome = await receive_body(ws, "welcome")
    assert set(welcome) == {"room", "playback", "lastSeq", "connectionId"}
    assert welcome["room"]["room"]["id"] == room
    assert welcome["room"]["myRole"] == "member"
    assert isinstance(welcome["room"]["myPermissions"], list)
    playback = welcome["playback"]
    assert set(playback) >= PLAYBACK_FIELDS
    assert playback["mediaId"] == media
    assert playback["kind"] == "regular"
    assert playback["playing"] is True
    assert playback["speed"] == 1.0
    # 64-bit integers are JSON strings; defaults are written out.
    assert isinstance(welcome["lastSeq"], str)
    assert int(welcome["lastSeq"]) >= 4  # created, member joined, media added, playback
    assert isinstance(playback["version"], str)
    assert isinstance(playback["duration"], float | int)
    assert abs(playback["serverTime"] - time.time()) < 5
    assert welcome["connectionId"]


async def test_events_follow_the_snapshot_once_in_order(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, site.member)
    path = f"/api/rooms/{room}/playback"
    async with channel(site.base, room, site.member.token) as ws:
        await hello(ws)
        last = int((await receive_body(ws, "welcome"))["lastSeq"])
        for position in (10, 20, 30):
            await site.owner.ok(site.base, "PATCH", path, {"op": "seek", "position": position})
        for n, position in enumerate((10, 20, 30), start=1):
            event = await receive_body(ws, "event")
            assert set(event) == {"seq", "type", "payload", "actor", "at"}
            assert event["seq"] == str(last + n)
            assert event["type"] == "playback_changed"
            assert event["actor"] == site.owner.id
            assert event["payload"]["position"] == pytest.approx(position, abs=0.5)
            assert set(event["payload"]) >= PLAYBACK_FIELDS
        await silent(ws, 0.3)


async def test_resume_within_the_window_replays_without_welcome(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, site.member)
    async with channel(site.base, room, site.member.token) as ws:
        await hello(ws)
        seen = int((await receive_body(ws, "welcome"))["lastSeq"])
    await site.owner.ok(site.base, "PATCH", f"/api/rooms/{room}/playback", {"op": "pause"})
    await site.owner.ok(site.base, "PATCH", f"/api/rooms/{room}/settings", {"chatEnabled": False})
    async with channel(site.base, room, site.member.token) as ws:
        await hello(ws, resume_from=seen)
        first, second = await receive_body(ws, "event"), await receive_body(ws, "event")
        assert [first["seq"], second["seq"]] == [str(seen + 1), str(seen + 2)]
        assert [first["type"], second["type"]] == ["playback_changed", "settings_changed"]
        await silent(ws, 0.3)


@pytest.mark.parametrize("resume_from", [None, 0, 10_000], ids=["absent", "zero", "future"])
async def test_resume_without_a_usable_sequence_gets_a_snapshot(
    site: Site, resume_from: int | None
) -> None:
    room, _ = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room, site.owner.token) as ws:
        await hello(ws, resume_from)
        welcome = await receive_body(ws, "welcome")
        assert int(welcome["lastSeq"]) < 10_000
        await silent(ws, 0.2)


async def test_clock_ack_fields(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room, site.owner.token) as ws:
        await hello(ws)
        await receive_body(ws, "welcome")
        t0 = time.time()
        await send(ws, {"clock": {"clientSent": t0}})
        ack = await receive_body(ws, "clockAck")
        t3 = time.time()
    assert set(ack) == {"clientSent", "serverReceived", "serverSent"}
    assert ack["clientSent"] == t0  # echoed exactly
    assert t0 <= ack["serverReceived"] <= ack["serverSent"] <= t3  # one machine, one clock
    offset = ((ack["serverReceived"] - t0) + (ack["serverSent"] - t3)) / 2
    assert abs(offset) < 0.05


async def test_playback_command_answers_the_sender_and_reaches_everyone(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, site.member)
    async with (
        channel(site.base, room, site.owner.token) as owner,
        channel(site.base, room, site.member.token) as member,
    ):
        for ws in (owner, member):
            await hello(ws)
        version = (await receive_body(owner, "welcome"))["playback"]["version"]
        await receive_body(member, "welcome")
        await send(owner, {"opId": "p1", "playback": {"action": "pause", "version": version}})
        state, own_event = await answer_and_event(owner)
        assert state["opId"] == "p1"
        assert state["playing"] is False
        assert int(state["version"]) == int(version) + 1
        assert set(state) >= PLAYBACK_FIELDS
        for event in (own_event, await receive_body(member, "event")):
            assert event["type"] == "playback_changed"
            # The payload is the playback state, in the same shape (version a string).
            assert set(event["payload"]) == PLAYBACK_FIELDS
            assert event["payload"]["playing"] is False
            assert event["payload"]["version"] == state["version"]
            assert event["payload"]["mediaId"] == state["mediaId"]


@pytest.mark.parametrize(
    ("action", "fields", "check"),
    [
        ("seek", {"position": 30}, lambda s: s["position"] == pytest.approx(30, abs=0.5)),
        ("speed", {"speed": 2}, lambda s: s["speed"] == 2),
        ("play", {}, lambda s: s["playing"] is True),
        ("pause", {}, lambda s: s["playing"] is False),
    ],
    ids=["seek", "speed", "play", "pause"],
)
async def test_each_playback_action(
    site: Site, action: str, fields: dict[str, float], check: object
) -> None:
    room, _ = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room, site.owner.token) as ws:
        await hello(ws)
        await receive_body(ws, "welcome")
        await send(ws, {"opId": action, "playback": {"action": action, **fields}})
        state, _ = await answer_and_event(ws)
        assert state["opId"] == action
        assert check(state)  # type: ignore[operator]


async def test_start_next_previous_change_media(site: Site) -> None:
    room, first = await room_with_media(site.base, site.owner, None)
    items = {"items": [{"name": "b", "source": {"kind": "url", "url": "https://h.test/b"}}]}
    added = await site.owner.ok(site.base, "POST", f"/api/rooms/{room}/media", items)
    second = added["media"][0]["id"]
    async with channel(site.base, room, site.owner.token) as ws:
        await hello(ws)
        await receive_body(ws, "welcome")
        for op, action, fields, expected in (
            ("s", "start", {"mediaId": second}, second),
            ("p", "previous", {}, first),
            ("n", "next", {}, second),
        ):
            await send(ws, {"opId": op, "playback": {"action": action, **fields}})
            state, event = await answer_and_event(ws)
            assert (state["opId"], state["mediaId"]) == (op, expected)
            assert event["payload"]["mediaId"] == expected


async def test_seek_is_advanced_by_the_transit_time_at_most_5_seconds(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room, site.owner.token) as ws:
        await hello(ws)
        await receive_body(ws, "welcome")
        for sent_ago, advanced in ((1.0, 1.0), (30.0, 5.0)):
            seek = {"action": "seek", "position": 100, "clientSent": time.time() - sent_ago,
                    "clockOffset": 0.0}  # fmt: skip
            await send(ws, {"opId": "s", "playback": seek})
            state, _ = await answer_and_event(ws)
            assert state["position"] == pytest.approx(100 + advanced, abs=0.3)


async def test_another_version_is_a_version_conflict_and_nothing_is_broadcast(
    site: Site,
) -> None:
    room, _ = await room_with_media(site.base, site.owner, site.member)
    async with (
        channel(site.base, room, site.owner.token) as owner,
        channel(site.base, room, site.member.token) as member,
    ):
        for ws in (owner, member):
            await hello(ws)
        version = int((await receive_body(owner, "welcome"))["playback"]["version"])
        await receive_body(member, "welcome")
        stale = {"action": "seek", "position": 5, "version": str(version + 7)}
        await send(owner, {"opId": "v", "playback": stale})
        error = await receive_body(owner, "error")
        assert (error["code"], error["opId"]) == ("version_conflict", "v")
        await silent(member, 0.5)


async def test_another_expected_media_is_a_version_conflict(site: Site) -> None:
    room, media = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room, site.owner.token) as ws:
        await hello(ws)
        await receive_body(ws, "welcome")
        command = {"action": "pause", "expectedMediaId": "not-" + media}
        await send(ws, {"opId": "m", "playback": command})
        error = await receive_body(ws, "error")
        assert (error["code"], error["opId"]) == ("version_conflict", "m")
        await send(ws, {"opId": "m2", "playback": {**command, "expectedMediaId": media}})
        assert (await answer_and_event(ws))[0]["opId"] == "m2"


async def test_reports_make_presence(site: Site) -> None:
    room, media = await room_with_media(site.base, site.owner, site.member)
    presence_path = f"/api/rooms/{room}/presence"
    async with channel(site.base, room, site.member.token) as ws:
        await hello(ws)
        await receive_body(ws, "welcome")
        report = {"mediaId": media, "position": 3.0, "buffering": True, "drift": -0.25}
        await send(ws, {"report": report})
        with trio.fail_after(5):
            while True:
                presence = await site.owner.ok(site.base, "GET", presence_path)
                if presence["buffering"]:
                    break
                await trio.sleep(0.02)
        assert [p["userId"] for p in presence["online"]] == [site.member.id]
        assert presence["online"][0]["drift"] == pytest.approx(-0.25)
        assert presence["worstDrift"] == pytest.approx(0.25)
        assert presence["buffering"] == [site.member.id]
        refused_presence = await site.visitor.call(site.base, "GET", presence_path)
        assert refused_presence.json()["code"] == "permission_denied"
    with trio.fail_after(5):  # gone with its connection
        while True:
            if not (await site.owner.ok(site.base, "GET", presence_path))["online"]:
                break
            await trio.sleep(0.02)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (json.dumps({"shout": {}}), "invalid_request"),
        ("{not json", "invalid_request"),
        (json.dumps({}), "invalid_request"),
        (json.dumps({"clock": {}, "report": {}}), "invalid_request"),
        (json.dumps({"opId": "x" * 65, "clock": {}}), "invalid_request"),
        (json.dumps({"chat": {"text": " \u0007 "}}), "invalid_chat_message"),
        (b"\x00binary", "invalid_request"),
    ],
    ids=[
        "unknown-body",
        "not-json",
        "no-body",
        "two-bodies",
        "long-opid",
        "chat-empty-after-cleanup",
        "binary",
    ],
)
async def test_a_bad_message_gets_an_error_and_the_connection_stays(
    site: Site, frame: str | bytes, code: str
) -> None:
    room, _ = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room, site.owner.token) as ws:
        await hello(ws)
        await receive_body(ws, "welcome")
        await ws.send_message(frame)
        error = await receive_body(ws, "error")
        assert error["code"] == code
        assert error["message"]
        await send(ws, {"clock": {"clientSent": 1.5}})
        assert (await receive_body(ws, "clockAck"))["clientSent"] == 1.5


async def test_a_refused_command_echoes_its_op_id(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, site.member)
    async with channel(site.base, room, site.member.token) as ws:
        await hello(ws)
        await receive_body(ws, "welcome")
        await send(ws, {"opId": "mine-1", "playback": {"action": "pause"}})
        error = await receive_body(ws, "error")
        assert error == {
            "code": "permission_denied", "message": error["message"], "opId": "mine-1",
            "details": error["details"],
        }  # fmt: skip


async def test_close_4401_without_or_with_bad_credentials(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room) as ws:
        assert await refused(ws) == ("authentication_required", 4401)
    async with channel(site.base, room, "not-a-token") as ws:
        code, close = await refused(ws)
        assert close == 4401
        assert code in {"authentication_required", "token_expired", "token_revoked"}


async def test_close_4403_signed_in_but_not_a_member(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room, site.visitor.token) as ws:
        assert await refused(ws) == ("permission_denied", 4403)


async def test_close_4404_no_such_room_or_a_private_one(site: Site) -> None:
    async with channel(site.base, "no-such-room", site.member.token) as ws:
        assert await refused(ws) == ("room_not_found", 4404)
    body = {"name": "private", "isPublic": False}
    private = (await site.owner.ok(site.base, "POST", "/api/rooms", body))["room"]["id"]
    async with channel(site.base, private, site.member.token) as ws:
        assert await refused(ws) == ("room_not_found", 4404)


async def test_rate_limit_50_per_second_refuses_and_drops(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room, site.owner.token) as ws:
        await hello(ws)
        await receive_body(ws, "welcome")
        for n in range(100):
            await send(ws, {"clock": {"clientSent": float(n)}})
        answers = [await receive(ws) for _ in range(100)]
        await silent(ws, 0.3)  # exactly one answer per message
    acks = [a["clockAck"]["clientSent"] for a in answers if "clockAck" in a]
    limited = [a for a in answers if "error" in a]
    assert all(a["error"]["code"] == "rate_limited" for a in limited)
    assert len(acks) + len(limited) == 100
    assert 50 <= len(acks) < 100
    assert acks[:50] == [float(n) for n in range(50)]  # the burst of 50 is served in order


async def test_a_message_over_64_kib_is_closed_1009(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, None)
    async with channel(site.base, room, site.owner.token) as ws:
        await hello(ws)
        await receive_body(ws, "welcome")
        envelope = json.dumps({"report": {"mediaId": ""}})
        fits = json.dumps({"report": {"mediaId": "m" * (64 * 1024 - len(envelope))}})
        assert len(fits) == 64 * 1024
        await ws.send_message(fits)  # at the limit: taken (a report has no answer)
        await send(ws, {"clock": {"clientSent": 2.0}})
        assert (await receive_body(ws, "clockAck"))["clientSent"] == 2.0
        await ws.send_message(fits + " ")
        assert await closed_with(ws) == 1009


async def test_a_ticket_opens_once_for_its_room_only(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, site.member)
    other, _ = await room_with_media(site.base, site.owner, site.member)

    async def ticket(for_room: str) -> str:
        issued = await site.member.ok(site.base, "POST", "/api/tickets", {"roomId": for_room})
        assert issued["roomId"] == for_room
        return str(issued["ticket"])

    first = await ticket(room)
    async with channel(site.base, room, query=f"?ticket={first}") as ws:
        await hello(ws)
        assert (await receive_body(ws, "welcome"))["room"]["myRole"] == "member"
    async with channel(site.base, room, query=f"?ticket={first}") as ws:  # used already
        assert (await refused(ws))[1] == 4401
    async with channel(site.base, other, query=f"?ticket={await ticket(room)}") as ws:
        assert (await refused(ws))[1] == 4401
    # Tickets open WebSockets only: on REST one authenticates nobody.
    response = await site.member.call(site.base, "GET", f"/api/user?ticket={await ticket(room)}")
    assert response.status_code == 200  # the member's own Bearer header, not the ticket
    transport = httpx.AsyncHTTPTransport(local_address=site.member.address)
    async with httpx.AsyncClient(base_url=site.base, transport=transport) as anonymous:
        alone = await anonymous.get(f"/api/user?ticket={await ticket(room)}")
    assert alone.status_code == 401


async def test_speed_outside_a_quarter_to_four_is_refused(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, site.member)
    async with (
        channel(site.base, room, site.owner.token) as ws,
        channel(site.base, room, site.member.token) as other,
    ):
        for each in (ws, other):
            await hello(each)
            await receive_body(each, "welcome")
        for n, speed in enumerate((0.2, 4.5)):
            await send(ws, {"opId": f"x{n}", "playback": {"action": "speed", "speed": speed}})
            error = await receive_body(ws, "error")
            assert error["opId"] == f"x{n}"
        await silent(other, 0.3)
        for n, speed in enumerate((0.25, 4.0)):
            await send(ws, {"opId": f"ok{n}", "playback": {"action": "speed", "speed": speed}})
            state, _ = await answer_and_event(ws)
            assert (state["opId"], state["speed"]) == (f"ok{n}", speed)


async def test_a_connection_that_cannot_keep_up_is_terminated_4408(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that stops reading: once its queue stays full, a ``termination`` with reason
    ``too_slow`` follows what was queued, then close 4408. The queue bounds are shrunk for the
    test (4 frames full, 8 at most, instead of 256 and 2,048), so it takes seconds; what it checks
    is the order and the codes."""
    monkeypatch.setattr(hub_module, "QUEUE_FRAMES", 4)
    monkeypatch.setattr(hub_module, "MAX_QUEUED_FRAMES", 8)
    room, _ = await room_with_media(site.base, site.owner, site.member)
    async with slow_channel(site.base, room, site.member.token) as ws:
        await hello(ws)
        await receive_body(ws, "welcome")
        # Big events, until the kernel's buffers and then the connection's queue are full.
        text = "x" * 500
        async with trio.open_nursery() as nursery:
            for n in range(4):  # ~30 fill it (a 1 KiB receive buffer, 700-byte frames)

                async def writer(n: int = n) -> None:
                    for k in range(15):
                        body = {"description": f"{n}-{k}-{text}"[:500]}
                        await site.owner.ok(site.base, "PATCH", f"/api/rooms/{room}", body)

                nursery.start_soon(writer)
        bodies = []
        with trio.fail_after(20):
            while True:
                message = await receive(ws)
                bodies.append(next(iter(message)))
                if "termination" in message:
                    break
        assert message["termination"]["reason"] == "too_slow"
        assert set(bodies[:-1]) == {"event"}
        assert await closed_with(ws) == 4408


async def _in_room(ws: WebSocketConnection) -> None:
    await hello(ws)
    await receive_body(ws, "welcome")


async def _event_then_termination(ws: WebSocketConnection, event_type: str) -> dict[str, Any]:
    """Events until ``event_type`` (which must come), then the termination (returned), then
    nothing but the close."""
    with trio.fail_after(10):
        while (await receive_body(ws, "event"))["type"] != event_type:
            pass
    termination = await receive_body(ws, "termination")
    assert set(termination) == {"reason", "message"}
    assert termination["message"]
    return termination


async def _stays(ws: WebSocketConnection, n: float) -> None:
    """The connection is still served: a clock answered (events on the way are skipped)."""
    await send(ws, {"clock": {"clientSent": n}})
    with trio.fail_after(10):
        while "clockAck" not in (message := await receive(ws)):
            assert "termination" not in message, message
    assert message["clockAck"]["clientSent"] == n


async def test_a_kicked_member_gets_termination_kicked_then_4403(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, site.member)
    async with (
        channel(site.base, room, site.owner.token) as owner,
        channel(site.base, room, site.member.token) as member,
        channel(site.base, room, site.member.token) as member_too,
    ):
        for ws in (owner, member, member_too):
            await _in_room(ws)
        await site.owner.ok(site.base, "DELETE", f"/api/rooms/{room}/members/{site.member.id}", {})
        for ws in (member, member_too):  # every connection of theirs
            assert (await _event_then_termination(ws, "member_left"))["reason"] == "kicked"
            assert await closed_with(ws) == 4403
        await _stays(owner, 1.0)


async def test_a_banned_member_gets_termination_banned_then_4403(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, site.member)
    async with (
        channel(site.base, room, site.owner.token) as owner,
        channel(site.base, room, site.member.token) as member,
    ):
        for ws in (owner, member):
            await _in_room(ws)
        await site.owner.ok(site.base, "PUT", f"/api/rooms/{room}/bans/{site.member.id}", {})
        assert (await _event_then_termination(member, "member_left"))["reason"] == "banned"
        assert await closed_with(member) == 4403
        await _stays(owner, 2.0)
    async with channel(site.base, room, site.member.token) as again:
        assert (await refused(again))[1] in {4403, 4404}


async def test_a_deleted_room_ends_every_connection_room_deleted_4404(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, site.member)
    other, _ = await room_with_media(site.base, site.owner, site.member)
    async with (
        channel(site.base, room, site.owner.token) as owner,
        channel(site.base, room, site.member.token) as member,
        channel(site.base, other, site.member.token) as elsewhere,
    ):
        for ws in (owner, member, elsewhere):
            await _in_room(ws)
        await site.owner.ok(site.base, "DELETE", f"/api/rooms/{room}")
        for ws in (owner, member):
            termination = await _event_then_termination(ws, "room_deleted")
            assert termination["reason"] == "room_deleted"
            assert await closed_with(ws) == 4404
        await _stays(elsewhere, 3.0)  # another room's connection is not concerned


async def test_leaving_from_elsewhere_revokes_access_4403(site: Site) -> None:
    """The member leaves over REST (another device): their channel loses its access."""
    room, _ = await room_with_media(site.base, site.owner, site.member)
    async with (
        channel(site.base, room, site.owner.token) as owner,
        channel(site.base, room, site.member.token) as member,
    ):
        for ws in (owner, member):
            await _in_room(ws)
        await site.member.ok(site.base, "DELETE", f"/api/rooms/{room}/members/@me")
        termination = await _event_then_termination(member, "member_left")
        assert termination["reason"] == "access_revoked"
        assert await closed_with(member) == 4403
        await _stays(owner, 4.0)


async def test_a_permission_change_that_leaves_access_keeps_the_connection(site: Site) -> None:
    """member_updated makes the member's connections check again; a member who keeps a role
    keeps the channel (nothing is ended without a lost access)."""
    room, _ = await room_with_media(site.base, site.owner, site.member)
    async with channel(site.base, room, site.member.token) as member:
        await _in_room(member)
        body = {"role": "member", "added": [], "removed": ["send_chat_messages"]}
        await site.owner.ok(site.base, "PATCH", f"/api/rooms/{room}/members/{site.member.id}", body)
        while (await receive_body(member, "event"))["type"] != "member_updated":
            pass
        await trio.sleep(0.3)  # the re-check runs
        await _stays(member, 5.0)


async def test_a_suspended_room_revokes_access_4403(site: Site) -> None:
    room, _ = await room_with_media(site.base, site.owner, site.member)
    async with (
        channel(site.base, room, site.owner.token) as owner,
        channel(site.base, room, site.member.token) as member,
    ):
        for ws in (owner, member):
            await _in_room(ws)
        code, _, err = await synctv(site.data_dir, "admin", "room", "ban", room, "--reason", "x")
        assert code == 0, err
        for ws in (owner, member):  # neither is a platform administrator
            termination = await _event_then_termination(ws, "room_suspended")
            assert termination["reason"] == "access_revoked"
            assert await closed_with(ws) == 4403


async def test_with_permessage_deflate_every_message_arrives_whole_and_in_order(
    site: Site,
) -> None:
    """A client that negotiates ``permessage-deflate`` (browsers do) gets every message as one
    text frame, compressed or not (the room's events are sent uncompressed, RFC 7692 allows it;
    the connection's own answers may be compressed), in order. Written on wsproto directly: the
    suite's usual client does not offer the extension."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request, TextMessage
    from wsproto.extensions import PerMessageDeflate

    room, _ = await room_with_media(site.base, site.owner, site.member)
    url = httpx.URL(site.base)
    stream = await trio.open_tcp_stream(str(url.host), int(url.port or 80))
    client = WSConnection(ConnectionType.CLIENT)
    request = Request(
        host=f"{url.host}:{url.port}",
        target=f"/ws/rooms/{room}",
        subprotocols=["synctv.v1"],
        extensions=[PerMessageDeflate()],
        extra_headers=[(b"authorization", f"Bearer {site.member.token}".encode())],
    )
    await stream.send_all(client.send(request))
    pending: list[Any] = []
    text: list[str] = []

    async def next_event() -> Any:
        while not pending:
            data = await stream.receive_some(65536)
            assert data, "closed"
            client.receive_data(data)
            pending.extend(client.events())
        return pending.pop(0)

    async def next_message() -> dict[str, Any]:
        with trio.fail_after(10):
            while True:
                event = await next_event()
                assert isinstance(event, TextMessage), event
                text.append(event.data)
                if event.message_finished:
                    message: dict[str, Any] = json.loads("".join(text))
                    text.clear()
                    return message

    async def send_message(message: dict[str, Any]) -> None:
        await stream.send_all(client.send(TextMessage(data=json.dumps(message))))

    with trio.fail_after(10):
        accepted = await next_event()
    assert isinstance(accepted, AcceptConnection)
    assert any(isinstance(e, PerMessageDeflate) for e in accepted.extensions)
    await send_message({"hello": {}})
    last = int((await next_message())["welcome"]["lastSeq"])
    path = f"/api/rooms/{room}/playback"
    for position in (10, 20, 30):
        await site.owner.ok(site.base, "PATCH", path, {"op": "seek", "position": position})
        await send_message({"clock": {"clientSent": float(position)}})
    seqs: list[int] = []
    acks: list[float] = []
    while len(seqs) < 3 or len(acks) < 3:
        message = await next_message()
        if "event" in message:
            seqs.append(int(message["event"]["seq"]))
        else:
            acks.append(message["clockAck"]["clientSent"])
    assert seqs == [last + 1, last + 2, last + 3]
    assert acks == [10, 20, 30]
    await stream.aclose()
