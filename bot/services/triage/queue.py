"""/queue: the open issues in an actor's scope (captain: buildings, area head: areas, staff: communities),
filtered and paged; and the private view of one issue for someone who works on it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from bot.services.access import Actor, Level, NotAllowed
from bot.services.cards import DetailView, PrivateViewInGroup
from bot.services.lifecycle import WORKABLE
from bot.services.triage.conversation import TriageConversation
from bot.services.triage.rules import QUEUE_PAGE, QUEUE_STATUSES, QueuePage
from models import Issue, IssueStatus


class TriageQueue(TriageConversation):
    def _scope(self, actor: Actor) -> Any:
        """SQL condition: the issues an actor may work on (captain: buildings, area head: areas,
        staff: communities). Admins see everything."""
        if actor.is_admin:
            return True
        conds = []
        staff = [g.community_id for g in actor.grants if g.role == "staff"]
        areas = [g.area_id for g in actor.grants if g.role == "area_head" and g.area_id is not None]
        buildings = [g.building_id for g in actor.grants if g.role == "captain" and g.building_id is not None]
        if staff:
            conds.append(Issue.community_id.in_(staff))
        if areas:
            conds.append(Issue.area_id.in_(areas))
        if buildings:
            conds.append(Issue.building_id.in_(buildings))
        if not conds:
            return None
        return or_(*conds)

    async def queue(self, actor: Actor, *, status: str = "open", category: str = "", page: int = 0,
                    campaign: int = 0) -> QueuePage:
        """Open issues in the actor's scope, newest first; status: open | new | work | resolved | overdue;
        `campaign`: only the issues of that campaign (专项整治)."""
        if actor.top_level < Level.CAPTAIN:
            raise NotAllowed("queue", None, Level.CAPTAIN)
        scope = self._scope(actor)
        if scope is None:
            raise NotAllowed("queue", None, Level.CAPTAIN)
        now = self.clock()
        base: list[ColumnElement[bool]] = [Issue.status.in_(QUEUE_STATUSES)]
        if scope is not True:
            base.append(scope)
        if campaign:
            # Imported here: campaigns registers its job when imported, and the jobs' order is the order
            # they were registered in (bot/jobs.py).
            from bot.services.campaigns import in_campaign

            base.append(in_campaign(campaign))
        conds = list(base)
        if status == "new":
            conds.append(Issue.status == IssueStatus.NEW)
        elif status == "work":
            conds.append(Issue.status.in_((IssueStatus.ACCEPTED, IssueStatus.IN_PROGRESS, IssueStatus.REOPENED,
                                           IssueStatus.REFERRED)))
        elif status == "resolved":
            conds.append(Issue.status == IssueStatus.RESOLVED)
        elif status == "verify":
            conds.append(Issue.status == IssueStatus.VERIFYING)
        elif status == "overdue":
            conds.append(Issue.status.in_(WORKABLE))
            # A missed deadline keeps it here after escalation or a captain gave it a new one.
            conds.append(or_(Issue.overdue.is_(True), Issue.missed_deadline_at.is_not(None),
                             and_(Issue.deadline_at.is_not(None), Issue.deadline_at < now)))
        else:
            conds.append(Issue.status.in_(WORKABLE))
        if category:
            conds.append(Issue.category == category)
        total = int((await self.session.execute(select(func.count(Issue.id)).where(*conds))).scalar_one())
        pages = max(1, -(-total // QUEUE_PAGE))
        page = min(max(page, 0), pages - 1)
        rows = (await self.session.execute(
            select(Issue).where(*conds).order_by(Issue.urgent.desc(), Issue.created_at.desc(), Issue.id.desc())
            .offset(page * QUEUE_PAGE).limit(QUEUE_PAGE))).scalars().all()
        cats = (await self.session.execute(
            select(Issue.category).where(*base).group_by(Issue.category).order_by(Issue.category))).scalars().all()
        return QueuePage(list(rows), page, pages, total, list(cats)[:12])

    async def view(self, actor: Actor, issue_id: int, *, private: bool) -> DetailView:
        """The issue as someone who works on it sees it in private: the card's details and timeline
        (the reporter's name and internal notes included, since captains and staff may see them).
        Never for a group: `private=False` raises PrivateViewInGroup, whatever the actor's rights."""
        if not private:
            raise PrivateViewInGroup(issue_id)
        issue = await self.get(issue_id)
        self._require(actor, "triage", issue, assignee_ok=True)
        return await self.cards.detail(issue, self.can(actor, "view_reporter", issue), private=True)

