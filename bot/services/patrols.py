"""Volunteer patrols (志愿巡防): routes, shift templates, rosters, taking/dropping/swapping shifts,
reminders and alerts, check-in/out, checkpoints, hours, the weekly roster message and the digest figures.

Rules kept here (no aiogram):
- Shifts are generated from templates at local wall time in the community's time zone. A time that
  does not exist (spring forward) moves to the next valid minute; an ambiguous one (autumn) takes the
  first occurrence. Generation never duplicates: (template, local date) is unique.
- Capacity is enforced with one conditional UPDATE on `patrol_shifts.filled`, atomic on SQLite and
  PostgreSQL, so two volunteers pressing Take on the last place cannot both get it.
- A volunteer may drop until 12 h before the start; later only a captain can take them off (or they
  answer "can't make it" on the 24 h reminder, which tells the captains). Dropping below the minimum
  calls the community's volunteer pool to cover.
- Every bot-initiated message goes through the outbox with a key unique per shift, kind and
  recipient; per-shift keys start with `pt:s<id>:` so cancelling a shift drops what is still pending.
  The tick marks what it has done on the rows, so a restart or a double tick sends nothing twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from math import asin, cos, radians, sin, sqrt
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot import ics
from bot.clock import Clock, system_clock
from bot.i18n import _, __, use_locale
from bot.jobs import JobContext, job
from bot.rendering import TEXT_LIMIT, esc, render, shorten
from bot.services.access import Actor, Place, can, require
from bot.services.base import CommunityService
from bot.services.chats import CHAT_ID_COLUMNS, ChatsService
from bot.services.members import MembersService
from bot.services.outbox import Outbox, on_sent
from bot.services.structure import ImportReport, StructureError, section
from bot.services.tenure import Erased, on_erased
from models import (
    Area,
    AssignmentStatus,
    Building,
    CheckpointVisit,
    Community,
    Issue,
    Member,
    OutboxItem,
    OutboxStatus,
    PatrolCheckpoint,
    PatrolRoute,
    PatrolShift,
    RosterMessage,
    ShiftAssignment,
    ShiftStatus,
    ShiftSwap,
    ShiftTemplate,
)

DROP_LIMIT = timedelta(hours=12)
CHECKIN_EARLY = timedelta(minutes=30)
NO_CHECKIN_AFTER = timedelta(minutes=15)
AUTO_CLOSE_AFTER = timedelta(hours=2)
DEFAULT_WEEKS = 4
MAX_WEEKS = 12
ROSTER_HOUR = 8  # Monday morning, local time; a community may set settings.patrol_roster_hour
CHECKPOINT_RADIUS_M = 150  # a shared location this close to a checkpoint counts as being at it
HELD = (AssignmentStatus.ACTIVE, AssignmentStatus.INVITED)

CHAT_ID_COLUMNS.append(RosterMessage.chat_id)  # type: ignore[arg-type]


class PatrolError(Exception):
    """A rule said no. reason: full | too_late | started | cancelled | already | not_on_shift | overlap |
    gone | own | not_volunteer | not_checked_in | window | invalid."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def error_text(reason: str) -> str:
    """What to tell the person, in the current locale."""
    texts = {
        "full": _("Sorry, this shift is full now."),
        "too_late": _("It's less than 12 hours to the start, so only your captain can take you off this "
                      "shift now. Please message them, or use Swap to find someone."),
        "started": _("This shift has already started."),
        "cancelled": _("This shift was cancelled."),
        "already": _("Nothing changed: that was already done."),
        "not_on_shift": _("You are not on this shift."),
        "overlap": _("You already have a shift at that time."),
        "gone": _("Someone else was faster: this offer is taken."),
        "own": _("That's your own offer."),
        "not_volunteer": _("This person is not a volunteer of the community."),
        "not_checked_in": _("Please check in first."),
        "window": _("Check-in opens 30 minutes before the start and closes at the end of the shift."),
        "invalid": _("That doesn't look right. Please try again."),
    }
    return texts.get(reason, texts["invalid"])


# ------------------------------------------------------------------------------------- time


def resolve_local(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """A local wall time as UTC. A time in a DST gap moves forward to the next valid minute (01:30
    on London's spring-forward day is 02:00 BST); an ambiguous one takes the first occurrence."""
    naive = datetime.combine(day, time(minute // 60, minute % 60))
    for step in range(0, 24 * 60):
        candidate = naive + timedelta(minutes=step)
        aware = candidate.replace(tzinfo=tz, fold=0)
        back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if back == candidate:  # exists (fold=0 is the first of two when ambiguous)
            return aware.astimezone(UTC)
    raise ValueError("no valid local time")  # pragma: no cover - no zone skips a whole day


def shift_window(day: date, start_minute: int, end_minute: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Start and end in UTC; an end at or before the start is on the next day."""
    start = resolve_local(day, start_minute, tz)
    end_day = day + timedelta(days=1) if end_minute <= start_minute else day
    end = resolve_local(end_day, end_minute, tz)
    return start, max(end, start + timedelta(minutes=1))


WEEKDAYS = (__("Mon"), __("Tue"), __("Wed"), __("Thu"), __("Fri"), __("Sat"), __("Sun"))
MONTHS = (__("Jan"), __("Feb"), __("Mar"), __("Apr"), __("May"), __("Jun"), __("Jul"), __("Aug"),
          __("Sep"), __("Oct"), __("Nov"), __("Dec"))


def day_label(day: date, today: date | None = None) -> str:
    """'Mon 23 Nov' / '11月23日周一', or 'today' / 'tomorrow' when `today` is given."""
    if today is not None and day == today:
        return _("today")
    if today is not None and day == today + timedelta(days=1):
        return _("tomorrow")
    return _("{weekday} {day} {month_name}").format(
        weekday=str(WEEKDAYS[day.weekday()]), day=day.day, month=day.month, month_name=str(MONTHS[day.month - 1]))


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_time(text: str) -> int | None:
    """'19:00', '19.00', '1900', '19', '19：00' -> minutes after midnight."""
    t = text.strip().replace("：", ":").replace(".", ":").replace(" ", "")
    if t.isdigit() and len(t) in (3, 4):
        t = f"{t[:-2]}:{t[-2:]}"
    parts = t.split(":")
    if len(parts) == 1:
        parts.append("00")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    h, m = int(parts[0]), int(parts[1])
    if not (0 <= h <= 23 and 0 <= m <= 59):
        return None
    return h * 60 + m


def parse_people(text: str) -> tuple[int, int] | None:
    """'2-4', '2–4', '2 to 4', '2~4', '3' -> (min, max)."""
    t = text.strip().lower().replace("–", "-").replace("—", "-").replace("~", "-").replace("～", "-")
    t = t.replace("to", "-").replace("至", "-").replace("到", "-").replace(" ", "")
    parts = [p for p in t.split("-") if p]
    if not parts or len(parts) > 2 or not all(p.isdigit() for p in parts):
        return None
    low, high = int(parts[0]), int(parts[-1])
    if not (1 <= low <= high <= 50):
        return None
    return low, high


def parse_date(text: str, today: date) -> date | None:
    """'2026-12-31', '12-31', '31.12', '12/31' -> a date today or later (the year rolls over)."""
    t = text.strip().replace("/", "-").replace(".", "-").replace("月", "-").replace("日", "")
    parts = [p for p in t.split("-") if p]
    try:
        if len(parts) == 3:
            return date(int(parts[0]), int(parts[1]), int(parts[2]))
        if len(parts) == 2:
            a, b = int(parts[0]), int(parts[1])
            month, day_ = (a, b) if a <= 12 else (b, a)
            d = date(today.year, month, day_)
            return d if d >= today else date(today.year + 1, month, day_)
    except ValueError:
        return None
    return None


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = radians(lat1), radians(lat2)
    a = sin((p2 - p1) / 2) ** 2 + cos(p1) * cos(p2) * sin(radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * asin(sqrt(a))


# ------------------------------------------------------------------------------------- views


@dataclass
class ShiftView:
    """A shift with what screens need, loaded eagerly (no lazy loads after the session)."""

    shift: PatrolShift
    route: PatrolRoute
    tz: ZoneInfo
    people: list[tuple[ShiftAssignment, Member]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.shift.id

    @property
    def active(self) -> list[tuple[ShiftAssignment, Member]]:
        return [(a, m) for a, m in self.people if a.status == AssignmentStatus.ACTIVE]

    @property
    def needs(self) -> int:
        return max(0, self.shift.min_volunteers - self.shift.filled)

    @property
    def local_start(self) -> datetime:
        return self.shift.starts_at.astimezone(self.tz)

    @property
    def local_end(self) -> datetime:
        return self.shift.ends_at.astimezone(self.tz)

    def when(self, today: date | None = None) -> str:
        return "{} {}–{}".format(day_label(self.local_start.date(), today), self.local_start.strftime("%H:%M"),
                                 self.local_end.strftime("%H:%M"))

    def names(self, exclude: int | None = None) -> list[str]:
        return [m.display_name for a, m in self.active if m.id != exclude]

    def assignment_of(self, member_id: int) -> ShiftAssignment | None:
        for a, m in self.people:
            if m.id == member_id:
                return a
        return None


@dataclass
class Hours:
    month: float
    total: float
    shifts: int


@dataclass
class VisitView:
    name: str
    at: datetime
    seq: int


@dataclass
class RecordRow:
    member: Member
    assignment: ShiftAssignment
    visits: list[VisitView]


@dataclass
class ShiftRecord:
    view: ShiftView
    rows: list[RecordRow]
    findings: list[Issue]


@dataclass
class PlanPlace:
    place: Place
    label: str


def place_of(route: PatrolRoute) -> Place:
    return Place(route.community_id, route.area_id, route.building_id)


# ------------------------------------------------------------------------------------- service


class PatrolService(CommunityService):
    def __init__(self, session: AsyncSession, clock: Clock = system_clock, members: MembersService | None = None,
                 chats: ChatsService | None = None, outbox: Outbox | None = None) -> None:
        super().__init__(session, clock, members, chats, outbox)
        self._communities: dict[int, Community] = {}

    # ---------------------------------------------------------------- loading

    async def community(self, community_id: int) -> Community:
        if community_id not in self._communities:
            c = await self.session.get(Community, community_id)
            if c is None:
                raise LookupError("community")
            self._communities[community_id] = c
        return self._communities[community_id]

    async def tz(self, community_id: int) -> ZoneInfo:
        return ZoneInfo((await self.community(community_id)).timezone)

    async def route(self, route_id: int) -> PatrolRoute:
        route = (await self.session.execute(
            select(PatrolRoute).where(PatrolRoute.id == route_id)
            .options(selectinload(PatrolRoute.checkpoints), selectinload(PatrolRoute.templates))
            .execution_options(populate_existing=True)  # collections change within one session
        )).scalar_one_or_none()
        if route is None:
            raise LookupError("route")
        return route

    async def views(self, shifts: Sequence[PatrolShift]) -> list[ShiftView]:
        if not shifts:
            return []
        ids = [s.id for s in shifts]
        rows = (await self.session.execute(
            select(ShiftAssignment, Member).join(Member, Member.id == ShiftAssignment.member_id)
            .where(ShiftAssignment.shift_id.in_(ids)).order_by(ShiftAssignment.id))).all()
        people: dict[int, list[tuple[ShiftAssignment, Member]]] = {}
        for a, m in rows:
            people.setdefault(a.shift_id, []).append((a, m))
        route_ids = {s.route_id for s in shifts}
        routes = {r.id: r for r in (await self.session.execute(
            select(PatrolRoute).where(PatrolRoute.id.in_(route_ids))
            .options(selectinload(PatrolRoute.checkpoints)))).scalars()}
        out = []
        for s in shifts:
            out.append(ShiftView(s, routes[s.route_id], await self.tz(s.community_id), people.get(s.id, [])))
        return out

    async def view(self, shift_id: int) -> ShiftView:
        shift = await self.session.get(PatrolShift, shift_id, populate_existing=True)
        if shift is None:
            raise LookupError("shift")
        return (await self.views([shift]))[0]

    async def place_name(self, route: PatrolRoute) -> str:
        info = await self.members.place_info(place_of(route))
        return info.name

    async def _locale(self, member: Member, community_id: int) -> str:
        return self.members.locale_for(member, await self.community(community_id))

    async def today(self, community_id: int) -> date:
        return self.clock().astimezone(await self.tz(community_id)).date()

    # ---------------------------------------------------------------- planning: routes

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
        for a, m in v.people:
            if a.status not in HELD:
                continue
            a.status = AssignmentStatus.CANCELLED
            with use_locale(await self._locale(m, shift.community_id)):
                text = _("❌ The patrol {when}, {route}, is cancelled. Thank you for signing up — nothing "
                         "else to do.").format(when=v.when(await self.today(shift.community_id)),
                                               route=esc(v.route.name))
            await self.outbox.notify(m, key=f"pt:s{shift.id}:cancel:{m.id}", kind="patrol_cancelled",
                                     text=text, tz=(await self.community(shift.community_id)).timezone, urgent=True)
        await self.session.flush()
        await self.refresh_roster_for(shift)
        return await self.view(shift_id), True

    # ---------------------------------------------------------------- volunteers

    async def volunteer_pool(self, community_id: int) -> list[Member]:
        return await self.members.holders("volunteer", Place(community_id))

    async def my_shifts(self, member: Member, *, limit: int = 10) -> list[ShiftView]:
        now = self.clock()
        shifts = (await self.session.execute(
            select(PatrolShift).join(ShiftAssignment, ShiftAssignment.shift_id == PatrolShift.id)
            .where(ShiftAssignment.member_id == member.id, ShiftAssignment.status.in_(HELD),
                   PatrolShift.status == ShiftStatus.PLANNED,
                   (PatrolShift.ends_at > now) | (ShiftAssignment.checked_in_at.is_not(None)
                                                  & ShiftAssignment.checked_out_at.is_(None)))
            .order_by(PatrolShift.starts_at).limit(limit))).scalars().all()
        return await self.views(shifts)

    async def open_shifts(self, actor: Actor, member: Member, *, days: int = 14, limit: int = 8) -> list[ShiftView]:
        """Shifts that still have room and that this person may take, soonest first (the ones below
        their minimum first among the same day is not needed: soonest first, understaffed marked)."""
        now = self.clock()
        mine = select(ShiftAssignment.shift_id).where(ShiftAssignment.member_id == member.id,
                                                      ShiftAssignment.status.in_(HELD))
        ids = actor.communities() if not actor.is_admin else {c.id for c in await self.members.communities()}
        shifts = (await self.session.execute(
            select(PatrolShift).where(
                PatrolShift.community_id.in_(ids), PatrolShift.status == ShiftStatus.PLANNED,
                PatrolShift.starts_at > now, PatrolShift.starts_at < now + timedelta(days=days),
                PatrolShift.filled < PatrolShift.max_volunteers, PatrolShift.id.not_in(mine))
            .order_by(PatrolShift.starts_at).limit(limit * 3))).scalars().all()
        views = [v for v in await self.views(shifts) if can(actor, "patrol_take", place_of(v.route))]
        return views[:limit]

    async def _held(self, shift_id: int, member_id: int) -> ShiftAssignment | None:
        return (await self.session.execute(select(ShiftAssignment).where(
            ShiftAssignment.shift_id == shift_id, ShiftAssignment.member_id == member_id))).scalar_one_or_none()

    async def _overlaps(self, member: Member, shift: PatrolShift) -> bool:
        other = (await self.session.execute(
            select(func.count()).select_from(ShiftAssignment)
            .join(PatrolShift, PatrolShift.id == ShiftAssignment.shift_id)
            .where(ShiftAssignment.member_id == member.id, ShiftAssignment.status == AssignmentStatus.ACTIVE,
                   PatrolShift.id != shift.id, PatrolShift.status == ShiftStatus.PLANNED,
                   PatrolShift.starts_at < shift.ends_at, PatrolShift.ends_at > shift.starts_at))).scalar_one()
        return bool(other)

    async def _claim_place(self, shift: PatrolShift) -> None:
        """Take one place, atomically: one conditional UPDATE decides, whatever runs in parallel."""
        result = await self.session.execute(
            update(PatrolShift).where(PatrolShift.id == shift.id, PatrolShift.status == ShiftStatus.PLANNED,
                                      PatrolShift.filled < PatrolShift.max_volunteers)
            .values(filled=PatrolShift.filled + 1).execution_options(synchronize_session=False))
        if not getattr(result, "rowcount", 0):
            raise PatrolError("full")
        await self.session.refresh(shift, ["filled"])

    async def _release_place(self, shift: PatrolShift) -> None:
        await self.session.execute(
            update(PatrolShift).where(PatrolShift.id == shift.id, PatrolShift.filled > 0)
            .values(filled=PatrolShift.filled - 1).execution_options(synchronize_session=False))
        await self.session.refresh(shift, ["filled"])

    def _check_open(self, shift: PatrolShift) -> None:
        if shift.status == ShiftStatus.CANCELLED:
            raise PatrolError("cancelled")
        if shift.status != ShiftStatus.PLANNED or shift.starts_at <= self.clock():
            raise PatrolError("started")

    async def take(self, actor: Actor, member: Member, shift_id: int) -> ShiftView:
        """Take a place on a shift with one tap. A second tap changes nothing (PatrolError already)."""
        v = await self.view(shift_id)
        require(actor, "patrol_take", place_of(v.route))
        shift = v.shift
        self._check_open(shift)
        held = await self._held(shift.id, member.id)
        if held is not None and held.status == AssignmentStatus.ACTIVE:
            raise PatrolError("already")
        if await self._overlaps(member, shift):
            raise PatrolError("overlap")
        await self._claim_place(shift)
        now = self.clock()
        if held is None:
            held = ShiftAssignment(shift_id=shift.id, member_id=member.id, created_at=now)
            self.session.add(held)
        held.status = AssignmentStatus.ACTIVE
        held.dropped_at = held.drop_reason = held.confirmed_at = None
        held.reminded_1_at = None
        # Someone taking a shift within a day has just chosen it: no "are you coming?" reminder.
        held.reminded_24_at = now if shift.starts_at - now <= timedelta(hours=24) else None
        await self.session.flush()
        await self.refresh_roster_for(shift)
        return await self.view(shift_id)

    async def drop(self, actor: Actor, member: Member, shift_id: int, *, reason: str = "drop") -> ShiftView:
        """Leave a shift. reason: drop (only until 12 h before) | cant_make_it (the reminder's answer,
        tells the captains). Dropping below the minimum calls the pool to cover."""
        v = await self.view(shift_id)
        shift = v.shift
        self._check_open(shift)
        held = await self._held(shift.id, member.id)
        if held is None or held.status not in HELD:
            raise PatrolError("not_on_shift")
        now = self.clock()
        if reason == "drop" and held.status == AssignmentStatus.ACTIVE and shift.starts_at - now < DROP_LIMIT:
            raise PatrolError("too_late")
        was_active = held.status == AssignmentStatus.ACTIVE
        held.status = AssignmentStatus.DROPPED if was_active else AssignmentStatus.DECLINED
        held.dropped_at, held.drop_reason = now, reason
        await self._after_leaving(v, held, member, notify_captains=reason == "cant_make_it", reason=reason,
                                  was_active=was_active)
        return await self.view(shift_id)

    async def remove(self, actor: Actor, assignment_id: int) -> tuple[ShiftView, Member]:
        """A captain takes a volunteer off a shift (at any time before it starts)."""
        a = await self.session.get(ShiftAssignment, assignment_id)
        if a is None:
            raise LookupError("assignment")
        v = await self.view(a.shift_id)
        require(actor, "roster", place_of(v.route))
        self._check_open(v.shift)
        member = await self.members.get(a.member_id)
        assert member is not None
        if a.status not in HELD:
            raise PatrolError("already")
        was_active = a.status == AssignmentStatus.ACTIVE
        a.status, a.dropped_at, a.drop_reason = AssignmentStatus.DROPPED, self.clock(), "captain"
        await self._after_leaving(v, a, member, notify_captains=False, reason="captain", was_active=was_active)
        with use_locale(await self._locale(member, v.shift.community_id)):
            text = _("Your captain took you off the patrol {when}, {route}. Thank you!").format(
                when=v.when(await self.today(v.shift.community_id)), route=esc(v.route.name))
        await self.outbox.notify(member, key=f"pt:s{v.id}:removed:{a.id}:{self.clock().timestamp():.0f}",
                                 kind="patrol_removed", text=text, tz=v.tz.key, urgent=True)
        return await self.view(v.id), member

    async def _after_leaving(self, v: ShiftView, held: ShiftAssignment, member: Member, *, notify_captains: bool,
                             reason: str, was_active: bool) -> None:
        shift = v.shift
        if was_active:
            await self._release_place(shift)
        await self.outbox.cancel(f"pt:s{shift.id}:r24:{member.id}")
        await self.outbox.cancel(f"pt:s{shift.id}:r1:{member.id}")
        await self.session.execute(update(ShiftSwap).where(
            ShiftSwap.assignment_id == held.id, ShiftSwap.status == "open").values(status="withdrawn"))
        await self.session.flush()
        today = await self.today(shift.community_id)
        if notify_captains:
            for captain in await self._responsible(v.route):
                with use_locale(await self._locale(captain, shift.community_id)):
                    text = _("🙅 {name} can't make the patrol {when}, {route}. On it now: {count} of {min}–{max}."
                             ).format(name=esc(member.display_name), when=v.when(today), route=esc(v.route.name),
                                      count=shift.filled, min=shift.min_volunteers, max=shift.max_volunteers)
                await self.outbox.notify(
                    captain, key=f"pt:s{shift.id}:cant:{held.id}:{captain.id}", kind="patrol_cant", text=text,
                    tz=v.tz.key, expires_at=shift.starts_at,
                    buttons=[[(_("👥 See the shift"), f"ro:shift:{shift.id}:")]])
        if was_active and shift.filled < shift.min_volunteers:
            await self._cover_call(v, held, exclude={member.id})
        await self.refresh_roster_for(shift)

    async def _cover_call(self, v: ShiftView, held: ShiftAssignment, exclude: set[int]) -> int:
        """Ask the community's volunteers to cover a shift that fell below its minimum."""
        shift = v.shift
        on_shift = {m.id for a, m in v.people if a.status in HELD}
        stamp = f"{(held.dropped_at or self.clock()).timestamp():.0f}"
        sent = 0
        today = await self.today(shift.community_id)
        for person in await self.volunteer_pool(shift.community_id):
            if person.id in exclude or person.id in on_shift:
                continue
            with use_locale(await self._locale(person, shift.community_id)):
                text = _("🆘 Cover needed: patrol {when}, {route} needs {n} more. Can you come?").format(
                    when=v.when(today), route=esc(v.route.name), n=max(1, shift.min_volunteers - shift.filled))
                buttons = [[(_("🙋 I'll take it"), f"pt:take:{shift.id}:")]]
            if await self.outbox.notify(person, key=f"pt:s{shift.id}:cover:{held.id}:{stamp}:{person.id}",
                                        kind="patrol_cover", text=text, tz=v.tz.key, buttons=buttons,
                                        expires_at=shift.starts_at):
                sent += 1
        return sent

    async def confirm(self, member: Member, shift_id: int) -> tuple[ShiftView, bool]:
        """"I'll be there" on the 24 h reminder. Returns (view, changed)."""
        v = await self.view(shift_id)
        held = v.assignment_of(member.id)
        if held is None or held.status != AssignmentStatus.ACTIVE:
            raise PatrolError("not_on_shift")
        if held.confirmed_at is not None:
            return v, False
        held.confirmed_at = self.clock()
        return v, True

    # ---------------------------------------------------------------- captain assigns

    async def assign(self, actor: Actor, shift_id: int, member_id: int) -> tuple[ShiftView, Member]:
        """A captain puts a volunteer on a shift; the volunteer is asked to confirm (no place is taken
        until they say yes)."""
        v = await self.view(shift_id)
        require(actor, "roster", place_of(v.route))
        self._check_open(v.shift)
        member = await self.members.get(member_id)
        if member is None:
            raise LookupError("member")
        if not can(await self.members.actor(member), "patrol_take", place_of(v.route)):
            raise PatrolError("not_volunteer")
        held = await self._held(v.id, member.id)
        if held is not None and held.status in HELD:
            raise PatrolError("already")
        now = self.clock()
        if held is None:
            held = ShiftAssignment(shift_id=v.id, member_id=member.id, created_at=now)
            self.session.add(held)
        held.status, held.assigned_by, held.dropped_at, held.drop_reason = \
            AssignmentStatus.INVITED, actor.member_id, None, None
        await self.session.flush()
        captain = await self.members.get(actor.member_id)
        with use_locale(await self._locale(member, v.shift.community_id)):
            text = _("👤 {captain} asks you to patrol {when}, {route}. Can you?").format(
                captain=esc(captain.display_name if captain else ""),
                when=v.when(await self.today(v.shift.community_id)), route=esc(v.route.name))
            buttons = [[(_("✅ Yes, I'll go"), f"pt:yes:{held.id}:"), (_("🙅 No, sorry"), f"pt:no:{held.id}:")]]
        await self.outbox.notify(member, key=f"pt:s{v.id}:ask:{held.id}:{now.timestamp():.0f}",
                                 kind="patrol_assign", text=text, tz=v.tz.key, buttons=buttons,
                                 expires_at=v.shift.starts_at)
        return await self.view(v.id), member

    async def answer_assignment(self, member: Member, assignment_id: int, yes: bool) -> tuple[ShiftView, bool]:
        """The volunteer's answer to a captain's assignment. Returns (view, changed)."""
        a = await self.session.get(ShiftAssignment, assignment_id)
        if a is None or a.member_id != member.id:
            raise LookupError("assignment")
        v = await self.view(a.shift_id)
        if a.status != AssignmentStatus.INVITED:
            return v, False
        self._check_open(v.shift)
        now = self.clock()
        if yes:
            if await self._overlaps(member, v.shift):
                raise PatrolError("overlap")
            await self._claim_place(v.shift)
            a.status = AssignmentStatus.ACTIVE
            a.reminded_24_at = now if v.shift.starts_at - now <= timedelta(hours=24) else None
        else:
            a.status, a.dropped_at, a.drop_reason = AssignmentStatus.DECLINED, now, "declined"
        await self.session.flush()
        if a.assigned_by:
            captain = await self.members.get(a.assigned_by)
            if captain is not None:
                with use_locale(await self._locale(captain, v.shift.community_id)):
                    text = (_("✅ {name} will patrol {when}, {route}.") if yes else
                            _("🙅 {name} can't patrol {when}, {route}.")).format(
                        name=esc(member.display_name), when=v.when(await self.today(v.shift.community_id)),
                        route=esc(v.route.name))
                await self.outbox.notify(captain, key=f"pt:s{v.id}:ans:{a.id}:{now.timestamp():.0f}",
                                         kind="patrol_assign_answer", text=text, tz=v.tz.key)
        await self.refresh_roster_for(v.shift)
        return await self.view(v.id), True

    # ---------------------------------------------------------------- swaps

    async def request_swap(self, actor: Actor, member: Member, shift_id: int) -> tuple[ShiftSwap, int, bool]:
        """Offer my place to the pool. Returns (swap, offers sent, new). I stay on the shift until
        someone takes it."""
        v = await self.view(shift_id)
        self._check_open(v.shift)
        held = v.assignment_of(member.id)
        if held is None or held.status != AssignmentStatus.ACTIVE:
            raise PatrolError("not_on_shift")
        existing = (await self.session.execute(select(ShiftSwap).where(
            ShiftSwap.assignment_id == held.id, ShiftSwap.status == "open"))).scalar_one_or_none()
        if existing is not None:
            return existing, 0, False
        swap = ShiftSwap(shift_id=v.id, assignment_id=held.id, from_member_id=member.id, status="open",
                         created_at=self.clock())
        self.session.add(swap)
        await self.session.flush()
        on_shift = {m.id for a, m in v.people if a.status in HELD}
        today = await self.today(v.shift.community_id)
        sent = 0
        for person in await self.volunteer_pool(v.shift.community_id):
            if person.id in on_shift:
                continue
            with use_locale(await self._locale(person, v.shift.community_id)):
                text = _("🔁 {name} can't do the patrol {when}, {route}, and offers it. Can you take it?").format(
                    name=esc(member.display_name), when=v.when(today), route=esc(v.route.name))
                buttons = [[(_("🙋 I'll take it"), f"pt:swapok:{swap.id}:")]]
            if await self.outbox.notify(person, key=f"pt:s{v.id}:swap:{swap.id}:{person.id}", kind="patrol_swap",
                                        text=text, tz=v.tz.key, buttons=buttons, expires_at=v.shift.starts_at):
                sent += 1
        return swap, sent, True

    async def accept_swap(self, actor: Actor, member: Member, swap_id: int) -> ShiftView:
        """First to accept takes the place (one conditional UPDATE decides); both sides and the
        captains are told."""
        swap = await self.session.get(ShiftSwap, swap_id)
        if swap is None:
            raise LookupError("swap")
        v = await self.view(swap.shift_id)
        require(actor, "patrol_take", place_of(v.route))
        self._check_open(v.shift)
        if swap.from_member_id == member.id:
            raise PatrolError("own")
        mine = v.assignment_of(member.id)
        if mine is not None and mine.status == AssignmentStatus.ACTIVE:
            raise PatrolError("already")
        if await self._overlaps(member, v.shift):
            raise PatrolError("overlap")
        now = self.clock()
        claimed = await self.session.execute(
            update(ShiftSwap).where(ShiftSwap.id == swap.id, ShiftSwap.status == "open")
            .values(status="taken", taken_by=member.id, taken_at=now).execution_options(synchronize_session=False))
        if not getattr(claimed, "rowcount", 0):
            raise PatrolError("gone")
        old = await self.session.get(ShiftAssignment, swap.assignment_id)
        assert old is not None
        old.status, old.dropped_at, old.drop_reason = AssignmentStatus.SWAPPED, now, "swap"
        if mine is None:
            mine = ShiftAssignment(shift_id=v.id, member_id=member.id, created_at=now)
            self.session.add(mine)
        mine.status, mine.dropped_at, mine.drop_reason, mine.confirmed_at = AssignmentStatus.ACTIVE, None, None, None
        mine.reminded_1_at = None
        mine.reminded_24_at = now if v.shift.starts_at - now <= timedelta(hours=24) else None
        await self.outbox.cancel(f"pt:s{v.id}:r24:{swap.from_member_id}")
        await self.outbox.cancel(f"pt:s{v.id}:r1:{swap.from_member_id}")
        await self.session.flush()
        today = await self.today(v.shift.community_id)
        giver = await self.members.get(swap.from_member_id)
        if giver is not None:
            with use_locale(await self._locale(giver, v.shift.community_id)):
                text = _("🔁 {name} took your patrol {when}, {route}. You're free — thank you for finding cover!"
                         ).format(name=esc(member.display_name), when=v.when(today), route=esc(v.route.name))
            await self.outbox.notify(giver, key=f"pt:s{v.id}:swapped:{swap.id}:{giver.id}", kind="patrol_swapped",
                                     text=text, tz=v.tz.key, urgent=True)
        for captain in await self._responsible(v.route):
            with use_locale(await self._locale(captain, v.shift.community_id)):
                text = _("🔁 Swap on the patrol {when}, {route}: {taker} takes over from {giver}.").format(
                    when=v.when(today), route=esc(v.route.name), taker=esc(member.display_name),
                    giver=esc(giver.display_name if giver else "—"))
            await self.outbox.notify(captain, key=f"pt:s{v.id}:swapped:{swap.id}:{captain.id}",
                                     kind="patrol_swapped", text=text, tz=v.tz.key)
        await self.refresh_roster_for(v.shift)
        return await self.view(v.id)

    # ---------------------------------------------------------------- during the shift

    async def current_shift(self, member: Member) -> ShiftView | None:
        """The shift this person is checked in on (not yet checked out), if any."""
        row = (await self.session.execute(
            select(PatrolShift).join(ShiftAssignment, ShiftAssignment.shift_id == PatrolShift.id)
            .where(ShiftAssignment.member_id == member.id, ShiftAssignment.status == AssignmentStatus.ACTIVE,
                   ShiftAssignment.checked_in_at.is_not(None), ShiftAssignment.checked_out_at.is_(None))
            .order_by(PatrolShift.starts_at.desc()).limit(1))).scalar_one_or_none()
        return (await self.views([row]))[0] if row is not None else None

    def can_check_in(self, v: ShiftView) -> bool:
        now = self.clock()
        return v.shift.status == ShiftStatus.PLANNED and v.shift.starts_at - CHECKIN_EARLY <= now < v.shift.ends_at

    async def check_in(self, member: Member, shift_id: int, lat: float | None = None,
                       lon: float | None = None) -> tuple[ShiftView, bool]:
        """Record arrival (time and, when shared, place) and tell the co-volunteers. Returns (view, new)."""
        v = await self.view(shift_id)
        held = v.assignment_of(member.id)
        if held is None or held.status != AssignmentStatus.ACTIVE:
            raise PatrolError("not_on_shift")
        if held.checked_in_at is not None:
            return v, False
        if not self.can_check_in(v):
            raise PatrolError("cancelled" if v.shift.status == ShiftStatus.CANCELLED else "window")
        held.checked_in_at, held.check_in_lat, held.check_in_lon = self.clock(), lat, lon
        await self.session.flush()
        for _a, m in v.active:
            if m.id == member.id:
                continue
            with use_locale(await self._locale(m, v.shift.community_id)):
                text = _("🚶 {name} checked in for the patrol {route} ({time}).").format(
                    name=esc(member.display_name), route=esc(v.route.name), time=v.local_start.strftime("%H:%M"))
            await self.outbox.notify(m, key=f"pt:s{v.id}:on:{member.id}:{m.id}", kind="patrol_on", text=text,
                                     tz=v.tz.key, urgent=True, expires_at=v.shift.ends_at)
        return await self.view(shift_id), True

    async def log_checkpoint(self, member: Member, shift_id: int, checkpoint_id: int | None = None,
                             lat: float | None = None, lon: float | None = None) -> tuple[str, int]:
        """'At checkpoint X' (a tap, or a location matched to the nearest checkpoint). Returns
        (checkpoint name or '', sequence number)."""
        v = await self.view(shift_id)
        held = v.assignment_of(member.id)
        if held is None or held.status != AssignmentStatus.ACTIVE:
            raise PatrolError("not_on_shift")
        if held.checked_in_at is None or held.checked_out_at is not None:
            raise PatrolError("not_checked_in")
        checkpoint: PatrolCheckpoint | None = None
        if checkpoint_id is not None:
            checkpoint = next((c for c in v.route.checkpoints if c.id == checkpoint_id), None)
            if checkpoint is None:
                raise LookupError("checkpoint")
        elif lat is not None and lon is not None:
            located = [(c, _metres(lat, lon, c.lat, c.lon)) for c in v.route.checkpoints
                       if c.lat is not None and c.lon is not None]
            near = [x for x in located if x[1] <= CHECKPOINT_RADIUS_M]
            if near:
                checkpoint = min(near, key=lambda x: x[1])[0]
        seq = int((await self.session.execute(select(func.count()).select_from(CheckpointVisit).where(
            CheckpointVisit.assignment_id == held.id))).scalar_one()) + 1
        self.session.add(CheckpointVisit(assignment_id=held.id, checkpoint_id=checkpoint.id if checkpoint else None,
                                         seq=seq, at=self.clock(), lat=lat, lon=lon))
        await self.session.flush()
        return (checkpoint.name if checkpoint else ""), seq

    async def check_out(self, member: Member, shift_id: int, note: str) -> tuple[ShiftView, bool]:
        v = await self.view(shift_id)
        held = v.assignment_of(member.id)
        if held is None or held.status != AssignmentStatus.ACTIVE:
            raise PatrolError("not_on_shift")
        if held.checked_in_at is None:
            raise PatrolError("not_checked_in")
        if held.checked_out_at is not None:
            return v, False
        held.checked_out_at = max(self.clock(), held.checked_in_at)
        held.check_out_note = note.strip()[:2000]
        await self.session.flush()
        return await self.view(shift_id), True

    async def record(self, actor: Actor, shift_id: int) -> ShiftRecord:
        """Who came, check-in/out times, checkpoints in order, findings and notes: for captains+."""
        v = await self.view(shift_id)
        require(actor, "roster", place_of(v.route))
        names = {c.id: c.name for c in v.route.checkpoints}
        rows: list[RecordRow] = []
        for a, m in v.people:
            if a.status not in (AssignmentStatus.ACTIVE,) and a.checked_in_at is None:
                continue
            visits = (await self.session.execute(select(CheckpointVisit).where(
                CheckpointVisit.assignment_id == a.id).order_by(CheckpointVisit.seq))).scalars().all()
            rows.append(RecordRow(m, a, [VisitView(names.get(x.checkpoint_id or 0, ""), x.at, x.seq)
                                         for x in visits]))
        findings = list((await self.session.execute(select(Issue).where(
            Issue.shift_id == shift_id).order_by(Issue.id))).scalars())
        return ShiftRecord(v, rows, findings)

    # ---------------------------------------------------------------- hours, calendar

    async def hours(self, member: Member) -> Hours:
        """Hours from check-in to check-out (auto-closed shifts count to their scheduled end): this
        month (local to each shift's community) and in total."""
        rows = (await self.session.execute(
            select(ShiftAssignment.checked_in_at, ShiftAssignment.checked_out_at, Community.timezone)
            .join(PatrolShift, PatrolShift.id == ShiftAssignment.shift_id)
            .join(Community, Community.id == PatrolShift.community_id)
            .where(ShiftAssignment.member_id == member.id, ShiftAssignment.checked_in_at.is_not(None),
                   ShiftAssignment.checked_out_at.is_not(None)))).all()
        now = self.clock()
        month = total = 0.0
        for start, end, tz in rows:
            hours = max(0.0, (end - start).total_seconds() / 3600)
            total += hours
            local_now = now.astimezone(ZoneInfo(tz))
            local_start = start.astimezone(ZoneInfo(tz))
            if (local_start.year, local_start.month) == (local_now.year, local_now.month):
                month += hours
        return Hours(round(month, 1), round(total, 1), len(rows))

    async def calendar(self, member: Member) -> bytes:
        """My shifts (from 30 days back on) as an .ics file."""
        now = self.clock()
        shifts = (await self.session.execute(
            select(PatrolShift).join(ShiftAssignment, ShiftAssignment.shift_id == PatrolShift.id)
            .where(ShiftAssignment.member_id == member.id,
                   ShiftAssignment.status.in_((AssignmentStatus.ACTIVE, AssignmentStatus.CANCELLED)),
                   PatrolShift.starts_at > now - timedelta(days=30))
            .order_by(PatrolShift.starts_at))).scalars().all()
        events = []
        for v in await self.views(shifts):
            place = await self.place_name(v.route)
            co = ", ".join(v.names(exclude=member.id))
            description = v.route.description
            if co:
                description = (description + "\n" if description else "") + _("With: {names}").format(names=co)
            events.append(ics.Event(uid=f"patrol-shift-{v.id}@neighbourhood-bot", start=v.shift.starts_at,
                                    end=v.shift.ends_at, summary=_("Patrol: {route}").format(route=v.route.name),
                                    description=description, location=place,
                                    cancelled=v.shift.status == ShiftStatus.CANCELLED))
        return ics.calendar(events, name=_("My patrols"), now=now)

    # ---------------------------------------------------------------- who answers for a route

    async def _responsible(self, route: PatrolRoute) -> list[Member]:
        return await self.members.responsible(place_of(route), 0)

    # ---------------------------------------------------------------- scheduled work

    async def run_reminders(self) -> int:
        """Volunteers: 24 h before (confirm / can't make it) and 1 h before. Exempt from quiet hours
        (urgent): the volunteer chose the shift. Expire at the start, so a late one is never sent."""
        now = self.clock()
        sent = 0
        rows = (await self.session.execute(
            select(ShiftAssignment, PatrolShift).join(PatrolShift, PatrolShift.id == ShiftAssignment.shift_id)
            .where(ShiftAssignment.status == AssignmentStatus.ACTIVE, PatrolShift.status == ShiftStatus.PLANNED,
                   PatrolShift.starts_at > now, PatrolShift.starts_at <= now + timedelta(hours=24),
                   ShiftAssignment.reminded_1_at.is_(None)))).all()
        views = {v.id: v for v in await self.views(list({s.id: s for _a, s in rows}.values()))}
        for a, s in rows:
            v = views[s.id]
            member = await self.members.get(a.member_id)
            if member is None:
                continue
            left = s.starts_at - now
            today = await self.today(s.community_id)
            with use_locale(await self._locale(member, s.community_id)):
                co = v.names(exclude=member.id)
                with_line = _("with {names}").format(names=esc(", ".join(co))) if co else _("no one else yet")
                if left <= timedelta(hours=1):
                    text = _("⏰ Patrol in 1 hour: {when}, {route}, {with_line}. When you're there, open /patrols "
                             "and check in.").format(when=v.when(today), route=esc(v.route.name), with_line=with_line)
                    ok = await self.outbox.notify(member, key=f"pt:s{s.id}:r1:{member.id}", kind="patrol_reminder",
                                                  text=text, tz=v.tz.key, urgent=True, expires_at=s.starts_at,
                                                  buttons=[[(_("🚶 My patrols"), "pt:menu:0:")]])
                    a.reminded_1_at = now
                    a.reminded_24_at = a.reminded_24_at or now
                elif a.reminded_24_at is None:
                    text = _("🚶 Patrol {when}, {route}, {with_line}.").format(
                        when=v.when(today), route=esc(v.route.name), with_line=with_line)
                    buttons = [[(_("✅ I'll be there"), f"pt:confirm:{s.id}:"),
                                (_("🙅 Can't make it"), f"pt:cant:{s.id}:")]]
                    ok = await self.outbox.notify(member, key=f"pt:s{s.id}:r24:{member.id}", kind="patrol_reminder",
                                                  text=text, tz=v.tz.key, urgent=True, expires_at=s.starts_at,
                                                  buttons=buttons)
                    a.reminded_24_at = now
                else:
                    continue
            sent += int(ok)
        return sent

    async def run_alerts(self) -> int:
        """Captains / area heads: below minimum 48 h and 24 h before; nobody checked in 15 min after start."""
        now = self.clock()
        sent = 0
        under = (await self.session.execute(select(PatrolShift).where(
            PatrolShift.status == ShiftStatus.PLANNED, PatrolShift.starts_at > now,
            PatrolShift.starts_at <= now + timedelta(hours=48), PatrolShift.filled < PatrolShift.min_volunteers,
            PatrolShift.under_24_at.is_(None)))).scalars().all()
        for v in await self.views(under):
            s = v.shift
            window = "24" if s.starts_at - now <= timedelta(hours=24) else "48"
            if window == "48" and s.under_48_at is not None:
                continue
            today = await self.today(s.community_id)
            for captain in await self._responsible(v.route):
                with use_locale(await self._locale(captain, s.community_id)):
                    text = _("⚠️ The patrol {when}, {route}, has {count} of at least {min} volunteers.").format(
                        when=v.when(today), route=esc(v.route.name), count=s.filled, min=s.min_volunteers)
                    buttons = [[(_("👤 Assign a volunteer"), f"ro:assign:{s.id}:"),
                                (_("❌ Cancel shift"), f"ro:cancel:{s.id}:")]]
                sent += int(await self.outbox.notify(
                    captain, key=f"pt:s{s.id}:u{window}:{captain.id}", kind="patrol_understaffed", text=text,
                    tz=v.tz.key, buttons=buttons, expires_at=s.starts_at))
            if window == "24":
                s.under_24_at = now
            s.under_48_at = s.under_48_at or now
        started = (await self.session.execute(select(PatrolShift).where(
            PatrolShift.status == ShiftStatus.PLANNED, PatrolShift.starts_at <= now - NO_CHECKIN_AFTER,
            PatrolShift.ends_at > now, PatrolShift.no_checkin_at.is_(None)))).scalars().all()
        for v in await self.views(started):
            s = v.shift
            s.no_checkin_at = now
            if any(a.checked_in_at is not None for a, _m in v.people):
                continue
            today = await self.today(s.community_id)
            for captain in await self._responsible(v.route):
                with use_locale(await self._locale(captain, s.community_id)):
                    names = ", ".join(v.names()) or _("nobody signed up")
                    text = _("🔕 Nobody has checked in for the patrol {when}, {route} ({names}).").format(
                        when=v.when(today), route=esc(v.route.name), names=esc(names))
                sent += int(await self.outbox.notify(
                    captain, key=f"pt:s{s.id}:nci:{captain.id}", kind="patrol_no_checkin", text=text, tz=v.tz.key,
                    urgent=True, expires_at=s.ends_at))
        return sent

    async def run_auto_close(self) -> int:
        """No check-out 2 h after the end: closed at the scheduled end and flagged. Ended shifts become
        done once nobody is still on them."""
        now = self.clock()
        closed = 0
        rows = (await self.session.execute(
            select(ShiftAssignment, PatrolShift).join(PatrolShift, PatrolShift.id == ShiftAssignment.shift_id)
            .where(ShiftAssignment.status == AssignmentStatus.ACTIVE, ShiftAssignment.checked_in_at.is_not(None),
                   ShiftAssignment.checked_out_at.is_(None), PatrolShift.ends_at <= now - AUTO_CLOSE_AFTER))).all()
        flagged: dict[int, list[int]] = {}
        for a, s in rows:
            a.checked_out_at = max(s.ends_at, a.checked_in_at or s.ends_at)
            a.auto_closed = True
            flagged.setdefault(s.id, []).append(a.member_id)
            closed += 1
        for v in await self.views([s for s in {s.id: s for _a, s in rows}.values()]):
            today = await self.today(v.shift.community_id)
            who = [m.display_name for a, m in v.people if m.id in flagged[v.id]]
            for captain in await self._responsible(v.route):
                with use_locale(await self._locale(captain, v.shift.community_id)):
                    text = _("🏁 The patrol {when}, {route}, was closed automatically: no check-out from {names}. "
                             "Their time counts to the scheduled end.").format(
                        when=v.when(today), route=esc(v.route.name), names=esc(", ".join(who)))
                await self.outbox.notify(captain, key=f"pt:s{v.id}:auto:{captain.id}", kind="patrol_auto_closed",
                                         text=text, tz=v.tz.key)
        await self.session.flush()
        ended = (await self.session.execute(select(PatrolShift).where(
            PatrolShift.status == ShiftStatus.PLANNED, PatrolShift.ends_at <= now - AUTO_CLOSE_AFTER))).scalars().all()
        for s in ended:
            s.status, s.closed_at = ShiftStatus.DONE, now
        return closed

    # ---------------------------------------------------------------- the weekly roster message

    async def roster_chat(self, route: PatrolRoute) -> int | None:
        """The team chat a route's roster goes to: the building's, else the area's, else the office's."""
        return await self.chats.team_chat_up(place_of(route))

    @staticmethod
    def week_of(day: date) -> date:
        return day - timedelta(days=day.weekday())

    async def roster_text(self, community_id: int, chat_id: int, week_start: date) -> str | None:
        tz = await self.tz(community_id)
        start = resolve_local(week_start, 0, tz)
        end = resolve_local(week_start + timedelta(days=7), 0, tz)
        routes = (await self.session.execute(select(PatrolRoute).where(
            PatrolRoute.community_id == community_id))).scalars().all()
        route_ids = [r.id for r in routes if await self.roster_chat(r) == chat_id]
        if not route_ids:
            return None
        shifts = (await self.session.execute(select(PatrolShift).where(
            PatrolShift.route_id.in_(route_ids), PatrolShift.starts_at >= start, PatrolShift.starts_at < end)
            .order_by(PatrolShift.starts_at, PatrolShift.route_id))).scalars().all()
        if not shifts:
            return None
        views = await self.views(shifts)
        community = await self.community(community_id)
        with use_locale(community.locale):
            lines = [{"when": v.when(), "route": v.route.name, "names": ", ".join(v.names()),
                      "count": v.shift.filled, "min": v.shift.min_volunteers, "max": v.shift.max_volunteers,
                      "needs": v.needs, "cancelled": v.shift.status == ShiftStatus.CANCELLED} for v in views]
            text = render("patrols_roster.html.j2", week=day_label(week_start), lines=lines[:40],
                          more=max(0, len(lines) - 40), bot_link="/patrols")
        return text if len(text) <= TEXT_LIMIT else shorten(text, TEXT_LIMIT)

    async def run_weekly_roster(self) -> int:
        """Monday morning: post the week's roster in each team chat that has patrols this week."""
        now = self.clock()
        posted = 0
        for community in await self.members.communities():
            tz = ZoneInfo(community.timezone)
            local = now.astimezone(tz)
            hour = int((community.settings or {}).get("patrol_roster_hour", ROSTER_HOUR))
            if local.weekday() != 0 or local.hour < hour:
                continue
            week = local.date()
            routes = (await self.session.execute(select(PatrolRoute).where(
                PatrolRoute.community_id == community.id))).scalars().all()
            chat_ids = {c for c in [await self.roster_chat(r) for r in routes] if c is not None}
            for chat_id in sorted(chat_ids):
                exists = (await self.session.execute(select(RosterMessage.id).where(
                    RosterMessage.community_id == community.id, RosterMessage.chat_id == chat_id,
                    RosterMessage.week_start == week))).scalar_one_or_none()
                if exists is not None:
                    continue
                text = await self.roster_text(community.id, chat_id, week)
                if text is None:
                    continue
                rm = RosterMessage(community_id=community.id, chat_id=chat_id, week_start=week, created_at=now)
                self.session.add(rm)
                await self.session.flush()
                expires = resolve_local(week + timedelta(days=1), 0, tz)
                await self.outbox.enqueue(key=f"pt:roster:{rm.id}", kind="patrol_roster", chat_id=chat_id, text=text,
                                          community_id=community.id, expires_at=expires)
                posted += 1
        return posted

    async def refresh_roster_for(self, shift: PatrolShift) -> None:
        route = await self.session.get(PatrolRoute, shift.route_id)
        if route is None:
            return
        chat_id = await self.roster_chat(route)
        if chat_id is None:
            return
        week = self.week_of(shift.starts_at.astimezone(await self.tz(shift.community_id)).date())
        rm = (await self.session.execute(select(RosterMessage).where(
            RosterMessage.community_id == shift.community_id, RosterMessage.chat_id == chat_id,
            RosterMessage.week_start == week))).scalar_one_or_none()
        if rm is not None:
            await self._edit_roster(rm)

    async def refresh_rosters(self, route_ids: Iterable[int]) -> None:
        """After generation: edit this week's roster messages of these routes' chats."""
        seen: set[int] = set()
        for route_id in route_ids:
            route = await self.session.get(PatrolRoute, route_id)
            if route is None:
                continue
            chat_id = await self.roster_chat(route)
            if chat_id is None or chat_id in seen:
                continue
            seen.add(chat_id)
            week = self.week_of(await self.today(route.community_id))
            rm = (await self.session.execute(select(RosterMessage).where(
                RosterMessage.community_id == route.community_id, RosterMessage.chat_id == chat_id,
                RosterMessage.week_start == week))).scalar_one_or_none()
            if rm is not None:
                await self._edit_roster(rm)

    async def _edit_roster(self, rm: RosterMessage) -> None:
        """Edit the posted message in place; if it is still waiting in the outbox, change what it will say."""
        await self.session.flush()
        text = await self.roster_text(rm.community_id, rm.chat_id, rm.week_start)
        if text is None:
            return
        if rm.message_id is not None:
            await self.outbox.enqueue_edit(key=f"pt:roster_edit:{rm.id}", kind="patrol_roster_edit",
                                           chat_id=rm.chat_id, message_id=rm.message_id, text=text,
                                           community_id=rm.community_id)
            return
        pending = (await self.session.execute(select(OutboxItem).where(
            OutboxItem.dedup_key == f"pt:roster:{rm.id}", OutboxItem.status == OutboxStatus.PENDING))
        ).scalar_one_or_none()
        if pending is not None:
            pending.payload = {**pending.payload, "text": text}


@on_sent("patrol_roster")
async def remember_roster_message(session: AsyncSession, item: OutboxItem) -> None:
    """Keep the roster's message id so that changes that week edit it in place."""
    rm_id = int(item.dedup_key.rsplit(":", 1)[-1])
    await session.execute(update(RosterMessage).where(RosterMessage.id == rm_id).values(
        message_id=item.message_id, chat_id=item.chat_id))


# ------------------------------------------------------------------------------------- jobs


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


# ------------------------------------------------------------------------------------- digest API


async def patrol_summary(session: AsyncSession, community_id: int, start_utc: datetime,
                         end_utc: datetime) -> dict[str, Any]:
    """Patrol figures for the daily digest, for shifts starting in [start_utc, end_utc).

    Returns a dict:
      planned     shifts not cancelled
      staffed     of those, shifts that had at least their minimum number of volunteers
      checked_in  shifts where at least one volunteer checked in
      missed      list of {"shift_id", "route", "starts_at", "ends_at"} (UTC datetimes) for shifts that
                  have started and nobody checked in, soonest first
      findings    number of issues reported from these shifts
      references  their references, e.g. ["NC0042"] (show as hashtags)
    """
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
    missed = [{"shift_id": s.id, "route": name, "starts_at": s.starts_at, "ends_at": s.ends_at}
              for s, name in shifts
              if s.id not in checked and s.starts_at + NO_CHECKIN_AFTER <= end_utc]
    return {
        "planned": len(shifts),
        "staffed": sum(1 for s, _n in shifts if staffed.get(s.id, 0) >= s.min_volunteers),
        "checked_in": len(checked),
        "missed": missed,
        "findings": len(issues),
        "references": issues,
    }


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
    from models import Building

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


# ------------------------------------------------------------------------------------- structure file


def _weekday(value: Any) -> int:
    names = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
    if isinstance(value, int) and 0 <= value <= 6:
        return value
    if isinstance(value, str) and value[:3].lower() in names:
        return names[value[:3].lower()]
    raise ValueError(f"weekday {value!r}: use mon..sun or 0..6 (0 = Monday)")


class CheckpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)
    location: tuple[float, float] | None = None


class ShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weekdays: list[Any] = []
    dates: list[date] = []
    start: str
    end: str
    min: int = Field(default=1, ge=1, le=50)
    max: int = Field(default=4, ge=1, le=50)

    @field_validator("weekdays")
    @classmethod
    def _days(cls, v: list[Any]) -> list[Any]:
        if len(v) == 1 and isinstance(v[0], str) and v[0].lower() in ("daily", "every day", "all"):
            return list(range(7))
        if len(v) == 1 and isinstance(v[0], str) and v[0].lower() in ("weekdays", "mon-fri"):
            return list(range(5))
        return [_weekday(x) for x in v]

    @field_validator("start", "end", mode="before")
    @classmethod
    def _time(cls, v: Any) -> str:
        if isinstance(v, int):  # YAML 1.1 reads 19:00 unquoted as a number of minutes (sexagesimal)
            v = f"{v // 60}:{v % 60:02d}"
        if parse_time(str(v)) is None:
            raise ValueError(f"time {v!r}: use HH:MM, e.g. \"19:00\"")
        return str(v)


class RouteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str | None = None
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    area: str | None = None
    building: str | None = None
    checkpoints: list[CheckpointIn | str] = []
    shifts: list[ShiftIn] = []


class PatrolsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    routes: list[RouteIn] = []
    generate_weeks: int = Field(default=0, ge=0, le=MAX_WEEKS)


@section("patrols")
async def import_patrols(session: AsyncSession, community: Community, data: Any, report: ImportReport) -> None:
    """`patrols:` in the structure file: routes (matched by key, defaulting to the name) with
    checkpoints and shift templates. Re-importing updates in place; imported routes the file no longer
    lists are archived; templates are replaced (old ones stop, generated shifts stay)."""
    try:
        parsed = PatrolsIn.model_validate(data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise StructureError(f"patrols.{where}: {str(err['msg']).removeprefix('Value error, ')}") from None
    areas = {a.key: a for a in (await session.execute(select(Area).where(
        Area.community_id == community.id))).scalars()}
    buildings = {b.key: b for b in (await session.execute(select(Building).where(
        Building.community_id == community.id))).scalars()}
    service = PatrolService(session, system_clock)
    existing = {r.key: r for r in (await session.execute(select(PatrolRoute).where(
        PatrolRoute.community_id == community.id))).scalars()}
    seen: set[str] = set()
    route_ids: list[int] = []
    for i, r_in in enumerate(parsed.routes):
        key = r_in.key or r_in.name
        if key in seen:
            raise StructureError(f"patrols.routes.{i}: duplicate route key {key!r}")
        seen.add(key)
        area_id = building_id = None
        if r_in.building is not None:
            b = buildings.get(r_in.building) or next((x for x in buildings.values() if x.name == r_in.building), None)
            if b is None:
                raise StructureError(f"patrols.routes.{i}.building: no building {r_in.building!r}")
            area_id, building_id = b.area_id, b.id
        elif r_in.area is not None:
            a = areas.get(r_in.area) or next((x for x in areas.values() if x.name == r_in.area), None)
            if a is None:
                raise StructureError(f"patrols.routes.{i}.area: no area {r_in.area!r}")
            area_id = a.id
        route = existing.get(key)
        if route is None:
            route = PatrolRoute(community_id=community.id, key=key, name=r_in.name, description=r_in.description,
                                area_id=area_id, building_id=building_id, source="import", active=True)
            session.add(route)
            await session.flush()
            report.created.append(f"patrol route {r_in.name}")
        else:
            values = {"name": r_in.name, "description": r_in.description, "area_id": area_id,
                      "building_id": building_id, "active": True, "source": "import"}
            changed = [k for k, v in values.items() if getattr(route, k) != v]
            for k in changed:
                setattr(route, k, values[k])
            if changed:
                report.updated.append(f"patrol route {r_in.name}")
        checkpoints = [(c, None, None) if isinstance(c, str) else
                       (c.name, c.location[0] if c.location else None, c.location[1] if c.location else None)
                       for c in r_in.checkpoints]
        await service.set_checkpoints(None, route.id, checkpoints)
        loaded = await service.route(route.id)
        wanted = [(tuple(sorted(set(s.weekdays))), tuple(sorted({d.isoformat() for d in s.dates})),
                   parse_time(s.start), parse_time(s.end), s.min, max(s.max, s.min)) for s in r_in.shifts]
        have = {(tuple(t.weekdays), tuple(t.dates), t.start_minute, t.end_minute, t.min_volunteers,
                 t.max_volunteers): t for t in loaded.templates if t.active}
        for t_key, t in have.items():
            if t_key not in wanted:
                t.active = False
                report.removed.append(f"patrol shift template of {r_in.name}")
        for j, w in enumerate(wanted):
            if w in have:
                continue
            if not w[0] and not w[1]:
                raise StructureError(f"patrols.routes.{i}.shifts.{j}: give weekdays or dates")
            assert w[2] is not None and w[3] is not None
            await service.add_template(None, route.id, weekdays=w[0], dates=[date.fromisoformat(d) for d in w[1]],
                                       start_minute=w[2], end_minute=w[3], min_volunteers=w[4], max_volunteers=w[5])
            report.created.append(f"patrol shift template of {r_in.name}")
        route_ids.append(route.id)
    for key, route in existing.items():
        if route.source == "import" and key not in seen and route.active:
            route.active = False
            report.removed.append(f"patrol route {route.name}")
    await session.flush()
    if parsed.generate_weeks:
        await service.generate(None, route_ids, parsed.generate_weeks)


__all__ = ["DEFAULT_WEEKS", "Hours", "PatrolError", "PatrolService", "ShiftRecord", "ShiftView", "day_label",
           "error_text", "hhmm", "parse_date", "parse_people", "parse_time", "patrol_summary", "resolve_local",
           "shift_window", "volunteer_hours"]
