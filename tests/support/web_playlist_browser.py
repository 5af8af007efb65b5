"""The people of the playlist and sync browser test (tests/e2e/test_web_playlist_browser.py), in
Chromium driven by playwright: run as ``python -m tests.support.web_playlist_browser BASE MEDIA``
(``MEDIA`` + ``.mp4`` / ``.srt``: a film and its subtitles on a local origin); prints what it saw
as one JSON line.

A child process for the reason given in tests/support/web_browser.py (playwright's asyncio loop);
this module imports nothing from ``synctv``. Screenshots go to ``$SYNCTV_SCREENSHOTS``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from tests.support.web_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    SCREENSHOTS,
    STEP_TIMEOUT_MS,
    shot,
)

SAMPLE_SECONDS = 30.0
SAMPLE_EVERY_MS = 200
SETTLE_MS = 3000
# One call with the page's session token (the client keeps it in localStorage).
FETCH = """async ([method, path, body]) => {
  const session = JSON.parse(localStorage.getItem('synctv.session'));
  const response = await fetch(path, {method, headers: {authorization: `Bearer ${session.accessToken}`,
    'content-type': 'application/json'}, body: body === null ? undefined : JSON.stringify(body)});
  return {status: response.status, body: await response.text()};
}"""
# The room's channel with a fresh ticket: how it ends (a close code) or "welcome".
CHANNEL = """async ([room, ticket]) => new Promise((resolve) => {
  const url = `ws://${location.host}/ws/rooms/${room}?ticket=${encodeURIComponent(ticket)}`;
  const socket = new WebSocket(url, 'synctv.v1');
  socket.onopen = () => socket.send(JSON.stringify({hello: {resumeFrom: '0'}}));
  socket.onmessage = (m) => { if (JSON.parse(m.data).welcome) resolve('welcome'); };
  socket.onclose = (c) => resolve(c.code);
})"""
FOCUSED = "document.activeElement?.getAttribute('aria-label')"
NOW = "() => [document.querySelector('video').currentTime, Date.now() / 1000]"
ORDER = "() => [...document.querySelectorAll('.playlist li .name')].map((e) => e.textContent)"


def console(seen: dict[str, Any], name: str, message: Any) -> None:
    """An error in the console fails the test, but for the refusals the test itself asks for:
    a failed load of one of the private room's or its stream's URLs, matched by URL (Chromium
    may report a failed load after the request has answered, so a time window would race)."""
    if message.type != "error":
        return
    url = (message.location or {}).get("url", "")
    refused = message.text.startswith("Failed to load resource") and any(
        part in url for part in seen.get("refused_urls", ())
    )
    if not refused:
        seen["console_errors"].append(f"{name}: {message.text} ({url})")


def person(browser: Any, base: str, name: str, seen: dict[str, Any]) -> tuple[Any, Any]:
    """A new browser context whose person signs up in the page (OPAQUE there)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.on("console", lambda m: console(seen, name, m))
    page.on("pageerror", lambda e: seen["console_errors"].append(f"{name}: {e}"))
    page.on("dialog", lambda d: d.accept("Extras" if d.type == "prompt" else None))
    page.goto(f"{base}/signup")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Discover")).to_be_visible()
    return context, page


def api(page: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    answer = page.evaluate(FETCH, [method, path, body])
    text = answer["body"]
    return answer["status"], json.loads(text) if text.startswith("{") else text


def add(page: Any, url: str, title: str) -> None:
    page.get_by_label("Media URL").fill(url)
    page.get_by_label("Title (optional)").fill(title)
    page.get_by_role("button", name="Add to playlist").click()
    page.locator(".playlist li .name", has_text=title).wait_for()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def drive(base: str, media: str) -> dict[str, Any]:
    from playwright.sync_api import expect, sync_playwright

    seen: dict[str, Any] = {"console_errors": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            owner_context, owner = person(browser, base, "owner", seen)
            friend_context, friend = person(browser, base, "friend", seen)

            # The owner's room: the film through this server's proxy, with SRT subtitles.
            owner.get_by_label("Room name").fill("Sync test")
            owner.get_by_role("button", name="Create").click()
            expect(owner.get_by_role("heading", name="Sync test")).to_be_visible()
            expect(owner.get_by_label("Connection")).to_have_text("open")
            room_url = owner.url
            room = room_url.rsplit("/", 1)[-1]
            owner.get_by_label("Media URL").fill(f"{media}.mp4")
            owner.get_by_label("Title (optional)").fill("Pattern")
            owner.get_by_text("Delivery, headers and subtitles").click()
            owner.get_by_label("Delivery").select_option("only")
            owner.get_by_role("button", name="Add header").click()
            owner.get_by_label("Header 1", exact=True).fill("X-Test")
            owner.get_by_label("Value 1", exact=True).fill("yes")
            owner.get_by_role("button", name="Add subtitle").click()
            owner.get_by_label("Subtitle 1", exact=True).fill("English")
            owner.get_by_label("URL 1", exact=True).fill(f"{media}.srt")
            shot(owner, "30-playlist-add-form")
            owner.get_by_role("button", name="Add to playlist").click()
            owner.locator(".playlist li .name", has_text="Pattern").wait_for()
            add(owner, f"{media}.mp4", "Second")
            add(owner, f"{media}.mp4", "Third")
            _, listed = api(owner, "GET", f"/api/rooms/{room}/media")
            seen["stored"] = {m["name"]: (m["proxyMode"], m["source"]) for m in listed["media"]}

            friend.goto(room_url)
            friend.get_by_role("button", name="Join room").click()
            expect(friend.get_by_role("heading", name="Sync test")).to_be_visible()
            expect(friend.get_by_label("Connection")).to_have_text("open")

            # Play, pause, seek, a speed change, play again.
            owner.get_by_role("button", name="Play Pattern").click()
            expect(owner.get_by_role("button", name="Pause")).to_be_visible()
            for page in (owner, friend):
                page.wait_for_function(
                    "() => (document.querySelector('video')?.currentTime ?? 0) > 1"
                )
            seen["sources"] = [
                p.evaluate("() => document.querySelector('video').currentSrc")
                for p in (owner, friend)
            ]
            owner.get_by_role("button", name="Pause").click()
            friend.wait_for_function("() => document.querySelector('video').paused")
            owner.get_by_label("Position").fill("5")
            friend.wait_for_function(
                "() => Math.abs(document.querySelector('video').currentTime - 5) < 0.2"
            )
            owner.get_by_label("Speed").select_option("1.25")
            expect(friend.get_by_label("Speed")).to_have_value("1.25")
            owner.get_by_role("button", name="Play", exact=True).click()
            friend.wait_for_function("() => !document.querySelector('video').paused")
            owner.wait_for_timeout(SETTLE_MS)

            # Both pages against the server clock (this machine's: Date.now() in the pages).
            _, playback = api(owner, "GET", f"/api/rooms/{room}/playback")
            state = playback["state"]
            seen["state"] = state
            apart: dict[str, list[float]] = {"owner": [], "friend": []}
            between: list[float] = []
            end = time.monotonic() + SAMPLE_SECONDS
            while time.monotonic() < end:
                at = {}
                for name, page in (("owner", owner), ("friend", friend)):
                    position, now = page.evaluate(NOW)
                    room_at = state["position"] + (now - state["serverTime"]) * state["speed"]
                    apart[name].append(position - room_at)
                    at[name] = position - now * state["speed"]
                between.append(at["owner"] - at["friend"])
                owner.wait_for_timeout(SAMPLE_EVERY_MS)
            seen["sources_after"] = [
                p.evaluate("() => document.querySelector('video').currentSrc")
                for p in (owner, friend)
            ]
            seen["samples"] = len(between)
            seen["p95"] = {n: p95([abs(d) for d in v]) for n, v in apart.items()}
            seen["p95_between"] = p95([abs(d) for d in between])
            seen["max"] = {n: max(abs(d) for d in v) for n, v in apart.items()}
            seen["tracks"] = friend.evaluate(
                "() => [...document.querySelector('video').textTracks].map((t) =>"
                " [t.label, t.mode, t.cues ? t.cues.length : -1,"
                " t.activeCues && t.activeCues.length ? t.activeCues[0].text : ''])"
            )

            # The playlist by keyboard: Tab from an item's play button to its move down, Enter.
            owner.get_by_role("button", name="Play Second", exact=True).focus()
            for _ in range(6):
                owner.keyboard.press("Tab")
                label = owner.evaluate(f"() => {FOCUSED}")
                if label == "Move Second down":
                    break
            seen["keyboard_focus"] = label
            owner.keyboard.press("Enter")
            expect(friend.locator(".playlist li .name")).to_have_text(
                ["Pattern", "Third", "Second"]
            )
            # At the end its down button is disabled: the focus is on its up button, Enter.
            expect(owner.locator(".playlist li .name")).to_have_text(["Pattern", "Third", "Second"])
            try:
                owner.wait_for_function(f"() => {FOCUSED} === 'Move Second up'", timeout=3000)
            finally:
                seen["focus_after_move"] = owner.evaluate(f"() => {FOCUSED}")
            owner.keyboard.press("Enter")
            expect(friend.locator(".playlist li .name")).to_have_text(
                ["Pattern", "Second", "Third"]
            )
            # Dragging: Third onto the upper half of Second.
            third = owner.locator(".playlist li", has_text="Third")
            third.drag_to(
                owner.locator(".playlist li", has_text="Second"), target_position={"x": 20, "y": 2}
            )
            expect(friend.locator(".playlist li .name")).to_have_text(
                ["Pattern", "Third", "Second"]
            )
            # Play next, a folder with an item in it, remove.
            owner.get_by_role("button", name="Third: play next").click()
            expect(friend.locator(".playlist li .name")).to_have_text(
                ["Pattern", "Third", "Second"]
            )
            owner.get_by_role("button", name="New folder").click()
            expect(friend.locator(".playlist details.folder summary")).to_contain_text("Extras")
            owner.get_by_label("Add to").select_option(label="Extras")
            add(owner, f"{media}.mp4", "Bonus")
            expect(friend.locator(".playlist details.folder li .name")).to_have_text(["Bonus"])
            owner.get_by_role("button", name="Remove Second").click()
            expect(friend.locator(".playlist li .name")).to_have_text(["Pattern", "Third", "Bonus"])
            seen["friend_can_remove"] = friend.get_by_role("button", name="Remove Third").count()
            seen["order"] = friend.evaluate(ORDER)
            shot(owner, "31-playlist-owner")
            friend.set_viewport_size({"width": 390, "height": 844})
            friend.wait_for_timeout(500)
            shot(friend, "32-playlist-phone")
            owner.set_viewport_size({"width": 390, "height": 844})
            owner.wait_for_timeout(300)
            shot(owner, "34-playlist-owner-phone")
            owner.set_viewport_size({"width": 1280, "height": 860})

            # A private room with a live stream: a non-member can open neither.
            owner.get_by_role("link", name="SyncTV").click()
            owner.get_by_label("Room name").fill("Secret")
            owner.get_by_label("Public (listed in discovery)").uncheck()
            owner.get_by_role("button", name="Create").click()
            expect(owner.get_by_role("heading", name="Secret")).to_be_visible()
            secret = owner.url.rsplit("/", 1)[-1]
            status, live = api(owner, "POST", f"/api/rooms/{secret}/live", {"title": "on air"})
            seen["live_created"] = status
            # The room's own URLs and its stream's (matched as substrings of the failed URL).
            seen["refused_urls"] = [f"/{secret}", live["flvUrl"].split("?", 1)[0]]
            friend.goto(f"{base}/rooms/{secret}")
            expect(friend.get_by_role("heading", name="Cannot open this room")).to_be_visible()
            seen["private_page"] = friend.locator("main").inner_text()
            shot(friend, "33-private-room-phone")
            seen["non_member"] = {
                path: api(friend, "GET", path)[0]
                for path in (
                    f"/api/rooms/{secret}",
                    f"/api/rooms/{secret}/live",
                    f"/api/rooms/{secret}/playback",
                    f"/api/rooms/{secret}/media",
                )
            }
            status, ticket = api(friend, "POST", "/api/tickets", {"roomId": secret})
            seen["non_member_ticket"] = status
            if status == 200:
                seen["non_member_channel"] = friend.evaluate(CHANNEL, [secret, ticket["ticket"]])
            flv = live["flvUrl"].split("?", 1)[0]
            seen["non_member_flv"] = friend.evaluate("async (u) => (await fetch(u)).status", flv)
            seen["owner_flv_has_token"] = "token=" in live["flvUrl"]

            # Clearing the playlist (clear_media): gone for both, playback stops.
            for page in (owner, friend):
                page.goto(room_url)
                expect(page.get_by_label("Connection")).to_have_text("open")
                # The player has its source: a clear racing the page's own first requests for
                # the current item would (rightly) answer them 404, a console error here.
                page.wait_for_function("() => document.querySelector('video')?.readyState >= 1")
            owner.get_by_role("button", name="Clear").click()
            expect(friend.locator(".playlist")).to_contain_text("The playlist is empty.")
            friend_context.close()
            owner_context.close()
        finally:
            browser.close()
    return seen


if __name__ == "__main__":
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(json.dumps(drive(*sys.argv[1:3])))
