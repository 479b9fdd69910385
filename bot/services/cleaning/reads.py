"""Cleaning days as other parts of the bot read them: the daily digest's figures and the desk's list.
Read only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.cleaning.service import CleaningService
from models import Building, CleaningDay, CleaningRsvp, CleaningSeries


@dataclass(frozen=True)
class CleaningDayLine:
    """A cleaning day as the desk's page lists it: when, where, RSVP counts and, once held, attendance."""

    day_id: int
    local_date: date
    starts_at: datetime
    status: str  # scheduled | skipped | cancelled | held
    place: str
    coming: int
    not_coming: int
    attendance: int | None
    bags: int | None


async def cleaning_days_between(session: AsyncSession, community_id: int, start_utc: datetime, end_utc: datetime,
                                *, area_id: int | None = None, statuses: Sequence[str] = ("scheduled", "held",
                                                                                          "skipped")
                                ) -> list[CleaningDayLine]:
    """Days starting in [start_utc, end_utc), soonest first, with their RSVP counts (one grouped query).
    `area_id` keeps to days that touch the area: the whole community's, the area's, or one of its buildings'.
    Read only."""
    rows: list[tuple[CleaningDay, CleaningSeries]] = [(d, s) for d, s in (await session.execute(
        select(CleaningDay, CleaningSeries).join(CleaningSeries, CleaningSeries.id == CleaningDay.series_id)
        .where(CleaningDay.community_id == community_id, CleaningDay.status.in_(list(statuses)),
               CleaningDay.starts_at >= start_utc, CleaningDay.starts_at < end_utc)
        .order_by(CleaningDay.starts_at, CleaningDay.id))).all()]
    if area_id is not None:
        in_area = set((await session.execute(select(Building.id).where(Building.area_id == area_id))).scalars())
        rows = [(d, s) for d, s in rows if s.scope == "community" or (s.scope == "area" and s.area_id == area_id)
                or (s.scope == "buildings" and {int(b) for b in s.building_ids} & in_area)]
    counts: dict[tuple[int, bool], int] = {}
    if rows:
        for day_id, coming, n in (await session.execute(
                select(CleaningRsvp.day_id, CleaningRsvp.coming, func.count())
                .where(CleaningRsvp.day_id.in_([d.id for d, _s in rows]))
                .group_by(CleaningRsvp.day_id, CleaningRsvp.coming))).all():
            counts[(day_id, bool(coming))] = int(n)
    svc = CleaningService(session)
    names: dict[int, str] = {}
    out = []
    for day, series in rows:
        if series.id not in names:
            names[series.id] = await svc.place_name(series)
        out.append(CleaningDayLine(day.id, day.local_date, day.starts_at, day.status, names[series.id],
                                   counts.get((day.id, True), 0), counts.get((day.id, False), 0), day.attendance,
                                   day.bags))
    return out




@dataclass(frozen=True)
class CleaningFigures:
    """The digests' cleaning days: those held in a window (with attendance) and those coming after it, of
    series still active (with how many said they are coming)."""

    held: list[CleaningDayLine]
    upcoming: list[CleaningDayLine]


async def cleaning_figures(session: AsyncSession, community_id: int, start_utc: datetime, end_utc: datetime,
                           upcoming_until_utc: datetime) -> CleaningFigures:
    """Days held in [start_utc, end_utc), and days scheduled in [end_utc, upcoming_until_utc). Read only."""
    held = await cleaning_days_between(session, community_id, start_utc, end_utc, statuses=("held",))
    coming = await cleaning_days_between(session, community_id, end_utc, upcoming_until_utc, statuses=("scheduled",))
    active = set((await session.execute(
        select(CleaningDay.id).join(CleaningSeries, CleaningSeries.id == CleaningDay.series_id)
        .where(CleaningDay.id.in_([d.day_id for d in coming]), CleaningSeries.status == "active"))).scalars()) \
        if coming else set()
    return CleaningFigures(held, [d for d in coming if d.day_id in active])
