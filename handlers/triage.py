"""Triage buttons on an issue card (team chat, a captain's private chat, /queue), the private steps
they continue in (after photo, date, duplicate reference, note, question), the reporter's side
(confirm, rate, not fixed, answer a question) and /queue. Glue only: the rules are in
bot/services/triage.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.i18n import _, ngettext
from bot.keyboards.common import MenuCb, cancel_kb
from bot.keyboards.issues import (
    QUEUE_FILTERS,
    CampaignQueueCb,
    IssueCb,
    QueueCb,
    Rows,
    assign_buttons,
    deadline_buttons,
    markup,
    more_buttons,
    note_kind_buttons,
    queue_cb,
    queue_filter_label,
    rating_buttons,
    reject_buttons,
    skip_note_buttons,
    triage_buttons,
    triage_kind_buttons,
    verify_buttons,
)
from bot.rendering import esc, shorten
from bot.services.access import Actor, Level, NotAllowed
from bot.services.limits import DailyLimitReached
from bot.services.triage import (
    MAX_NOTE,
    InvalidInput,
    Outcome,
    TriageService,
    category_label,
    status_label,
    when_text,
)
from handlers.errors import limit_text
from models import Issue, IssueStatus, Member

T = TypeVar("T")

router = Router(name=__name__)

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
            text, kb = await triage.view(actor, issue.id, private=True), markup(private_rows(issue))
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
    return f"{issue.hashtag} {esc(category_label(community, issue.category))}"


# ---------------------------------------------------------------------------- card buttons


@router.callback_query(IssueCb.filter(F.action == "accept"))
async def on_accept(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService) -> None:
    try:
        outcome = await triage.accept(actor, callback_data.id)
    except NotAllowed as exc:
        await denied(query, triage, callback_data.id, exc)
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


async def finish(query: CallbackQuery, triage: TriageService, actor: Actor, outcome: Outcome, done: str) -> None:
    issue = outcome.issue
    if outcome.changed:
        await query.answer(done)
    elif issue.status not in IssueStatus.OPEN:
        await query.answer(_("This report is {status}: nothing more to do.").format(status=status_label(issue.status)))
    else:
        await query.answer(_("Already done."))
    await show(query, triage, actor, issue)


@router.callback_query(IssueCb.filter(F.action == "asg"))
async def on_assign_to(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService) -> None:
    target = None if callback_data.arg == "office" else int(callback_data.arg) if callback_data.arg.isdigit() else -1
    try:
        outcome = await triage.assign(actor, callback_data.id, target)
    except NotAllowed as exc:
        await denied(query, triage, callback_data.id, exc)
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
    try:
        outcome = await triage.set_triage(actor, callback_data.id, callback_data.arg)
    except NotAllowed as exc:
        await denied(query, triage, callback_data.id, exc)
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
    try:
        outcome = await triage.settle(actor, callback_data.id)
    except NotAllowed as exc:
        await denied(query, triage, callback_data.id, exc)
        return
    await finish(query, triage, actor, outcome, _("🤝 Settled and closed out. I've told the reporter."))


@router.callback_query(IssueCb.filter(F.action == "resolve"))
async def on_resolve(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService,
                     bot: Bot, state: FSMContext) -> None:
    try:
        issue = await triage.check(actor, callback_data.id, assignee_ok=True)
    except NotAllowed as exc:
        await denied(query, triage, callback_data.id, exc)
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
    try:
        issue = await triage.check(actor, callback_data.id, assignee_ok=True)
    except NotAllowed as exc:
        await denied(query, triage, callback_data.id, exc)
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
    try:
        issue = await triage.check(actor, callback_data.id, assignee_ok=True)
    except NotAllowed as exc:
        await denied(query, triage, callback_data.id, exc)
        return
    await go_private(query, bot, state, TriageFlow.ask_text, {"issue_id": issue.id},
                     _("❓ {headline}: write your question for the reporter. I'll pass it on without telling "
                       "anyone who they are, and bring the answer back to the card.").format(
                         headline=await headline(triage, issue)))
    await show(query, triage, actor, issue, triage_buttons(issue))


# ---------------------------------------------------------------------------- close-out (验收销号)


@router.callback_query(IssueCb.filter(F.action.in_({"verify", "notacc"})))
async def on_verify(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService,
                    bot: Bot, state: FSMContext) -> None:
    """✅ Verify and close / ❌ Not accepted: the photo, note or reason follow in private."""
    try:
        issue = await triage.check(actor, callback_data.id, "verify")
    except NotAllowed as exc:
        await denied(query, triage, callback_data.id, exc)
        return
    if issue.status not in (IssueStatus.VERIFYING, IssueStatus.CLOSED):
        await finish(query, triage, actor, Outcome(issue, False), "")
        return
    head = await headline(triage, issue)
    if callback_data.action == "verify":
        await go_private(query, bot, state, TriageFlow.verify_photo, {"issue_id": issue.id},
                         _("🔍 {headline}: send a photo taken on site (a caption becomes the note), or write a "
                           "note, or close it now.").format(headline=head), verify_buttons(issue.id))
    else:
        await go_private(query, bot, state, TriageFlow.notacc_reason, {"issue_id": issue.id},
                         _("❌ {headline}: what is still wrong? It goes back to whoever fixed it with a new "
                           "deadline, and the reporter hears it is still being worked on.").format(headline=head))


async def _verify(message: Message, state: FSMContext, actor: Actor, triage: TriageService,
                  photo: str | None, note: str | None) -> None:
    issue_id = int((await state.get_data())["issue_id"])
    try:
        outcome = await triage.verify(actor, issue_id, photo, note)
    except InvalidInput as exc:
        await message.answer(input_error(exc.reason), reply_markup=markup(verify_buttons(issue_id)))
        return
    await state.clear()
    head = await headline(triage, outcome.issue)
    if not outcome.changed:
        await message.answer(_("{headline} is already {status}: nothing changed.").format(
            headline=head, status=status_label(outcome.issue.status)))
    elif outcome.issue.status == IssueStatus.CLOSED and outcome.issue.close_how == "verified" \
            and outcome.issue.closed_by_id == actor.member_id:
        await message.answer(_("✅ {headline} is verified and closed out. I've told the reporter.").format(
            headline=head))
    else:
        await message.answer(_("✅ Spot check of {headline} recorded: all is well.").format(headline=head))


@router.message(TriageFlow.verify_photo, F.photo)
async def verify_photo(message: Message, state: FSMContext, actor: Actor, triage: TriageService) -> None:
    assert message.photo
    await _verify(message, state, actor, triage, message.photo[-1].file_id, message.caption)


@router.message(TriageFlow.verify_photo, F.text & ~F.text.startswith("/"))
async def verify_note(message: Message, state: FSMContext, actor: Actor, triage: TriageService) -> None:
    await _verify(message, state, actor, triage, None, message.text)


@router.message(TriageFlow.verify_photo)
async def verify_wrong(message: Message, state: FSMContext) -> None:
    data = await state.get_data()
    await message.answer(_("Please send a photo or write a note, or close it now:"),
                         reply_markup=markup(verify_buttons(int(data["issue_id"]))))


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


@router.callback_query(IssueCb.filter(F.action == "vfy"))
async def verify_now(query: CallbackQuery, callback_data: IssueCb, state: FSMContext, actor: Actor,
                     triage: TriageService) -> None:
    message = await _step_button(query, callback_data, state, TriageFlow.verify_photo)
    if message is not None:
        await _verify(message, state, actor, triage, None, None)


@router.message(TriageFlow.notacc_reason)
async def notacc_reason(message: Message, state: FSMContext, actor: Actor, triage: TriageService) -> None:
    outcome = await _text_step(message, state, _("What is still wrong?"),
                               lambda text, issue_id: triage.not_accepted(actor, issue_id, text))
    if outcome is None:
        return
    head = await headline(triage, outcome.issue)
    if outcome.changed:
        community = await triage.community_of(outcome.issue)
        await message.answer(_("❌ {headline} is not accepted and back with whoever fixed it. New deadline: "
                               "{when}.").format(headline=head, when=when_text(
                                   outcome.issue.deadline_at, community.timezone, triage.clock())))
    else:
        await message.answer(_("{headline} is already {status}: nothing changed.").format(
            headline=head, status=status_label(outcome.issue.status)))


SPOT_CHECK_DEFAULT = 3


@router.message(Command("spotcheck"), F.chat.type == "private")
async def spot_check_cmd(message: Message, actor: Actor, triage: TriageService) -> None:
    """/spotcheck [N]: N random issues closed out last week, each with the check's two outcomes."""
    arg = (message.text or "").split(maxsplit=1)[1:]
    n = int(arg[0]) if arg and arg[0].strip().isdigit() else SPOT_CHECK_DEFAULT
    communities = [g.community_id for g in actor.roles("staff")]
    if not communities and actor.is_admin:
        communities = [c.id for c in await triage.members.communities()]
    if not communities:
        await message.answer(_("Spot checks are for office staff."))
        return
    picked: list[Issue] = []
    for community_id in communities:
        picked += await triage.spot_check(actor, community_id, n)
    if not picked:
        await message.answer(_("Nothing was closed out last week, so there is nothing to spot-check."))
        return
    lines = [ngettext("🎲 Spot check: %(num)s issue closed out last week. Check it on site, then record the "
                      "outcome:",
                      "🎲 Spot check: %(num)s issues closed out last week. Check them on site, then record the "
                      "outcome:", len(picked))]
    rows: Rows = []
    for issue in picked:
        community = await triage.community_of(issue)
        lines.append(f"· <b>{issue.hashtag}</b> {esc(category_label(community, issue.category))} · "
                     f"{esc(await triage.place_name(issue))}")
        rows.append([(_("✅ {ref} is fine").format(ref=issue.hashtag), IssueCb(action="verify", id=issue.id).pack()),
                     (_("❌ {ref} not fixed").format(ref=issue.hashtag), IssueCb(action="notacc", id=issue.id).pack())])
    await message.answer("\n".join(lines), reply_markup=markup(rows))


# ---------------------------------------------------------------------------- private steps


@router.message(TriageFlow.resolve_photo, F.photo)
@router.message(TriageFlow.resolve_note, F.photo)
async def resolve_photo(message: Message, state: FSMContext, triage: TriageService) -> None:
    data = await state.get_data()
    photos = list(data.get("photos") or [])
    if len(photos) >= 10:
        await message.answer(_("That's 10 photos, the most I can take. Add a note, or resolve now:"),
                             reply_markup=markup(skip_note_buttons(int(data["issue_id"]))))
        return
    assert message.photo
    photos.append(message.photo[-1].file_id)
    group = message.media_group_id
    same_album = group is not None and group == data.get("album")
    await state.update_data(photos=photos, album=group)
    await state.set_state(TriageFlow.resolve_note)
    if same_album:
        return  # one answer per album: its items arrive as separate messages
    await message.answer(_("Got it. Add a note for the reporter (what was done), or resolve now:"),
                         reply_markup=markup(skip_note_buttons(int(data["issue_id"]))))


@router.message(TriageFlow.resolve_photo, F.document)
async def resolve_document(message: Message) -> None:
    await message.answer(_("Please send it as a photo, not as a file.") + "\n" +
                         _("Send a photo of the place now that it is fixed (the \"after\" photo)."),
                         reply_markup=cancel_kb())


@router.message(TriageFlow.resolve_photo)
async def resolve_wrong(message: Message) -> None:
    await message.answer(_("Please send a photo of the fixed problem (the \"after\" photo).") + "\n" +
                         _("Send a photo of the place now that it is fixed (the \"after\" photo)."),
                         reply_markup=cancel_kb())


async def _resolve(message: Message, state: FSMContext, actor: Actor, triage: TriageService,
                   note: str | None) -> None:
    data = await state.get_data()
    issue_id = int(data["issue_id"])
    try:
        outcome = await triage.resolve(actor, issue_id, list(data.get("photos") or []), note)
    except InvalidInput as exc:
        await message.answer(input_error(exc.reason) + "\n" + _("Add a note for the reporter, or resolve now:"),
                             reply_markup=markup(skip_note_buttons(issue_id)))
        return
    await state.clear()
    head = await headline(triage, outcome.issue)
    if outcome.changed:
        await message.answer(_("✅ {headline} is marked fixed. I've sent the before and after photos to the "
                               "reporter and asked them to confirm.").format(headline=head))
    else:
        await message.answer(_("{headline} is already {status}: nothing changed.").format(
            headline=head, status=status_label(outcome.issue.status)))


@router.message(TriageFlow.resolve_note, F.text & ~F.text.startswith("/"))
async def resolve_note(message: Message, state: FSMContext, actor: Actor, triage: TriageService) -> None:
    await _resolve(message, state, actor, triage, message.text)


@router.message(TriageFlow.resolve_note)
async def resolve_note_wrong(message: Message, state: FSMContext) -> None:
    data = await state.get_data()
    await message.answer(_("Please write the note as text, or resolve now:"),
                         reply_markup=markup(skip_note_buttons(int(data["issue_id"]))))


@router.callback_query(IssueCb.filter(F.action == "rsv"))
async def resolve_now(query: CallbackQuery, callback_data: IssueCb, state: FSMContext, actor: Actor,
                      triage: TriageService) -> None:
    message = await _step_button(query, callback_data, state, TriageFlow.resolve_note)
    if message is not None:
        await _resolve(message, state, actor, triage, None)


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


@router.message(TriageFlow.deadline_date)
async def deadline_date(message: Message, state: FSMContext, actor: Actor, triage: TriageService) -> None:
    outcome = await _text_step(message, state, _("By which date must it be fixed?"),
                               lambda text, issue_id: triage.deadline_on(actor, issue_id, text))
    if outcome is None:
        return
    community = await triage.community_of(outcome.issue)
    await message.answer(_("⏰ {headline}: deadline {when}. I'll remind whoever works on it.").format(
        headline=await headline(triage, outcome.issue),
        when=when_text(outcome.issue.deadline_at, community.timezone, triage.clock())))


@router.message(TriageFlow.duplicate_ref)
async def duplicate_ref(message: Message, state: FSMContext, actor: Actor, triage: TriageService) -> None:
    outcome = await _text_step(message, state, None,
                               lambda text, issue_id: triage.mark_duplicate(actor, issue_id, text))
    if outcome is None:
        return
    head = await headline(triage, outcome.issue)
    if outcome.changed and outcome.other is not None:
        await message.answer(_("🔗 {headline} is closed as a duplicate of {original}; its followers now follow "
                               "{original}.").format(headline=head, original=outcome.other.hashtag))
    else:
        await message.answer(_("{headline} is already {status}: nothing changed.").format(
            headline=head, status=status_label(outcome.issue.status)))


@router.message(TriageFlow.note_text)
async def note_text(message: Message, state: FSMContext, actor: Actor, triage: TriageService) -> None:
    public = bool((await state.get_data()).get("public"))
    outcome = await _text_step(message, state, _("Please write the note again."),
                               lambda text, issue_id: triage.add_note(actor, issue_id, text, public=public))
    if outcome is None:
        return
    head = await headline(triage, outcome.issue)
    await message.answer(_("📢 Note added to {headline} and sent to its followers.").format(headline=head) if public
                         else _("🔒 Internal note added to {headline}.").format(headline=head))


@router.message(TriageFlow.ask_text)
async def ask_text(message: Message, state: FSMContext, actor: Actor, triage: TriageService) -> None:
    outcome = await _text_step(message, state, _("Please write your question again."),
                               lambda text, issue_id: triage.ask(actor, issue_id, text), final=("no_reporter",))
    if outcome is None:
        return
    await message.answer(_("❓ Question sent to the reporter of {headline}. Their answer will appear under the "
                           "card.").format(headline=await headline(triage, outcome.issue)))


# ---------------------------------------------------------------------------- the reporter's side


@router.callback_query(IssueCb.filter(F.action == "confirm"))
async def on_confirm(query: CallbackQuery, callback_data: IssueCb, member: Member, triage: TriageService) -> None:
    try:
        outcome = await triage.confirm(member, callback_data.id)
    except NotAllowed as exc:
        await denied(query, triage, callback_data.id, exc)
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
    try:
        outcome = await triage.rate(member, callback_data.id, score)
    except NotAllowed as exc:
        await denied(query, triage, callback_data.id, exc)
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
    try:
        issue = await triage.can_reopen(member, callback_data.id)
    except NotAllowed as exc:
        await denied(query, triage, callback_data.id, exc)
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


# ---------------------------------------------------------------------------- /queue


def queue_markup(page: Any, status: str, cat: str, community_of: dict[int, Any], cg: int = 0
                 ) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    for issue in page.issues:
        label = f"{issue.hashtag} {category_label(community_of.get(issue.community_id), issue.category)}"
        if issue.urgent:
            label = "❗ " + label
        rows.append([InlineKeyboardButton(text=shorten(label, 60), callback_data=queue_cb(cg,
            status=status, cat=cat, page=page.page, open=issue.id).pack())])
    filters = [InlineKeyboardButton(text=("• " if f == status else "") + queue_filter_label(f),
                                    callback_data=queue_cb(cg, status=f, cat=cat).pack()) for f in QUEUE_FILTERS]
    rows.append(filters[:3])
    rows.append(filters[3:])
    if page.categories:
        cats = [InlineKeyboardButton(text=("• " if not cat else "") + _("All kinds"),
                                     callback_data=queue_cb(cg, status=status).pack())]
        for key in page.categories[:8]:
            if len(key.encode()) > 24:
                continue
            label = category_label(next(iter(community_of.values()), None), key)
            cats.append(InlineKeyboardButton(text=("• " if key == cat else "") + shorten(label, 20),
                                             callback_data=queue_cb(cg, status=status, cat=key).pack()))
        for i in range(0, len(cats), 3):
            rows.append(cats[i:i + 3])
    if page.pages > 1:
        nav = []
        if page.page > 0:
            nav.append(InlineKeyboardButton(text="◀️", callback_data=queue_cb(cg, status=status, cat=cat,
                                                                            page=page.page - 1).pack()))
        nav.append(InlineKeyboardButton(text=f"{page.page + 1}/{page.pages}",
                                        callback_data=queue_cb(cg, status=status, cat=cat, page=page.page).pack()))
        if page.page + 1 < page.pages:
            nav.append(InlineKeyboardButton(text="▶️", callback_data=queue_cb(cg, status=status, cat=cat,
                                                                            page=page.page + 1).pack()))
        rows.append(nav)
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def queue_screen(triage: TriageService, actor: Actor, status: str, cat: str, page_no: int, cg: int = 0
                       ) -> tuple[str, InlineKeyboardMarkup]:
    page = await triage.queue(actor, status=status, category=cat, page=page_no, campaign=cg)
    communities: dict[int, Any] = {}
    lines = [_("📥 <b>Open reports in your places</b> · {filter}").format(filter=queue_filter_label(status))]
    if cg:
        from bot.services.campaigns import CampaignsService

        try:
            lines[0] += " · 🎯 " + esc((await CampaignsService(triage.session, triage.clock).get(cg)).name)
        except LookupError:
            pass
    if cat:
        first = page.issues[0] if page.issues else None
        community = await triage.community_of(first) if first else None
        lines[0] += f" · {esc(category_label(community, cat))}"
    now = triage.clock()
    for issue in page.issues:
        community = communities.get(issue.community_id) or await triage.community_of(issue)
        communities[issue.community_id] = community
        parts = [f"<b>{issue.hashtag}</b> {esc(category_label(community, issue.category))}",
                 esc(await triage.place_name(issue)), status_label(issue.status)]
        if issue.deadline_at is not None and issue.status in IssueStatus.OPEN:
            due = when_text(issue.deadline_at, community.timezone, now)
            if issue.deadline_moved and issue.first_deadline_at is not None:
                due += " " + _("(first deadline {when})").format(
                    when=when_text(issue.first_deadline_at, community.timezone, now))
            overdue = issue.deadline_at < now or issue.missed_deadline_at is not None
            parts.append(("⚠️ " if overdue else "⏰ ") + due)
        lines.append(("❗ " if issue.urgent else "· ") + " · ".join(parts))
    if not page.issues:
        lines.append(_("Nothing here. 🎉"))
    else:
        lines.append(_("{n} in all. Tap one to work on it.").format(n=page.total))
    return "\n".join(lines), queue_markup(page, status, cat, communities, cg)


@router.message(Command("queue"), F.chat.type == "private")
@router.callback_query(MenuCb.filter(F.action == "queue"))
async def queue_cmd(event: Message | CallbackQuery, actor: Actor, triage: TriageService) -> None:
    message = event if isinstance(event, Message) else event.message
    try:
        text, kb = await queue_screen(triage, actor, "open", "", 0)
    except NotAllowed:
        text, kb = _("The queue is for building captains, area heads and office staff."), None
    if isinstance(event, CallbackQuery):
        await event.answer()
    if isinstance(message, Message):
        await message.answer(text, reply_markup=kb)


@router.message(Command("queue"))
async def queue_in_group(message: Message) -> None:
    await message.answer(_("Please use /queue in a private chat with me."))


@router.callback_query(QueueCb.filter())
@router.callback_query(CampaignQueueCb.filter())
async def queue_page(query: CallbackQuery, callback_data: QueueCb | CampaignQueueCb, actor: Actor,
                     triage: TriageService) -> None:
    cg = getattr(callback_data, "cg", 0)
    message = query.message
    if not isinstance(message, Message):
        await query.answer()
        return
    if not is_private(message):
        # Queue buttons exist only in private chats; a forged one in a group shows nothing there.
        await query.answer(_("Please use /queue in a private chat with me."), show_alert=True)
        return
    status = callback_data.status if callback_data.status in QUEUE_FILTERS else "open"
    if callback_data.open:
        try:
            issue = await triage.check(actor, callback_data.open)
            text = await triage.view(actor, issue.id, private=True)
        except NotAllowed as exc:
            await denied(query, triage, callback_data.open, exc)
            return
        rows = [*triage_buttons(issue), [(_("⬅️ Queue"), queue_cb(cg, status=status, cat=callback_data.cat,
                                                                   page=callback_data.page).pack())]]
        await query.answer()
        await message.edit_text(text, reply_markup=markup(rows))
        return
    try:
        text, kb = await queue_screen(triage, actor, status, callback_data.cat, callback_data.page, cg)
    except NotAllowed as exc:
        await denied(query, triage, 0, exc)
        return
    await query.answer()
    try:
        await message.edit_text(text, reply_markup=kb)
    except TelegramBadRequest:
        pass
