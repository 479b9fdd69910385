"""Digest figures against hand-computed values, with a fixed clock and crafted issues.

The clock is Friday 2026-11-20 09:00 in Shanghai; the digest dated 20 Nov covers Thursday 19 Nov
(local) = UTC [18 Nov 16:00, 19 Nov 16:00) plus what is open at 09:00.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.services.digests import DigestService, parse_request, period_of, send_moment
from models import Building, Community, Issue, IssueEvent

SH = ZoneInfo("Asia/Shanghai")
GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH).astimezone(UTC)


async def buildings(session: AsyncSession) -> dict[str, Building]:
    return {b.key: b for b in (await session.execute(select(Building))).scalars()}


async def add(session: AsyncSession, community: Community, n: int, b: Building, category: str, created: datetime,
              **kw: Any) -> Issue:
    issue = Issue(community_id=community.id, number=n, reference=f"NC{n:04d}", area_id=b.area_id,
                  building_id=b.id, category=category, created_at=created, status=kw.pop("status", "new"), **kw)
    session.add(issue)
    await session.flush()
    return issue


async def crafted(session: AsyncSession, community: Community) -> None:
    """The figures these make are worked out in the docstrings of the tests below."""
    b = await buildings(session)
    b1, b2, b3 = b["b1"], b["b2"], b["b3"]
    await add(session, community, 1, b1, "fire_lane", local(19, 10), urgent=True, deadline_at=local(20, 7))
    await add(session, community, 2, b2, "road", local(10, 9), status="accepted", accepted_at=local(10, 10),
              deadline_at=local(18, 9))
    i3 = await add(session, community, 3, b2, "drainage", local(12, 9), status="accepted",
                   accepted_at=local(12, 10), deadline_at=local(21, 9), escalation_level=1, escalations=1)
    session.add(IssueEvent(issue_id=i3.id, kind="escalated", at=local(19, 20)))
    await add(session, community, 4, b3, "litter", local(19, 8), status="closed", accepted_at=local(19, 8, 30),
              resolved_at=local(19, 14), closed_at=local(19, 18), satisfaction=5, deadline_at=local(20, 8))
    await add(session, community, 5, b3, "litter", local(18, 8), status="resolved", accepted_at=local(19, 9),
              resolved_at=local(19, 20), satisfaction=4, deadline_at=local(19, 8))
    await add(session, community, 6, b2, "parking", local(19, 12), status="accepted", accepted_at=local(19, 13),
              deadline_at=local(22, 12))
    i7 = await add(session, community, 7, b1, "litter", local(15, 9), status="reopened", reopen_count=1)
    session.add(IssueEvent(issue_id=i7.id, kind="status", from_status="resolved", to_status="reopened",
                           at=local(20, 7)))
    # Hotspot: parking in Building 2 three times in 30 days (a fourth, 41 days ago, does not count).
    await add(session, community, 8, b2, "parking", local(1, 9), status="closed", closed_at=local(2, 9))
    await add(session, community, 9, b2, "parking", local(25, 9, month=10), status="closed",
              closed_at=local(26, 9, month=10))
    await add(session, community, 10, b2, "parking", local(10, 9, month=10), status="closed",
              closed_at=local(11, 9, month=10))
    await session.commit()


@pytest.fixture
async def service(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Community
                  ) -> Any:
    async with sessions() as session:
        c = await session.get(Community, community.id)
        assert c is not None
        await crafted(session, c)
        yield DigestService(session, clock), c


async def test_daily_figures(service: Any) -> None:
    """Window (19 Nov): new #1 #4 #6 = 3; accepted #4 (30 min) #5 (25 h) #6 (1 h) → median 1 h; resolved
    #4 (6 h) #5 (36 h) → median 21 h; closed #4; ratings 5 and 4 → 4.5 from 2. Open at 09:00: #1 #2 #3
    #6 #7 = 5; urgent #1 (2 h over); overdue #2 (2 days over); escalated #3; reopened #7; hotspot B2
    parking ×3; missed a deadline on 19 Nov: #5 (due 08:00, resolved 20:00)."""
    svc, community = service
    d = await svc.daily(community, date(2026, 11, 20))
    assert d.covered == date(2026, 11, 19)
    assert (d.new_total, d.accepted, d.resolved, d.closed) == (3, 3, 2, 1)
    assert d.median_accept == 3600
    assert d.median_resolve == 21 * 3600
    assert (d.satisfaction, d.ratings) == (4.5, 2)
    assert d.open_total == 5
    assert d.missed == 1
    assert [r.reference for r in d.urgent.top] == ["NC0001"]
    assert [r.reference for r in d.overdue.top] == ["NC0002"]
    assert [(r.reference, r.escalation_level) for r in d.escalated.top] == [("NC0003", 1)]
    assert [r.reference for r in d.reopened.top] == ["NC0007"]
    assert sorted(d.new_by_category) == [("fire_lane", 1), ("litter", 1), ("parking", 1)]
    assert sorted(d.new_by_building) == [("Building 1", 1), ("Building 2", 1), ("Building 3", 1)]
    assert [(h.building, h.category, h.count) for h in d.hotspots] == [("Building 2", "parking", 3)]
    assert d.chart_days[-1] == date(2026, 11, 19) and len(d.chart_days) == 14
    assert d.chart_new[-1] == 3 and d.chart_resolved[-1] == 2
    assert d.chart_new[-2] == 1  # #5 on 18 Nov
    assert dict(d.open_by_category) == {"fire_lane": 1, "road": 1, "drainage": 1, "parking": 1, "litter": 1}


async def test_daily_text_english(service: Any) -> None:
    svc, community = service
    d = await svc.daily(community, date(2026, 11, 20))
    text = "\n\n".join(svc.render_daily(d, "en"))
    assert "Fri 20 Nov daily digest" in text
    assert "Urgent, not fixed 1: #NC0001 Blocked fire lane or exit (Building 1, 2 h over deadline)" in text
    assert "Overdue 1: #NC0002" in text and "(Building 2, 2 days over)" in text
    assert "Escalated in the last 24 h 1: #NC0003 Drain / sewage / manhole (Building 2) → North area head" in text
    assert "Reopened as not fixed 1: #NC0007" in text
    assert "New 3 · accepted 3 · resolved 2 · closed 1" in text
    assert "Median time to accept 1 h · to resolve 21 h" in text
    assert "Satisfaction 4.5 (2 ratings)" in text
    assert "Open now: 5" in text
    assert "Building 2 Disorderly parking: 3 times" in text
    assert "/issue NC0001" in text
    # Exceptions first.
    assert text.index("Needs attention") < text.index("Yesterday") < text.index("Hotspots")


async def test_daily_text_chinese(service: Any) -> None:
    svc, community = service
    d = await svc.daily(community, date(2026, 11, 20))
    text = "\n\n".join(svc.render_daily(d, "zh_Hans"))
    assert "11月20日（周五）日报" in text
    assert "紧急未办结 1： #NC0001 占用消防通道（Building 1，已超时2小时）" in text
    assert "超期 1： #NC0002" in text and "超期2天" in text
    assert "📥 <b>昨日</b> 11月19日（周四）" in text
    assert "近24小时升级 1：" in text and "→ North area片长" in text
    assert "新上报 3 · 受理 3 · 办结 2 · 销号 1" in text
    assert "受理用时中位数 1小时 · 办结用时中位数 21小时" in text
    assert "满意度 4.5（2人评价）" in text
    assert "当前未办结：5" in text
    assert "Building 2 乱停乱放/僵尸车：30天内3次" in text
    assert "反馈未解决重新打开 1： #NC0007" in text


async def test_period_figures(service: Any) -> None:
    """Week Fri 13 – Thu 19 Nov: new #1 #4 #5 #6 #7 = 5 (previous week Fri 6 – Thu 12: #2 #3 = 2);
    resolved #4 #5; at the end (20 Nov 00:00) open #1 #2 #3 #6 #7. Overdue during the week: #2 (still open,
    deadline 18 Nov) and #5 (deadline 19 Nov 08:00, resolved 12 h late) — a missed deadline counts for the
    week it happened in even when the issue was done by the end."""
    svc, community = service
    r = await svc.period(community, "weekly", date(2026, 11, 19))
    assert (r.start, r.end) == (date(2026, 11, 13), date(2026, 11, 19))
    assert (r.current.new, r.previous.new) == (5, 2)
    assert (r.current.resolved, r.current.closed) == (2, 1)
    assert (r.current.open, r.current.overdue) == (5, 2)
    assert [row.reference for row in r.overdue.top] == ["NC0002", "NC0005"]
    north = next(a for a in r.areas if a.name == "North area")
    assert (north.new, north.resolved, north.open, north.overdue) == (3, 0, 5, 1)
    b3 = next(b for b in r.buildings if b.name == "Building 3")
    assert (b3.new, b3.resolved, b3.open) == (2, 2, 0)
    assert dict(r.top_categories)["litter"] == 3
    text = "\n\n".join(svc.render_period(r, "en"))
    assert "Weekly summary Fri 13 Nov – Thu 19 Nov" in text
    assert "New 5 (+3)" in text
    zh = "\n\n".join(svc.render_period(r, "zh_Hans"))
    assert "周报" in zh and "新上报 5（+3）" in zh


async def test_xlsx_opens(service: Any) -> None:
    import io

    from openpyxl import load_workbook

    svc, community = service
    r = await svc.period(community, "weekly", date(2026, 11, 19))
    for locale in ("en", "zh_Hans"):
        wb = load_workbook(io.BytesIO(svc.xlsx(r, locale)))
        assert len(wb.sheetnames) == 5
        summary = wb.worksheets[0]
        rows = list(summary.iter_rows(values_only=True))
        assert rows[3][1:] == (5, 2, 3)
        overdue = wb.worksheets[3]
        assert list(overdue.iter_rows(values_only=True))[1][0] == "#NC0002"


async def test_quiet_day(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock,
                         community: Community) -> None:
    async with sessions() as session:
        c = await session.get(Community, community.id)
        assert c is not None
        b = await buildings(session)
        await add(session, c, 1, b["b1"], "litter", local(10, 9), status="accepted", deadline_at=local(30, 9))
        await add(session, c, 2, b["b2"], "lighting", local(11, 9), status="new", deadline_at=local(30, 9))
        svc = DigestService(session, clock)
        d = await svc.daily(c, date(2026, 11, 20))
        assert d.quiet
        en = svc.render_daily(d, "en")
        assert "Quiet day: 0 new, 2 still open." in en[0]
        zh = svc.render_daily(d, "zh_Hans")
        assert "平静的一天：新上报0件，仍有2件未办结。" in zh[0]


async def test_long_digest_splits_between_sections(sessions: async_sessionmaker[AsyncSession],
                                                   clock: FrozenClock, community: Community) -> None:
    from bot.rendering import plain_len

    async with sessions() as session:
        c = await session.get(Community, community.id)
        assert c is not None
        b = await buildings(session)
        for n in range(1, 400):
            await add(session, c, n, b["b1"], "litter", local(19, 9), deadline_at=local(19, 10),
                      urgent=n % 2 == 0)
        svc = DigestService(session, clock)
        d = await svc.daily(c, date(2026, 11, 20))
        texts = svc.render_daily(d, "en")
        assert all(plain_len(t) <= 4096 for t in texts)
        assert "… and 197 more" in texts[0] or "… and 197 more" in "\n".join(texts)


def test_periods_and_moments() -> None:
    c = Community(key="x", code="X", name="X", timezone="Asia/Shanghai", locale="en", settings={})
    assert period_of("weekly", date(2026, 11, 20)) == (date(2026, 11, 20), date(2026, 11, 26))
    assert period_of("weekly", date(2026, 11, 19)) == (date(2026, 11, 13), date(2026, 11, 19))
    assert period_of("monthly", date(2026, 11, 19)) == (date(2026, 11, 1), date(2026, 11, 30))
    assert send_moment("daily", date(2026, 11, 20), c) == local(20, 8)
    assert send_moment("weekly", date(2026, 11, 13), c) == local(20, 12)
    assert send_moment("monthly", date(2026, 11, 1), c) == local(1, 9, month=12)
    c.settings = {"digest_time": "07:30", "weekly_time": "mon 09:00"}
    assert send_moment("daily", date(2026, 11, 20), c) == local(20, 7, 30)
    assert period_of("weekly", date(2026, 11, 20), c.settings) == (date(2026, 11, 16), date(2026, 11, 22))
    today = date(2026, 11, 20)
    assert parse_request("", today) == ("daily", today)
    assert parse_request("2026-11-18", today) == ("daily", date(2026, 11, 18))
    assert parse_request("11-18", today) == ("daily", date(2026, 11, 18))
    assert parse_request("11月18日", today) == ("daily", date(2026, 11, 18))
    assert parse_request("week", today) == ("weekly", today)
    assert parse_request("next tuesday", today) is None
    assert parse_request("2026-13-40", today) is None


@pytest.mark.parametrize("name", ["daily_en", "daily_zh", "weekly_en", "weekly_zh"])
async def test_golden(service: Any, name: str) -> None:
    """The rendered templates, compared with tests/golden/digests_NAME.html (UPDATE_GOLDEN=1 rewrites)."""
    svc, community = service
    locale = "en" if name.endswith("en") else "zh_Hans"
    if name.startswith("daily"):
        texts = svc.render_daily(await svc.daily(community, date(2026, 11, 20)), locale)
    else:
        texts = svc.render_period(await svc.period(community, "weekly", date(2026, 11, 19)), locale)
    got = "\n\n<!-- next message -->\n\n".join(texts) + "\n"
    path = GOLDEN / f"digests_{name}.html"
    if os.environ.get("UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")


async def test_patrol_and_cleaning_sections_left_out_when_there_are_none(service: Any) -> None:
    # Patrols and cleaning days are typed calls to capabilities that always exist (issue 11): with no
    # shift and no cleaning day, their sections are left out (was: "tolerate missing capabilities").
    svc, community = service
    d = await svc.daily(community, date(2026, 11, 20))
    assert d.patrols is not None and d.patrols.planned == 0 and not d.patrols.no_checkin and d.cleaning == []
    text = "\n".join(svc.render_daily(d, "en"))
    assert "Patrols" not in text and "Cleaning days" not in text


async def test_patrol_and_cleaning_sections_from_summaries(service: Any, monkeypatch: Any) -> None:
    from bot.services.cleaning import CleaningDayLine, CleaningFigures
    from bot.services.digests import queries
    from bot.services.patrols import MissedShift, PatrolSummary

    svc, community = service

    async def patrol_summary(session: Any, community_id: int, start_utc: datetime,
                             end_utc: datetime) -> PatrolSummary:
        return PatrolSummary(planned=4, staffed=3, checked_in=3, findings=2, references=["NC0004"],
                             missed=[MissedShift(1, "North loop", local(19, 19), local(19, 21))])

    async def cleaning_figures(session: Any, community_id: int, start_utc: datetime, end_utc: datetime,
                               upcoming_until_utc: datetime) -> CleaningFigures:
        return CleaningFigures([], [CleaningDayLine(1, date(2026, 11, 21), local(21, 9), "scheduled", "Building 1",
                                                    14, 2, None, None)])

    monkeypatch.setattr(queries, "patrol_summary", patrol_summary)
    monkeypatch.setattr(queries, "cleaning_figures", cleaning_figures)
    d = await svc.daily(community, date(2026, 11, 20))
    en = "\n".join(svc.render_daily(d, "en"))
    assert "Patrols with no check-in 1: North loop 19:00–21:00" in en
    assert "4 planned · 3 staffed · 3 checked in · 2 findings" in en
    assert "Sat 21 Nov 09:00, Building 1: 14 signed up" in en
    zh = "\n".join(svc.render_daily(d, "zh_Hans"))
    assert "计划4班 · 到岗3班 · 签到3班 · 发现问题2件" in zh
    assert "已报名14人" in zh


async def test_area_scope(service: Any) -> None:
    svc, community = service
    b = await buildings(svc.session)
    d = await svc.daily(community, date(2026, 11, 20), area_id=b["b3"].area_id)
    assert d.new_total == 1 and d.open_total == 0
    assert d.resolved == 2


async def test_past_date_open_as_of_then(service: Any) -> None:
    """The digest dated 19 Nov (as of 08:00 that day): #4 was created at 08:00 → open; #5 created 18 Nov,
    resolved 19 Nov 20:00 → open then; #1 and #6 not yet reported."""
    svc, community = service
    d = await svc.daily(community, date(2026, 11, 19))
    refs = {r.reference for r in await svc.open_at(community.id, None, d.as_of)}
    assert refs == {"NC0002", "NC0003", "NC0004", "NC0005", "NC0007"}


async def test_monthly_report_attaches_the_ledger(service: Any) -> None:
    """The bug the name guessing hid (issue 11, "the monthly ledger"): the report looked for the ledger under
    guessed names (ledger_xlsx, export_xlsx, export_ledger, ...) and called what it found with guessed
    arguments; export_ledger needs (sessions, community, area_id, start, end, out), so the call raised a
    TypeError, the `except Exception` swallowed it and the monthly report went out without its ledger.
    Now the words module calls bot.notices.ledger.export_ledger directly, and an error would propagate."""
    svc, community = service
    built = await svc.build(community, "monthly", date(2026, 11, 1), area_id=None, locale="en")
    names = [name for name, _content in built.files]
    assert names == [f"monthly-{community.code}-2026-11-01.xlsx", f"ledger-{community.code}-2026-11.xlsx"]
    weekly = await svc.build(community, "weekly", date(2026, 11, 19), area_id=None, locale="en")
    assert [name for name, _content in weekly.files] == [f"weekly-{community.code}-2026-11-13.xlsx"]
