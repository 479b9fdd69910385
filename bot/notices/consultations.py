"""Consultations: what residents, chats, the author and the office read — words only; the rules are in
bot/services/consultations.py. Worded from the consultations tick's events (announce, tally, remind, close)."""

from __future__ import annotations

import base64

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.i18n import _, ngettext, use_locale
from bot.rendering import esc, local_time
from bot.services.chats import ChatsService
from bot.services.consultations import (
    ConsultationAnnounced,
    ConsultationClosed,
    ConsultationOpen,
    ConsultationReminderDue,
    ConsultationsService,
    HouseholdAnswer,
    Result,
    Tally,
    result_xlsx,
    tally_every,
)
from bot.services.events import NoticeContext, notice
from bot.services.members import MembersService
from bot.services.outbox import Buttons, Outbox
from models import Community, Consultation, ConsultationPost, Member

ERRORS = {
    "deadline_format": lambda: _("I could not read that date."),
    "deadline_past": lambda: _("That moment has already passed."),
    "deadline_far": lambda: _("That is too far away: at most 90 days."),
    "closed": lambda: _("This consultation is closed."),
    "no_households": lambda: _("These places have no households in the structure file yet."),
    "choices": lambda: _("Please give between 2 and 6 choices."),
    "can_still_change": lambda: _("The outcome can still change: it cannot be closed early yet."),
    "not_author": lambda: _("Only its author can close a consultation early."),
}


def error_text(reason: str) -> str:
    """A ConsultationError's reason in words (the wizard's and the author's screens)."""
    return ERRORS.get(reason, lambda: _("That did not work. Please try again."))()


def choice_labels(c: Consultation) -> list[str]:
    if c.choices:
        return [str(x) for x in c.choices]
    return [_("Agree"), _("Disagree"), _("No opinion")]


def vote_buttons(c: Consultation) -> Buttons:
    return [[(label, f"cv:{c.id}:{i}")] for i, label in enumerate(choice_labels(c))]


def rule_text(c: Consultation) -> str:
    if c.rule == "all":
        return _("passes when more than {pct}% of all households agree").format(pct=c.threshold_pct)
    return _("passes when more than {pct}% of the households that answered agree").format(pct=c.threshold_pct)


def tally_lines(c: Consultation, t: Tally) -> list[str]:
    labels = choice_labels(c)
    counts = " · ".join(f"{esc(label)} {n}" for label, n in zip(labels, t.counts, strict=True))
    return [
        ngettext("Answered: {answered} of {total} household ({pct:.0f}%)",
                 "Answered: {answered} of {total} households ({pct:.0f}%)", t.households).format(
            answered=t.answered, total=t.households, pct=t.coverage_pct),
        counts,
        _("Rule: {rule}").format(rule=rule_text(c)),
    ]


def invitation(c: Consultation, tz: str, household: str | None) -> str:
    lines = [_("🗳 <b>Residents' consultation</b>"), "", esc(c.question), "",
             _("Please answer by {when}. One answer per household; anyone in the household may answer "
               "and change it until then.").format(when=local_time(c.deadline, tz)),
             _("Rule: {rule}").format(rule=rule_text(c))]
    if c.secret:
        lines.append(_("Secret ballot: nobody sees what your household answered."))
    if household:
        lines.append(_("Your household: {label}").format(label=esc(household)))
    else:
        lines.append(_("Tell me your flat in /settings to answer for your household."))
    return "\n".join(lines)


def group_post(c: Consultation, t: Tally, tz: str) -> str:
    """The residents' chat post and its live tally: counts only, never who or which household."""
    if c.status == "open":
        when = _("Answers close {when}. Every household gets the question from me in private.").format(
            when=local_time(c.deadline, tz))
    else:
        when = _("Answers are closed. The result follows below.")
    lines = [_("🗳 <b>Residents' consultation</b>"), "", esc(c.question), "", when, "", *tally_lines(c, t)]
    if c.secret:
        lines.append(_("Secret ballot: only the counts are shown."))
    return "\n".join(lines)


def plan_caption() -> str:
    return _("📎 The plan to look at before you answer (公示).")


async def send_plan(outbox: Outbox, c: Consultation, *, key: str, to: Member | None = None,
                    chat_id: int | None = None, tz: str) -> None:
    """The plan (photos, or a PDF/image document) goes just before the question it belongs to; the
    outbox sends a chat's items in order."""
    photos = [str(p["file_id"]) for p in c.plan if p.get("kind") == "photo"]
    docs = [str(p["file_id"]) for p in c.plan if p.get("kind") == "document"]
    items: list[dict[str, object]] = []
    if photos:
        items.append({"photos": photos[:10]})
    items += [{"document": {"file_id": d}} for d in docs]
    for i, extra in enumerate(items):
        if to is not None:
            await outbox.notify(to, key=f"{key}:{i}", kind="consult_plan", text=plan_caption(), tz=tz,
                                community_id=c.community_id, **extra)  # type: ignore[arg-type]
        elif chat_id is not None:
            await outbox.enqueue(key=f"{key}:{i}", kind="consult_plan", chat_id=chat_id, text=plan_caption(),
                                 community_id=c.community_id, **extra)  # type: ignore[arg-type]


async def post_to_chats(session: AsyncSession, outbox: Outbox, chats: ChatsService, c: Consultation,
                        t: Tally, community: Community) -> None:
    """Post the consultation once to each residents' chat of its places — also a chat linked after it
    started. The row in consultation_posts says it was posted; the sent hook adds the message id."""
    posted = set((await session.execute(select(ConsultationPost.chat_id).where(
        ConsultationPost.consultation_id == c.id))).scalars())
    for chat in await chats.residents_chats(list(c.building_ids)):
        if chat in posted:
            continue
        with use_locale(community.locale):
            text = group_post(c, t, community.timezone)
            await send_plan(outbox, c, key=f"consult:{c.id}:plan:{chat}", chat_id=chat, tz=community.timezone)
            await outbox.enqueue(key=f"consult:{c.id}:post:{chat}", kind="consult_post", chat_id=chat, text=text,
                                 community_id=c.community_id, extra={"consultation_id": c.id})
        session.add(ConsultationPost(consultation_id=c.id, chat_id=chat, shown=text, created_at=outbox.clock()))
    await session.flush()


async def refresh_tally(session: AsyncSession, outbox: Outbox, c: Consultation, t: Tally, community: Community,
                        *, final: bool = False) -> None:
    """Edit each chat's post with the current tally, at most once per `consultations.tally_every_minutes`
    per chat; the edit is an outbox item whose text is replaced until it goes (last count wins). The
    final edit at the close ignores the interval."""
    now = outbox.clock()
    every = tally_every(community)
    with use_locale(community.locale):
        text = group_post(c, t, community.timezone)
    for post in (await session.execute(select(ConsultationPost).where(
            ConsultationPost.consultation_id == c.id, ConsultationPost.message_id.is_not(None)))).scalars():
        if post.shown == text:
            continue
        if not final and post.edited_at is not None and now - post.edited_at < every:
            continue  # coalesced: the next tick after the interval shows the count as it is then
        assert post.message_id is not None
        await outbox.enqueue_edit(key=f"consult:{c.id}:tally:{post.chat_id}", kind="consult_tally",
                                  chat_id=post.chat_id, message_id=post.message_id, text=text,
                                  community_id=c.community_id)
        post.shown, post.edited_at = text, now


def reminder(c: Consultation, tz: str, last_day: bool) -> str:
    head = _("⏰ Your household has not answered yet, and answers close today at {when}.") if last_day else \
        _("⏰ Your household has not answered yet. Answers close {when}.")
    return "\n".join([head.format(when=local_time(c.deadline, tz)), "", esc(c.question)])


def result_text(c: Consultation, r: Result) -> str:
    t = r.tally
    verdict = _("✅ <b>Passed</b>") if t.passed else _("❌ <b>Not passed</b>")
    lines = [_("🗳 <b>Consultation result</b>"), "", esc(c.question), "", verdict, *tally_lines(c, t)]
    if r.closed_early:
        lines.append(_("Closed early by its author: the remaining households could no longer change the outcome."))
    return "\n".join(lines)


def vote_reply(c: Consultation, label: str, choice: int, who: str, tz: str) -> str:
    """What the household's members read about their household's answer: what, and who gave it."""
    return _("Household {label} answered: {choice} (by {who}). Anyone in the household can change it "
             "until {when}.").format(label=esc(label), choice=esc(choice_labels(c)[choice]), who=esc(who),
                                    when=local_time(c.deadline, tz))


def xlsx_headers() -> list[str]:
    return [_("Building"), _("Household"), _("Answer"), _("How"), _("Comment"), _("When")]


def via_words() -> dict[str, str]:
    return {"bot": _("in the bot"), "in_person": _("recorded by the captain, in person")}


async def _load(ctx: NoticeContext, consultation_id: int) -> tuple[ConsultationsService, Consultation, Community]:
    service = ConsultationsService(ctx.session, ctx.clock)
    c = await service.get(consultation_id)
    community = await ctx.session.get(Community, c.community_id)
    assert community is not None
    return service, c, community


@notice(ConsultationAnnounced)
async def announced(event: ConsultationAnnounced, ctx: NoticeContext) -> None:
    """The plan, then the question with the household's buttons, to everyone who lives in the places."""
    service, c, community = await _load(ctx, event.consultation_id)
    outbox = ctx.outbox
    tz = community.timezone
    for m, label in await service.residents(c):
        with use_locale(ctx.members.locale_for(m, community)):
            await send_plan(outbox, c, key=f"consult:{c.id}:plan:{m.id}", to=m, tz=tz)
            await outbox.notify(m, key=f"consult:{c.id}:invite:{m.id}", kind="consult_invite",
                                text=invitation(c, tz, label), tz=tz,
                                buttons=vote_buttons(c) if label else None, community_id=c.community_id)


@notice(ConsultationOpen)
async def still_open(event: ConsultationOpen, ctx: NoticeContext) -> None:
    _service, c, community = await _load(ctx, event.consultation_id)
    outbox = ctx.outbox
    await post_to_chats(ctx.session, outbox, ctx.chats, c, event.tally, community)
    await refresh_tally(ctx.session, outbox, c, event.tally, community)


@notice(ConsultationReminderDue)
async def remind(event: ConsultationReminderDue, ctx: NoticeContext) -> None:
    service, c, community = await _load(ctx, event.consultation_id)
    outbox = ctx.outbox
    tz = community.timezone
    for m in await service.unanswered(c):
        with use_locale(ctx.members.locale_for(m, community)):
            await outbox.notify(m, key=f"consult:{c.id}:{event.kind}:{m.id}", kind="consult_reminder",
                                text=reminder(c, tz, event.last_day), tz=tz, buttons=vote_buttons(c),
                                community_id=c.community_id)


@notice(ConsultationClosed)
async def closed(event: ConsultationClosed, ctx: NoticeContext) -> None:
    _service, c, _community = await _load(ctx, event.consultation_id)
    await announce_result(ctx.session, ctx.clock, c, event.result)


async def announce_result(session: AsyncSession, clock: Clock, c: Consultation, result: Result) -> None:
    """The result to the author (private), the residents' chats and the office chat; the per-household
    table (unless secret) as an XLSX to the office."""
    members = MembersService(session, clock)
    chats = ChatsService(session, clock, members)
    outbox = Outbox(session, clock)
    service = ConsultationsService(session, clock)
    community = await session.get(Community, c.community_id)
    assert community is not None
    await refresh_tally(session, outbox, c, result.tally, community, final=True)
    author = await session.get(Member, c.author_id) if c.author_id else None
    if author is not None:
        with use_locale(members.locale_for(author, community)):
            await outbox.notify(author, key=f"consult:{c.id}:result:author", kind="consult_result",
                                text=result_text(c, result), tz=community.timezone, community_id=c.community_id)
    with use_locale(community.locale):
        text = result_text(c, result)
        for chat in await chats.residents_chats(list(c.building_ids)):
            await outbox.enqueue(key=f"consult:{c.id}:result:{chat}", kind="consult_result", chat_id=chat,
                                 text=text, community_id=c.community_id)
        office = await chats.office_chat(c.community_id)
        if office is not None:
            await outbox.enqueue(key=f"consult:{c.id}:result:office", kind="consult_result", chat_id=office,
                                 text=text, community_id=c.community_id)
            if not c.secret:
                data = table_xlsx(c, result.table, await service.building_names(c))
                await outbox.enqueue(
                    key=f"consult:{c.id}:result:xlsx", kind="consult_result", chat_id=office,
                    document={"b64": base64.b64encode(data).decode(), "filename": f"consultation-{c.id}.xlsx"},
                    text=ngettext("{n} household", "{n} households", len(result.table)).format(n=len(result.table)),
                    community_id=c.community_id)


def table_xlsx(c: Consultation, rows: list[HouseholdAnswer], buildings: dict[int, str]) -> bytes:
    return result_xlsx(rows, choices=choice_labels(c), buildings=buildings, headers=xlsx_headers(),
                       via_words=via_words())
