"""The team's actions on an issue (the card's buttons): accept (claim-and-lock), assign, deadline, reject
or merge as a duplicate, resolve with an "after" photo, 三事分流, settle a private matter, notes.

Each re-loads the issue (locked), checks the actor's rights at its place, asks the lifecycle table
whether its status allows the action (a second press returns `changed=False`), changes it, records an
IssueEvent and the event people hear about (bot/services/triage/events.py), and refreshes the card."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from bot.services.access import Actor, Place
from bot.services.cards import assigned_note
from bot.services.lifecycle import WORKABLE, IssueAction, allows
from bot.services.triage.base import TriageBase
from bot.services.triage.events import (
    DeadlineSet,
    IssueAccepted,
    IssueAssigned,
    IssueMerged,
    IssueRejected,
    IssueResolved,
    IssueSettled,
    IssueUnassigned,
    PublicNoteAdded,
    WayProposed,
    WentToOffice,
)
from bot.services.triage.rules import (
    MAX_NOTE,
    REJECT_REASONS,
    TOP_LEVEL,
    TRIAGE_KINDS,
    InvalidInput,
    Outcome,
    category_days,
    deadline_after_days,
    end_of_day,
    parse_date,
    triage_settings,
)
from models import CloseHow, Community, Issue, IssuePhoto, IssueStatus, Member


class TriageActions(TriageBase):
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
        await self.events.record(IssueAccepted(issue.id, event.id, await self.place_name(issue)))
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
                                       kind="assigned", note=who_note)
        if issue.deadline_at is None:
            await self._set_deadline(issue, deadline_after_days(now, category_days(community, issue.category),
                                                                community.timezone), actor.member_id)
        recipients = [target] if target is not None else await self.members.responsible(self.place_of(issue),
                                                                                        TOP_LEVEL)
        await self.events.record(IssueAssigned(
            issue.id, event.id, await self.place_name(issue), to_office=target is None,
            worker_ids=tuple(p.id for p in recipients if p.id != actor.member_id)))
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def unassign_former(self, issue: Issue, former: Member) -> bool:
        """The assignee lost their last role in the issue's community (or erased their data): the
        issue goes back to the captains (or whoever answers for its place now), who are told."""
        if issue.assignee_id != former.id or not allows(IssueAction.UNASSIGN, issue):
            return False
        issue.assignee_id = None
        if issue.status == IssueStatus.IN_PROGRESS:
            event = await self._set_status(issue, IssueAction.UNASSIGN, IssueStatus.ACCEPTED, None,
                                           kind="unassigned", note=assigned_note(former.id), public=False)
        else:
            event = await self._event(issue, "unassigned", None, note=assigned_note(former.id), public=False)
        workers = [p.id for p in await self.members.responsible(self.place_of(issue), 0) if p.id != former.id]
        await self.events.record(IssueUnassigned(issue.id, event.id, await self.place_name(issue), tuple(workers)))
        await self.refresh_card(issue)
        return True

    async def set_deadline(self, actor: Actor, issue_id: int, deadline: datetime) -> Outcome:
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "triage", issue)
        if not allows(IssueAction.DEADLINE, issue):
            return Outcome(issue, False)
        if deadline <= self.clock():
            raise InvalidInput("date_past")
        if issue.deadline_at is not None and abs((issue.deadline_at - deadline).total_seconds()) < 60:
            return Outcome(issue, False)
        event = await self._set_deadline(issue, deadline, actor.member_id)
        issue.overdue = False
        await self.events.record(DeadlineSet(issue.id, event.id, deadline))
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
        issue.reject_reason = reason
        self._close_out(issue, CloseHow.REJECTED, actor.member_id)
        event = await self._set_status(issue, IssueAction.REJECT, IssueStatus.REJECTED, actor.member_id)
        await self._cancel_reminders(issue)
        await self.events.record(IssueRejected(issue.id, event.id, reason))
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
        issue.duplicate_of_id = original.id
        issue.reject_reason = "duplicate"
        self._close_out(issue, CloseHow.MERGED, actor.member_id)
        event = await self._set_status(issue, IssueAction.DUPLICATE, IssueStatus.DUPLICATE, actor.member_id,
                                       note=original.reference)
        await self._cancel_reminders(issue)
        people = await self.followers(issue)
        await self._add_followers(original, [m.id for m in people])
        await self._event(original, "merged", actor.member_id, note=issue.reference, public=False)
        await self.events.record(IssueMerged(issue.id, event.id, original.id))
        await self.refresh_card(issue)
        return Outcome(issue, True, other=original)

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
        await self.events.record(IssueResolved(issue.id, event.id, note))
        await self.refresh_card(issue)
        return Outcome(issue, True)

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
            await self.events.record(WayProposed(issue.id, event.id, kind))
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
            await self.events.record(WentToOffice(issue.id, int(now.timestamp())))
        elif issue.triage == "residents":
            issue.assigned_to_office = False
            issue.escalation_level = 0

    async def settle(self, actor: Actor, issue_id: int) -> Outcome:
        """🤝 Settled: a private matter the captain (having put the sides in touch) says is settled."""
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "triage", issue)
        if not allows(IssueAction.SETTLE, issue):
            return Outcome(issue, False)
        self._close_out(issue, CloseHow.SETTLED, actor.member_id)
        event = await self._set_status(issue, IssueAction.SETTLE, IssueStatus.CLOSED, actor.member_id, kind="settled")
        await self._cancel_reminders(issue)
        await self.events.record(IssueSettled(issue.id, event.id))
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
            await self.events.record(PublicNoteAdded(issue.id, event.id, text))
        await self.refresh_card(issue)
        return Outcome(issue, True)
