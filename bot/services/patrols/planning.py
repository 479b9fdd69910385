"""Planning patrols: the places a person may plan, routes and their checkpoints, shift templates, one-off
shifts, generating shifts ahead (never twice: (template, local date) is unique) and cancelling them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.services.access import Actor, Place, can, require
from bot.services.patrols.events import ShiftCancelled
from bot.services.patrols.roster import RosterPosts
from bot.services.patrols.timing import DEFAULT_WEEKS, HELD, MAX_WEEKS, PatrolError, shift_window
from bot.services.patrols.views import PlanPlace, ShiftView, place_of
from models import AssignmentStatus, PatrolCheckpoint, PatrolRoute, PatrolShift, ShiftStatus, ShiftSwap, ShiftTemplate


class Planning(RosterPosts):
    async def planning_places(self, actor: Actor) -> list[PlanPlace]:
        """Places this person may plan patrols for: the community (staff), areas (area heads) and
        buildings (captains and their area heads)."""
        out: list[PlanPlace] = []
        community_ids = sorted(actor.communities()) if not actor.is_admin else \
            [c.id for c in await self.members.communities()]
        for cid in community_ids:
            community = await self.community(cid)
            if can(actor, "roster", Place(cid)):
                out.append(PlanPlace(Place(cid), community.name))
            for area in await self.members.areas(cid):
                if can(actor, "roster", Place(cid, area.id)):
                    out.append(PlanPlace(Place(cid, area.id), area.name))
            for b in await self.members.buildings(community_id=cid):
                if can(actor, "roster", Place(cid, b.area_id, b.id)):
                    out.append(PlanPlace(Place(cid, b.area_id, b.id), b.name))
        return out

    async def routes_for(self, actor: Actor) -> list[PatrolRoute]:
        """Active routes this person may plan."""
        ids = actor.communities() if not actor.is_admin else {c.id for c in await self.members.communities()}
        routes = (await self.session.execute(
            select(PatrolRoute).where(PatrolRoute.community_id.in_(ids), PatrolRoute.active.is_(True))
            .order_by(PatrolRoute.id))).scalars().all()
        return [r for r in routes if can(actor, "roster", place_of(r))]

    async def planned_route(self, actor: Actor, route_id: int) -> PatrolRoute:
        """A route this person may plan (NotAllowed otherwise)."""
        route = await self.route(route_id)
        require(actor, "roster", place_of(route))
        return route

    async def planned_shift(self, actor: Actor, shift_id: int) -> ShiftView:
        """A shift of a route this person may plan (NotAllowed otherwise)."""
        v = await self.view(shift_id)
        require(actor, "roster", place_of(v.route))
        return v

    async def create_route(self, actor: Actor, place: Place, name: str, description: str = "",
                           checkpoints: Sequence[tuple[str, float | None, float | None]] = ()) -> PatrolRoute:
        if place.building_id is not None:
            place = await self.members.building_place(place.building_id)
        require(actor, "roster", place)
        name = name.strip()[:120]
        if not name:
            raise PatrolError("invalid")
        route = PatrolRoute(community_id=place.community_id, area_id=place.area_id, building_id=place.building_id,
                            key=f"bot-{uuid.uuid4().hex[:16]}",
                            name=name, description=description.strip()[:1000], source="bot",
                            created_by=actor.member_id, created_at=self.clock(), active=True)
        self.session.add(route)
        await self.session.flush()
        await self.set_checkpoints(actor, route.id, checkpoints)
        return await self.route(route.id)

    async def update_route(self, actor: Actor, route_id: int, *, name: str | None = None,
                           description: str | None = None) -> PatrolRoute:
        route = await self.route(route_id)
        require(actor, "roster", place_of(route))
        if name is not None:
            if not name.strip():
                raise PatrolError("invalid")
            route.name = name.strip()[:120]
        if description is not None:
            route.description = description.strip()[:1000]
        await self.session.flush()
        return route

    async def set_checkpoints(self, actor: Actor | None, route_id: int,
                              checkpoints: Sequence[tuple[str, float | None, float | None]]) -> None:
        route = await self.route(route_id)
        if actor is not None:
            require(actor, "roster", place_of(route))
        existing = {c.name: c for c in route.checkpoints}
        keep: list[PatrolCheckpoint] = []
        for i, (cp_name, lat, lon) in enumerate(checkpoints[:30]):
            cp = existing.pop(cp_name[:120], None)
            if cp is None:
                cp = PatrolCheckpoint(route_id=route.id, name=cp_name[:120])
                self.session.add(cp)
            cp.position, cp.lat, cp.lon = i, lat, lon
            keep.append(cp)
        for gone in existing.values():
            await self.session.delete(gone)
        await self.session.flush()
        self.session.expire(route, ["checkpoints"])

    async def archive_route(self, actor: Actor, route_id: int) -> PatrolRoute:
        """Stop planning a route: its templates stop, future shifts nobody holds are cancelled."""
        route = await self.route(route_id)
        require(actor, "roster", place_of(route))
        route.active = False
        for t in route.templates:
            t.active = False
        future = (await self.session.execute(select(PatrolShift).where(
            PatrolShift.route_id == route.id, PatrolShift.status == ShiftStatus.PLANNED,
            PatrolShift.starts_at > self.clock()))).scalars().all()
        for s in future:
            await self.cancel_shift(actor, s.id)
        return route

    # ---------------------------------------------------------------- planning: templates, shifts

    async def add_template(self, actor: Actor | None, route_id: int, *, weekdays: Iterable[int] = (),
                           dates: Iterable[date] = (), start_minute: int, end_minute: int,
                           min_volunteers: int, max_volunteers: int) -> ShiftTemplate:
        route = await self.route(route_id)
        if actor is not None:
            require(actor, "roster", place_of(route))
        days = sorted({int(d) for d in weekdays if 0 <= int(d) <= 6})
        listed = sorted({d.isoformat() for d in dates})
        if not days and not listed:
            raise PatrolError("invalid")
        if not (1 <= min_volunteers <= max_volunteers <= 50) or start_minute == end_minute:
            raise PatrolError("invalid")
        template = ShiftTemplate(route_id=route.id, weekdays=days, dates=listed, start_minute=start_minute,
                                 end_minute=end_minute, min_volunteers=min_volunteers,
                                 max_volunteers=max_volunteers, active=True, created_at=self.clock())
        self.session.add(template)
        await self.session.flush()
        return template

    async def remove_template(self, actor: Actor, template_id: int) -> ShiftTemplate:
        """Stop a template. Shifts already generated stay (people may hold them); cancel them one by one."""
        template = await self.session.get(ShiftTemplate, template_id)
        if template is None:
            raise LookupError("template")
        route = await self.route(template.route_id)
        require(actor, "roster", place_of(route))
        template.active = False
        return template

    async def add_one_off(self, actor: Actor, route_id: int, day: date, start_minute: int, end_minute: int,
                          min_volunteers: int, max_volunteers: int, note: str | None = None) -> PatrolShift:
        route = await self.route(route_id)
        require(actor, "roster", place_of(route))
        if not (1 <= min_volunteers <= max_volunteers <= 50) or start_minute == end_minute:
            raise PatrolError("invalid")
        starts, ends = shift_window(day, start_minute, end_minute, await self.tz(route.community_id))
        if starts <= self.clock():
            raise PatrolError("started")
        shift = PatrolShift(community_id=route.community_id, route_id=route.id, template_id=None, local_date=day,
                            starts_at=starts, ends_at=ends, min_volunteers=min_volunteers,
                            max_volunteers=max_volunteers, filled=0, status=ShiftStatus.PLANNED,
                            note=(note or None) and note[:255], created_by=actor.member_id,
                            created_at=self.clock())
        self.session.add(shift)
        await self.session.flush()
        await self.refresh_roster_for(shift)
        return shift

    async def generate(self, actor: Actor | None, route_ids: Iterable[int], weeks: int = DEFAULT_WEEKS) -> int:
        """Create the shifts of the routes' active templates for the next `weeks` weeks (from today,
        local time), skipping ones that exist or already started. Returns how many were created."""
        weeks = max(1, min(int(weeks), MAX_WEEKS))
        created = 0
        now = self.clock()
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        for route_id in route_ids:
            route = await self.route(route_id)
            if actor is not None:
                require(actor, "roster", place_of(route))
            if not route.active:
                continue
            tz = await self.tz(route.community_id)
            today = now.astimezone(tz).date()
            last = today + timedelta(days=7 * weeks - 1)
            for t in route.templates:
                if not t.active:
                    continue
                listed = {date.fromisoformat(d) for d in t.dates}
                day = today
                while day <= last:
                    if day.weekday() in t.weekdays or day in listed:
                        starts, ends = shift_window(day, t.start_minute, t.end_minute, tz)
                        if starts > now:
                            ins: Any = postgresql.insert(PatrolShift) if dialect == "postgresql" \
                                else sqlite.insert(PatrolShift)
                            result = await self.session.execute(ins.values(
                                community_id=route.community_id, route_id=route.id, template_id=t.id,
                                local_date=day, starts_at=starts, ends_at=ends, min_volunteers=t.min_volunteers,
                                max_volunteers=t.max_volunteers, filled=0, status=ShiftStatus.PLANNED,
                                created_by=actor.member_id if actor else None, created_at=now,
                            ).on_conflict_do_nothing(index_elements=["template_id", "local_date"]))
                            created += int(getattr(result, "rowcount", 0) or 0)
                    day += timedelta(days=1)
        if created:
            await self.refresh_rosters(route_ids)
        return created

    async def planner_shifts(self, actor: Actor, *, past: bool = False, days: int = 14,
                             limit: int = 20) -> list[ShiftView]:
        """Upcoming (or recent past) shifts of the routes this person plans, soonest (latest) first."""
        routes = {r.id: r for r in await self.routes_for(actor)}
        if not routes:
            return []
        now = self.clock()
        stmt = select(PatrolShift).where(PatrolShift.route_id.in_(routes))
        if past:
            stmt = stmt.where(PatrolShift.starts_at <= now, PatrolShift.starts_at > now - timedelta(days=days),
                              PatrolShift.status != ShiftStatus.CANCELLED).order_by(PatrolShift.starts_at.desc())
        else:
            stmt = stmt.where(PatrolShift.ends_at > now, PatrolShift.starts_at < now + timedelta(days=days),
                              PatrolShift.status == ShiftStatus.PLANNED).order_by(PatrolShift.starts_at)
        shifts = (await self.session.execute(stmt.limit(limit))).scalars().all()
        return await self.views(shifts)

    async def cancel_shift(self, actor: Actor, shift_id: int) -> tuple[ShiftView, bool]:
        """Cancel a shift and tell whoever held it. Returns (view, changed)."""
        v = await self.view(shift_id)
        require(actor, "roster", place_of(v.route))
        shift = v.shift
        if shift.status == ShiftStatus.CANCELLED:
            return v, False
        if shift.starts_at <= self.clock():
            raise PatrolError("started")
        now = self.clock()
        shift.status, shift.cancelled_at, shift.cancelled_by, shift.filled = \
            ShiftStatus.CANCELLED, now, actor.member_id, 0
        await self.outbox.cancel(f"pt:s{shift.id}:")
        await self.session.execute(update(ShiftSwap).where(
            ShiftSwap.shift_id == shift.id, ShiftSwap.status == "open").values(status="withdrawn"))
        told: list[int] = []
        for a, m in v.people:
            if a.status not in HELD:
                continue
            a.status = AssignmentStatus.CANCELLED
            told.append(m.id)
        await self.session.flush()
        await self.events.record(ShiftCancelled(shift.id, tuple(told)))
        await self.refresh_roster_for(shift)
        return await self.view(shift_id), True

