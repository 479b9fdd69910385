"""The report conversation's steps: photos, kind of problem, place, description, the duplicate check,
the preview with its edits, sending and cancelling. Each step stores the answer in the draft and asks
the next question through `ask` (questions.py); a button's answer goes through `next_question`."""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyKeyboardRemove

from bot.i18n import _, current_locale
from bot.keyboards.common import main_menu
from bot.keyboards.reporting import ReportCb, buildings_kb, categories_kb, edit_kb, photos_kb
from bot.rendering import esc
from bot.services.access import Actor
from bot.services.limits import DailyLimitReached
from bot.services.reporting import MAX_DESCRIPTION, Draft, ReportingService, TooFar, categories, category
from handlers.errors import limit_text
from handlers.reporting.questions import (
    Report,
    ask,
    done_with,
    load_draft,
    next_question,
    no_community_text,
    photos_lead,
    photos_question,
    take_photo,
    too_long,
    with_lead,
)
from models import Issue, Member

router = Router(name=__name__)

MAX_FILE_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download


@router.message(StateFilter(None), F.photo)
async def quick_report(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    """A photo sent outside any flow starts a report; its caption becomes the description."""
    await _photo_taken(message, state, Draft(), reporting, member)


@router.message(StateFilter(Report.photos, Report.category), F.photo)
async def photo_in_flow(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    await _photo_taken(message, state, await load_draft(state), reporting, member)


async def _photo_taken(
    message: Message, state: FSMContext, draft: Draft, reporting: ReportingService, member: Member
) -> None:
    dropped, lead = take_photo(draft, message)
    await ask(message, state, draft, reporting, member, lead=with_lead(photos_lead(draft, dropped), lead).strip())


@router.callback_query(Report.photos, ReportCb.filter(F.action == "nophoto"))
async def no_photo(query: CallbackQuery, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    draft = await load_draft(state)
    draft.photos_done = True
    await next_question(query, state, draft, reporting, member, _("No photo."))


@router.message(Report.photos, F.document)
async def document_instead_of_photo(message: Message, state: FSMContext) -> None:
    doc = message.document
    assert doc is not None
    if (doc.file_size or 0) > MAX_FILE_BYTES:
        lead = _("This file is too big for me (the limit is 20 MB). Please send a photo instead.")
    elif (doc.mime_type or "").startswith("image/"):
        lead = _("Please send it as a photo, not as a file.")
    else:
        lead = _("I need a photo, not a file.")
    await message.answer(with_lead(lead, photos_question()), reply_markup=photos_kb())


@router.message(Report.photos, ~F.text.startswith("/"))
async def wrong_photo(message: Message) -> None:
    await message.answer(
        with_lead(_("Please send a photo, or tap «No photo»."), photos_question()), reply_markup=photos_kb()
    )


# ---------------------------------------------------------------------------------- category


@router.callback_query(Report.category, ReportCb.filter(F.action == "catpage"))
async def category_page(
    query: CallbackQuery, callback_data: ReportCb, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    community = await reporting.community_for(member, await load_draft(state))
    await _turn_page(query, categories_kb(categories(community), _page(callback_data)))


def _page(callback_data: ReportCb) -> int:
    return int(callback_data.arg) if callback_data.arg.isdigit() else 0


async def _turn_page(query: CallbackQuery, markup: InlineKeyboardMarkup | None) -> None:
    """Another page of a question's buttons, in place."""
    if markup is not None and isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=markup)
    await query.answer()


@router.callback_query(Report.category, ReportCb.filter(F.action == "cat"))
async def category_chosen(
    query: CallbackQuery, callback_data: ReportCb, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    draft = await load_draft(state)
    community = await reporting.community_for(member, draft)
    keys = {c.key for c in categories(community)}
    if callback_data.arg not in keys:
        await query.answer(_("Please choose one of the buttons."), show_alert=True)
        return
    if draft.category != callback_data.arg:
        draft.duplicates_done = False
    draft.category = callback_data.arg
    chosen = category(community, draft.category).button(current_locale())
    await next_question(query, state, draft, reporting, member, chosen)


@router.message(Report.category, ~F.text.startswith("/"))
async def wrong_category(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    await _ask_again(message, state, reporting, member, _("Please choose the kind of problem with a button."))


# ---------------------------------------------------------------------------------- place


@router.message(Report.place, F.location)
async def place_location(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    draft = await load_draft(state)
    assert message.location is not None
    lat, lon = message.location.latitude, message.location.longitude
    community = await reporting.community_for(member, draft)
    if community is None:
        await state.clear()
        await message.answer(no_community_text(), reply_markup=ReplyKeyboardRemove())
        return
    try:
        building = await reporting.locate(community.id, lat, lon)
    except TooFar as exc:
        far = _(
            "This location is {km} km from {community}. Please send a location in the community, or choose "
            "the building."
        ).format(km=f"{exc.distance / 1000:.0f}" if exc.distance < 1e8 else "?", community=esc(community.name))
        await ask(message, state, draft, reporting, member, lead=far)
        return
    draft.lat, draft.lon = lat, lon
    draft.building_id = building.id if building else None
    draft.place_done = True
    draft.duplicates_done = False
    place = (
        _("📍 Location received, near {building}.").format(building=esc(building.name))
        if building
        else _("📍 Location received.")
    )
    await message.answer(place, reply_markup=ReplyKeyboardRemove())
    await ask(message, state, draft, reporting, member)


@router.callback_query(Report.place, ReportCb.filter(F.action == "bldpage"))
async def place_page(
    query: CallbackQuery, callback_data: ReportCb, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    community = await reporting.community_for(member, await load_draft(state))
    markup = None
    if community is not None:
        own, others = await reporting.place_choices(member, community.id)
        markup = buildings_kb(own, others, show_others=True, page=_page(callback_data))
    await _turn_page(query, markup)


@router.callback_query(Report.place, ReportCb.filter(F.action == "bld"))
async def place_building(
    query: CallbackQuery, callback_data: ReportCb, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    draft = await load_draft(state)
    community = await reporting.community_for(member, draft)
    if community is None or not callback_data.arg.isdigit():
        await query.answer(_("Please choose one of the buttons."), show_alert=True)
        return
    building = await reporting.building(int(callback_data.arg), community.id)  # LookupError → polite answer
    draft.building_id, draft.lat, draft.lon = building.id, None, None
    draft.place_done = True
    draft.duplicates_done = False
    place = f"📍 {esc(building.name)}"
    await next_question(query, state, draft, reporting, member, place, note=place)


@router.message(Report.place, F.text.in_({"✖️ Cancel", "✖️ 取消"}))
@router.message(StateFilter(None), F.text.in_({"✖️ Cancel", "✖️ 取消"}))
async def cancel_from_reply_keyboard(message: Message, state: FSMContext, actor: Actor) -> None:
    had = await state.get_state()
    await state.clear()
    text = _("Cancelled. Nothing was sent.") if had else _("There is nothing to cancel.")
    await message.answer(text, reply_markup=ReplyKeyboardRemove())


@router.message(Report.place, ~F.text.startswith("/"))
async def wrong_place(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    await _ask_again(
        message, state, reporting, member, _("Please send a location pin or choose the building with a button.")
    )


@router.message(StateFilter(None), F.location)
async def stray_location(message: Message) -> None:
    await message.answer(
        _("Thanks — to report a problem there, send /report first."), reply_markup=ReplyKeyboardRemove()
    )


# ---------------------------------------------------------------------------------- description


@router.message(Report.description, F.text, ~F.text.startswith("/"))
async def description_text(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    draft = await load_draft(state)
    text = (message.text or "").strip()
    if len(text) > MAX_DESCRIPTION:
        await ask(message, state, draft, reporting, member, lead=too_long(len(text)))
        return
    draft.description, draft.description_done = text or None, True
    await ask(message, state, draft, reporting, member)


@router.callback_query(Report.description, ReportCb.filter(F.action == "skip"))
async def description_skip(
    query: CallbackQuery, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    draft = await load_draft(state)
    draft.description, draft.description_done = None, True
    await next_question(query, state, draft, reporting, member, _("No description."))


@router.message(Report.description, ~F.text.startswith("/"))
async def wrong_description(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    await _ask_again(message, state, reporting, member, _("Please type the description as text, or tap Skip."))


# ---------------------------------------------------------------------------------- duplicates


@router.callback_query(Report.duplicates, ReportCb.filter(F.action == "same"))
async def duplicate_same(
    query: CallbackQuery,
    callback_data: ReportCb,
    state: FSMContext,
    member: Member,
    actor: Actor,
    reporting: ReportingService,
) -> None:
    offered = (await load_draft(state)).offered
    issue, _newly = await reporting.follow(member, actor, int(callback_data.arg or 0), offered=offered)
    await _ended_without_new(
        query,
        state,
        actor,
        _("Same as {ref}.").format(ref=issue.hashtag),
        _("Thank you! You now follow {ref}; I'll tell you when it changes. Nothing new was filed.").format(
            ref=issue.hashtag
        ),
    )


@router.callback_query(Report.duplicates, ReportCb.filter(F.action == "rebound"))
async def duplicate_rebound(
    query: CallbackQuery,
    callback_data: ReportCb,
    state: FSMContext,
    member: Member,
    actor: Actor,
    reporting: ReportingService,
) -> None:
    draft = await load_draft(state)
    issue, _changed = await reporting.reopen_rebound(
        member, actor, int(callback_data.arg or 0), offered=draft.offered, photos=draft.photos, note=draft.description
    )
    await _ended_without_new(
        query,
        state,
        actor,
        _("It came back: {ref}.").format(ref=issue.hashtag),
        _("Thank you! {ref} is reopened and back with the captains; I'll tell you when someone takes it on.").format(
            ref=issue.hashtag
        ),
    )


async def _ended_without_new(query: CallbackQuery, state: FSMContext, actor: Actor, summary: str, thanks: str) -> None:
    """The report joined an issue already filed (followed or reopened): the conversation ends here."""
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await done_with(query.message, summary)
        await query.message.answer(thanks, reply_markup=main_menu(actor.top_level))


@router.callback_query(Report.duplicates, ReportCb.filter(F.action == "new"))
async def duplicate_new(query: CallbackQuery, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    draft = await load_draft(state)
    draft.duplicates_done = True
    await next_question(query, state, draft, reporting, member, _("A new problem."))


@router.message(Report.duplicates, ~F.text.startswith("/"))
async def wrong_duplicate(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    draft = await load_draft(state)
    draft.duplicates_done = False
    await ask(message, state, draft, reporting, member, lead=_("Please answer with one of the buttons."))


# ---------------------------------------------------------------------------------- preview, edit, send


@router.callback_query(ReportCb.filter(F.action == "send"))
async def send(
    query: CallbackQuery,
    callback_data: ReportCb,
    state: FSMContext,
    member: Member,
    actor: Actor,
    reporting: ReportingService,
) -> None:
    draft = await load_draft(state)
    current = await state.get_state()
    if current != Report.preview.state or draft.token != callback_data.arg:
        done = await reporting.by_token(callback_data.arg)
        if done is not None:
            await query.answer(_("Already sent as {ref}.").format(ref=done.hashtag))
        else:
            await query.answer(_("This report is no longer open. Send /report to start again."), show_alert=True)
        return
    try:
        created = await reporting.create(member, actor, draft)
    except DailyLimitReached as exc:
        # The draft stays: after midnight it can still be sent, or cancelled now.
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(limit_text(exc))
        return
    await state.clear()
    issue = created.issue
    await query.answer()
    if not isinstance(query.message, Message):
        return
    with contextlib.suppress(TelegramBadRequest):
        await query.message.edit_reply_markup(reply_markup=None)
    await query.message.answer(
        await _confirmation(
            issue,
            created.published.kind if created.published else "team",
            created.published.place_name if created.published else "",
        ),
        reply_markup=main_menu(actor.top_level),
    )


async def _confirmation(issue: Issue, kind: str, place: str) -> str:
    if kind in ("team", "captains"):
        text = _(
            "Thank you! Your report is {ref}. The captains of {place} have it now; I'll tell you when someone "
            "takes it on."
        ).format(ref=issue.hashtag, place=esc(place))
    else:
        text = _(
            "Thank you! Your report is {ref}. The community office has it now; I'll tell you when someone takes it on."
        ).format(ref=issue.hashtag)
    if issue.urgent:
        text += "\n" + _("🚨 If anyone is in danger, call emergency services first: 119 fire, 110 police.")
    text += "\n" + _("Follow it with /my, or send /issue {ref}.").format(ref=issue.reference)
    return text


@router.callback_query(Report.preview, ReportCb.filter(F.action == "edit"))
@router.callback_query(Report.edit, ReportCb.filter(F.action == "edit"))
async def edit_menu(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(Report.edit)
    await query.answer()
    if isinstance(query.message, Message):
        await done_with(query.message, None)
        await query.message.answer(_("What do you want to change?"), reply_markup=edit_kb())


@router.callback_query(Report.edit, ReportCb.filter(F.action == "editf"))
async def edit_field(
    query: CallbackQuery, callback_data: ReportCb, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    draft = await load_draft(state)
    field_ = callback_data.arg
    if field_ == "photos":
        draft.photos, draft.photos_done = [], False
    elif field_ == "category":
        draft.category, draft.duplicates_done = None, False
    elif field_ == "place":
        draft.place_done, draft.building_id, draft.lat, draft.lon, draft.duplicates_done = (
            False,
            None,
            None,
            None,
            False,
        )
    elif field_ == "description":
        draft.description, draft.description_done = None, False
    draft.editing = True
    await next_question(query, state, draft, reporting, member, None)


@router.callback_query(Report.edit, ReportCb.filter(F.action == "back"))
async def edit_back(query: CallbackQuery, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    await next_question(query, state, await load_draft(state), reporting, member, None)


@router.message(StateFilter(Report.preview, Report.edit), ~F.text.startswith("/"))
async def wrong_preview(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    if await state.get_state() == Report.edit.state:
        await message.answer(
            with_lead(_("Please choose with a button."), _("What do you want to change?")), reply_markup=edit_kb()
        )
        return
    await _ask_again(message, state, reporting, member, _("Please tap ✅ Send, ✏️ Edit or ✖️ Cancel."))


async def _ask_again(
    message: Message, state: FSMContext, reporting: ReportingService, member: Member, lead: str
) -> None:
    """Something that does not answer the question: ask it again, saying what was wrong first."""
    await ask(message, state, await load_draft(state), reporting, member, lead=lead)


@router.callback_query(ReportCb.filter(F.action == "cancel"))
async def cancel(query: CallbackQuery, state: FSMContext) -> None:
    had = await state.get_state()
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await done_with(query.message, None)
        remove = ReplyKeyboardRemove() if had == Report.place.state else None
        await query.message.answer(
            _("Cancelled. Nothing was sent.") if had else _("There is nothing to cancel."), reply_markup=remove
        )


@router.callback_query(ReportCb.filter())
async def stale_step(query: CallbackQuery) -> None:
    await query.answer(_("This step is over. Send /report to start again."), show_alert=True)
