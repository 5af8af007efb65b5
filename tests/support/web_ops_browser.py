"""Root in the admin pages (tests/e2e/test_web_ops_browser.py), in Chromium driven by
playwright, then a room member browsing the provider instance root added: run as
``python -m tests.support.web_ops_browser BASE ROOT_SESSION ROOT_ID ALIST_BASE MEMBER_SESSION
ROOM_ID``, where a session is the JSON the client keeps in localStorage (``synctv.session``);
prints what it saw as one JSON line.

A child process for the reason given in tests/support/web_browser.py (playwright's asyncio loop);
this module imports nothing from ``synctv``. Screenshots go to ``$SYNCTV_SCREENSHOTS`` (default
``/tmp/synctv-web-screenshots``).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from tests.support.web_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, STEP_TIMEOUT_MS, shot

SETTING = "ratelimit.wsTicketsPerUserPerMinute"
LIST_SETTING = "ratelimit.authLockoutMinutes"
# The page is no wider than the phone's screen: nothing needs a sideways scroll.
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"
ALIST_PASSWORD = "alist-secret-pw"  # tests/providers/fakes.py's FakeAlist


def page_for(browser: Any, session: str, seen: dict[str, Any], size: tuple[int, int]) -> Any:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    context.add_init_script(
        f"if (!localStorage.getItem('synctv.session')) localStorage.setItem('synctv.session', {json.dumps(session)});"
    )
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.on("console", lambda m: m.type == "error" and seen["console_errors"].append(m.text))
    page.on("pageerror", lambda e: seen["console_errors"].append(str(e)))
    return page


def drive(
    base: str, session: str, root_id: str, alist_base: str, member_session: str, room_id: str
) -> dict[str, Any]:
    from playwright.sync_api import expect, sync_playwright

    seen: dict[str, Any] = {"console_errors": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = page_for(browser, session, seen, (1280, 860))
            page.goto(f"{base}/")
            page.get_by_role("link", name="Admin").click()
            expect(page.get_by_role("heading", name="Users")).to_be_visible()

            # Users: find the account, ban it with a reason.
            page.get_by_label("Search users").fill("victim")
            page.get_by_label("Search users").press("Enter")
            expect(page.get_by_role("button", name="Open victim")).to_be_visible()
            expect(page.get_by_role("button", name="Open root")).to_have_count(0)
            page.get_by_role("button", name="Open victim").click()
            expect(page.get_by_role("heading", name="victim")).to_be_visible()
            page.get_by_label("Reason for the ban").fill("spamming the chat")
            page.get_by_role("button", name="Ban", exact=True).click()
            expect(page.get_by_text("Banned; every session ended.")).to_be_visible()
            expect(page.get_by_role("button", name="Unban")).to_be_visible()
            expect(page.locator(".ban-reason")).to_have_text("spamming the chat")
            page.get_by_role("button", name="Reset password").click()
            seen["reset_url"] = page.get_by_label(
                "One-time password link", exact=False
            ).input_value()
            shot(page, "30-admin-users")
            # A role change the server refuses (root's own account) shows its refusal.
            page.get_by_label("Search users").fill("root")
            page.get_by_label("Search users").press("Enter")
            page.get_by_role("button", name="Open root").click()
            expect(page.get_by_role("heading", name="root")).to_be_focused()
            page.locator(".user-detail").get_by_label("Role").select_option("admin")
            page.get_by_role("button", name="Change role").click()
            role_refusal = page.locator(".user-detail .error")
            expect(role_refusal).to_be_visible()
            seen["role_refusal"] = role_refusal.inner_text()

            # Settings, with the keyboard alone: a number typed and Enter saves it.
            page.get_by_role("link", name="Settings").click()
            expect(page.get_by_role("heading", name="Runtime settings")).to_be_visible()
            field = page.get_by_label(SETTING)
            seen["setting_range"] = [field.get_attribute("min"), field.get_attribute("max")]
            field.focus()
            page.keyboard.press("Control+A")
            page.keyboard.type("45")
            page.keyboard.press("Enter")
            form = page.locator(f"form[data-key='{SETTING}']")
            expect(form.get_by_role("status")).to_contain_text("Saved: 30 → 45")
            expect(form.get_by_role("button", name="Reset to default")).to_be_visible()
            seen["setting_shown"] = field.input_value()
            seen["checkbox"] = page.get_by_label("user.enableGuest").get_attribute("type")
            seen["select"] = page.get_by_label("room.passwordPolicy").evaluate("e => e.tagName")
            # A list the server refuses: its rule is shown under the field, the text kept.
            steps = page.get_by_label(LIST_SETTING)
            steps.fill("[5, 1]")
            page.locator(f"form[data-key='{LIST_SETTING}']").get_by_role(
                "button", name="Save"
            ).click()
            refusal = page.locator(f"form[data-key='{LIST_SETTING}'] .error")
            expect(refusal).to_be_visible()
            seen["refusal"] = refusal.inner_text()
            seen["refused_kept"] = steps.input_value()
            shot(page, "31-admin-settings")

            # The audit log, filtered to root's own actions, then to one area.
            page.get_by_role("link", name="Audit log").click()
            page.get_by_label("Actor (user id, cli, system)").fill(root_id)
            page.get_by_role("button", name="Filter").click()
            expect(page.locator("li[data-action='user.banned']")).to_be_visible()
            expect(page.locator("li[data-action='settings.changed']")).to_be_visible()
            seen["root_actions"] = page.locator(".audit-list li").evaluate_all(
                "items => items.map(i => i.dataset.action)"
            )
            shot(page, "32-admin-audit")
            page.get_by_label("Action (user.banned, or an area: user)").fill("settings")
            page.get_by_role("button", name="Filter").click()
            expect(page.locator("li[data-action='user.banned']")).to_have_count(0)
            seen["settings_actions"] = page.locator(".audit-list li").evaluate_all(
                "items => items.map(i => i.dataset.action)"
            )
            # A room's live streams: create one (its key shown once), delete it.
            page.get_by_role("link", name="Live streams").click()
            page.get_by_role("button", name="Movie night").click()
            expect(page.get_by_text("This room has no live stream.")).to_be_visible()
            page.get_by_label("Title of a new stream").fill("Admin test")
            page.get_by_role("button", name="Create stream").click()
            seen["stream_key_shown"] = bool(
                page.get_by_label("Stream key (shown once)").input_value()
            )
            expect(page.get_by_role("list", name="Streams")).to_contain_text("Admin test")
            shot(page, "33-admin-live")
            page.get_by_role("button", name="Delete stream Admin test").click()
            expect(page.get_by_text("This room has no live stream.")).to_be_visible()

            # Providers: add an Alist instance with the form for its kind, test it, edit it.
            page.get_by_role("link", name="Providers").click()
            expect(page.get_by_role("heading", name="Provider instances")).to_be_visible()
            expect(page.get_by_text("No provider instance yet.")).to_be_visible()
            page.get_by_label("Kind").select_option("alist")
            page.get_by_label("Name", exact=True).fill("nas")
            page.get_by_label("Server URL").fill(alist_base)
            page.get_by_label("User name").fill("admin")
            page.get_by_label("Password", exact=True).fill(ALIST_PASSWORD)
            page.get_by_label("LAN service", exact=False).check()
            page.get_by_role("button", name="Add instance").click()
            entry = page.locator("li[data-provider='nas']")
            expect(entry).to_be_visible()
            seen["provider_tags"] = entry.locator(".tag").all_inner_texts()
            # With the keyboard: Test, then Edit (the form takes the focus), Escape-free save.
            page.get_by_role("button", name="Test nas").focus()
            page.keyboard.press("Enter")
            expect(page.get_by_text("nas answered: 1 item at the top.")).to_be_visible()
            page.get_by_role("button", name="Edit nas").focus()
            page.keyboard.press("Enter")
            expect(page.get_by_role("heading", name="Edit nas")).to_be_focused()
            seen["edit_password"] = page.locator("#edit-secret-password").input_value()
            seen["edit_base_url"] = page.locator("#edit-config-base_url").input_value()
            shot(page, "38-admin-providers")
            page.locator("#edit-config-username").fill("admin")
            page.get_by_role("button", name="Save changes").click()
            expect(page.get_by_text("Saved nas.")).to_be_visible()
            seen["page_text"] = page.locator("main").inner_text()
            page.context.close()

            # A member browses the instance in the room and adds a file to the playlist.
            member = page_for(browser, member_session, seen, (1280, 860))
            # The Watching card's first look comes once the page's channel is open: it already
            # lists this page (it used to ask before, then 2 s later: empty meanwhile).
            with member.expect_response(lambda r: r.url.endswith("/presence")) as first:
                member.goto(f"{base}/rooms/{room_id}")
            seen["first_presence"] = first.value.json()["online"]
            member.get_by_role("button", name="Browse", exact=True).click()
            library = member.get_by_role("region", name="Browse a library")
            expect(library.get_by_label("Library")).to_have_value(re.compile(".+"))
            library.get_by_role("button", name="Open folder movies").click()
            expect(library.get_by_role("button", name="Add film.mp4")).to_be_visible()
            seen["browsed"] = library.locator(".library-entries li").all_inner_texts()
            library.get_by_role("button", name="Add film.mp4").click()
            playlist = member.get_by_role("region", name="Playlist")
            expect(playlist.locator("li[data-media] .name")).to_have_text(["film.mp4"])
            expect(library.get_by_text("Added film.mp4 to the playlist.")).to_be_visible()
            shot(member, "40-room-browse")
            watching = member.get_by_role("region", name="Members")
            seen["watching"] = watching.locator("li").all_inner_texts()
            # A second tab of the same person, where the member list (the names) fails: still one
            # row, counted, named from the session.
            second = member.context.new_page()
            seen["second_tab_errors"] = []
            second.on(
                "console", lambda m: m.type == "error" and seen["second_tab_errors"].append(m.text)
            )
            second.route(
                "**/api/rooms/*/members",
                lambda route: route.fulfill(
                    status=503, json={"code": "unavailable", "message": "down"}
                ),
            )
            second.goto(f"{base}/rooms/{room_id}")
            both = re.compile(r"^viewer \(you\)\s*member · 2 tabs")
            expect(second.get_by_role("region", name="Members").locator("li")).to_have_text([both])
            expect(watching.locator("li")).to_have_text([both])
            seen["watching_two_tabs"] = watching.locator("li").all_inner_texts()
            shot(member, "42-room-watching")
            second.close()
            library.get_by_role("button", name="Up one folder").press("Enter")
            expect(library.get_by_role("button", name="Open folder movies")).to_be_visible()
            seen["path_after_up"] = library.locator(".library-path code").inner_text()
            member.context.close()

            # At phone size.
            phone = page_for(browser, session, seen, (390, 844))
            seen["overflow"] = {}
            tabs = (("users", "34"), ("settings", "35"), ("audit", "36"), ("live", "37"))
            for tab, name in (*tabs, ("providers", "39")):
                phone.goto(f"{base}/admin/{tab}")
                expect(phone.get_by_role("navigation", name="Admin sections")).to_be_visible()
                if tab == "users":
                    phone.get_by_role("button", name="Open victim").click()
                    expect(phone.get_by_role("button", name="Unban")).to_be_visible()
                if tab == "audit":
                    expect(phone.locator(".audit-list li").first).to_be_visible()
                if tab == "settings":
                    expect(phone.get_by_label(SETTING)).to_have_value("45")
                seen["overflow"][tab] = phone.evaluate(OVERFLOW)
                shot(phone, f"{name}-admin-{tab}-phone")
            phone.context.close()
            phone = page_for(browser, member_session, seen, (390, 844))
            phone.goto(f"{base}/rooms/{room_id}")
            phone.get_by_role("button", name="Browse", exact=True).click()
            phone.get_by_role("button", name="Open folder movies").click()
            expect(phone.get_by_role("button", name="Add film.mp4")).to_be_visible()
            seen["overflow"]["room-browse"] = phone.evaluate(OVERFLOW)
            shot(phone, "41-room-browse-phone")
            phone.context.close()
            # Without view_members the card says so (and asks nothing).
            root_api = playwright.request.new_context(
                base_url=base,
                extra_http_headers={
                    "authorization": f"Bearer {json.loads(session)['accessToken']}"
                },
            )
            member_id = json.loads(member_session)["user"]["id"]
            revoked = root_api.patch(
                f"/api/rooms/{room_id}/members/{member_id}", data={"removed": ["view_members"]}
            )
            assert revoked.ok, revoked.text()
            root_api.dispose()
            phone = page_for(browser, member_session, seen, (390, 844))
            phone.goto(f"{base}/rooms/{room_id}")
            expect(phone.get_by_label("Connection")).to_have_text("open")
            watching = phone.get_by_role("region", name="Members")
            expect(watching).to_contain_text("You cannot see who is watching.")
            seen["watching_denied"] = watching.inner_text()
            shot(phone, "43-room-watching-denied-phone")
            phone.context.close()
        finally:
            browser.close()
    return seen


if __name__ == "__main__":
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(json.dumps(drive(*sys.argv[1:7])))
