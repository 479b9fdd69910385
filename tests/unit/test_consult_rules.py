"""The rules behind the /consult wizard and the captain's screens: the typed deadline (reusing the
triage date parser and the recurrence time parser), the tally interval setting, the places each role is
offered, and closing — only by the author, early only when the outcome can no longer change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.services.consultations import ConsultationError, ConsultationsService, parse_deadline, tally_every
from bot.services.households import HouseholdsService
from bot.services.members import MembersService
from models import Building, Community, Member

NOW = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
TZ = "Asia/Shanghai"


@pytest.mark.parametrize(("text", "local"), [
    ("2026-11-27 18:00", "2026-11-27 18:00"),
    ("2026-11-27", "2026-11-27 18:00"),  # no time: the end of the working day, as issue deadlines
    ("11-27 9:30", "2026-11-27 09:30"),
    ("27.11 20", "2026-11-27 20:00"),
    ("11月27日 18:00", "2026-11-27 18:00"),
    ("11月27日18:00", "2026-11-27 18:00"),
])
def test_parse_deadline(text: str, local: str) -> None:
    from zoneinfo import ZoneInfo

    at = parse_deadline(text, NOW, TZ)
    assert at.astimezone(ZoneInfo(TZ)).strftime("%Y-%m-%d %H:%M") == local


@pytest.mark.parametrize(("text", "reason"), [
    ("next friday", "deadline_format"), ("2026-11-19", "deadline_past"), ("2026-11-20 08:00", "deadline_past"),
    ("2027-03-01", "deadline_far"), ("2026-11-27 25:00", "deadline_format"),
])
def test_parse_deadline_refuses(text: str, reason: str) -> None:
    with pytest.raises(ConsultationError) as e:
        parse_deadline(text, NOW, TZ)
    assert e.value.reason == reason


def test_tally_interval_setting() -> None:
    assert tally_every(Community(settings={})) == timedelta(minutes=5)
    assert tally_every(Community(settings={"consultations": {"tally_every_minutes": 2}})) == timedelta(minutes=2)
    for bad in (0, -1, "3", True, None):  # a malformed value keeps the default, never edits every tick
        assert tally_every(Community(settings={"consultations": {"tally_every_minutes": bad}})) == \
            timedelta(minutes=5)


async def _member(s: AsyncSession, tid: int) -> Member:
    return (await s.execute(select(Member).where(Member.telegram_id == tid))).scalar_one()


async def test_places_offered_per_role(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock,
                                       community: Any) -> None:
    async with sessions() as s:
        service = ConsultationsService(s, clock)
        members = MembersService(s, clock)
        captain = [o.kind for o in await service.options(await members.actor(await _member(s, 3001)))]
        assert captain == ["building"]
        area_head = await service.options(await members.actor(await _member(s, 2001)))
        assert "community" not in [o.kind for o in area_head] and area_head
        staff = await service.options(await members.actor(await _member(s, 2002)))
        assert staff[-1].kind == "community" and len(staff[-1].building_ids) >= 3
        volunteer = await service.options(await members.actor(await _member(s, 4001)))
        assert volunteer == []


async def test_close_only_by_its_author_and_early_only_when_decided(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Any) -> None:
    async with sessions() as s:
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        members = MembersService(s, clock)
        author = await members.actor(await _member(s, 3001))
        staff = await members.actor(await _member(s, 2002))
        service = ConsultationsService(s, clock)
        deadline = clock() + timedelta(days=7)
        c = await service.start(author, building_ids=[b1.id], question="Benches?", deadline=deadline)
        flats = await HouseholdsService(s, clock).of_building(b1.id)
        for h in flats[:29]:
            await service.record(author, c.id, h.id, 0)
        _c, t, may = await service.progress(author, c.id)
        assert t.passed and t.decided and may  # 29 of 48 agree: > 60% whatever the rest answer
        _c, _t, may_staff = await service.progress(staff, c.id)
        assert not may_staff  # staff follow it, but only the author closes early
        with pytest.raises(ConsultationError, match="not_author"):
            await service.close(c.id, actor=staff)
        clock.set(deadline + timedelta(minutes=1))
        with pytest.raises(ConsultationError, match="not_author"):  # not even after the deadline
            await service.close(c.id, actor=staff)
        clock.set(deadline - timedelta(days=1))
        result = await service.close(c.id, actor=author)
        assert result is not None and result.closed_early and result.tally.passed
        assert await service.close(c.id, actor=author) is None  # a second press changes nothing
