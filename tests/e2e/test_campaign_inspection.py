"""Issue 15's "done when", joined up in one story, in English and Chinese: a four-week fire-safety campaign
(专项整治) for Buildings 1 and 2, 23 November – 20 December 2026, with the four template phases.

- Each phase is announced at 09:00 on its first day (the tick, the clock fixture), once, to the captains
  and the residents' chat of Building 1.
- A resident's fire-lane report in Building 1 joins it by itself; it is left open (overdue).
- The office draws this week's spot checks and gives Building 1 to volunteer Li, who inspects it from the
  notice with /inspect's buttons: three items fail (clutter, flying-lead charging, fire lane), each with a
  photo; five pass. The three issues filed join the running campaign by themselves.
- Every fix is checked on site (setting verification: all). The three are fixed by the captain,
  confirmed by Li (their reporter) and verified on site by the area head.
- Li's known patrol shift on Building 3's route, 28 November 19:00–21:00, checked in and out.
- /points for Li on 30 November: 2 h × 10 + 1 inspection × 5 + 3 reports verified × 3 = 34.
- /ranking for November, from these inputs (default weights: on-time 25, verified 15, inspections 20,
  patrols 10; a component without data is left out):
    Building 3: patrols staffed 1/1 → 100.0
    Building 1: on time 3/4 (the resident's report missed its deadline), verified 3/3, inspection 5/8
                → (25 × 0.75 + 15 × 1 + 20 × 0.625) / 60 = 77.1
    Building 2: nothing to score → not ranked
- After the last day the office's summary: reported 4, fixed 3 (75%), verified on site 3, overdue 1.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from bot.services import build_services
from bot.services.campaigns import CampDraft, default_phases
from models import Building, CampaignIssue, Community, Issue, IssueStatus, PatrolRoute, PatrolShift, ShiftAssignment
from tests.conftest import BotHarness, unique_id
from tests.e2e.test_campaigns import at, card_of, local_at, members_of, phase_posts, screen
from tests.e2e.test_cleaning import tap
from tests.e2e.test_inspections import last_with
from tests.e2e.test_triage import (
    AREA_NORTH,
    CAPTAIN,
    NORTH_HEAD,
    OFFICE,
    STAFF,
    TEAM_B1,
    VOLUNTEER,
    file_issue,
    groups,
    issue,
    person,
    press,
    press_private,
    set_locale,
    settle,
    unthrottle,
)

RESIDENTS_B1 = -1001000000031
CAPTAIN_B3 = 3003
# What the office types, in its own language.
TYPED = {"en": ("Fire safety drive", "Every case found verified by 20 December"),
         "zh_Hans": ("消防安全专项整治", "12月20日前发现的问题全部验收销号")}

WORDS: dict[str, dict[str, Any]] = {
    "en": {
        "phase1": "Phase 1 of 4: Publicity and mobilisation", "phase4": "Phase 4 of 4: Inspection and acceptance",
        "spots": "🎲 This week's spot checks", "draw3": "🎲 Draw 3", "who_b1": "👤 Building 1: who checks it?",
        "given": "given to Li", "assigned": "Spot check this week", "inspect_b1": "🔍 Inspect Building 1",
        "pass": "✅ Pass", "fail": "❌ Fail", "next": "➡️ Next", "finish3": "✅ Finish and file 3 issues",
        "done": "5 of 8 items passed (62%)", "filed": "Filed 3 issues: #NC0002 #NC0003 #NC0004",
        "nobody": "· Building 2 — not given to anyone yet", "desc": "🔍 Inspection: Fire lane and exits clear",
        "detail": "(on-time fixes 75%, verified on site 100%, inspection pass rate 62%)",
        "accept": "Accept", "resolve": "Resolve", "no_note": "Resolve without a note", "fixed": "Fixed, thank you",
        "check": "waits for your check", "verify": "Verify and close",
        "points": ["This month: <b>34</b> points · rank 1 of 1", "🚶 Patrols: 2 h × 10 = 20",
                   "📷 Reports verified as real problems: 3 × 3 = 9", "🔍 Inspections: 1 × 5 = 5"],
        "ranking": ["1. Building 3 — <b>100.0</b>", "2. Building 1 — <b>77.1</b>"],
        "unranked": "· Building 2: no figures yet",
        "summary": "Campaign finished",
        "figures": "Reported 4 · fixed 3 (75%) · verified on site 3 · overdue 1 · refused to comply 0",
    },
    "zh_Hans": {
        "phase1": "第1阶段（共4个）：宣传发动", "phase4": "第4阶段（共4个）：检查验收",
        "spots": "🎲 本周抽查", "draw3": "🎲 抽3栋", "who_b1": "👤 Building 1：由谁检查？",
        "given": "已交给 Li", "assigned": "本周抽查", "inspect_b1": "🔍 检查 Building 1",
        "pass": "✅ 合格", "fail": "❌ 不合格", "next": "➡️ 下一步", "finish3": "✅ 完成检查，生成3条问题",
        "done": "8项中5项合格（62%）", "filed": "已生成3条问题：#NC0002 #NC0003 #NC0004",
        "nobody": "· Building 2 — 尚未指派", "desc": "🔍 检查不合格：消防通道和安全出口畅通",
        "detail": "（按时整改 75%、现场验收 100%、检查合格率 62%）",
        "accept": "受理", "resolve": "办结", "no_note": "直接办结", "fixed": "已解决，谢谢",
        "check": "请验收后销号", "verify": "验收销号",
        "points": ["本月：<b>34</b>分 · 排名第1（共1人）", "🚶 巡逻：2小时 × 10 = 20",
                   "📷 上报经验收属实：3条 × 3 = 9", "🔍 检查：1次 × 5 = 5"],
        "ranking": ["1. Building 3 — <b>100.0</b>", "2. Building 1 — <b>77.1</b>"],
        "unranked": "· Building 2：暂无数据",
        "summary": "专项整治结束",
        "figures": "上报4件 · 整改3件（75%） · 现场验收3件 · 超期1件 · 拒不整改0件",
    },
}


pytestmark = pytest.mark.usefixtures("fast_presses")


async def known_patrol_shift(harness: BotHarness, telegram_id: int, building: str, day: int,
                             start: int, end: int) -> None:
    """A patrol shift in November on a building's route, the volunteer checked in and out on time."""
    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        b = (await s.execute(select(Building).where(Building.key == building))).scalar_one()
        svc = build_services(s, harness.clock, harness.dp["settings"])
        member = await svc.members.by_telegram_id(telegram_id)
        route = PatrolRoute(community_id=c.id, building_id=b.id, key=f"{building}loop", name=f"{b.name} loop")
        s.add(route)
        await s.flush()
        came, left = local_at(day, start), local_at(day, end)
        shift = PatrolShift(community_id=c.id, route_id=route.id, local_date=date(2026, 11, day), starts_at=came,
                            ends_at=left, min_volunteers=1, max_volunteers=2, filled=1, status="done")
        s.add(shift)
        await s.flush()
        s.add(ShiftAssignment(shift_id=shift.id, member_id=member.id, status="active", checked_in_at=came,
                              checked_out_at=left))
        await s.commit()


async def fix_and_verify(harness: BotHarness, found: Issue, captain: Any, reporter: Any, head: Any,
                         w: dict[str, Any]) -> None:
    """The captain fixes it from its card, the reporter confirms, the area head checks it on site."""
    tg = harness.tg
    card = card_of(harness, TEAM_B1, found.reference)
    await press(harness, card, captain, w["accept"])
    await press(harness, card, captain, w["resolve"])
    await harness.feed(harness.up.photo(captain, file_id=f"after-{found.reference}"))
    await press_private(harness, captain, w["no_note"])
    await harness.deliver()
    await press_private(harness, reporter, w["fixed"])
    await harness.deliver()
    assert (await issue(harness, found.id)).status == IssueStatus.VERIFYING
    ask = next(c for c in reversed(tg.sent(AREA_NORTH)) if w["check"] in (c.plain or "")
               and f"#{found.reference}" in (c.plain or ""))
    await press(harness, ask, head, w["verify"])
    await harness.feed(harness.up.photo(head, file_id=f"check-{found.reference}", caption="OK"))
    await harness.deliver()
    assert (await issue(harness, found.id)).close_how == "verified"


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
async def test_campaign_with_an_inspection_points_and_ranking(harness: BotHarness, community: Any,
                                                               lang: str) -> None:
    w = WORDS[lang]
    name, target = TYPED[lang]
    await set_locale(harness, lang)
    groups(harness)
    harness.up.group(RESIDENTS_B1, "Building 1 residents")
    tg = harness.tg
    wu = await person(harness, STAFF, "Wu", lang)
    zhang = await person(harness, CAPTAIN, "Zhang", lang)
    await person(harness, CAPTAIN_B3, "Zhao", lang)
    wang = await person(harness, NORTH_HEAD, "Wang", lang)
    li = await person(harness, VOLUNTEER, "Li", lang)
    ann = await person(harness, unique_id(), "Ann", lang, resident_of="b1")
    harness.record({wu.id: "Office Wu (staff)", zhang.id: "Captain Zhang (Building 1)", wang.id: "Area head Wang",
                    li.id: "Volunteer Li", ann.id: "Ann (resident)", TEAM_B1: "Building 1 team chat",
                    RESIDENTS_B1: "Building 1 residents' chat", OFFICE: "Office chat",
                    AREA_NORTH: "North area chat"})

    harness.note("Friday 20 November: the office starts a four-week fire-safety campaign for Buildings 1 and 2 "
                 "(the /campaign wizard itself is in test_campaigns.py).")
    harness.clock.set(local_at(20, 11))
    async with harness.sessions() as s:
        svc = build_services(s, harness.clock, harness.dp["settings"])
        staff = await svc.members.actor(await svc.members.by_telegram_id(STAFF))
        b = {x.key: x for x in (await s.execute(select(Building))).scalars()}
        draft = CampDraft(community_id=b["b1"].community_id, name=name,
                          categories=["clutter", "ebike_charging", "fire_lane"],
                          building_ids=[b["b1"].id, b["b2"].id], start="2026-11-23", end="2026-12-20",
                          phases=default_phases(date(2026, 11, 23), date(2026, 12, 20)),
                          target=target)
        campaign, _new = await svc.campaigns.create(staff, draft)
        # Every fix in this community is checked on site before it is closed out (验收销号).
        c = await s.get(Community, draft.community_id)
        assert c is not None
        c.settings = {**(c.settings or {}), "verification": "all"}
        await s.commit()

    harness.note("Monday 23 November 09:00: the first phase is announced, once.")
    await at(harness, local_at(23, 9, 1))
    await at(harness, local_at(23, 9, 2))
    for chat in (CAPTAIN, RESIDENTS_B1):
        assert len(phase_posts(harness, chat, w["phase1"])) == 1, tg.texts(chat, as_plain=True)
    assert not phase_posts(harness, CAPTAIN_B3, w["phase1"])

    harness.note("A resident reports a blocked fire lane in Building 1: it joins the campaign by itself.")
    harness.clock.set(local_at(23, 10))
    ann_issue = await issue(harness, await file_issue(harness, ann, category="fire_lane", photos=1))
    assert await members_of(harness) == {ann_issue.id}

    harness.note("The office draws this week's spot checks and gives Building 1 to volunteer Li.")
    harness.clock.set(local_at(23, 11))
    unthrottle(harness)
    await harness.feed(harness.up.text(wu, "/inspect"))
    await harness.feed(harness.up.callback_on(last_with(harness, STAFF, "🔍"), wu, w["spots"]))
    await tap(harness, wu.id, wu, w["draw3"])
    await tap(harness, wu.id, wu, w["who_b1"])
    await tap(harness, wu.id, wu, "Li")
    assert w["given"] in screen(harness, STAFF) and w["nobody"] in screen(harness, STAFF)
    await harness.deliver()
    assigned = last_with(harness, VOLUNTEER, w["assigned"])
    assert tg.buttons(assigned) == [[w["inspect_b1"]]]

    harness.note("Tuesday 24 November: Li inspects Building 1; three items fail, each with a photo.")
    harness.clock.set(local_at(24, 10))
    await harness.feed(harness.up.callback_on(assigned, li, w["inspect_b1"]))
    for n in range(3):
        await tap(harness, li.id, li, w["fail"])
        await harness.feed(harness.up.photo(li, file_id=f"failure-{n}"))
        await tap(harness, li.id, li, w["next"])
    for _n in range(5):
        await tap(harness, li.id, li, w["pass"])
    await tap(harness, li.id, li, w["finish3"])
    assert w["done"] in screen(harness, VOLUNTEER) and w["filed"] in screen(harness, VOLUNTEER)
    await harness.deliver()
    # The card says what failed, not the item as if it were found fine ("found: fire lane clear").
    assert any(w["desc"] in t for t in tg.texts(TEAM_B1, as_plain=True))
    async with harness.sessions() as s:
        found = list((await s.execute(select(Issue).where(Issue.id != ann_issue.id).order_by(Issue.id))).scalars())
        joined = set((await s.execute(select(CampaignIssue.issue_id).where(
            CampaignIssue.campaign_id == campaign.id, CampaignIssue.manual.is_(False)))).scalars())
    assert [i.category for i in found] == ["clutter", "ebike_charging", "fire_lane"]
    assert {i.reporter_id for i in found} == {(await issue(harness, found[0].id)).reporter_id}
    assert joined == {ann_issue.id} | {i.id for i in found}, "the inspection's issues join the campaign"

    harness.note("The captain fixes the three, Li confirms each, the area head verifies them on site.")
    harness.clock.set(local_at(24, 15))
    for f in found:
        unthrottle(harness)
        await fix_and_verify(harness, f, zhang, li, wang, w)
    await settle(harness)

    harness.note("Li's patrol shift on Saturday 28 November, 19:00–21:00, checked in and out.")
    await known_patrol_shift(harness, VOLUNTEER, "b3", 28, 19, 21)

    harness.note("Monday 30 November: Li's points and the month's ranking.")
    await at(harness, local_at(30, 10))
    unthrottle(harness)
    await harness.feed(harness.up.text(li, "/points"))
    mine = tg.last(VOLUNTEER).text or ""
    for words in w["points"]:
        assert words in mine, mine
    await harness.feed(harness.up.text(wu, "/ranking"))
    ranking = tg.last(STAFF).text or ""
    first, second = w["ranking"]
    assert first in ranking and second in ranking and ranking.index(first) < ranking.index(second), ranking
    assert w["unranked"] in ranking and w["detail"] in ranking, ranking

    harness.note("Phases two to four, each once, at their dates.")
    for when in (local_at(7, 9, 1, month=12), local_at(14, 9, 1, month=12), local_at(14, 9, 2, month=12)):
        await at(harness, when)
    for chat in (CAPTAIN, RESIDENTS_B1):
        assert len([t for t in tg.texts(chat, as_plain=True) if "📣" in t and name in t]) == 4
        assert len(phase_posts(harness, chat, w["phase4"])) == 1

    harness.note("After the last day the office's summary counts the inspection's three issues.")
    await at(harness, local_at(21, 0, 5, month=12))
    summaries = [t for t in tg.texts(OFFICE, as_plain=True) if w["summary"] in t]
    assert len(summaries) == 1
    assert w["figures"] in summaries[0], summaries[0]
    assert summaries[0].count(target) == 1, "the target is said once"
    harness.save_transcript(f"campaign_inspection_{'en' if lang == 'en' else 'zh'}",
                            "A campaign with an inspection, points and the ranking" if lang == "en"
                            else "专项整治：检查、志愿积分与排名（中文）")
