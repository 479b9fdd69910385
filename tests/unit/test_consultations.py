"""Consultations (民意征集): one vote per household, decided over ALL households of the places.

Building 1 of tests/data/structure.yaml has `households: 48` (labels "1" … "48"). Passing needs
strictly more than 60% of 48, i.e. 29 households agreeing: 30 passes, 28 does not — whether the
answers came through the bot or door to door (入户), and across a restart (fresh sessions and
services on the same database between the votes and the deadline)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.services.access import NotAllowed, Place
from bot.services.consultations import ConsultationError, ConsultationsService, result_xlsx
from bot.services.households import HouseholdsService
from bot.services.members import MembersService
from models import Building, Member, Role

HEADERS = ["Building", "Household", "Answer", "How", "Comment", "When"]
CHOICES = ["Agree", "Disagree", "No opinion"]
VIA = {"bot": "in the bot", "in_person": "recorded by the captain, in person"}


async def _building(s: AsyncSession, key: str) -> Building:
    return (await s.execute(select(Building).where(Building.key == key))).scalar_one()


async def _person(s: AsyncSession, clock: FrozenClock, tid: int, name: str, role: str, b: Building) -> Member:
    m = Member(telegram_id=tid, first_name=name, prefs={}, created_at=clock())
    s.add(m)
    await s.flush()
    await MembersService(s, clock).grant(m, role, Place(b.community_id, b.area_id, b.id), source="invite")
    return m


async def _run(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, agree: int,
               base: int) -> tuple[Any, bytes]:
    """`agree` households agree: the first half through the bot (one of them changes its mind on the way,
    and a second member of a household re-votes for it), the rest door to door; 10 disagree; the rest
    never answer. A restart happens between the bot votes and the door-to-door round."""
    async with sessions() as s:
        b1 = await _building(s, "b1")
        members = MembersService(s, clock)
        captain = await _person(s, clock, base, "Cap", "captain", b1)
        households = HouseholdsService(s, clock)
        flats = await households.of_building(b1.id)
        assert len(flats) == 48
        service = ConsultationsService(s, clock)
        c = await service.start(await members.actor(captain), building_ids=[b1.id],
                                question="Repaint the stairwells?", deadline=clock() + timedelta(days=7))
        by_bot = agree // 2
        for i in range(by_bot):
            r = await _person(s, clock, base + 1 + i, f"R{i}", "resident", b1)
            await households.join(r, flats[i].id)
            actor = await members.actor(r)
            if i == 0:
                await service.vote(actor, r, c.id, 1, comment="too expensive")
            await service.vote(actor, r, c.id, 0)  # changed its mind: still one vote for the household
        # A second member of household 1 votes the same: still one vote.
        mate = await _person(s, clock, base + 100, "Mate", "resident", b1)
        await households.join(mate, flats[0].id)
        await service.vote(await members.actor(mate), mate, c.id, 0)
        h, vote = await service.my_household(mate, c.id)
        assert h is not None and vote is not None and vote.voter_id == mate.id  # the household sees who
        cid, cap_id = c.id, captain.id
        await s.commit()

    clock.advance(days=3)
    # "Restart": new sessions and services, nothing kept in memory.
    async with sessions() as s:
        members = MembersService(s, clock)
        captain = await s.get(Member, cap_id)
        assert captain is not None
        actor = await members.actor(captain)
        service = ConsultationsService(s, clock)
        missing = await service.missing(actor, cid)
        todo = [h for unit in missing.values() for h in unit]
        assert len(todo) == 48 - by_bot
        for h in todo[:agree - by_bot]:
            await service.record(actor, cid, h.id, 0, form_photo="signed-form")
        for h in todo[agree - by_bot:agree - by_bot + 10]:
            await service.record(actor, cid, h.id, 1)
        tally = await service.tally(cid)
        assert (tally.households, tally.answered, tally.counts) == (48, agree + 10, [agree, 10, 0])
        await s.commit()

    clock.advance(days=5)
    async with sessions() as s:
        service = ConsultationsService(s, clock)
        assert await service.due() == [cid]
        result = await service.close(cid)
        assert result is not None
        assert await service.close(cid) is None  # a second tick changes nothing
        c = await service.get(cid)
        xlsx = result_xlsx(result.table, choices=CHOICES, buildings=await service.building_names(c),
                           headers=HEADERS, via_words=VIA)
        await s.commit()
    return result, xlsx


def _sheet(xlsx: bytes) -> list[tuple[Any, ...]]:
    ws = load_workbook(io.BytesIO(xlsx)).active
    assert ws is not None
    return list(ws.iter_rows(values_only=True))


@pytest.mark.parametrize(("agree", "passed"), [(30, True), (28, False), (29, True)])
async def test_more_than_60_percent_of_all_households(sessions: async_sessionmaker[AsyncSession],
                                                      clock: FrozenClock, community: Any, agree: int,
                                                      passed: bool) -> None:
    result, xlsx = await _run(sessions, clock, agree, 930000 + agree * 1000)
    t = result.tally
    assert (t.households, t.answered, t.counts, t.passed) == (48, agree + 10, [agree, 10, 0], passed)
    rows = _sheet(xlsx)
    assert rows[0] == tuple(HEADERS) and len(rows) == 1 + 48  # every household, answered or not
    assert sum(1 for r in rows[1:] if r[2] == "Agree") == agree
    assert sum(1 for r in rows[1:] if r[3] == VIA["in_person"]) == agree - agree // 2 + 10
    assert sum(1 for r in rows[1:] if r[2] is None) == 48 - agree - 10


async def test_who_may_start_vote_and_record(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock,
                                             community: Any) -> None:
    async with sessions() as s:
        b1, b2 = await _building(s, "b1"), await _building(s, "b2")
        members = MembersService(s, clock)
        households = HouseholdsService(s, clock)
        captain = await _person(s, clock, 940001, "Cap", "captain", b1)
        other_captain = await _person(s, clock, 940002, "Cap2", "captain", b2)
        resident = await _person(s, clock, 940003, "Res", "resident", b1)
        stranger = await _person(s, clock, 940004, "Str", "resident", b2)
        service = ConsultationsService(s, clock)
        deadline = clock() + timedelta(days=3)
        with pytest.raises(NotAllowed):  # a captain of another building
            await service.start(await members.actor(other_captain), building_ids=[b1.id], question="?",
                                deadline=deadline)
        with pytest.raises(NotAllowed):  # a resident
            await service.start(await members.actor(resident), building_ids=[b1.id], question="?",
                                deadline=deadline)
        c = await service.start(await members.actor(captain), building_ids=[b1.id], question="Bike shed?",
                                deadline=deadline, choices=["Yes", "No", "Later"], secret=True)
        flat = (await households.of_building(b1.id))[0]
        with pytest.raises(ConsultationError, match="no_household"):  # not yet in a household
            await service.vote(await members.actor(resident), resident, c.id, 0)
        await households.join(resident, flat.id)
        with pytest.raises(ConsultationError, match="choice"):  # forged callback data
            await service.vote(await members.actor(resident), resident, c.id, 7)
        await service.vote(await members.actor(resident), resident, c.id, 2)
        # A resident of another building has no household here, and cannot get one recorded by their captain.
        with pytest.raises(ConsultationError, match="no_household"):
            await service.vote(await members.actor(stranger), stranger, c.id, 0)
        with pytest.raises(NotAllowed):
            await service.record(await members.actor(other_captain), c.id, flat.id, 0)
        # Secret ballot: the captain's table says who answered, never what or who voted.
        table = await service.table(await members.actor(captain), c.id)
        answered = [r for r in table if r.via is not None]
        assert len(answered) == 1 and answered[0].choice is None and answered[0].voter is None
        # A former captain can no longer record answers nor see the table.
        role = (await s.execute(select(Role).where(Role.member_id == captain.id))).scalar_one()
        await s.delete(role)
        await s.flush()
        second = (await households.of_building(b1.id))[1]
        with pytest.raises(NotAllowed):
            await service.record(await members.actor(captain), c.id, second.id, 0)
        with pytest.raises(NotAllowed):
            await service.table(await members.actor(captain), c.id)
        # Closing early: only by the author, only once the outcome can no longer change.
        with pytest.raises(ConsultationError, match="not_author"):
            await service.close(c.id, actor=await members.actor(resident))
        with pytest.raises(ConsultationError, match="can_still_change"):
            await service.close(c.id, actor=await members.actor(captain))


async def test_early_close_when_decided_and_votes_end_at_the_deadline(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Any) -> None:
    async with sessions() as s:
        b1 = await _building(s, "b1")
        members = MembersService(s, clock)
        captain = await _person(s, clock, 950001, "Cap", "captain", b1)
        actor = await members.actor(captain)
        service = ConsultationsService(s, clock)
        c = await service.start(actor, building_ids=[b1.id], question="Close the gate at night?",
                                deadline=clock() + timedelta(days=3))
        flats = await HouseholdsService(s, clock).of_building(b1.id)
        for h in flats[:28]:
            await service.record(actor, c.id, h.id, 0)
        assert not (await service.tally(c.id)).decided
        await service.record(actor, c.id, flats[28].id, 0)  # 29 of 48 > 60%: no missing answer can undo it
        tally = await service.tally(c.id)
        assert tally.passed and tally.decided
        result = await service.close(c.id, actor=actor)
        assert result is not None and result.closed_early and result.tally.passed
        with pytest.raises(ConsultationError, match="closed"):
            await service.record(actor, c.id, flats[30].id, 1)
        # Fails for sure once 20 households disagree (at most 28 can still agree).
        d = await service.start(actor, building_ids=[b1.id], question="Paint it pink?",
                                deadline=clock() + timedelta(days=3))
        for h in flats[:20]:
            await service.record(actor, d.id, h.id, 1)
        assert (await service.tally(d.id)).decided
        clock.advance(days=4)
        with pytest.raises(ConsultationError, match="closed"):
            await service.record(actor, d.id, flats[30].id, 0)
