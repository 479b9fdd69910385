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

from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import _, use_locale
from bot.jobs import JobContext, job
from bot.notices.onboarding import role_label
from bot.rendering import CAPTION_LIMIT, TEXT_LIMIT, esc, local_time, plain_len, render
from bot.services.access import Actor, NotAllowed, Place, can, require
from bot.services.base import CommunityService
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


def body_fits(body_html: str, photo: bool) -> bool:
    return plain_len(body_html) <= (BODY_LIMIT_CAPTION if photo else BODY_LIMIT_TEXT)


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

    async def audience_name(self, draft: AnnDraft | Announcement) -> str:
        if draft.audience == "buildings":
            names = [b.name for b in (await self.session.execute(select(Building).where(
                Building.id.in_([int(b) for b in draft.building_ids])).order_by(Building.id))).scalars()]
            if len(names) > 4:
                return _("{first} and {n} more buildings").format(first=", ".join(names[:3]), n=len(names) - 3)
            return ", ".join(names)
        if draft.audience in ("area", "area_captains"):
            area = await self.session.get(Area, draft.area_id)
            if draft.audience == "area_captains":
                return _("Building captains of {area}").format(area=area.name if area else "?")
            return area.name if area else "?"
        community = await self.session.get(Community, draft.community_id)
        name = community.name if community else "?"
        if draft.audience == "volunteers":
            return _("Volunteers of {community}").format(community=name)
        if draft.audience == "captains":
            return _("Building captains of {community}").format(community=name)
        return name

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

    # ------------------------------------------------------------------ texts

    async def render(self, ann: AnnDraft | Announcement, locale: str, author: Member | None) -> str:
        """The announcement exactly as a recipient in `locale` reads it (the preview uses this too)."""
        community = await self.session.get(Community, ann.community_id)
        assert community is not None
        place = await self.audience_name(ann) if ann.audience in ("buildings", "area") else None
        role = ""
        if author is not None:
            roles = {r.role.role for r in await self.members.roles_of(author) if r.role.community_id == community.id}
            for candidate in ("staff", "area_head", "captain", "volunteer", "resident"):
                if candidate in roles:
                    with use_locale(locale):
                        role = role_label(candidate)
                    break
        text = render("announcements_message.html.j2", locale=locale, urgent=ann.urgent, community=community.name,
                      place=place, body=Markup(ann.body_html), author=author.display_name if author else None,
                      role=role)
        limit = CAPTION_LIMIT if ann.photo_file_id else TEXT_LIMIT
        if plain_len(text) > limit:  # guarded at input; a very long signature must not break delivery
            text = render("announcements_message.html.j2", locale=locale, urgent=ann.urgent,
                          community=community.name, place=None, body=Markup(ann.body_html), author=None, role="")
        return text

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
        author = await self.session.get(Member, ann.author_id) if ann.author_id else None
        audience = await self.audience(ann, exclude=ann.author_id)
        texts: dict[str, str] = {}
        counts = {"people": 0, "queued": 0, "never_started": 0, "muted": 0, "erased": 0, "chats": 0}
        common: dict[str, Any] = {"kind": "announcement", "batch": ann.batch, "community_id": community.id,
                                  "photo": ann.photo_file_id}
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
            locale = self.members.locale_for(m, community)
            if locale not in texts:
                texts[locale] = await self.render(ann, locale, author)
            key = f"ann:{ann.id}:m{m.id}"
            if ann.urgent:  # urgent: quiet hours do not apply
                added = await self.outbox.enqueue(key=key, chat_id=m.telegram_id, member_id=m.id, urgent=True,
                                                  text=texts[locale], **common)
            else:
                added = await self.outbox.notify(m, key=key, text=texts[locale], tz=community.timezone, **common)
            counts["queued"] += int(added)
        for chat_id in audience.chats:
            if community.locale not in texts:
                texts[community.locale] = await self.render(ann, community.locale, author)
            added = await self.outbox.enqueue(key=f"ann:{ann.id}:c{chat_id}", chat_id=chat_id, urgent=ann.urgent,
                                              text=texts[community.locale], **common)
            counts["chats"] += int(added)
            counts["queued"] += int(added)
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
        when = local_time(ann.send_at, community.timezone, "%Y-%m-%d %H:%M")
        author = await self.session.get(Member, ann.author_id) if ann.author_id else None
        if author is not None and author.data_deleted_at is None:
            with use_locale(self.members.locale_for(author, community)):
                text = _("📣 Your announcement to {audience} planned for {when} was not sent: you no longer "
                         "have a role that may announce to them. Nothing went out.").format(
                    audience=esc(await self.audience_name(ann)), when=when)
            await self.outbox.notify(author, key=f"ann_stale:{ann.id}:author", kind="announcement_cancelled",
                                     text=text, community_id=community.id, tz=community.timezone)
        with use_locale(community.locale):
            text = _("📣 A scheduled announcement to {audience} ({when}) was cancelled: its author no longer "
                     "has a role that may announce to them. Send it again with /announce if it is still "
                     "needed.").format(audience=esc(await self.audience_name(ann)), when=when)
        office = await self.chats.office_chat(community.id)
        if office is not None:
            await self.outbox.enqueue(key=f"ann_stale:{ann.id}:office", kind="announcement_cancelled",
                                      chat_id=office, text=text, community_id=community.id)
            return
        for person in await self.members.holders("staff", Place(community.id)):
            if author is not None and person.id == author.id:
                continue
            with use_locale(self.members.locale_for(person, community)):
                text = _("📣 A scheduled announcement to {audience} ({when}) was cancelled: its author no "
                         "longer has a role that may announce to them. Send it again with /announce if it "
                         "is still needed.").format(audience=esc(await self.audience_name(ann)), when=when)
            await self.outbox.notify(person, key=f"ann_stale:{ann.id}:{person.id}", kind="announcement_cancelled",
                                     text=text, community_id=community.id, tz=community.timezone)

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
            community = await self.session.get(Community, ann.community_id)
            assert community is not None
            locale = self.members.locale_for(author, community)
            with use_locale(locale):
                text = render("announcements_report.html.j2", id=ann.id, audience=await self.audience_name(ann),
                              urgent=ann.urgent, **rep)
            await self.outbox.notify(author, key=f"ann_report:{ann.id}", kind="announcement_report", text=text,
                                     tz=community.timezone, community_id=community.id)
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


__all__ = ["AUDIENCES", "AnnDraft", "AnnouncementsService", "Audience", "AudienceOption", "body_fits",
           "recipients_count"]
