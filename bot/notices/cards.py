"""The issue card's words and buttons: the card's caption, the detail and timeline (Details button,
/issue, the web desk), status labels and dates, and the notices that post, edit and annotate the card
(events recorded by bot/services/cards.py). The card speaks the community's language; private copies
speak their recipient's."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import _, ngettext, use_locale
from bot.keyboards.issues import triage_buttons
from bot.rendering import CAPTION_LIMIT, TEXT_LIMIT, esc, plain_len, render, shorten
from bot.services.cards import (
    CARD_KIND,
    EDIT_DELAY,
    CardCameBack,
    CardChanged,
    CardDue,
    CardFacts,
    CardService,
    DetailView,
    assigned_member,
    by_resident,
    card_facts,
    card_rows,
)
from bot.services.events import NoticeContext, notice
from bot.services.reporting import category
from models import Community, Issue, IssueEvent, IssueStatus, Member, OutboxStatus

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


def _way_line(issue: Issue) -> str:
    """三事分流 on the card: the decided way, or a captain's proposal waiting for staff."""
    labels = {"office": _("office matter (大事)"), "joint": _("joint matter (小事)"),
              "residents": _("private matter (私事)")}
    if issue.triage in labels:
        return labels[issue.triage]
    if issue.triage_proposed in labels:
        return _("{way}, proposed by a captain").format(way=labels[issue.triage_proposed])
    return ""


def _name(facts: CardFacts, member_id: int | None) -> str | None:
    if member_id is None:
        return None
    member = facts.people.get(member_id)
    if member is not None and member.data_deleted_at is not None:
        return _("a former member")
    return member.display_name if member else None


def _assignee_note(facts: CardFacts, note: str) -> str:
    """The note of an "assigned"/"unassigned" event: a member id (rendered now, so an erased person
    is "a former member"), "office", or — in rows written before ids — the name as it was."""
    if note == "office":
        return _("the community office")
    member_id = assigned_member(note)
    if member_id is not None:
        return _name(facts, member_id) or _("a former member")
    return note


# ---------------------------------------------------------------------- the card


def _values(facts: CardFacts, locale: str) -> dict[str, Any]:
    """The card's fields, worded in the current locale (the caller sets it)."""
    issue, tz = facts.issue, facts.community.timezone
    cat = category(facts.community, issue.category)
    place = facts.place_name
    if issue.place_note:
        place = f"{place}, {issue.place_note}"
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
        status=status_label(issue.status), overdue=issue.overdue and issue.is_open, handler=_handler_line(facts),
        escalated=escalated, photos=len(facts.photos), way=_way_line(issue),
        referred=_referred_line(facts, locale),
        consultation=_consultation_line(facts) if issue.triage == "joint" else "")


def _referred_line(facts: CardFacts, locale: str) -> str:
    issue, dept = facts.issue, facts.department
    if dept is None:
        return ""
    line = _("referred to {department}").format(department=dept.label(locale))
    if issue.refusals:
        line += " · " + ngettext("refused to comply %(num)s time", "refused to comply %(num)s times",
                                 issue.refusals)
    return line


def _handler_line(facts: CardFacts) -> str:
    issue = facts.issue
    if issue.assigned_to_office:
        return _("handled by the community office")
    name = _name(facts, issue.assignee_id) or _name(facts, issue.accepted_by_id)
    if name:
        return _("handled by {name}").format(name=name)
    if not issue.is_open:
        return ""
    if facts.building is not None:
        return _("for the captains of {building}").format(building=facts.building.name)
    return _("for the community office")


def _consultation_line(facts: CardFacts) -> str:
    """A joint matter's linked consultation on the card: running until…, or its result."""
    c = facts.consultation
    if c is None:
        return ""
    if c.status != "closed" or not c.result:
        return _("consultation running until {when}").format(when=fmt_when(c.deadline, facts.community.timezone))
    counts = c.result.get("counts") or [0]
    verdict = _("passed") if c.result.get("passed") else _("did not pass")
    total = int(c.result.get("households", 0) or 0)
    return ngettext("consultation {verdict}: {agree} of {total} household agrees",
                    "consultation {verdict}: {agree} of {total} households agree", total).format(
        verdict=verdict, agree=counts[0], total=total)


def card_caption(facts: CardFacts, locale: str, limit: int = CAPTION_LIMIT) -> str:
    """The card's text (≤ 1024 UTF-16 units): the description is shortened to fit."""
    description = facts.issue.description or ""
    with use_locale(locale):
        values = _values(facts, locale)
        text = render("cards_caption.html.j2", **values, description=description)
        over = plain_len(text) - limit
        while over > 0 and description:
            budget = max(0, len(description) - over - 1)
            description = shorten(description, budget) if budget > 1 else ""
            text = render("cards_caption.html.j2", **values, description=description)
            over = plain_len(text) - limit
    return text


async def caption(cards: CardService, issue: Issue, locale: str | None = None) -> str:
    """The card's text for an issue, in `locale` (the community's when None)."""
    facts = await cards.facts(issue)
    return card_caption(facts, locale or facts.community.locale)


def _buttons(issue: Issue, locale: str) -> list[list[tuple[str, str]]]:
    with use_locale(locale):
        return triage_buttons(issue)


# ---------------------------------------------------------------------- the detail and timeline


def detail_view_text(view: DetailView, locale: str) -> str:
    """The full description and the timeline as `view`'s viewer may see them."""
    facts = view.facts
    issue = facts.issue
    with use_locale(locale):
        values = _values(facts, locale)
        reporter = None
        person = view.reporter
        if person is not None:
            reporter = person.display_name + (f" (@{person.username})" if person.username and
                                               person.data_deleted_at is None else "")
        lines = [_event_line(facts, e, view.may_see_reporter, view.show_internal) for e in view.events]
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


async def detail_text(cards: CardService, issue: Issue, locale: str, viewer_may_see_reporter: bool,
                      internal: bool | None = None, *, private: bool = True) -> str:
    """CardService.detail (which refuses a private view for a group) worded in `locale`."""
    return detail_view_text(await cards.detail(issue, viewer_may_see_reporter, internal, private=private), locale)


def timeline_lines(view: DetailView, locale: str) -> list[str]:
    """The timeline as plain lines (the web desk's issue page): the same words and the same privacy as
    the Details view in a private chat."""
    with use_locale(locale):
        return [_event_line(view.facts, e, view.may_see_reporter, view.show_internal) for e in view.events]


def _event_line(facts: CardFacts, event: IssueEvent, may_see_reporter: bool, show_internal: bool) -> str:
    issue, tz = facts.issue, facts.community.timezone
    if event.actor_id is not None and event.actor_id == issue.reporter_id and not may_see_reporter:
        who = _("the reporter")
    elif event.actor_id is not None and not may_see_reporter and by_resident(event):
        who = _("a resident")  # a second reporter or a follower: as private as the reporter
    else:
        who = _name(facts, event.actor_id) or ""
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
        note = _assignee_note(facts, event.note) if event.kind in ("assigned", "unassigned") else event.note
        if event.kind in ("consultation", "consultation_result", "relay_settled"):
            note = _relay_note(event.kind, event.note)
        line += f": {shorten(note, 300)}"
    if not event.public:
        line = "🔒 " + line
    return line


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
    return ngettext("{verdict}, {agree} of {total} household agrees", "{verdict}, {agree} of {total} households agree",
                    int(total) if total.isdigit() else 2).format(verdict=word, agree=agree, total=total)


# ---------------------------------------------------------------------- the notices


async def _issue(ctx: NoticeContext, issue_id: int) -> Issue:
    issue = await ctx.session.get(Issue, issue_id)
    if issue is None:
        raise LookupError(f"issue {issue_id}")
    return issue


@notice(CardDue)
async def card_due(event: CardDue, ctx: NoticeContext) -> None:
    """Enqueue the new card in each chat (in order), then the urgent nudges to the captains."""
    issue = await _issue(ctx, event.issue_id)
    facts = await card_facts(ctx.session, issue)
    community = facts.community
    for copy in event.copies:
        text = card_caption(facts, copy.locale)
        buttons = _buttons(issue, copy.locale)
        extra = {"issue_id": issue.id, "primary": copy.primary, "album": facts.photos[1:], "ref": issue.hashtag,
                 "locale": copy.locale}
        common: dict[str, Any] = dict(key=f"cardpub:{issue.id}:{copy.chat_id}", kind=CARD_KIND, text=text,
                                      photo=facts.photos[0] if facts.photos else None, buttons=buttons,
                                      urgent=issue.urgent, community_id=issue.community_id, extra=extra)
        member = await ctx.session.get(Member, copy.member_id) if copy.member_id is not None else None
        if member is not None:
            await ctx.outbox.notify(member, tz=community.timezone, **common)
        else:
            await ctx.outbox.enqueue(chat_id=copy.chat_id, **common)
    for captain_id in event.nudged:
        captain = await ctx.session.get(Member, captain_id)
        if captain is None:
            continue
        locale = ctx.members.locale_for(captain, community)
        with use_locale(locale):
            text = _("🚨 Urgent: {ref} {label} at {place}. The card is in the team chat.").format(
                ref=issue.hashtag, label=category(community, issue.category).label(locale),
                place=facts.place_name)
        await ctx.outbox.notify(captain, key=f"urgent:{issue.id}:{captain.id}", kind="issue_urgent",
                                text=esc(text), urgent=True, community_id=community.id, tz=community.timezone)


@notice(CardChanged)
async def card_changed(event: CardChanged, ctx: NoticeContext) -> None:
    """Edit sent copies in place (coalesced by a short delay, last write wins); rewrite waiting ones."""
    issue = await _issue(ctx, event.issue_id)
    facts = await card_facts(ctx.session, issue)
    for row in await card_rows(ctx.session, issue.id):
        payload = dict(row.payload or {})
        locale = str(payload.get("locale") or facts.community.locale)
        text = card_caption(facts, locale)
        buttons = _buttons(issue, locale)
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
        await ctx.outbox.enqueue_edit(
            key=f"card:{issue.id}" if primary else f"card:{issue.id}:{row.chat_id}", kind="issue_card_edit",
            chat_id=chat_id, message_id=message_id, text=text, caption=payload.get("method") == "photo",
            buttons=buttons, community_id=issue.community_id, delay=EDIT_DELAY)


@notice(CardCameBack)
async def card_came_back(event: CardCameBack, ctx: NoticeContext) -> None:
    """A rebound reopened the issue: say so under its card, in the community's language."""
    issue = await _issue(ctx, event.issue_id)
    if not issue.card_chat_id:
        return
    community = await ctx.session.get(Community, issue.community_id)
    locale = community.locale if community else "en"
    with use_locale(locale):
        text = _("🔁 {ref} came back: a resident reported it again, so it is reopened.").format(ref=issue.hashtag)
    await ctx.outbox.enqueue(key=f"cardnote:{issue.id}:reopened:{issue.reopen_count}", kind="issue_card_note",
                             chat_id=issue.card_chat_id, text=text, reply_to=issue.card_message_id,
                             community_id=issue.community_id, urgent=issue.urgent)
