"""The scheduled side of triage, every tick: deadline reminders, escalation up the grid (building → area
head → office) and auto-close; and what happens to issues when a person's roles end or they erase
their data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from bot.services.access import Place
from bot.services.lifecycle import WORKABLE, IssueAction
from bot.services.triage.events import IssueEscalated, Overdue, ReminderDue
from bot.services.triage.queue import TriageQueue
from bot.services.triage.rules import (
    AUTO_CLOSE_AFTER,
    REMIND_HOUR,
    TICK_BATCH,
    TOP_LEVEL,
    deadline_after_days,
    escalation_settings,
    verification_required,
)
from models import CloseHow, Issue, IssueEvent, IssueStatus, Member


class TriageEscalation(TriageQueue):
    async def _deadline_set_at(self, issue_ids: Sequence[int]) -> dict[int, datetime]:
        if not issue_ids:
            return {}
        rows = (await self.session.execute(
            select(IssueEvent.issue_id, func.max(IssueEvent.at)).where(
                IssueEvent.issue_id.in_(issue_ids), IssueEvent.kind.in_(("deadline", "escalated")))
            .group_by(IssueEvent.issue_id))).all()
        return {i: at for i, at in rows}

    async def _workers(self, issue: Issue) -> list[Member]:
        """Who a reminder is for: the assignee at building level, else whoever answers at its level."""
        if issue.assignee_id is not None and issue.escalation_level == 0:
            person = await self.session.get(Member, issue.assignee_id)
            if person is not None:
                return [person]
        # A referred issue is the office's to chase with the department.
        level = TOP_LEVEL if issue.assigned_to_office or issue.status == IssueStatus.REFERRED \
            else issue.escalation_level
        return await self._responsible(issue, level)

    async def send_reminders(self) -> int:
        """A countdown to whoever works on an issue: one day before the deadline and on the day.
        A reminder whose moment came before the deadline was set is skipped (no "1 day left" for a
        deadline set 5 hours ahead); keys include the deadline, so a new deadline gets new ones."""
        now = self.clock()
        issues = (await self.session.execute(
            select(Issue).options(selectinload(Issue.photos)).where(
                Issue.status.in_(WORKABLE), Issue.deadline_at.is_not(None),
                Issue.deadline_at > now, Issue.deadline_at <= now + timedelta(days=1)))).scalars().all()
        set_at = await self._deadline_set_at([i.id for i in issues])
        sent = 0
        for issue in issues:
            assert issue.deadline_at is not None
            community = await self.community_of(issue)
            tz = ZoneInfo(community.timezone)
            deadline = issue.deadline_at
            local_day = deadline.astimezone(tz).date()
            day_due = min(datetime.combine(local_day, time(REMIND_HOUR), tzinfo=tz).astimezone(UTC),
                          deadline - timedelta(hours=1))
            before_due = deadline - timedelta(days=1)
            since = set_at.get(issue.id, issue.created_at)
            if now >= day_due and day_due >= since:
                kind = "day"
            elif now >= before_due and before_due >= since and now < day_due:
                kind = "1d"
            else:
                continue
            reminder = ReminderDue(issue.id, kind, deadline.astimezone(tz).strftime("%H:%M"),
                                   tuple(p.id for p in await self._workers(issue)))
            await self.events.record(reminder)
            sent += len(reminder.told)
        return sent

    async def escalate_due(self) -> int:
        """Overdue issues and issues nobody accepted in time go one level up the grid."""
        now = self.clock()
        count = 0
        overdue = (await self.session.execute(
            select(Issue).options(selectinload(Issue.photos)).where(
                Issue.status.in_(WORKABLE), Issue.deadline_at.is_not(None), Issue.deadline_at <= now)
            .order_by(Issue.id).limit(TICK_BATCH))).scalars().all()
        for issue in overdue:
            if await self._escalate(issue, "overdue"):
                count += 1
        # Not accepted in time: 2 h is the shortest wait, so older NEW issues are the candidates.
        candidates = (await self.session.execute(
            select(Issue).options(selectinload(Issue.photos)).where(
                Issue.status == IssueStatus.NEW, Issue.escalation_level < TOP_LEVEL,
                Issue.created_at <= now - timedelta(hours=1)).order_by(Issue.id).limit(TICK_BATCH))).scalars().all()
        for issue in candidates:
            community = await self.community_of(issue)
            rules = escalation_settings(community)
            wait = timedelta(hours=rules["urgent_accept_hours"] if issue.urgent else rules["accept_hours"])
            since = issue.last_escalated_at or issue.created_at
            if now - since >= wait and await self._escalate(issue, "not_accepted"):
                count += 1
        return count

    async def _escalate(self, issue: Issue, why: str) -> bool:
        now = self.clock()
        community = await self.community_of(issue)
        rules = escalation_settings(community)
        place_name = await self.place_name(issue)
        if why == "overdue":
            issue.overdue = True
            if issue.missed_deadline_at is None:  # kept when escalation sets a new deadline below
                issue.missed_deadline_at = issue.deadline_at
        if issue.status == IssueStatus.REFERRED:
            # The department works to its own deadline: when it is late the office chases it (once per
            # missed deadline); the grid above the building has nothing to do with it.
            if why == "overdue" and issue.deadline_at is not None:
                await self.events.record(Overdue(issue.id, "referral", place_name))
            return False
        if issue.triage == "residents":
            # A private matter (私事) never leaves the building: its captains hear once per missed deadline.
            if why == "overdue" and issue.deadline_at is not None:
                await self.events.record(Overdue(issue.id, "private", place_name))
            return False
        if issue.escalation_level >= TOP_LEVEL or (why == "overdue" and issue.assigned_to_office):
            # Nobody above the office: tell the office once per missed deadline.
            if why == "overdue" and issue.deadline_at is not None:
                await self.events.record(Overdue(issue.id, "office", place_name))
            return False
        old = issue.escalation_level
        new = old + 1
        # An area without an area head: go straight to the office.
        if new == 1:
            heads = await self.members.holders("area_head", Place(issue.community_id, issue.area_id)) \
                if issue.area_id else []
            if not heads:
                new = TOP_LEVEL
        issue.escalation_level = new
        issue.escalations += 1
        issue.last_escalated_at = now
        reason = "overdue" if why == "overdue" else "not_accepted"
        await self._event(issue, "escalated", None, note=f"{reason}: {old} → {new}", public=False)
        if why == "overdue" or issue.deadline_at is None or issue.deadline_at <= now:
            await self._set_deadline(issue, deadline_after_days(now, int(rules["level_days"]), community.timezone),
                                     None, public=False)
        hours = rules["urgent_accept_hours"] if issue.urgent else rules["accept_hours"]
        await self.events.record(IssueEscalated(issue.id, place_name, why == "overdue", hours, new, old))
        await self.refresh_card(issue)
        return True

    async def auto_close(self) -> int:
        """Resolved 7 days ago and nobody answered: closed without confirmation. A reporter who
        deleted their data cannot answer, so they count as no answer."""
        now = self.clock()
        rows = (await self.session.execute(
            select(Issue).options(selectinload(Issue.photos)).where(
                Issue.status == IssueStatus.RESOLVED, Issue.resolved_at.is_not(None),
                Issue.resolved_at <= now - AUTO_CLOSE_AFTER).order_by(Issue.id).limit(TICK_BATCH))).scalars().all()
        for issue in rows:
            community = await self.community_of(issue)
            if verification_required(community, issue):
                # Nobody answered, so the check matters all the more: it waits for the office.
                await self._await_check(issue, IssueAction.EXPIRE, None, CloseHow.UNCONFIRMED)
            else:
                self._close_out(issue, CloseHow.UNCONFIRMED, None)
                issue.closed_at = now
                issue.closed_without_confirmation = True
                await self._set_status(issue, IssueAction.EXPIRE, IssueStatus.CLOSED, None, public=False)
            await self.refresh_card(issue)
        return len(rows)

    async def run_due(self) -> dict[str, int]:
        return {"reminders": await self.send_reminders(), "escalations": await self.escalate_due(),
                "closed": await self.auto_close()}
