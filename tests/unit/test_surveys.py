"""Satisfaction surveys: one response per household, coverage per building against two thirds of all
households (people in the bot or not), reminders that survive a restart, results per question."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.services.access import NotAllowed, Place
from bot.services.households import HouseholdsService
from bot.services.members import MembersService
from bot.services.surveys import AlreadyAnswered, SurveysService, survey_lagging, survey_results
from models import Building, Community, Member, OutboxItem


async def _setup(s: AsyncSession, clock: FrozenClock, residents: int = 2) -> tuple[Community, Building, list[Member]]:
    community = (await s.execute(select(Community).where(Community.code == "NC"))).scalar_one()
    b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
    members = MembersService(s, clock)
    people = []
    for i in range(residents):
        m = Member(telegram_id=880000 + i, first_name=f"R{i}", prefs={}, started=True, created_at=clock())
        s.add(m)
        await s.flush()
        await members.grant(m, "resident", Place(community.id, b1.area_id, b1.id), source="invite")
        people.append(m)
    return community, b1, people


async def _actor(s: AsyncSession, clock: FrozenClock, telegram_id: int):  # type: ignore[no-untyped-def]
    members = MembersService(s, clock)
    m = (await s.execute(select(Member).where(Member.telegram_id == telegram_id))).scalar_one()
    return m, await members.actor(m)


async def test_32_of_48_households_meet_two_thirds_and_show_in_the_weekly_figures(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Community) -> None:
    async with sessions() as s:
        c, b1, (ann, bo) = await _setup(s, clock)
        hh = HouseholdsService(s, clock)
        flats = await hh.of_building(b1.id)
        assert len(flats) == 48
        await hh.join(ann, flats[0].id)
        await hh.join(bo, flats[0].id)  # same household as Ann
        staff, staff_actor = await _actor(s, clock, 2002)
        _captain, captain_actor = await _actor(s, clock, 3001)
        service = SurveysService(s, clock)
        survey = await service.start(staff_actor, c, place=Place(c.id, b1.area_id, b1.id), title="Autumn 2026",
                                     by=staff)
        assert len(survey.questions) == 5
        # Both members of the household are invited; only one answer counts.
        invites = (await s.execute(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.kind == "survey_invite"))).scalar_one()
        assert invites == 2
        await service.respond(ann, survey.id, [5, 4, 3, 4, 5], ["", "", "slow", "", ""])
        with pytest.raises(AlreadyAnswered) as caught:
            await service.respond(bo, survey.id, [1, 1, 1, 1, 1])
        assert caught.value.by is not None and caught.value.by.id == ann.id
        mine = await service.status(bo, survey.id)
        assert mine.response is not None and mine.by is not None and mine.by.first_name == "R0"
        # The captain goes door to door for 31 more households.
        missing = await service.missing(captain_actor, survey.id, b1.id)
        assert len(missing) == 47
        for flat in missing[:30]:
            await service.record_in_person(captain_actor, survey.id, flat.id, [4, 4, 4, 4, 4])
        (p,) = await service.progress(survey)
        assert (p.responses, p.households, p.needed, p.met) == (31, 48, 32, False)
        await service.record_in_person(captain_actor, survey.id, missing[30].id, [2, 3, 4, 5, 1])
        (p,) = await service.progress(survey)
        assert (p.responses, p.in_person, p.met, p.coverage) == (32, 31, True, 67)
        await s.commit()

        clock.advance(days=15)
        assert await service.run_due() >= 1
        await s.commit()
        results = await survey_results(s, c.id, clock() - timedelta(days=7), clock())
        (r,) = results
        assert r.all_met and r.closed
        first = r.places[0].questions[0]
        assert first.responses == 32 and first.satisfied == round(100 * 31 / 32)
        assert "cleanliness" in first.question
        result_msg = (await s.execute(select(OutboxItem).where(OutboxItem.kind == "survey_results"))).scalar_one()
        assert result_msg.chat_id == 2002 and "48户中已有32户" in result_msg.payload["caption"]
        assert result_msg.payload["method"] == "document"


async def test_only_staff_start_and_captains_see_only_their_buildings(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Community) -> None:
    async with sessions() as s:
        c, b1, _people = await _setup(s, clock, 0)
        _captain, captain_actor = await _actor(s, clock, 3001)
        _other, other_captain = await _actor(s, clock, 3002)
        staff, staff_actor = await _actor(s, clock, 2002)
        service = SurveysService(s, clock)
        with pytest.raises(NotAllowed):
            await service.start(captain_actor, c, place=Place(c.id, b1.area_id, b1.id), title="x")
        survey = await service.start(staff_actor, c, place=Place(c.id), title="All", by=staff)
        assert len(survey.building_ids) == 3
        _s, rows = await service.progress_for(captain_actor, survey.id)
        assert [r.building_id for r in rows] == [b1.id]
        with pytest.raises(NotAllowed):
            await service.missing(other_captain, survey.id, b1.id)
        with pytest.raises(NotAllowed):
            await service.record_in_person(other_captain, survey.id, (await HouseholdsService(s, clock)
                                                                      .of_building(b1.id))[0].id, [3] * 5)


async def test_reminders_twice_once_each_across_a_restart_and_lagging_in_the_daily(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Community) -> None:
    async with sessions() as s:
        c, b1, (ann,) = await _setup(s, clock, 1)
        await HouseholdsService(s, clock).join(ann, (await HouseholdsService(s, clock).of_building(b1.id))[0].id)
        staff, staff_actor = await _actor(s, clock, 2002)
        survey = await SurveysService(s, clock).start(staff_actor, c, place=Place(c.id, b1.area_id, b1.id),
                                                      title="Winter", by=staff)
        survey_id = survey.id
        await s.commit()
    keys: list[str] = []
    for _day in range(16):
        for _half in range(2):
            clock.advance(hours=12)
            # A fresh session each time, as after a restart: state is only what the database holds.
            async with sessions() as s:
                await SurveysService(s, clock).run_due()
                await SurveysService(s, clock).run_due()  # a double tick changes nothing
                await s.commit()
    async with sessions() as s:
        keys = list((await s.execute(select(OutboxItem.dedup_key).where(
            OutboxItem.kind == "survey_invite").order_by(OutboxItem.id))).scalars())
        assert keys == [f"survey:{survey_id}:{k}:{ann.id}" for k in ("start", "2d", "last")]
    async with sessions() as s:
        lag = await survey_lagging(s, c.id, clock())
        assert lag == []  # closed by now


async def test_weekly_report_shows_the_survey_beside_the_issue_ratings_and_daily_lists_lagging(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Community) -> None:
    from bot.services.digests import DigestService

    async with sessions() as s:
        c, b1, _people = await _setup(s, clock, 0)
        staff, staff_actor = await _actor(s, clock, 2002)
        _captain, captain_actor = await _actor(s, clock, 3001)
        service = SurveysService(s, clock)
        survey = await service.start(staff_actor, c, place=Place(c.id, b1.area_id, b1.id), title="Autumn 2026",
                                     by=staff, ends_at=clock() + timedelta(days=4))
        flats = await HouseholdsService(s, clock).of_building(b1.id)
        await service.record_in_person(captain_actor, survey.id, flats[0].id, [4] * 5)
        await s.commit()
        clock.advance(days=2)
        digests = DigestService(s, clock)
        daily = "\n".join(digests.render_daily(await digests.daily(c, digests.today(c)), "en"))
        assert "Surveys behind schedule" in daily and "Autumn 2026: Building 1 1 of 48 households" in daily
        for flat in flats[1:32]:
            await service.record_in_person(captain_actor, survey.id, flat.id, [5, 4, 3, 2, 1])
        clock.advance(days=3)
        await service.run_due()
        await s.commit()
        report = await digests.period(c, "weekly", digests.today(c))
        en = "\n".join(digests.render_period(report, "en"))
        assert "Satisfaction survey</b> Autumn 2026  32 of 48 households (67%) · target met" in en
        assert "Building 1: 32 of 48 households (67%), target 32 ✅" in en
        assert ("How satisfied are you with the cleanliness of your building and yard? — mean 5.0, satisfied 100%, "
                "32 responses") in en
        # The per-issue ratings stay in the same report.
        assert "No satisfaction ratings in this period." in en
        zh = "\n".join(digests.render_period(report, "zh_Hans"))
        assert "满意度测评" in zh
        xlsx = digests.xlsx(report, "en")
        from io import BytesIO

        from openpyxl import load_workbook

        sheet = load_workbook(BytesIO(xlsx))["Surveys"]
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[1][:2] == ("Autumn 2026", "Building 1") and rows[1][5:] == (32, 48, 67, "yes")


async def test_erasing_data_keeps_the_household_answer_but_not_who_gave_it(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Community) -> None:
    async with sessions() as s:
        c, b1, (ann, bo) = await _setup(s, clock)
        hh = HouseholdsService(s, clock)
        flat = (await hh.of_building(b1.id))[0]
        await hh.join(ann, flat.id)
        await hh.join(bo, flat.id)
        staff, staff_actor = await _actor(s, clock, 2002)
        service = SurveysService(s, clock)
        survey = await service.start(staff_actor, c, place=Place(c.id, b1.area_id, b1.id), title="T", by=staff)
        await service.respond(ann, survey.id, [3] * 5)
        await MembersService(s, clock).delete_data(ann)
        await s.flush()
        mine = await service.status(bo, survey.id)
        assert mine.response is not None and mine.response.member_id is None and mine.by is None
        (p,) = await service.progress(survey)
        assert p.responses == 1


def test_the_default_questions_are_marked_for_the_catalogue() -> None:
    # The service stores them by their English text (no gettext there); the notices mark the same texts.
    from bot.notices.surveys import TEMPLATE_WORDS
    from bot.services.surveys import DEFAULT_TEMPLATE

    assert tuple(w.message for w in TEMPLATE_WORDS) == DEFAULT_TEMPLATE
