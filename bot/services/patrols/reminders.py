"""The tick's patrol work: reminders to volunteers (24 h and 1 h before), alerts to captains (below the
minimum 48 h and 24 h before, nobody checked in 15 minutes after the start) and closing shifts nobody
checked out of. Each run marks what it did on the rows, so a restart or a double tick tells nobody twice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.services.patrols.duty import Duty
from bot.services.patrols.events import NobodyCheckedIn, ShiftAutoClosed, ShiftReminder, ShiftUnderstaffed
from bot.services.patrols.timing import AUTO_CLOSE_AFTER, NO_CHECKIN_AFTER
from models import AssignmentStatus, PatrolShift, ShiftAssignment, ShiftStatus


class Scheduled(Duty):
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
        for a, s in rows:
            member = await self.members.get(a.member_id)
            if member is None:
                continue
            if s.starts_at - now <= timedelta(hours=1):
                await self.events.record(ShiftReminder(s.id, member.id, 1))
                a.reminded_1_at = now
                a.reminded_24_at = a.reminded_24_at or now
            elif a.reminded_24_at is None:
                await self.events.record(ShiftReminder(s.id, member.id, 24))
                a.reminded_24_at = now
            else:
                continue
            sent += 1
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
            await self.events.record(ShiftUnderstaffed(s.id, window, s.filled, s.min_volunteers))
            sent += 1
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
            await self.events.record(NobodyCheckedIn(s.id))
            sent += 1
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
        await self.session.flush()
        for shift_id, member_ids in flagged.items():
            await self.events.record(ShiftAutoClosed(shift_id, tuple(member_ids)))
        ended = (await self.session.execute(select(PatrolShift).where(
            PatrolShift.status == ShiftStatus.PLANNED, PatrolShift.ends_at <= now - AUTO_CLOSE_AFTER))).scalars().all()
        for s in ended:
            s.status, s.closed_at = ShiftStatus.DONE, now
        return closed
