"""Cleaning days at service level: occurrences, reminder moments in two time zones (one across DST),
catch-up after downtime, mute settings, quiet hours, RSVP counting and the digest figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.services.access import Place
from bot.services.cleaning import CleaningService, DayClosed, Draft, cleaning_figures
from bot.services.members import MembersService, TelegramPerson
from models import Building, CleaningDay, Community, OutboxItem


async def resident(s: AsyncSession, clock: FrozenClock, tg_id: int, *, building: str = "b1", **attrs: Any) -> Any:
    members = MembersService(s, clock)
    b = (await s.execute(select(Building).where(Building.key == building))).scalar_one()
    m = await members.touch(TelegramPerson(id=tg_id, first_name=f"R{tg_id}", language_code="en"))
    m.started = True
    for k, v in attrs.items():
        setattr(m, k, v)
    await members.grant(m, "resident", Place(b.community_id, b.area_id, b.id), source="import")
    return m


async def captain_actor(s: AsyncSession, clock: FrozenClock, tg_id: int = 3001) -> Any:
    members = MembersService(s, clock)
    m = await members.by_telegram_id(tg_id)
    assert m is not None
    return m, await members.actor(m)


async def make_series(s: AsyncSession, clock: FrozenClock, community: Any, **kw: Any) -> Any:
    svc = CleaningService(s, clock)
    m, actor = await captain_actor(s, clock)
    b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
    draft = Draft(community_id=community.id, building_ids=[b1.id], **kw)
    series, created = await svc.create(actor, draft)
    assert created
    return svc, series, m, actor


async def keys(s: AsyncSession, prefix: str) -> list[OutboxItem]:
    return list((await s.execute(select(OutboxItem).where(OutboxItem.dedup_key.startswith(prefix))
                                 .order_by(OutboxItem.id))).scalars())


async def test_occurrences_are_materialised_once(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock,
                                                 community: Any) -> None:
    async with sessions() as s:
        svc, series, *_ = await make_series(s, clock, community, freq="monthly_day", month_day=31,
                                            start_date=date(2026, 11, 20))
        days = (await s.execute(select(CleaningDay.local_date).order_by(CleaningDay.local_date))).scalars().all()
        assert days == [date(2026, 11, 30), date(2026, 12, 31)]
        assert await svc.materialise(series) == 0  # a second run adds nothing
        clock.advance(days=40)
        await svc.materialise_all()
        days = (await s.execute(select(CleaningDay.local_date).order_by(CleaningDay.local_date))).scalars().all()
        assert days[-1] == date(2027, 2, 28)


async def test_reminders_at_local_times_with_mute_and_quiet_hours(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Any) -> None:
    async with sessions() as s:
        ann = await resident(s, clock, 80001)
        await resident(s, clock, 80002, prefs={"cleaning": False})
        night = await resident(s, clock, 80003, quiet_start=22 * 60, quiet_end=8 * 60 + 30)
        await resident(s, clock, 80004, started=False)
        svc, _series, *_ = await make_series(s, clock, community, freq="weekly", weekday=5,
                                            start_date=date(2026, 11, 28), start_minutes=9 * 60)
        # 3 days before at 09:00 Shanghai = Wed 25 Nov 01:00 UTC.
        clock.set(datetime(2026, 11, 25, 0, 59, tzinfo=UTC))
        assert await svc.send_due_reminders() == 0
        clock.set(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
        await svc.send_due_reminders()
        rows = await keys(s, "clean:")
        # muted and never-started are left out; the residents' chat gets it once
        assert [r.member_id for r in rows if r.chat_id > 0] == [ann.id, night.id]
        assert [r.chat_id for r in rows if r.chat_id < 0] == [-1001000000031]
        assert await svc.send_due_reminders() == 0  # a double tick sends nothing again
        # The morning reminder at 08:00 falls in 80003's quiet hours (until 08:30): deferred, not dropped.
        clock.set(datetime(2026, 11, 28, 0, 0, tzinfo=UTC))
        await svc.send_due_reminders()
        morning = [r for r in await keys(s, "clean:") if ":0d@08:00:" in r.dedup_key]
        deferred = {r.member_id: (r.deferred, r.not_before) for r in morning if r.chat_id > 0}
        assert deferred[ann.id] == (False, datetime(2026, 11, 28, 0, 0, tzinfo=UTC))
        assert deferred[night.id] == (True, datetime(2026, 11, 28, 0, 30, tzinfo=UTC))
        assert all(r.expires_at == datetime(2026, 11, 28, 1, 0, tzinfo=UTC) for r in morning)


async def test_catch_up_sends_only_the_latest_due_reminder(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Any) -> None:
    async with sessions() as s:
        await resident(s, clock, 80101)
        svc, _series, *_ = await make_series(s, clock, community, freq="once", start_date=date(2026, 11, 22))
        # Created on Friday for Sunday: "3 days before" has passed already; the bot was also down
        # through Saturday evening. One reminder goes out, the latest due (the evening before).
        clock.set(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
        await svc.send_due_reminders()
        rows = [r for r in await keys(s, "clean:") if r.chat_id > 0]
        assert len(rows) == 1 and ":1d@19:00:" in rows[0].dedup_key


async def test_reminders_in_london_follow_dst(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock,
                                              community: Any) -> None:
    async with sessions() as s:
        c = await s.get(Community, community.id)
        assert c is not None
        c.timezone = "Europe/London"
        await resident(s, clock, 80201)
        clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
        svc, _series, *_ = await make_series(s, clock, community, freq="once", start_date=date(2026, 3, 29),
                                            start_minutes=10 * 60)
        day = (await s.execute(select(CleaningDay))).scalar_one()
        assert day.starts_at == datetime(2026, 3, 29, 9, 0, tzinfo=UTC)  # 10:00 BST
        clock.set(datetime(2026, 3, 28, 19, 0, tzinfo=UTC))  # 19:00 GMT the evening before
        await svc.send_due_reminders()
        private = [r for r in await keys(s, "clean:") if r.chat_id > 0]
        assert [":1d@19:00:" in r.dedup_key for r in private] == [True]
        clock.set(datetime(2026, 3, 29, 6, 59, tzinfo=UTC))  # 07:59 BST
        await svc.send_due_reminders()
        assert len([r for r in await keys(s, "clean:") if r.chat_id > 0]) == 1
        clock.set(datetime(2026, 3, 29, 7, 0, tzinfo=UTC))  # 08:00 BST
        await svc.send_due_reminders()
        assert len([r for r in await keys(s, "clean:") if r.chat_id > 0]) == 2


async def test_rsvp_counting_and_changes(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock,
                                         community: Any) -> None:
    async with sessions() as s:
        a = await resident(s, clock, 80301)
        b = await resident(s, clock, 80302)
        svc, _series, *_ = await make_series(s, clock, community, freq="once", start_date=date(2026, 11, 28))
        day = (await s.execute(select(CleaningDay))).scalar_one()
        members = MembersService(s, clock)
        aa, ba = await members.actor(a), await members.actor(b)
        assert (await svc.rsvp(aa, a, day.id, True)).changed
        assert not (await svc.rsvp(aa, a, day.id, True)).changed  # one RSVP per person
        await svc.rsvp(ba, b, day.id, True)
        assert await svc.counts(day.id) == (2, 0)
        await svc.rsvp(ba, b, day.id, False)  # changing the answer is allowed
        assert await svc.counts(day.id) == (1, 1)
        stranger = await members.touch(TelegramPerson(id=80399, first_name="X"))
        try:
            await svc.rsvp(await members.actor(stranger), stranger, day.id, True)
            raise AssertionError("a stranger outside any linked chat may not RSVP")
        except Exception as exc:  # NotAllowed
            assert type(exc).__name__ == "NotAllowed"
        # From the linked residents' chat the person pressing counts, even if not registered yet.
        await svc.rsvp(await members.actor(stranger), stranger, day.id, True, chat_id=-1001000000031)
        assert await svc.counts(day.id) == (2, 1)
        clock.set(day.ends_at)
        try:
            await svc.rsvp(aa, a, day.id, False)
            raise AssertionError("closed")
        except DayClosed as exc:
            assert exc.reason == "over"


async def test_digest_summary(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Any) -> None:
    async with sessions() as s:
        a = await resident(s, clock, 80401)
        svc, _series, _m, actor = await make_series(s, clock, community, freq="weekly", weekday=5,
                                                  start_date=date(2026, 11, 21))
        days = (await s.execute(select(CleaningDay).order_by(CleaningDay.local_date))).scalars().all()
        await svc.rsvp(await MembersService(s, clock).actor(a), a, days[1].id, True)
        clock.set(days[0].ends_at + timedelta(minutes=5))
        _day, _posted = await svc.record(actor, days[0].id, attended=[a.id], others=22, bags=4,
                                         summary="Stairwells 1–4 cleared", photos=[])
        figures = await cleaning_figures(s, community.id, days[0].starts_at - timedelta(hours=12),
                                         days[0].starts_at + timedelta(hours=12),
                                         days[0].starts_at + timedelta(days=8))
        assert figures.held[0].attendance == 23 and figures.held[0].bags == 4
        assert figures.upcoming[0].coming == 1 and figures.upcoming[0].place == "Building 1"
        posted = await keys(s, "clean_summary:")
        assert len(posted) == 1 and posted[0].chat_id == -1001000000031
        assert "23位邻居参加，垃圾4袋。" in posted[0].payload["text"]  # the chat's language: the community's
