"""Patrol figures other capabilities read (typed, read only): the digest's summary and volunteer hours,
and the desk's weekly roster page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.patrols.timing import NO_CHECKIN_AFTER
from models import AssignmentStatus, Building, Issue, Member, PatrolRoute, PatrolShift, ShiftAssignment, ShiftStatus


@dataclass(frozen=True)
class MissedShift:
    """A shift that started (15 minutes ago or more) and nobody checked in."""

    shift_id: int
    route: str  # the route's name
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC


@dataclass(frozen=True)
class PatrolSummary:
    """Patrol figures of shifts starting in a period (the digest's patrol section)."""

    planned: int  # shifts not cancelled
    staffed: int  # of those, shifts that had at least their minimum number of volunteers
    checked_in: int  # shifts where at least one volunteer checked in
    missed: list[MissedShift]  # started and nobody checked in, soonest first
    findings: int  # issues reported from these shifts
    references: list[str]  # their references, e.g. ["NC0042"] (show as hashtags)


async def patrol_summary(session: AsyncSession, community_id: int, start_utc: datetime,
                         end_utc: datetime) -> PatrolSummary:
    """Patrol figures for the daily digest, for shifts starting in [start_utc, end_utc). Read only."""
    shifts = (await session.execute(select(PatrolShift, PatrolRoute.name)
                                    .join(PatrolRoute, PatrolRoute.id == PatrolShift.route_id)
                                    .where(PatrolShift.community_id == community_id,
                                           PatrolShift.status != ShiftStatus.CANCELLED,
                                           PatrolShift.starts_at >= start_utc, PatrolShift.starts_at < end_utc)
                                    .order_by(PatrolShift.starts_at))).all()
    ids = [s.id for s, _n in shifts]
    checked: set[int] = set()
    staffed: dict[int, int] = {}
    if ids:
        for shift_id, checked_in, status in (await session.execute(select(
                ShiftAssignment.shift_id, ShiftAssignment.checked_in_at, ShiftAssignment.status)
                .where(ShiftAssignment.shift_id.in_(ids)))).all():
            if checked_in is not None:
                checked.add(shift_id)
            if status == AssignmentStatus.ACTIVE:
                staffed[shift_id] = staffed.get(shift_id, 0) + 1
    issues = list((await session.execute(select(Issue.reference).where(
        Issue.shift_id.in_(ids)).order_by(Issue.id))).scalars()) if ids else []
    missed = [MissedShift(s.id, name, s.starts_at, s.ends_at) for s, name in shifts
              if s.id not in checked and s.starts_at + NO_CHECKIN_AFTER <= end_utc]
    return PatrolSummary(
        planned=len(shifts),
        staffed=sum(1 for s, _n in shifts if staffed.get(s.id, 0) >= s.min_volunteers),
        checked_in=len(checked),
        missed=missed,
        findings=len(issues),
        references=issues,
    )


async def volunteer_hours(session: AsyncSession, community_id: int, start_utc: datetime,
                          end_utc: datetime) -> list[tuple[str, float]]:
    """Volunteer hours in the community for check-ins in [start_utc, end_utc): [(first name, hours)],
    most hours first, hours rounded to 0.1. Auto-closed shifts count to their scheduled end."""
    rows = (await session.execute(
        select(Member, ShiftAssignment.checked_in_at, ShiftAssignment.checked_out_at)
        .join(ShiftAssignment, ShiftAssignment.member_id == Member.id)
        .join(PatrolShift, PatrolShift.id == ShiftAssignment.shift_id)
        .where(PatrolShift.community_id == community_id, ShiftAssignment.checked_in_at >= start_utc,
               ShiftAssignment.checked_in_at < end_utc, ShiftAssignment.checked_out_at.is_not(None)))).all()
    totals: dict[int, tuple[str, float]] = {}
    for member, start, end in rows:
        if start is None or end is None:  # the query excludes them; the columns are nullable
            continue
        name, hours = totals.get(member.id, (member.display_name, 0.0))
        totals[member.id] = (name, hours + max(0.0, (end - start).total_seconds() / 3600))
    return sorted(((n, round(h, 1)) for n, h in totals.values()), key=lambda x: (-x[1], x[0]))


@dataclass(frozen=True)
class RosterShift:
    """One shift of the desk's weekly roster: who is on it, the gap to its minimum, check-ins and hours."""

    shift_id: int
    starts_at: datetime
    ends_at: datetime
    status: str
    have: int  # active volunteers
    need: int  # the minimum
    most: int  # the maximum
    checked_in: int
    hours: float  # checked-in hours so far (check-in to check-out)
    names: tuple[str, ...]
    note: str | None

    @property
    def gap(self) -> int:
        return 0 if self.status == ShiftStatus.CANCELLED else max(0, self.need - self.have)


@dataclass(frozen=True)
class RouteWeek:
    route_id: int
    name: str
    shifts: tuple[RosterShift, ...]


async def roster_week(session: AsyncSession, community_id: int, start_utc: datetime, end_utc: datetime, *,
                      area_id: int | None = None) -> list[RouteWeek]:
    """The shifts starting in [start_utc, end_utc) per active route (or route with shifts then), for the
    desk's Patrols page. `area_id` keeps to one area: routes of the area and of its buildings. Read only."""
    routes = select(PatrolRoute).where(PatrolRoute.community_id == community_id)
    if area_id is not None:
        routes = routes.where((PatrolRoute.area_id == area_id) | PatrolRoute.building_id.in_(
            select(Building.id).where(Building.area_id == area_id)))
    found = (await session.execute(routes.order_by(PatrolRoute.id))).scalars().all()
    by_route = {r.id: r for r in found}
    shifts = (await session.execute(select(PatrolShift).where(
        PatrolShift.route_id.in_(list(by_route)), PatrolShift.starts_at >= start_utc, PatrolShift.starts_at < end_utc)
        .order_by(PatrolShift.starts_at, PatrolShift.id))).scalars().all() if by_route else []
    people: dict[int, list[tuple[ShiftAssignment, str]]] = {}
    if shifts:
        for a, m in (await session.execute(
                select(ShiftAssignment, Member).join(Member, Member.id == ShiftAssignment.member_id)
                .where(ShiftAssignment.shift_id.in_([s.id for s in shifts])).order_by(ShiftAssignment.id))).all():
            people.setdefault(a.shift_id, []).append((a, m.display_name))
    rows: dict[int, list[RosterShift]] = {}
    for s in shifts:
        held = people.get(s.id, [])
        active = [(a, n) for a, n in held if a.status == AssignmentStatus.ACTIVE]
        came = [a for a, _n in held if a.checked_in_at is not None]
        hours = sum(max(0.0, (a.checked_out_at - a.checked_in_at).total_seconds() / 3600)
                    for a in came if a.checked_out_at is not None and a.checked_in_at is not None)
        rows.setdefault(s.route_id, []).append(RosterShift(
            s.id, s.starts_at, s.ends_at, s.status, len(active), s.min_volunteers, s.max_volunteers, len(came),
            round(hours, 1), tuple(n for _a, n in active), s.note))
    return [RouteWeek(r.id, r.name, tuple(rows.get(r.id, ()))) for r in found if r.active or r.id in rows]
