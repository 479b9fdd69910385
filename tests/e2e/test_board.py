"""The public board (公示栏) end to end, in English and Chinese: /board shows a resident Building 1's open
issues (status, deadline) and those fixed in the last 30 days with before/after photos, pages when there
are many, follows with one tap — and never shows who reported anything. The weekly post (每周一通报) goes
to the residents' chat on Monday morning, once per week, across a restart, with before/after photos."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models import Building, Community, Issue, IssueFollower, IssuePhoto, IssueStatus, Member, Survey
from tests.conftest import BotHarness
from tests.e2e.test_cleaning import screen
from tests.unit.test_triage_support import make_issue, resident

RESIDENTS_CHAT = -1001000000031
TZ = ZoneInfo("Asia/Shanghai")
REPORTER_NAME, REPORTER_USERNAME = "Annabel", "annabel_reports"

WORDS = {
    "en": {"head": "Building 1: the board", "follow": "🔔 Follow", "photos": "before/after", "more": "More ▶️",
           "followed": "You now follow", "status": "Status: waiting for the captains", "due": "due",
           "fixed": "✅ fixed", "week": "this week's board", "fixed_week": "Fixed this week: 1",
           "open_week": "Still open: 7",
           "survey": "📋 Autumn survey: 0 of 48 households have answered (0%), target 32",
           "menu": "📌 Building board", "page2": "Page 2 of 2"},
    "zh_Hans": {"head": "Building 1：公示栏", "follow": "🔔 关注", "photos": "整改前后", "more": "更多 ▶️",
                "followed": "已关注", "status": "状态：等待楼栋长受理", "due": "预计",
                "fixed": "✅ 已于", "week": "本周公示", "fixed_week": "本周已整改：1",
                "open_week": "仍在处理：7",
                "survey": "📋 Autumn survey：48户中已有0户参与（0%），目标32户",
                "menu": "📌 楼栋公示栏", "page2": "第2/2页"},
}


# The dispatcher (and its throttle) is shared by the session; tests tap faster than people.
pytestmark = pytest.mark.usefixtures("fast_presses")


async def _setup(harness: BotHarness, lang: str, base: int) -> tuple[int, list[str]]:
    """Seven open issues and two fixed ones (one 3 days ago with photos, one 40 days ago), all reported by
    Annabel; Bo, a neighbour, is the one looking. Returns (Bo's id, the hashtags: open…, fixed, old)."""
    now = harness.clock()
    async with harness.sessions() as s:
        community = (await s.execute(select(Community))).scalars().first()
        assert community is not None
        community.locale = lang
        ann = await resident(s, community, name=REPORTER_NAME, telegram_id=base + 1, locale=lang)
        ann.username = REPORTER_USERNAME
        bo = await resident(s, community, name="Bo", telegram_id=base + 2, locale=lang)
        bo.started = True
        tags = []
        for n in range(7):
            issue = await make_issue(s, community, now - timedelta(hours=n), reporter=ann, urgent=False,
                                     category="litter", description=f"Bags by the gate {n}", deadline_days=1 + n)
            tags.append(issue.hashtag)
        for days in (3, 40):
            issue = await make_issue(s, community, now - timedelta(days=days + 1), reporter=ann, urgent=False,
                                     category="lighting", description="Lamp out on floor 3")
            issue.status, issue.close_how = IssueStatus.CLOSED, "verified"
            issue.resolved_at = issue.closed_at = now - timedelta(days=days)
            s.add(IssuePhoto(issue_id=issue.id, file_id=f"after-{issue.id}", kind="after", position=9))
            tags.append(issue.hashtag)
        await s.commit()
    harness.tg.add_chat(base + 2, type="private")
    harness.tg.add_chat(RESIDENTS_CHAT, type="supergroup", title="Building 1 residents")
    return base + 2, tags


def _no_reporter(harness: BotHarness) -> None:
    for call in harness.tg.calls:
        for value in call.params.values():
            text = str(value)
            assert REPORTER_NAME not in text and REPORTER_USERNAME not in text, call


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
async def test_board_shows_open_and_fixed_never_who_follows_with_one_tap(
        harness: BotHarness, community: Any, lang: str) -> None:
    w = WORDS[lang]
    bo_id, tags = await _setup(harness, lang, 71000 if lang == "en" else 72000)
    code = "en" if lang == "en" else "zh-hans"
    bo = harness.up.user(bo_id, "Bo", code)
    harness.record({bo_id: "Bo (resident, Building 1)"})

    await harness.feed(harness.up.text(bo, "/start"))
    assert [w["menu"]] in harness.tg.buttons(harness.tg.last(bo_id)) or \
        any(w["menu"] in row for row in harness.tg.buttons(harness.tg.last(bo_id)))
    await harness.feed(harness.up.callback_on(harness.tg.last(bo_id), bo, w["menu"]))
    first = screen(harness, bo_id)
    assert w["head"] in first and w["status"] in first and w["due"] in first
    assert tags[0] in first and tags[5] in first and tags[6] not in first  # six a page, soonest deadline first
    assert tags[7] not in first and tags[8] not in first
    buttons = [b for row in harness.tg.buttons(harness.tg.last(bo_id)) for b in row]
    assert f"{w['follow']} {tags[0]}" in " ".join(buttons) and w["more"] in buttons

    harness.note("Bo follows the first issue with one tap")
    await harness.feed(harness.up.callback_on(harness.tg.last(bo_id), bo, f"{w['follow']} {tags[0]}"))
    assert w["followed"] in (harness.tg.alerts()[-1].params.get("text") or "")
    assert tags[0] not in " ".join(b for row in harness.tg.buttons(
        harness.tg.current(bo_id, harness.tg.last(bo_id).message_id)) for b in row)
    async with harness.sessions() as s:
        bo_m = (await s.execute(select(Member).where(Member.telegram_id == bo_id))).scalar_one()
        first_issue = (await s.execute(select(Issue).where(Issue.reference == tags[0][1:]))).scalar_one()
        assert (await s.execute(select(IssueFollower).where(
            IssueFollower.member_id == bo_m.id, IssueFollower.issue_id == first_issue.id))).scalar_one()

    harness.note("The next page: the last open issue and the one fixed 3 days ago (the one fixed 40 days ago is gone)")
    await harness.feed(harness.up.callback_on(harness.tg.last(bo_id), bo, w["more"]))
    second = screen(harness, bo_id)
    assert tags[6] in second and tags[7] in second and w["fixed"] in second and tags[8] not in second
    assert w["page2"] in second
    await harness.feed(harness.up.callback_on(harness.tg.last(bo_id), bo, f"📷 {tags[7]} {w['photos']}"))
    album = harness.tg.sent(bo_id, "sendMediaGroup")[-1]
    media = [m["media"] for m in album.params["media"]]
    assert media[0].startswith("before-") and media[-1].startswith("after-")
    _no_reporter(harness)
    harness.save_transcript(f"board_{'en' if lang == 'en' else 'zh'}",
                            "The building board: open and fixed, never who" if lang == "en"
                            else "楼栋公示栏：在办与已整改，不显示上报人")


async def _at(harness: BotHarness, local: datetime) -> None:
    now = harness.clock()
    target = local.replace(tzinfo=TZ)
    harness.clock.advance(seconds=(target - now).total_seconds())


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
async def test_weekly_post_on_monday_once_per_week_across_a_restart(
        harness: BotHarness, community: Any, lang: str) -> None:
    w = WORDS[lang]
    _bo, tags = await _setup(harness, lang, 73000 if lang == "en" else 74000)
    async with harness.sessions() as s:
        c = (await s.execute(select(Community))).scalars().first()
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        assert c is not None
        now = harness.clock()
        s.add(Survey(community_id=c.id, title="Autumn survey", questions=[{"text": "Clean?"}], building_ids=[b1.id],
                     target=2 / 3, starts_at=now, ends_at=now + timedelta(days=14), status="running",
                     created_at=now))
        await s.commit()
    harness.record({RESIDENTS_CHAT: "Building 1 residents' chat"})

    harness.note("Friday, the weekend and Monday 08:57: nothing yet")
    assert not await harness.tick()
    await _at(harness, datetime(2026, 11, 23, 8, 57))
    await harness.tick()
    await harness.deliver()
    assert not harness.tg.sent(RESIDENTS_CHAT)

    harness.note("Monday 09:00: the weekly post is queued; the bot restarts before sending it and ticks again")
    # Each harness.tick() is a new Ticker, as after a restart; two minutes apart so the old lease has lapsed.
    await _at(harness, datetime(2026, 11, 23, 9, 0))
    assert not await harness.tick()
    await _at(harness, datetime(2026, 11, 23, 9, 2))
    assert not await harness.tick()
    await harness.deliver()
    texts = harness.tg.texts(RESIDENTS_CHAT)
    assert len(texts) == 2, texts  # the post and one before/after album
    post = texts[0]
    assert w["week"] in post and w["fixed_week"] in post and w["open_week"] in post
    assert tags[7] in post and tags[0] in post and tags[8] not in post
    assert w["survey"] in post  # running surveys with their coverage: every household counts
    album = harness.tg.sent(RESIDENTS_CHAT, "sendMediaGroup")
    assert len(album) == 1 and [m["media"][:6] for m in album[0].params["media"]] == ["before", "before", "after-"]

    harness.note("Later on Monday and on Tuesday: already posted this week")
    await _at(harness, datetime(2026, 11, 23, 15, 0))
    await harness.tick()
    await _at(harness, datetime(2026, 11, 24, 10, 0))
    await harness.tick()
    await harness.deliver()
    assert len(harness.tg.texts(RESIDENTS_CHAT)) == 2

    harness.note("The next Monday: the next week's post")
    await _at(harness, datetime(2026, 11, 30, 9, 30))
    await harness.tick()
    await harness.deliver()
    assert len(harness.tg.sent(RESIDENTS_CHAT, "sendMessage")) == 2
    _no_reporter(harness)
    harness.save_transcript(f"board_weekly_{'en' if lang == 'en' else 'zh'}",
                            "The Monday board post to the residents' chat" if lang == "en"
                            else "每周一通报：居民群公示")


async def test_weekly_post_can_be_switched_off(harness: BotHarness, community: Any) -> None:
    await _setup(harness, "en", 75000)
    async with harness.sessions() as s:
        c = (await s.execute(select(Community))).scalars().first()
        assert c is not None
        c.settings = {**(c.settings or {}), "board": {"weekly": False}}
        await s.commit()
    await _at(harness, datetime(2026, 11, 23, 9, 30))
    await harness.tick()
    await harness.deliver()
    assert not harness.tg.sent(RESIDENTS_CHAT)


async def test_a_quiet_week_sends_nothing(harness: BotHarness, community: Any) -> None:
    """Nothing open, nothing fixed, nothing being asked: the residents' chat is not told so every Monday."""
    harness.tg.add_chat(RESIDENTS_CHAT, type="supergroup", title="Building 1 residents")
    await _at(harness, datetime(2026, 11, 23, 9, 30))
    await harness.tick()
    await harness.deliver()
    assert not harness.tg.sent(RESIDENTS_CHAT)
