"""The people of the browser client's test (tests/e2e/test_web_client_browser.py), in Chromium
driven by playwright: run as ``python -m tests.support.web_browser BASE SETUP_LINK MEDIA_URL``,
prints what it saw as one JSON line.

A child process of its own because playwright's sync API runs an asyncio loop, which the
server's trio-asyncio loop policy (installed when ``synctv.app`` is imported) does not allow:
this module imports nothing from ``synctv``. Screenshots go to ``$SYNCTV_SCREENSHOTS``
(default ``/tmp/synctv-web-screenshots``).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = Path(os.environ.get("SYNCTV_SCREENSHOTS", "/tmp/synctv-web-screenshots"))
PASSWORD = "a long and private passphrase"
STEP_TIMEOUT_MS = 20_000


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def position_now(page: Any) -> float:
    """The player's position extrapolated to the wall clock's zero (speed 1, playing): two pages
    sampled one after the other compare at one instant. ``Date.now()`` is the one clock every
    page reads alike; each page's ``performance.timeOrigin`` is skewed its own way (the client
    measures its offset to the server on that clock, so the skew cancels there)."""
    at: list[float] = page.evaluate(
        "() => [document.querySelector('video').currentTime, Date.now() / 1000]"
    )
    return at[0] - at[1]


def current_time(page: Any) -> float:
    value: float = page.evaluate("() => document.querySelector('video')?.currentTime ?? -1")
    return value


def wait_playing_past(page: Any, seconds: float) -> None:
    page.wait_for_function(
        "(s) => (document.querySelector('video')?.currentTime ?? 0) > s",
        arg=seconds,
        timeout=STEP_TIMEOUT_MS,
    )


def drive(base: str, setup_link: str, media: str) -> dict[str, Any]:
    """Everything the people do; what the test asserts on afterwards. ``media`` + ``.mp4``,
    ``.m3u8``, ``.flv``: the same picture three ways."""
    from playwright.sync_api import expect, sync_playwright

    seen: dict[str, Any] = {"console_errors": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            owner_context = browser.new_context(viewport={"width": 1280, "height": 800})
            owner = owner_context.new_page()
            owner.set_default_timeout(STEP_TIMEOUT_MS)
            owner.on(
                "console",
                lambda m: m.type == "error" and seen["console_errors"].append(m.text),
            )
            owner.on("pageerror", lambda e: seen["console_errors"].append(str(e)))

            # First run: the setup link creates the root account.
            owner.goto(setup_link)
            expect(owner.get_by_role("heading", name="Welcome to SyncTV")).to_be_visible()
            owner.get_by_label("Username").fill("root")
            owner.get_by_label("Password", exact=True).fill(PASSWORD)
            owner.get_by_label("Password again").fill(PASSWORD)
            shot(owner, "01-setup")
            owner.get_by_role("button", name="Create root account").click()
            expect(owner.get_by_role("heading", name="Create a room")).to_be_visible()

            # Sign out, sign in again (OPAQUE login in the page).
            owner.get_by_role("button", name="Sign out").click()
            expect(owner.get_by_role("heading", name="Sign in")).to_be_visible()
            owner.get_by_label("Username").fill("root")
            owner.get_by_label("Password", exact=True).fill(PASSWORD)
            shot(owner, "02-signin")
            owner.get_by_role("button", name="Sign in").click()
            expect(owner.get_by_role("heading", name="Create a room")).to_be_visible()

            # Create a room, add the MP4, play it.
            owner.get_by_label("Room name").fill("Movie night")
            owner.get_by_label("Guests without an account").check()
            owner.get_by_role("button", name="Create").click()
            expect(owner.get_by_role("heading", name="Movie night")).to_be_visible()
            expect(owner.get_by_label("Connection")).to_have_text("open")
            seen["room_url"] = owner.url
            owner_context.grant_permissions(["clipboard-read", "clipboard-write"])
            owner.get_by_role("button", name="Copy invite link").click()
            expect(owner.get_by_role("button", name="Link copied")).to_be_visible()
            seen["invite"] = owner.evaluate("() => navigator.clipboard.readText()")
            owner.get_by_label("Media URL").fill(f"{media}.mp4")
            owner.get_by_label("Title (optional)").fill("Test pattern")
            owner.get_by_role("button", name="Add to playlist").click()
            owner.get_by_role("button", name="Play Test pattern").click()
            expect(owner.get_by_role("button", name="Pause")).to_be_visible()
            wait_playing_past(owner, 1.0)

            # A second person: signs up in their own context, joins, plays in step.
            friend_context = browser.new_context(viewport={"width": 1280, "height": 800})
            friend = friend_context.new_page()
            friend.set_default_timeout(STEP_TIMEOUT_MS)
            friend.on("pageerror", lambda e: seen["console_errors"].append(str(e)))
            friend.goto(f"{base}/signup")
            friend.get_by_label("Username").fill("friend")
            friend.get_by_label("Password", exact=True).fill(PASSWORD)
            friend.get_by_label("Password again").fill(PASSWORD)
            friend.get_by_role("button", name="Create account").click()
            expect(friend.get_by_role("heading", name="Discover")).to_be_visible()
            expect(friend.get_by_role("link", name="Movie night")).to_be_visible()
            shot(friend, "03-rooms")
            friend.get_by_role("link", name="Movie night").click()
            friend.get_by_role("button", name="Join room").click()
            expect(friend.get_by_role("heading", name="Movie night")).to_be_visible()
            wait_playing_past(friend, current_time(owner) - 1)
            expect(friend.locator(".playlist li.current")).to_contain_text("Test pattern")

            # A guest (no account) enters the public room and plays in step too.
            guest_context = browser.new_context(viewport={"width": 1280, "height": 800})
            guest = guest_context.new_page()
            guest.set_default_timeout(STEP_TIMEOUT_MS)
            guest.on("pageerror", lambda e: seen["console_errors"].append(str(e)))
            guest.goto(seen["room_url"])
            shot(guest, "05-guest-entry")
            guest.get_by_role("button", name="Enter as guest").click()
            expect(guest.get_by_role("heading", name="Movie night")).to_be_visible()
            wait_playing_past(guest, current_time(owner) - 1)
            guest.wait_for_timeout(2500)
            seen["guest_apart"] = abs(position_now(owner) - position_now(guest))

            # Each page's own drift (the header's figure), sampled for a few seconds.
            seen["own_drifts"] = []
            for _ in range(12):
                seen["own_drifts"].append(
                    (
                        owner.locator(".room-head").inner_text().split("\n", 1)[-1],
                        friend.locator(".room-head").inner_text().split("\n", 1)[-1],
                    )
                )
                friend.wait_for_timeout(250)
            # Then both players in step (a late joiner catches up at 5 %: 100 ms in 2 s), compared
            # at one instant, several times.
            seen["differences"] = []
            for _ in range(5):
                seen["differences"].append(abs(position_now(owner) - position_now(friend)))
                friend.wait_for_timeout(200)
            # The owner's member list: all three connected, each with a drift figure.
            expect(owner.locator(".members li")).to_have_count(3)
            for member in owner.locator(".members li").all():
                expect(member).to_contain_text(re.compile(r"-?\d+ ms"))  # its report arrived
            seen["members"] = owner.locator(".members li").all_inner_texts()
            shot(owner, "04-room-owner")
            shot(friend, "05-room-friend")
            shot(guest, "05-room-guest")
            guest_context.close()

            # A member without control_playback_state cannot pause; the owner pauses for both.
            expect(friend.get_by_role("button", name="Pause")).to_be_disabled()
            owner.get_by_role("button", name="Pause").click()
            friend.wait_for_function("() => document.querySelector('video').paused")
            friend.wait_for_timeout(500)  # a paused player within 100 ms of the room is left
            seen["paused_at"] = (current_time(owner), current_time(friend))

            # HLS (hls.js) and HTTP-FLV (mpegts.js), each library loaded when first needed.
            seen["formats"] = {}
            for extension, title in (("m3u8", "Pattern HLS"), ("flv", "Pattern FLV")):
                owner.get_by_label("Media URL").fill(f"{media}.{extension}")
                owner.get_by_label("Title (optional)").fill(title)
                owner.get_by_role("button", name="Add to playlist").click()
                owner.get_by_role("button", name=f"Play {title}").click()
                expect(friend.locator(".playlist li.current")).to_contain_text(title)
                owner.wait_for_function(
                    "() => !document.querySelector('video').paused"
                    " && document.querySelector('video').currentTime > 1.5"
                )
                wait_playing_past(friend, 1.5)
                seen["formats"][extension] = abs(position_now(owner) - position_now(friend))
            shot(owner, "06-room-flv")

            # A password room: the friend is asked for it, a wrong one is refused.
            owner.get_by_role("link", name="SyncTV").click()
            owner.get_by_label("Room name").fill("Private")
            owner.get_by_label("Password (optional)").fill("open sesame")
            owner.get_by_role("button", name="Create").click()
            expect(owner.get_by_role("heading", name="Private")).to_be_visible()
            private_url = owner.url
            friend.goto(private_url)
            friend.get_by_label("Room password").fill("wrong")
            friend.get_by_role("button", name="Join room").click()
            expect(friend.get_by_role("alert")).to_contain_text("Wrong room password")
            shot(friend, "07-room-password")
            friend.get_by_label("Room password").fill("open sesame")
            friend.get_by_role("button", name="Join room").click()
            expect(friend.get_by_role("heading", name="Private")).to_be_visible()
            expect(friend.get_by_label("Connection")).to_have_text("open")
            friend.go_back()  # back to Movie night, for the phone-size look
            expect(friend.get_by_role("heading", name="Movie night")).to_be_visible()
            wait_playing_past(friend, 1.0)
            expect(friend.locator(".members li")).to_have_count(1)  # the owner is elsewhere

            friend.set_viewport_size({"width": 390, "height": 844})
            friend.wait_for_timeout(2000)  # in step again (a re-attached player seeks, then nudges)
            shot(friend, "08-room-phone")
            friend_context.close()
            owner_context.close()
        finally:
            browser.close()
    return seen


if __name__ == "__main__":
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(json.dumps(drive(*sys.argv[1:4])))
