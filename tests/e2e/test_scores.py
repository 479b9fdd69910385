"""Scores and rankings (月考核, 季评比, 红黑榜) from known inputs, in November 2026 (the test clock's month):

Building 1: two issues due in November, both fixed in time (on-time 100%), both closed after a check on
site (verified 100%), rated 5 and 5 (satisfaction 100%), an inspection with 8 of 8 items passed → 100.0.
Building 2: two issues due, one fixed in time (50%), one of two closures checked on site (50%), rated 3
(50%), 4 of 8 items passed (50%) → 50.0.
Building 3: one issue due, not fixed (0%); one patrol shift on its route, staffed (100%); nothing else →
(25 × 0 + 10 × 1) / 35 = 28.6.
Areas: North (Buildings 1 and 2) 75.0, South (Building 3) 28.6.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from bot.notices.scores import public_list_text, ranking_text
from bot.services.digests import DigestService
from bot.services.scores import ScoresService
from models import (
    Building,
    Community,
    Inspection,
    Issue,
    Member,
    PatrolRoute,
    PatrolShift,
    ShiftAssignment,
)
from tests.conftest import BotHarness
from tests.e2e.test_inspections import set_locales

SH = ZoneInfo("Asia/Shanghai")
GOLDEN = Path(__file__).resolve().parent.parent / "golden"
STAFF, NORTH_HEAD, CAPTAIN, VOLUNTEER = 2002, 2001, 3001, 4001
OFFICE, RESIDENTS_B1 = -1001000000001, -1001000000031


def local(day: int, hour: int = 10, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SH).astimezone(UTC)


async def known_month(harness: BotHarness) -> None:
    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        b = {x.key: x for x in (await s.execute(select(Building))).scalars()}
        n = 0

        def issue(bid: Building, due: datetime, resolved: datetime | None = None, how: str | None = None,
                  rating: int | None = None) -> Issue:
            nonlocal n
            n += 1
            status = "closed" if how else ("resolved" if resolved else "accepted")
            return Issue(community_id=c.id, number=n, reference=f"NC{n:04d}", area_id=bid.area_id,
                         building_id=bid.id, category="litter", status=status, created_at=due - timedelta(days=1),
                         deadline_at=due, resolved_at=resolved, closed_at=resolved + timedelta(hours=2)
                         if how else None, close_how=how, satisfaction=rating)

        s.add_all([
            issue(b["b1"], local(5), local(4), "verified", 5), issue(b["b1"], local(12), local(11), "verified", 5),
            issue(b["b2"], local(6), local(5), "verified", 3), issue(b["b2"], local(7), local(9), "confirmed"),
            issue(b["b3"], local(8)),
        ])
        for bid, passed, failed in ((b["b1"].id, 8, 0), (b["b2"].id, 4, 4)):
            s.add(Inspection(community_id=c.id, building_id=bid, checklist_key="default", items=[], results=[],
                             status="done", passed=passed, failed=failed, started_at=local(10),
                             finished_at=local(10, 11)))
        volunteer = (await s.execute(select(Member).where(Member.telegram_id == VOLUNTEER))).scalar_one()
        route = PatrolRoute(community_id=c.id, building_id=b["b3"].id, key="b3loop", name="Building 3 loop")
        s.add(route)
        await s.flush()
        shift = PatrolShift(community_id=c.id, route_id=route.id, local_date=date(2026, 11, 14),
                            starts_at=local(14, 19), ends_at=local(14, 21), min_volunteers=1, max_volunteers=2,
                            filled=1, status="done")
        s.add(shift)
        await s.flush()
        s.add(ShiftAssignment(shift_id=shift.id, member_id=volunteer.id, status="active",
                              checked_in_at=local(14, 19), checked_out_at=local(14, 21)))
        await s.commit()


async def test_monthly_ranking_order_from_known_inputs(harness: BotHarness, community: Any) -> None:
    await known_month(harness)
    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        r = await ScoresService(s, harness.clock).ranking(c, "month", date(2026, 11, 20))
    assert [(x.name, x.score, x.rank) for x in r.buildings] == [
        ("Building 1", 100.0, 1), ("Building 2", 50.0, 2), ("Building 3", 28.6, 3)]
    assert r.buildings[0].parts == {"on_time": 1.0, "verified": 1.0, "satisfaction": 1.0, "inspections": 1.0}
    assert r.buildings[2].parts == {"on_time": 0.0, "patrols": 1.0}
    assert [(a.name, a.score) for a in r.areas] == [("North area", 75.0), ("South area", 28.6)]
    assert r.buildings[2].weakest() == "on_time"


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
async def test_ranking_command_areas_see_their_own_office_sees_all(harness: BotHarness, community: Any,
                                                                  lang: str) -> None:
    await known_month(harness)
    await set_locales(harness, lang, [STAFF, NORTH_HEAD, CAPTAIN])
    up = harness.up
    staff, head, captain = up.user(STAFF, "Wang", "en"), up.user(NORTH_HEAD, "Zhao", "en"), up.user(CAPTAIN, "Z", "en")
    harness.record({STAFF: "Office staff Wang", NORTH_HEAD: "North area head Zhao", CAPTAIN: "Captain Zhang"})
    await harness.feed(up.text(staff, "/ranking"))
    office = harness.tg.last(STAFF).text
    weights = {"en": "⚖️ Weights: on-time fixes 25 · verified on site 15 · satisfaction 20 · inspection pass rate "
                     "20 · cleaning-day turnout 10 · patrol shifts staffed 10",
               "zh_Hans": "⚖️ 权重：按时整改 25 · 现场验收 15 · 满意度 20 · 检查合格率 20 · 清洁日参与率 10 · "
                          "巡逻到岗率 10"}[lang]
    assert weights in office
    assert office.index("Building 1") < office.index("Building 2") < office.index("Building 3")
    assert "<b>100.0</b>" in office and "<b>28.6</b>" in office
    await harness.feed(up.text(head, "/ranking"))
    area = harness.tg.last(NORTH_HEAD).text
    assert "Building 1" in area and "Building 2" in area and "Building 3" not in area and "South" not in area
    assert weights in area
    await harness.feed(up.text(captain, "/ranking"))
    assert "Building 1" not in (harness.tg.last(CAPTAIN).text or "")
    harness.save_transcript(f"ranking_{'en' if lang == 'en' else 'zh'}", "Ranking: the office sees all, an area "
                            "its own" if lang == "en" else "排名：社区办公室看全部，片长看本片区")


async def test_monthly_report_has_the_ranking(harness: BotHarness, community: Any) -> None:
    await known_month(harness)
    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        built = await DigestService(s, harness.clock).build(c, "monthly", date(2026, 11, 1), area_id=None,
                                                           locale="en")
    ranking = next(t for t in built.texts if "Building ranking" in t)
    assert "1. Building 1 — <b>100.0</b>" in ranking and "⚖️ Weights:" in ranking
    weekly = await _weekly(harness)
    assert not any("Building ranking" in t for t in weekly)


async def _weekly(harness: BotHarness) -> list[str]:
    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        return (await DigestService(s, harness.clock).build(c, "weekly", date(2026, 11, 19), area_id=None,
                                                            locale="en")).texts


@pytest.mark.parametrize("name", ["ranking_en", "ranking_zh", "board_en", "board_zh"])
async def test_golden(harness: BotHarness, community: Any, name: str) -> None:
    """The report sections, compared with tests/golden/scores_NAME.html (UPDATE_GOLDEN=1 rewrites)."""
    from bot.i18n import use_locale

    await known_month(harness)
    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        r = await ScoresService(s, harness.clock).ranking(c, "month", date(2026, 11, 20))
    with use_locale("en" if name.endswith("en") else "zh_Hans"):
        got = (ranking_text(r) if name.startswith("ranking") else public_list_text(r)) + "\n"
    path = GOLDEN / f"scores_{name}.html"
    if os.environ.get("UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")


async def test_red_and_black_list_only_when_turned_on_and_quarterly_report(harness: BotHarness,
                                                                          community: Any) -> None:
    await known_month(harness)
    up = harness.up
    up.group(RESIDENTS_B1, "Building 1 residents")
    up.group(OFFICE, "Nanchi office")
    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        c.created_at = local(1, month=10)
        await s.commit()
    harness.clock.set(datetime(2026, 12, 1, 9, 30, tzinfo=SH).astimezone(UTC))
    await harness.tick()
    await harness.deliver()
    assert not any("红黑榜" in t for t in harness.tg.texts(RESIDENTS_B1)), "off by default"

    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        c.settings = {**(c.settings or {}), "scores": {"public_list": True}}
        c.created_at = local(1, month=10)  # reports start with the community's first whole period
        flag_modified(c, "settings")
        await s.commit()
    for _n in range(2):  # a second tick (a restart, another instance) sends nothing twice
        harness.clock.advance(minutes=2)  # past the previous tick's lease
        await harness.tick()
    await harness.deliver()
    # The community's language is Chinese: the residents' chat reads it in Chinese.
    board = [t for t in harness.tg.texts(RESIDENTS_B1) if "红黑榜" in t]
    assert len(board) == 1
    red, black = board[0].split("⚫")
    assert "1. Building 1 — 100.0" in red
    assert "3. Building 3 — 28.6" in black and "需改进按时整改（0%）" in black
    for person in ("Volunteer", "Resident", "Wang", "Zhang"):
        assert person not in board[0]

    harness.clock.set(datetime(2027, 1, 1, 9, 30, tzinfo=SH).astimezone(UTC))
    for _n in range(2):
        harness.clock.advance(minutes=2)
        await harness.tick()
    await harness.deliver()
    quarterly = [t for t in harness.tg.texts(OFFICE) if "季度通报" in t]
    assert len(quarterly) == 1 and "2026" in quarterly[0] and "Building 1" in quarterly[0]
