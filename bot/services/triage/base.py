"""What every part of triage stands on: loading an issue (callback data is untrusted: by id, locked when
it changes), the actor's rights at its place, the timeline (IssueEvent) and status changes through the
lifecycle table, followers, deadlines, close-out fields, and the refresh of the card."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Self
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.clock import Clock
from bot.services.access import Actor, NotAllowed, Place, can, require
from bot.services.base import CommunityService
from bot.services.cards import CardService
from bot.services.chats import ChatsService
from bot.services.lifecycle import IssueAction, transition
from bot.services.members import MembersService
from bot.services.outbox import Outbox
from models import Area, Building, Community, Issue, IssueEvent, IssueFollower, Member


async def followers_of(session: AsyncSession, issue: Issue) -> list[Member]:
    """The reporter first, then followers; each once."""
    people: list[Member] = []
    if issue.reporter_id is not None:
        reporter = await session.get(Member, issue.reporter_id)
        if reporter is not None:
            people.append(reporter)
    rows = (await session.execute(
        select(Member).join(IssueFollower, IssueFollower.member_id == Member.id)
        .where(IssueFollower.issue_id == issue.id).order_by(IssueFollower.id))).scalars()
    seen = {m.id for m in people}
    for m in rows:
        if m.id not in seen:
            seen.add(m.id)
            people.append(m)
    return people


def place_of(issue: Issue) -> Place:
    return Place(issue.community_id, issue.area_id, issue.building_id)


async def team_chat(chats: ChatsService, issue: Issue, level: int) -> int | None:
    """The team chat of a level of the grid (0 the building, 1 the area, 2 the office) for this issue:
    the card's own chat at building level when it is a group, else the linked chat, if any."""
    place = place_of(issue)
    if level <= 0:
        return issue.card_chat_id if issue.card_chat_id is not None and issue.card_chat_id < 0 else \
            await chats.chat_for(place, "team") if place.building_id else None
    if level == 1:
        return await chats.chat_for(Place(place.community_id, place.area_id), "team") if place.area_id else None
    return await chats.office_chat(place.community_id)


class TriageBase(CommunityService):
    def __init__(self, session: AsyncSession, clock: Clock, members: MembersService, chats: ChatsService,
                 outbox: Outbox, cards: CardService) -> None:
        super().__init__(session, clock, members, chats, outbox)
        self.cards = cards

    @classmethod
    def standalone(cls, session: AsyncSession, clock: Clock, members: MembersService | None = None) -> Self:
        """For hooks and jobs without the update's container: the service on its own helpers."""
        members = members or MembersService(session, clock)
        chats = ChatsService(session, clock, members)
        outbox = Outbox(session, clock)
        return cls(session, clock, members, chats, outbox, CardService(session, clock, members, chats, outbox))

    # ------------------------------------------------------------------ loading and rights

    async def get(self, issue_id: int, *, lock: bool = False) -> Issue:
        stmt = select(Issue).options(selectinload(Issue.photos)).where(Issue.id == issue_id)
        if lock:
            # PostgreSQL: a row lock serialises presses on one issue; SQLite already holds the write
            # lock (BEGIN IMMEDIATE), so with_for_update is a no-op there.
            stmt = stmt.with_for_update()
        issue = (await self.session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()
        if issue is None:
            raise LookupError("issue")
        return issue

    async def by_reference(self, community_id: int, text: str) -> Issue | None:
        """Find an issue of a community by "#NC0041", "nc41" or "41"."""
        m = re.fullmatch(r"#?\s*([A-Za-z]{0,4})\s*0*(\d{1,9})", text.strip())
        if not m:
            return None
        community = await self.session.get(Community, community_id)
        if community is None or (m[1] and m[1].upper() != community.code.upper()):
            return None
        return (await self.session.execute(
            select(Issue).options(selectinload(Issue.photos))
            .where(Issue.community_id == community_id, Issue.number == int(m[2])))).scalar_one_or_none()

    @staticmethod
    @staticmethod
    def place_of(issue: Issue) -> Place:
        return place_of(issue)

    async def community_of(self, issue: Issue) -> Community:
        community = await self.session.get(Community, issue.community_id)
        assert community is not None
        return community

    async def place_name(self, issue: Issue) -> str:
        if issue.building_id is not None:
            b = await self.session.get(Building, issue.building_id)
            if b is not None:
                return b.name
        if issue.area_id is not None:
            a = await self.session.get(Area, issue.area_id)
            if a is not None:
                return a.name
        return (await self.community_of(issue)).name

    def _require(self, actor: Actor, action: str, issue: Issue, *, assignee_ok: bool = False) -> None:
        # The person an issue is assigned to (a volunteer, say) may work on it even without the
        # captain's role: the assignment is the office's decision to trust them with it — but only while
        # they still hold a role in the issue's community (the assignment is cleared when they lose the
        # last one; this check covers the moment in between and any assignment left over).
        if assignee_ok and issue.assignee_id is not None and issue.assignee_id == actor.member_id \
                and actor.in_community(issue.community_id):
            return
        require(actor, action, self.place_of(issue))

    def can(self, actor: Actor, action: str, issue: Issue) -> bool:
        return can(actor, action, self.place_of(issue))

    # ------------------------------------------------------------------ events and notifications

    async def _event(self, issue: Issue, kind: str, actor_id: int | None, *, from_status: str | None = None,
                     to_status: str | None = None, note: str | None = None, public: bool = True) -> IssueEvent:
        event = IssueEvent(issue_id=issue.id, actor_id=actor_id, at=self.clock(), kind=kind,
                           from_status=from_status, to_status=to_status, note=note, public=public)
        self.session.add(event)
        issue.updated_at = self.clock()
        await self.session.flush()
        return event

    async def _set_status(self, issue: Issue, action: IssueAction, status: str, actor_id: int | None, *,
                          kind: str = "status", note: str | None = None, public: bool = True) -> IssueEvent:
        old = transition(issue, action, status)
        return await self._event(issue, kind, actor_id, from_status=old, to_status=status, note=note,
                                 public=public)


    async def followers(self, issue: Issue) -> list[Member]:
        """The reporter first, then followers; each once."""
        return await followers_of(self.session, issue)

    async def refresh_card(self, issue: Issue) -> None:
        """Edit the card in place (last write wins, coalesced by the cards capability)."""
        await self.cards.refresh(issue)

    async def _responsible(self, issue: Issue, level: int | None = None) -> list[Member]:
        return await self.members.responsible(self.place_of(issue), issue.escalation_level if level is None
                                              else level)

    async def _set_deadline(self, issue: Issue, deadline: datetime, actor_id: int | None, *,
                            public: bool = True) -> IssueEvent:
        old = issue.deadline_at
        issue.deadline_at = deadline
        if old is not None and old > deadline:
            pass  # an earlier deadline is allowed: urgency changed
        community = await self.community_of(issue)
        return await self._event(issue, "deadline", actor_id, public=public,
                                 note=deadline.astimezone(ZoneInfo(community.timezone)).strftime("%Y-%m-%d %H:%M"))


    async def _add_followers(self, issue: Issue, member_ids: Sequence[int]) -> None:
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        for mid in member_ids:
            if mid == issue.reporter_id:
                continue
            ins: Any = postgresql.insert(IssueFollower) if dialect == "postgresql" else sqlite.insert(IssueFollower)
            await self.session.execute(ins.values(issue_id=issue.id, member_id=mid, created_at=self.clock())
                                       .on_conflict_do_nothing(index_elements=["issue_id", "member_id"]))

    def _close_out(self, issue: Issue, how: str, by: int | None) -> None:
        """Who closed it, how and when: kept on the issue for the ledger (the timeline has the rest)."""
        issue.closed_at = self.clock()
        issue.closed_by_id = by
        issue.close_how = how

    async def _is_follower(self, issue: Issue, member: Member) -> bool:
        if issue.reporter_id == member.id:
            return True
        return (await self.session.execute(select(IssueFollower.id).where(
            IssueFollower.issue_id == issue.id, IssueFollower.member_id == member.id))).first() is not None

    async def check(self, actor: Actor, issue_id: int, action: str = "triage", *,
                    assignee_ok: bool = False) -> Issue:
        """Load an issue and check a right, before showing a sub-menu or starting a private step."""
        issue = await self.get(issue_id)
        self._require(actor, action, issue, assignee_ok=assignee_ok)
        return issue

    async def can_reopen(self, member: Member, issue_id: int) -> Issue:
        issue = await self.get(issue_id)
        if not await self._is_follower(issue, member):
            raise NotAllowed("reopen")
        return issue

    async def _cancel_reminders(self, issue: Issue) -> None:
        await self.outbox.cancel(f"issue_remind:{issue.id}:")
