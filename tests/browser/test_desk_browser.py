"""The office's desk in a real browser: headless Chromium (Debian's package) driven by Playwright. Signs
in with Mini App init data built here and with the one-time /web link, filters the ledger, accepts an
issue and sees the team chat's card edited in the Bot API test double, and checks that a resident is
turned away. Any console error or failed request fails the test. Screenshots of every page in English
and Chinese at phone and desktop widths go to tests/screenshots/ (kept in the repository for review).

One browser for the whole test session; each test gets a fresh context (cookies)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from bot.web import DeskContext, desk_app
from tests.conftest import ROOT, BotHarness, unique_id
from tests.e2e.test_triage import TEAM_B1, card, file_issue, groups, person, set_locale, settle
from tests.e2e.test_web import STAFF, signed_init_data

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = ROOT / "tests" / "screenshots"
WIDTHS = {"phone": 390, "desktop": 1280}
# Telegram's dark theme as a Mini App receives it in the URL fragment.
THEME = {"bg_color": "#17212b", "text_color": "#f5f5f5", "hint_color": "#708499", "link_color": "#6ab3f3",
         "button_color": "#5288c1", "button_text_color": "#ffffff", "secondary_bg_color": "#232e3c"}


def _chromium() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def _missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (dev extras)"
    if _chromium() is None:
        return "chromium is not installed (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    reason = _missing()
    if reason:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"browser tests required (REQUIRE_SERVICES=1) but {reason}")
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=_chromium(), args=ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def live(harness: BotHarness, settings: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """The desk served on 127.0.0.1 (a free port) in the test's event loop, on the harness's database,
    clock and Bot API double."""
    monkeypatch.setattr(settings, "web_url", "http://127.0.0.1/desk")
    runner = web.AppRunner(desk_app(DeskContext(settings, harness.sessions, harness.clock, harness.bot)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}/desk"
    monkeypatch.setattr(settings, "web_url", base)
    try:
        yield base
    finally:
        await runner.cleanup()


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A small solid-colour PNG, standing in for a report's photo in the Bot API double."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


async def photos_in_double(harness: BotHarness) -> None:
    from sqlalchemy import select

    from models import IssuePhoto

    colours = [(94, 129, 172), (163, 190, 140), (235, 203, 139), (191, 97, 106)]
    async with harness.sessions() as s:
        for i, file_id in enumerate((await s.execute(select(IssuePhoto.file_id))).scalars()):
            harness.tg.register_file(file_id, content=png(160, 120, colours[i % len(colours)]))


class Watched:
    """A page whose console errors and failed requests are collected; `check()` fails on any."""

    def __init__(self, page: Any, allowed_statuses: set[int] | None = None) -> None:
        self.page = page
        self.problems: list[str] = []
        self.allowed = allowed_statuses or set()
        page.on("console", lambda m: m.type == "error" and not self._allowed_console(m.text)
                and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        # A load that the next navigation cancels (net::ERR_ABORTED, e.g. the favicon of a page left at
        # once) is the browser's doing, not a failure; every answer the server gives is still checked below.
        page.on("requestfailed", lambda r: "ERR_ABORTED" not in str(r.failure)
                and self.problems.append(f"failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and r.status not in self.allowed
                and self.problems.append(f"HTTP {r.status}: {r.url}"))

    def _allowed_console(self, text: str) -> bool:
        # Chromium logs an expected refusal page (403) as a failed resource; the response hook judges it.
        return any(f"status of {s}" in text for s in self.allowed)

    def check(self) -> None:
        assert self.problems == [], self.problems


async def new_page(browser: Any, width: int = 390, allowed: set[int] | None = None) -> Watched:
    context = await browser.new_context(viewport={"width": width, "height": 844 if width < 600 else 900},
                                        locale="en-US")
    # A loaded CI machine (two cores, the whole suite beside it) can take far longer than Playwright's
    # 30 s default to start a page; what is asserted does not depend on speed.
    context.set_default_timeout(120_000)
    context.set_default_navigation_timeout(120_000)
    return Watched(await context.new_page(), allowed)


async def shoot(w: Watched, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await w.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def shoot_all(browser: Any, cookies: list[dict[str, Any]], url: str, name: str,
                    status: set[int] | None = None) -> None:
    """One page in English and Chinese at phone and desktop widths."""
    for lang, code in (("en", "en"), ("zh", "zh_Hans")):
        for label, width in WIDTHS.items():
            w = await new_page(browser, width, status)
            await w.page.context.add_cookies(cookies)
            sep = "&" if "?" in url else "?"
            await w.page.goto(f"{url}{sep}lang={code}")
            await shoot(w, f"{name}-{lang}-{label}")
            w.check()
            await w.page.context.close()


async def test_office_worker_signs_in_filters_accepts_and_pages_look_right(
        browser: Any, harness: BotHarness, community: Any, live: str) -> None:
    await set_locale(harness, "en")
    groups(harness)
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    bob = await person(harness, unique_id(), "Bob", resident_of="b3")
    fire = await file_issue(harness, ann)
    await file_issue(harness, bob, building="b3", category="lighting", description="Lamp out by the gate")
    await file_issue(harness, ann, category="litter", photos=0, description="Bags left by the bins")
    the_card = card(harness)
    staff = await person(harness, STAFF, "Office Wu")
    await photos_in_double(harness)

    # Inside Telegram: the Mini App opens with signed init data and Telegram's theme in the fragment.
    w = await new_page(browser)
    now = int(harness.clock().timestamp())
    fragment = f"tgWebAppData={quote(signed_init_data(staff.id, now))}&tgWebAppThemeParams={quote(json.dumps(THEME))}"
    await w.page.goto(f"{live}/#{fragment}")
    await w.page.wait_for_url(f"{live}/")
    await w.page.get_by_role("heading", name="Today").first.wait_for()
    await shoot(w, "today-en-phone-telegram-dark")
    cookies = await w.page.context.cookies()

    # The ledger: three issues; a category filter leaves the lamp.
    await w.page.get_by_role("link", name="Ledger").click()
    assert await w.page.locator("table.ledger tbody tr").count() == 3
    await w.page.get_by_label("Category").select_option("lighting")
    await w.page.get_by_role("button", name="Show").click()
    await w.page.wait_for_url("**category=lighting**")
    rows = w.page.locator("table.ledger tbody tr")
    assert await rows.count() == 1 and "#NC0002" in await rows.first.inner_text()

    # Open the fire lane report from a text search and accept it.
    await w.page.get_by_label("Category").select_option("")
    await w.page.get_by_label("Search").fill("#NC0001")
    await w.page.get_by_role("button", name="Show").click()
    await w.page.get_by_role("link", name="#NC0001").click()
    shown = w.page.locator(".photos img")
    assert await shown.count() == 3
    # Every photo loads through the proxy. Polled from here: wait_for_function evaluates a string in the
    # page, which the desk's strict CSP (no unsafe-eval) rightly refuses.
    for _ in range(600):
        widths = await shown.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
        if all(w > 0 for w in widths):
            break
        await asyncio.sleep(0.1)
    assert all(w > 0 for w in widths), widths
    await w.page.get_by_role("button", name="Accept").click()
    await w.page.get_by_text("Accepted: you handle it now").wait_for()
    await settle(harness)
    caption = harness.tg.current(TEAM_B1, the_card.message_id).caption or ""
    assert "handled by Office Wu" in caption, caption
    assert any("accepted by" in t for t in harness.tg.texts(ann.id, as_plain=True))
    # Settings: litter gets five days; the next litter report accepted is due five days on.
    await w.page.get_by_role("link", name="Settings").click()
    litter = w.page.get_by_role("form", name="Litter / dirty spot")
    await litter.get_by_label("Deadline days").fill("5")
    await litter.get_by_role("button", name="Save").click()
    await w.page.get_by_text("Saved. It applies from now on").wait_for()
    assert "deadline_days: 5" in await w.page.locator("table.audit").inner_text()
    litter_id = await file_issue(harness, ann, category="litter", photos=0, description="More bags")
    await w.page.goto(f"{live}/issue/{litter_id}")
    await w.page.get_by_role("button", name="Accept").click()
    await w.page.get_by_text("Accepted: you handle it now").wait_for()
    assert "2026-11-25" in await w.page.locator(".facts").inner_text()  # Friday 20th + 5 days
    w.check()
    await w.page.context.close()

    # Every page, English and Chinese, phone and desktop.
    await shoot_all(browser, cookies, f"{live}/", "today")
    await shoot_all(browser, cookies, f"{live}/ledger", "ledger")
    await shoot_all(browser, cookies, f"{live}/issue/{fire}", "issue")
    await shoot_all(browser, cookies, f"{live}/settings", "settings")
    await shoot_all(browser, [], f"{live}/", "signin")


async def test_one_time_link_in_a_desktop_browser_and_a_resident_is_refused(
        browser: Any, harness: BotHarness, community: Any, live: str) -> None:
    groups(harness)
    staff = await person(harness, STAFF, "Office Wu")
    await harness.feed(harness.up.text(staff, "/web"))
    text = harness.tg.sent(staff.id, "sendMessage")[-1].plain or ""
    found = re.search(re.escape(live) + r"/login\?t=\S+", text)
    assert found, text
    path = found.group(0)

    w = await new_page(browser, 1280, allowed={403})
    await w.page.goto(path)
    await w.page.get_by_role("heading", name="Today").first.wait_for()
    await w.page.get_by_role("button", name="Sign out").click()
    await w.page.get_by_role("heading", name="Sign in").wait_for()
    # The link works once.
    await w.page.goto(path)
    await w.page.get_by_role("heading", name="This link has been used or has expired").wait_for()
    w.check()
    await w.page.context.close()

    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    now = int(harness.clock().timestamp())
    r = await new_page(browser, allowed={403})
    await r.page.goto(f"{live}/#tgWebAppData={quote(signed_init_data(ann.id, now, name='Ann'))}")
    await r.page.get_by_role("heading", name="This desk is for the office").wait_for()
    assert "Ledger" not in await r.page.content()
    r.check()
    cookies = await r.page.context.cookies()
    await r.page.context.close()
    await shoot_all(browser, cookies, f"{live}/", "office-only", {403})


# ------------------------------------------------------------------ Map, Patrols and cleaning, the chart, htmx

TILE = png(256, 256, (232, 236, 228))  # stands in for OpenStreetMap's tiles: the tests never leave 127.0.0.1


async def serve_tiles(context: Any) -> None:
    """Tile requests are answered here with a plain PNG (no network in tests; real tiles in production)."""
    async def fulfil(route: Any) -> None:
        await route.fulfill(status=200, content_type="image/png", body=TILE)

    await context.route("https://tile.openstreetmap.org/**", fulfil)


async def shoot_all_with_tiles(browser: Any, cookies: list[dict[str, Any]], url: str, name: str,
                               ready: str | None = None) -> None:
    """Like shoot_all, with the map's tiles served; `ready` is a selector to wait for before the picture."""
    for lang, code in (("en", "en"), ("zh", "zh_Hans")):
        for label, width in WIDTHS.items():
            w = await new_page(browser, width)
            await serve_tiles(w.page.context)
            await w.page.context.add_cookies(cookies)
            sep = "&" if "?" in url else "?"
            await w.page.goto(f"{url}{sep}lang={code}")
            if ready:
                await w.page.locator(ready).first.wait_for()
            await shoot(w, f"{name}-{lang}-{label}")
            w.check()
            await w.page.context.close()


async def a_fortnight_of_issues(harness: BotHarness) -> None:
    """Issues over the last two weeks in all three buildings, some with a report pin, some fixed."""
    from datetime import timedelta

    from sqlalchemy import update

    from models import Issue

    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    bob = await person(harness, unique_id(), "Bob", resident_of="b3")
    now = harness.clock()
    plan = [  # (reporter, building, category, days ago, fixed days ago, pin)
        (ann, "b1", "fire_lane", 0, None, (31.23052, 121.47385)), (ann, "b1", "litter", 1, 0, None),
        (bob, "b3", "lighting", 2, None, (31.22915, 121.47185)), (ann, "b2", "parking", 3, 1, None),
        (bob, "b3", "drainage", 5, None, None), (ann, "b1", "clutter", 6, 4, (31.23025, 121.47352)),
        (ann, "b2", "posters", 8, 6, None), (bob, "b3", "litter", 9, 9, None), (ann, "b1", "road", 11, None, None),
        (ann, "b2", "lighting", 12, 10, (31.23112, 121.47468)), (bob, "b3", "dogs", 13, 12, None)]
    for reporter, building, category, ago, fixed, pin in plan:
        issue_id = await file_issue(harness, reporter, building=building, category=category, photos=0,
                                    description=f"{category} near {building}")
        values: dict[str, Any] = {"created_at": now - timedelta(days=ago, hours=1)}
        if fixed is not None:
            values.update(status="resolved", resolved_at=now - timedelta(days=fixed))
        elif ago >= 2:
            values.update(status="in_progress")
        if pin:
            values.update(lat=pin[0], lon=pin[1])
        async with harness.sessions() as s:
            await s.execute(update(Issue).where(Issue.id == issue_id).values(**values))
            await s.commit()


async def test_map_patrols_chart_and_htmx_ledger_in_a_browser(
        browser: Any, harness: BotHarness, community: Any, live: str) -> None:
    from tests.e2e.test_web import patrol_week

    await set_locale(harness, "en")
    groups(harness)
    await patrol_week(harness)  # first: it moves the clock to Friday evening
    await a_fortnight_of_issues(harness)
    staff = await person(harness, STAFF, "Office Wu")
    now = int(harness.clock().timestamp())

    w = await new_page(browser, 1280)
    await serve_tiles(w.page.context)
    await w.page.goto(f"{live}/#tgWebAppData={quote(signed_init_data(staff.id, now))}")
    await w.page.wait_for_url(f"{live}/")
    cookies = await w.page.context.cookies()

    # Today's chart: a picture with a text alternative, and the same figures as a table on request.
    chart = w.page.get_by_role("img", name="The last 14 days")
    await chart.wait_for()
    assert "11 reported" in (await w.page.locator("#chart-desc").text_content() or "")
    table = w.page.locator("table.chart-table")
    assert not await table.is_visible()
    await w.page.get_by_text("Show as a table").focus()
    await w.page.keyboard.press("Enter")
    await table.wait_for()
    assert await table.locator("tbody tr").count() == 14

    # The map: every open issue in the list; those with a place drawn on the map, coloured by status.
    await w.page.get_by_role("link", name="Map").click()
    await w.page.get_by_role("heading", name="Map · Nanchi Community").wait_for()
    listed = w.page.locator("#map-list li")
    assert await listed.count() == 4  # open: 1 new, 3 in progress
    pins = w.page.locator("#map path.leaflet-interactive")
    await pins.first.wait_for()
    assert await pins.count() == 4 and await w.page.locator("#map path.pin-new").count() == 1
    assert await w.page.locator("#map img.leaflet-tile-loaded").count() > 0
    assert await w.page.locator("#map-offline").is_hidden()
    # The ledger's filters apply: one building.
    await w.page.get_by_label("Building").select_option(label="Building 3")
    await w.page.get_by_role("button", name="Show").click()
    await w.page.wait_for_url("**building=**")
    assert await listed.count() == 2
    await w.page.locator("#map path.leaflet-interactive").first.wait_for()
    # A pin's popup links to the issue (built from the list's text, never as markup).
    await w.page.locator("#map path.leaflet-interactive").first.click()
    popup_link = w.page.locator(".leaflet-popup-content a")
    await popup_link.wait_for()
    assert (await popup_link.text_content() or "").startswith("#NC")
    w.check()

    # The ledger with htmx: a filter swaps the results in place and the address follows (no reload);
    # the back button returns to the unfiltered list.
    await w.page.goto(f"{live}/ledger")
    await w.page.evaluate("() => { window.deskNoReload = true; }")
    assert await w.page.locator("table.ledger tbody tr").count() == 11
    await w.page.get_by_label("Category").select_option("lighting")
    await w.page.get_by_role("button", name="Show").click()
    await w.page.wait_for_url("**category=lighting**")
    rows = w.page.locator("table.ledger tbody tr")
    for _ in range(600):
        if await rows.count() == 2:
            break
        await asyncio.sleep(0.1)
    assert await rows.count() == 2
    assert await w.page.evaluate("() => window.deskNoReload === true")  # the same document: htmx swapped it
    await w.page.go_back()
    await w.page.wait_for_url(f"{live}/ledger")
    for _ in range(600):
        if await rows.count() == 11:
            break
        await asyncio.sleep(0.1)
    assert await rows.count() == 11
    w.check()
    await w.page.context.close()

    # Without script the same form is a plain GET, and the map page is its list.
    ctx = await browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    ctx.set_default_timeout(120_000)
    await ctx.add_cookies(cookies)
    plain = await ctx.new_page()
    await plain.goto(f"{live}/ledger")
    await plain.get_by_label("Category").select_option("lighting")
    await plain.get_by_role("button", name="Show").click()
    await plain.wait_for_url("**category=lighting**")
    assert await plain.locator("table.ledger tbody tr").count() == 2
    await plain.goto(f"{live}/map")
    assert await plain.locator("#map").is_hidden() and await plain.locator("#map-list li").count() == 4
    await ctx.close()

    # Tiles that cannot load: the list is all there, and the page says why the map is blank.
    off = await new_page(browser, 390)
    await off.page.context.route("https://tile.openstreetmap.org/**", lambda route: route.abort())
    await off.page.context.add_cookies(cookies)
    await off.page.goto(f"{live}/map")
    await off.page.locator("#map-offline").wait_for()
    assert await off.page.locator("#map-list li").count() == 4
    # Only the refused tiles failed (the test refused them); everything of the desk's own loaded.
    off.problems = [p for p in off.problems if "tile.openstreetmap.org" not in p
                    and "Failed to load resource: net::ERR_FAILED" not in p]
    off.check()
    await off.page.context.close()

    # Screenshots: the Map, Patrols and cleaning and Today (with its chart), English and Chinese, both widths.
    await shoot_all_with_tiles(browser, cookies, f"{live}/map", "map", ready="#map img.leaflet-tile-loaded")
    await shoot_all_with_tiles(browser, cookies, f"{live}/patrols", "patrols")
    await shoot_all_with_tiles(browser, cookies, f"{live}/", "today")


async def test_area_head_sees_their_area_on_the_map_and_patrols_in_a_browser(
        browser: Any, harness: BotHarness, community: Any, live: str) -> None:
    from tests.e2e.test_web import NORTH_HEAD, patrol_week

    groups(harness)
    await a_fortnight_of_issues(harness)
    await patrol_week(harness)
    head = await person(harness, NORTH_HEAD, "Wang")
    now = int(harness.clock().timestamp())
    w = await new_page(browser, 390)
    await serve_tiles(w.page.context)
    await w.page.goto(f"{live}/?lang=en#tgWebAppData={quote(signed_init_data(head.id, now))}")
    await w.page.get_by_role("heading", name="Today · Nanchi Community · North area").wait_for()
    await w.page.goto(f"{live}/map")
    items = await w.page.locator("#map-list li").all_inner_texts()
    assert items and all("Building 3" not in t for t in items)
    await w.page.locator("#map path.leaflet-interactive").first.wait_for()
    # Keyboard: the filters and the list are reachable with Tab, with visible labels.
    await w.page.get_by_label("Status").focus()
    await w.page.keyboard.press("Tab")
    assert await w.page.evaluate("() => document.activeElement.name") == "category"
    await w.page.get_by_role("link", name="Patrols and cleaning").click()
    await w.page.get_by_role("heading", name="Patrols and cleaning · Nanchi Community · North area").wait_for()
    text = await w.page.locator("main").inner_text()
    assert "North loop" in text and "South walk" not in text
    w.check()
    await w.page.context.close()


async def test_last_weeks_overdue_fire_lane_reports_in_three_clicks_then_accept(
        browser: Any, harness: BotHarness, community: Any, live: str) -> None:
    """The desk's "done when": from Today, Ledger → "Overdue, reported in the last 7 days" → the fire lane
    chip finds last week's overdue fire-lane reports (not older ones, not other categories, not those on
    time); one is accepted, and the team chat's card is edited in the Bot API double."""
    from sqlalchemy import update

    from models import Issue

    await set_locale(harness, "en")
    groups(harness)
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    old = await file_issue(harness, ann, description="Old fire lane report")  # ten days before the others
    harness.clock.advance(days=10)
    late = await file_issue(harness, ann, description="Bikes in the fire lane again")
    the_card = next(c for c in reversed(harness.tg.sent(TEAM_B1)) if c.method == "sendPhoto")
    lamp = await file_issue(harness, ann, category="lighting", description="Lamp out")
    on_time = await file_issue(harness, ann, description="Boxes by the exit")
    async with harness.sessions() as s:
        await s.execute(update(Issue).where(Issue.id.in_([old, late, lamp])).values(overdue=True))
        await s.commit()
    staff = await person(harness, STAFF, "Office Wu")
    await photos_in_double(harness)

    w = await new_page(browser, 1280)
    now = int(harness.clock().timestamp())
    await w.page.goto(f"{live}/#tgWebAppData={quote(signed_init_data(staff.id, now))}")
    await w.page.wait_for_url(f"{live}/")
    await w.page.get_by_role("heading", name="Today").first.wait_for()
    await w.page.get_by_role("link", name="Ledger").click()  # 1
    await w.page.get_by_role("link", name="Overdue, reported in the last 7 days").click()  # 2
    await w.page.wait_for_url("**overdue=1**")
    await w.page.get_by_role("navigation", name="Categories").get_by_role(
        "link", name="Blocked fire lane or exit").click()  # 3
    await w.page.wait_for_url("**category=fire_lane**")
    rows = w.page.locator("table.ledger tbody tr")
    assert await rows.count() == 1
    found = await rows.first.inner_text()
    assert "#NC0002" in found and "overdue" in found
    await shoot(w, "ledger-overdue-fire-lane-en-desktop")

    await w.page.get_by_role("link", name="#NC0002").click()
    await w.page.get_by_role("button", name="Accept").click()
    await w.page.get_by_text("Accepted: you handle it now").wait_for()
    await shoot(w, "issue-accepted-en-desktop")
    await settle(harness)
    caption = harness.tg.current(TEAM_B1, the_card.message_id).caption or ""
    assert "#NC0002" in caption and "handled by Office Wu" in caption, caption
    assert on_time and late
    w.check()
    await w.page.context.close()
