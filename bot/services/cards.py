"""The issue card: one message per issue in the building's team chat (or the captains' private chats
when none is linked; never the residents' chat), with its photos as an album replying to it, edited in
place when the issue changes. Also the facts behind the full detail + timeline shown by the Details
button and /issue.

Rules only: who gets a card, what a card may show (CardFacts, DetailView) and that a group never gets a
private view (PrivateViewInGroup). Posting, editing and the card's words are events worded by
bot/notices/cards.py. Cards in groups never name the reporter. The card speaks the community's language;
private copies speak their recipient's.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.access import Place
from bot.services.base import CommunityService
from bot.services.events import Event
from bot.services.outbox import Outbox, on_sent
from models import (
    Building,
    Community,
    Consultation,
    Department,
    Issue,
    IssueEvent,
    IssuePhoto,
    IssueStatus,
    Member,
    OutboxItem,
)

CARD_KIND = "issue_card"
EDIT_DELAY = timedelta(seconds=3)  # coalesce rapid changes: Telegram allows ~20 edits/min per group
ASSIGNED_PREFIX = "member:"
# Events a resident causes by reporting and following up (as opposed to the team's work): who did
# them is named only to viewers who may see the reporter, never to other residents.
_RESIDENT_KINDS = frozenset({"created", "edited", "withdrawn", "reopened", "confirmed", "rated", "answered"})
_RESIDENT_STATUSES = frozenset({IssueStatus.REOPENED, IssueStatus.VERIFYING, IssueStatus.CLOSED,
                                IssueStatus.WITHDRAWN})


class PrivateViewInGroup(RuntimeError):
    """Someone tried to render names or internal notes for a chat that is not private: a bug."""


def assigned_note(member_id: int) -> str:
    """How an "assigned"/"unassigned" event names a person: by id, rendered when shown (so a person who
    erased their data shows as "a former member", and no name outlives /deletedata in the timeline)."""
    return f"{ASSIGNED_PREFIX}{member_id}"


def assigned_member(note: str) -> int | None:
    """The member id an "assigned"/"unassigned" note names, if it names one by id."""
    if note.startswith(ASSIGNED_PREFIX) and note[len(ASSIGNED_PREFIX):].isdigit():
        return int(note[len(ASSIGNED_PREFIX):])
    return None


def by_resident(event: IssueEvent) -> bool:
    """Whether a resident (reporter, second reporter, follower) caused this event."""
    return event.kind in _RESIDENT_KINDS or (event.kind == "status" and event.to_status in _RESIDENT_STATUSES)


@dataclass(frozen=True)
class PublishResult:
    """Where a new card went: team (the building's team chat), captains (privately), office, none."""

    kind: str
    place_name: str


@dataclass(frozen=True)
class CardFacts:
    """What a card and the issue's detail show, as data: the issue, its place, the photos ("before"),
    the people it may name (by member id), the department it was referred to, the joint matter's
    consultation and (for the detail) the timeline's events."""

    issue: Issue
    community: Community
    building: Building | None
    photos: list[str]
    people: dict[int, Member] = field(default_factory=dict)
    department: Department | None = None
    consultation: Consultation | None = None
    events: list[IssueEvent] = field(default_factory=list)

    @property
    def place_name(self) -> str:
        return self.building.name if self.building else self.community.name


@dataclass(frozen=True)
class DetailView:
    """The detail and timeline as one viewer may see them: the reporter's name only when they may see it,
    internal (non-public) events only when `show_internal`."""

    facts: CardFacts
    may_see_reporter: bool
    show_internal: bool

    @property
    def events(self) -> list[IssueEvent]:
        return [e for e in self.facts.events if e.public or self.show_internal]

    @property
    def reporter(self) -> Member | None:
        if not self.may_see_reporter or self.facts.issue.reporter_id is None:
            return None
        return self.facts.people.get(self.facts.issue.reporter_id)


@dataclass(frozen=True)
class CardCopy:
    """One copy of a new card: a chat (a member's private chat when `member_id`), in `locale`."""

    chat_id: int
    locale: str
    primary: bool
    member_id: int | None = None


@dataclass(frozen=True)
class CardDue(Event):
    """A new issue's card is due in these chats, in this order; `nudged` captains (member ids) get a
    private note that an urgent card is in their team chat."""

    issue_id: int
    copies: tuple[CardCopy, ...]
    nudged: tuple[int, ...] = ()


@dataclass(frozen=True)
class CardChanged(Event):
    """The issue changed: every copy of its card is brought up to date."""

    issue_id: int


@dataclass(frozen=True)
class CardCameBack(Event):
    """A rebound reopened the issue: a one-line note replies to its card in the card's chat."""

    issue_id: int


async def card_facts(session: AsyncSession, issue: Issue, *, events: bool = False) -> CardFacts:
    """Load what the card (and, with `events`, the timeline) shows."""
    community = await session.get(Community, issue.community_id)
    if community is None:
        raise LookupError("community")
    building = await session.get(Building, issue.building_id) if issue.building_id else None
    photos = list((await session.execute(
        select(IssuePhoto.file_id).where(IssuePhoto.issue_id == issue.id, IssuePhoto.kind == "before")
        .order_by(IssuePhoto.position, IssuePhoto.id))).scalars())
    timeline: list[IssueEvent] = []
    if events:
        timeline = list((await session.execute(
            select(IssueEvent).where(IssueEvent.issue_id == issue.id).order_by(IssueEvent.at, IssueEvent.id)
        )).scalars())
    ids = {issue.assignee_id, issue.accepted_by_id, issue.reporter_id}
    for e in timeline:
        ids.add(e.actor_id)
        if e.kind in ("assigned", "unassigned") and e.note:
            ids.add(assigned_member(e.note))
    people: dict[int, Member] = {}
    for member_id in sorted(i for i in ids if i is not None):
        member = await session.get(Member, member_id)
        if member is not None:
            people[member_id] = member
    department = None
    if issue.department_id is not None and issue.status == IssueStatus.REFERRED:
        department = await session.get(Department, issue.department_id)
    consultation = None
    if issue.triage == "joint":
        note = (await session.execute(select(IssueEvent.note).where(
            IssueEvent.issue_id == issue.id, IssueEvent.kind == "consultation").order_by(IssueEvent.id.desc())
            .limit(1))).scalar_one_or_none()
        consultation = await session.get(Consultation, int(note)) if note and note.isdigit() else None
    return CardFacts(issue, community, building, photos, people, department, consultation, timeline)


async def card_rows(session: AsyncSession, issue_id: int) -> list[OutboxItem]:
    """Every copy of an issue's card in the outbox (waiting or sent)."""
    return list((await session.execute(select(OutboxItem).where(
        OutboxItem.kind == CARD_KIND,
        OutboxItem.dedup_key.startswith(f"cardpub:{issue_id}:", autoescape=True)))).scalars())


class CardService(CommunityService):
    async def facts(self, issue: Issue) -> CardFacts:
        """What the card shows."""
        return await card_facts(self.session, issue)

    async def detail(self, issue: Issue, viewer_may_see_reporter: bool, internal: bool | None = None, *,
                     private: bool = True) -> DetailView:
        """The full description and the timeline (Details button, /issue, the web desk). The reporter's
        name only when the viewer may see it (captains and staff, in private); internal notes likewise
        unless `internal` says otherwise. For a chat that is not private (`private=False`) only the public
        view exists: asking for names or internal notes there raises PrivateViewInGroup."""
        show_internal = viewer_may_see_reporter if internal is None else internal
        if not private and (viewer_may_see_reporter or show_internal):
            raise PrivateViewInGroup(issue.id)
        return DetailView(await card_facts(self.session, issue, events=True), viewer_may_see_reporter,
                          show_internal)

    # ------------------------------------------------------------------ publishing

    async def publish(self, issue: Issue) -> PublishResult:
        """The new card is due: in the building's team chat, else its captains (or whoever answers for
        the place) privately; urgent ones also to the office at once, ignoring quiet hours."""
        community = await self.community(issue.community_id)
        building = await self.session.get(Building, issue.building_id) if issue.building_id else None
        place = Place(community.id, issue.area_id, issue.building_id)
        place_name = building.name if building else community.name
        team = await self.chats.chat_for(place, "team") if issue.building_id else None
        office = await self.chats.office_chat(community.id)
        result = PublishResult("none", place_name)
        copies: list[CardCopy] = []
        sent_to: set[int] = set()
        if team is not None:
            copies.append(CardCopy(team, community.locale, primary=True))
            sent_to.add(team)
            result = PublishResult("team", place_name)
        else:
            people = await self.members.responsible(place, 0)
            for i, person in enumerate(people):
                copies.append(CardCopy(person.telegram_id, self.members.locale_for(person, community),
                                       primary=i == 0, member_id=person.id))
                sent_to.add(person.telegram_id)
            if people:
                kind = "captains" if issue.building_id and await self.members.holders("captain", place) else "office"
                result = PublishResult(kind, place_name)
            elif office is not None:
                copies.append(CardCopy(office, community.locale, primary=True))
                sent_to.add(office)
                result = PublishResult("office", place_name)
        nudged: list[int] = []
        if issue.urgent:
            if office is not None and office not in sent_to:
                copies.append(CardCopy(office, community.locale, primary=False))
            elif office is None:
                for person in await self.members.holders("staff", Place(community.id)):
                    if person.telegram_id not in sent_to:
                        copies.append(CardCopy(person.telegram_id, self.members.locale_for(person, community),
                                               primary=False, member_id=person.id))
            if team is not None and issue.building_id:
                # Group chats are often muted: the captains also get a private nudge for urgent ones.
                nudged = [captain.id for captain in await self.members.holders("captain", place)]
        await self.events.record(CardDue(issue.id, tuple(copies), tuple(nudged)))
        return result

    async def refresh(self, issue: Issue) -> None:
        """Bring every copy of the card up to date: edit sent ones in place (coalesced by a short
        delay, last write wins); rewrite ones still waiting to be sent."""
        await self.events.record(CardChanged(issue.id))

    async def announce(self, issue: Issue, what: str) -> None:
        """A one-line notice replying to the card in its chat (e.g. a rebound reopened it), so the
        team notices a change to an old card they would not scroll back to."""
        if not issue.card_chat_id or what != "reopened":
            return
        await self.events.record(CardCameBack(issue.id))


@on_sent(CARD_KIND)
async def card_sent(session: AsyncSession, item: OutboxItem) -> None:
    """Remember where the primary card is (for edits in place) and send the other photos as an album
    replying to it — that needs the card's message id, known only now."""
    payload = item.payload or {}
    issue = await session.get(Issue, int(payload.get("issue_id") or 0))
    if issue is None or not item.message_id:
        return
    if payload.get("primary") and issue.card_message_id is None:
        issue.card_chat_id = item.chat_id
        issue.card_message_id = item.message_id
    album = list(payload.get("album") or [])
    if album:
        # The sender's clock is not at hand here; the card's own due time keeps the album due now.
        outbox = Outbox(session, clock=lambda: item.not_before)
        # The album's caption is the issue's reference (e.g. #NC12), escaped for Telegram HTML.
        await outbox.enqueue(key=f"cardalbum:{issue.id}:{item.chat_id}", kind="issue_card_album",
                             chat_id=item.chat_id, photos=album,
                             text=html.escape(str(payload.get("ref") or ""), quote=False),
                             reply_to=item.message_id, urgent=item.urgent, community_id=item.community_id,
                             member_id=item.member_id)


__all__ = ["ASSIGNED_PREFIX", "CARD_KIND", "EDIT_DELAY", "CardCameBack", "CardChanged", "CardCopy", "CardDue",
           "CardFacts", "CardService", "DetailView", "PrivateViewInGroup", "PublishResult", "assigned_member",
           "assigned_note", "by_resident", "card_facts", "card_rows"]
