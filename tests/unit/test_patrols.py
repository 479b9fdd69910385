"""Patrol rules with a fixed clock on a real database: generation (and DST), capacity, drop/swap,
reminders sent once across ticks and restarts, alerts, hours, auto-close, roster message, digest API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.config import Settings
from bot.jobs import JobContext, Ticker
from bot.services.access import Actor, NotAllowed, Place
from bot.services.chats import ChatsService
from bot.services.members import MembersService
from bot.services.outbox import Outbox
from bot.services.patrols import (
    PatrolError,
    PatrolService,
    parse_people,
    parse_time,
    patrol_summary,
    remember_roster_message,
    resolve_local,
    volunteer_hours,
)
from bot.services.structure import StructureService
from models import Area, Community, Member, OutboxItem, PatrolShift, RosterMessage, ShiftAssignment
from tests.conftest import DATA

SH = ZoneInfo("Asia/Shanghai")


def svc(session: AsyncSession, clock: FrozenClock) -> PatrolService:
    members = MembersService(session, clock)
    return PatrolService(session, clock, members, ChatsService(session, clock, members), Outbox(session, clock))


async def person(session: AsyncSession, tid: int, name: str = "") -> tuple[Member, Actor]:
    members = MembersService(session)
    member = await members.by_telegram_id(tid)
    if member is None:
        member = Member(telegram_id=tid, first_name=name, prefs={})
        session.add(member)
        await session.flush()
    if name:
        member.first_name = name
    return member, await members.actor(member)


async def volunteer(session: AsyncSession, community: Community, tid: int, name: str) -> tuple[Member, Actor]:
    member, _a = await person(session, tid, name)
    await MembersService(session).grant(member, "volunteer", Place(community.id), source="invite")
    return await person(session, tid, name)


async def north(session: AsyncSession, community: Community) -> Place:
    area = (await session.execute(select(Area).where(Area.community_id == community.id, Area.key == "north"))
            ).scalar_one()
    return Place(community.id, area.id)


async def north_loop(session: AsyncSession, clock: FrozenClock, community: Community, *, low: int = 2,
                     high: int = 4, weeks: int = 4) -> tuple[PatrolService, int]:
    s = svc(session, clock)
    _m, head = await person(session, 2001, "Zhou")
    route = await s.create_route(head, await north(session, community), "North loop", "Round the north area",
                                 [("North gate", 31.2304, 121.4737), ("Bike shed", None, None)])
    await s.add_template(head, route.id, weekdays=[0, 1, 2, 3, 4], start_minute=19 * 60, end_minute=21 * 60,
                         min_volunteers=low, max_volunteers=high)
    await s.generate(head, [route.id], weeks)
    await session.commit()
    return s, route.id


async def shift_on(session: AsyncSession, route_id: int, day: date) -> PatrolShift:
    return (await session.execute(select(PatrolShift).where(
        PatrolShift.route_id == route_id, PatrolShift.local_date == day))).scalar_one()


async def outbox(session: AsyncSession, kind: str | None = None, prefix: str | None = None) -> list[OutboxItem]:
    stmt = select(OutboxItem).order_by(OutboxItem.id)
    if kind:
        stmt = stmt.where(OutboxItem.kind == kind)
    if prefix:
        stmt = stmt.where(OutboxItem.dedup_key.startswith(prefix))
    return list((await session.execute(stmt)).scalars())


# ------------------------------------------------------------------------------------- parsing, time


def test_parsers() -> None:
    assert parse_time("19:00") == 1140 and parse_time("7.30") == 450 and parse_time("1900") == 1140
    assert parse_time("19：05") == 1145 and parse_time("25:00") is None and parse_time("soon") is None
    assert parse_people("2-4") == (2, 4) and parse_people("2–4") == (2, 4) and parse_people("3") == (3, 3)
    assert parse_people("4-2") is None and parse_people("0-2") is None and parse_people("a") is None


def test_dst_free_zone_is_plain() -> None:
    assert resolve_local(date(2026, 11, 20), 19 * 60, SH) == datetime(2026, 11, 20, 11, 0, tzinfo=UTC)


def test_london_spring_forward_moves_to_next_valid_minute() -> None:
    london = ZoneInfo("Europe/London")
    # 28 Mar 2027: clocks jump 01:00 GMT -> 02:00 BST; 01:30 does not exist -> 02:00 BST = 01:00 UTC.
    assert resolve_local(date(2027, 3, 28), 90, london) == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    assert resolve_local(date(2027, 3, 28), 150, london) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


def test_london_autumn_ambiguous_takes_first() -> None:
    london = ZoneInfo("Europe/London")
    # 31 Oct 2027: 01:30 happens twice; the first is BST (00:30 UTC).
    assert resolve_local(date(2027, 10, 31), 90, london) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


def test_callback_strings_match_keyboards() -> None:
    from bot.keyboards.patrols import PatrolCb, RosterCb

    assert PatrolCb(action="take", id=12).pack() == "pt:take:12:"
    assert PatrolCb(action="swapok", id=3).pack() == "pt:swapok:3:"
    assert PatrolCb(action="menu").pack() == "pt:menu:0:"
    assert RosterCb(action="shift", id=7).pack() == "ro:shift:7:"
    assert RosterCb(action="assign", id=7).pack() == "ro:assign:7:"


# ------------------------------------------------------------------------------------- generation


async def test_generation_never_duplicates(session: AsyncSession, clock: FrozenClock, community: Any) -> None:
    s, route_id = await north_loop(session, clock, community)
    shifts = (await session.execute(select(PatrolShift).where(PatrolShift.route_id == route_id)
                                    .order_by(PatrolShift.starts_at))).scalars().all()
    # Fri 20 Nov (today, 19:00 still ahead) .. Thu 17 Dec: 20 weekdays.
    assert len(shifts) == 20
    assert shifts[0].local_date == date(2026, 11, 20)
    assert shifts[0].starts_at == datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    assert shifts[0].ends_at == datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
    _m, head = await person(session, 2001)
    assert await s.generate(head, [route_id], 4) == 0
    assert await s.generate(head, [route_id], 5) == 5  # only the new week
    total = (await session.execute(select(func.count()).select_from(PatrolShift))).scalar_one()
    assert total == 25


async def test_generation_skips_shifts_already_started(session: AsyncSession, clock: FrozenClock,
                                                       community: Any) -> None:
    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))  # 20:00 local: today's shift has started
    _s, route_id = await north_loop(session, clock, community, weeks=1)
    days = (await session.execute(select(PatrolShift.local_date).where(PatrolShift.route_id == route_id))
            ).scalars().all()
    assert date(2026, 11, 20) not in days and len(days) == 4


async def test_dst_generation_in_london(session: AsyncSession, clock: FrozenClock, community: Any) -> None:
    community = await session.get(Community, community.id)
    community.timezone = "Europe/London"
    clock.set(datetime(2027, 3, 22, 12, 0, tzinfo=UTC))
    s = svc(session, clock)
    _m, head = await person(session, 2001)
    route = await s.create_route(head, await north(session, community), "Night watch")
    await s.add_template(head, route.id, dates=[date(2027, 3, 28)], start_minute=90, end_minute=180,
                         min_volunteers=1, max_volunteers=2)
    assert await s.generate(head, [route.id], 2) == 1
    shift = await shift_on(session, route.id, date(2027, 3, 28))
    assert shift.starts_at == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 02:00 BST
    assert shift.ends_at == datetime(2027, 3, 28, 2, 0, tzinfo=UTC)  # 03:00 BST
    clock.set(datetime(2027, 10, 25, 12, 0, tzinfo=UTC))
    await s.add_template(head, route.id, dates=[date(2027, 10, 31)], start_minute=90, end_minute=150,
                         min_volunteers=1, max_volunteers=2)
    assert await s.generate(head, [route.id], 1) == 1
    autumn = await shift_on(session, route.id, date(2027, 10, 31))
    assert autumn.starts_at == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # first 01:30 (BST)


async def test_only_planners_of_the_place(session: AsyncSession, clock: FrozenClock, community: Any) -> None:
    s = svc(session, clock)
    _m, captain = await person(session, 3001)  # captain of Building 1, not of the North area
    with pytest.raises(NotAllowed):
        await s.create_route(captain, await north(session, community), "North loop")
    _m, south_head = await person(session, 2003)
    with pytest.raises(NotAllowed):
        await s.create_route(south_head, await north(session, community), "North loop")
    places = [p.label for p in await s.planning_places(captain)]
    assert places == ["Building 1"]


# ------------------------------------------------------------------------------------- capacity


async def test_capacity_is_enforced_atomically(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock,
                                               community: Any) -> None:
    async with sessions() as session:
        _s, route_id = await north_loop(session, clock, community, low=1, high=2)
        for tid, name in ((4003, "Chen"), (4004, "Liu")):
            await volunteer(session, community, tid, name)
        shift_id = (await shift_on(session, route_id, date(2026, 11, 23))).id
        await session.commit()
    async with sessions() as a:
        li, li_actor = await person(a, 4001, "Li")
        await svc(a, clock).take(li_actor, li, shift_id)
        await a.commit()
    # Two people press Take on the last place: both saw one place left; the conditional UPDATE decides.
    async with sessions() as b, sessions() as c:
        sb, sc = svc(b, clock), svc(c, clock)
        liu, liu_actor = await person(c, 4004)
        seen = await sc.view(shift_id)
        assert seen.shift.filled == 1
        await c.commit()  # SQLite: one writer at a time, so let the other session in
        chen, chen_actor = await person(b, 4003)
        await sb.take(chen_actor, chen, shift_id)
        await b.commit()
        with pytest.raises(PatrolError) as err:
            await sc.take(liu_actor, liu, shift_id)
        assert err.value.reason == "full"
    async with sessions() as d:
        shift = await d.get(PatrolShift, shift_id)
        assert shift is not None and shift.filled == 2
        held = (await d.execute(select(func.count()).select_from(ShiftAssignment).where(
            ShiftAssignment.shift_id == shift_id, ShiftAssignment.status == "active"))).scalar_one()
        assert held == 2


async def test_take_twice_and_overlap(session: AsyncSession, clock: FrozenClock, community: Any) -> None:
    s, route_id = await north_loop(session, clock, community)
    li, actor = await person(session, 4001, "Li")
    shift = await shift_on(session, route_id, date(2026, 11, 23))
    await s.take(actor, li, shift.id)
    with pytest.raises(PatrolError) as err:
        await s.take(actor, li, shift.id)
    assert err.value.reason == "already"
    _m, head = await person(session, 2001)
    extra = await s.add_one_off(head, route_id, date(2026, 11, 23), 20 * 60, 22 * 60, 1, 2)
    with pytest.raises(PatrolError) as err:
        await s.take(actor, li, extra.id)
    assert err.value.reason == "overlap"
    resident, resident_actor = await person(session, 7777, "Resident")
    with pytest.raises(NotAllowed):
        await s.take(resident_actor, resident, shift.id)


# ------------------------------------------------------------------------------------- drop and swap


async def test_drop_until_12_hours_and_cover_call(session: AsyncSession, clock: FrozenClock, community: Any) -> None:
    s, route_id = await north_loop(session, clock, community)
    li, li_a = await person(session, 4001, "Li")
    wang, wang_a = await person(session, 4002, "Wang")
    monday = await shift_on(session, route_id, date(2026, 11, 23))
    await s.take(li_a, li, monday.id)
    await s.take(wang_a, wang, monday.id)
    await s.drop(wang_a, wang, monday.id)  # 3 days ahead: fine, and now below the minimum of 2
    covers = await outbox(session, "patrol_cover")
    assert [c.chat_id for c in covers] == []  # the only other volunteer (Li) is on the shift already
    await s.take(wang_a, wang, monday.id)
    today = await shift_on(session, route_id, date(2026, 11, 20))  # 19:00 today, 10 h away
    await s.take(li_a, li, today.id)
    await s.take(wang_a, wang, today.id)
    with pytest.raises(PatrolError) as err:
        await s.drop(wang_a, wang, today.id)
    assert err.value.reason == "too_late"
    # "Can't make it" still works: the captains (here the North area head) are told, the pool is called.
    _chen, _c = await volunteer(session, community, 4003, "Chen")
    await s.drop(wang_a, wang, today.id, reason="cant_make_it")
    cant = await outbox(session, "patrol_cant")
    assert [c.chat_id for c in cant] == [2001] and "Wang" in cant[0].payload["text"]
    covers = await outbox(session, "patrol_cover")
    assert [c.chat_id for c in covers] == [4003]
    assert covers[0].expires_at == today.starts_at
    assert covers[0].payload["buttons"][0][0][1] == f"pt:take:{today.id}:"


async def test_captain_can_remove_late(session: AsyncSession, clock: FrozenClock, community: Any) -> None:
    s, route_id = await north_loop(session, clock, community)
    li, li_a = await person(session, 4001, "Li")
    today = await shift_on(session, route_id, date(2026, 11, 20))
    await s.take(li_a, li, today.id)
    a = (await s.view(today.id)).assignment_of(li.id)
    assert a is not None
    _m, head = await person(session, 2001)
    v, who = await s.remove(head, a.id)
    assert who.id == li.id and v.shift.filled == 0
    assert (await outbox(session, "patrol_removed"))[0].chat_id == 4001


async def test_captain_assigns_and_the_volunteer_answers(session: AsyncSession, clock: FrozenClock,
                                                         community: Any) -> None:
    """The request and the answer are recorded as events and worded by bot/notices/patrols.py."""
    s, route_id = await north_loop(session, clock, community)
    li, _li_a = await person(session, 4001, "Li")
    _m, head = await person(session, 2001)
    tuesday = await shift_on(session, route_id, date(2026, 11, 24))
    v, who = await s.assign(head, tuesday.id, li.id)
    a = v.assignment_of(li.id)
    assert who.id == li.id and a is not None and a.status == "invited" and v.shift.filled == 0
    ask = (await outbox(session, "patrol_assign"))[0]
    assert ask.chat_id == 4001 and all(w in ask.payload["text"] for w in ("Zhou", "19:00–21:00", "North loop"))
    assert [b[1] for b in ask.payload["buttons"][0]] == [f"pt:yes:{a.id}:", f"pt:no:{a.id}:"]
    v, changed = await s.answer_assignment(li, a.id, True)
    assert changed and v.shift.filled == 1 and v.names() == ["Li"]
    answer = (await outbox(session, "patrol_assign_answer"))[0]
    assert answer.chat_id == 2001 and all(w in answer.payload["text"] for w in ("✅ Li", "19:00–21:00", "North loop"))
    assert (await s.answer_assignment(li, a.id, True))[1] is False


async def test_swap_first_to_accept_takes_it(session: AsyncSession, clock: FrozenClock, community: Any) -> None:
    s, route_id = await north_loop(session, clock, community)
    li, li_a = await person(session, 4001, "Li")
    wang, wang_a = await person(session, 4002, "Wang")
    chen, chen_a = await volunteer(session, community, 4003, "Chen")
    tuesday = await shift_on(session, route_id, date(2026, 11, 24))
    await s.take(wang_a, wang, tuesday.id)
    swap, sent, new = await s.request_swap(wang_a, wang, tuesday.id)
    assert new and sent == 2
    assert (await s.request_swap(wang_a, wang, tuesday.id))[2] is False  # no second offer
    with pytest.raises(PatrolError):
        await s.accept_swap(wang_a, wang, swap.id)
    v = await s.accept_swap(li_a, li, swap.id)
    assert v.names() == ["Li"] and v.shift.filled == 1
    with pytest.raises(PatrolError) as err:
        await s.accept_swap(chen_a, chen, swap.id)
    assert err.value.reason == "gone"
    told = {(i.chat_id, i.kind) for i in await outbox(session, "patrol_swapped")}
    assert told == {(4002, "patrol_swapped"), (2001, "patrol_swapped")}


async def test_cancel_shift_tells_volunteers_and_drops_reminders(session: AsyncSession, clock: FrozenClock,
                                                                community: Any) -> None:
    s, route_id = await north_loop(session, clock, community)
    li, li_a = await person(session, 4001, "Li")
    monday = await shift_on(session, route_id, date(2026, 11, 23))
    await s.take(li_a, li, monday.id)
    clock.set(datetime(2026, 11, 22, 11, 0, tzinfo=UTC))  # Sun 19:00: 24 h reminder due
    await s.run_reminders()
    assert len(await outbox(session, "patrol_reminder")) == 1
    _m, head = await person(session, 2001)
    v, changed = await s.cancel_shift(head, monday.id)
    assert changed and v.shift.status == "cancelled"
    assert (await outbox(session, "patrol_reminder"))[0].status == "expired"
    assert (await outbox(session, "patrol_cancelled"))[0].chat_id == 4001
    assert (await s.cancel_shift(head, monday.id))[1] is False


# ------------------------------------------------------------------------------------- reminders


async def test_reminders_once_across_ticks_and_restarts(sessions: async_sessionmaker[AsyncSession],
                                                        clock: FrozenClock, community: Any,
                                                        settings: Settings) -> None:
    async with sessions() as session:
        s, route_id = await north_loop(session, clock, community)
        li, li_a = await person(session, 4001, "Li")
        li.quiet_start, li.quiet_end = 22 * 60, 8 * 60  # quiet hours do not hold back shift reminders
        wang, wang_a = await person(session, 4002, "Wang")
        monday = await shift_on(session, route_id, date(2026, 11, 23))
        await s.take(li_a, li, monday.id)
        await s.take(wang_a, wang, monday.id)
        await session.commit()
    ctx = JobContext(sessions, clock, settings)
    ticker = Ticker(ctx)
    clock.set(datetime(2026, 11, 22, 10, 59, tzinfo=UTC))  # Sun 18:59 local: 24 h 1 min before
    await ticker.tick()
    async with sessions() as session:
        assert await outbox(session, "patrol_reminder") == []
    clock.set(datetime(2026, 11, 22, 11, 0, tzinfo=UTC))
    await ticker.tick()
    await ticker.tick()
    # A restart: a new process (new instance) ticks once the old one's lease has run out.
    clock.advance(seconds=91)
    assert await Ticker(ctx, instance="after-restart").tick() == []
    async with sessions() as session:
        items = await outbox(session, "patrol_reminder")
        assert sorted(i.chat_id for i in items) == [4001, 4002]
        assert all(i.urgent and not i.deferred and i.expires_at == monday.starts_at for i in items)
        assert ":r24:" in items[0].dedup_key
        buttons = [b[0] for b in items[0].payload["buttons"][0]]
        assert len(buttons) == 2
    clock.set(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))  # Mon 18:00 local
    await Ticker(ctx).tick()
    clock.advance(seconds=91)
    await Ticker(ctx, instance="another").tick()
    async with sessions() as session:
        one_hour = [i for i in await outbox(session, "patrol_reminder") if ":r1:" in i.dedup_key]
        assert sorted(i.chat_id for i in one_hour) == [4001, 4002]
        assert "1 hour" in one_hour[0].payload["text"] or "1小时" in one_hour[0].payload["text"]


async def test_no_24h_reminder_when_taken_within_a_day(session: AsyncSession, clock: FrozenClock,
                                                       community: Any) -> None:
    s, route_id = await north_loop(session, clock, community)
    li, li_a = await person(session, 4001, "Li")
    today = await shift_on(session, route_id, date(2026, 11, 20))
    await s.take(li_a, li, today.id)
    await s.run_reminders()
    assert await outbox(session, "patrol_reminder") == []
    clock.set(today.starts_at - timedelta(minutes=59))
    await s.run_reminders()
    assert [":r1:" in i.dedup_key for i in await outbox(session, "patrol_reminder")] == [True]


async def test_captain_alerts(session: AsyncSession, clock: FrozenClock, community: Any) -> None:
    s, route_id = await north_loop(session, clock, community)
    li, li_a = await person(session, 4001, "Li")
    monday = await shift_on(session, route_id, date(2026, 11, 23))
    await s.take(li_a, li, monday.id)
    clock.set(monday.starts_at - timedelta(hours=47))
    await s.run_alerts()
    await s.run_alerts()
    under = [i for i in await outbox(session, "patrol_understaffed") if f"pt:s{monday.id}:" in i.dedup_key]
    assert [(i.chat_id, ":u48:" in i.dedup_key) for i in under] == [(2001, True)]
    clock.set(monday.starts_at - timedelta(hours=23))
    await s.run_alerts()
    await s.run_alerts()
    under = [i for i in await outbox(session, "patrol_understaffed") if f"pt:s{monday.id}:" in i.dedup_key]
    assert [":u24:" in i.dedup_key for i in under] == [False, True]
    clock.set(monday.starts_at + timedelta(minutes=14))
    await s.run_alerts()
    assert [i for i in await outbox(session, "patrol_no_checkin") if f"pt:s{monday.id}:" in i.dedup_key] == []
    clock.set(monday.starts_at + timedelta(minutes=15))
    await s.run_alerts()
    await s.run_alerts()
    nci = [i for i in await outbox(session, "patrol_no_checkin") if f"pt:s{monday.id}:" in i.dedup_key]
    assert [i.chat_id for i in nci] == [2001] and "Li" in nci[0].payload["text"]


# ------------------------------------------------------------------------------------- during and after


async def test_check_in_checkpoints_out_and_hours(session: AsyncSession, clock: FrozenClock, community: Any) -> None:
    s, route_id = await north_loop(session, clock, community)
    li, li_a = await person(session, 4001, "Li")
    wang, wang_a = await person(session, 4002, "Wang")
    today = await shift_on(session, route_id, date(2026, 11, 20))
    await s.take(li_a, li, today.id)
    await s.take(wang_a, wang, today.id)
    with pytest.raises(PatrolError) as err:
        await s.check_in(li, today.id)
    assert err.value.reason == "window"
    clock.set(today.starts_at + timedelta(minutes=2))
    _v, new = await s.check_in(li, today.id, 31.2305, 121.4738)
    assert new and (await s.check_in(li, today.id))[1] is False
    on = await outbox(session, "patrol_on")
    assert [i.chat_id for i in on] == [4002] and "Li" in on[0].payload["text"]
    route = await s.route(route_id)
    _gate, shed = route.checkpoints
    clock.advance(minutes=20)
    assert await s.log_checkpoint(li, today.id, shed.id) == ("Bike shed", 1)
    clock.advance(minutes=20)
    assert await s.log_checkpoint(li, today.id, lat=31.2305, lon=121.4737) == ("North gate", 2)
    assert await s.log_checkpoint(li, today.id, lat=31.30, lon=121.50) == ("", 3)
    clock.set(today.starts_at + timedelta(hours=2))
    _v, out = await s.check_out(li, today.id, "All quiet")
    assert out
    hours = await s.hours(li)
    assert hours.total == pytest.approx(2.0, abs=0.05) and hours.month == hours.total
    _m, head = await person(session, 2001)
    rec = await s.record(head, today.id)
    li_row = next(r for r in rec.rows if r.member.id == li.id)
    assert [x.name for x in li_row.visits] == ["Bike shed", "North gate", ""]
    assert li_row.assignment.check_out_note == "All quiet"
    with pytest.raises(NotAllowed):
        await s.record(li_a, today.id)


async def test_auto_close_after_two_hours(session: AsyncSession, clock: FrozenClock, community: Any) -> None:
    s, route_id = await north_loop(session, clock, community)
    wang, wang_a = await person(session, 4002, "Wang")
    today = await shift_on(session, route_id, date(2026, 11, 20))
    await s.take(wang_a, wang, today.id)
    clock.set(today.starts_at)
    await s.check_in(wang, today.id)
    clock.set(today.ends_at + timedelta(hours=1, minutes=59))
    assert await s.run_auto_close() == 0
    clock.set(today.ends_at + timedelta(hours=2))
    assert await s.run_auto_close() == 1
    assert await s.run_auto_close() == 0
    a = (await s.view(today.id)).assignment_of(wang.id)
    assert a is not None and a.auto_closed and a.checked_out_at == today.ends_at
    assert (await s.view(today.id)).shift.status == "done"
    assert (await s.hours(wang)).total == 2.0
    assert [i.chat_id for i in await outbox(session, "patrol_auto_closed")] == [2001]


async def test_digest_figures(session: AsyncSession, clock: FrozenClock, community: Any) -> None:
    s, route_id = await north_loop(session, clock, community)
    li, li_a = await person(session, 4001, "Li")
    wang, wang_a = await person(session, 4002, "Wang")
    friday = await shift_on(session, route_id, date(2026, 11, 20))
    monday = await shift_on(session, route_id, date(2026, 11, 23))
    await s.take(li_a, li, friday.id)
    await s.take(wang_a, wang, friday.id)
    clock.set(friday.starts_at)
    await s.check_in(li, friday.id)
    clock.set(friday.starts_at + timedelta(hours=1, minutes=30))
    await s.check_out(li, friday.id, "ok")
    start = datetime(2026, 11, 19, 16, 0, tzinfo=UTC)  # Fri 20 Nov 00:00 local
    summary = await patrol_summary(session, community.id, start, start + timedelta(days=4))
    assert summary.planned == 2 and summary.staffed == 1 and summary.checked_in == 1
    assert [m.shift_id for m in summary.missed] == [monday.id]
    assert summary.findings == 0 and summary.references == []
    assert await volunteer_hours(session, community.id, start, start + timedelta(days=1)) == [("Li", 1.5)]


# ------------------------------------------------------------------------------------- roster message


async def test_weekly_roster_posted_monday_and_edited(session: AsyncSession, clock: FrozenClock,
                                                      community: Any) -> None:
    s, route_id = await north_loop(session, clock, community)
    clock.set(datetime(2026, 11, 22, 23, 30, tzinfo=UTC))  # Mon 07:30 local
    assert await s.run_weekly_roster() == 0
    clock.set(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))  # Mon 08:00 local
    assert await s.run_weekly_roster() == 1
    assert await s.run_weekly_roster() == 0
    item = (await outbox(session, "patrol_roster"))[0]
    assert item.chat_id == -1001000000021  # the North area's team chat
    assert "North loop" in item.payload["text"]
    li, li_a = await person(session, 4001, "Li")
    monday = await shift_on(session, route_id, date(2026, 11, 23))
    await s.take(li_a, li, monday.id)  # not sent yet: the pending message itself changes
    assert "Li" in (await outbox(session, "patrol_roster"))[0].payload["text"]
    item.message_id = 77
    await remember_roster_message(session, item)
    rm = (await session.execute(select(RosterMessage))).scalar_one()
    await session.refresh(rm)
    assert rm.message_id == 77
    wang, wang_a = await person(session, 4002, "Wang")
    await s.take(wang_a, wang, monday.id)
    edit = (await outbox(session, "patrol_roster_edit"))[0]
    assert edit.payload["message_id"] == 77 and "Wang" in edit.payload["text"]


# ------------------------------------------------------------------------------------- structure file


STRUCTURE_PATROLS = """
patrols:
  routes:
    - key: north-loop
      name: North loop
      area: north
      description: Round the north area
      checkpoints:
        - name: North gate
          location: [31.2304, 121.4737]
        - Bike shed
      shifts:
        - weekdays: [mon, tue, wed, thu, fri]
          start: "19:00"
          end: "21:00"
          min: 2
          max: 4
    - name: B1 stairwells
      building: b1
      shifts:
        - dates: [2026-12-31]
          start: "22:00"
          end: "00:30"
          min: 1
          max: 2
"""


async def test_structure_file_routes(session: AsyncSession, clock: FrozenClock, community: Any) -> None:
    text = (DATA / "structure.yaml").read_text(encoding="utf-8") + STRUCTURE_PATROLS
    report = await StructureService(session, clock).import_text(text)
    assert "patrol route North loop" in report.created
    s = svc(session, clock)
    _m, head = await person(session, 2001)
    routes = {r.name: r for r in await s.routes_for(head)}
    north_loop_route = await s.route(routes["North loop"].id)
    assert [c.name for c in north_loop_route.checkpoints] == ["North gate", "Bike shed"]
    assert north_loop_route.templates[0].weekdays == [0, 1, 2, 3, 4]
    again = await StructureService(session, clock).import_text(text)
    assert not [x for x in again.created + again.removed if "patrol" in x]
    _m, captain = await person(session, 3001)
    assert [r.name for r in await s.routes_for(captain)] == ["B1 stairwells"]
    bad = (DATA / "structure.yaml").read_text(encoding="utf-8") + STRUCTURE_PATROLS.replace("area: north",
                                                                                           "area: nowhere")
    from bot.services.structure import StructureError

    with pytest.raises(StructureError, match="nowhere"):
        await StructureService(session, clock).import_text(bad)
