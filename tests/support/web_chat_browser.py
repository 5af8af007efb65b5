"""The people of the chat, danmaku and voice browser test (tests/e2e/test_web_chat_browser.py),
in Chromium driven by playwright: run as ``python -m tests.support.web_chat_browser BASE ROOM_URL
OWNER_SESSION FRIEND_SESSION``, where a session is the JSON the client keeps in localStorage
(``synctv.session``: the tokens and user of a sign-up done by the test over HTTP); prints what it
saw as one JSON line.

A child process for the reason given in tests/support/web_browser.py (playwright's asyncio loop);
this module imports nothing from ``synctv``. Chromium's fake microphone (a beep) and its
auto-accepted permission prompt let both pages join voice. Screenshots go to
``$SYNCTV_SCREENSHOTS`` (default ``/tmp/synctv-web-screenshots``).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from tests.support.web_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, STEP_TIMEOUT_MS, shot

MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
# What a page shows of a danmaku element: its text, colour, classes, animation and box, and
# whether it lies over the video (a scrolling one starts just right of it, in its rows).
DANMAKU_LOOK = """(text) => {
  const element = [...document.querySelectorAll('.danmaku-layer .danmaku')]
    .find((e) => e.textContent === text);
  if (!element) return null;
  const style = getComputedStyle(element);
  const box = element.getBoundingClientRect();
  const video = document.querySelector('video').getBoundingClientRect();
  return {className: element.className, color: style.color, animation: style.animationName,
    background: style.backgroundColor,
    styleAttribute: element.getAttribute('style'), top: box.top, left: box.left, right: box.right,
    inVideoRows: box.top >= video.top && box.bottom <= video.bottom + 1,
    overVideo: box.top >= video.top && box.bottom <= video.bottom + 1 && box.left < video.right
      && box.right > video.left};
}"""
PEER_STATES = "() => [...document.querySelectorAll('.voice-list li[data-peer]')].map(l => l.dataset.connectionState)"


def page_for(browser: Any, session: str, seen: dict[str, Any], name: str) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.grant_permissions(["microphone"])
    # Signed in as the test's sign-up: the client reads its session from localStorage.
    context.add_init_script(
        f"if (!localStorage.getItem('synctv.session')) localStorage.setItem('synctv.session', {json.dumps(session)});"
    )
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.on(
        "console",
        lambda m: m.type == "error" and seen["console_errors"].append(f"{name}: {m.text}"),
    )
    page.on("pageerror", lambda e: seen["console_errors"].append(f"{name}: {e}"))
    return context, page


def chat_line(page: Any, text: str) -> Any:
    return page.locator(".chat-log li").filter(has=page.locator(".text", has_text=text))


def send(page: Any, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_label("Message", exact=True).press("Enter")


def drive(base: str, room_url: str, owner_session: str, friend_session: str) -> dict[str, Any]:
    from playwright.sync_api import expect, sync_playwright

    seen: dict[str, Any] = {"console_errors": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *MEDIA_ARGS]
        )
        try:
            owner_context, owner = page_for(browser, owner_session, seen, "owner")
            friend_context, friend = page_for(browser, friend_session, seen, "friend")
            for page in (owner, friend):
                page.goto(room_url)
                expect(page.get_by_label("Connection")).to_have_text("open")
            # The history: what the test sent over REST before the pages opened.
            expect(chat_line(friend, "from the past")).to_be_visible()
            lines = friend.locator(".chat-log li")
            first_page = (lines.count(), lines.first.locator(".text").inner_text())
            friend.get_by_role("button", name="Load older messages").click()
            expect(chat_line(friend, "earlier message 0")).to_be_visible()
            expect(friend.get_by_role("button", name="Load older messages")).to_have_count(0)
            seen["history"] = (
                *first_page,
                lines.count(),
                lines.first.locator(".text").inner_text(),
            )

            # Play: the danmaku sent at 2 s (over REST, before) is replayed from the timeline in
            # both pages when the room passes 2 s.
            owner.get_by_role("button", name="Play", exact=True).click()
            for page in (owner, friend):
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.danmaku')]"
                    ".some((e) => e.textContent === 'from the past')",
                    timeout=8000,
                )
            seen["replayed"] = friend.evaluate(DANMAKU_LOOK, "from the past")
            seen["replayed_at"] = friend.evaluate(
                "() => document.querySelector('video').currentTime"
            )

            # Chat: the owner writes (markup stays text), the friend reads it.
            sent = time.monotonic()
            send(owner, "hello <b>friend</b> & all")
            expect(chat_line(friend, "hello <b>friend</b> & all")).to_be_visible()
            seen["chat_seconds"] = time.monotonic() - sent
            seen["markup_elements"] = friend.locator(".chat-log b").count()

            # Danmaku: the friend switches the composer to danmaku, red, scrolling; it flies over
            # the owner's video.
            friend.get_by_label("Danmaku", exact=True).check()
            friend.get_by_label("Danmaku colour").fill("#ff3355")
            friend.get_by_label("Danmaku position").select_option("scroll")
            sent = time.monotonic()
            send(friend, "look at this!")
            owner.wait_for_function(
                "() => [...document.querySelectorAll('.danmaku')]"
                ".some((e) => e.textContent === 'look at this!')",
                timeout=5000,
            )
            seen["danmaku_seconds"] = time.monotonic() - sent
            seen["danmaku"] = owner.evaluate(DANMAKU_LOOK, "look at this!")
            owner.wait_for_timeout(1200)
            seen["danmaku_later"] = owner.evaluate(DANMAKU_LOOK, "look at this!")
            shot(owner, "20-chat-danmaku-owner")
            expect(chat_line(owner, "look at this!").locator(".tag")).to_have_text("danmaku")
            friend.get_by_label("Danmaku", exact=True).uncheck()

            # Delete: the friend deletes their own message; the owner (delete_chat_messages)
            # deletes one of the friend's; both disappear on both pages.
            send(friend, "oops, wrong room")
            send(friend, "something rude")
            expect(chat_line(owner, "something rude")).to_be_visible()
            expect(chat_line(owner, "oops, wrong room")).to_be_visible()
            seen["friend_delete_buttons"] = friend.locator(".chat-log .delete").count()
            chat_line(friend, "oops, wrong room").get_by_role("button").click()
            chat_line(owner, "something rude").get_by_role("button").click()
            for page in (owner, friend):
                expect(chat_line(page, "oops, wrong room")).to_have_count(0)
                expect(chat_line(page, "something rude")).to_have_count(0)
            # The friend (no delete_chat_messages) may delete only their own messages.
            # The owner's log, scrolled to its end all along, shows the newest line.
            seen["owner_log_at_end"] = owner.evaluate(
                "() => { const l = document.querySelector('.chat-log');"
                " return l.scrollHeight - l.scrollTop - l.clientHeight < 2; }"
            )
            seen["friend_delete_buttons_on_owner_lines"] = (
                chat_line(friend, "hello <b>friend</b>").locator(".delete").count()
            )

            # A refusal is shown: past the per-user rate (3 a second here) the friend is told to wait,
            # and the refused text is kept in the box.
            # Typed and sent in the page at machine speed (playwright's round trips are slower
            # than the rate on a loaded machine), until the refusal shows: a new send clears the
            # last refusal, so on a slow machine a fixed count may end on an accepted message.
            friend.evaluate(
                """async (count) => {
                  const box = document.getElementById('chat-text');
                  const tick = () => new Promise((done) => setTimeout(done, 0));
                  const refused = () => (document.querySelector('.chat [role=alert]')
                    ?.textContent ?? '').includes('Too many messages');
                  for (let n = 0; n < count && !refused(); n++) {
                    box.value = `spam ${n}`;
                    box.dispatchEvent(new Event('input', {bubbles: true}));
                    await tick();
                    box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
                    await tick();
                  }
                }""",
                40,
            )
            expect(friend.locator(".chat [role=alert]")).to_contain_text("Too many messages")
            seen["refused_kept"] = friend.get_by_label("Message", exact=True).input_value()
            shot(friend, "21-chat-refused-friend")
            # The owner turns chat off: the friend's composer says so (settings_changed).
            owner.evaluate(
                """async (room) => {
                  const token = JSON.parse(localStorage.getItem('synctv.session')).accessToken;
                  const r = await fetch(`/api/rooms/${room}/settings`, {method: 'PATCH',
                    headers: {'content-type': 'application/json', authorization: `Bearer ${token}`},
                    body: JSON.stringify({chatEnabled: false})});
                  if (!r.ok) throw new Error(await r.text());
                }""",
                room_url.rstrip("/").rsplit("/", 1)[-1],
            )
            expect(friend.locator(".chat")).to_contain_text("Chat is turned off in this room.")
            seen["composer_after_off"] = friend.get_by_label("Message", exact=True).count()

            # Voice: both join; the newcomer (the friend) offers; both peer connections connect.
            started = time.monotonic()
            owner.get_by_role("button", name="Join voice").click()
            expect(owner.locator(".voice")).to_have_attribute("data-voice-stage", "joined")
            friend.get_by_role("button", name="Join voice").click()
            for page in (owner, friend):
                page.wait_for_function(
                    f"() => ({PEER_STATES})().includes('connected')", timeout=15000
                )
            seen["voice_seconds"] = time.monotonic() - started
            seen["voice_states"] = [owner.evaluate(PEER_STATES), friend.evaluate(PEER_STATES)]
            seen["voice_pc_states"] = friend.evaluate(
                "() => [...document.querySelectorAll('.voice-list li[data-peer]')]"
                ".map((l) => l.querySelector('.state').textContent)"
            )
            # The fake microphone beeps: each page sees the other speak now and then.
            owner.wait_for_selector(".voice-list li[data-peer].speaking", timeout=6000)
            seen["speaking_seen"] = True
            friend.get_by_role("button", name="Mute").click()
            expect(friend.get_by_role("button", name="Unmute")).to_be_visible()
            shot(owner, "22-voice-owner")
            shot(friend, "23-voice-friend")
            friend.get_by_role("button", name="Leave voice").click()
            expect(owner.locator(".voice-list li[data-peer]")).to_have_count(0)
            seen["voice_after_leave"] = owner.locator(".voice h2").inner_text()

            friend.set_viewport_size({"width": 390, "height": 844})
            friend.wait_for_timeout(300)
            shot(friend, "24-chat-phone")
            friend_context.close()
            owner_context.close()
        finally:
            browser.close()
    return seen


if __name__ == "__main__":
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(json.dumps(drive(*sys.argv[1:5])))
