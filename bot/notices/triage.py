"""Triage: what people hear when an issue moves — words and buttons only; the rules are in
bot/services/triage/. Each notice words its event for every recipient in their language and enqueues it
in the outbox (people: quiet hours unless the issue is urgent; chats: the community's language)."""

from __future__ import annotations

from collections.abc import Callable

from bot.i18n import _, current_locale, use_locale
from bot.keyboards.issues import Rows, cb, confirm_buttons, triage_buttons
from bot.notices.cards import fmt_when
from bot.rendering import esc, shorten
from bot.services.events import NoticeContext, notice
from bot.services.reporting import category
from bot.services.triage import followers_of, place_of, team_chat
from bot.services.triage.events import (
    CheckAwaited,
    DeadlineSet,
    IssueAccepted,
    IssueAssigned,
    IssueEscalated,
    IssueMerged,
    IssueNotAccepted,
    IssueRejected,
    IssueReopened,
    IssueResolved,
    IssueSettled,
    IssueUnassigned,
    IssueVerified,
    Overdue,
    PublicNoteAdded,
    QuestionAsked,
    ReminderDue,
    ReporterAnswered,
    WayProposed,
    WentToOffice,
)
from bot.services.triage.rules import TOP_LEVEL
from models import CloseHow, Community, Issue, Member

Words = Callable[[], str]

# ---------------------------------------------------------------------------- labels


def category_label(community: Community | None, key: str) -> str:
    """The category's emoji and name in the current locale (the community's own list, else the defaults)."""
    return category(community, key).button(current_locale())


def headline(issue: Issue, community: Community | None) -> str:
    """"#NC0042 🚒 Blocked fire lane" in the current locale (HTML-safe)."""
    return f"{issue.hashtag} {esc(category_label(community, issue.category))}"


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


# ---------------------------------------------------------------------------- delivery


async def load_issue(ctx: NoticeContext, issue_id: int) -> tuple[Issue, Community]:
    issue = await ctx.session.get(Issue, issue_id)
    assert issue is not None
    community = await ctx.session.get(Community, issue.community_id)
    assert community is not None
    return issue, community


async def tell_followers(ctx: NoticeContext, issue: Issue, community: Community, event_id: int, text: Words, *,
                         skip: int | None = None, buttons: Callable[[Member], Rows] | None = None) -> int:
    """A public change: a short message to the reporter and followers, each in their language, through
    the outbox (quiet hours respected unless the issue is urgent)."""
    sent = 0
    for person in await followers_of(ctx.session, issue):
        if person.id == skip:
            continue
        with use_locale(ctx.members.locale_for(person, community)):
            body = text()
            rows = buttons(person) if buttons is not None else None
        if await ctx.outbox.notify(person, key=f"issue_update:{issue.id}:{event_id}:{person.id}",
                                   kind="issue_update", text=body, urgent=issue.urgent, buttons=rows,
                                   community_id=issue.community_id, tz=community.timezone):
            sent += 1
    return sent


async def tell_worker(ctx: NoticeContext, issue: Issue, community: Community, person: Member, key: str, text: Words,
                      kind: str = "issue_work") -> bool:
    """A private message to someone who works on the issue, with the card's buttons."""
    with use_locale(ctx.members.locale_for(person, community)):
        body = text()
        if issue.deadline_at is not None and issue.is_open:
            body += "\n" + _("Deadline: {when}.").format(when=fmt_when(issue.deadline_at, community.timezone,
                                                                        ctx.clock()))
        body += "\n" + esc(shorten(issue.description or "", 300)) if issue.description else ""
        rows = triage_buttons(issue)
    return await ctx.outbox.notify(person, key=key, kind=kind, text=body, buttons=rows, urgent=issue.urgent,
                                   community_id=issue.community_id, tz=community.timezone)


async def _tell_workers(ctx: NoticeContext, issue: Issue, community: Community, ids: tuple[int, ...], key: str,
                        text: Words, kind: str = "issue_work") -> list[int]:
    told = []
    for person_id in ids:
        person = await ctx.session.get(Member, person_id)
        if person is not None and await tell_worker(ctx, issue, community, person, f"{key}:{person.id}", text, kind):
            told.append(person.id)
    return told


async def post_to_team(ctx: NoticeContext, issue: Issue, community: Community, key: str, text: Words,
                       level: int | None = None) -> None:
    """A message with the card's buttons to the team chat of the level now responsible (replying to the
    card when it is there), or privately to the responsible people when no chat is linked."""
    level = issue.escalation_level if level is None else level
    chat = await team_chat(ctx.chats, issue, level)
    if chat is not None:
        with use_locale(community.locale):
            body, rows = text(), triage_buttons(issue)
        reply = issue.card_message_id if chat == issue.card_chat_id else None
        await ctx.outbox.enqueue(key=f"{key}:chat", kind="issue_team", chat_id=chat, text=body, buttons=rows,
                                 reply_to=reply, urgent=True, community_id=issue.community_id)
        return
    for person in await ctx.members.responsible(place_of(issue), level):
        await tell_worker(ctx, issue, community, person, f"{key}:{person.id}", text, kind="issue_team")


def _deadline(issue: Issue, community: Community, ctx: NoticeContext) -> str:
    return _("Deadline: {when}.").format(when=fmt_when(issue.deadline_at, community.timezone, ctx.clock()))


# ---------------------------------------------------------------------------- the team's actions


@notice(IssueAccepted)
async def accepted(event: IssueAccepted, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)

    def text() -> str:
        line = _("{headline} — accepted by the {place} team.").format(
            headline=headline(issue, community), place=esc(event.place))
        if issue.deadline_at is not None:
            line += " " + _deadline(issue, community, ctx)
        return line + "\n" + _("I'll tell you when it is fixed.")

    await tell_followers(ctx, issue, community, event.event_id, text)


@notice(IssueAssigned)
async def assigned(event: IssueAssigned, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)

    def text() -> str:
        whom = _("the community office") if event.to_office else _("a member of the {place} team").format(
            place=esc(event.place))
        line = _("{headline} — work has been assigned to {whom}.").format(headline=headline(issue, community),
                                                                            whom=whom)
        if issue.deadline_at is not None:
            line += " " + _deadline(issue, community, ctx)
        return line

    await tell_followers(ctx, issue, community, event.event_id, text)
    await _tell_workers(ctx, issue, community, event.worker_ids, f"issue_assigned:{issue.id}:{event.event_id}",
                        lambda: _("👤 {headline} ({place}) was assigned to you.").format(
                            headline=headline(issue, community), place=esc(event.place)))


@notice(IssueUnassigned)
async def unassigned(event: IssueUnassigned, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    await _tell_workers(ctx, issue, community, event.worker_ids, f"issue_unassigned:{issue.id}:{event.event_id}",
                        lambda: _("👤 {headline} ({place}) is back with you: the person it was "
                                  "assigned to no longer has a role in the community. Please "
                                  "assign it again or take it on.").format(
                            headline=headline(issue, community), place=esc(event.place)))


@notice(DeadlineSet)
async def deadline_set(event: DeadlineSet, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    await tell_followers(ctx, issue, community, event.event_id, lambda: _("{headline} — new deadline: {when}.").format(
        headline=headline(issue, community), when=fmt_when(event.deadline, community.timezone, ctx.clock())))


@notice(IssueRejected)
async def rejected(event: IssueRejected, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    await tell_followers(ctx, issue, community, event.event_id, lambda: _(
        "{headline} — closed without action: {reason}. If you think this is a mistake, "
        "please talk to your building captain.").format(headline=headline(issue, community),
                                                        reason=reason_label(event.reason)))


@notice(IssueMerged)
async def merged(event: IssueMerged, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    original = await ctx.session.get(Issue, event.original_id)
    assert original is not None
    await tell_followers(ctx, issue, community, event.event_id, lambda: _(
        "{headline} is the same problem as {original}: you now follow {original}, and I'll "
        "keep you posted there.").format(headline=headline(issue, community), original=original.hashtag))


@notice(IssueResolved)
async def resolved(event: IssueResolved, ctx: NoticeContext) -> None:
    """Before → after to each follower, then "is it really fixed?" (the reporter may confirm)."""
    issue, community = await load_issue(ctx, event.issue_id)
    before = [p.file_id for p in issue.photos if p.kind == "before"]
    after = [p.file_id for p in issue.photos if p.kind == "after"]
    # Albums hold at most 10: the first before photos, then the after ones.
    media = (before[: max(1, 10 - len(after))] + after)[:10]
    for person in await followers_of(ctx.session, issue):
        is_reporter = person.id == issue.reporter_id
        with use_locale(ctx.members.locale_for(person, community)):
            head = _("✅ {headline} is marked fixed.").format(headline=headline(issue, community))
            caption = head + "\n" + (_("Before → after:") if before else _("After:"))
            if event.note:
                caption += "\n" + _("Note from the team: {note}").format(note=esc(shorten(event.note, 600)))
            question = head + "\n" + (_("Is it really fixed?") if is_reporter else _(
                "If it is not fixed, tell us."))
            rows = confirm_buttons(issue.id, reporter=is_reporter)
        base = f"issue_resolved:{issue.id}:{event.event_id}:{person.id}"
        await ctx.outbox.notify(person, key=f"{base}:photos", kind="issue_resolved", text=caption,
                                photos=media, urgent=issue.urgent, community_id=issue.community_id,
                                tz=community.timezone)
        await ctx.outbox.notify(person, key=f"{base}:ask", kind="issue_confirm", text=question,
                                buttons=rows, urgent=issue.urgent, community_id=issue.community_id,
                                tz=community.timezone)


@notice(WayProposed)
async def way_proposed(event: WayProposed, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    await post_to_team(ctx, issue, community, f"issue_way_proposed:{issue.id}:{event.event_id}", lambda: _(
        "🏷 {headline}: a captain proposes it as {way}. Confirm or change it with 🏷 Triage.").format(
        headline=headline(issue, community), way=triage_label(event.way)), level=TOP_LEVEL)


@notice(WentToOffice)
async def went_to_office(event: WentToOffice, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    await post_to_team(ctx, issue, community, f"issue_way_office:{issue.id}:{event.stamp}", lambda: _(
        "🏛 {headline} is an office matter: the community office handles it now.").format(
        headline=headline(issue, community)), level=TOP_LEVEL)


@notice(IssueSettled)
async def settled(event: IssueSettled, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    await tell_followers(ctx, issue, community, event.event_id, lambda: _(
        "🤝 {headline} is settled between the neighbours, says the building captain. Thank you for "
        "reporting it!").format(headline=headline(issue, community)))


@notice(PublicNoteAdded)
async def public_note(event: PublicNoteAdded, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    await tell_followers(ctx, issue, community, event.event_id, lambda: _(
        "📢 {headline} — update from the team:\n{note}").format(headline=headline(issue, community),
                                                                note=esc(event.text)))


# ---------------------------------------------------------------------------- team ↔ reporter


@notice(QuestionAsked)
async def question_asked(event: QuestionAsked, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    reporter = await ctx.session.get(Member, event.reporter_id)
    assert reporter is not None
    with use_locale(ctx.members.locale_for(reporter, community)):
        text = _("❓ A question about your report {headline} from the team handling it:\n{question}").format(
            headline=headline(issue, community), question=esc(event.question))
        rows = [[(_("✍️ Answer"), cb("answer", issue.id, str(event.event_id)))]]
    await ctx.outbox.notify(reporter, key=f"issue_question:{issue.id}:{event.event_id}", kind="issue_question",
                            text=text, buttons=rows, urgent=issue.urgent, community_id=issue.community_id,
                            tz=community.timezone)


@notice(ReporterAnswered)
async def reporter_answered(event: ReporterAnswered, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)

    def body() -> str:
        return _("💬 The reporter answers about {headline}:\n{answer}").format(
            headline=headline(issue, community), answer=esc(event.text))

    if issue.card_chat_id is not None:
        with use_locale(community.locale):
            text = body()
        await ctx.outbox.enqueue(key=f"issue_answer:{issue.id}:{event.event_id}", kind="issue_answer",
                                 chat_id=issue.card_chat_id, text=text, reply_to=issue.card_message_id,
                                 community_id=issue.community_id)
        return
    for asker_id in event.asker_ids:
        asker = await ctx.session.get(Member, asker_id)
        if asker is not None:
            with use_locale(ctx.members.locale_for(asker, community)):
                text = body()
            await ctx.outbox.notify(asker, key=f"issue_answer:{issue.id}:{event.event_id}:{asker.id}",
                                    kind="issue_answer", text=text, community_id=issue.community_id,
                                    tz=community.timezone)


@notice(IssueReopened)
async def reopened(event: IssueReopened, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    await tell_followers(ctx, issue, community, event.event_id, lambda: _(
        "🔁 {headline} was reopened: it is not fixed yet. The team has been told.").format(
        headline=headline(issue, community)), skip=event.by_id)
    await post_to_team(ctx, issue, community, f"issue_reopened:{issue.id}:{event.event_id}", lambda: _(
        "🔁 {headline} is not fixed, says a resident — reopened ({count}×):\n{comment}").format(
        headline=headline(issue, community), count=issue.reopen_count, comment=esc(event.comment)))


# ---------------------------------------------------------------------------- close-out (验收销号)


@notice(CheckAwaited)
async def check_awaited(event: CheckAwaited, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    await post_to_team(ctx, issue, community, f"issue_verify:{issue.id}:{event.event_id}", lambda: _(
        "🔍 {headline} ({place}) is fixed ({how}) and waits for your check before it is closed out.").format(
        headline=headline(issue, community), place=esc(event.place), how=close_how_label(event.how)),
        level=event.level)


@notice(IssueVerified)
async def verified(event: IssueVerified, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    await tell_followers(ctx, issue, community, event.event_id, lambda: _(
        "🎉 {headline} was checked on site and is now closed out. Thank you for reporting it!").format(
        headline=headline(issue, community)))


@notice(IssueNotAccepted)
async def not_accepted(event: IssueNotAccepted, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)

    def team() -> str:
        return _("❌ {headline} was not accepted at the check: {reason}\nPlease fix it again by {when}.").format(
            headline=headline(issue, community), reason=esc(event.reason),
            when=fmt_when(issue.deadline_at, community.timezone, ctx.clock()))

    fixer = await ctx.session.get(Member, event.fixer_id) if event.fixer_id is not None else None
    if fixer is not None:
        await tell_worker(ctx, issue, community, fixer, f"issue_notacc:{issue.id}:{event.event_id}:{fixer.id}", team,
                          kind="issue_team")
    await post_to_team(ctx, issue, community, f"issue_notacc:{issue.id}:{event.event_id}", team, level=0)
    await tell_followers(ctx, issue, community, event.event_id, lambda: _(
        "🔧 {headline} is still being worked on: the check found more to do. I'll tell you when "
        "it is done.").format(headline=headline(issue, community)))


# ---------------------------------------------------------------------------- the scheduled side


@notice(ReminderDue)
async def reminder_due(event: ReminderDue, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    assert issue.deadline_at is not None
    stamp = int(issue.deadline_at.timestamp())

    def text() -> str:
        if event.kind == "day":
            return _("⏰ {headline} is due today at {time}.").format(headline=headline(issue, community),
                                                                     time=event.at)
        return _("⏰ {headline} is due in one day.").format(headline=headline(issue, community))

    event.told.extend(await _tell_workers(ctx, issue, community, event.worker_ids,
                                          f"issue_remind:{issue.id}:{event.kind}:{stamp}", text,
                                          kind="issue_reminder"))


@notice(Overdue)
async def overdue(event: Overdue, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    assert issue.deadline_at is not None
    stamp = int(issue.deadline_at.timestamp())
    when = fmt_when(issue.deadline_at, community.timezone, ctx.clock())
    if event.where == "referral":
        await post_to_team(ctx, issue, community, f"issue_referral_late:{issue.id}:{stamp}", lambda: _(
            "⚠️ {headline} ({place}) was referred to a department, and its deadline passed {when}. Please "
            "chase the department or record its outcome.").format(
            headline=headline(issue, community), place=esc(event.place), when=when), level=TOP_LEVEL)
    elif event.where == "private":
        await post_to_team(ctx, issue, community, f"issue_overdue_private:{issue.id}:{stamp}", lambda: _(
            "⚠️ {headline} ({place}) is overdue since {when}. It is a private matter, so it stays with the "
            "building: help the neighbours settle it, then press 🤝 Settled.").format(
            headline=headline(issue, community), place=esc(event.place), when=when), level=0)
    else:
        await post_to_team(ctx, issue, community, f"issue_overdue_top:{issue.id}:{stamp}", lambda: _(
            "⚠️ {headline} ({place}) is overdue since {when}, and it is with the office already.").format(
            headline=headline(issue, community), place=esc(event.place), when=when), level=TOP_LEVEL)


@notice(IssueEscalated)
async def escalated(event: IssueEscalated, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)

    def text() -> str:
        if event.overdue:
            cause = _("its deadline passed")
        else:
            cause = _("nobody accepted it within {hours} h").format(hours=f"{event.hours:g}")
        return _("⬆️ {headline} ({place}) is escalated to the {level}: {cause}.").format(
            headline=headline(issue, community), place=esc(event.place), level=level_label(event.level),
            cause=cause)

    key = f"issue_escalated:{issue.id}:{issue.escalations}"
    await post_to_team(ctx, issue, community, key, text, level=event.level)
    # Private word too, so that the people now responsible cannot miss it in a busy chat.
    for person in await ctx.members.responsible(place_of(issue), event.level):
        await tell_worker(ctx, issue, community, person, f"{key}:{person.id}", text, kind="issue_escalated")
    # The level below learns it left their hands.
    if event.old_level == 0 and issue.card_chat_id is not None and issue.card_chat_id < 0:
        with use_locale(community.locale):
            body = text()
        await ctx.outbox.enqueue(key=f"{key}:card", kind="issue_escalated", chat_id=issue.card_chat_id, text=body,
                                 reply_to=issue.card_message_id, community_id=issue.community_id)
