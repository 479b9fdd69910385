"""Campaigns (专项整治) end to end, in English and Chinese: office staff start a four-week fire-lane and
e-bike campaign for Buildings 1 and 2 with the four template phases (one instruction changed) and a
target; the tick announces each phase once at its start to the captains and the residents' chat;
reports in its categories, places and days join it by themselves (one before its first day, one in
another category, one in another building and one after its last day do not); a captain adds one by
hand and takes one out, another captain may not; a fix is confirmed and verified on site, a refusal
is recorded; /campaign shows the figures per building with the change since last week, the weekly
report has its section (golden file), /queue filters to it, and after the last day the office gets
the summary with the right figures, the before/after album and the spreadsheet of every issue.
Residents and captains cannot start a campaign."""

from __future__ import annotations

import io
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select

from bot.services import build_services
from bot.services.access import NotAllowed
from bot.services.campaigns import CampDraft
from models import Campaign, CampaignIssue, Community, Issue, IssueStatus, JobLease
from tests.conftest import BotHarness, unique_id
from tests.e2e.test_triage import (
    AREA_NORTH,
    CAPTAIN,
    CAPTAIN_B2,
    NORTH_HEAD,
    OFFICE,
    STAFF,
    TEAM_B1,
    alert,
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

SH = ZoneInfo("Asia/Shanghai")
RESIDENTS_B1 = -1001000000031
CAPTAIN_B3 = 3003
GOLDEN = Path(__file__).resolve().parent.parent / "golden"

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "new": "New campaign", "kinds": "Which kinds of problem", "fire": "Blocked fire lane or exit",
        "ebike": "Dangerous e-bike charging", "next": "Next", "where": "Where?", "b1": "Building 1",
        "b2": "Building 2", "first": "First day?", "weeks": "In 4 weeks", "tpl": "Four phases (template)",
        "phases": "The phases:", "p1": "Publicity and mobilisation — from Mon 23 Nov",
        "p4": "Inspection and acceptance — from Mon 14 Dec", "edit": "Change dates or instructions",
        "use": "Use these phases", "target_q": "The target", "go": "Start the campaign",
        "preview": "Each phase is announced at 09:00 on its first day to the captains of 2 buildings",
        "started": "started", "phase1": "Phase 1 of 4: Publicity and mobilisation, from Mon 23 Nov",
        "phase2": "Phase 2 of 4: Residents check and fix it themselves",
        "more": "More", "campaign_btn": "Campaign", "added": "Added to", "removed": "Taken out of",
        "only": "Only the captains of Building 1 can do this.",
        "accept": "Accept", "resolve": "Resolve", "no_note": "Resolve without a note",
        "fixed": "Fixed, thank you", "check": "waits for your check", "verify": "Verify and close",
        "heading": "found · fixed · verified · overdue · refused",
        "summary": "Campaign finished", "figures": "Reported 3 · fixed 1 (33%) · verified on site 1 · "
                                                  "overdue 2 · refused to comply 1",
        "album": "Before → after", "sheet": "every issue of the campaign (3)", "col": "Campaigns",
        "none_yet": "There are no campaigns yet", "only_team": "Campaigns are for building captains",
        "queue": "Its open reports", "xlsx": "Spreadsheet (XLSX)",
    },
    "zh_Hans": {
        "new": "新建专项整治", "kinds": "涵盖哪些问题", "fire": "占用消防通道", "ebike": "飞线充电",
        "next": "下一步", "where": "范围", "b1": "Building 1", "b2": "Building 2", "first": "第一天",
        "weeks": "四周后", "tpl": "四个阶段（模板）", "phases": "阶段：", "p1": "宣传发动——11月23日（周一）起",
        "p4": "检查验收——12月14日（周一）起", "edit": "修改日期或要求", "use": "使用这些阶段",
        "target_q": "目标", "go": "开始专项整治",
        "preview": "每个阶段在第一天09:00通知2栋楼的楼栋长",
        "started": "已开始", "phase1": "第1阶段（共4个）：宣传发动，11月23日（周一）起",
        "phase2": "第2阶段（共4个）：自查自纠",
        "more": "更多", "campaign_btn": "专项整治", "added": "已加入", "removed": "移出",
        "only": "仅Building 1楼栋长可操作。",
        "accept": "受理", "resolve": "办结", "no_note": "直接办结",
        "fixed": "已解决，谢谢", "check": "请验收后销号", "verify": "验收销号",
        "heading": "发现 · 整改 · 验收 · 超期 · 拒不整改",
        "summary": "专项整治结束", "figures": "上报3件 · 整改1件（33%） · 现场验收1件 · 超期2件 · 拒不整改1件",
        "album": "整改前 → 整改后", "sheet": "本次专项整治的全部问题（3件）", "col": "专项整治",
        "none_yet": "还没有专项整治", "only_team": "专项整治仅供楼栋长",
        "queue": "未办结的问题", "xlsx": "表格（XLSX）",
    },
}


pytestmark = pytest.mark.usefixtures("fast_presses")


def local_at(day: int, hour: int = 9, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


async def at(harness: BotHarness, when: datetime) -> None:
    """Move the clock, run the periodic tick (as after a restart: a fresh lease) and deliver."""
    harness.clock.set(when)
    async with harness.sessions() as s:
        await s.execute(delete(JobLease))
        await s.commit()
    await harness.tick()
    await harness.deliver()


def screen(harness: BotHarness, chat: int) -> str:
    last = harness.tg.last(chat)
    return harness.tg.current(chat, last.message_id).text or ""


async def tap(harness: BotHarness, user: Any, text: str) -> None:
    await harness.feed(harness.up.callback_on(harness.tg.last(user.id), user, text))


def card_of(harness: BotHarness, chat: int, reference: str) -> Any:
    return next(c for c in harness.tg.sent(chat) if c.method == "sendPhoto" and f"#{reference}" in (c.plain or ""))


def phase_posts(harness: BotHarness, chat: int, words: str) -> list[str]:
    return [t for t in harness.tg.texts(chat, as_plain=True) if words in t]


async def members_of(harness: BotHarness) -> set[int]:
    async with harness.sessions() as s:
        return set((await s.execute(select(CampaignIssue.issue_id))).scalars())


async def file_at(harness: BotHarness, when: datetime, reporter: Any, category: str, building: str) -> Issue:
    harness.clock.set(when)
    issue_id = await file_issue(harness, reporter, category=category, building=building, photos=1,
                                description=f"{category} at {building}")
    return await issue(harness, issue_id)


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
async def test_four_week_campaign(harness: BotHarness, community: Any, lang: str) -> None:
    w = WORDS[lang]
    await set_locale(harness, lang)
    groups(harness)
    harness.up.group(RESIDENTS_B1, "Building 1 residents")
    tg = harness.tg
    wu = await person(harness, STAFF, "Wu", lang)
    zhang = await person(harness, CAPTAIN, "Zhang", lang)
    li = await person(harness, CAPTAIN_B2, "Li", lang)
    await person(harness, CAPTAIN_B3, "Zhao", lang)
    wang = await person(harness, NORTH_HEAD, "Wang", lang)
    ann = await person(harness, unique_id(), "Ann", lang, resident_of="b1")
    harness.record({wu.id: "Office Wu (staff)", zhang.id: "Captain Zhang (Building 1)",
                    li.id: "Captain Li (Building 2)", wang.id: "Area head Wang", ann.id: "Ann (resident)",
                    TEAM_B1: "Building 1 team chat", RESIDENTS_B1: "Building 1 residents' chat",
                    OFFICE: "Office chat", AREA_NORTH: "North area chat"})

    harness.note("Before the campaign exists: a captain and a resident cannot start one.")
    await harness.feed(harness.up.text(zhang, "/campaign"))
    assert w["none_yet"] in screen(harness, CAPTAIN)
    await harness.feed(harness.up.text(ann, "/campaign"))
    assert w["only_team"] in screen(harness, ann.id)
    await harness.feed(harness.up.callback(zhang, "cp:new::0"))
    assert not any(w["new"] in t for t in tg.texts(CAPTAIN, as_plain=True))
    async with harness.sessions() as s:
        svc = build_services(s, harness.clock, harness.dp["settings"])
        nanchi = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        for who in (zhang, ann):
            member = await svc.members.by_telegram_id(who.id)
            draft = CampDraft(community_id=nanchi.id, name="x",
                              categories=["fire_lane"], whole=True, start="2026-11-23", end="2026-12-20")
            with pytest.raises(NotAllowed):
                await svc.campaigns.create(await svc.members.actor(member), draft)

    harness.note("A report filed before the campaign starts.")
    early = await file_at(harness, local_at(20, 10), ann, "fire_lane", "b1")

    harness.note("Office Wu starts the campaign with /campaign.")
    unthrottle(harness)
    harness.clock.set(local_at(20, 11))
    await harness.feed(harness.up.text(wu, "/campaign"))
    assert w["new"] in screen(harness, STAFF)
    await harness.feed(harness.up.text(wu, "Fire-lane clean-up"))
    assert w["kinds"] in screen(harness, STAFF)
    await tap(harness, wu, w["fire"])
    await tap(harness, wu, w["ebike"])
    await tap(harness, wu, w["next"])
    assert w["where"] in screen(harness, STAFF)
    await tap(harness, wu, w["b1"])
    await tap(harness, wu, w["b2"])
    await tap(harness, wu, w["next"])
    assert w["first"] in screen(harness, STAFF)
    await harness.feed(harness.up.text(wu, "2026-11-23"))
    await tap(harness, wu, w["weeks"])
    await tap(harness, wu, w["tpl"])
    shown = screen(harness, STAFF)
    assert w["phases"] in shown and w["p1"] in shown and w["p4"] in shown, shown
    await tap(harness, wu, w["edit"])
    await harness.feed(harness.up.text(wu, "2026-11-23 Tell every household: fire lanes clear by 20 December.\n"
                                           "2026-11-30\n2026-12-07\n2026-12-14"))
    assert "fire lanes clear by 20 December" in screen(harness, STAFF)
    await tap(harness, wu, w["use"])
    assert w["target_q"] in screen(harness, STAFF)
    await harness.feed(harness.up.text(wu, "Every reported case verified by 20 December"))
    preview = screen(harness, STAFF)
    assert "Fire-lane clean-up" in preview and w["preview"] in preview, preview
    await tap(harness, wu, w["go"])
    assert w["started"] in screen(harness, STAFF)
    await harness.feed(harness.up.callback(wu, "cp:go::0"))  # a second press creates nothing
    async with harness.sessions() as s:
        assert len((await s.execute(select(Campaign))).scalars().all()) == 1

    harness.note("Monday 23 November 09:00: the first phase is announced, once.")
    await at(harness, local_at(23, 9, 1))
    await at(harness, local_at(23, 9, 2))
    assert len(phase_posts(harness, CAPTAIN, w["phase1"])) == 1
    assert "fire lanes clear by 20 December" in phase_posts(harness, CAPTAIN, w["phase1"])[0]
    assert len(phase_posts(harness, CAPTAIN_B2, w["phase1"])) == 1
    assert len(phase_posts(harness, RESIDENTS_B1, w["phase1"])) == 1
    assert not phase_posts(harness, CAPTAIN_B3, w["phase1"])  # Building 3 is not in it

    harness.note("Reports during the campaign: in its kinds and buildings they join; others do not.")
    a = await file_at(harness, local_at(23, 10), ann, "fire_lane", "b1")
    b = await file_at(harness, local_at(23, 11), ann, "ebike_charging", "b2")
    c = await file_at(harness, local_at(23, 12), ann, "litter", "b1")
    d = await file_at(harness, local_at(23, 13), ann, "fire_lane", "b3")
    e = await file_at(harness, local_at(24, 10), ann, "fire_lane", "b1")
    assert await members_of(harness) == {a.id, b.id, e.id}
    assert early.id not in await members_of(harness) and d.id not in await members_of(harness)

    harness.note("Captain Zhang adds the litter report by hand from its card and takes a mistaken one out; "
                 "Captain Li of Building 2 may not.")
    unthrottle(harness)
    card_c = card_of(harness, TEAM_B1, c.reference)
    await press(harness, card_c, zhang, w["more"])
    await press(harness, card_c, zhang, w["campaign_btn"])
    await press(harness, card_c, zhang, "Fire-lane clean-up")
    assert w["added"] in (tg.alerts()[-1].params.get("text") or "")
    card_e = card_of(harness, TEAM_B1, e.reference)
    await harness.feed(harness.up.callback(li, f"ic:rm:{e.id}:1", message=tg.messages[(TEAM_B1, card_e.message_id)]))
    assert alert(harness) == w["only"]
    assert e.id in await members_of(harness)
    await press(harness, card_e, zhang, w["more"])
    await press(harness, card_e, zhang, w["campaign_btn"])
    await press(harness, card_e, zhang, "Fire-lane clean-up")
    assert w["removed"] in (tg.alerts()[-1].params.get("text") or "")
    assert await members_of(harness) == {a.id, b.id, c.id}

    harness.note("The fire-lane report is fixed, confirmed and verified on site; Building 2's owner refuses.")
    card_a = card_of(harness, TEAM_B1, a.reference)
    harness.clock.set(local_at(24, 15))
    await press(harness, card_a, zhang, w["accept"])
    await press(harness, card_a, zhang, w["resolve"])
    await harness.feed(harness.up.photo(zhang, file_id="after-a"))
    await press_private(harness, zhang, w["no_note"])
    await harness.deliver()
    await press(harness, tg.last(ann.id), ann, w["fixed"])
    await harness.deliver()
    assert (await issue(harness, a.id)).status == IssueStatus.VERIFYING
    ask = next(c for c in reversed(tg.sent(AREA_NORTH)) if w["check"] in (c.plain or ""))
    await press(harness, ask, wang, w["verify"])
    await harness.feed(harness.up.photo(wang, file_id="check-a", caption="Clear"))
    await harness.deliver()
    assert (await issue(harness, a.id)).close_how == "verified"
    async with harness.sessions() as s:
        svc = build_services(s, harness.clock, harness.dp["settings"])
        staff = await svc.members.actor(await svc.members.by_telegram_id(STAFF))
        await svc.referrals.refused(staff, b.id)
        await s.commit()
    await settle(harness)

    harness.note("Monday 30 November: the second phase; /campaign shows the figures per building.")
    await at(harness, local_at(30, 9, 1))
    assert len(phase_posts(harness, CAPTAIN, w["phase2"])) == 1
    unthrottle(harness)
    await harness.feed(harness.up.text(zhang, "/campaign"))
    assert w["new"] not in " ".join(tg.buttons(tg.last(CAPTAIN))[0])  # captains see, staff create
    await tap(harness, zhang, "Fire-lane clean-up")
    progress = screen(harness, CAPTAIN)
    assert w["heading"] in progress and w["phase2"] in progress, progress
    # A week ago nothing had been reported: every figure is new this week.
    b1, b2 = "Building 1  2 (+2) · 1 (+1) · 1 (+1) · 1 (+1) · 0", "Building 2  1 (+1) · 0 · 0 · 1 (+1) · 1 (+1)"
    if lang != "en":  # Chinese screens use Chinese brackets
        b1, b2 = (x.replace(" (", "（").replace(")", "）") for x in (b1, b2))
    assert b1 in progress and b2 in progress, progress

    harness.note("Its open reports: /queue filtered to the campaign.")
    await tap(harness, zhang, w["queue"])
    listing = screen(harness, CAPTAIN)
    assert f"#{c.reference}" in listing and f"#{d.reference}" not in listing and f"#{e.reference}" not in listing

    harness.note("The weekly report has a campaign section (golden file).")
    async with harness.sessions() as s:
        svc = build_services(s, harness.clock, harness.dp["settings"])
        comm = await s.get(Community, (await s.get(Issue, a.id)).community_id)
        report = await svc.digests.period(comm, "weekly", date(2026, 11, 26))
        texts = svc.digests.render_period(report, lang)
    section = next(t for t in texts if "Fire-lane clean-up" in t)
    block = section[section.index("🎯"):].split("\n\n")[0] + "\n"
    path = GOLDEN / f"campaigns_weekly_{'en' if lang == 'en' else 'zh'}.html"
    if os.environ.get("UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(block, encoding="utf-8")
    assert block == path.read_text(encoding="utf-8")

    harness.note("Phases three and four; a report after the last day does not join.")
    await at(harness, local_at(7, 9, 1, month=12))
    await at(harness, local_at(14, 9, 1, month=12))
    for chat in (CAPTAIN, CAPTAIN_B2, RESIDENTS_B1):
        assert len([t for t in tg.texts(chat, as_plain=True) if "📣" in t and "Fire-lane clean-up" in t]) == 4
    late = await file_at(harness, local_at(21, 10, month=12), ann, "fire_lane", "b1")
    assert late.id not in await members_of(harness)

    harness.note("After the last day the office gets the summary, the album and the spreadsheet.")
    await at(harness, local_at(21, 0, 5, month=12))
    await at(harness, local_at(21, 0, 6, month=12))
    summaries = [t for t in tg.texts(OFFICE, as_plain=True) if w["summary"] in t]
    assert len(summaries) == 1
    assert w["figures"] in summaries[0], summaries[0]
    albums = tg.sent(OFFICE, "sendMediaGroup")
    assert len(albums) == 1
    media = albums[0].params["media"]
    assert [m["media"] for m in media][1] == "after-a" and w["album"] in (media[0].get("caption") or "")
    await harness.work()
    await harness.deliver()
    _name, data, caption = harness.document(OFFICE)
    assert w["sheet"] in caption
    rows = [[cell.value for cell in r] for r in load_workbook(io.BytesIO(data)).active.iter_rows()]
    assert {r[0] for r in rows[1:]} == {f"#{x.reference}" for x in (a, b, c)}
    assert all(r[rows[0].index(w["col"])] == "Fire-lane clean-up" for r in rows[1:])

    harness.note("/export offers the campaign as a filter: every issue of it, nothing else.")
    await harness.feed(harness.up.text(wu, "/export"))
    await tap(harness, wu, "🎯 Fire-lane clean-up")
    await tap(harness, wu, w["xlsx"])
    await harness.work()
    await harness.deliver()
    _name, data, _caption = harness.document(wu.id)
    rows = [[cell.value for cell in r] for r in load_workbook(io.BytesIO(data)).active.iter_rows()]
    assert {r[0] for r in rows[1:]} == {f"#{x.reference}" for x in (a, b, c)}
    harness.save_transcript(f"campaigns_{'en' if lang == 'en' else 'zh'}",
                            "A four-week campaign (专项整治)" + (" (English)" if lang == "en" else "（中文）"))


async def test_campaign_screens_only_in_private(harness: BotHarness, community: Any) -> None:
    await set_locale(harness, "en")
    groups(harness)
    wu = await person(harness, STAFF, "Wu")
    await harness.feed(harness.up.text(wu, "/campaign", chat=TEAM_B1))
    assert "private chat" in (harness.tg.last(TEAM_B1).plain or "")
    before = len(harness.tg.sent(TEAM_B1))
    await harness.feed(harness.up.callback(wu, "cp:new::0", chat=TEAM_B1))
    assert "private chat" in alert(harness)
    assert len(harness.tg.sent(TEAM_B1)) == before and not harness.tg.edits(TEAM_B1)
