"""The people of the management pages' browser test (tests/e2e/test_web_admin_browser.py), in
Chromium driven by playwright: run as ``python -m tests.support.web_admin_browser BASE``, prints
what it saw as one JSON line. A child process for the reason ``tests.support.web_browser`` gives
(it imports nothing from ``synctv``).

An owner signs up, creates a room, goes live: the page shows OBS's Server and Stream Key, FFmpeg
publishes to exactly those (H.264 640x360, a key frame every 4 s, AAC) and the diagnostics panel
shows the codec and the key-frame warning. A member joins; the owner turns chat off in the
settings and asks for join requests (the member signed up with the OpenID provider); a viewer's request is approved, the viewer made a room
admin, banned for a day with a reason (the ban list shows both, after a reload too) and unbanned; the owner kicks the member, whose page says it was removed. The owner signs in a second
time elsewhere; the account page lists both sessions, and signing the other out sends that
browser back to the sign-in page.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from tests.support.web_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, SCREENSHOTS, shot

STEP_TIMEOUT_MS = 20_000
LIVE_CONVERGE_SECONDS = 60
LIVE_SAMPLE_SECONDS = 16
PHONE = {"width": 390, "height": 844}


def publisher(server: str, key: str) -> subprocess.Popen[bytes]:
    """FFmpeg as OBS with a 4 s key-frame interval: what the page told the streamer to use."""
    return subprocess.Popen(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-g", "100", "-keyint_min", "100", "-sc_threshold", "0", "-c:a", "aac",
            "-f", "flv", f"{server}/{key}",
        ],
    )  # fmt: skip


def live_samples(pages: list[Any]) -> list[dict[str, Any] | None]:
    """Each page's live figures now (``window.synctvLive.sample()``, see player.js)."""
    return [p.evaluate("() => window.synctvLive?.sample() ?? null") for p in pages]


def watch_live(owner: Any, room_url: str) -> dict[str, Any]:
    """The owner plays the stream in the room, in one tab over HTTP-FLV (mpegts.js) and in a
    second over HLS (hls.js); once both hold the room's target latency, both pages' latencies
    are sampled every 250 ms for LIVE_SAMPLE_SECONDS: the differences, and what the pages said."""
    from playwright.sync_api import expect

    owner.goto(room_url)
    owner.get_by_role("button", name="Play Evening show").click()
    expect(owner.get_by_label("Live latency")).to_contain_text("behind", timeout=30_000)
    hls = owner.context.new_page()
    hls.set_default_timeout(STEP_TIMEOUT_MS)
    hls.goto(room_url)
    hls.get_by_label("Via").select_option("hls")
    pages = [owner, hls]
    started = time.monotonic()
    steady = 0
    while steady < 8:  # 2 s of both within the dead band of the same target
        if time.monotonic() - started > LIVE_CONVERGE_SECONDS:
            raise AssertionError(f"live pages did not converge: {live_samples(pages)}")
        now = live_samples(pages)
        ok = (
            all(s is not None and not s["waiting"] and abs(s["drift"]) < 0.1 for s in now)
            and len({s["target"] for s in now if s}) == 1
        )
        steady = steady + 1 if ok else 0
        time.sleep(0.25)
    converged = time.monotonic() - started
    differences: list[float] = []
    latencies: list[list[float]] = []
    until = time.monotonic() + LIVE_SAMPLE_SECONDS
    while time.monotonic() < until:
        flv_now, hls_now = live_samples(pages)
        if flv_now is not None and hls_now is not None:
            latencies.append([flv_now["latency"], hls_now["latency"]])
            differences.append(abs(flv_now["latency"] - hls_now["latency"]))
        time.sleep(0.25)
    shot(hls, "17-live-hls")
    hls.set_viewport_size(PHONE)
    shot(hls, "17-live-hls-phone")
    shot(owner, "17-live-flv")
    final = live_samples(pages)
    hls.close()
    ordered = sorted(differences)
    return {
        "converged_after": round(converged, 1),
        "samples": len(differences),
        "p95": ordered[int(0.95 * (len(ordered) - 1))] if ordered else None,
        "max": ordered[-1] if ordered else None,
        "latency_first": latencies[0] if latencies else None,
        "latency_last": latencies[-1] if latencies else None,
        "pages": final,
    }


def drive(base: str) -> dict[str, Any]:
    from playwright.sync_api import expect, sync_playwright

    seen: dict[str, Any] = {"console_errors": []}

    def person(browser: Any, viewport: dict[str, int] | None = None) -> tuple[Any, Any]:
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800})
        page = context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        page.on("pageerror", lambda e: seen["console_errors"].append(str(e)))
        return context, page

    def sign_up(page: Any, name: str) -> None:
        page.goto(f"{base}/signup")
        page.get_by_label("Username").fill(name)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password again").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", name="Create a room")).to_be_visible()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ffmpeg: subprocess.Popen[bytes] | None = None
        try:
            owner_context, owner = person(browser)
            owner_context.grant_permissions(["clipboard-read", "clipboard-write"])
            sign_up(owner, "owner")
            owner.get_by_label("Room name").fill("Studio")
            owner.get_by_role("button", name="Create").click()
            expect(owner.get_by_role("heading", name="Studio")).to_be_visible()
            room_url = owner.url

            # Go live: the server and the key, shown once, copied as OBS would paste them.
            owner.get_by_role("navigation", name="Room tools").get_by_role(
                "link", name="Go live"
            ).click()
            expect(owner.get_by_role("heading", name="Go live")).to_be_visible()
            owner.get_by_label("Stream title (optional)").fill("Evening show")
            owner.get_by_role("button", name="Create stream").click()
            obs = owner.get_by_role("region", name="OBS settings")
            expect(obs).to_be_visible()
            server = obs.locator("code").nth(0).inner_text()
            key = obs.locator("code").nth(1).inner_text()
            owner.get_by_role("button", name="Copy stream key").click()
            seen["copied_key"] = owner.evaluate("() => navigator.clipboard.readText()") == key
            seen["server"] = server
            shot(owner, "10-golive-obs")
            ffmpeg = publisher(server, key)
            owner.get_by_role("button", name="Done").click()
            panel = owner.get_by_label("Stream diagnostics")
            expect(panel).to_contain_text("H.264", timeout=30_000)
            expect(panel.get_by_role("alert")).to_contain_text("keyframe interval", timeout=30_000)
            seen["diagnostics"] = panel.inner_text()
            seen["warnings"] = panel.get_by_role("alert").all_inner_texts()
            shot(owner, "11-golive-diagnostics")
            owner.set_viewport_size(PHONE)
            shot(owner, "11-golive-phone")
            owner.set_viewport_size({"width": 1280, "height": 800})

            seen["live"] = watch_live(owner, room_url)
            owner.goto(f"{room_url}/live")
            # Deleting the stream ends the publish: FFmpeg is disconnected.
            owner.get_by_role("button", name="Delete stream Evening show").click()
            expect(owner.get_by_role("region", name="Streams")).to_contain_text("No stream yet.")
            try:
                seen["publisher_exit"] = ffmpeg.wait(timeout=10)
            except subprocess.TimeoutExpired:
                seen["publisher_exit"] = None

            # A member signs up through the OpenID provider (its login and consent forms), then
            # joins the room.
            member_context, member = person(browser)
            member.goto(f"{base}/signin")
            member.get_by_role("link", name="Sign in with Test IdP").click()
            member.get_by_placeholder("Enter any login").fill("member")
            member.get_by_placeholder("and password").fill("any")
            member.get_by_role("button", name="Sign-in").click()
            member.get_by_role("button", name="Continue").click()
            expect(member.get_by_role("heading", name="Create a room")).to_be_visible()
            seen["member_url_after_oidc"] = member.url
            seen["member_name"] = (
                member.get_by_role("navigation", name="Account").get_by_role("link").inner_text()
            )
            member.goto(room_url)
            member.get_by_role("button", name="Join room").click()
            expect(member.get_by_role("heading", name="Studio")).to_be_visible()
            expect(member.get_by_label("Connection")).to_have_text("open")
            seen["member_tools"] = member.get_by_role(
                "navigation", name="Room tools"
            ).all_inner_texts()

            # The owner turns chat off and join requests on.
            owner.goto(f"{room_url}/settings")
            expect(owner.get_by_role("heading", name="Room settings")).to_be_visible()
            owner.get_by_label("Chat", exact=True).uncheck()
            owner.get_by_label("Description").fill("Streams on Fridays")
            owner.get_by_role("button", name="Save room details").click()
            details = owner.get_by_role("form", name="About the room")
            expect(details.get_by_role("status")).to_have_text("Saved.")
            owner.get_by_label("Approve join requests").check()
            owner.get_by_label("Maximum members").fill("12")
            owner.get_by_role("button", name="Save settings").click()
            expect(owner.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
            shot(owner, "12-settings")
            owner.reload()
            expect(owner.get_by_label("Maximum members")).to_have_value("12")
            expect(owner.get_by_label("Description")).to_have_value("Streams on Fridays")
            seen["chat_after_reload"] = owner.get_by_label("Chat", exact=True).is_checked()

            # A viewer asks to join; the owner approves, then bans and unbans them.
            viewer_context, viewer = person(browser)
            sign_up(viewer, "viewer")
            viewer.goto(room_url)
            viewer.get_by_role("button", name="Join room").click()
            expect(viewer.get_by_role("status")).to_contain_text("waits for the room's approval")
            owner.goto(f"{room_url}/members")
            expect(owner.get_by_role("region", name="Join requests")).to_contain_text("viewer")
            owner.get_by_label("Cool-down for member").select_option("3600")
            shot(owner, "13-members")
            owner.get_by_role("button", name="Approve viewer").click()
            expect(owner.get_by_role("status").filter(has_text="approved")).to_be_visible()
            viewer.reload()
            expect(viewer.get_by_role("heading", name="Studio")).to_be_visible()
            viewer_context.close()
            owner.get_by_label("Role of viewer").select_option("admin")
            expect(
                owner.get_by_role("status").filter(has_text="viewer is now a room admin")
            ).to_be_visible()
            owner.get_by_role("button", name="Ban viewer").click()
            owner.get_by_label("Reason (optional").fill("spoilers in chat")
            owner.get_by_label("How long").select_option("86400")
            owner.get_by_role("button", name="Confirm ban").click()
            bans = owner.get_by_role("region", name="Bans")
            expect(bans.get_by_role("button", name="Unban viewer")).to_be_visible()
            expect(bans).to_contain_text("spoilers in chat")  # the room's ban list, from the API
            owner.reload()
            expect(bans).to_contain_text("by owner")
            expect(bans).to_contain_text("until")  # a day's ban shows its end
            expect(owner.locator(".member-list li[data-user=viewer]")).to_have_count(0)
            bans.get_by_role("button", name="Unban viewer").click()
            expect(
                owner.get_by_role("status").filter(has_text="viewer may join again")
            ).to_be_visible()
            expect(bans.get_by_role("button", name="Unban viewer")).to_have_count(0)
            owner.set_viewport_size(PHONE)
            shot(owner, "13-members-phone")
            owner.set_viewport_size({"width": 1280, "height": 800})

            # ... and kicks the member, whose page says so.
            expect(owner.locator(".member-list li[data-user=member]")).to_be_visible()
            owner.get_by_label("Cool-down for member").select_option("3600")
            owner.get_by_role("button", name="Kick member").click()
            expect(
                owner.get_by_role("status").filter(has_text="member was removed")
            ).to_be_visible()
            expect(owner.locator(".member-list li[data-user=member]")).to_have_count(0)
            expect(
                member.get_by_role("status").filter(has_text="removed from this room")
            ).to_be_visible()
            seen["member_page"] = member.get_by_role("main").inner_text()
            shot(member, "14-member-removed")
            member.reload()
            member.get_by_role("button", name="Join room").click()
            expect(member.get_by_role("alert")).to_contain_text("room_kick_cooldown")
            member_context.close()

            # Sessions: the owner signs in on a second device; the first lists both and signs
            # the other out, which is then back at the sign-in page.
            other_context, other = person(browser, PHONE)
            other.goto(f"{base}/signin")
            other.get_by_label("Username").fill("owner")
            other.get_by_label("Password", exact=True).fill(PASSWORD)
            shot(other, "15-signin-oidc-phone")
            other.get_by_role("button", name="Sign in").click()
            expect(other.get_by_role("heading", name="Create a room")).to_be_visible()
            owner.get_by_role("link", name="owner", exact=True).click()
            expect(owner.get_by_role("heading", name="Account")).to_be_visible()
            sessions = owner.get_by_role("region", name="Sessions").locator(".session-list li")
            expect(sessions).to_have_count(2)
            seen["sessions"] = sessions.all_inner_texts()
            shot(owner, "16-account")
            owner.locator(".session-list li:not(.current)").get_by_role(
                "button", name="Sign out"
            ).click()
            expect(owner.get_by_role("status").filter(has_text="signed out")).to_be_visible()
            expect(sessions).to_have_count(1)
            other.reload()  # its next request is refused: token_revoked
            expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
            seen["other_signed_out"] = other.url
            other_context.close()

            # The owner deletes the room (asked twice); it leaves their list.
            owner.goto(f"{room_url}/settings")
            owner.get_by_role("button", name="Delete this room…").click()
            owner.get_by_role("button", name="Delete room").click()
            expect(owner.get_by_role("heading", name="My rooms")).to_be_visible()
            expect(owner.get_by_text("You are in no room yet.")).to_be_visible()
            owner_context.close()
        finally:
            if ffmpeg is not None and ffmpeg.poll() is None:
                ffmpeg.kill()
            browser.close()
    return seen


if __name__ == "__main__":
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(json.dumps(drive(sys.argv[1])))
