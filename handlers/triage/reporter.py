"""The reporter's side: confirm a fix, rate it, not fixed (reopen with a comment), answer the team's question."""

from __future__ import annotations

from aiogram import Bot, F
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.i18n import _
from bot.keyboards.issues import (
    IssueCb,
    markup,
    rating_buttons,
)
from bot.notices.cards import status_label
from bot.services.access import NotAllowed
from bot.services.limits import DailyLimitReached
from bot.services.triage import InvalidInput, TriageService
from handlers.errors import limit_text
from handlers.triage.common import (
    TriageFlow,
    _text_step,
    allowed,
    denied,
    go_private,
    headline,
    input_error,
    router,
)
from models import IssueStatus, Member

# ---------------------------------------------------------------------------- the reporter's side


@router.callback_query(IssueCb.filter(F.action == "confirm"))
async def on_confirm(query: CallbackQuery, callback_data: IssueCb, member: Member, triage: TriageService) -> None:
    outcome = await allowed(query, triage, callback_data.id, triage.confirm(member, callback_data.id))
    if outcome is None:
        return
    issue = outcome.issue
    head = await headline(triage, issue)
    if outcome.changed or (issue.status in (IssueStatus.CLOSED, IssueStatus.VERIFYING)
                           and issue.satisfaction is None):
        await query.answer(_("Thank you!"))
        done = _("🎉 Thank you! {headline} is closed.") if issue.status == IssueStatus.CLOSED else _(
            "🎉 Thank you! The community office will check {headline} on site and then close it out.")
        if isinstance(query.message, Message):
            await query.message.edit_text(
                done.format(headline=head) + "\n" +
                _("How satisfied are you with how this was handled?"), reply_markup=markup(rating_buttons(issue.id)))
        return
    await query.answer(_("{headline} is already {status}.").format(headline=f"{issue.hashtag}",
                                                                  status=status_label(issue.status)))


@router.callback_query(IssueCb.filter(F.action == "rate"))
async def on_rate(query: CallbackQuery, callback_data: IssueCb, member: Member, triage: TriageService) -> None:
    score = int(callback_data.arg) if callback_data.arg in {"1", "2", "3", "4", "5"} else 0
    if not score:
        await query.answer(_("This button is no longer active."))
        return
    outcome = await allowed(query, triage, callback_data.id, triage.rate(member, callback_data.id, score))
    if outcome is None:
        return
    if not outcome.changed:
        await query.answer(_("You have already rated this one. Thank you!"))
        return
    await query.answer(_("Thank you!"))
    if isinstance(query.message, Message):
        await query.message.edit_text(_("Thank you for your rating: {stars}").format(stars="⭐" * score) + "\n" +
                                      _("Your answers help the community office see what works."))


@router.callback_query(IssueCb.filter(F.action == "notfixed"))
async def on_not_fixed(query: CallbackQuery, callback_data: IssueCb, member: Member, triage: TriageService,
                       bot: Bot, state: FSMContext) -> None:
    issue = await allowed(query, triage, callback_data.id, triage.can_reopen(member, callback_data.id))
    if issue is None:
        return
    if issue.status != IssueStatus.RESOLVED:
        await query.answer(_("{headline} is already {status}.").format(headline=issue.hashtag,
                                                                      status=status_label(issue.status)),
                           show_alert=True)
        return
    await go_private(query, bot, state, TriageFlow.notfixed_comment, {"issue_id": issue.id},
                     _("👎 Sorry it isn't fixed. What is still wrong? Your words go to the team."))


@router.message(TriageFlow.notfixed_comment)
async def not_fixed_comment(message: Message, state: FSMContext, member: Member, triage: TriageService) -> None:
    outcome = await _text_step(message, state, _("What is still wrong?"),
                               lambda text, issue_id: triage.reopen(member, issue_id, text))
    if outcome is None:
        return
    head = await headline(triage, outcome.issue)
    if outcome.changed:
        await message.answer(_("🔁 {headline} is reopened and back with the team. I'll tell you what happens.")
                             .format(headline=head))
    else:
        await message.answer(_("{headline} is already {status}: nothing changed.").format(
            headline=head, status=status_label(outcome.issue.status)))


@router.callback_query(IssueCb.filter(F.action == "answer"))
async def on_answer(query: CallbackQuery, callback_data: IssueCb, member: Member, triage: TriageService,
                    bot: Bot, state: FSMContext) -> None:
    # The button names the question it answers; only an open one of the person's own report counts.
    question_id = int(callback_data.arg) if callback_data.arg.isdigit() else 0
    try:
        await triage.open_question(member, callback_data.id, question_id)
    except NotAllowed as exc:
        await denied(query, triage, callback_data.id, exc)
        return
    except InvalidInput as exc:
        await query.answer(input_error(exc.reason), show_alert=True)
        return
    except DailyLimitReached as exc:
        await query.answer(limit_text(exc)[:200], show_alert=True)
        return
    await go_private(query, bot, state, TriageFlow.answer_text,
                     {"issue_id": callback_data.id, "question_id": question_id},
                     _("✍️ Write your answer. The team will see it, not your name."))


@router.message(TriageFlow.answer_text)
async def answer_text(message: Message, state: FSMContext, member: Member, triage: TriageService) -> None:
    question_id = int((await state.get_data()).get("question_id") or 0)
    try:
        outcome = await _text_step(message, state, _("Please write your answer again."),
                                   lambda text, issue_id: triage.answer(member, issue_id, text, question_id),
                                   final=("answered", "no_question"))
    except DailyLimitReached as exc:
        await state.clear()
        await message.answer(limit_text(exc))
        return
    if outcome is None:
        return
    await message.answer(_("✅ Thank you! I've passed your answer on to the team handling {ref}.").format(
        ref=outcome.issue.hashtag))


