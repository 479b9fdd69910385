"""Helpers shared by the triage and ledger tests: issues inserted straight into the database (so these
tests do not depend on the reporting flow), members with roles, and the services as handlers get them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.services import Services, build_services
from bot.services.access import Actor, Place
from models import Building, Community, Issue, IssueEvent, IssueFollower, IssuePhoto, IssueStatus, Member, Role
from tests.conftest import unique_id

# The sample structure's people (tests/data/structure.yaml and riverside.yaml).
STAFF, NORTH_HEAD, SOUTH_HEAD = 2002, 2001, 2003
CAPTAIN_B1, CAPTAIN_B2, CAPTAIN_B3 = 3001, 3002, 3003
VOLUNTEER = 4001
RS_STAFF = 2102
ADMIN = 9000
B1_TEAM_CHAT = -1001000000011
OFFICE_CHAT = -1001000000001
AREA_CHAT = -1001000000021


def services(session: AsyncSession, clock: Clock, settings: Settings) -> Services:
    return build_services(session, clock, settings)


async def member(session: AsyncSession, telegram_id: int, name: str = "", locale: str | None = None) -> Member:
    m = (await session.execute(select(Member).where(Member.telegram_id == telegram_id))).scalar_one_or_none()
    if m is None:
        m = Member(telegram_id=telegram_id, first_name=name or f"P{telegram_id}", prefs={}, started=True)
        session.add(m)
        await session.flush()
    if name:
        m.first_name = name
    if locale:
        m.locale = locale
    m.started = True
    return m


async def actor(session: AsyncSession, clock: Clock, settings: Settings, telegram_id: int) -> Actor:
    svc = services(session, clock, settings)
    return await svc.members.actor(await member(session, telegram_id))


async def building(session: AsyncSession, community: Community, key: str = "b1") -> Building:
    return (await session.execute(select(Building).where(
        Building.community_id == community.id, Building.key == key))).scalar_one()


async def resident(session: AsyncSession, community: Community, key: str = "b1", name: str = "Ann",
                   locale: str | None = "en", telegram_id: int | None = None) -> Member:
    b = await building(session, community, key)
    m = await member(session, telegram_id or unique_id(), name, locale)
    session.add(Role(member_id=m.id, role="resident", community_id=community.id, building_id=b.id, source="invite"))
    await session.flush()
    return m


async def make_issue(session: AsyncSession, community: Community, now: datetime, *, key: str = "b1",
                     category: str = "fire_lane", urgent: bool = True, reporter: Member | None = None,
                     photos: int = 2, description: str = "Bikes block the fire lane",
                     deadline_days: float | None = 1, card: bool = True) -> Issue:
    """An issue as the reporting capability files it: numbered, photos, created event, card posted."""
    b = await building(session, community, key)
    number = (await session.execute(
        update(Community).where(Community.id == community.id)
        .values(next_issue_number=Community.next_issue_number + 1)
        .returning(Community.next_issue_number))).scalar_one() - 1
    code = (await session.get(Community, community.id)).code  # type: ignore[union-attr]
    issue = Issue(community_id=community.id, number=number, reference=f"{code}{number:04d}", area_id=b.area_id,
                  building_id=b.id, category=category, urgent=urgent, status=IssueStatus.NEW,
                  description=description, reporter_id=reporter.id if reporter else None,
                  deadline_at=now + timedelta(days=deadline_days) if deadline_days else None,
                  created_at=now, updated_at=now,
                  card_chat_id=B1_TEAM_CHAT if card and key == "b1" else None,
                  card_message_id=500 + number if card and key == "b1" else None)
    session.add(issue)
    await session.flush()
    for i in range(photos):
        session.add(IssuePhoto(issue_id=issue.id, file_id=f"before-{issue.id}-{i}", kind="before", position=i))
    session.add(IssueEvent(issue_id=issue.id, actor_id=reporter.id if reporter else None, at=now, kind="created",
                           to_status=IssueStatus.NEW))
    if reporter is not None:
        session.add(IssueFollower(issue_id=issue.id, member_id=reporter.id, created_at=now))
    await session.flush()
    return issue


def place(issue: Issue) -> Place:
    return Place(issue.community_id, issue.area_id, issue.building_id)
