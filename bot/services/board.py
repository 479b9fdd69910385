"""The public board (公示栏): what residents may see of their building's issues — open ones with status and
deadline, and those fixed lately with before/after photos — and the weekly post to the residents' chats
(每周一通报). Rules only: which issues, which chats, when; the words are in bot/notices/board.py and the
/board screens in handlers/board.py.

Never who: a board item carries no reporter, follower, assignee or anyone's name, only what a passer-by
could see on the spot (category, place note, status, dates, photos). Private matters (私事, triage
"residents") are settled between neighbours and are left off the board altogether.

Community settings (``community.settings["board"]``):

    weekly: true              # the Monday post to each building's residents' chat (每周一通报)
    weekly_time: "mon 09:00"  # community time; posted then or at the next tick outside quiet hours
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.jobs import JobContext, job
from bot.services.base import events_for
from bot.services.consultations import ConsultationsService
from bot.services.events import Event
from bot.services.surveys import running_coverage
from models import (
    Building,
    ChatLink,
    Community,
    Consultation,
    Issue,
    IssueFollower,
    IssuePhoto,
    IssueStatus,
    JobLease,
    Role,
)

FIXED_DAYS = 30  # how far back /board shows fixed issues
PER_PAGE = 6
WEEKLY_DEFAULT = (0, time(9, 0))  # Monday 09:00
# The weekly post waits for the day; a post that could not go at its time (the bot was down) still goes
# later in the same week, but never at night: 21:00–08:00 community time are quiet for group chats.
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)
LAST_WEEKDAY = 2  # ...and not after Wednesday: by then "this week" would mislead
WEEKLY_ALBUMS = 5  # before/after albums per post, within a group's ~20 messages a minute
# Left off the board: mistakes and private matters, not fixes.
NOT_A_FIX = ("merged", "rejected", "withdrawn")
FIXED_STATUSES = (IssueStatus.RESOLVED, IssueStatus.VERIFYING, IssueStatus.CLOSED)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class BoardItem:
    id: int
    hashtag: str
    category: str
    place_note: str
    description: str
    status: str
    urgent: bool
    deadline_at: datetime | None
    overdue: bool
    resolved_at: datetime | None
    before: list[str] = field(default_factory=list)  # photo file ids
    after: list[str] = field(default_factory=list)

    @property
    def fixed(self) -> bool:
        return self.status in FIXED_STATUSES


@dataclass(frozen=True)
class BoardPage:
    building_id: int
    building: str
    items: list[BoardItem]
    page: int
    pages: int
    open_total: int
    fixed_total: int


@dataclass(frozen=True)
class Ask:
    """A question residents are being asked in the building: a consultation (🗳) or a survey (📋)."""

    kind: str  # "consultation" | "survey"
    title: str
    answered: int
    households: int
    pct: float
    needed: int | None = None  # a survey's target


@dataclass(frozen=True)
class BoardWeekly(Event):
    """This week's post to one residents' chat (每周一通报), with something to say."""

    community_id: int
    building: str
    chat_id: int
    week: str
    fixed: tuple[BoardItem, ...]
    opened: tuple[BoardItem, ...]
    asks: tuple[Ask, ...]


def board_settings(community: Community) -> dict[str, Any]:
    raw = (community.settings or {}).get("board")
    return raw if isinstance(raw, dict) else {}


def weekly_schedule(community: Community) -> tuple[int, time] | None:
    """(weekday, time) of the weekly post, or None when the community switched it off."""
    conf = board_settings(community)
    if conf.get("weekly") is False:
        return None
    raw = str(conf.get("weekly_time") or "").strip().lower().split()
    weekday, at = WEEKLY_DEFAULT
    for part in raw:
        if part[:3] in WEEKDAYS:
            weekday = WEEKDAYS.index(part[:3])
        elif ":" in part:
            hh, _sep, mm = part.partition(":")
            if hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60:
                at = time(int(hh), int(mm))
    return weekday, at


def week_key(day: date) -> str:
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def weekly_due(community: Community, now: datetime) -> str | None:
    """The week (e.g. "2026-W48") whose post is due now in this community, or None."""
    schedule = weekly_schedule(community)
    if schedule is None:
        return None
    weekday, at = schedule
    local = now.astimezone(ZoneInfo(community.timezone))
    if local.weekday() < weekday or local.weekday() > max(weekday, LAST_WEEKDAY):
        return None
    if local.weekday() == weekday and local.time() < at:
        return None
    if local.time() >= QUIET_FROM or local.time() < QUIET_UNTIL:
        return None
    return week_key(local.date())


class BoardService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def buildings_of(self, member_id: int) -> list[Building]:
        """The buildings a person belongs to (any role held there), for their board."""
        ids = select(Role.building_id).where(Role.member_id == member_id, Role.building_id.is_not(None))
        return list((await self.session.execute(
            select(Building).where(Building.id.in_(ids)).order_by(Building.id))).scalars())

    async def building(self, building_id: int) -> Building:
        found = await self.session.get(Building, building_id)
        if found is None:
            raise LookupError("building")
        return found

    async def community_of(self, building: Building) -> Community:
        community = await self.session.get(Community, building.community_id)
        assert community is not None
        return community

    def _visible(self, building_id: int) -> Any:
        return and_(Issue.building_id == building_id,
                    or_(Issue.triage.is_(None), Issue.triage != "residents"))

    async def _items(self, rows: list[Issue]) -> list[BoardItem]:
        photos: dict[int, tuple[list[str], list[str]]] = {i.id: ([], []) for i in rows}
        if rows:
            for p in (await self.session.execute(select(IssuePhoto).where(
                    IssuePhoto.issue_id.in_(list(photos))).order_by(IssuePhoto.position, IssuePhoto.id))).scalars():
                photos[p.issue_id][1 if p.kind == "after" else 0].append(p.file_id)
        return [BoardItem(i.id, i.hashtag, i.category, i.place_note or "", i.description or "", i.status,
                          i.urgent, i.deadline_at, i.overdue, i.resolved_at, *photos[i.id]) for i in rows]

    async def open_issues(self, building_id: int) -> list[BoardItem]:
        rows = list((await self.session.execute(select(Issue).where(
            self._visible(building_id), Issue.status.in_(IssueStatus.OPEN))
            .order_by(Issue.deadline_at.is_(None), Issue.deadline_at, Issue.id))).scalars())
        return await self._items(rows)

    async def fixed_since(self, building_id: int, since: datetime) -> list[BoardItem]:
        rows = list((await self.session.execute(select(Issue).where(
            self._visible(building_id), Issue.status.in_(FIXED_STATUSES), Issue.resolved_at >= since,
            or_(Issue.close_how.is_(None), Issue.close_how.not_in(NOT_A_FIX)))
            .order_by(Issue.resolved_at.desc(), Issue.id.desc()))).scalars())
        return await self._items(rows)

    async def page(self, building: Building, page: int = 0, per_page: int = PER_PAGE) -> BoardPage:
        """Open issues (soonest deadline first), then those fixed in the last 30 days (newest first)."""
        opened = await self.open_issues(building.id)
        fixed = await self.fixed_since(building.id, self.clock() - timedelta(days=FIXED_DAYS))
        everything = opened + fixed
        pages = max(1, math.ceil(len(everything) / per_page))
        page = min(max(0, page), pages - 1)
        return BoardPage(building.id, building.name, everything[page * per_page:(page + 1) * per_page], page, pages,
                         len(opened), len(fixed))

    async def item(self, building_id: int, issue_id: int) -> BoardItem | None:
        """One issue as the board shows it, only if the board of that building shows it."""
        for it in await self.fixed_since(building_id, self.clock() - timedelta(days=FIXED_DAYS)):
            if it.id == issue_id:
                return it
        return next((it for it in await self.open_issues(building_id) if it.id == issue_id), None)

    async def mine(self, member_id: int, issue_ids: list[int]) -> set[int]:
        """Of these issues, those the person reported or follows (no 🔔 for them); says nothing about
        anyone else."""
        if not issue_ids:
            return set()
        reported = set((await self.session.execute(select(Issue.id).where(
            Issue.id.in_(issue_ids), Issue.reporter_id == member_id))).scalars())
        followed = set((await self.session.execute(select(IssueFollower.issue_id).where(
            IssueFollower.issue_id.in_(issue_ids), IssueFollower.member_id == member_id))).scalars())
        return reported | followed

    # --- the weekly post ------------------------------------------------------------------------------

    async def weekly_targets(self, community: Community) -> list[tuple[Building, int]]:
        """(building, residents' chat) pairs of the community."""
        rows = (await self.session.execute(
            select(Building, ChatLink.chat_id).join(ChatLink, and_(
                ChatLink.place_kind == "building", ChatLink.place_id == Building.id, ChatLink.kind == "residents"))
            .where(Building.community_id == community.id).order_by(Building.id, ChatLink.chat_id))).all()
        return [(b, int(chat)) for b, chat in rows]

    async def week_done(self, chat_id: int, week: str) -> bool:
        """Whether this week's post to a chat was dealt with (sent, or nothing to say). One row per chat in
        job_leases (name "board_week:<chat>", holder = the last week done) survives restarts and does not
        grow week by week."""
        holder = (await self.session.execute(select(JobLease.holder).where(
            JobLease.name == f"board_week:{chat_id}"))).scalar_one_or_none()
        return holder == week

    async def mark_week(self, chat_id: int, week: str) -> None:
        name = f"board_week:{chat_id}"
        now = self.clock()
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        ins: Any = postgresql.insert(JobLease) if dialect == "postgresql" else sqlite.insert(JobLease)
        await self.session.execute(ins.values(name=name, holder=week, until=now)
                                   .on_conflict_do_nothing(index_elements=["name"]))
        await self.session.execute(update(JobLease).where(JobLease.name == name).values(holder=week, until=now))


    async def post_weekly(self, community: Community, week: str) -> int:
        """This week's post to every residents' chat of the community that has not had it (recorded as
        BoardWeekly; bot/notices/board.py words it). Returns how many chats got it. The outbox keys carry the
        chat and the week, so a second tick, a restart or a second instance adds nothing; the week done per
        chat is recorded too, so a quiet week is looked at once."""
        consultations = ConsultationsService(self.session, self.clock)
        events = events_for(self.session, self.clock)
        now = self.clock()
        running = list((await self.session.execute(select(Consultation).where(
            Consultation.community_id == community.id, Consultation.status == "open")
            .order_by(Consultation.id))).scalars())
        posted = 0
        for building, chat in await self.weekly_targets(community):
            if await self.week_done(chat, week):
                continue
            await self.mark_week(chat, week)
            fixed = await self.fixed_since(building.id, now - timedelta(days=7))
            opened = await self.open_issues(building.id)
            surveys = await running_coverage(self.session, building.id)
            asking = [c for c in running if building.id in c.building_ids]
            if not (fixed or opened or surveys or asking):
                continue  # nothing to say this week: no post (a quiet chat is not told so every Monday)
            asks = []
            for c in asking:
                tally = await consultations.tally(c.id)
                asks.append(Ask("consultation", c.question, tally.answered, tally.households, tally.coverage_pct))
            for sv, p in surveys:
                asks.append(Ask("survey", sv.title, p.responses, p.households, p.coverage, p.needed))
            await events.record(BoardWeekly(community.id, building.name, chat, week, tuple(fixed), tuple(opened),
                                            tuple(asks)))
            posted += 1
        return posted


@job("board_weekly")
async def board_weekly(session: AsyncSession, ctx: JobContext) -> None:
    board = BoardService(session, ctx.clock)
    for community in (await session.execute(select(Community))).scalars():
        week = weekly_due(community, ctx.clock())
        if week is not None:
            await board.post_weekly(community, week)
