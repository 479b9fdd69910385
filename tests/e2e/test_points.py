"""Volunteer points (志愿积分) from known shifts, in November 2026 (the test clock's month):

Li (4001): patrols 19:00–21:00 on 3 Nov and 19:00–20:30 on 10 Nov, checked in and out (3.5 h × 10 = 35),
a shift on 12 Nov the bot closed because nobody checked out (0), one cleaning day attended (5) → 40.
Wang (4002): one patrol hour (10) → 10.
/points shows each their points, breakdown and rank; the monthly report names the volunteers of the month
to the office; the residents' chats' thank-you names only whoever agreed in /settings.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.services.digests import DigestService
from models import (
    Building,
    CleaningDay,
    CleaningRsvp,
    CleaningSeries,
    Community,
    Member,
    PatrolRoute,
    PatrolShift,
    ShiftAssignment,
)
from tests.conftest import BotHarness
from tests.e2e.test_cleaning import tap
from tests.e2e.test_inspections import set_locales

SH = ZoneInfo("Asia/Shanghai")
GOLDEN = Path(__file__).resolve().parent.parent / "golden"
LI, WANG, CAPTAIN = 4001, 4002, 3001
RESIDENTS_B1 = -1001000000031


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH).astimezone(UTC)


async def known_shifts(harness: BotHarness) -> None:
    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        c.created_at = local(1, 0, month=10)
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        people = {m.telegram_id: m for m in (await s.execute(select(Member).where(
            Member.telegram_id.in_([LI, WANG])))).scalars()}
        people[LI].first_name, people[WANG].first_name = "Li", "Wang"
        route = PatrolRoute(community_id=c.id, key="north", name="North loop")
        s.add(route)
        await s.flush()

        async def shift(who: int, day: int, start: tuple[int, int], end: tuple[int, int], auto: bool = False) -> None:
            sh = PatrolShift(community_id=c.id, route_id=route.id, local_date=date(2026, 11, day),
                             starts_at=local(day, *start), ends_at=local(day, *end), min_volunteers=1,
                             max_volunteers=3, filled=1, status="done")
            s.add(sh)
            await s.flush()
            s.add(ShiftAssignment(shift_id=sh.id, member_id=people[who].id, status="active",
                                  checked_in_at=local(day, *start), checked_out_at=local(day, *end),
                                  auto_closed=auto))

        await shift(LI, 3, (19, 0), (21, 0))
        await shift(LI, 10, (19, 0), (20, 30))
        await shift(LI, 12, (19, 0), (21, 0), auto=True)
        await shift(WANG, 4, (19, 0), (20, 0))
        series = CleaningSeries(community_id=c.id, scope="buildings", building_ids=[b1.id], freq="once",
                                start_date=date(2026, 11, 7))
        s.add(series)
        await s.flush()
        day = CleaningDay(series_id=series.id, community_id=c.id, local_date=date(2026, 11, 7),
                          starts_at=local(7, 9), ends_at=local(7, 11), status="held")
        s.add(day)
        await s.flush()
        s.add(CleaningRsvp(day_id=day.id, member_id=people[LI].id, coming=True, attended=True))
        await s.commit()


WORDS = {
    "en": {"li": ["This month: <b>40</b> points · rank 1 of 2", "🚶 Patrols: 3.5 h × 10 = 35",
                  "🧹 Cleaning days: 1 × 5 = 5", "10 per patrol hour"],
           "wang": ["This month: <b>10</b> points · rank 2 of 2"],
           "notifications": "🔔 Notifications", "opt_in": "⬜ Name me in public volunteer thanks"},
    "zh_Hans": {"li": ["本月：<b>40</b>分 · 排名第1（共2人）", "🚶 巡逻：3.5小时 × 10 = 35",
                       "🧹 清洁日：1次 × 5 = 5", "每巡逻1小时10分"],
                "wang": ["本月：<b>10</b>分 · 排名第2（共2人）"],
                "notifications": "🔔 通知设置", "opt_in": "⬜ 公开致谢时可以写我的名字"},
}


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
async def test_points_from_known_shifts(harness: BotHarness, community: Any, lang: str) -> None:
    await known_shifts(harness)
    await set_locales(harness, lang, [LI, WANG])
    up = harness.up
    li, wang = up.user(LI, "Li", "en"), up.user(WANG, "Wang", "en")
    harness.record({LI: "Volunteer Li", WANG: "Volunteer Wang"})
    await harness.feed(up.text(li, "/points"))
    text = harness.tg.last(LI).text
    for words in WORDS[lang]["li"]:
        assert words in text
    await harness.feed(up.text(wang, "/points"))
    for words in WORDS[lang]["wang"]:
        assert words in harness.tg.last(WANG).text
    harness.save_transcript(f"points_{'en' if lang == 'en' else 'zh'}", "Volunteer points from known shifts"
                            if lang == "en" else "志愿积分：按已知班次计算")


async def test_thanks_name_only_who_agreed_and_the_office_sees_the_stars(harness: BotHarness,
                                                                        community: Any) -> None:
    await known_shifts(harness)
    await set_locales(harness, "en", [LI, WANG])
    up = harness.up
    up.group(RESIDENTS_B1, "Building 1 residents")
    wang = up.user(WANG, "Wang", "en")
    harness.record({LI: "Volunteer Li", WANG: "Volunteer Wang", RESIDENTS_B1: "Building 1 residents"})
    harness.note("Wang agrees to be named in public; Li does not say anything")
    await harness.feed(up.text(wang, "/settings"))
    await tap(harness, WANG, wang, "🔔 Notifications")
    await tap(harness, WANG, wang, "⬜ Name me in public volunteer thanks")
    async with harness.sessions() as s:
        assert (await s.execute(select(Member.prefs).where(Member.telegram_id == WANG))).scalar_one()[
            "points_public"] is True

    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        built = await DigestService(s, harness.clock).build(c, "monthly", date(2026, 11, 1), area_id=None,
                                                           locale="en")
    stars = next(t for t in built.texts if "Volunteers of the month" in t)
    assert "1. Li — 40 points" in stars and "2. Wang — 10 points" in stars  # the office may see names

    harness.note("1 December, 09:30: the thank-you post in the residents' chat, twice ticked")
    for minutes in (30, 32, 34):
        harness.clock.set(datetime(2026, 12, 1, 9, minutes, tzinfo=SH).astimezone(UTC))
        await harness.tick()
    await harness.deliver()
    thanks = [t for t in harness.tg.texts(RESIDENTS_B1) if "志愿" in t or "volunteer" in t.lower()]
    assert len(thanks) == 1
    assert "Wang" in thanks[0] and "Li" not in thanks[0].replace("Last", "")
    assert "2" in thanks[0]  # both are counted
    harness.save_transcript("points_privacy_en", "Volunteer thanks: only who agreed is named")


@pytest.mark.parametrize("name", ["stars_en", "stars_zh", "thanks_en", "thanks_zh"])
async def test_golden(harness: BotHarness, community: Any, name: str) -> None:
    """The report sections, compared with tests/golden/points_NAME.html (UPDATE_GOLDEN=1 rewrites). In the
    thanks, Wang agreed to be named and Li did not."""
    import os

    from bot.i18n import use_locale
    from bot.notices.points import stars_text, thanks_text
    from bot.services.points import PointsService

    await known_shifts(harness)
    async with harness.sessions() as s:
        wang = (await s.execute(select(Member).where(Member.telegram_id == WANG))).scalar_one()
        wang.prefs = {"points_public": True}
        await s.commit()
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        service = PointsService(s, harness.clock)
        standing = await service.standing(c, date(2026, 11, 1), date(2026, 11, 30))
        people = await service.names(standing.tallies)
    with use_locale("en" if name.endswith("en") else "zh_Hans"):
        got = (stars_text(standing, people) if name.startswith("stars") else thanks_text(standing, people)) + "\n"
    path = GOLDEN / f"points_{name}.html"
    if os.environ.get("UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")
    if name.startswith("thanks"):
        assert "Wang" in got and "Li" not in got.replace("Last", "")
