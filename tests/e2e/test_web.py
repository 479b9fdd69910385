"""The office's desk (web dashboard): signing in with a one-time /web link or with the Mini App's signed
init data, sessions, CSRF, and who gets in (staff and area heads) and who is politely turned away."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.web import CSP, DeskContext, desk_app
from models import IssueStatus
from tests.conftest import TOKEN, BotHarness, unique_id
from tests.e2e.stories import ann_and_zhang, english_with_ann
from tests.e2e.test_triage import file_issue, groups, person, set_locale

STAFF, NORTH_HEAD = 2002, 2001
WEB_URL = "https://desk.example.org/desk"


def signed_init_data(user_id: int, auth_date: int, token: str = TOKEN, name: str = "Wu") -> str:
    """Init data as Telegram signs it for a Mini App: HMAC-SHA256 keyed with HMAC("WebAppData", token)."""
    fields = {"auth_date": str(auth_date), "query_id": "AAH",
              "user": json.dumps({"id": user_id, "first_name": name}, separators=(",", ":"))}
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


@pytest.fixture
async def desk(harness: BotHarness, settings: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient]:
    monkeypatch.setattr(settings, "web_url", WEB_URL)
    ctx = DeskContext(settings, harness.sessions, harness.clock, harness.bot)
    client = TestClient(TestServer(desk_app(ctx)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def link_path(harness: BotHarness, chat: int) -> str:
    text = harness.tg.sent(chat, "sendMessage")[-1].plain or ""
    found = re.search(r"https://desk\.example\.org(/desk/login\?t=\S+)", text)
    assert found, text
    return found.group(1)


async def test_staff_signs_in_once_with_the_web_link(harness: BotHarness, community: Any, desk: TestClient) -> None:
    groups(harness)
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    await file_issue(harness, ann)  # urgent fire lane: on Today's urgent list
    staff = await person(harness, STAFF, "Office Wu")
    await harness.feed(harness.up.text(staff, "/web"))
    path = link_path(harness, staff.id)
    menu = [c for c in harness.tg.calls_of("setChatMenuButton") if c.chat_id == staff.id and not c.error]
    assert menu and menu[-1].params["menu_button"]["web_app"]["url"] == WEB_URL + "/"

    page = await desk.get("/desk/")
    assert page.status == 200 and "Sign in" in await page.text()  # not signed in yet

    first = await desk.get(path, allow_redirects=False)
    assert first.status == 303
    cookie = first.cookies["desk"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 12 * 3600
    desk.session.cookie_jar.update_cookies({"desk": cookie.value})  # the test server speaks plain http
    today = await desk.get("/desk/")
    body = await today.text()
    assert today.status == 200 and "Today" in body and "#NC0001" in body and "Urgent, not fixed" in body
    assert today.headers["Content-Security-Policy"] == CSP and "'unsafe-inline'" not in CSP
    assert 'href="/desk/settings"' in body  # staff have the Settings tab

    desk.session.cookie_jar.clear()
    again = await desk.get(path, allow_redirects=False)
    assert again.status == 403 and "used or has expired" in await again.text()


async def test_link_expires_after_ten_minutes(harness: BotHarness, community: Any, desk: TestClient) -> None:
    groups(harness)
    staff = await person(harness, STAFF, "Office Wu")
    await harness.feed(harness.up.text(staff, "/web"))
    path = link_path(harness, staff.id)
    harness.clock.advance(minutes=11)
    late = await desk.get(path, allow_redirects=False)
    assert late.status == 403 and "desk" not in late.cookies


async def test_resident_gets_no_link_and_no_desk(harness: BotHarness, community: Any, desk: TestClient) -> None:
    groups(harness)
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    await harness.feed(harness.up.text(ann, "/web"))
    answer = harness.tg.sent(ann.id, "sendMessage")[-1].plain or ""
    assert "for the community office" in answer and "login" not in answer
    assert not harness.tg.calls_of("setChatMenuButton")

    # Inside Telegram, with genuine init data, a resident is shown the polite page, never the ledger.
    now = int(harness.clock().timestamp())
    signin = await desk.post("/desk/tg", data={"init_data": signed_init_data(ann.id, now)})
    assert signin.status == 200
    desk.session.cookie_jar.update_cookies({"desk": signin.cookies["desk"].value})
    page = await desk.get("/desk/")
    assert page.status == 403 and "This desk is for the office" in await page.text()
    for path in ("/desk/ledger", "/desk/issue/1", "/desk/settings"):
        refused = await desk.get(path)
        assert refused.status == 403 and "This desk is for the office" in await refused.text(), path
    desk.session.cookie_jar.clear()
    assert (await desk.get("/desk/ledger")).status == 401  # nobody signed in: the sign-in page


async def test_mini_app_init_data_signs_in_and_forgeries_do_not(harness: BotHarness, community: Any,
                                                                desk: TestClient) -> None:
    groups(harness)
    head = await person(harness, NORTH_HEAD, "Wang", "zh-hans")
    now = int(harness.clock().timestamp())
    forged = signed_init_data(head.id, now, token="123456:someone-else")
    assert (await desk.post("/desk/tg", data={"init_data": forged})).status == 403
    stale = signed_init_data(head.id, now - 2 * 86400)
    assert (await desk.post("/desk/tg", data={"init_data": stale})).status == 403
    assert "desk" not in desk.session.cookie_jar.filter_cookies(desk.make_url("/desk/"))

    ok = await desk.post("/desk/tg", data={"init_data": signed_init_data(head.id, now)})
    assert ok.status == 200 and (await ok.json())["ok"]
    desk.session.cookie_jar.update_cookies({"desk": ok.cookies["desk"].value})
    page = await desk.get("/desk/")
    body = await page.text()
    assert page.status == 200 and "今天" in body

    english = await desk.get("/desk/?lang=en")
    assert "Today" in await english.text()

    # Sign out needs the form's CSRF token.
    assert (await desk.post("/desk/logout", data={"csrf": "wrong"}, allow_redirects=False)).status == 403
    csrf = re.search(r'name="csrf" value="([^"]+)"', await english.text())
    assert csrf
    out = await desk.post("/desk/logout", data={"csrf": csrf.group(1)}, allow_redirects=False)
    assert out.status == 303
    assert "Sign in" in await (await desk.get("/desk/")).text()


async def signed_in(harness: BotHarness, desk: TestClient, telegram_id: int) -> str:
    """Sign in through the Mini App's init data; returns the page's CSRF token."""
    now = int(harness.clock().timestamp())
    ok = await desk.post("/desk/tg", data={"init_data": signed_init_data(telegram_id, now)})
    assert ok.status == 200
    desk.session.cookie_jar.update_cookies({"desk": ok.cookies["desk"].value})
    page = await (await desk.get("/desk/")).text()
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found
    return found.group(1)


async def test_ledger_filters_and_accept_updates_card_and_reporter(harness: BotHarness, community: Any,
                                                                   desk: TestClient) -> None:
    from tests.e2e.test_triage import TEAM_B1, card, settle

    ann = await english_with_ann(harness)
    bob = await person(harness, unique_id(), "Bob", resident_of="b3")
    fire = await file_issue(harness, ann)
    await file_issue(harness, bob, building="b3", category="lighting", description="Lamp out by gate")
    the_card = card(harness)
    staff = await person(harness, STAFF, "Office Wu")
    csrf = await signed_in(harness, desk, staff.id)

    everything = await (await desk.get("/desk/ledger")).text()
    assert "#NC0001" in everything and "#NC0002" in everything
    lamps = await (await desk.get("/desk/ledger", params={"category": "lighting"})).text()
    assert "#NC0002" in lamps and "#NC0001" not in lamps
    by_text = await (await desk.get("/desk/ledger", params={"q": "gate"})).text()
    assert "#NC0002" in by_text and "#NC0001" not in by_text
    by_ref = await (await desk.get("/desk/ledger", params={"q": "#NC0001"})).text()
    assert "#NC0001" in by_ref and "#NC0002" not in by_ref
    assert "No issues match" in await (await desk.get("/desk/ledger", params={"overdue": "1"})).text()

    page = await (await desk.get(f"/desk/issue/{fire}")).text()
    assert "Accept" in page and "Bikes block the fire lane" in page
    # A forged form (no CSRF token) changes nothing.
    assert (await desk.post(f"/desk/issue/{fire}/accept", data={}, allow_redirects=False)).status == 403
    accepted = await desk.post(f"/desk/issue/{fire}/accept", data={"csrf": csrf})
    assert "Accepted: you handle it now" in await accepted.text()
    await settle(harness)
    caption = harness.tg.current(TEAM_B1, the_card.message_id).caption or ""
    assert "handled by Office Wu" in caption, caption
    assert any("accepted by" in t for t in harness.tg.texts(ann.id, as_plain=True))
    again = await desk.post(f"/desk/issue/{fire}/accept", data={"csrf": csrf})
    assert "Nothing changed" in await again.text()


async def test_area_head_sees_only_their_area(harness: BotHarness, community: Any, desk: TestClient) -> None:
    groups(harness)
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    bob = await person(harness, unique_id(), "Bob", resident_of="b3")
    await file_issue(harness, ann)
    south = await file_issue(harness, bob, building="b3", category="lighting")
    head = await person(harness, NORTH_HEAD, "Wang")
    await signed_in(harness, desk, head.id)
    ledger = await (await desk.get("/desk/ledger", params={"lang": "en"})).text()
    assert "#NC0001" in ledger and "#NC0002" not in ledger
    # Another area's issue by its id: as if it did not exist.
    assert (await desk.get(f"/desk/issue/{south}")).status == 404


async def test_staff_changes_a_deadline_and_the_next_report_uses_it(harness: BotHarness, community: Any,
                                                                    desk: TestClient) -> None:
    from sqlalchemy import select

    from models import Issue, SettingChange

    await set_locale(harness, "en")
    groups(harness)
    staff = await person(harness, STAFF, "Office Wu")
    csrf = await signed_in(harness, desk, staff.id)
    page = await (await desk.get("/desk/settings")).text()
    assert "Litter / dirty spot" in page and "Deadline days" in page

    bad = await desk.post("/desk/settings/category/litter", data={
        "csrf": csrf, "en": "Litter", "zh": "垃圾", "emoji": "🗑", "deadline_days": "0"})
    assert "Deadline days must be a whole number from 1 to 60" in await bad.text()
    saved = await desk.post("/desk/settings/category/litter", data={
        "csrf": csrf, "en": "Litter / dirty spot", "zh": "垃圾/卫生死角", "emoji": "🗑", "deadline_days": "5"})
    body = await saved.text()
    assert "Saved" in body and "categories.litter" in body and "Office Wu" in body
    assert "<code>deadline_days: 1</code> → <code>deadline_days: 5</code>" in body
    late = await desk.post("/desk/settings/value/digest_time", data={"csrf": csrf, "value": "25:00"})
    assert "Please write a time like 08:00" in await late.text()
    assert "Saved" in await (await desk.post("/desk/settings/value/digest_time",
                                             data={"csrf": csrf, "value": "07:30"})).text()

    # The next litter report, once accepted, is due five days later (it was one).
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    issue_id = await file_issue(harness, ann, category="litter", photos=0)
    await desk.post(f"/desk/issue/{issue_id}/accept", data={"csrf": csrf})
    async with harness.sessions() as s:
        issue = await s.get(Issue, issue_id)
        assert issue is not None and issue.deadline_at is not None
        assert (issue.deadline_at - harness.clock()).days >= 4
        changes = (await s.execute(select(SettingChange.key))).scalars().all()
    assert sorted(changes) == ["categories.litter", "digest_time"]


async def test_area_head_has_no_settings_and_forged_forms_fail(harness: BotHarness, community: Any,
                                                               desk: TestClient) -> None:
    groups(harness)
    head = await person(harness, NORTH_HEAD, "Wang")
    csrf = await signed_in(harness, desk, head.id)
    assert "/desk/settings" not in await (await desk.get("/desk/")).text()
    assert (await desk.get("/desk/settings")).status == 404
    forged = await desk.post("/desk/settings/value/digest_time", data={"csrf": csrf, "value": "07:00"},
                             allow_redirects=False)
    assert forged.status == 404


async def test_photos_come_through_the_bots_proxy_never_a_telegram_url(harness: BotHarness, community: Any,
                                                                       desk: TestClient) -> None:
    from sqlalchemy import select

    from models import IssuePhoto

    groups(harness)
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    bob = await person(harness, unique_id(), "Bob", resident_of="b3")
    fire = await file_issue(harness, ann, photos=2)
    south = await file_issue(harness, bob, building="b3", photos=1)
    async with harness.sessions() as s:
        mine = (await s.execute(select(IssuePhoto).where(IssuePhoto.issue_id == fire)
                                .order_by(IssuePhoto.position))).scalars().all()
        theirs = (await s.execute(select(IssuePhoto).where(IssuePhoto.issue_id == south))).scalars().one()
    jpeg = b"\xff\xd8\xff\xe0" + b"x" * 100
    harness.tg.register_file(mine[0].file_id, content=jpeg)
    head = await person(harness, NORTH_HEAD, "Wang")
    await signed_in(harness, desk, head.id)
    page = await (await desk.get(f"/desk/issue/{fire}")).text()
    assert f"/desk/photo/{mine[0].id}" in page and f"/desk/photo/{mine[1].id}" in page
    assert TOKEN not in page and "api.telegram.org" not in page
    got = await desk.get(f"/desk/photo/{mine[0].id}")
    assert got.status == 200 and await got.read() == jpeg and got.content_type == "image/jpeg"
    assert "private" in got.headers["Cache-Control"]
    downloads = len(harness.tg.calls_of("getFile"))
    assert await (await desk.get(f"/desk/photo/{mine[0].id}")).read() == jpeg
    assert len(harness.tg.calls_of("getFile")) == downloads  # served from the cache
    # Another area's photo: not found, and Telegram is not asked.
    assert (await desk.get(f"/desk/photo/{theirs.id}")).status == 404
    assert len(harness.tg.calls_of("getFile")) == downloads


# ------------------------------------------------------------------ Map, Patrols and cleaning, the chart, htmx


async def _place(harness: BotHarness, issue_id: int, lat: float | None, lon: float | None) -> None:
    """A report pin, as when the reporter sends a location."""
    from sqlalchemy import update

    from models import Issue

    async with harness.sessions() as s:
        await s.execute(update(Issue).where(Issue.id == issue_id).values(lat=lat, lon=lon))
        await s.commit()


async def _building_id(harness: BotHarness, key: str) -> int:
    from sqlalchemy import select

    from models import Building

    async with harness.sessions() as s:
        return (await s.execute(select(Building.id).where(Building.key == key))).scalar_one()


async def test_map_lists_every_issue_with_its_place_and_keeps_area_heads_to_their_area(
        harness: BotHarness, community: Any, desk: TestClient) -> None:
    groups(harness)
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    bob = await person(harness, unique_id(), "Bob", resident_of="b3")
    pinned = await file_issue(harness, ann)
    await _place(harness, pinned, 31.23051, 121.47391)
    await file_issue(harness, ann, category="litter", photos=0, description="Bags by the bins")
    await file_issue(harness, bob, building="b3", category="lighting", description="Lamp out by gate")
    staff = await person(harness, STAFF, "Office Wu")
    await signed_in(harness, desk, staff.id)

    page = await desk.get("/desk/map", params={"lang": "en"})
    body = await page.text()
    assert page.status == 200 and "Map" in body
    # The list is the page: every issue, a link to it, with the coordinates the script draws from.
    assert 'id="map-list"' in body and body.count('<li class="g-') == 3
    assert 'data-lat="31.23051" data-lon="121.47391"' in body and "location pin" in body
    assert 'data-lat="31.229" data-lon="121.472"' in body  # Building 3's coordinates: no pin sent
    assert 'id="map" class="map" hidden' in body  # the script shows the map; without it, the list
    assert "/static/vendor/leaflet/leaflet.js" in body and "/static/pages_map.js" in body
    assert "<script>" not in body and " style=" not in body  # nothing the strict CSP would refuse
    csp = page.headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://tile.openstreetmap.org;" in csp and "'unsafe-inline'" not in csp
    # The ledger's filters: category, building, overdue.
    lamps = await (await desk.get("/desk/map", params={"category": "lighting"})).text()
    assert "#NC0003" in lamps and "#NC0001" not in lamps
    b1 = await _building_id(harness, "b1")
    in_b1 = await (await desk.get("/desk/map", params={"building": str(b1)})).text()
    assert "#NC0001" in in_b1 and "#NC0002" in in_b1 and "#NC0003" not in in_b1
    assert "No issues match" in await (await desk.get("/desk/map", params={"overdue": "1"})).text()

    desk.session.cookie_jar.clear()
    head = await person(harness, NORTH_HEAD, "Wang")
    await signed_in(harness, desk, head.id)
    north = await (await desk.get("/desk/map")).text()
    assert "#NC0001" in north and "#NC0002" in north and "#NC0003" not in north
    assert "Building 3" not in north  # not even as a filter choice
    # Asking for the other area's building by id finds nothing: the area is re-checked in the query.
    b3 = await _building_id(harness, "b3")
    forged = await (await desk.get("/desk/map", params={"building": str(b3), "status": ""})).text()
    assert "#NC0003" not in forged and "No issues match" in forged


async def test_map_and_patrols_escape_what_people_typed(harness: BotHarness, community: Any,
                                                        desk: TestClient) -> None:
    from datetime import date

    from sqlalchemy import select, update

    from models import Community, PatrolShift
    from tests.unit.test_patrols import north, svc, volunteer
    from tests.unit.test_patrols import person as patrol_person

    await set_locale(harness, "en")
    groups(harness)
    staff = await person(harness, STAFF, "Office Wu")
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    await file_issue(harness, ann)
    evil = "<img src=x onerror=alert(1)>"
    async with harness.sessions() as s:
        community_row = (await s.execute(select(Community))).scalars().first()
        assert community_row is not None
        # Staff may rename a category: its name reaches the map's list and data attributes.
        await s.execute(update(Community).where(Community.id == community_row.id).values(settings={
            **(community_row.settings or {}),
            "categories": [{"key": "fire_lane", "en": f"Fire {evil}", "zh": "消防", "emoji": "🚒",
                            "deadline_days": 1, "urgent": True}]}))
        patrols = svc(s, harness.clock)
        _m, head = await patrol_person(s, NORTH_HEAD, "Zhou")
        route = await patrols.create_route(head, await north(s, community_row), f"Loop {evil}")
        await patrols.add_template(head, route.id, weekdays=[4], start_minute=19 * 60, end_minute=21 * 60,
                                   min_volunteers=2, max_volunteers=3)
        await patrols.generate(head, [route.id], 1)
        li, li_actor = await volunteer(s, community_row, unique_id(), "<b>Li</b>")
        shift = (await s.execute(select(PatrolShift).where(
            PatrolShift.route_id == route.id, PatrolShift.local_date == date(2026, 11, 20)))).scalar_one()
        await patrols.take(li_actor, li, shift.id)
        await s.commit()
    await signed_in(harness, desk, staff.id)
    body = await (await desk.get("/desk/map")).text()
    assert "Fire &lt;img src=x onerror=alert(1)&gt;" in body and evil not in body
    page = await (await desk.get("/desk/patrols")).text()
    assert "Loop &lt;img src=x onerror=alert(1)&gt;" in page and evil not in page
    assert "&lt;b&gt;Li&lt;/b&gt;" in page and "<b>Li</b>" not in page
    assert "1 / 2" in page and "1 short" in page


async def patrol_week(harness: BotHarness, volunteer_name: str = "Li") -> None:
    """A North route (one of two volunteers on Friday night's shift, checked in and out: two hours) and a
    South route (nobody yet), two weeks of Friday shifts each; a cleaning day for Building 1 next Saturday
    with one resident coming. The clock ends at 21:05 on Friday 20 November."""
    from datetime import date, timedelta

    from sqlalchemy import select

    from bot.services.access import Place
    from bot.services.cleaning import CleaningService, Draft
    from bot.services.members import MembersService
    from models import Area, Building, Community, PatrolShift
    from tests.unit.test_patrols import north, svc, volunteer
    from tests.unit.test_patrols import person as patrol_person

    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        south = (await s.execute(select(Area).where(Area.key == "south"))).scalar_one()
        patrols = svc(s, harness.clock)
        _m, north_head = await patrol_person(s, NORTH_HEAD, "Zhou")
        _m, south_head = await patrol_person(s, 2003, "Qian")
        loop = await patrols.create_route(north_head, await north(s, c), "North loop")
        walk = await patrols.create_route(south_head, Place(c.id, south.id), "South walk")
        for r, head in ((loop, north_head), (walk, south_head)):
            await patrols.add_template(head, r.id, weekdays=[4], start_minute=19 * 60, end_minute=21 * 60,
                                       min_volunteers=2, max_volunteers=3)
            await patrols.generate(head, [r.id], 2)
        li, li_actor = await volunteer(s, c, unique_id(), volunteer_name)
        tonight = (await s.execute(select(PatrolShift).where(
            PatrolShift.route_id == loop.id, PatrolShift.local_date == date(2026, 11, 20)))).scalar_one()
        await patrols.take(li_actor, li, tonight.id)
        harness.clock.set(tonight.starts_at + timedelta(minutes=5))
        await patrols.check_in(li, tonight.id)
        harness.clock.set(tonight.starts_at + timedelta(hours=2, minutes=5))
        await patrols.check_out(li, tonight.id, "All quiet")
        # A cleaning day for Building 1 next Saturday, with one resident coming.
        members = MembersService(s, harness.clock)
        captain = await members.by_telegram_id(3001)
        assert captain is not None
        b1 = (await s.execute(select(Building.id).where(Building.key == "b1"))).scalar_one()
        cleaning = CleaningService(s, harness.clock)
        await cleaning.create(await members.actor(captain), Draft(community_id=c.id, building_ids=[b1], freq="once",
                                                                 start_date=date(2026, 11, 28)))
        day_id = (await cleaning.upcoming(await members.actor(captain), captain, c.id, manage=True))[0].day.id
        resident = await members.by_telegram_id(ann.id)
        assert resident is not None
        await cleaning.rsvp(await members.actor(resident), resident, day_id, True)
        await s.commit()


async def test_patrols_and_cleaning_page_roster_gaps_hours_rsvps_by_area(harness: BotHarness, community: Any,
                                                                         desk: TestClient) -> None:
    await set_locale(harness, "en")
    groups(harness)
    await patrol_week(harness)
    staff = await person(harness, STAFF, "Office Wu")
    await signed_in(harness, desk, staff.id)
    page = await desk.get("/desk/patrols")
    body = await page.text()
    assert page.status == 200 and "Patrol roster, week of 2026-11-16 to 2026-11-22" in body
    assert "North loop" in body and "South walk" in body
    assert body.count("1 / 2") == 1 and body.count("0 / 2") == 1  # have / need on each route
    assert "2 short" in body and "1 short" in body
    assert ">Li<" in body and ">2.0<" in body  # who, and the hours from check-in to check-out
    assert "Upcoming cleaning days" in body and "Building 1" in body
    next_week = await (await desk.get("/desk/patrols", params={"week": "2026-11-25"})).text()
    assert "week of 2026-11-23 to 2026-11-29" in next_week and "Li" not in next_week

    desk.session.cookie_jar.clear()
    await person(harness, 2003, "Qian")
    await signed_in(harness, desk, 2003)
    theirs = await (await desk.get("/desk/patrols")).text()
    assert "South walk" in theirs and "North loop" not in theirs
    assert "Building 1" not in theirs  # the North area's cleaning day is not theirs
    zh = await (await desk.get("/desk/patrols", params={"lang": "zh_Hans"})).text()
    assert "巡逻与清洁" in zh and "即将到来的清洁日" in zh


async def test_today_chart_counts_the_last_14_days_and_reads_as_a_table(harness: BotHarness, community: Any,
                                                                        desk: TestClient) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from models import Issue

    groups(harness)
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    old = await file_issue(harness, ann, photos=0)
    await file_issue(harness, ann, category="litter", photos=0)
    async with harness.sessions() as s:  # one reported 3 days ago, fixed yesterday; one older than the chart
        now = harness.clock()
        await s.execute(update(Issue).where(Issue.id == old).values(
            created_at=now - timedelta(days=3), resolved_at=now - timedelta(days=1), status="resolved"))
        s.add(Issue(community_id=1, number=99, reference="NC0099", category="litter",
                    created_at=now - timedelta(days=20)))
        await s.commit()
    staff = await person(harness, STAFF, "Office Wu")
    await signed_in(harness, desk, staff.id)
    body = await (await desk.get("/desk/", params={"lang": "en"})).text()
    assert "The last 14 days" in body and 'role="img"' in body
    assert "2026-11-07 to 2026-11-20: 2 reported, 1 resolved." in body  # the chart's text alternative
    assert "<tr><td>2026-11-17</td><td>1</td><td>0</td></tr>" in body
    assert "<tr><td>2026-11-19</td><td>0</td><td>1</td></tr>" in body
    assert "<tr><td>2026-11-20</td><td>1</td><td>0</td></tr>" in body
    zh = await (await desk.get("/desk/", params={"lang": "zh_Hans"})).text()
    assert "近14天" in zh and "共上报2件，办结1件" in zh


async def test_new_pages_turn_residents_away_and_vendored_assets_are_served(harness: BotHarness, community: Any,
                                                                            desk: TestClient) -> None:
    groups(harness)
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    await signed_in_anyone(harness, desk, ann.id)
    for path in ("/desk/map", "/desk/patrols"):
        refused = await desk.get(path)
        assert refused.status == 403 and "This desk is for the office" in await refused.text(), path
    desk.session.cookie_jar.clear()
    assert (await desk.get("/desk/map")).status == 401
    for asset in ("vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css", "vendor/leaflet/LICENSE",
                  "vendor/htmx/htmx.min.js", "vendor/htmx/LICENSE", "pages_map.js", "pages.css"):
        got = await desk.get(f"/desk/static/{asset}")
        assert got.status == 200, asset


async def signed_in_anyone(harness: BotHarness, desk: TestClient, telegram_id: int) -> None:
    now = int(harness.clock().timestamp())
    ok = await desk.post("/desk/tg", data={"init_data": signed_init_data(telegram_id, now)})
    assert ok.status == 200
    desk.session.cookie_jar.update_cookies({"desk": ok.cookies["desk"].value})


async def test_ledger_filters_with_htmx_and_still_as_a_plain_form(harness: BotHarness, community: Any,
                                                                  desk: TestClient) -> None:
    groups(harness)
    staff = await person(harness, STAFF, "Office Wu")
    await signed_in(harness, desk, staff.id)
    body = await (await desk.get("/desk/ledger", params={"lang": "en"})).text()
    # Without script: a GET form to the same URL. With htmx: only the results are swapped, URL pushed.
    assert 'method="get" action="/desk/ledger"' in body
    assert 'hx-get="/desk/ledger"' in body and 'hx-select="#ledger-results"' in body and 'hx-push-url="true"' in body
    assert 'id="ledger-results"' in body
    assert '"includeIndicatorStyles": false' in body and "/static/vendor/htmx/htmx.min.js" in body


def timeline(page: str) -> str:
    return page.split('class="timeline"', 1)[1] if 'class="timeline"' in page else ""


async def test_desk_assigns_sets_a_deadline_and_notes_like_the_card(harness: BotHarness, community: Any,
                                                                     desk: TestClient) -> None:
    """Assign, deadline and note on the desk go through TriageService: the captain is told, the team chat's
    card and the reporter follow; a second identical POST changes nothing and says so."""
    from tests.e2e.test_triage import CAPTAIN, TEAM_B1, card, issue, settle

    ann, zhang = await ann_and_zhang(harness)
    fire = await file_issue(harness, ann)
    the_card = card(harness)
    staff = await person(harness, STAFF, "Office Wu")
    csrf = await signed_in(harness, desk, staff.id)

    page = await (await desk.get(f"/desk/issue/{fire}")).text()
    for action in ("accept", "assign", "deadline", "note"):
        assert f"/desk/issue/{fire}/{action}" in page, action
    assert f"/desk/issue/{fire}/resolve" not in page  # a new issue is accepted or assigned first, as on the card
    assert f"/desk/issue/{fire}/verify" not in page
    assert "Zhang" in page  # the same candidates the card's "Assign" offers

    async with harness.sessions() as s:
        from bot.services.members import MembersService

        captain_id = (await MembersService(s, harness.clock).by_telegram_id(CAPTAIN)).id
    assigned = await desk.post(f"/desk/issue/{fire}/assign", data={"csrf": csrf, "member": str(captain_id)})
    assert "Assigned." in await assigned.text()
    await settle(harness)
    assert any("was assigned to you" in t for t in harness.tg.texts(zhang.id, as_plain=True))
    assert any("work has been assigned" in t for t in harness.tg.texts(ann.id, as_plain=True))
    assert "Zhang" in (harness.tg.current(TEAM_B1, the_card.message_id).caption or "")
    again = await desk.post(f"/desk/issue/{fire}/assign", data={"csrf": csrf, "member": str(captain_id)})
    assert "Nothing changed" in await again.text()
    # Only someone the bot offers: a resident's member id is refused with a line, nothing changes.
    async with harness.sessions() as s:
        ann_id = (await MembersService(s, harness.clock).by_telegram_id(ann.id)).id
    odd = await desk.post(f"/desk/issue/{fire}/assign", data={"csrf": csrf, "member": str(ann_id)})
    assert "be given this issue" in await odd.text()
    assert (await issue(harness, fire)).assignee_id == captain_id

    past = await desk.post(f"/desk/issue/{fire}/deadline", data={"csrf": csrf, "day": "2020-01-01"})
    assert "already passed" in await past.text()
    junk = await desk.post(f"/desk/issue/{fire}/deadline", data={"csrf": csrf, "day": "soon"})
    assert "read that date" in await junk.text()
    told = len(harness.tg.texts(ann.id))
    moved = await desk.post(f"/desk/issue/{fire}/deadline", data={"csrf": csrf, "day": "2026-11-27"})
    assert "New deadline set" in await moved.text()
    await settle(harness)
    assert "new deadline" in harness.tg.texts(ann.id, as_plain=True)[-1]
    assert len(harness.tg.texts(ann.id)) == told + 1
    same = await desk.post(f"/desk/issue/{fire}/deadline", data={"csrf": csrf, "day": "2026-11-27"})
    assert "Nothing changed" in await same.text()

    told = len(harness.tg.texts(ann.id))
    noted = await desk.post(f"/desk/issue/{fire}/note", data={"csrf": csrf, "note": "Call the <b>fire</b> brigade"})
    body = await noted.text()
    assert "Note added" in body and "Call the &lt;b&gt;fire&lt;/b&gt; brigade" in timeline(body)
    empty = await desk.post(f"/desk/issue/{fire}/note", data={"csrf": csrf, "note": "  "})
    assert "Please write a few words" in await empty.text()
    await settle(harness)
    assert len(harness.tg.texts(ann.id)) == told  # an internal note: the reporter is not told


async def test_desk_actions_are_refused_without_csrf_outside_the_area_and_to_residents(
        harness: BotHarness, community: Any, desk: TestClient) -> None:
    from tests.e2e.test_triage import issue

    ann = await english_with_ann(harness)
    bob = await person(harness, unique_id(), "Bob", resident_of="b3")
    north = await file_issue(harness, ann)
    south = await file_issue(harness, bob, building="b3", category="lighting")
    head = await person(harness, NORTH_HEAD, "Wang")
    csrf = await signed_in(harness, desk, head.id)
    forms = {"accept": {}, "assign": {"member": "office"}, "deadline": {"day": "2026-11-28"},
             "note": {"note": "x"}, "verify": {}, "notacc": {"reason": "x"}}
    for action, data in forms.items():
        # No CSRF token (a forged form from another site): refused, nothing changes.
        forged = await desk.post(f"/desk/issue/{north}/{action}", data=data, allow_redirects=False)
        assert forged.status == 403, action
        # Another area's issue: as if it did not exist.
        other = await desk.post(f"/desk/issue/{south}/{action}", data={"csrf": csrf, **data}, allow_redirects=False)
        assert other.status == 404, action
    assert (await desk.post(f"/desk/issue/{north}/explode", data={"csrf": csrf})).status == 404
    # The area head may not verify what is not waiting for a check: nothing changes, and the page says so.
    refused = await desk.post(f"/desk/issue/{north}/verify", data={"csrf": csrf})
    assert "Nothing changed" in await refused.text()
    assert (await issue(harness, north)).status == IssueStatus.NEW
    assert (await issue(harness, south)).status == IssueStatus.NEW

    # A resident, signed in with genuine init data, is turned away before any action.
    desk.session.cookie_jar.clear()
    now = int(harness.clock().timestamp())
    ok = await desk.post("/desk/tg", data={"init_data": signed_init_data(ann.id, now)})
    desk.session.cookie_jar.update_cookies({"desk": ok.cookies["desk"].value})
    for action, data in forms.items():
        resident = await desk.post(f"/desk/issue/{north}/{action}", data={"csrf": "any", **data})
        assert resident.status == 403 and "This desk is for the office" in await resident.text(), action
    assert (await issue(harness, north)).status == IssueStatus.NEW


JPEG = b"\xff\xd8\xff\xe0" + b"after-photo" * 50


async def resolve_on_desk(harness: BotHarness, desk: TestClient, csrf: str, issue_id: int, data: bytes = JPEG,
                          note: str = "") -> str:
    from aiohttp import FormData

    form = FormData()
    form.add_field("csrf", csrf)
    form.add_field("note", note)
    form.add_field("photo", data, filename="after.jpg", content_type="image/jpeg")
    return await (await desk.post(f"/desk/issue/{issue_id}/resolve", data=form)).text()


async def test_desk_resolves_with_an_after_photo_sent_through_telegram(harness: BotHarness, community: Any,
                                                                       desk: TestClient) -> None:
    """The uploaded photo goes to Telegram (the person's own chat) through the outbox; with the file id it
    gets, the issue is resolved by TriageService.resolve: the reporter gets before → after and the question."""
    from sqlalchemy import select

    from models import IssuePhoto
    from tests.e2e.test_triage import issue, settle

    ann = await english_with_ann(harness)
    fire = await file_issue(harness, ann, photos=1)
    staff = await person(harness, STAFF, "Office Wu")
    csrf = await signed_in(harness, desk, staff.id)
    await desk.post(f"/desk/issue/{fire}/accept", data={"csrf": csrf})
    page = await (await desk.get(f"/desk/issue/{fire}")).text()
    assert 'enctype="multipart/form-data"' in page and f"/desk/issue/{fire}/resolve" in page

    assert "Please send a photo" in await resolve_on_desk(harness, desk, csrf, fire, data=b"")
    big = b"\xff\xd8" + b"x" * (5 * 1024 * 1024 + 10)
    assert "too big" in await resolve_on_desk(harness, desk, csrf, fire, data=big)
    assert "Please upload a photo" in await resolve_on_desk(harness, desk, csrf, fire, data=b"GIF89a-not-a-photo")

    body = await resolve_on_desk(harness, desk, csrf, fire, note="Bikes moved to the shed")
    assert "on its way to Telegram" in body
    assert (await issue(harness, fire)).status == IssueStatus.ACCEPTED  # not before Telegram has the photo
    await harness.deliver()
    upload = harness.tg.sent(staff.id, "sendPhoto")[-1]
    assert "uploaded on the desk" in (upload.plain or "")
    file_id = upload.result.photo[-1].file_id
    await settle(harness)
    fixed = await issue(harness, fire)
    assert fixed.status == IssueStatus.RESOLVED
    async with harness.sessions() as s:
        after = (await s.execute(select(IssuePhoto.file_id).where(
            IssuePhoto.issue_id == fire, IssuePhoto.kind == "after"))).scalars().all()
        from models import OutboxItem

        kept = (await s.execute(select(OutboxItem.payload).where(OutboxItem.kind == "desk_after_photo"))).scalar_one()
    assert after == [file_id]
    assert "b64" not in str(kept)  # the bytes left the outbox once Telegram had them
    album = harness.tg.sent(ann.id, "sendMediaGroup")[-1]
    assert file_id in str(album.params) and "Bikes moved to the shed" in str(album.params)
    assert any("Is it really fixed?" in t for t in harness.tg.texts(ann.id, as_plain=True))

    # The same upload again: nothing is sent twice and nothing changes.
    sends = len(harness.tg.sent(staff.id, "sendPhoto"))
    assert "Nothing changed" in await resolve_on_desk(harness, desk, csrf, fire)
    await harness.deliver()
    assert len(harness.tg.sent(staff.id, "sendPhoto")) == sends


async def test_desk_verifies_or_sends_back_a_fix_awaiting_the_check(harness: BotHarness, community: Any,
                                                                    desk: TestClient) -> None:
    from tests.e2e.test_triage import issue, press, settle

    ann, zhang = await ann_and_zhang(harness)
    staff = await person(harness, STAFF, "Office Wu")
    shed = await file_issue(harness, ann, category="construction", photos=1, description="A shed on the lawn")
    csrf = await signed_in(harness, desk, staff.id)
    await desk.post(f"/desk/issue/{shed}/accept", data={"csrf": csrf})
    await resolve_on_desk(harness, desk, csrf, shed)
    await harness.deliver()
    await settle(harness)
    question = next(c for c in reversed(harness.tg.sent(ann.id)) if "Is it really fixed?" in (c.plain or ""))
    await press(harness, question, ann, "Fixed, thank you")
    await harness.deliver()
    assert (await issue(harness, shed)).status == IssueStatus.VERIFYING
    # Today names it among the exceptions, as the digest does, with a link to the issue.
    today = await (await desk.get("/desk/")).text()
    waiting = today.split("Awaiting verification", 1)[1].split("</section>", 1)[0]
    assert f'href="/desk/issue/{shed}"' in waiting

    page = await (await desk.get(f"/desk/issue/{shed}")).text()
    assert f"/desk/issue/{shed}/verify" in page and f"/desk/issue/{shed}/notacc" in page
    assert f"/desk/issue/{shed}/accept" not in page and f"/desk/issue/{shed}/resolve" not in page
    empty = await desk.post(f"/desk/issue/{shed}/notacc", data={"csrf": csrf, "reason": " "})
    assert "Please write a few words" in await empty.text()
    back = await desk.post(f"/desk/issue/{shed}/notacc", data={"csrf": csrf, "reason": "The roof is still there"})
    assert "Not accepted" in await back.text()
    await settle(harness)
    assert (await issue(harness, shed)).status == IssueStatus.REOPENED
    assert any("still being worked on" in t for t in harness.tg.texts(ann.id, as_plain=True))
    assert "Nothing changed" in await (await desk.post(
        f"/desk/issue/{shed}/notacc", data={"csrf": csrf, "reason": "The roof is still there"})).text()

    # Fixed again, confirmed again: now verified and closed out from the desk.
    await resolve_on_desk(harness, desk, csrf, shed, data=JPEG + b"2")
    await harness.deliver()
    await settle(harness)
    question = next(c for c in reversed(harness.tg.sent(ann.id)) if "Is it really fixed?" in (c.plain or ""))
    await press(harness, question, ann, "Fixed, thank you")
    await harness.deliver()
    assert (await issue(harness, shed)).status == IssueStatus.VERIFYING
    closed = await desk.post(f"/desk/issue/{shed}/verify", data={"csrf": csrf, "note": "Checked on site"})
    assert "Verified and closed out" in await closed.text()
    await settle(harness)
    found = await issue(harness, shed)
    assert found.status == IssueStatus.CLOSED and found.close_how == "verified"
    assert any("checked on site and is now closed out" in t for t in harness.tg.texts(ann.id, as_plain=True))
    assert "Nothing changed" in await (await desk.post(f"/desk/issue/{shed}/verify", data={"csrf": csrf})).text()
    assert zhang  # the captain's team chat card followed too (checked in test_closeout)


async def test_export_this_view_writes_exactly_the_filtered_rows(harness: BotHarness, community: Any,
                                                                desk: TestClient) -> None:
    import csv
    import io

    from openpyxl import load_workbook

    from bot.notices.ledger import COLUMNS

    await set_locale(harness, "en")
    groups(harness)
    ann = await person(harness, unique_id(), "Ann Reporter", resident_of="b1")
    bob = await person(harness, unique_id(), "Bob", resident_of="b3")
    await file_issue(harness, ann)
    await file_issue(harness, ann, category="lighting", description="Lamp out in the hall")
    await file_issue(harness, bob, building="b3", category="lighting", description="Lamp out by gate")
    staff = await person(harness, STAFF, "Office Wu")
    await signed_in(harness, desk, staff.id)

    ledger = await (await desk.get("/desk/ledger", params={"category": "lighting"})).text()
    assert "/desk/ledger/export?category=lighting&amp;fmt=csv" in ledger
    got = await desk.get("/desk/ledger/export", params={"category": "lighting", "fmt": "csv"})
    assert got.status == 200 and got.content_type == "text/csv" and "attachment" in got.headers["Content-Disposition"]
    raw = await got.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == [str(h) for _k, h in COLUMNS]  # the bot's ledger columns, reporter included for staff
    assert [r[0] for r in rows[1:]] == ["#NC0003", "#NC0002"]  # the view's order: newest first
    assert rows[1][rows[0].index("Reporter")] == "Bob"

    xlsx = await desk.get("/desk/ledger/export", params={"category": "lighting", "q": "hall", "fmt": "xlsx"})
    assert xlsx.status == 200
    sheet = load_workbook(io.BytesIO(await xlsx.read()), read_only=True).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert [r[0] for r in values[1:]] == ["#NC0002"]

    # An area head's export: their area only, and no reporter column (the bot's export shows it to staff).
    desk.session.cookie_jar.clear()
    head = await person(harness, NORTH_HEAD, "Wang")
    await signed_in(harness, desk, head.id)
    mine = await (await desk.get("/desk/ledger/export", params={"fmt": "csv"})).read()
    rows = list(csv.reader(io.StringIO(mine.decode("utf-8-sig"))))
    assert "Reporter" not in rows[0] and "Ann Reporter" not in mine.decode("utf-8-sig")
    assert sorted(r[0] for r in rows[1:]) == ["#NC0001", "#NC0002"]
    # Residents get no export.
    desk.session.cookie_jar.clear()
    now = int(harness.clock().timestamp())
    ok = await desk.post("/desk/tg", data={"init_data": signed_init_data(ann.id, now)})
    desk.session.cookie_jar.update_cookies({"desk": ok.cookies["desk"].value})
    assert (await desk.get("/desk/ledger/export", params={"fmt": "csv"})).status == 403


async def test_ledger_presets_find_last_weeks_overdue_fire_lane_reports(harness: BotHarness, community: Any,
                                                                      desk: TestClient) -> None:
    from sqlalchemy import update

    from models import Issue

    ann = await english_with_ann(harness)
    late = await file_issue(harness, ann)
    await file_issue(harness, ann, category="lighting")
    await file_issue(harness, ann)  # on time
    async with harness.sessions() as s:
        await s.execute(update(Issue).where(Issue.id.in_([late, late + 1])).values(overdue=True))
        await s.commit()
    staff = await person(harness, STAFF, "Office Wu")
    await signed_in(harness, desk, staff.id)
    ledger = await (await desk.get("/desk/ledger")).text()
    preset = re.search(r'href="([^"]+)">Overdue, reported in the last 7 days<', ledger)
    assert preset
    overdue = await (await desk.get(preset.group(1).replace("&amp;", "&"))).text()
    assert "#NC0001" in overdue and "#NC0002" in overdue and "#NC0003" not in overdue
    chip = re.search(r'href="(\?[^"]*category=fire_lane[^"]*)"', overdue)
    assert chip
    fire = await (await desk.get("/desk/ledger" + chip.group(1).replace("&amp;", "&"))).text()
    assert "#NC0001" in fire and "#NC0002" not in fire and "#NC0003" not in fire


async def test_ledger_text_search_uses_the_index_and_follows_changes(harness: BotHarness, community: Any,
                                                                     desk: TestClient) -> None:
    """Free text goes through the search index (FTS5 trigrams on SQLite, pg_trgm on PostgreSQL): any case,
    Chinese without spaces, two-character words too (a scan), and a description changed or scrubbed later
    (erasure) is found by its new text only."""
    from sqlalchemy import update

    from models import Issue

    ann = await english_with_ann(harness)
    await file_issue(harness, ann, description="消防通道被电动车占用")
    lamp = await file_issue(harness, ann, category="lighting", description="Lamp out by the gate")
    staff = await person(harness, STAFF, "Office Wu")
    await signed_in(harness, desk, staff.id)

    async def found(text: str) -> set[str]:
        page = await (await desk.get("/desk/ledger", params={"q": text})).text()
        return set(re.findall(r">#(NC\d+)<", page))

    assert await found("消防通道") == {"NC0001"}
    assert await found("通道") == {"NC0001"}  # two characters: below a trigram, found by a scan
    assert await found("LAMP OUT") == {"NC0002"}
    assert await found("lamp gate") == set()  # the words as typed, in order
    assert await found('"; DROP TABLE issues; --') == set()
    async with harness.sessions() as s:
        await s.execute(update(Issue).where(Issue.id == lamp).values(description="Light fixed by the door"))
        await s.commit()
    assert await found("lamp") == set() and await found("fixed by") == {"NC0002"}


async def test_a_spreadsheet_too_big_to_make_while_waiting_asks_for_csv(harness: BotHarness, community: Any,
                                                                         desk: TestClient,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.web

    monkeypatch.setattr(bot.web, "XLSX_MAX_ROWS", 1)
    ann = await english_with_ann(harness)
    await file_issue(harness, ann)
    await file_issue(harness, ann, category="lighting")
    staff = await person(harness, STAFF, "Office Wu")
    await signed_in(harness, desk, staff.id)
    big = await desk.get("/desk/ledger/export", params={"fmt": "xlsx", "status": "open"})
    assert big.status == 200 and "more than 1 rows" in await big.text() and "status=open" in str(big.url)
    one = await desk.get("/desk/ledger/export", params={"fmt": "xlsx", "category": "lighting"})
    assert one.content_type.endswith("spreadsheetml.sheet")
    assert (await desk.get("/desk/ledger/export", params={"fmt": "csv"})).content_type == "text/csv"


async def test_a_text_matching_many_issues_gives_the_same_rows(harness: BotHarness, community: Any,
                                                               desk: TestClient,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Above WIDE matches the search tests descriptions along the sort order instead of sorting every
    match: the rows shown are the same."""
    import bot.services.web

    ann = await english_with_ann(harness)
    for words in ("Bikes in the fire lane", "Boxes in the FIRE LANE", "Lamp out"):
        await file_issue(harness, ann, description=words)
    staff = await person(harness, STAFF, "Office Wu")
    await signed_in(harness, desk, staff.id)
    narrow = await (await desk.get("/desk/ledger", params={"q": "fire lane"})).text()
    monkeypatch.setattr(bot.services.web, "WIDE", 1)
    wide = await (await desk.get("/desk/ledger", params={"q": "fire lane"})).text()
    rows = re.findall(r">#(NC\d+)<", narrow)
    assert rows == ["NC0002", "NC0001"] and re.findall(r">#(NC\d+)<", wide) == rows
