"""The patrol capability's scheduled jobs (each tick, in its own session) and what /deletedata erases."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.jobs import JobContext, job
from bot.services.members import MembersService
from bot.services.patrols.service import PatrolService
from bot.services.tenure import Erased, on_erased
from models import CheckpointVisit, Member, PatrolRoute, ShiftAssignment


def _service(session: AsyncSession, ctx: JobContext) -> PatrolService:
    return PatrolService(session, ctx.clock, MembersService(session, ctx.clock, ctx.settings.admin_ids))


@on_erased("patrols")
async def _forget_check_in_places(session: AsyncSession, clock: Clock, member: Member, erased: Erased) -> None:
    """/deletedata: where the person was when they checked in or passed a checkpoint goes; the hours
    they served stay (the patrol record counts them, anonymised with the person)."""
    await session.execute(update(ShiftAssignment).where(ShiftAssignment.member_id == member.id).values(
        check_in_lat=None, check_in_lon=None))
    await session.execute(update(CheckpointVisit).where(CheckpointVisit.assignment_id.in_(
        select(ShiftAssignment.id).where(ShiftAssignment.member_id == member.id))).values(lat=None, lon=None))


@job("patrol_reminders")
async def patrol_reminders(session: AsyncSession, ctx: JobContext) -> None:
    service = _service(session, ctx)
    await service.run_reminders()
    await service.run_alerts()


@job("patrol_auto_close")
async def patrol_auto_close(session: AsyncSession, ctx: JobContext) -> None:
    await _service(session, ctx).run_auto_close()


@job("patrol_weekly_roster")
async def patrol_weekly_roster(session: AsyncSession, ctx: JobContext) -> None:
    await _service(session, ctx).run_weekly_roster()


@job("patrol_generate")
async def patrol_generate(session: AsyncSession, ctx: JobContext) -> None:
    """Keep rosters planned ahead: once a day per community, extend each active route's shifts to the
    community's horizon (settings.patrol_weeks_ahead, default 0 = only when a planner asks)."""
    from bot.jobs import acquire_lease

    service = _service(session, ctx)
    for community in await service.members.communities():
        weeks = int((community.settings or {}).get("patrol_weeks_ahead", 0))
        if weeks <= 0:
            continue
        # Twice a day is plenty; the lease (any holder once expired) keeps the tick from redoing it.
        if not await acquire_lease(session, f"patrol_generate:{community.id}", uuid.uuid4().hex, ctx.clock(),
                                   timedelta(hours=12)):
            continue
        route_ids = (await session.execute(select(PatrolRoute.id).where(
            PatrolRoute.community_id == community.id, PatrolRoute.active.is_(True)))).scalars().all()
        await service.generate(None, route_ids, weeks)

