"""Triage and lifecycle of an issue after it was reported: accept (claim-and-lock), assign, deadline,
reject (or merge as a duplicate), resolve with an "after" photo, 三事分流, notes, questions to the
reporter, the reporter's confirmation, rating and reopening; and the scheduled side: deadline
reminders, escalation up the grid (building → area head → office) and auto-close.

Every action re-loads the issue by id (callback data is untrusted), checks the actor's rights at the
issue's place, is idempotent (a second press returns `changed=False`), records an IssueEvent and
enqueues what people must hear through the outbox, in each recipient's language.

Close-out (验收销号): when the reporter confirms a fix (or the window passes) an issue that requires
the office's check — `community.settings["verification"]`: "default" (urgent categories, illegal
construction, anything with the office), "all", "none", or a list of category keys — waits in
VERIFYING until staff or an area head verify it (optionally with an on-site photo and a note) or do not
accept it (back to whoever fixed it, with a new deadline). Every close-out records who, how
(models.CloseHow) and when.

Escalation rules are per community: `community.settings["escalation"]` may set
`accept_hours` (24), `urgent_accept_hours` (2) and `level_days` (7); see ESCALATION_DEFAULTS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.clock import Clock, system_clock
from bot.i18n import _, current_locale, use_locale
from bot.jobs import JobContext, job
from bot.rendering import esc, shorten
from bot.services.access import Actor, Level, NotAllowed, Place, can, require
from bot.services.base import CommunityService
from bot.services.cards import PrivateViewInGroup, assigned_note, status_label
from bot.services.cards import fmt_when as when_text
from bot.services.chats import ChatsService
from bot.services.lifecycle import WORKABLE, IssueAction, allows, transition
from bot.services.limits import ANSWERS, enforce_daily
from bot.services.members import MembersService
from bot.services.outbox import Outbox
from bot.services.tenure import Erased, on_erased, on_roles_ended
from models import (
    Area,
    Building,
    CloseHow,
    Community,
    Issue,
    IssueEvent,
    IssueFollower,
    IssuePhoto,
    IssueStatus,
    Member,
    Role,
)

ESCALATION_DEFAULTS: dict[str, float] = {"accept_hours": 24, "urgent_accept_hours": 2, "level_days": 7}
# Deadlines fall at the end of a working day, local time; reminders go out in the morning.
DEADLINE_HOUR = 18
REMIND_HOUR = 8
AUTO_CLOSE_AFTER = timedelta(days=7)
TOP_LEVEL = 2  # 0 building captains, 1 area head, 2 office staff
REJECT_REASONS = ("not_a_problem", "not_ours", "duplicate")
TRIAGE_KINDS = ("office", "joint", "residents")
MAX_NOTE = 1000
QUEUE_PAGE = 5
# A resolved issue still waits for the reporter, and a verifying one for the office: both stay in the queue.
QUEUE_STATUSES = (*WORKABLE, *IssueStatus.AWAITING)
VERIFY_DEFAULT = "default"
# The construction category (违章搭建) always needs a look on site under the default rule.
VERIFY_CATEGORIES = ("construction",)


class InvalidInput(ValueError):
    """Input a person typed that cannot be used; `reason` picks the one-line explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Outcome:
    issue: Issue
    changed: bool
    # For duplicates: the original the followers were merged into.
    other: Issue | None = None


@dataclass
class QueuePage:
    issues: list[Issue]
    page: int
    pages: int
    total: int
    categories: list[str] = field(default_factory=list)


def verification_required(community: Community, issue: Issue) -> bool:
    """Whether a confirmed fix waits for the office's check before it is closed out (see module doc)."""
    raw = (community.settings or {}).get("verification", VERIFY_DEFAULT)
    if raw == "none":
        return False
    if raw == "all":
        return True
    if isinstance(raw, list):
        return issue.category in {str(k) for k in raw}
    cat = _category(community, issue.category)
    return bool(issue.urgent or (cat is not None and getattr(cat, "urgent", False))
                or issue.category in VERIFY_CATEGORIES or issue.assigned_to_office
                or issue.escalation_level >= TOP_LEVEL or issue.triage == "office")


def close_how_label(how: str | None) -> str:
    labels = {
        CloseHow.VERIFIED: _("verified on site"),
        CloseHow.CONFIRMED: _("confirmed by the reporter"),
        CloseHow.UNCONFIRMED: _("closed without confirmation"),
        CloseHow.MERGED: _("closed by merge"),
        CloseHow.REJECTED: _("closed by rejection"),
        CloseHow.WITHDRAWN: _("withdrawn by the reporter"),
        CloseHow.SETTLED: _("settled between the neighbours"),
        CloseHow.SETTLED_BY_PARTIES: _("settled by both sides"),
    }
    return labels.get(how or "", "")


TRIAGE_DEFAULTS: dict[str, Any] = {"captains_decide": False, "office_days": 3}


def triage_settings(community: Community) -> dict[str, Any]:
    """`community.settings["triage"]`: captains_decide (bool), office_days (the office's deadline)."""
    raw = (community.settings or {}).get("triage") or {}
    out = dict(TRIAGE_DEFAULTS)
    if isinstance(raw, dict):
        if isinstance(raw.get("captains_decide"), bool):
            out["captains_decide"] = raw["captains_decide"]
        days = raw.get("office_days")
        if isinstance(days, int) and not isinstance(days, bool) and 0 <= days <= 60:
            out["office_days"] = days
    return out


def escalation_settings(community: Community) -> dict[str, float]:
    raw = (community.settings or {}).get("escalation") or {}
    out = dict(ESCALATION_DEFAULTS)
    for key in out:
        value = raw.get(key) if isinstance(raw, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            out[key] = float(value)
    return out


def end_of_day(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(DEADLINE_HOUR), tzinfo=ZoneInfo(tz)).astimezone(UTC)


# Work per tick is bounded so that a backlog never loads the whole ledger; the rest waits a tick.
TICK_BATCH = 2000


def deadline_after_days(now: datetime, days: int, tz: str) -> datetime:
    """`days` working days from now, at the end of that local day (+0 d means today 18:00)."""
    local = now.astimezone(ZoneInfo(tz))
    return end_of_day(local.date() + timedelta(days=days), tz)


def parse_date(text: str, now: datetime, tz: str) -> date:
    """A date typed by a person: 2026-11-25, 2026/11/25, 11-25, 25.11, 25.11.2026, 11月25日."""
    s = text.strip().replace("年", "-").replace("月", "-").replace("日", "").replace("号", "")
    today = now.astimezone(ZoneInfo(tz)).date()
    m = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", s)
    try:
        if m:
            d = date(int(m[1]), int(m[2]), int(m[3]))
        elif m := re.fullmatch(r"(\d{1,2})[-/](\d{1,2})", s):
            d = date(today.year, int(m[1]), int(m[2]))
            if d < today:
                d = date(today.year + 1, d.month, d.day)
        elif m := re.fullmatch(r"(\d{1,2})\.(\d{1,2})(?:\.(\d{4}))?", s):
            d = date(int(m[3]) if m[3] else today.year, int(m[2]), int(m[1]))
            if not m[3] and d < today:
                d = date(today.year + 1, d.month, d.day)
        else:
            raise InvalidInput("date_format")
    except ValueError as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput("date_format") from None
    if d < today:
        raise InvalidInput("date_past")
    if d > today + timedelta(days=366):
        raise InvalidInput("date_far")
    return d


def _category(community: Community | None, key: str) -> Any:
    try:
        from bot.services.reporting import category  # the reporting capability owns the list
    except ImportError:
        return None
    return category(community, key)


def category_label(community: Community | None, key: str) -> str:
    """The category's emoji and name in the current locale."""
    cat = _category(community, key)
    return cat.button() if cat is not None else key


def category_days(community: Community | None, key: str) -> int:
    cat = _category(community, key)
    return int(cat.deadline_days) if cat is not None else 3


def reason_label(reason: str | None) -> str:
    labels = {
        "not_a_problem": _("not a problem"),
        "not_ours": _("not our responsibility"),
        "duplicate": _("duplicate"),
    }
    return labels.get(reason or "", reason or "")


def triage_label(kind: str | None) -> str:
    labels = {
        "office": _("office handles it (big matter)"),
        "joint": _("neighbours and captains together (small matter)"),
        "residents": _("residents settle it themselves (private matter)"),
    }
    return labels.get(kind or "", "—")


def level_label(level: int) -> str:
    return {0: _("building captains"), 1: _("area head"), 2: _("community office")}.get(level, "?")


class TriageService(CommunityService):
    def __init__(self, session: AsyncSession, clock: Clock = system_clock,
                 members: MembersService | None = None, chats: ChatsService | None = None,
                 outbox: Outbox | None = None, cards: Any = None) -> None:
        super().__init__(session, clock, members, chats, outbox)
        self._cards = cards

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
    def place_of(issue: Issue) -> Place:
        return Place(issue.community_id, issue.area_id, issue.building_id)

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
        people: list[Member] = []
        if issue.reporter_id is not None:
            reporter = await self.session.get(Member, issue.reporter_id)
            if reporter is not None:
                people.append(reporter)
        rows = (await self.session.execute(
            select(Member).join(IssueFollower, IssueFollower.member_id == Member.id)
            .where(IssueFollower.issue_id == issue.id).order_by(IssueFollower.id))).scalars()
        seen = {m.id for m in people}
        for m in rows:
            if m.id not in seen:
                seen.add(m.id)
                people.append(m)
        return people

    async def _tell_followers(self, issue: Issue, event: IssueEvent, text: Callable[[], str], *,
                              skip: int | None = None, buttons: Callable[[Member], Any] | None = None) -> int:
        """A public change: a short message to the reporter and followers, each in their language,
        through the outbox (quiet hours respected unless the issue is urgent)."""
        community = await self.community_of(issue)
        sent = 0
        for person in await self.followers(issue):
            if person.id == skip:
                continue
            with use_locale(self.members.locale_for(person, community)):
                body = text()
                rows = buttons(person) if buttons is not None else None
            if await self.outbox.notify(person, key=f"issue_update:{issue.id}:{event.id}:{person.id}",
                                        kind="issue_update", text=body, urgent=issue.urgent, buttons=rows,
                                        community_id=issue.community_id, tz=community.timezone):
                sent += 1
        return sent

    async def headline(self, issue: Issue, community: Community | None = None) -> str:
        """"#NC0042 🚒 Blocked fire lane" in the current locale (HTML-safe)."""
        community = community or await self.community_of(issue)
        return f"{issue.hashtag} {esc(category_label(community, issue.category))}"

    async def refresh_card(self, issue: Issue) -> None:
        """Edit the card in place (last write wins, coalesced by the cards capability)."""
        cards = self._cards
        if cards is None:  # a slice without the cards capability: nothing to edit
            return
        await cards.refresh(issue)

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

    # ------------------------------------------------------------------ card actions

    async def accept(self, actor: Actor, issue_id: int) -> Outcome:
        """Claim-and-lock: the first press records who handles it; later presses change nothing."""
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "triage", issue)
        if not allows(IssueAction.ACCEPT, issue):
            return Outcome(issue, False)
        community = await self.community_of(issue)
        now = self.clock()
        issue.accepted_by_id, issue.accepted_at = actor.member_id, now
        event = await self._set_status(issue, IssueAction.ACCEPT, IssueStatus.ACCEPTED, actor.member_id)
        if issue.deadline_at is None:
            await self._set_deadline(issue, deadline_after_days(now, category_days(community, issue.category),
                                                                community.timezone), actor.member_id)
        place = await self.place_name(issue)

        def text() -> str:
            line = _("{headline} — accepted by the {place} team.").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}", place=esc(place))
            if issue.deadline_at is not None:
                line += " " + _("Deadline: {when}.").format(when=when_text(issue.deadline_at, community.timezone,
                                                                           self.clock()))
            return line + "\n" + _("I'll tell you when it is fixed.")

        await self._tell_followers(issue, event, text)
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def assignees(self, actor: Actor, issue_id: int) -> list[Member]:
        """Who the issue can be given to: the building's captains, the area head, the volunteers."""
        issue = await self.get(issue_id)
        self._require(actor, "triage", issue)
        place = self.place_of(issue)
        people: dict[int, Member] = {}
        if place.building_id is not None:
            for m in await self.members.holders("captain", place):
                people.setdefault(m.id, m)
        if place.area_id is not None:
            for m in await self.members.holders("area_head", Place(place.community_id, place.area_id)):
                people.setdefault(m.id, m)
        for m in await self.members.holders("volunteer", Place(place.community_id)):
            people.setdefault(m.id, m)
        return [m for m in people.values() if m.data_deleted_at is None][:12]

    async def assign(self, actor: Actor, issue_id: int, member_id: int | None) -> Outcome:
        """Give the issue to a person (member_id) or to the office (None)."""
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "triage", issue)
        if not allows(IssueAction.ASSIGN, issue):
            return Outcome(issue, False)
        target: Member | None = None
        if member_id is not None:
            allowed = {m.id for m in await self.assignees(actor, issue_id)}
            if member_id not in allowed:
                raise LookupError("assignee")
            target = await self.session.get(Member, member_id)
            if target is None:
                raise LookupError("member")
            if issue.assignee_id == member_id and issue.status == IssueStatus.IN_PROGRESS:
                return Outcome(issue, False)
        elif issue.assigned_to_office and issue.status == IssueStatus.IN_PROGRESS:
            return Outcome(issue, False)
        community = await self.community_of(issue)
        now = self.clock()
        if issue.accepted_at is None:
            issue.accepted_at, issue.accepted_by_id = now, actor.member_id
        issue.assignee_id = target.id if target else None
        issue.assigned_to_office = target is None
        # The member's id, not their name: a name written into the timeline would outlive /deletedata.
        who_note = assigned_note(target.id) if target else "office"
        event = await self._set_status(issue, IssueAction.ASSIGN, IssueStatus.IN_PROGRESS, actor.member_id,
                                       kind="assigned",
                                       note=who_note)
        if issue.deadline_at is None:
            await self._set_deadline(issue, deadline_after_days(now, category_days(community, issue.category),
                                                                community.timezone), actor.member_id)
        place = await self.place_name(issue)

        def text() -> str:
            whom = _("the community office") if target is None else _("a member of the {place} team").format(
                place=esc(place))
            line = _("{headline} — work has been assigned to {whom}.").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}", whom=whom)
            if issue.deadline_at is not None:
                line += " " + _("Deadline: {when}.").format(when=when_text(issue.deadline_at, community.timezone,
                                                                           self.clock()))
            return line

        await self._tell_followers(issue, event, text)
        recipients = [target] if target is not None else await self.members.responsible(self.place_of(issue),
                                                                                        TOP_LEVEL)
        for person in recipients:
            if person.id == actor.member_id:
                continue
            await self._tell_worker(issue, person, f"issue_assigned:{issue.id}:{event.id}:{person.id}",
                                    lambda: _("👤 {headline} ({place}) was assigned to you.").format(
                                        headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}",
                                        place=esc(place)))
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def unassign_former(self, issue: Issue, former: Member) -> bool:
        """The assignee lost their last role in the issue's community (or erased their data): the
        issue goes back to the captains (or whoever answers for its place now), who are told."""
        if issue.assignee_id != former.id or not allows(IssueAction.UNASSIGN, issue):
            return False
        issue.assignee_id = None
        if issue.status == IssueStatus.IN_PROGRESS:
            event = await self._set_status(issue, IssueAction.UNASSIGN, IssueStatus.ACCEPTED, None, kind="unassigned",
                                           note=assigned_note(former.id), public=False)
        else:
            event = await self._event(issue, "unassigned", None, note=assigned_note(former.id), public=False)
        community = await self.community_of(issue)
        place = await self.place_name(issue)
        for person in await self.members.responsible(self.place_of(issue), 0):
            if person.id == former.id:
                continue
            await self._tell_worker(issue, person, f"issue_unassigned:{issue.id}:{event.id}:{person.id}",
                                    lambda: _("👤 {headline} ({place}) is back with you: the person it was "
                                              "assigned to no longer has a role in the community. Please "
                                              "assign it again or take it on.").format(
                                        headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}",
                                        place=esc(place)))
        await self.refresh_card(issue)
        return True

    async def _tell_worker(self, issue: Issue, person: Member, key: str, text: Callable[[], str],
                           kind: str = "issue_work") -> bool:
        """A private message to someone who works on the issue, with the card's buttons."""
        from bot.keyboards.issues import triage_buttons

        community = await self.community_of(issue)
        with use_locale(self.members.locale_for(person, community)):
            body = text()
            if issue.deadline_at is not None and issue.is_open:
                body += "\n" + _("Deadline: {when}.").format(
                    when=when_text(issue.deadline_at, community.timezone, self.clock()))
            body += "\n" + esc(shorten(issue.description or "", 300)) if issue.description else ""
            rows = triage_buttons(issue)
        return await self.outbox.notify(person, key=key, kind=kind, text=body, buttons=rows, urgent=issue.urgent,
                                        community_id=issue.community_id, tz=community.timezone)

    async def set_deadline(self, actor: Actor, issue_id: int, deadline: datetime) -> Outcome:
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "triage", issue)
        if not allows(IssueAction.DEADLINE, issue):
            return Outcome(issue, False)
        if deadline <= self.clock():
            raise InvalidInput("date_past")
        if issue.deadline_at is not None and abs((issue.deadline_at - deadline).total_seconds()) < 60:
            return Outcome(issue, False)
        community = await self.community_of(issue)
        event = await self._set_deadline(issue, deadline, actor.member_id)
        issue.overdue = False

        def text() -> str:
            return _("{headline} — new deadline: {when}.").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}",
                when=when_text(deadline, community.timezone, self.clock()))

        await self._tell_followers(issue, event, text)
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def deadline_in(self, actor: Actor, issue_id: int, days: int) -> Outcome:
        issue = await self.get(issue_id)
        community = await self.community_of(issue)
        return await self.set_deadline(actor, issue_id, deadline_after_days(self.clock(), days, community.timezone))

    async def deadline_on(self, actor: Actor, issue_id: int, text: str) -> Outcome:
        issue = await self.get(issue_id)
        self._require(actor, "triage", issue)
        community = await self.community_of(issue)
        day = parse_date(text, self.clock(), community.timezone)
        deadline = end_of_day(day, community.timezone)
        if deadline <= self.clock():
            # Today after 18:00: the end of today has passed, so midnight is the last moment.
            deadline = datetime.combine(day, time(23, 59), tzinfo=ZoneInfo(community.timezone)).astimezone(UTC)
        return await self.set_deadline(actor, issue_id, deadline)

    async def reject(self, actor: Actor, issue_id: int, reason: str) -> Outcome:
        if reason not in REJECT_REASONS or reason == "duplicate":
            raise ValueError(reason)
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "triage", issue)
        if not allows(IssueAction.REJECT, issue):
            return Outcome(issue, False)
        community = await self.community_of(issue)
        issue.reject_reason = reason
        self._close_out(issue, CloseHow.REJECTED, actor.member_id)
        event = await self._set_status(issue, IssueAction.REJECT, IssueStatus.REJECTED, actor.member_id)
        await self._cancel_reminders(issue)

        def text() -> str:
            return _("{headline} — closed without action: {reason}. If you think this is a mistake, "
                     "please talk to your building captain.").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}",
                reason=reason_label(reason))

        await self._tell_followers(issue, event, text)
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def mark_duplicate(self, actor: Actor, issue_id: int, reference: str) -> Outcome:
        """Reject as a duplicate of another issue of the same community: its reporter and followers
        become followers of the original (the root, if the original is itself a duplicate)."""
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "triage", issue)
        if not allows(IssueAction.DUPLICATE, issue):
            return Outcome(issue, False)
        original = await self.by_reference(issue.community_id, reference)
        hops = 0
        while original is not None and original.duplicate_of_id is not None and hops < 10:
            original = await self.get(original.duplicate_of_id)
            hops += 1
        if original is None:
            raise InvalidInput("reference_unknown")
        if original.id == issue.id:
            raise InvalidInput("reference_self")
        community = await self.community_of(issue)
        issue.duplicate_of_id = original.id
        issue.reject_reason = "duplicate"
        self._close_out(issue, CloseHow.MERGED, actor.member_id)
        event = await self._set_status(issue, IssueAction.DUPLICATE, IssueStatus.DUPLICATE, actor.member_id,
                                       note=original.reference)
        await self._cancel_reminders(issue)
        people = await self.followers(issue)
        await self._add_followers(original, [m.id for m in people])
        await self._event(original, "merged", actor.member_id, note=issue.reference, public=False)

        def text() -> str:
            return _("{headline} is the same problem as {original}: you now follow {original}, and I'll "
                     "keep you posted there.").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}",
                original=original.hashtag)

        await self._tell_followers(issue, event, text)
        await self.refresh_card(issue)
        return Outcome(issue, True, other=original)

    async def _add_followers(self, issue: Issue, member_ids: Sequence[int]) -> None:
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        for mid in member_ids:
            if mid == issue.reporter_id:
                continue
            ins: Any = postgresql.insert(IssueFollower) if dialect == "postgresql" else sqlite.insert(IssueFollower)
            await self.session.execute(ins.values(issue_id=issue.id, member_id=mid, created_at=self.clock())
                                       .on_conflict_do_nothing(index_elements=["issue_id", "member_id"]))

    async def resolve(self, actor: Actor, issue_id: int, photos: Sequence[str], note: str | None = None) -> Outcome:
        """Mark fixed with "after" photos (at least one) and an optional note; the reporter and
        followers get before → after and are asked whether it is really fixed."""
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "triage", issue, assignee_ok=True)
        if not allows(IssueAction.RESOLVE, issue):
            return Outcome(issue, False)
        if not photos:
            raise InvalidInput("photo_needed")
        note = (note or "").strip() or None
        if note is not None and len(note) > MAX_NOTE:
            raise InvalidInput("too_long")
        now = self.clock()
        start = max((p.position for p in issue.photos), default=-1) + 1
        for i, file_id in enumerate(list(photos)[:10]):
            issue.photos.append(IssuePhoto(file_id=file_id, kind="after", position=start + i))
        if issue.accepted_at is None:
            issue.accepted_at, issue.accepted_by_id = now, actor.member_id
        issue.resolved_at = now
        issue.overdue = False
        event = await self._set_status(issue, IssueAction.RESOLVE, IssueStatus.RESOLVED, actor.member_id, note=note)
        await self._cancel_reminders(issue)
        await self._send_resolution(issue, event, note)
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def _send_resolution(self, issue: Issue, event: IssueEvent, note: str | None) -> None:
        from bot.keyboards.issues import confirm_buttons

        community = await self.community_of(issue)
        before = [p.file_id for p in issue.photos if p.kind == "before"]
        after = [p.file_id for p in issue.photos if p.kind == "after"]
        # Albums hold at most 10: the first before photos, then the after ones.
        media = (before[: max(1, 10 - len(after))] + after)[:10]
        for person in await self.followers(issue):
            is_reporter = person.id == issue.reporter_id
            with use_locale(self.members.locale_for(person, community)):
                head = _("✅ {headline} is marked fixed.").format(
                    headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}")
                caption = head + "\n" + (_("Before → after:") if before else _("After:"))
                if note:
                    caption += "\n" + _("Note from the team: {note}").format(note=esc(shorten(note, 600)))
                question = head + "\n" + (_("Is it really fixed?") if is_reporter else _(
                    "If it is not fixed, tell us."))
                rows = confirm_buttons(issue.id, reporter=is_reporter)
            base = f"issue_resolved:{issue.id}:{event.id}:{person.id}"
            await self.outbox.notify(person, key=f"{base}:photos", kind="issue_resolved", text=caption,
                                     photos=media, urgent=issue.urgent, community_id=issue.community_id,
                                     tz=community.timezone)
            await self.outbox.notify(person, key=f"{base}:ask", kind="issue_confirm", text=question,
                                     buttons=rows, urgent=issue.urgent, community_id=issue.community_id,
                                     tz=community.timezone)

    async def set_triage(self, actor: Actor, issue_id: int, kind: str) -> Outcome:
        """三事分流. Staff decide (or confirm a captain's proposal); a captain proposes, and staff hear
        it in the office chat — unless `settings.triage.captains_decide` lets captains decide alone.
        `Outcome.changed` with `issue.triage_proposed == kind` means "proposed, not decided"."""
        if kind not in TRIAGE_KINDS:
            raise ValueError(kind)
        issue = await self.get(issue_id, lock=True)
        community = await self.community_of(issue)
        decides = self.can(actor, "set_triage", issue) or (
            triage_settings(community)["captains_decide"] and self.can(actor, "triage", issue))
        if not decides:
            self._require(actor, "triage", issue)  # captains of its building (and above) may propose
            if not allows(IssueAction.PROPOSE, issue) or issue.triage_proposed == kind or issue.triage is not None:
                return Outcome(issue, False)
            issue.triage_proposed = kind
            event = await self._event(issue, "triage_proposed", actor.member_id, note=kind, public=False)
            await self._post_to_team(issue, f"issue_way_proposed:{issue.id}:{event.id}", lambda: _(
                "🏷 {headline}: a captain proposes it as {way}. Confirm or change it with 🏷 Triage.").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}",
                way=triage_label(kind)), level=TOP_LEVEL)
            await self.refresh_card(issue)
            return Outcome(issue, True)
        if not allows(IssueAction.TRIAGE, issue):
            return Outcome(issue, False)
        if issue.triage == kind:
            if issue.triage_proposed is not None:
                issue.triage_proposed = None
                await self.refresh_card(issue)
            return Outcome(issue, False)
        old = issue.triage
        issue.triage, issue.triage_proposed = kind, None
        await self._event(issue, "triage", actor.member_id, note=f"{old or '-'} → {kind}", public=False)
        if issue.status in WORKABLE:
            await self._route(issue, community, actor)
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def _route(self, issue: Issue, community: Community, actor: Actor) -> None:
        """What the way changes: an office matter goes to the office at once with the office's deadline
        (skipping the building and area levels); a private matter comes back to the building and never
        leaves it; a joint matter stays with the captains."""
        now = self.clock()
        if issue.triage == "office":
            issue.assigned_to_office = True
            issue.escalation_level = TOP_LEVEL
            days = triage_settings(community)["office_days"]
            await self._set_deadline(issue, deadline_after_days(now, days, community.timezone), actor.member_id,
                                     public=False)
            await self._post_to_team(issue, f"issue_way_office:{issue.id}:{int(now.timestamp())}", lambda: _(
                "🏛 {headline} is an office matter: the community office handles it now.").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}"), level=TOP_LEVEL)
        elif issue.triage == "residents":
            issue.assigned_to_office = False
            issue.escalation_level = 0

    async def settle(self, actor: Actor, issue_id: int) -> Outcome:
        """🤝 Settled: a private matter the captain (having put the sides in touch) says is settled."""
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "triage", issue)
        if not allows(IssueAction.SETTLE, issue):
            return Outcome(issue, False)
        community = await self.community_of(issue)
        self._close_out(issue, CloseHow.SETTLED, actor.member_id)
        event = await self._set_status(issue, IssueAction.SETTLE, IssueStatus.CLOSED, actor.member_id, kind="settled")
        await self._cancel_reminders(issue)

        head = f"{issue.hashtag} {esc(category_label(community, issue.category))}"

        def text() -> str:
            return _("🤝 {headline} is settled between the neighbours, says the building captain. Thank you for "
                     "reporting it!").format(headline=head)

        await self._tell_followers(issue, event, text)
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def add_note(self, actor: Actor, issue_id: int, text: str, *, public: bool) -> Outcome:
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "triage", issue, assignee_ok=True)
        text = text.strip()
        if not text:
            raise InvalidInput("empty")
        if len(text) > MAX_NOTE:
            raise InvalidInput("too_long")
        event = await self._event(issue, "note", actor.member_id, note=text, public=public)
        if public:
            community = await self.community_of(issue)

            def body() -> str:
                return _("📢 {headline} — update from the team:\n{note}").format(
                    headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}", note=esc(text))

            await self._tell_followers(issue, event, body)
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def ask(self, actor: Actor, issue_id: int, question: str) -> Outcome:
        """Relay a question to the reporter; the team never learns who the reporter is."""
        from bot.keyboards.issues import cb

        issue = await self.get(issue_id)
        self._require(actor, "triage", issue, assignee_ok=True)
        question = question.strip()
        if not question:
            raise InvalidInput("empty")
        if len(question) > MAX_NOTE:
            raise InvalidInput("too_long")
        reporter = await self.session.get(Member, issue.reporter_id) if issue.reporter_id else None
        if reporter is None or reporter.data_deleted_at is not None:
            raise InvalidInput("no_reporter")
        event = await self._event(issue, "asked", actor.member_id, note=question, public=False)
        community = await self.community_of(issue)
        with use_locale(self.members.locale_for(reporter, community)):
            text = _("❓ A question about your report {headline} from the team handling it:\n{question}").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}", question=esc(question))
            rows = [[(_("✍️ Answer"), cb("answer", issue.id, str(event.id)))]]
        await self.outbox.notify(reporter, key=f"issue_question:{issue.id}:{event.id}", kind="issue_question",
                                 text=text, buttons=rows, urgent=issue.urgent, community_id=issue.community_id,
                                 tz=community.timezone)
        return Outcome(issue, True)

    async def open_question(self, member: Member, issue_id: int, question_id: int) -> IssueEvent:
        """The question (an "asked" event of this issue, named by the ✍️ Answer button) that the
        reporter may answer now. Callback data is untrusted: NotAllowed for anyone but the reporter,
        InvalidInput("no_question") for an id that is not a question of this issue,
        InvalidInput("answered") once it has its answer, DailyLimitReached past the day's cap."""
        issue = await self.get(issue_id)
        if issue.reporter_id != member.id:
            raise NotAllowed("answer")
        question = await self.session.get(IssueEvent, question_id) if question_id > 0 else None
        if question is None or question.issue_id != issue.id or question.kind != "asked":
            raise InvalidInput("no_question")
        answered = (await self.session.execute(select(IssueEvent.id).where(
            IssueEvent.answer_to_id == question.id))).first()
        if answered is not None:
            raise InvalidInput("answered")
        community = await self.community_of(issue)
        await enforce_daily(self.session, community, ANSWERS, self.clock(), lambda since: (
            select(func.count()).select_from(IssueEvent).where(
                IssueEvent.issue_id == issue.id, IssueEvent.kind == "answered",
                IssueEvent.actor_id == member.id, IssueEvent.at >= since)))
        return question

    async def answer(self, member: Member, issue_id: int, text: str, question_id: int) -> Outcome:
        """The reporter's answer to one open question goes to the card's thread as a reply to the
        card, without their name. Each question is answered once (see open_question)."""
        # Locked: two answers to one question at once (two workers) are serialised (PostgreSQL; SQLite
        # holds the write lock), and the unique answer_to_id is the last guard.
        issue = await self.get(issue_id, lock=True)
        question = await self.open_question(member, issue.id, question_id)
        text = text.strip()
        if not text:
            raise InvalidInput("empty")
        if len(text) > MAX_NOTE:
            raise InvalidInput("too_long")
        event = await self._event(issue, "answered", member.id, note=text, public=False)
        event.answer_to_id = question.id
        await self.session.flush()
        community = await self.community_of(issue)
        with use_locale(community.locale):
            body = _("💬 The reporter answers about {headline}:\n{answer}").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}", answer=esc(text))
        if issue.card_chat_id is not None:
            await self.outbox.enqueue(key=f"issue_answer:{issue.id}:{event.id}", kind="issue_answer",
                                      chat_id=issue.card_chat_id, text=body, reply_to=issue.card_message_id,
                                      community_id=issue.community_id)
            return Outcome(issue, True)
        # No card chat: the people who asked get it privately.
        askers = (await self.session.execute(select(IssueEvent.actor_id).where(
            IssueEvent.issue_id == issue.id, IssueEvent.kind == "asked"))).scalars()
        for asker_id in set(a for a in askers if a is not None):
            asker = await self.session.get(Member, asker_id)
            if asker is not None:
                with use_locale(self.members.locale_for(asker, community)):
                    body = _("💬 The reporter answers about {headline}:\n{answer}").format(
                        headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}",
                        answer=esc(text))
                await self.outbox.notify(asker, key=f"issue_answer:{issue.id}:{event.id}:{asker.id}",
                                         kind="issue_answer", text=body, community_id=issue.community_id,
                                         tz=community.timezone)
        return Outcome(issue, True)

    # ------------------------------------------------------------------ the reporter's side

    async def _is_follower(self, issue: Issue, member: Member) -> bool:
        if issue.reporter_id == member.id:
            return True
        return (await self.session.execute(select(IssueFollower.id).where(
            IssueFollower.issue_id == issue.id, IssueFollower.member_id == member.id))).first() is not None

    async def confirm(self, member: Member, issue_id: int) -> Outcome:
        """👍 Fixed, thank you: closed out (销号), or waiting for the office's check when it needs one."""
        issue = await self.get(issue_id, lock=True)
        if issue.reporter_id != member.id:
            raise NotAllowed("confirm")
        if not allows(IssueAction.CONFIRM, issue):
            return Outcome(issue, False)
        community = await self.community_of(issue)
        if verification_required(community, issue):
            await self._await_check(issue, IssueAction.CONFIRM, member.id, CloseHow.CONFIRMED)
        else:
            self._close_out(issue, CloseHow.CONFIRMED, member.id)
            await self._set_status(issue, IssueAction.CONFIRM, IssueStatus.CLOSED, member.id)
        await self.refresh_card(issue)
        return Outcome(issue, True)

    # ------------------------------------------------------------------ close-out (验收销号)

    def _close_out(self, issue: Issue, how: str, by: int | None) -> None:
        """Who closed it, how and when: kept on the issue for the ledger (the timeline has the rest)."""
        issue.closed_at = self.clock()
        issue.closed_by_id = by
        issue.close_how = how

    async def _verifier_level(self, issue: Issue) -> int:
        """Who checks a fix: the office for its own work, else the area head (the office without one)."""
        if issue.assigned_to_office or issue.escalation_level >= TOP_LEVEL or issue.area_id is None:
            return TOP_LEVEL
        heads = await self.members.holders("area_head", Place(issue.community_id, issue.area_id))
        return 1 if heads else TOP_LEVEL

    async def _await_check(self, issue: Issue, action: IssueAction, actor_id: int | None, pending: str) -> None:
        """The fix is confirmed (`pending` says how); now the office or area head must check it."""
        community = await self.community_of(issue)
        issue.verify_requested_at = self.clock()
        event = await self._set_status(issue, action, IssueStatus.VERIFYING, actor_id, public=False)
        place = await self.place_name(issue)
        await self._post_to_team(issue, f"issue_verify:{issue.id}:{event.id}", lambda: _(
            "🔍 {headline} ({place}) is fixed ({how}) and waits for your check before it is closed out.").format(
            headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}", place=esc(place),
            how=close_how_label(pending)), level=await self._verifier_level(issue))

    async def verify(self, actor: Actor, issue_id: int, photo: str | None = None, note: str | None = None
                     ) -> Outcome:
        """✅ Verify and close: checked (on site), closed out by this person. A photo taken on site and a
        note are kept on the timeline. A closed issue may be re-checked too (抽查): that records the
        outcome without closing it again."""
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "verify", issue)
        note = (note or "").strip() or None
        if note is not None and len(note) > MAX_NOTE:
            raise InvalidInput("too_long")
        if issue.status == IssueStatus.CLOSED and await self._spot_check_open(issue):
            if photo:
                self._add_check_photo(issue, photo)
            await self._event(issue, "spot_checked", actor.member_id, note=note, public=False)
            return Outcome(issue, True)
        if not allows(IssueAction.VERIFY, issue) or issue.status != IssueStatus.VERIFYING:
            return Outcome(issue, False)
        community = await self.community_of(issue)
        if photo:
            self._add_check_photo(issue, photo)
        self._close_out(issue, CloseHow.VERIFIED, actor.member_id)
        event = await self._set_status(issue, IssueAction.VERIFY, IssueStatus.CLOSED, actor.member_id, kind="verified",
                                       note=note)

        def text() -> str:
            return _("🎉 {headline} was checked on site and is now closed out. Thank you for reporting it!").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}")

        await self._tell_followers(issue, event, text)
        await self.refresh_card(issue)
        return Outcome(issue, True)

    def _add_check_photo(self, issue: Issue, file_id: str) -> None:
        start = max((p.position for p in issue.photos), default=-1) + 1
        issue.photos.append(IssuePhoto(file_id=file_id, kind="check", position=start))

    async def _fixer(self, issue: Issue) -> Member | None:
        """Whoever marked it fixed last (the work goes back to them when the check fails)."""
        actor_id = (await self.session.execute(
            select(IssueEvent.actor_id).where(IssueEvent.issue_id == issue.id,
                                              IssueEvent.to_status == IssueStatus.RESOLVED)
            .order_by(IssueEvent.id.desc()).limit(1))).scalar_one_or_none()
        return await self.session.get(Member, actor_id) if actor_id else None

    async def not_accepted(self, actor: Actor, issue_id: int, reason: str) -> Outcome:
        """❌ Not accepted (驳回整改): back to whoever fixed it, with a new deadline and the reason; the
        reporter is told it is still being worked on. Also the failed outcome of a spot check."""
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "verify", issue)
        reason = reason.strip()
        if not reason:
            raise InvalidInput("empty")
        if len(reason) > MAX_NOTE:
            raise InvalidInput("too_long")
        spot = issue.status == IssueStatus.CLOSED and await self._spot_check_open(issue)
        if not allows(IssueAction.NOT_ACCEPTED, issue) or (issue.status != IssueStatus.VERIFYING and not spot):
            return Outcome(issue, False)
        community = await self.community_of(issue)
        now = self.clock()
        fixer = await self._fixer(issue)
        issue.resolved_at = None
        issue.closed_at = issue.closed_by_id = issue.close_how = None
        issue.verify_requested_at = None
        event = await self._set_status(issue, IssueAction.NOT_ACCEPTED, IssueStatus.REOPENED, actor.member_id,
                                       kind="not_accepted",
                                       note=reason, public=False)
        if fixer is not None and fixer.id != actor.member_id and fixer.data_deleted_at is None \
                and issue.assignee_id != fixer.id:
            issue.assignee_id = fixer.id
            await self._event(issue, "assigned", actor.member_id, note=assigned_note(fixer.id), public=False)
        await self._set_deadline(issue, deadline_after_days(now, category_days(community, issue.category),
                                                            community.timezone), actor.member_id, public=False)
        head = f"{issue.hashtag} {esc(category_label(community, issue.category))}"

        def team() -> str:
            return _("❌ {headline} was not accepted at the check: {reason}\nPlease fix it again by {when}.").format(
                headline=head, reason=esc(reason),
                when=when_text(issue.deadline_at, community.timezone, self.clock()))

        if fixer is not None and fixer.id != actor.member_id:
            await self._tell_worker(issue, fixer, f"issue_notacc:{issue.id}:{event.id}:{fixer.id}", team,
                                    kind="issue_team")
        await self._post_to_team(issue, f"issue_notacc:{issue.id}:{event.id}", team, level=0)

        def residents() -> str:
            return _("🔧 {headline} is still being worked on: the check found more to do. I'll tell you when "
                     "it is done.").format(headline=head)

        await self._tell_followers(issue, event, residents)
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def _spot_check_open(self, issue: Issue) -> bool:
        """A closed issue the office picked for a spot check (抽查) whose outcome is not recorded yet."""
        picked = (await self.session.execute(select(func.max(IssueEvent.id)).where(
            IssueEvent.issue_id == issue.id, IssueEvent.kind == "spot_check"))).scalar_one_or_none()
        if picked is None:
            return False
        done = (await self.session.execute(select(IssueEvent.id).where(
            IssueEvent.issue_id == issue.id, IssueEvent.id > picked,
            IssueEvent.kind.in_(("spot_checked", "not_accepted"))).limit(1))).first()
        return done is None

    async def spot_check(self, actor: Actor, community_id: int, n: int) -> list[Issue]:
        """抽查: N random issues of the community closed out in the last 7 days (fixed work, not
        rejections), picked for a re-check. Each pick is on the issue's timeline; the outcome is recorded
        with verify / not_accepted. Staff only (the whole community)."""
        require(actor, "verify", Place(community_id))
        n = max(1, min(int(n), 20))
        since = self.clock() - timedelta(days=7)
        rows = list((await self.session.execute(
            select(Issue).options(selectinload(Issue.photos)).where(
                Issue.community_id == community_id, Issue.status == IssueStatus.CLOSED,
                Issue.closed_at >= since, Issue.close_how.in_((*CloseHow.WITHOUT_VERIFICATION, CloseHow.VERIFIED)))
            .order_by(func.random()).limit(n))).scalars())
        for issue in rows:
            if not await self._spot_check_open(issue):
                await self._event(issue, "spot_check", actor.member_id, public=False)
        return rows

    async def rate(self, member: Member, issue_id: int, score: int) -> Outcome:
        issue = await self.get(issue_id, lock=True)
        if issue.reporter_id != member.id:
            raise NotAllowed("rate")
        if not 1 <= score <= 5:
            raise ValueError(score)
        if issue.satisfaction is not None or not allows(IssueAction.RATE, issue):
            return Outcome(issue, False)
        issue.satisfaction = score
        await self._event(issue, "rated", member.id, note=str(score), public=False)
        await self.refresh_card(issue)
        return Outcome(issue, True)

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

    async def reopen(self, member: Member, issue_id: int, comment: str) -> Outcome:
        """👎 Not fixed: reopened with the comment; the card goes back to the team chat."""
        issue = await self.get(issue_id, lock=True)
        if not await self._is_follower(issue, member):
            raise NotAllowed("reopen")
        comment = comment.strip()
        if not comment:
            raise InvalidInput("empty")
        if len(comment) > MAX_NOTE:
            raise InvalidInput("too_long")
        if not allows(IssueAction.REOPEN, issue):
            return Outcome(issue, False)
        community = await self.community_of(issue)
        issue.reopen_count += 1
        issue.resolved_at = None
        now = self.clock()
        event = await self._set_status(issue, IssueAction.REOPEN, IssueStatus.REOPENED, member.id, note=comment)
        if issue.deadline_at is None or issue.deadline_at <= now:
            await self._set_deadline(issue, deadline_after_days(now, category_days(community, issue.category),
                                                                community.timezone), None, public=False)

        def text() -> str:
            return _("🔁 {headline} was reopened: it is not fixed yet. The team has been told.").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}")

        await self._tell_followers(issue, event, text, skip=member.id)
        await self._post_to_team(issue, f"issue_reopened:{issue.id}:{event.id}", lambda: _(
            "🔁 {headline} is not fixed, says a resident — reopened ({count}×):\n{comment}").format(
            headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}",
            count=issue.reopen_count, comment=esc(comment)))
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def _post_to_team(self, issue: Issue, key: str, text: Callable[[], str], level: int | None = None) -> None:
        """A message with the card's buttons to the team chat of the level now responsible (replying
        to the card when it is there), or privately to the responsible people when no chat is linked."""
        from bot.keyboards.issues import triage_buttons

        community = await self.community_of(issue)
        level = issue.escalation_level if level is None else level
        place = self.place_of(issue)
        chat: int | None
        if level <= 0:
            chat = issue.card_chat_id if issue.card_chat_id is not None and issue.card_chat_id < 0 else \
                await self.chats.chat_for(place, "team") if place.building_id else None
        elif level == 1:
            chat = await self.chats.chat_for(Place(place.community_id, place.area_id), "team") \
                if place.area_id else None
        else:
            chat = await self.chats.office_chat(place.community_id)
        if chat is not None:
            with use_locale(community.locale):
                body, rows = text(), triage_buttons(issue)
            reply = issue.card_message_id if chat == issue.card_chat_id else None
            await self.outbox.enqueue(key=f"{key}:chat", kind="issue_team", chat_id=chat, text=body, buttons=rows,
                                      reply_to=reply, urgent=True, community_id=issue.community_id)
            return
        for person in await self._responsible(issue, level):
            await self._tell_worker(issue, person, f"{key}:{person.id}", text, kind="issue_team")

    # ------------------------------------------------------------------ queue

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
        base = [Issue.status.in_(QUEUE_STATUSES)]
        if scope is not True:
            base.append(scope)
        if campaign:
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

    async def view(self, actor: Actor, issue_id: int, locale: str | None = None, *, private: bool) -> str:
        """The issue as someone who works on it sees it in private: the card's details and timeline
        (the reporter's name and internal notes included, since captains and staff may see them).
        Never for a group: `private=False` raises PrivateViewInGroup, whatever the actor's rights."""
        if not private:
            raise PrivateViewInGroup(issue_id)
        issue = await self.get(issue_id)
        self._require(actor, "triage", issue, assignee_ok=True)
        if self._cards is None:
            raise LookupError("cards")
        return str(await self._cards.detail_text(issue, locale or current_locale(),
                                                 self.can(actor, "view_reporter", issue), private=True))

    # ------------------------------------------------------------------ scheduled work

    async def _cancel_reminders(self, issue: Issue) -> None:
        await self.outbox.cancel(f"issue_remind:{issue.id}:")

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
            stamp = int(deadline.timestamp())
            text = _reminder_text(issue, community, kind, deadline.astimezone(tz).strftime("%H:%M"))
            for person in await self._workers(issue):
                if await self._tell_worker(issue, person, f"issue_remind:{issue.id}:{kind}:{stamp}:{person.id}",
                                           text, kind="issue_reminder"):
                    sent += 1
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
            if why != "overdue" or issue.deadline_at is None:
                return False
            key = f"issue_referral_late:{issue.id}:{int(issue.deadline_at.timestamp())}"
            await self._post_to_team(issue, key, lambda: _(
                "⚠️ {headline} ({place}) was referred to a department, and its deadline passed {when}. Please "
                "chase the department or record its outcome.").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}",
                place=esc(place_name), when=when_text(issue.deadline_at, community.timezone, now)), level=TOP_LEVEL)
            return False
        if issue.triage == "residents":
            # A private matter (私事) never leaves the building: its captains hear once per missed deadline.
            if why != "overdue" or issue.deadline_at is None:
                return False
            key = f"issue_overdue_private:{issue.id}:{int(issue.deadline_at.timestamp())}"
            await self._post_to_team(issue, key, lambda: _(
                "⚠️ {headline} ({place}) is overdue since {when}. It is a private matter, so it stays with the "
                "building: help the neighbours settle it, then press 🤝 Settled.").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}",
                place=esc(place_name), when=when_text(issue.deadline_at, community.timezone, now)), level=0)
            return False
        if issue.escalation_level >= TOP_LEVEL or (why == "overdue" and issue.assigned_to_office):
            # Nobody above the office: tell the office once per missed deadline.
            if why != "overdue" or issue.deadline_at is None:
                return False
            stamp = int(issue.deadline_at.timestamp())
            key = f"issue_overdue_top:{issue.id}:{stamp}"
            await self._post_to_team(issue, key, lambda: _(
                "⚠️ {headline} ({place}) is overdue since {when}, and it is with the office already.").format(
                headline=f"{issue.hashtag} {esc(category_label(community, issue.category))}",
                place=esc(place_name), when=when_text(issue.deadline_at, community.timezone, now)), level=TOP_LEVEL)
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

        def text() -> str:
            head = f"{issue.hashtag} {esc(category_label(community, issue.category))}"
            if why == "overdue":
                cause = _("its deadline passed")
            else:
                cause = _("nobody accepted it within {hours} h").format(hours=f"{hours:g}")
            return _("⬆️ {headline} ({place}) is escalated to the {level}: {cause}.").format(
                headline=head, place=esc(place_name), level=level_label(new), cause=cause)

        await self._post_to_team(issue, f"issue_escalated:{issue.id}:{issue.escalations}", text, level=new)
        # Private word too, so that the people now responsible cannot miss it in a busy chat.
        for person in await self._responsible(issue, new):
            await self._tell_worker(issue, person, f"issue_escalated:{issue.id}:{issue.escalations}:{person.id}",
                                    text, kind="issue_escalated")
        # The level below learns it left their hands.
        if old == 0 and issue.card_chat_id is not None and issue.card_chat_id < 0:
            with use_locale(community.locale):
                body = text()
            await self.outbox.enqueue(key=f"issue_escalated:{issue.id}:{issue.escalations}:card",
                                      kind="issue_escalated", chat_id=issue.card_chat_id, text=body,
                                      reply_to=issue.card_message_id, community_id=issue.community_id)
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


def _reminder_text(issue: Issue, community: Community, kind: str, hm: str) -> Callable[[], str]:
    """The reminder in the locale current when it is called (each recipient's own)."""

    def text() -> str:
        head = f"{issue.hashtag} {esc(category_label(community, issue.category))}"
        if kind == "day":
            return _("⏰ {headline} is due today at {time}.").format(headline=head, time=hm)
        return _("⏰ {headline} is due in one day.").format(headline=head)

    return text


@on_roles_ended("triage")
async def _unassign_without_role(session: AsyncSession, clock: Clock, member: Member) -> None:
    """Open issues assigned to someone who holds no role in their community any more go back."""
    rows = list((await session.execute(select(Issue).options(selectinload(Issue.photos)).where(
        Issue.assignee_id == member.id, Issue.status.in_(IssueStatus.OPEN)))).scalars())
    if not rows:
        return
    from bot.services.cards import CardService

    kept = set() if member.data_deleted_at is not None else set((await session.execute(
        select(Role.community_id).where(Role.member_id == member.id))).scalars())
    members = MembersService(session, clock)
    outbox = Outbox(session, clock)
    chats = ChatsService(session, clock, members)
    service = TriageService(session, clock, members, chats, outbox, CardService(session, clock, members, chats, outbox))
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
    from bot.services import build_services

    service: TriageService = build_services(session, ctx.clock, ctx.settings).triage
    await service.run_due()


__all__ = [
    "ESCALATION_DEFAULTS",
    "InvalidInput",
    "Outcome",
    "QueuePage",
    "TriageService",
    "category_label",
    "close_how_label",
    "deadline_after_days",
    "escalation_settings",
    "parse_date",
    "reason_label",
    "status_label",
    "triage_label",
    "verification_required",
    "when_text",
]
