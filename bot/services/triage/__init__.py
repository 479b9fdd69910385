"""Triage and lifecycle of an issue after it was reported: accept (claim-and-lock), assign, deadline,
reject (or merge as a duplicate), resolve with an "after" photo, 三事分流, notes, questions to the
reporter, the reporter's confirmation, rating and reopening; and the scheduled side: deadline
reminders, escalation up the grid (building → area head → office) and auto-close.

Every action re-loads the issue by id (callback data is untrusted), checks the actor's rights at the
issue's place, asks the lifecycle table (bot/services/lifecycle.py) whether the status allows it, is
idempotent (a second press returns `changed=False`), records an IssueEvent and a domain event
(events.py) that bot/notices/triage.py words for each recipient in their language.

Close-out (验收销号): when the reporter confirms a fix (or the window passes) an issue that requires
the office's check — `community.settings["verification"]`: "default" (urgent categories, illegal
construction, anything with the office), "all", "none", or a list of category keys — waits in
VERIFYING until staff or an area head verify it (optionally with an on-site photo and a note) or do not
accept it (back to whoever fixed it, with a new deadline). Every close-out records who, how
(models.CloseHow) and when.

Escalation rules are per community: `community.settings["escalation"]` may set
`accept_hours` (24), `urgent_accept_hours` (2) and `level_days` (7); see ESCALATION_DEFAULTS.

The seams: rules.py (settings, dates, results), base.py (loading, rights, timeline), actions.py (the
card's actions), closeout.py (验收销号, spot checks), conversation.py (the reporter's side), queue.py
(/queue, the private view), escalation.py (reminders, escalation, auto-close).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.clock import Clock
from bot.jobs import JobContext, job
from bot.services.cards import assigned_note
from bot.services.lifecycle import WORKABLE
from bot.services.tenure import Erased, on_erased, on_roles_ended
from bot.services.triage.base import followers_of, place_of, team_chat
from bot.services.triage.escalation import TriageEscalation
from bot.services.triage.rules import (
    AUTO_CLOSE_AFTER,
    DEADLINE_HOUR,
    ESCALATION_DEFAULTS,
    MAX_NOTE,
    QUEUE_PAGE,
    QUEUE_STATUSES,
    REJECT_REASONS,
    REMIND_HOUR,
    TOP_LEVEL,
    TRIAGE_KINDS,
    InvalidInput,
    Outcome,
    QueuePage,
    category_days,
    deadline_after_days,
    end_of_day,
    escalation_settings,
    parse_date,
    triage_settings,
    verification_required,
)
from models import Issue, IssueEvent, IssueStatus, Member, Role


class TriageService(TriageEscalation):
    """The whole of triage (the seams are mixed in: escalation ⊃ queue ⊃ conversation ⊃ close-out ⊃
    actions ⊃ base)."""


@on_roles_ended("triage")
async def _unassign_without_role(session: AsyncSession, clock: Clock, member: Member) -> None:
    """Open issues assigned to someone who holds no role in their community any more go back."""
    rows = list((await session.execute(select(Issue).options(selectinload(Issue.photos)).where(
        Issue.assignee_id == member.id, Issue.status.in_(IssueStatus.OPEN)))).scalars())
    if not rows:
        return
    kept = set() if member.data_deleted_at is not None else set((await session.execute(
        select(Role.community_id).where(Role.member_id == member.id))).scalars())
    service = TriageService.standalone(session, clock)
    for issue in rows:
        if issue.community_id not in kept:
            await service.unassign_former(issue, member)


@on_erased("triage")
async def _erase_from_issues(session: AsyncSession, clock: Clock, member: Member, erased: Erased) -> None:
    """Timelines written before notes named people by id carry the assignee's name: replace it with the
    id form. And a card sent to the person's private chat is no longer theirs to see edited."""
    if erased.name and erased.community_ids:
        await session.execute(update(IssueEvent).where(
            IssueEvent.kind == "assigned", IssueEvent.note == erased.name,
            IssueEvent.issue_id.in_(select(Issue.id).where(Issue.community_id.in_(erased.community_ids))))
            .values(note=assigned_note(member.id)))
    await session.execute(update(Issue).where(Issue.card_chat_id == erased.telegram_id).values(
        card_chat_id=None, card_message_id=None))


@job("issue_deadlines")
async def issue_deadlines(session: AsyncSession, ctx: JobContext) -> None:
    """Reminders, escalations and auto-close, every tick; outbox keys make a double tick harmless."""
    from bot.services import build_services  # the container imports every service, this one included

    service: TriageService = build_services(session, ctx.clock, ctx.settings).triage
    await service.run_due()


__all__ = [
    "AUTO_CLOSE_AFTER",
    "DEADLINE_HOUR",
    "ESCALATION_DEFAULTS",
    "MAX_NOTE",
    "QUEUE_PAGE",
    "QUEUE_STATUSES",
    "REJECT_REASONS",
    "REMIND_HOUR",
    "TOP_LEVEL",
    "TRIAGE_KINDS",
    "WORKABLE",
    "InvalidInput",
    "Outcome",
    "QueuePage",
    "TriageService",
    "category_days",
    "deadline_after_days",
    "end_of_day",
    "escalation_settings",
    "followers_of",
    "parse_date",
    "place_of",
    "team_chat",
    "triage_settings",
    "verification_required",
]
