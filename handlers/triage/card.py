"""The card's buttons: accept, the sub-menus (assign, deadline, reject, triage, note), settle, and
the buttons that continue in a private step (resolve, note, ask)."""

from __future__ import annotations

from aiogram import Bot, F
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.i18n import _
from bot.keyboards.issues import (
    IssueCb,
    assign_buttons,
    deadline_buttons,
    more_buttons,
    note_kind_buttons,
    reject_buttons,
    triage_buttons,
    triage_kind_buttons,
)
from bot.notices.cards import fmt_when as when_text
from bot.notices.cards import status_label
from bot.services.access import Actor, NotAllowed
from bot.services.triage import Outcome, TriageService
from handlers.triage.common import (
    MENU_ACTIONS,
    TriageFlow,
    allowed,
    denied,
    finish,
    go_private,
    headline,
    router,
    show,
)
from models import IssueStatus

# ---------------------------------------------------------------------------- card buttons


@router.callback_query(IssueCb.filter(F.action == "accept"))
async def on_accept(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService) -> None:
    outcome = await allowed(query, triage, callback_data.id, triage.accept(actor, callback_data.id))
    if outcome is None:
        return
    issue = outcome.issue
    if outcome.changed:
        await query.answer(_("✅ Accepted: you handle {ref} now.").format(ref=issue.hashtag))
    elif issue.accepted_by_id is not None:
        by = await triage.members.get(issue.accepted_by_id)
        await query.answer(_("Already handled by {name}.").format(name=by.display_name if by else "?"))
    else:
        await query.answer(_("Nothing to accept: this report is {status}.").format(status=status_label(issue.status)))
    await show(query, triage, actor, issue)


@router.callback_query(IssueCb.filter(F.action.in_(MENU_ACTIONS) & (F.arg == "")))
async def on_menu(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService) -> None:
    """Sub-menus replace the buttons of the same message; nothing changes until a choice is made."""
    action, issue_id = callback_data.action, callback_data.id
    try:
        if action == "assign":
            people = await triage.assignees(actor, issue_id)
            issue = await triage.get(issue_id)
            rows = assign_buttons(issue_id, [(m.id, m.display_name) for m in people])
        elif action == "triage":
            # Captains propose the way (or decide, when the community lets them); staff decide.
            issue = await triage.check(actor, issue_id)
            rows = triage_kind_buttons(issue_id)
        else:
            issue = await triage.check(actor, issue_id, assignee_ok=action in {"more", "note", "back"})
            rows = {"deadline": lambda: deadline_buttons(issue_id), "reject": lambda: reject_buttons(issue_id),
                    "more": lambda: more_buttons(issue), "note": lambda: note_kind_buttons(issue_id),
                    "back": lambda: triage_buttons(issue)}[action]()
    except NotAllowed as exc:
        await denied(query, triage, issue_id, exc)
        return
    if action in {"assign", "deadline", "reject"} and issue.status not in IssueStatus.OPEN:
        await query.answer(_("This report is {status}: nothing more to do.").format(status=status_label(issue.status)))
        await show(query, triage, actor, issue)
        return
    await query.answer()
    await show(query, triage, actor, issue, rows)




@router.callback_query(IssueCb.filter(F.action == "asg"))
async def on_assign_to(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService) -> None:
    target = None if callback_data.arg == "office" else int(callback_data.arg) if callback_data.arg.isdigit() else -1
    outcome = await allowed(query, triage, callback_data.id, triage.assign(actor, callback_data.id, target))
    if outcome is None:
        return
    await finish(query, triage, actor, outcome, _("👤 Assigned."))


@router.callback_query(IssueCb.filter(F.action == "dl"))
async def on_deadline(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService,
                      bot: Bot, state: FSMContext) -> None:
    issue_id = callback_data.id
    try:
        if callback_data.arg == "pick":
            issue = await triage.check(actor, issue_id)
            await go_private(query, bot, state, TriageFlow.deadline_date, {"issue_id": issue_id},
                             _("📅 {headline}: by which date must it be fixed? Write it like 2026-11-25 or 25.11.")
                             .format(headline=await headline(triage, issue)))
            return
        days = int(callback_data.arg) if callback_data.arg in {"1", "3", "7"} else 3
        outcome = await triage.deadline_in(actor, issue_id, days)
    except NotAllowed as exc:
        await denied(query, triage, issue_id, exc)
        return
    community = await triage.community_of(outcome.issue)
    await finish(query, triage, actor, outcome, _("⏰ Deadline: {when}.").format(
        when=when_text(outcome.issue.deadline_at, community.timezone, triage.clock())))


@router.callback_query(IssueCb.filter(F.action == "rej"))
async def on_reject(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService,
                    bot: Bot, state: FSMContext) -> None:
    issue_id, reason = callback_data.id, callback_data.arg
    try:
        if reason == "duplicate":
            issue = await triage.check(actor, issue_id)
            if issue.status not in IssueStatus.OPEN:
                await finish(query, triage, actor, Outcome(issue, False), "")
                return
            await go_private(query, bot, state, TriageFlow.duplicate_ref, {"issue_id": issue_id},
                             _("{headline} is a duplicate of which report? Send its reference, like #NC0041.")
                             .format(headline=await headline(triage, issue)))
            return
        if reason not in {"not_a_problem", "not_ours"}:
            await query.answer(_("This button is no longer active."))
            return
        outcome = await triage.reject(actor, issue_id, reason)
    except NotAllowed as exc:
        await denied(query, triage, issue_id, exc)
        return
    await finish(query, triage, actor, outcome, _("❌ Rejected. I've told the reporter why."))


@router.callback_query(IssueCb.filter(F.action == "tri"))
async def on_triage_kind(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService) -> None:
    if callback_data.arg not in {"office", "joint", "residents"}:
        await query.answer(_("This button is no longer active."))
        return
    outcome = await allowed(query, triage, callback_data.id,
                            triage.set_triage(actor, callback_data.id, callback_data.arg))
    if outcome is None:
        return
    if outcome.changed and outcome.issue.triage_proposed == callback_data.arg:
        await query.answer(_("🏷 Proposed. The community office will confirm or change it."))
    elif outcome.changed:
        await query.answer(_("🏷 Triage saved."))
    else:
        await query.answer(_("Already done."))
    await show(query, triage, actor, outcome.issue)


@router.callback_query(IssueCb.filter(F.action == "settled"))
async def on_settled(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService) -> None:
    outcome = await allowed(query, triage, callback_data.id, triage.settle(actor, callback_data.id))
    if outcome is None:
        return
    await finish(query, triage, actor, outcome, _("🤝 Settled and closed out. I've told the reporter."))


@router.callback_query(IssueCb.filter(F.action == "resolve"))
async def on_resolve(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService,
                     bot: Bot, state: FSMContext) -> None:
    issue = await allowed(query, triage, callback_data.id, triage.check(actor, callback_data.id, assignee_ok=True))
    if issue is None:
        return
    if issue.status not in IssueStatus.OPEN:
        await finish(query, triage, actor, Outcome(issue, False), "")
        return
    await go_private(query, bot, state, TriageFlow.resolve_photo, {"issue_id": issue.id, "photos": []},
                     _("🔧 {headline}: send a photo of the place now that it is fixed (the \"after\" photo).")
                     .format(headline=await headline(triage, issue)))


@router.callback_query(IssueCb.filter((F.action == "note") & F.arg.in_({"internal", "public"})))
async def on_note(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService,
                  bot: Bot, state: FSMContext) -> None:
    issue = await allowed(query, triage, callback_data.id, triage.check(actor, callback_data.id, assignee_ok=True))
    if issue is None:
        return
    public = callback_data.arg == "public"
    prompt = _("📢 {headline}: write the public note. The reporter and followers will get it.") if public else \
        _("🔒 {headline}: write the internal note. Only the team sees it.")
    await go_private(query, bot, state, TriageFlow.note_text, {"issue_id": issue.id, "public": public},
                     prompt.format(headline=await headline(triage, issue)))
    if isinstance(query.message, Message):
        await show(query, triage, actor, issue, triage_buttons(issue))


@router.callback_query(IssueCb.filter(F.action == "ask"))
async def on_ask(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService,
                 bot: Bot, state: FSMContext) -> None:
    issue = await allowed(query, triage, callback_data.id, triage.check(actor, callback_data.id, assignee_ok=True))
    if issue is None:
        return
    await go_private(query, bot, state, TriageFlow.ask_text, {"issue_id": issue.id},
                     _("❓ {headline}: write your question for the reporter. I'll pass it on without telling "
                       "anyone who they are, and bring the answer back to the card.").format(
                         headline=await headline(triage, issue)))
    await show(query, triage, actor, issue, triage_buttons(issue))


