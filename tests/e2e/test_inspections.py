"""Inspections end to end, in English and Chinese: the office walks the default checklist through
Building 1 with big Pass / Fail buttons, attaches photos (one as an album) and a note to three failures,
and finishes: three issues appear in the ledger with their photos, categories, building and the inspector
as reporter, and the building's team chat gets their cards. Also: this week's spot checks drawn and
given to a volunteer, who is reminded (and only once per moment) and may then inspect that building;
who may not inspect; checklists edited in the bot; the XLSX record."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models import Building, Community, Inspection, Issue, IssuePhoto, Member, SpotCheck
from tests.conftest import BotHarness
from tests.e2e.test_cleaning import screen, tap

STAFF, NORTH_HEAD, CAPTAIN, VOLUNTEER = 2002, 2001, 3001, 4001
TEAM_B1 = -1001000000011

WORDS = {
    "en": {"b1": "Building 1", "b2": "Building 2", "pass": "✅ Pass", "fail": "❌ Fail", "next": "➡️ Next",
           "item1": "Corridors and stairwells free of clutter", "of8": "item 1 of 8", "failed": "failed",
           "photos2": "📷 2 photos attached", "note": "📝 Note: boxes by the 3rd floor door",
           "finish3": "✅ Finish and file 3 issues", "done": "5 of 8 items passed (62%)", "filed": "Filed 3 issues:",
           "spots": "🎲 This week's spot checks", "draw3": "🎲 Draw 3", "who_b2": "👤 Building 2: who checks it?",
           "given": "given to Volunteer", "assigned": "Spot check this week", "inspect_b2": "🔍 Inspect Building 2",
           "reminder": "is not done yet", "export": "📊 Inspection records (XLSX)", "sheet": "Inspections",
           "nothing": "Nothing to inspect for you", "lists": "📝 Checklists", "add": "➕ Add an item",
           "kind": "which kind of issue", "added_item": "Exits not locked", "desc": "🔍 Inspection: "},
    "zh_Hans": {"b1": "Building 1", "b2": "Building 2", "pass": "✅ 合格", "fail": "❌ 不合格", "next": "➡️ 下一步",
                "item1": "楼道、楼梯间无堆物", "of8": "第1项，共8项", "failed": "不合格",
                "photos2": "📷 已附2张照片", "note": "📝 备注：boxes by the 3rd floor door",
                "finish3": "✅ 完成检查，生成3条问题", "done": "8项中5项合格（62%）", "filed": "已生成3条问题：",
                "spots": "🎲 本周抽查", "draw3": "🎲 抽3栋", "who_b2": "👤 Building 2：由谁检查？",
                "given": "已交给 Volunteer", "assigned": "本周抽查", "inspect_b2": "🔍 检查 Building 2",
                "reminder": "尚未完成", "export": "📊 检查记录（XLSX）", "sheet": "检查记录",
                "nothing": "目前没有需要您检查的楼栋", "lists": "📝 检查清单", "add": "➕ 添加检查项",
                "kind": "属于哪类问题", "added_item": "Exits not locked", "desc": "🔍 检查不合格："},
}


pytestmark = pytest.mark.usefixtures("fast_presses")


async def set_locales(harness: BotHarness, lang: str, ids: list[int]) -> None:
    async with harness.sessions() as s:
        for tid in ids:
            m = (await s.execute(select(Member).where(Member.telegram_id == tid))).scalar_one()
            m.locale = lang
            m.started = True
        await s.commit()
    for tid in ids:
        harness.tg.add_chat(tid, type="private")


def last_with(harness: BotHarness, chat: int, words: str) -> Any:
    for call in reversed(harness.tg.sent(chat)):
        if words in (call.params.get("text") or call.params.get("caption") or ""):
            return call
    raise AssertionError(f"no message with {words!r} in {chat}: {harness.tg.texts(chat)}")


def buttons_of(harness: BotHarness, chat: int) -> list[str]:
    last = harness.tg.last(chat)
    return [b for row in harness.tg.buttons(harness.tg.current(chat, last.message_id)) for b in row]


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
async def test_three_failures_become_three_issues(harness: BotHarness, community: Any, lang: str) -> None:
    w = WORDS[lang]
    up = harness.up
    await set_locales(harness, lang, [STAFF])
    staff = up.user(STAFF, "Wang", "en")
    up.group(TEAM_B1, "Building 1 team")
    harness.record({STAFF: "Office staff Wang", TEAM_B1: "Building 1 team chat"})

    await harness.feed(up.text(staff, "/inspect"))
    menu = last_with(harness, STAFF, "🔍")
    assert [w["b1"]] in harness.tg.buttons(menu) and [w["spots"]] in harness.tg.buttons(menu)
    await harness.feed(up.callback_on(menu, staff, w["b1"]))
    assert w["of8"] in screen(harness, STAFF) and w["item1"] in screen(harness, STAFF)
    # Big buttons: Pass and Fail each fill a row of their own.
    assert harness.tg.buttons(harness.tg.last(STAFF))[:2] == [[w["pass"]], [w["fail"]]]
    walk = harness.tg.last(STAFF)

    harness.note("1 · clutter: fails, two photos and a note")
    await harness.feed(up.callback_on(walk, staff, w["fail"]))
    assert w["failed"] in screen(harness, STAFF)
    await harness.feed(up.photo(staff, file_id="clutter-1"))
    await harness.feed(up.photo(staff, file_id="clutter-2"))
    await harness.feed(up.text(staff, "boxes by the 3rd floor door"))
    assert w["photos2"] in screen(harness, STAFF) and w["note"] in screen(harness, STAFF)
    await tap(harness, STAFF, staff, w["next"])

    harness.note("2 · flying-lead charging: fails, an album of two photos")
    await tap(harness, STAFF, staff, w["fail"])
    await harness.feed(*up.album(staff, 2))
    await tap(harness, STAFF, staff, w["next"])

    harness.note("3 · fire lane passes; 4 · fire extinguisher fails with one photo; the rest pass")
    await tap(harness, STAFF, staff, w["pass"])
    await tap(harness, STAFF, staff, w["fail"])
    await harness.feed(up.photo(staff, file_id="extinguisher"))
    stale = harness.tg.last(STAFF)
    await tap(harness, STAFF, staff, w["next"])
    for _n in range(4):
        await tap(harness, STAFF, staff, w["pass"])
    assert buttons_of(harness, STAFF)[0] == w["finish3"]
    # A stale button (an item already answered) changes nothing.
    stale_data = stale.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await harness.feed(up.callback(staff, stale_data, chat=STAFF))
    assert buttons_of(harness, STAFF)[0] == w["finish3"]
    await tap(harness, STAFF, staff, w["finish3"])
    done = screen(harness, STAFF)
    assert w["done"] in done and w["filed"] in done
    await harness.deliver()
    harness.save_transcript(f"inspections_{'en' if lang == 'en' else 'zh'}",
                            "Inspection: three failures become three issues" if lang == "en"
                            else "检查：三项不合格，自动生成三条问题")

    async with harness.sessions() as s:
        staff_m = (await s.execute(select(Member).where(Member.telegram_id == STAFF))).scalar_one()
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        issues = list((await s.execute(select(Issue).order_by(Issue.id))).scalars())
        assert [i.category for i in issues] == ["clutter", "ebike_charging", "facility"]
        assert {i.reporter_id for i in issues} == {staff_m.id}
        assert {i.building_id for i in issues} == {b1.id}
        assert issues[0].description.startswith(w["desc"]) and "boxes by the 3rd floor door" in issues[0].description
        photos = [list((await s.execute(select(IssuePhoto.file_id).where(IssuePhoto.issue_id == i.id)
                                        .order_by(IssuePhoto.position))).scalars()) for i in issues]
        assert photos[0] == ["clutter-1", "clutter-2"] and len(photos[1]) == 2 and photos[2] == ["extinguisher"]
        record = (await s.execute(select(Inspection))).scalar_one()
        assert (record.status, record.passed, record.failed) == ("done", 5, 3)
        refs = [i.hashtag for i in issues]
        record_id = record.id
    for ref in refs:
        assert ref in done
        assert any(ref in t for t in harness.tg.texts(TEAM_B1)), f"{ref} card not in the team chat"

    harness.note("Finishing twice files nothing twice")
    await harness.feed(up.callback(staff, f"in:fin:{record_id}:0", chat=STAFF))
    async with harness.sessions() as s:
        assert len(list((await s.execute(select(Issue))).scalars())) == 3

    harness.note("The record, as a table")
    await harness.feed(up.text(staff, "/inspect"))
    await harness.feed(up.callback_on(last_with(harness, STAFF, "🔍"), staff, w["export"]))
    await harness.deliver()
    name, data, _caption = harness.document(STAFF)
    assert name.startswith("inspections-NC-")
    ws = load_workbook(io.BytesIO(data))[w["sheet"]]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][0] == "Building 1" and rows[1][5:8] == (5, 3, 62) and " ".join(refs) == rows[1][10]


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
async def test_spot_checks_drawn_given_reminded_and_inspected(harness: BotHarness, community: Any,
                                                              lang: str) -> None:
    w = WORDS[lang]
    up = harness.up
    await set_locales(harness, lang, [STAFF, VOLUNTEER])
    staff = up.user(STAFF, "Wang", "en")
    volunteer = up.user(VOLUNTEER, "Volunteer", "en")
    async with harness.sessions() as s:
        m = (await s.execute(select(Member).where(Member.telegram_id == VOLUNTEER))).scalar_one()
        m.first_name = "Volunteer"
        await s.commit()
    harness.record({STAFF: "Office staff Wang", VOLUNTEER: "Volunteer Li"})

    harness.note("Before any spot check, a volunteer has nothing to inspect")
    await harness.feed(up.text(volunteer, "/inspect"))
    assert w["nothing"] in harness.tg.last(VOLUNTEER).text

    await harness.feed(up.text(staff, "/inspect"))
    await harness.feed(up.callback_on(last_with(harness, STAFF, "🔍"), staff, w["spots"]))
    await tap(harness, STAFF, staff, w["draw3"])
    await tap(harness, STAFF, staff, w["who_b2"])
    await tap(harness, STAFF, staff, "Volunteer")
    assert w["given"] in screen(harness, STAFF)
    await harness.deliver()
    assigned = last_with(harness, VOLUNTEER, w["assigned"])
    assert harness.tg.buttons(assigned) == [[w["inspect_b2"]]]

    harness.note("Thursday 09:00 has passed (a tick, as after a restart): one reminder, and only one")
    for _n in range(2):
        harness.clock.advance(minutes=2)  # past the previous tick's lease
        await harness.tick()
    await harness.deliver()
    assert sum(w["reminder"] in t for t in harness.tg.texts(VOLUNTEER)) == 1

    harness.note("The volunteer inspects Building 2 from the reminder; Building 1 stays out of reach")
    await harness.feed(up.callback_on(assigned, volunteer, w["inspect_b2"]))
    assert w["of8"] in screen(harness, VOLUNTEER)
    for _n in range(8):
        await tap(harness, VOLUNTEER, volunteer, w["pass"])
    await tap(harness, VOLUNTEER, volunteer, buttons_of(harness, VOLUNTEER)[0])
    async with harness.sessions() as s:
        spots = list((await s.execute(select(SpotCheck).order_by(SpotCheck.id))).scalars())
        assert len(spots) == 3
        b2 = (await s.execute(select(Building).where(Building.key == "b2"))).scalar_one()
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        assert [s_.done_at is not None for s_ in spots if s_.building_id == b2.id] == [True]
    await harness.feed(up.callback(volunteer, f"in:b:{b1.id}:0", chat=VOLUNTEER))
    refusal = harness.tg.alerts()[-1].params
    assert refusal.get("show_alert") and refusal.get("text"), "a forged building press must be refused"
    harness.save_transcript(f"spot_checks_{'en' if lang == 'en' else 'zh'}",
                            "Spot checks: drawn, given, reminded, inspected" if lang == "en"
                            else "星期抽查：随机抽取、指派、提醒、检查")


async def test_who_may_inspect_and_edit_checklists(harness: BotHarness, community: Any) -> None:
    up = harness.up
    await set_locales(harness, "en", [CAPTAIN, NORTH_HEAD, STAFF])
    captain, head, staff = up.user(CAPTAIN, "Zhang", "en"), up.user(NORTH_HEAD, "Zhao", "en"), \
        up.user(STAFF, "Wang", "en")
    await harness.feed(up.text(captain, "/inspect"))
    assert "Nothing to inspect for you" in harness.tg.last(CAPTAIN).text

    await harness.feed(up.text(head, "/inspect"))
    menu = last_with(harness, NORTH_HEAD, "🔍")
    offered = [b for row in harness.tg.buttons(menu) for b in row]
    assert "Building 1" in offered and "Building 2" in offered and "Building 3" not in offered
    assert "🎲 This week's spot checks" not in offered
    async with harness.sessions() as s:
        b3 = (await s.execute(select(Building).where(Building.key == "b3"))).scalar_one()
        cid = (await s.execute(select(Community.id).where(Community.key == "nanchi"))).scalar_one()
    for forged in (f"in:b:{b3.id}:0", f"in:dr:{cid}:3"):
        await harness.feed(up.callback(head, forged, chat=NORTH_HEAD))
        refusal = harness.tg.alerts()[-1].params
        assert refusal.get("show_alert") and refusal.get("text"), forged
    async with harness.sessions() as s:
        assert (await s.execute(select(Inspection))).first() is None
        assert (await s.execute(select(SpotCheck))).first() is None

    harness.note("The office adds an item to the default checklist; it is asked at the next inspection")
    await harness.feed(up.text(staff, "/inspect"))
    await harness.feed(up.callback_on(last_with(harness, STAFF, "🔍"), staff, "📝 Checklists"))
    await tap(harness, STAFF, staff, "📝 Building safety and tidiness")
    await tap(harness, STAFF, staff, "➕ Add an item")
    await harness.feed(up.text(staff, "Exits not locked"))
    assert "which kind of issue" in harness.tg.last(STAFF).text
    await tap(harness, STAFF, staff, "🚒 Blocked fire lane or exit")
    assert "Exits not locked" in last_with(harness, STAFF, "📝 <b>").text or \
        "Exits not locked" in last_with(harness, STAFF, "Building safety").text
    await harness.feed(up.text(staff, "/cancel"))
    await harness.feed(up.text(staff, "/inspect"))
    await harness.feed(up.callback_on(last_with(harness, STAFF, "🔍"), staff, "Building 1"))
    assert "item 1 of 9" in screen(harness, STAFF)
    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        items = c.settings["inspections"]["checklists"][0]["items"]
        assert items[-1]["category"] == "fire_lane" and items[-1]["en"] == "Exits not locked"


async def test_a_spot_check_ends_with_the_volunteer_role(harness: BotHarness, community: Any) -> None:
    """A volunteer removed from the community can no longer inspect the building given to them, and the
    spot check goes back to the office to give again."""
    from bot.services import build_services
    from bot.services.members import MembersService
    from models import Role

    up = harness.up
    await set_locales(harness, "en", [STAFF, 4002])
    staff, volunteer = up.user(STAFF, "Wang", "en"), up.user(4002, "Volunteer", "en")
    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        members = MembersService(s, harness.clock)
        service = build_services(s, harness.clock, harness.dp["settings"]).inspections
        staff_actor = await members.actor((await s.execute(select(Member).where(Member.telegram_id == STAFF))
                                           ).scalar_one())
        vol = (await s.execute(select(Member).where(Member.telegram_id == 4002))).scalar_one()
        spots = await service.draw(staff_actor, c, 1)
        await service.assign(staff_actor, spots[0].id, vol.id)
        building_id = spots[0].building_id
        await s.commit()
    await harness.feed(up.text(volunteer, "/inspect"))
    assert "🎯" in str(harness.tg.buttons(harness.tg.sent(4002)[-2]))
    async with harness.sessions() as s:
        members = MembersService(s, harness.clock)
        staff_actor = await members.actor((await s.execute(select(Member).where(Member.telegram_id == STAFF))
                                           ).scalar_one())
        vol = (await s.execute(select(Member).where(Member.telegram_id == 4002))).scalar_one()
        role = (await s.execute(select(Role).where(Role.member_id == vol.id, Role.role == "volunteer"))).scalar_one()
        await members.remove_role(staff_actor, role.id)
        await s.commit()
        assert (await s.execute(select(SpotCheck.inspector_id))).scalar_one() is None
    await harness.feed(up.callback(volunteer, f"in:b:{building_id}:0", chat=4002))
    refusal = harness.tg.alerts()[-1].params
    assert refusal.get("show_alert") and refusal.get("text")
    await harness.feed(up.text(volunteer, "/inspect"))
    assert "Nothing to inspect for you" in harness.tg.last(4002).text
    _ = staff


async def test_location_offers_the_nearest_building(harness: BotHarness, community: Any) -> None:
    up = harness.up
    await set_locales(harness, "en", [NORTH_HEAD])
    head = up.user(NORTH_HEAD, "Zhao", "en")
    await harness.feed(up.text(head, "/inspect"))
    await harness.feed(up.location(head, 31.2290, 121.4720))  # by Building 3, in the South area: not theirs
    assert "no building of yours near that point" in harness.tg.last(NORTH_HEAD).text
    await harness.feed(up.location(head, 31.2309, 121.4744))  # by Building 2
    assert "Nearest building: <b>Building 2</b>" in harness.tg.sent(NORTH_HEAD)[-2].text
    assert harness.tg.buttons(harness.tg.last(NORTH_HEAD)) == [["🔍 Inspect Building 2"]]
    # /inspect again, in the middle of choosing: the location still finds the building.
    await harness.feed(up.text(head, "/inspect"))
    await harness.feed(up.location(head, 31.2309, 121.4744))
    assert "Nearest building: <b>Building 2</b>" in harness.tg.sent(NORTH_HEAD)[-2].text


async def test_urgent_failures_are_not_capped_like_residents_reports(harness: BotHarness, community: Any) -> None:
    """A round of inspections may find more urgent problems than a resident may report in a day (the cap
    here: 1); every one is filed."""
    from bot.notices.inspections import failure_words
    from bot.services import build_services
    from bot.services.members import MembersService

    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        c.settings = {**(c.settings or {}), "limits": {"urgent_reports_per_day": 1}}
        members = MembersService(s, harness.clock)
        staff = (await s.execute(select(Member).where(Member.telegram_id == STAFF))).scalar_one()
        actor = await members.actor(staff)
        service = build_services(s, harness.clock, harness.dp["settings"]).inspections
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        i = await service.start(actor, staff, b1.id, "default")
        for n, item in enumerate(i.items):
            await service.answer(staff, i.id, n, item["category"] not in ("fire_lane", "ebike_charging"))
            if item["category"] in ("fire_lane", "ebike_charging"):
                await service.advance(staff, i.id, n)
        done = await service.finish(actor, staff, i.id, failure_words("en"))
        assert sorted(x.category for x in done.issues) == ["ebike_charging", "fire_lane"]
        assert all(x.urgent for x in done.issues)
