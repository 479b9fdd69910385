"""Relays (转达): the bot carries messages between two sides that never see each other's accounts.

- A private matter (私事): the building captain puts the reporter (side A) in touch with another household
  of the building (side B: whoever of that household is in the bot). Each side may press 🤝 Settled; when
  both have, the issue closes as settled by the parties. The reporter is never named to the household.
- /contacts: a resident (side A) writes to a captain or the area head of their building, or to the
  community office's chat (side B); the contact answers with ↩️ Reply.

Rules only: who may write, to whom, how often (`limits.relays_per_day`), and what ends a relay (the
matter closed, the contact lost the role, someone erased their data). The words are in
bot/notices/relays.py; the handlers glue the two. Relays live in the database, so a restart in the
middle of a conversation loses nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.jobs import JobContext, job
from bot.services.access import Actor, NotAllowed, Place, can, require
from bot.services.households import HouseholdsService, HouseholdView
from bot.services.lifecycle import IssueAction
from bot.services.limits import RELAYS, enforce_daily
from bot.services.tenure import Erased, on_erased, on_roles_ended
from bot.services.triage import WORKABLE, TriageService, deadline_after_days
from models import (
    Area,
    Building,
    CloseHow,
    Community,
    Consultation,
    Issue,
    IssueEvent,
    IssueStatus,
    Member,
    OutboxItem,
    OutboxStatus,
    Relay,
    RelayMessage,
    Role,
)

MAX_TEXT = 1000
CONSULT_DAYS = 7


class RelayError(ValueError):
    """A refusal the handler turns into words: closed | role_ended | not_party | no_reporter |
    no_household | nobody_home | not_private | empty | too_long | no_building | not_joint | consulted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Contact:
    """One line of /contacts. `key` is what the ✉️ button carries: c<building>.<member>, a<area>.<member>
    or o<community> — re-checked when pressed."""

    key: str
    role: str  # captain | area_head | office
    name: str  # the person's name, or the community's name for the office
    place: str  # the building, area or community name
    hours: str | None
    reachable: bool  # the person has opened a chat with the bot (the office: its chat is linked)


@dataclass
class Side:
    """Who is on a side of a relay right now: people (private chats) and/or a group chat (the office)."""

    members: list[Member] = field(default_factory=list)
    chat_id: int | None = None


@dataclass
class RelayInfo:
    relay: Relay
    side: str  # the side of the person asking: a | b
    community: Community
    issue: Issue | None
    household: HouseholdView | None
    building: Building | None
    area: Area | None
    contact_name: str  # side B as side A knows it (the captain's name, "the community office", the flat)


@dataclass
class Sent:
    info: RelayInfo
    message: RelayMessage
    sender: Member
    to: Side


@dataclass
class Started:
    info: RelayInfo
    changed: bool
    reporter: Member
    household_members: list[Member]


@dataclass
class Settled:
    info: RelayInfo
    changed: bool
    closed: bool  # both sides settled: the issue is closed out now
    other: Side
    followers: list[Member] = field(default_factory=list)  # besides the reporter, told when it closes


@dataclass
class ConsultationStarted:
    issue: Issue
    consultation: Consultation
    changed: bool
    households: int
    building: str


class RelayService(TriageService):
    # ------------------------------------------------------------------ loading and sides

    async def _relay(self, relay_id: int) -> Relay:
        relay = await self.session.get(Relay, relay_id)
        if relay is None:
            raise RelayError("closed")
        return relay

    async def _info(self, relay: Relay, side: str) -> RelayInfo:
        community = await self.session.get(Community, relay.community_id)
        assert community is not None
        issue = await self.get(relay.issue_id) if relay.issue_id is not None else None
        household = await HouseholdsService(self.session, self.clock).get(relay.b_household_id) \
            if relay.b_household_id is not None else None
        building = await self.session.get(Building, relay.building_id) if relay.building_id else None
        area = await self.session.get(Area, relay.area_id) if relay.area_id else None
        name = ""
        if relay.b_member_id is not None:
            person = await self.session.get(Member, relay.b_member_id)
            name = person.display_name if person is not None else ""
        elif household is not None:
            name = household.label
        return RelayInfo(relay, side, community, issue, household, building, area, name)

    async def _household_members(self, relay: Relay) -> list[Member]:
        if relay.b_household_id is None:
            return []
        return await HouseholdsService(self.session, self.clock).members_of(relay.b_household_id)

    async def _side_of(self, relay: Relay, member: Member, actor: Actor) -> str:
        if relay.a_member_id is not None and relay.a_member_id == member.id:
            return "a"
        if relay.kind == "issue":
            if any(m.id == member.id for m in await self._household_members(relay)):
                return "b"
        elif relay.b_role == "office":
            if can(actor, "relay_office", Place(relay.community_id)):
                return "b"
        elif relay.b_member_id is not None and relay.b_member_id == member.id:
            return "b"
        raise RelayError("not_party")

    async def _contact_holds_role(self, relay: Relay) -> bool:
        """Whether side B of a contact relay still holds the role the resident wrote to."""
        if relay.b_role == "office":
            return True
        if relay.b_member_id is None:
            return False
        q = select(func.count()).select_from(Role).where(
            Role.member_id == relay.b_member_id, Role.role == relay.b_role, Role.community_id == relay.community_id)
        q = q.where(Role.building_id == relay.building_id) if relay.b_role == "captain" else \
            q.where(Role.area_id == relay.area_id)
        return bool((await self.session.execute(q)).scalar_one())

    async def _still_open(self, relay: Relay) -> None:
        """Refuse (and mark) a relay that has ended since it was offered: callback data is old news."""
        if relay.status == "ended":
            raise RelayError("role_ended")
        if relay.status != "open":
            raise RelayError("closed")
        if relay.kind == "issue":
            issue = await self.get(relay.issue_id) if relay.issue_id is not None else None
            if issue is None or issue.status not in WORKABLE or issue.triage != "residents":
                relay.status, relay.closed_at = "closed", self.clock()
                raise RelayError("closed")
        elif not await self._contact_holds_role(relay):
            relay.status, relay.closed_at = "ended", self.clock()
            raise RelayError("role_ended")

    async def _resident_still(self, relay: Relay, side: str, actor: Actor) -> None:
        """A resident who wrote to their building's contacts and has since left the building may not go on."""
        if relay.kind != "contact" or side != "a" or relay.building_id is None:
            return
        b = await self.session.get(Building, relay.building_id)
        if b is None or not can(actor, "contacts", Place(b.community_id, b.area_id, b.id)):
            relay.status, relay.closed_at = "closed", self.clock()
            raise RelayError("closed")

    async def open_side(self, actor: Actor, member: Member, relay_id: int) -> RelayInfo:
        """Before asking someone for their message: they are a side of an open relay."""
        relay = await self._relay(relay_id)
        side = await self._side_of(relay, member, actor)
        await self._still_open(relay)
        await self._resident_still(relay, side, actor)
        return await self._info(relay, side)

    async def recipients(self, relay: Relay, side: str) -> Side:
        """Who gets what `side` writes: the other side as it stands now."""
        if side == "b":
            person = await self.session.get(Member, relay.a_member_id) if relay.a_member_id else None
            return Side([person] if person is not None and person.data_deleted_at is None else [])
        if relay.kind == "issue":
            return Side(await self._household_members(relay))
        if relay.b_role == "office":
            return Side([], await self.chats.office_chat(relay.community_id))
        person = await self.session.get(Member, relay.b_member_id) if relay.b_member_id else None
        return Side([person] if person is not None and person.data_deleted_at is None else [])

    # ------------------------------------------------------------------ private matters: put in touch

    async def touch_check(self, actor: Actor, issue_id: int) -> Issue:
        """May this person put the sides of this issue in touch (captains of its building and above)?"""
        issue = await self.get(issue_id)
        self._require(actor, "triage", issue)
        if issue.triage != "residents" or issue.status not in WORKABLE:
            raise RelayError("closed")
        if issue.building_id is None:
            raise RelayError("no_building")
        return issue

    async def find_household(self, actor: Actor, issue_id: int, text: str) -> HouseholdView | None:
        issue = await self.touch_check(actor, issue_id)
        assert issue.building_id is not None
        return await HouseholdsService(self.session, self.clock).find(issue.building_id, text)

    async def start_issue_relay(self, actor: Actor, issue_id: int, household_id: int) -> Started:
        """The captain names the other household: a relay between the reporter and that household.
        Idempotent: the same household again returns the open relay unchanged."""
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "triage", issue)
        if issue.triage != "residents" or issue.status not in WORKABLE:
            raise RelayError("closed")
        households = HouseholdsService(self.session, self.clock)
        household = await households.get(household_id)
        # Only a household of the issue's own building: a private matter never leaves the building.
        if household is None or issue.building_id is None or household.building_id != issue.building_id:
            raise RelayError("no_household")
        reporter = await self.session.get(Member, issue.reporter_id) if issue.reporter_id else None
        if reporter is None or reporter.data_deleted_at is not None:
            raise RelayError("no_reporter")
        people = [m for m in await households.members_of(household.id) if m.id != reporter.id]
        if not people:
            raise RelayError("nobody_home")
        relay = (await self.session.execute(select(Relay).where(
            Relay.issue_id == issue.id, Relay.b_household_id == household.id, Relay.status == "open"))
        ).scalar_one_or_none()
        changed = relay is None
        if relay is None:
            relay = Relay(community_id=issue.community_id, kind="issue", issue_id=issue.id, a_member_id=reporter.id,
                          b_household_id=household.id, building_id=issue.building_id, area_id=issue.area_id,
                          status="open", a_settled=False, b_settled=False, started_by=actor.member_id,
                          created_at=self.clock())
            self.session.add(relay)
            await self.session.flush()
            # Captains see which flat; residents never see this line (internal).
            await self._event(issue, "relay", actor.member_id, note=household.label, public=False)
            await self.refresh_card(issue)
        return Started(await self._info(relay, "a"), changed, reporter, people)

    async def settle_side(self, actor: Actor, member: Member, relay_id: int) -> Settled:
        """🤝 Settled from one side. Both sides → the issue is closed out as settled by the parties."""
        relay = await self._relay(relay_id)
        side = await self._side_of(relay, member, actor)
        if relay.kind != "issue":
            raise RelayError("not_party")
        await self._still_open(relay)
        issue = await self.get(relay.issue_id or 0, lock=True)
        already = relay.a_settled if side == "a" else relay.b_settled
        if side == "a":
            relay.a_settled = True
        else:
            relay.b_settled = True
        other = await self.recipients(relay, side)
        info = await self._info(relay, side)
        if already:
            return Settled(info, False, False, other)
        # The timeline says which side, never who: "the reporter" is as private as the reporter is.
        await self._event(issue, "relay_settled", None, note="reporter" if side == "a" else "household",
                          public=False)
        if not (relay.a_settled and relay.b_settled):
            return Settled(info, True, False, other)
        relay.status, relay.closed_at = "closed", self.clock()
        self._close_out(issue, CloseHow.SETTLED_BY_PARTIES, None)
        await self._set_status(issue, IssueAction.SETTLE, IssueStatus.CLOSED, None, kind="settled_by_parties")
        await self._cancel_reminders(issue)
        await self.refresh_card(issue)
        followers = [m for m in await self.followers(issue) if m.id != relay.a_member_id]
        return Settled(info, True, True, other, followers)

    # ------------------------------------------------------------------ joint matters: a consultation

    async def consult_check(self, actor: Actor, issue_id: int) -> Issue:
        issue = await self.get(issue_id)
        self._require(actor, "triage", issue)
        if issue.building_id is None:
            raise RelayError("no_building")
        require(actor, "consult", Place(issue.community_id, issue.area_id, issue.building_id))
        if issue.triage != "joint" or issue.status not in WORKABLE:
            raise RelayError("not_joint")
        return issue

    async def linked_consultation(self, issue: Issue) -> Consultation | None:
        note = (await self.session.execute(select(IssueEvent.note).where(
            IssueEvent.issue_id == issue.id, IssueEvent.kind == "consultation").order_by(IssueEvent.id.desc())
            .limit(1))).scalar_one_or_none()
        return await self.session.get(Consultation, int(note)) if note and note.isdigit() else None

    async def start_consultation(self, actor: Actor, member: Member, issue_id: int) -> ConsultationStarted:
        """A joint matter (小事) asks its building: the issue's summary as the question, agree / disagree /
        no opinion, more than 60% of all households, 7 days. One per issue (a second press shows it)."""
        from bot.services.consultations import ConsultationError, ConsultationsService

        issue = await self.consult_check(actor, issue_id)
        assert issue.building_id is not None
        building = await self.session.get(Building, issue.building_id)
        assert building is not None
        households = sum((await HouseholdsService(self.session, self.clock).count([building.id])).values())
        existing = await self.linked_consultation(issue)
        if existing is not None:
            return ConsultationStarted(issue, existing, False, households, building.name)
        community = await self.community_of(issue)
        question = (issue.description or "").strip() or f"{issue.hashtag}"
        try:
            c = await ConsultationsService(self.session, self.clock).start(
                actor, building_ids=[building.id], question=f"{issue.hashtag}: {question}"[:1000],
                deadline=deadline_after_days(self.clock(), CONSULT_DAYS, community.timezone), author=member)
        except ConsultationError as exc:
            raise RelayError("no_household" if exc.reason == "no_households" else "closed") from None
        await self._event(issue, "consultation", actor.member_id, note=str(c.id), public=True)
        await self.refresh_card(issue)
        return ConsultationStarted(issue, c, True, households, building.name)

    async def record_consultation_results(self) -> int:
        """The tick: a linked consultation that has closed puts its result on the issue's timeline (once)."""
        # Only consultations closed lately (a week covers any stopped ticks): usually none, so no event scan.
        recent = [str(cid) for cid in (await self.session.execute(select(Consultation.id).where(
            Consultation.status == "closed", Consultation.closed_at >= self.clock() - timedelta(days=7)))).scalars()]
        if not recent:
            return 0
        rows = (await self.session.execute(select(IssueEvent).where(
            IssueEvent.kind == "consultation", IssueEvent.note.in_(recent)))).scalars()
        done = 0
        for event in list(rows):
            if not (event.note or "").isdigit():
                continue
            c = await self.session.get(Consultation, int(event.note or "0"))
            if c is None or c.status != "closed" or not c.result:
                continue
            seen = (await self.session.execute(select(func.count()).select_from(IssueEvent).where(
                IssueEvent.issue_id == event.issue_id, IssueEvent.kind == "consultation_result",
                IssueEvent.note.startswith(f"{c.id}:")))).scalar_one()
            if seen:
                continue
            issue = await self.get(event.issue_id)
            r = c.result
            counts = r.get("counts") or [0]
            verdict = "passed" if r.get("passed") else "failed"
            await self._event(issue, "consultation_result", None, public=True,
                              note=f"{c.id}:{verdict}:{counts[0]}/{r.get('households', 0)}")
            await self.refresh_card(issue)
            done += 1
        return done

    # ------------------------------------------------------------------ /contacts

    async def contacts(self, member: Member) -> list[Contact]:
        """A resident's building captains, area head and the community office, with hours."""
        out: list[Contact] = []
        seen: set[str] = set()
        for building in await self.members.resident_buildings(member):
            area = await self.session.get(Area, building.area_id)
            community = await self.session.get(Community, building.community_id)
            assert community is not None
            place = Place(building.community_id, building.area_id, building.id)
            for person in await self.members.holders("captain", place):
                key = f"c{building.id}.{person.id}"
                if person.id != member.id and key not in seen:
                    seen.add(key)
                    out.append(Contact(key, "captain", person.display_name, building.name, building.hours,
                                       person.started and person.data_deleted_at is None))
            if area is not None:
                for person in await self.members.holders("area_head", Place(area.community_id, area.id)):
                    key = f"a{area.id}.{person.id}"
                    if person.id != member.id and key not in seen:
                        seen.add(key)
                        out.append(Contact(key, "area_head", person.display_name, area.name, area.hours,
                                           person.started and person.data_deleted_at is None))
            key = f"o{community.id}"
            if key not in seen:
                seen.add(key)
                out.append(Contact(key, "office", community.name, community.name, community.hours,
                                   await self.chats.office_chat(community.id) is not None))
        return out

    async def open_contact(self, actor: Actor, member: Member, key: str) -> RelayInfo:
        """The ✉️ button of /contacts: the resident's relay to that contact (reused while it is open).
        The key is untrusted: it must be one /contacts offers this person now."""
        offered = {c.key: c for c in await self.contacts(member)}
        contact = offered.get(key)
        if contact is None:
            raise RelayError("role_ended")
        if not contact.reachable:
            raise RelayError("nobody_home")
        kind = key[0]
        place_id, _sep, person = key[1:].partition(".")
        building_id = int(place_id) if kind == "c" else None
        area_id = int(place_id) if kind == "a" else None
        b_member_id = int(person) if person else None
        community_id = int(place_id) if kind == "o" else None
        if building_id is not None:
            b = await self.session.get(Building, building_id)
            assert b is not None
            community_id = b.community_id
            require(actor, "contacts", Place(b.community_id, b.area_id, b.id))
        elif area_id is not None:
            a = await self.session.get(Area, area_id)
            assert a is not None
            community_id = a.community_id
        assert community_id is not None
        if not actor.in_community(community_id):
            raise NotAllowed("contacts", Place(community_id))
        q = select(Relay).where(Relay.kind == "contact", Relay.a_member_id == member.id, Relay.b_role == contact.role,
                                Relay.community_id == community_id, Relay.status == "open")
        q = q.where(Relay.b_member_id == b_member_id) if b_member_id is not None else q
        q = q.where(Relay.building_id == building_id) if building_id is not None else q
        q = q.where(Relay.area_id == area_id) if area_id is not None else q
        relay = (await self.session.execute(q.limit(1))).scalar_one_or_none()
        if relay is None:
            if contact.role == "office":
                # The office hears where the resident lives (never who): their building in this community.
                building_id = next((b.id for b in await self.members.resident_buildings(member)
                                    if b.community_id == community_id), None)
            relay = Relay(community_id=community_id, kind="contact", a_member_id=member.id, b_member_id=b_member_id,
                          b_role=contact.role, building_id=building_id, area_id=area_id, status="open",
                          a_settled=False, b_settled=False, started_by=member.id, created_at=self.clock())
            self.session.add(relay)
            await self.session.flush()
        return await self._info(relay, "a")

    # ------------------------------------------------------------------ messages

    async def send(self, actor: Actor, member: Member, relay_id: int, text: str | None,
                   photo: str | None = None) -> Sent:
        """Relay one message (text and/or a photo) to the other side. Residents are capped per day
        (`limits.relays_per_day`); the people answering for a place are not."""
        relay = await self._relay(relay_id)
        side = await self._side_of(relay, member, actor)
        await self._still_open(relay)
        await self._resident_still(relay, side, actor)
        body = (text or "").strip()
        if not body and not photo:
            raise RelayError("empty")
        if len(body) > MAX_TEXT:
            raise RelayError("too_long")
        community = await self.session.get(Community, relay.community_id)
        assert community is not None
        if relay.kind == "issue" or side == "a":
            await enforce_daily(self.session, community, RELAYS, self.clock(), lambda start: select(
                func.count()).select_from(RelayMessage).join(Relay, Relay.id == RelayMessage.relay_id).where(
                RelayMessage.sender_id == member.id, RelayMessage.created_at >= start,
                Relay.community_id == community.id))
        to = await self.recipients(relay, side)
        if not to.members and to.chat_id is None:
            raise RelayError("nobody_home")
        message = RelayMessage(relay_id=relay.id, side=side, sender_id=member.id, text=body or None, photo=photo,
                               created_at=self.clock())
        self.session.add(message)
        await self.session.flush()
        return Sent(await self._info(relay, side), message, member, to)


# ---------------------------------------------------------------------------- tenure and jobs


@on_roles_ended("relays")
async def _roles_ended(session: AsyncSession, clock: Clock, member: Member) -> None:
    """A contact who lost the role the residents wrote to: their open relays end (the resident is told so
    when they next write); the conversation is not handed to the successor without the resident asking."""
    service = RelayService.standalone(session, clock)
    for relay in (await session.execute(select(Relay).where(
            Relay.kind == "contact", Relay.b_member_id == member.id, Relay.status == "open"))).scalars():
        if not await service._contact_holds_role(relay):
            relay.status, relay.closed_at = "ended", clock()
    # A resident who left the building no longer writes to its contacts.
    homes = set((await session.execute(select(Role.building_id).where(
        Role.member_id == member.id, Role.building_id.is_not(None)))).scalars())
    for relay in (await session.execute(select(Relay).where(
            Relay.kind == "contact", Relay.a_member_id == member.id, Relay.status == "open"))).scalars():
        if relay.building_id is not None and relay.building_id not in homes:
            relay.status, relay.closed_at = "closed", clock()


@on_erased("relays")
async def _erased(session: AsyncSession, clock: Clock, member: Member, erased: Erased) -> None:
    """What they said is personal data: their relays close, every message of those relays loses its
    contents, and what still waits in the outbox for the other side is cancelled and emptied."""
    relays = list((await session.execute(select(Relay).where(
        (Relay.a_member_id == member.id) | (Relay.b_member_id == member.id)))).scalars())
    ids = {r.id for r in relays}
    for relay in relays:
        if relay.status == "open":
            relay.status, relay.closed_at = "closed", clock()
        if relay.a_member_id == member.id:
            relay.a_member_id = None  # the relay no longer leads to them
    # Messages they wrote into other relays (as a member of a household) go too.
    ids |= set((await session.execute(select(RelayMessage.relay_id).where(
        RelayMessage.sender_id == member.id))).scalars())
    await session.execute(update(RelayMessage).where(RelayMessage.sender_id == member.id).values(
        text=None, photo=None, sender_id=None))
    party = {r.id for r in relays}
    if party:
        await session.execute(update(RelayMessage).where(RelayMessage.relay_id.in_(party))
                              .values(text=None, photo=None))
    for rid in ids:
        prefix = f"relay:{rid}:"
        await session.execute(update(OutboxItem).where(
            OutboxItem.dedup_key.startswith(prefix, autoescape=True),
            OutboxItem.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING))).values(
            status=OutboxStatus.EXPIRED, last_error="erased"))
        await session.execute(update(OutboxItem).where(
            OutboxItem.dedup_key.startswith(prefix, autoescape=True)).values(payload={"erased": True}))
    await session.flush()


@job("relays")
async def relays_job(session: AsyncSession, ctx: JobContext) -> None:
    """A consultation started from a joint matter's card has closed: its result goes on the issue."""
    from bot.services import build_services

    service: RelayService = build_services(session, ctx.clock, ctx.settings).relays
    await service.record_consultation_results()


__all__ = [
    "CONSULT_DAYS",
    "MAX_TEXT",
    "ConsultationStarted",
    "Contact",
    "RelayError",
    "RelayInfo",
    "RelayService",
    "Sent",
    "Settled",
    "Side",
    "Started",
]
