"""The triage handlers' shared parts: the router, the private steps' states, and the helpers the
card, close-out, reporter and queue handlers (and relays, notices, referrals) use. Glue only: the rules
are in bot/services/triage/, the words in bot/notices/triage.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.i18n import _, current_locale
from bot.keyboards.common import cancel_kb
from bot.keyboards.issues import (
    IssueCb,
    QueueCb,
    Rows,
    markup,
    triage_buttons,
)
from bot.notices import triage as words
from bot.notices.cards import detail_view_text, status_label
from bot.services.access import Actor, Level, NotAllowed
from bot.services.triage import MAX_NOTE, InvalidInput, Outcome, TriageService
from models import Issue, IssueStatus

T = TypeVar("T")

router = Router(name="handlers.triage")  # one router for the package (handlers/triage/__init__.py)

MENU_ACTIONS = {"assign", "deadline", "reject", "more", "triage", "note", "back"}


class TriageFlow(StatesGroup):
    resolve_photo = State()
    resolve_note = State()
    deadline_date = State()
    duplicate_ref = State()
    note_text = State()
    ask_text = State()
    notfixed_comment = State()
    answer_text = State()
    verify_photo = State()
    notacc_reason = State()


# ---------------------------------------------------------------------------- helpers


def input_error(reason: str) -> str:
    texts = {
        "date_format": _("I couldn't read that date. Please write it like 2026-11-25 or 25.11."),
        "date_past": _("That date has already passed. Please choose today or a later day."),
        "date_far": _("That is more than a year ahead. Please choose an earlier date."),
        "reference_unknown": _("I can't find that report in this community. Please send its reference, "
                               "like #NC0041."),
        "reference_self": _("That is this same report. Please send the reference of the original one."),
        "photo_needed": _("Please send a photo of the fixed problem (the \"after\" photo)."),
        "too_long": _("That is too long: please keep it under {n} characters.").format(n=MAX_NOTE),
        "empty": _("Please write a few words."),
        "no_reporter": _("The reporter deleted their data, so I can't ask them anything."),
        "answered": _("You have already answered this question. Thank you — the team has your answer."),
        "no_question": _("This question is no longer open."),
    }
    return texts.get(reason, _("I couldn't use that. Please try again."))


async def denied(query: CallbackQuery, triage: TriageService, issue_id: int, exc: NotAllowed) -> None:
    """The short alert for a press by someone who may not do it; nothing changes."""
    text = _("Sorry, you can't do this here.")
    try:
        issue = await triage.get(issue_id)
    except LookupError:
        issue = None
    if exc.action in {"confirm", "rate", "answer"}:
        text = _("Only the person who reported this can answer here.")
    elif exc.action == "reopen":
        text = _("Only the reporter and the followers of this report can answer here.")
    elif exc.needed is not None and exc.needed >= Level.STAFF:
        text = _("Only office staff can do this.")
    elif issue is not None and exc.needed == Level.CAPTAIN:
        text = _("Only the captains of {place} can do this.").format(place=await triage.place_name(issue))
    await query.answer(text[:200], show_alert=True)


async def allowed(query: CallbackQuery, triage: TriageService, issue_id: int, call: Awaitable[T]) -> T | None:
    """A pressed button's service call; a press by someone who may not do it gets `denied`'s alert (None)."""
    try:
        return await call
    except NotAllowed as exc:
        await denied(query, triage, issue_id, exc)
        return None


def is_card(issue: Issue, message: Any) -> bool:
    return isinstance(message, Message) and message.chat.id == issue.card_chat_id \
        and message.message_id == issue.card_message_id


def private_rows(issue: Issue) -> Rows:
    return [*triage_buttons(issue), [(_("📥 Queue"), QueueCb().pack())]]


def _rows_of(kb: InlineKeyboardMarkup | None) -> list[list[tuple[str, str | None]]]:
    return [[(b.text, b.callback_data) for b in row] for row in (kb.inline_keyboard if kb else [])]


def is_private(message: Any) -> bool:
    return isinstance(message, Message) and message.chat.type == "private"


async def show(query: CallbackQuery, triage: TriageService, actor: Actor, issue: Issue,
               rows: Rows | None = None) -> None:
    """Show the pressed message's new state at once. In a group (the card, a "reopened" or escalation
    post, the office's copy of an urgent card) only its buttons change: the card's public caption
    follows through the outbox, and the private view (reporter, internal notes) never goes there.
    In private, a text message is re-rendered as the whole private view. Nothing is edited when
    nothing would change (Telegram refuses such an edit)."""
    message = query.message
    if not isinstance(message, Message):
        return
    try:
        if rows is not None or not is_private(message) or is_card(issue, message) or message.text is None:
            kb = markup(rows if rows is not None else triage_buttons(issue))
            if _rows_of(kb) != _rows_of(message.reply_markup):
                await message.edit_reply_markup(reply_markup=kb)
        else:
            text = detail_view_text(await triage.view(actor, issue.id, private=True), current_locale())
            kb = markup(private_rows(issue))
            if text != message.html_text or _rows_of(kb) != _rows_of(message.reply_markup):
                await message.edit_text(text, reply_markup=kb)
    except TelegramBadRequest:  # too old to edit, or deleted meanwhile
        pass


def private_fsm(state: FSMContext, bot: Bot, user_id: int) -> FSMContext:
    """The FSM of the presser's private chat (a press in a group continues there)."""
    return FSMContext(storage=state.storage, key=StorageKey(bot_id=bot.id, chat_id=user_id, user_id=user_id))


async def go_private(query: CallbackQuery, bot: Bot, state: FSMContext, step: State, data: dict[str, Any],
                     prompt: str, rows: Rows | None = None) -> None:
    """Continue a step in the presser's private chat: set its state, then ask there."""
    user_id = query.from_user.id
    fsm = private_fsm(state, bot, user_id)
    await fsm.set_state(step)
    await fsm.set_data(data)
    kb = markup(rows) if rows else cancel_kb()
    try:
        await bot.send_message(user_id, prompt, reply_markup=kb)
    except TelegramForbiddenError:
        await fsm.clear()
        await query.answer(_("Please open a private chat with me first (press Start there), then press again."),
                           show_alert=True)
        return
    in_group = isinstance(query.message, Message) and query.message.chat.type != "private"
    await query.answer(_("I've written to you in our private chat.") if in_group else None)


async def headline(triage: TriageService, issue: Issue) -> str:
    community = await triage.community_of(issue)
    return words.headline(issue, community)


async def finish(query: CallbackQuery, triage: TriageService, actor: Actor, outcome: Outcome, done: str) -> None:
    issue = outcome.issue
    if outcome.changed:
        await query.answer(done)
    elif issue.status not in IssueStatus.OPEN:
        await query.answer(_("This report is {status}: nothing more to do.").format(status=status_label(issue.status)))
    else:
        await query.answer(_("Already done."))
    await show(query, triage, actor, issue)


async def _step_button(query: CallbackQuery, callback_data: IssueCb, state: FSMContext, step: State
                       ) -> Message | None:
    """A "do it now" button under a step's question: only for the step and issue it was offered for (an old
    one answers with an alert); its buttons are taken away. Returns the message to carry on in."""
    data = await state.get_data()
    if await state.get_state() != step.state or int(data.get("issue_id", 0)) != callback_data.id:
        await query.answer(_("This button is no longer active."))
        return None
    await query.answer()
    if not isinstance(query.message, Message):
        return None
    try:
        await query.message.edit_reply_markup(reply_markup=None)
    except TelegramBadRequest:
        pass
    return query.message


async def _typed(message: Message) -> str | None:
    """The text of a step that expects text; None (after saying so) for anything else."""
    if message.text is None or message.text.startswith("/"):
        await message.answer(_("Please write it as a text message."), reply_markup=cancel_kb())
        return None
    return message.text


async def _text_step(message: Message, state: FSMContext, again: str | None,
                     act: Callable[[str, int], Awaitable[T]], *, final: tuple[str, ...] = ()
                     ) -> T | None:
    """A step that expects text about the conversation's issue: `act(text, issue_id)` does the work
    and the conversation ends; a wrong input is explained and `again` asked (a `final` reason ends it)."""
    text = await _typed(message)
    if text is None:
        return None
    data = await state.get_data()
    try:
        outcome = await act(text, int(data["issue_id"]))
    except InvalidInput as exc:
        if exc.reason in final:
            await state.clear()
            await message.answer(input_error(exc.reason))
        else:
            await message.answer(input_error(exc.reason) + ("\n" + again if again else ""), reply_markup=cancel_kb())
        return None
    await state.clear()
    return outcome
