"""On the shift: checking in (30 minutes before the start until its end), checkpoints (a tap, or a shared
location matched to the nearest checkpoint within 150 m), checking out, the shift's record for captains, a
volunteer's hours, and the shifts of their calendar file."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.services.access import Actor, require
from bot.services.patrols.events import CheckedIn
from bot.services.patrols.timing import CHECKIN_EARLY, CHECKPOINT_RADIUS_M, PatrolError, metres
from bot.services.patrols.views import CalendarEntry, Hours, RecordRow, ShiftRecord, ShiftView, VisitView, place_of
from bot.services.patrols.volunteers import Volunteers
from models import (
    AssignmentStatus,
    CheckpointVisit,
    Community,
    Issue,
    Member,
    PatrolCheckpoint,
    PatrolShift,
    ShiftAssignment,
    ShiftStatus,
)


class Duty(Volunteers):
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
        await self.events.record(CheckedIn(v.id, member.id))
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
            located = [(c, metres(lat, lon, c.lat, c.lon)) for c in v.route.checkpoints
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
            if start is None or end is None:  # the query excludes them; the columns are nullable
                continue
            hours = max(0.0, (end - start).total_seconds() / 3600)
            total += hours
            local_now = now.astimezone(ZoneInfo(tz))
            local_start = start.astimezone(ZoneInfo(tz))
            if (local_start.year, local_start.month) == (local_now.year, local_now.month):
                month += hours
        return Hours(round(month, 1), round(total, 1), len(rows))

    async def calendar(self, member: Member) -> list[CalendarEntry]:
        """My shifts from 30 days back on (held, or cancelled while I held them), for the .ics file."""
        now = self.clock()
        shifts = (await self.session.execute(
            select(PatrolShift).join(ShiftAssignment, ShiftAssignment.shift_id == PatrolShift.id)
            .where(ShiftAssignment.member_id == member.id,
                   ShiftAssignment.status.in_((AssignmentStatus.ACTIVE, AssignmentStatus.CANCELLED)),
                   PatrolShift.starts_at > now - timedelta(days=30))
            .order_by(PatrolShift.starts_at))).scalars().all()
        return [CalendarEntry(v, await self.place_name(v.route)) for v in await self.views(shifts)]


async def calendar_for(sessions: async_sessionmaker[AsyncSession], clock: Clock,
                       member_id: int) -> list[CalendarEntry] | None:
    """A person's calendar shifts, read in a session of its own (the job worker's, off the update path);
    None when the person is gone. The views are loaded eagerly, so they are read after the session."""
    async with sessions() as session:
        service = Duty(session, clock)
        member = await service.members.get(member_id)
        if member is None:
            return None
        return await service.calendar(member)
