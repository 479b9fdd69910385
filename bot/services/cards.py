"""The issue card: one message per issue in the building's team chat (or the captains' private chats
when none is linked; never the residents' chat), with its photos as an album replying to it, edited in
place when the issue changes. Also the full detail + timeline shown by the Details button and /issue.

Cards in groups never name the reporter. The card speaks the community's language; private copies
speak their recipient's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import _, ngettext, use_locale
from bot.rendering import CAPTION_LIMIT, TEXT_LIMIT, plain_len, render, shorten
from bot.services.access import Place
from bot.services.base import CommunityService
from bot.services.outbox import Outbox, on_sent
from models import (
    Building,
    Community,
    Department,
    Issue,
    IssueEvent,
    IssuePhoto,
    IssueStatus,
    Member,
    OutboxItem,
    OutboxStatus,
)

CARD_KIND = "issue_card"
EDIT_DELAY = timedelta(seconds=3)  # coalesce rapid changes: Telegram allows ~20 edits/min per group
# Events a resident causes by reporting and following up (as opposed to the team's work): who did
# them is named only to viewers who may see the reporter, never to other residents.
_RESIDENT_KINDS = frozenset({"created", "edited", "withdrawn", "reopened", "confirmed", "rated", "answered"})
_RESIDENT_STATUSES = frozenset({IssueStatus.REOPENED, IssueStatus.VERIFYING, IssueStatus.CLOSED,
                                IssueStatus.WITHDRAWN})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def status_label(status: str) -> str:
    """A status in the current locale."""
    labels = {
        IssueStatus.NEW: _("new"),
        IssueStatus.ACCEPTED: _("accepted"),
        IssueStatus.IN_PROGRESS: _("in progress"),
        IssueStatus.RESOLVED: _("fixed, awaiting confirmation"),
        IssueStatus.VERIFYING: _("fixed, awaiting verification"),
        IssueStatus.REFERRED: _("referred to a department"),
        IssueStatus.CLOSED: _("closed out"),
        IssueStatus.REJECTED: _("rejected"),
        IssueStatus.DUPLICATE: _("duplicate"),
        IssueStatus.REOPENED: _("reopened"),
        IssueStatus.WITHDRAWN: _("withdrawn by the reporter"),
    }
    return labels.get(status, status)


def fmt_date(value: datetime, tz: str) -> str:
    local = value.astimezone(ZoneInfo(tz))
    return _("{day} {month_name}").format(day=local.day, month=local.month, month_name=_MONTHS[local.month - 1])


def fmt_when(value: datetime | None, tz: str, now: datetime | None = None) -> str:
    """"today 18:00" / "tomorrow 09:00" / "yesterday 09:00" relative to `now`, else "21 Nov 09:00"."""
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(tz))
    clock = local.strftime("%H:%M")
    if now is not None:
        days = (local.date() - now.astimezone(ZoneInfo(tz)).date()).days
        if days == 0:
            return _("today {time}").format(time=clock)
        if days == 1:
            return _("tomorrow {time}").format(time=clock)
        if days == -1:
            return _("yesterday {time}").format(time=clock)
    return f"{fmt_date(value, tz)} {clock}"


class PrivateViewInGroup(RuntimeError):
    """Someone tried to render names or internal notes for a chat that is not private: a bug."""


def _way_line(issue: Issue) -> str:
    """三事分流 on the card: the decided way, or a captain's proposal waiting for staff."""
    labels = {"office": _("office matter (大事)"), "joint": _("joint matter (小事)"),
              "residents": _("private matter (私事)")}
    if issue.triage in labels:
        return labels[issue.triage]
    if issue.triage_proposed in labels:
        return _("{way}, proposed by a captain").format(way=labels[issue.triage_proposed])
    return ""


def _by_resident(event: IssueEvent) -> bool:
    return event.kind in _RESIDENT_KINDS or (event.kind == "status" and event.to_status in _RESIDENT_STATUSES)


@dataclass(frozen=True)
class PublishResult:
    """Where a new card went: team (the building's team chat), captains (privately), office, none."""

    kind: str
    place_name: str


@dataclass(frozen=True)
class _Context:
    issue: Issue
    community: Community
    building: Building | None
    photos: list[str]


class CardService(CommunityService):
    # ------------------------------------------------------------------ loading

    async def _context(self, issue: Issue) -> _Context:
        community = await self.session.get(Community, issue.community_id)
        if community is None:
            raise LookupError("community")
        building = await self.session.get(Building, issue.building_id) if issue.building_id else None
        photos = list((await self.session.execute(
            select(IssuePhoto.file_id).where(IssuePhoto.issue_id == issue.id, IssuePhoto.kind == "before")
            .order_by(IssuePhoto.position, IssuePhoto.id))).scalars())
        return _Context(issue, community, building, photos)

    async def _name(self, member_id: int | None) -> str | None:
        if member_id is None:
            return None
        member = await self.session.get(Member, member_id)
        if member is not None and member.data_deleted_at is not None:
            return _("a former member")
        return member.display_name if member else None

    async def _assignee_note(self, note: str) -> str:
        """The note of an "assigned"/"unassigned" event: a member id (rendered now, so an erased person
        is "a former member"), "office", or — in rows written before ids — the name as it was."""
        if note == "office":
            return _("the community office")
        if note.startswith(ASSIGNED_PREFIX) and note[len(ASSIGNED_PREFIX):].isdigit():
            return await self._name(int(note[len(ASSIGNED_PREFIX):])) or _("a former member")
        return note

    # ------------------------------------------------------------------ rendering

    async def caption(self, issue: Issue, locale: str | None = None) -> str:
        """The card's text (≤ 1024 UTF-16 units): the description is shortened to fit."""
        ctx = await self._context(issue)
        return await self._caption(ctx, locale or ctx.community.locale)

    async def _caption(self, ctx: _Context, locale: str, limit: int = CAPTION_LIMIT) -> str:
        values = await self._values(ctx, locale)
        description = ctx.issue.description or ""
        with use_locale(locale):
            text = render("cards_caption.html.j2", **values, description=description)
            over = plain_len(text) - limit
            while over > 0 and description:
                budget = max(0, len(description) - over - 1)
                description = shorten(description, budget) if budget > 1 else ""
                text = render("cards_caption.html.j2", **values, description=description)
                over = plain_len(text) - limit
        return text

    async def _values(self, ctx: _Context, locale: str) -> dict[str, Any]:
        from bot.services.reporting import category

        issue, tz = ctx.issue, ctx.community.timezone
        with use_locale(locale):
            cat = category(ctx.community, issue.category)
            place = ctx.building.name if ctx.building else ctx.community.name
            if issue.place_note:
                place = f"{place}, {issue.place_note}"
            handler = await self._handler_line(ctx)
            escalated = ""
            if issue.escalation_level == 1:
                escalated = _("escalated to the area head")
            elif issue.escalation_level >= 2:
                escalated = _("escalated to the office")
            return dict(
                issue=issue, emoji=cat.emoji, label=cat.label(locale), place=place,
                map_url=(f"https://maps.google.com/?q={issue.lat:.6f},{issue.lon:.6f}"
                         if issue.lat is not None and issue.lon is not None else None),
                reported=fmt_when(issue.created_at, tz), due=fmt_when(issue.deadline_at, tz)
                if issue.deadline_at and issue.is_open else None,
                # Beside a new deadline (escalation, an extension), the first one the work was promised by.
                first_due=fmt_when(issue.first_deadline_at, tz) if issue.deadline_moved and issue.is_open else None,
                status=status_label(issue.status), overdue=issue.overdue and issue.is_open, handler=handler,
                escalated=escalated, photos=len(ctx.photos), way=_way_line(issue),
                referred=await self._referred_line(issue, locale),
                consultation=await self._consultation_line(issue, tz) if issue.triage == "joint" else "")

    async def _referred_line(self, issue: Issue, locale: str) -> str:
        if issue.department_id is None or issue.status != IssueStatus.REFERRED:
            return ""
        dept = await self.session.get(Department, issue.department_id)
        if dept is None:
            return ""
        line = _("referred to {department}").format(department=dept.label(locale))
        if issue.refusals:
            line += " · " + ngettext("refused to comply %(num)s time", "refused to comply %(num)s times",
                                     issue.refusals)
        return line

    async def _handler_line(self, ctx: _Context) -> str:
        issue = ctx.issue
        if issue.assigned_to_office:
            return _("handled by the community office")
        name = await self._name(issue.assignee_id) or await self._name(issue.accepted_by_id)
        if name:
            return _("handled by {name}").format(name=name)
        if not issue.is_open:
            return ""
        if ctx.building is not None:
            return _("for the captains of {building}").format(building=ctx.building.name)
        return _("for the community office")

    async def detail_text(self, issue: Issue, locale: str, viewer_may_see_reporter: bool,
                          internal: bool | None = None, *, private: bool = True) -> str:
        """The full description and the timeline (Details button, /issue). The reporter's name only
        when the viewer may see it (captains and staff, in private); internal notes likewise unless
        `internal` says otherwise. For a chat that is not private (`private=False`) only the public
        view renders: asking for names or internal notes there raises PrivateViewInGroup."""
        show_internal = viewer_may_see_reporter if internal is None else internal
        if not private and (viewer_may_see_reporter or show_internal):
            raise PrivateViewInGroup(issue.id)
        ctx = await self._context(issue)
        values = await self._values(ctx, locale)
        events = list((await self.session.execute(
            select(IssueEvent).where(IssueEvent.issue_id == issue.id).order_by(IssueEvent.at, IssueEvent.id)
        )).scalars())
        with use_locale(locale):
            reporter = None
            if viewer_may_see_reporter and issue.reporter_id is not None:
                person = await self.session.get(Member, issue.reporter_id)
                if person is not None:
                    reporter = person.display_name + (f" (@{person.username})" if person.username and
                                                       person.data_deleted_at is None else "")
            lines: list[str] = []
            for event in events:
                if not event.public and not show_internal:
                    continue
                lines.append(await self._event_line(event, issue, ctx.community.timezone, viewer_may_see_reporter,
                                                    show_internal))
            skipped = 0
            while True:
                text = render("cards_detail.html.j2", **values, description=issue.description or "",
                              reporter=reporter, events=lines, skipped=skipped)
                if plain_len(text) <= TEXT_LIMIT or len(lines) <= 1:
                    break
                # Keep the first event (created) and the newest; drop the oldest in between.
                lines.pop(1)
                skipped += 1
            if plain_len(text) > TEXT_LIMIT:
                text = render("cards_detail.html.j2", **values, description=shorten(issue.description or "", 2000),
                              reporter=reporter, events=lines[-3:], skipped=skipped)
        return text

    async def timeline(self, issue: Issue, locale: str, viewer_may_see_reporter: bool) -> list[str]:
        """The timeline as plain lines (the web desk's issue page): the same words and the same privacy as
        the Details view in a private chat."""
        ctx = await self._context(issue)
        events = (await self.session.execute(
            select(IssueEvent).where(IssueEvent.issue_id == issue.id).order_by(IssueEvent.at, IssueEvent.id)
        )).scalars()
        with use_locale(locale):
            return [await self._event_line(e, issue, ctx.community.timezone, viewer_may_see_reporter,
                                           viewer_may_see_reporter)
                    for e in events if e.public or viewer_may_see_reporter]

    async def _event_line(self, event: IssueEvent, issue: Issue, tz: str, may_see_reporter: bool,
                          show_internal: bool) -> str:
        if event.actor_id is not None and event.actor_id == issue.reporter_id and not may_see_reporter:
            who = _("the reporter")
        elif event.actor_id is not None and not may_see_reporter and _by_resident(event):
            who = _("a resident")  # a second reporter or a follower: as private as the reporter
        else:
            who = await self._name(event.actor_id) or ""
        labels = {
            "created": _("reported"),
            "edited": _("description edited"),
            "withdrawn": _("withdrawn"),
            "reopened": _("reopened: the problem came back"),
            "accepted": _("accepted"),
            "assigned": _("assigned"),
            "unassigned": _("assignment cleared"),
            "deadline": _("deadline set"),
            "escalated": _("escalated"),
            "note": _("note"),
            "rejected": _("rejected"),
            "resolved": _("marked fixed"),
            "closed": _("closed out"),
            "confirmed": _("confirmed fixed by the reporter"),
            "rated": _("rated"),
            "triage": _("triage set"),
            "asked": _("question to the reporter"),
            "answered": _("answer from the reporter"),
            "verified": _("verified on site and closed out"),
            "referred": _("referred to a department"),
            "refused": _("the responsible party refused to comply"),
            "notice": _("rectification notice issued"),
            "not_accepted": _("not accepted at the check"),
            "spot_check": _("picked for a spot check"),
            "spot_checked": _("spot check: all is well"),
            "relay": _("neighbours put in touch through the bot"),
            "relay_settled": _("one side says it is settled"),
            "settled_by_parties": _("settled by both sides"),
            "consultation": _("consultation started"),
            "consultation_result": _("consultation result"),
        }
        if event.kind == "status" and event.to_status:
            what = status_label(event.to_status)
            if event.from_status:
                what = f"{status_label(event.from_status)} → {what}"
        else:
            what = labels.get(event.kind, event.kind)
        line = f"{fmt_when(event.at, tz)} · {what}"
        if who:
            line += f" · {who}"
        if event.note and (event.public or show_internal):
            note = await self._assignee_note(event.note) if event.kind in ("assigned", "unassigned") else event.note
            if event.kind in ("consultation", "consultation_result", "relay_settled"):
                note = self._relay_note(event.kind, event.note)
            line += f": {shorten(note, 300)}"
        if not event.public:
            line = "🔒 " + line
        return line

    @staticmethod
    def _relay_note(kind: str, note: str) -> str:
        """Readable notes of the relay and consultation events (stored as ids and keys)."""
        if kind == "relay_settled":
            return _("the reporter") if note == "reporter" else _("the other household")
        if kind == "consultation":
            return _("consultation no. {id}").format(id=note)
        _cid, _sep, rest = note.partition(":")
        verdict, _sep, counts = rest.partition(":")
        agree, _sep, total = counts.partition("/")
        word = _("passed") if verdict == "passed" else _("did not pass")
        return _("{verdict}, {agree} of {total} households agree").format(verdict=word, agree=agree, total=total)

    async def _consultation_line(self, issue: Issue, tz: str) -> str:
        """A joint matter's linked consultation on the card: running until…, or its result."""
        from models import Consultation

        note = (await self.session.execute(select(IssueEvent.note).where(
            IssueEvent.issue_id == issue.id, IssueEvent.kind == "consultation").order_by(IssueEvent.id.desc())
            .limit(1))).scalar_one_or_none()
        c = await self.session.get(Consultation, int(note)) if note and note.isdigit() else None
        if c is None:
            return ""
        if c.status != "closed" or not c.result:
            return _("consultation running until {when}").format(when=fmt_when(c.deadline, tz))
        counts = c.result.get("counts") or [0]
        verdict = _("passed") if c.result.get("passed") else _("did not pass")
        return _("consultation {verdict}: {agree} of {total} households agree").format(
            verdict=verdict, agree=counts[0], total=c.result.get("households", 0))

    # ------------------------------------------------------------------ publishing

    async def _buttons(self, issue: Issue, locale: str) -> list[list[tuple[str, str]]]:
        from bot.keyboards.issues import triage_buttons  # the card's buttons belong to triage

        with use_locale(locale):
            return triage_buttons(issue)

    async def publish(self, issue: Issue) -> PublishResult:
        """Enqueue the new card: the building's team chat, else its captains (or whoever answers for
        the place) privately; urgent ones also to the office at once, ignoring quiet hours."""
        ctx = await self._context(issue)
        community = ctx.community
        place = Place(community.id, issue.area_id, issue.building_id)
        place_name = ctx.building.name if ctx.building else community.name
        team = await self.chats.chat_for(place, "team") if issue.building_id else None
        office = await self.chats.office_chat(community.id)
        result = PublishResult("none", place_name)
        sent_to: set[int] = set()
        if team is not None:
            await self._enqueue_card(ctx, team, community.locale, primary=True)
            sent_to.add(team)
            result = PublishResult("team", place_name)
        else:
            people = await self.members.responsible(place, 0)
            for i, person in enumerate(people):
                await self._enqueue_card(ctx, person.telegram_id, self.members.locale_for(person, community),
                                         primary=i == 0, member=person)
                sent_to.add(person.telegram_id)
            if people:
                kind = "captains" if issue.building_id and await self.members.holders("captain", place) else "office"
                result = PublishResult(kind, place_name)
            elif office is not None:
                await self._enqueue_card(ctx, office, community.locale, primary=True)
                sent_to.add(office)
                result = PublishResult("office", place_name)
        if issue.urgent:
            if office is not None and office not in sent_to:
                await self._enqueue_card(ctx, office, community.locale, primary=False)
            elif office is None:
                for person in await self.members.holders("staff", Place(community.id)):
                    if person.telegram_id not in sent_to:
                        await self._enqueue_card(ctx, person.telegram_id,
                                                 self.members.locale_for(person, community), primary=False,
                                                 member=person)
            if team is not None and issue.building_id:
                # Group chats are often muted: the captains also get a private nudge for urgent ones.
                for captain in await self.members.holders("captain", place):
                    locale = self.members.locale_for(captain, community)
                    from bot.services.reporting import category

                    with use_locale(locale):
                        text = _("🚨 Urgent: {ref} {label} at {place}. The card is in the team chat.").format(
                            ref=issue.hashtag, label=category(community, issue.category).label(locale),
                            place=place_name)
                    await self.outbox.notify(captain, key=f"urgent:{issue.id}:{captain.id}", kind="issue_urgent",
                                             text=_esc(text), urgent=True, community_id=community.id,
                                             tz=community.timezone)
        return result

    async def _enqueue_card(self, ctx: _Context, chat_id: int, locale: str, *, primary: bool,
                            member: Member | None = None) -> None:
        issue = ctx.issue
        text = await self._caption(ctx, locale)
        buttons = await self._buttons(issue, locale)
        extra = {"issue_id": issue.id, "primary": primary, "album": ctx.photos[1:], "ref": issue.hashtag,
                 "locale": locale}
        common: dict[str, Any] = dict(key=f"cardpub:{issue.id}:{chat_id}", kind=CARD_KIND, text=text,
                                      photo=ctx.photos[0] if ctx.photos else None, buttons=buttons,
                                      urgent=issue.urgent, community_id=issue.community_id, extra=extra)
        if member is not None:
            await self.outbox.notify(member, tz=ctx.community.timezone, **common)
        else:
            await self.outbox.enqueue(chat_id=chat_id, **common)

    async def refresh(self, issue: Issue) -> None:
        """Bring every copy of the card up to date: edit sent ones in place (coalesced by a short
        delay, last write wins); rewrite ones still waiting to be sent."""
        ctx = await self._context(issue)
        rows = list((await self.session.execute(select(OutboxItem).where(
            OutboxItem.kind == CARD_KIND,
            OutboxItem.dedup_key.startswith(f"cardpub:{issue.id}:", autoescape=True)))).scalars())
        for row in rows:
            payload = dict(row.payload or {})
            locale = str(payload.get("locale") or ctx.community.locale)
            text = await self._caption(ctx, locale)
            buttons = await self._buttons(issue, locale)
            if row.status == OutboxStatus.PENDING:
                payload["caption" if payload.get("method") == "photo" else "text"] = text
                payload["buttons"] = [[list(b) for b in r] for r in buttons] or None
                row.payload = payload
                continue
            if row.status != OutboxStatus.SENT or not row.message_id:
                continue
            primary = bool(payload.get("primary"))
            chat_id = issue.card_chat_id if primary and issue.card_chat_id else row.chat_id
            message_id = issue.card_message_id if primary and issue.card_message_id else row.message_id
            await self.outbox.enqueue_edit(
                key=f"card:{issue.id}" if primary else f"card:{issue.id}:{row.chat_id}", kind="issue_card_edit",
                chat_id=chat_id, message_id=message_id, text=text, caption=payload.get("method") == "photo",
                buttons=buttons, community_id=issue.community_id, delay=EDIT_DELAY)

    async def announce(self, issue: Issue, what: str) -> None:
        """A one-line notice replying to the card in its chat (e.g. a rebound reopened it), so the
        team notices a change to an old card they would not scroll back to."""
        if not issue.card_chat_id:
            return
        community = await self.session.get(Community, issue.community_id)
        locale = community.locale if community else "en"
        with use_locale(locale):
            if what == "reopened":
                text = _("🔁 {ref} came back: a resident reported it again, so it is reopened.").format(
                    ref=issue.hashtag)
            else:
                return
        await self.outbox.enqueue(key=f"cardnote:{issue.id}:{what}:{issue.reopen_count}", kind="issue_card_note",
                                  chat_id=issue.card_chat_id, text=text, reply_to=issue.card_message_id,
                                  community_id=issue.community_id, urgent=issue.urgent)


ASSIGNED_PREFIX = "member:"


def assigned_note(member_id: int) -> str:
    """How an "assigned"/"unassigned" event names a person: by id, rendered when shown (so a person who
    erased their data shows as "a former member", and no name outlives /deletedata in the timeline)."""
    return f"{ASSIGNED_PREFIX}{member_id}"


def _esc(text: str) -> str:
    from bot.rendering import esc

    return esc(text)


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
        await outbox.enqueue(key=f"cardalbum:{issue.id}:{item.chat_id}", kind="issue_card_album",
                             chat_id=item.chat_id, photos=album, text=_esc(str(payload.get("ref") or "")),
                             reply_to=item.message_id, urgent=item.urgent, community_id=item.community_id,
                             member_id=item.member_id)


__all__ = ["ASSIGNED_PREFIX", "CARD_KIND", "CardService", "PrivateViewInGroup", "PublishResult", "assigned_note",
           "fmt_date", "fmt_when", "status_label"]
