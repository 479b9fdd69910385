"""The private steps the card's buttons continue in: the after photo and note, a date, a duplicate's
reference, a note, a question to the reporter."""

from __future__ import annotations

from aiogram import F
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.i18n import _
from bot.keyboards.common import cancel_kb
from bot.keyboards.issues import (
    IssueCb,
    markup,
    skip_note_buttons,
)
from bot.notices.cards import fmt_when as when_text
from bot.notices.cards import status_label
from bot.services.access import Actor
from bot.services.triage import InvalidInput, TriageService
from handlers.triage.common import (
    TriageFlow,
    _step_button,
    _text_step,
    headline,
    input_error,
    router,
)

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


