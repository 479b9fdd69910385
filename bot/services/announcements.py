"""Announcements (通知): who may tell whom, the recipients of an audience, queueing one outbox row per
person and residents' chat as batch `ann:{id}`, and the delivery report to the author.

Delivery itself is the outbox sender's (bot/sender.py): rows are keyed `ann:{id}:m{member}` and
`ann:{id}:c{chat}`, so queueing twice adds nothing, a clean restart repeats nothing, and after a
crash at most the sends in flight at that moment repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.jobs import JobContext, job
from bot.services.access import Actor, NotAllowed, Place, can, require
from bot.services.base import CommunityService
from bot.services.events import Event
from bot.services.limits import ANNOUNCEMENTS, enforce_daily
from bot.services.members import MembersService
from models import Announcement, Area, Building, ChatLink, Community, Member, OutboxItem, Role

AUDIENCES = ("buildings", "area", "area_captains", "community", "volunteers", "captains")
BODY_LIMIT_TEXT = 3800  # leaves room for the header and signature within 4096
BODY_LIMIT_CAPTION = 850  # within 1024 with the header and signature


@dataclass(frozen=True)
class AudienceOption:
    kind: str  # building | area | area_captains | community | volunteers | captains
    id: int
    name: str


@dataclass
class AnnDraft:
    community_id: int
    audience: str = "buildings"
    area_id: int | None = None
    building_ids: list[int] = field(default_factory=list)
    body_html: str = ""
    photo_file_id: str | None = None
    urgent: bool = False
    send_at: str | None = None  # ISO UTC; None = now
    token: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnnDraft:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Audience:
    members: list[Member]
    chats: list[int]

    @property
    def reachable(self) -> int:
        return sum(1 for m in self.members if m.started and m.data_deleted_at is None)


@dataclass(frozen=True)
class AudienceFacts:
    """Whom an announcement is for, as bot/notices/announcements.py names it: the audience's kind and the
    names of its buildings, its area or its community."""

    audience: str
    names: list[str]


# ---------------------------------------------------------------------------------------- events
# Worded and sent by bot/notices/announcements.py, in the same transaction.


@dataclass(frozen=True)
class AnnouncementQueued(Event):
    """An announcement goes out now: one message per person (urgent ones ignore quiet hours and mute) and
    per residents' chat, as batch `ann:{id}`."""

    announcement_id: int
    member_ids: tuple[int, ...]
    chat_ids: tuple[int, ...]


@dataclass(frozen=True)
class AnnouncementCancelled(Event):
    """A scheduled announcement was cancelled because its author may no longer send it: the author (unless
    erased) and the office chat (else its staff) are told."""

    announcement_id: int
    author_id: int | None
    office_chat: int | None
    staff_ids: tuple[int, ...]


@dataclass(frozen=True)
class AnnouncementReported(Event):
    """All of an announcement's messages are done: its author gets the delivery report."""

    announcement_id: int
    author_id: int
    figures: tuple[tuple[str, int], ...]


class AnnouncementsService(CommunityService):
    # ------------------------------------------------------------------ rights and audiences

    async def options(self, actor: Actor, community_id: int) -> list[AudienceOption]:
        community = await self.session.get(Community, community_id)
        if community is None:
            raise LookupError("community")
        out = [AudienceOption(*p) for p in await self.members.places_where(actor, "announce", community)]
        if can(actor, "announce", Place(community_id)):
            out.append(AudienceOption("volunteers", community_id, community.name))
            out.append(AudienceOption("captains", community_id, community.name))
        else:
            # An area head speaks to the captains of their area (staff have all captains above).
            out += [AudienceOption("area_captains", o.id, o.name) for o in out if o.kind == "area"]
        return out

    async def announcing_community(self, actor: Actor, member: Member) -> Community | None:
        for community in await self.members.member_communities(member) or (
                await self.members.communities() if actor.is_admin else []):
            if await self.options(actor, community.id):
                return community
        return None

    async def _require(self, actor: Actor, draft: AnnDraft | Announcement) -> None:
        if draft.audience == "buildings":
            if not draft.building_ids:
                raise ValueError("building_ids")
            for b in draft.building_ids:
                require(actor, "announce", await self.members.building_place(int(b)))
        elif draft.audience in ("area", "area_captains"):
            if draft.area_id is None:
                raise ValueError("area_id")
            require(actor, "announce", await self.members.area_place(draft.area_id))
        elif draft.audience in AUDIENCES:
            require(actor, "announce", Place(draft.community_id))
        else:
            raise ValueError(draft.audience)

    async def audience_facts(self, draft: AnnDraft | Announcement) -> AudienceFacts:
        if draft.audience == "buildings":
            names = [b.name for b in (await self.session.execute(select(Building).where(
                Building.id.in_([int(b) for b in draft.building_ids])).order_by(Building.id))).scalars()]
            return AudienceFacts("buildings", names)
        if draft.audience in ("area", "area_captains"):
            area = await self.session.get(Area, draft.area_id)
            return AudienceFacts(draft.audience, [area.name if area else "?"])
        community = await self.session.get(Community, draft.community_id)
        return AudienceFacts(draft.audience, [community.name if community else "?"])

    async def audience(self, draft: AnnDraft | Announcement, exclude: int | None = None) -> Audience:
        """Everyone the announcement is for (privately) and the residents' chats it goes to once. The
        author (`exclude`) is left out: they saw the preview and get the delivery report."""
        cid = draft.community_id
        stmt = select(Member).join(Role, Role.member_id == Member.id).where(Role.community_id == cid)
        chats: list[int] = []
        if draft.audience == "buildings":
            ids = [int(b) for b in draft.building_ids]
            stmt = stmt.where(Role.role.in_(("resident", "captain")), Role.building_id.in_(ids))
            chats = await self.chats.residents_chats(ids)
        elif draft.audience == "area":
            in_area = select(Building.id).where(Building.area_id == draft.area_id)
            ids = list((await self.session.execute(in_area)).scalars())
            stmt = stmt.where(((Role.role.in_(("resident", "captain"))) & Role.building_id.in_(in_area))
                              | ((Role.role == "area_head") & (Role.area_id == draft.area_id)))
            chats = await self.chats.residents_chats(ids)
            area_chat = await self.chats.chat_for(Place(cid, draft.area_id), "residents")
            chats += [area_chat] if area_chat is not None else []
        elif draft.audience == "area_captains":
            in_area = select(Building.id).where(Building.area_id == draft.area_id)
            stmt = stmt.where(Role.role == "captain", Role.building_id.in_(in_area))
        elif draft.audience == "community":
            chats = list((await self.session.execute(select(ChatLink.chat_id).where(
                ChatLink.community_id == cid, ChatLink.kind == "residents").order_by(ChatLink.id))).scalars())
        elif draft.audience == "volunteers":
            stmt = stmt.where(Role.role == "volunteer")
        elif draft.audience == "captains":
            stmt = stmt.where(Role.role == "captain")
        if exclude is not None:
            stmt = stmt.where(Member.id != exclude)
        people = list((await self.session.execute(stmt.order_by(Member.id))).scalars().unique())
        return Audience(people, list(dict.fromkeys(chats)))

    async def author_role(self, author: Member, community_id: int) -> str | None:
        """The author's highest role in the community (the signature names it)."""
        roles = {r.role.role for r in await self.members.roles_of(author) if r.role.community_id == community_id}
        return next((c for c in ("staff", "area_head", "captain", "volunteer", "resident") if c in roles), None)

    # ------------------------------------------------------------------ creating and queueing

    async def create(self, actor: Actor, draft: AnnDraft) -> tuple[Announcement, bool]:
        """Store the announcement (queued at once when due). A second Confirm of the same draft returns
        the first one. Returns (announcement, created)."""
        if draft.token:
            existing = (await self.session.execute(select(Announcement).where(
                Announcement.client_token == draft.token))).scalar_one_or_none()
            if existing is not None:
                return existing, False
        await self._require(actor, draft)
        if not draft.body_html.strip():
            raise ValueError("body")
        now = self.clock()
        community = await self.session.get(Community, draft.community_id)
        if community is not None:
            # Capped per author and day, counted from the announcements they created today.
            await enforce_daily(self.session, community, ANNOUNCEMENTS, now, lambda since: (
                select(func.count()).select_from(Announcement).where(
                    Announcement.author_id == actor.member_id, Announcement.created_at >= since)))
        send_at = datetime.fromisoformat(draft.send_at) if draft.send_at else now
        ann = Announcement(community_id=draft.community_id, author_id=actor.member_id, body_html=draft.body_html,
                           photo_file_id=draft.photo_file_id, audience=draft.audience, area_id=draft.area_id,
                           building_ids=sorted({int(b) for b in draft.building_ids}), urgent=draft.urgent,
                           send_at=max(send_at, now), status="scheduled", client_token=draft.token, counts={},
                           created_at=now)
        self.session.add(ann)
        await self.session.flush()
        if ann.send_at <= now:
            await self.queue(ann)
        return ann, True

    async def queue(self, ann: Announcement) -> dict[str, int]:
        """Write the batch into the outbox: one row per reachable person, one per residents' chat."""
        if ann.status != "scheduled":
            return dict(ann.counts or {})
        community = await self.session.get(Community, ann.community_id)
        assert community is not None
        audience = await self.audience(ann, exclude=ann.author_id)
        counts = {"people": 0, "queued": 0, "never_started": 0, "muted": 0, "erased": 0, "chats": 0}
        to: list[int] = []
        for m in audience.members:
            counts["people"] += 1
            if m.data_deleted_at is not None:
                counts["erased"] += 1
                continue
            if not m.started:
                counts["never_started"] += 1  # Telegram refuses to let a bot write first
                continue
            if not ann.urgent and (m.prefs or {}).get("announcements", True) is False:
                counts["muted"] += 1
                continue
            to.append(m.id)
        await self.events.record(AnnouncementQueued(ann.id, tuple(to), tuple(audience.chats)))
        counts["queued"] = len(to) + len(audience.chats)
        counts["chats"] = len(audience.chats)
        ann.counts = counts
        ann.status = "sending"
        ann.queued_at = self.clock()
        return counts

    async def queue_due(self) -> int:
        rows = list((await self.session.execute(select(Announcement).where(
            Announcement.status == "scheduled", Announcement.send_at <= self.clock()))).scalars())
        for ann in rows:
            if await self.author_may_still(ann):
                await self.queue(ann)
            else:
                await self.cancel_stale(ann)
        return len(rows)

    async def author_may_still(self, ann: Announcement) -> bool:
        """Whether the author may still announce to this audience now: a scheduled announcement speaks
        with the author's role at send time, not the one they held when they wrote it."""
        author = await self.session.get(Member, ann.author_id) if ann.author_id else None
        if author is None or author.data_deleted_at is not None:
            return False
        try:
            await self._require(await self.members.actor(author), ann)
        except (NotAllowed, LookupError, ValueError):
            return False
        return True

    async def cancel_stale(self, ann: Announcement) -> None:
        """Cancel an announcement its author may no longer send; the author (unless erased) and the
        community office (its team chat, else its staff) are told."""
        ann.status = "cancelled"
        community = await self.session.get(Community, ann.community_id)
        assert community is not None
        author = await self.session.get(Member, ann.author_id) if ann.author_id else None
        office = await self.chats.office_chat(community.id)
        staff = [] if office is not None else [
            p.id for p in await self.members.holders("staff", Place(community.id))
            if author is None or p.id != author.id]
        await self.events.record(AnnouncementCancelled(
            ann.id, author.id if author is not None and author.data_deleted_at is None else None, office,
            tuple(staff)))

    async def cancel(self, actor: Actor, ann_id: int) -> tuple[Announcement, bool]:
        """Withdraw a scheduled announcement before it goes out."""
        ann = await self.session.get(Announcement, ann_id)
        if ann is None:
            raise LookupError("announcement")
        await self._require(actor, ann)
        if ann.status != "scheduled":
            return ann, False
        ann.status = "cancelled"
        await self.session.flush()
        return ann, True

    # ------------------------------------------------------------------ delivery report

    async def report(self, ann: Announcement) -> dict[str, int]:
        """Delivery figures: Outbox.batch_report plus what never reached the outbox."""
        rep = await self.outbox.batch_report(ann.batch)
        rep["deferred_total"] = int((await self.session.execute(select(func.count()).where(
            OutboxItem.batch == ann.batch, OutboxItem.deferred.is_(True)))).scalar_one())
        rep["other_failed"] = rep["failed"] - rep["blocked"]
        for name in ("never_started", "muted", "chats", "people"):
            rep[name] = int((ann.counts or {}).get(name, 0))
        return rep

    async def send_reports(self) -> int:
        """Tell authors how their finished announcements went (all due rows done; rows held back by
        quiet hours are counted as deferred, they go out when those hours end)."""
        rows = list((await self.session.execute(select(Announcement).where(
            Announcement.status == "sending"))).scalars())
        sent = 0
        for ann in rows:
            rep = await self.report(ann)
            if rep["pending"]:
                continue
            ann.status = "reported"
            ann.reported_at = self.clock()
            author = await self.session.get(Member, ann.author_id) if ann.author_id else None
            if author is None or not author.started:
                continue
            await self.events.record(AnnouncementReported(ann.id, author.id, tuple(rep.items())))
            sent += 1
        return sent


async def recipients_count(session: AsyncSession, building_ids: Sequence[int]) -> int:
    """How many residents of some buildings started the bot (used by the benchmark)."""
    return int((await session.execute(select(func.count(func.distinct(Role.member_id))).join(
        Member, Member.id == Role.member_id).where(Role.building_id.in_(list(building_ids)),
                                                   Member.started.is_(True)))).scalar_one())


@job("announcements")
async def announcements_job(session: AsyncSession, ctx: JobContext) -> None:
    """Queue announcements whose time has come; report finished batches to their authors."""
    # The admins from the settings: an admin's scheduled announcement is checked with their rights.
    members = MembersService(session, ctx.clock, ctx.settings.admin_ids)
    svc = AnnouncementsService(session, ctx.clock, members)
    await svc.queue_due()
    await svc.send_reports()


__all__ = ["AUDIENCES", "AnnDraft", "AnnouncementCancelled", "AnnouncementQueued", "AnnouncementReported",
           "AnnouncementsService", "Audience", "AudienceFacts", "AudienceOption", "recipients_count"]
