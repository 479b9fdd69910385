"""/report and the quick report (a photo with a caption), /my, /issue, and a person's own view of an
issue (follow, edit the description, withdraw). The rules live in bot/services/reporting.py; the draft
lives in the FSM data (database), so a half-written report survives a restart.

Albums: Telegram sends each photo of an album as its own message with one media_group_id. Each item is
stored in the draft at once (durable); a short debounce per album then asks the next question once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import CallbackQuery, InputMediaPhoto, Message, ReplyKeyboardRemove

from bot.db import current_session
from bot.i18n import _, ngettext, use_locale
from bot.keyboards.common import MenuCb, main_menu
from bot.keyboards.issues import IssueCb
from bot.keyboards.reporting import (
    MyCb,
    ReportCb,
    buildings_kb,
    categories_kb,
    description_kb,
    duplicate_kb,
    edit_kb,
    issue_view_kb,
    location_reply_kb,
    my_kb,
    photos_kb,
    preview_kb,
    withdraw_confirm_kb,
)
from bot.rendering import esc, render
from bot.services.access import Actor, can
from bot.services.cards import CardService, fmt_date, status_label
from bot.services.lifecycle import IssueAction, allows
from bot.services.limits import DailyLimitReached
from bot.services.reporting import (
    MAX_DESCRIPTION,
    MAX_PHOTOS,
    Draft,
    ReportingService,
    TooFar,
    categories,
    category,
    issue_place,
    parse_reference,
)
from handlers.errors import limit_text
from models import Issue, Member

log = logging.getLogger(__name__)
router = Router(name=__name__)
router.message.filter(F.chat.type == "private")

MAX_FILE_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download
ALBUM_DELAY = 1.2  # seconds of quiet after the last album item before answering once


class Report(StatesGroup):
    photos = State()
    category = State()
    place = State()
    description = State()
    duplicates = State()
    preview = State()
    edit = State()


class IssueEdit(StatesGroup):
    description = State()


FLOW = (
    Report.photos,
    Report.category,
    Report.place,
    Report.description,
    Report.duplicates,
    Report.preview,
    Report.edit,
)


# ---------------------------------------------------------------------------------- drafts in the FSM


async def _draft(state: FSMContext) -> Draft:
    return Draft.from_dict(await state.get_data())


async def _save(state: FSMContext, draft: Draft) -> None:
    await state.update_data(draft.to_dict())


def _no_community_text() -> str:
    return _("To report a problem, first join your building: send /start.")


def _with_lead(lead: str, question: str) -> str:
    return f"{lead}\n\n{question}" if lead else question


async def _ask(
    msg: Message, state: FSMContext, draft: Draft, reporting: ReportingService, member: Member, *, lead: str = ""
) -> None:
    """Ask for the first thing the draft is missing (or show the duplicate check / the preview)."""
    community = await reporting.community_for(member, draft)
    if community is None:
        await state.clear()
        await msg.answer(_no_community_text())
        return
    draft.community_id = community.id
    step = draft.next_step()
    if step == "duplicates":
        dups = await reporting.duplicates(community.id, draft, viewer=member)
        if not dups:
            draft.duplicates_done = True
            step = "preview"
        else:
            # The answer buttons carry the issue id; only the one asked about is accepted on press.
            draft.offered = [dups[0].issue.id]
            await state.set_state(Report.duplicates)
            await _save(state, draft)
            await msg.answer(
                _with_lead(
                    lead, _duplicate_text(dups[0].issue, dups[0].building_name, dups[0].is_open, community, reporting)
                ),
                reply_markup=duplicate_kb(dups[0].issue.id, dups[0].is_open),
            )
            return
    await state.set_state(getattr(Report, step))
    await _save(state, draft)
    if step == "photos":
        await msg.answer(_with_lead(lead, _photos_question()), reply_markup=photos_kb())
    elif step == "category":
        await msg.answer(
            _with_lead(lead, _("What kind of problem is it?")), reply_markup=categories_kb(categories(community))
        )
    elif step == "place":
        own, others = await reporting.place_choices(member, community.id)
        await msg.answer(
            _with_lead(lead, _("📍 Where is it? Tap «📍 Send my location» below, or send a location pin.")),
            reply_markup=location_reply_kb(),
        )
        await msg.answer(_("…or choose the building:"), reply_markup=buildings_kb(own, others, show_others=False))
    elif step == "description":
        await msg.answer(
            _with_lead(lead, _("📝 Anything to add? Where exactly, since when (up to 1000 characters) — or tap Skip.")),
            reply_markup=description_kb(),
        )
    else:
        await msg.answer(
            _with_lead(lead, await _preview_text(draft, reporting, community)), reply_markup=preview_kb(draft.token)
        )


def _photos_question() -> str:
    return _("📷 Send one or more photos of the problem (up to 10).")


def _days_ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return ""
    days = (now - then).days
    if days <= 0:
        return _("today")
    if days == 1:
        return _("yesterday")
    return ngettext("%(num)d day ago", "%(num)d days ago", days)


def _duplicate_text(
    issue: Issue, building: str | None, is_open: bool, community: object, reporting: ReportingService
) -> str:
    cat = category(community, issue.category)  # type: ignore[arg-type]
    place = esc(building) if building else ""
    now = reporting.clock()
    if is_open:
        return _("Someone reported something similar {ago}: {ref} {label}{place}, {status}. Is it the same?").format(
            ago=_days_ago(issue.created_at, now),
            ref=issue.hashtag,
            label=esc(cat.label()),
            place=f", {place}" if place else "",
            status=status_label(issue.status),
        )
    return _("Something similar was fixed {ago}: {ref} {label}{place}. Has it come back?").format(
        ago=_days_ago(issue.closed_at or issue.resolved_at, now),
        ref=issue.hashtag,
        label=esc(cat.label()),
        place=f", {place}" if place else "",
    )


async def _place_text(draft: Draft, reporting: ReportingService) -> str:
    name = ""
    if draft.building_id is not None:
        with contextlib.suppress(LookupError):
            name = (await reporting.building(draft.building_id)).name
    if draft.lat is not None and draft.lon is not None:
        pin = _("location pin")
        return f"{name} ({pin})" if name else pin
    return name or "—"


async def _preview_text(draft: Draft, reporting: ReportingService, community: object) -> str:
    cat = category(community, draft.category or "other")  # type: ignore[arg-type]
    return render(
        "reporting_preview.html.j2",
        emoji=cat.emoji,
        label=cat.label(),
        urgent=cat.urgent,
        place=await _place_text(draft, reporting),
        description=draft.description or "",
        photos=len(draft.photos),
    )


def _photos_lead(draft: Draft, dropped: int = 0) -> str:
    if not draft.photos:
        return _("No photo — that's fine.")
    lead = ngettext("Got %(num)d photo.", "Got %(num)d photos.", len(draft.photos))
    if dropped:
        lead += " " + _("I kept the first {n}.").format(n=MAX_PHOTOS)
    return lead


def _caption_into(draft: Draft, caption: str | None) -> str:
    """A caption sent with the photos is the description (the quick report). Returns a lead line."""
    if not caption or draft.description_done:
        return ""
    text = caption.strip()
    if len(text) > MAX_DESCRIPTION:
        return _(
            "Your caption is too long for a description ({n} characters); I'll ask for a shorter one in a moment."
        ).format(n=len(text))
    if text:
        draft.description, draft.description_done = text, True
    return ""


def _best_photo(message: Message) -> str | None:
    return message.photo[-1].file_id if message.photo else None


# ---------------------------------------------------------------------------------- starting


async def begin_report(
    message_or_query: Message | CallbackQuery,
    state: FSMContext,
    *,
    building_id: int | None = None,
    shift_id: int | None = None,
    cleaning_day_id: int | None = None,
) -> None:
    """Start the report flow, optionally pre-filled (a patrol finding, a cleaning-day problem): the
    building is then known and the issue is linked to the shift / cleaning day."""
    await state.clear()
    draft = Draft(
        building_id=building_id, place_done=building_id is not None, shift_id=shift_id, cleaning_day_id=cleaning_day_id
    )
    await state.set_state(Report.photos)
    await _save(state, draft)
    message = message_or_query if isinstance(message_or_query, Message) else message_or_query.message
    if isinstance(message_or_query, CallbackQuery):
        await message_or_query.answer()
        if not isinstance(message, Message) or message.chat.type != "private":
            # Pressed in a group: the flow continues in the presser's private chat.
            bot = message_or_query.bot
            assert bot is not None
            with contextlib.suppress(TelegramForbiddenError, TelegramBadRequest):
                await bot.send_message(message_or_query.from_user.id, _photos_question(), reply_markup=photos_kb())
            return
    if isinstance(message, Message):
        await message.answer(_photos_question(), reply_markup=photos_kb())


@router.message(Command("report"))
async def cmd_report(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    if await reporting.community_for(member) is None:
        await state.clear()
        await message.answer(_no_community_text())
        return
    await begin_report(message, state)


@router.callback_query(MenuCb.filter(F.action == "report"))
async def menu_report(query: CallbackQuery, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    if await reporting.community_for(member) is None:
        await query.answer(_no_community_text(), show_alert=True)
        return
    await begin_report(query, state)


# ---------------------------------------------------------------------------------- photos


@router.message(StateFilter(None, Report.photos, Report.category), F.photo, F.media_group_id)
async def album_item(message: Message, state: FSMContext, bot: Bot, dispatcher: Dispatcher) -> None:
    """One photo of an album: store it now, answer once when the album is complete."""
    draft = await _draft(state) if await state.get_state() else Draft()
    if await state.get_state() is None:
        await state.set_state(Report.photos)
    file_id = _best_photo(message)
    draft.add_photos([file_id] if file_id else [])
    draft.photos_done = True
    lead = _caption_into(draft, message.caption)
    draft.album = str(message.media_group_id)
    draft.album_seq += 1
    data = draft.to_dict()
    if lead:
        data["album_lead"] = lead
    await state.update_data(data)
    albums.schedule(dispatcher, bot, state.key, str(message.media_group_id), message)


@router.message(StateFilter(None), F.photo)
async def quick_report(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    """A photo sent outside any flow starts a report; its caption becomes the description."""
    draft = Draft()
    file_id = _best_photo(message)
    draft.add_photos([file_id] if file_id else [])
    draft.photos_done = True
    lead = _caption_into(draft, message.caption)
    await _ask(message, state, draft, reporting, member, lead=_with_lead(_photos_lead(draft), lead).strip())


@router.message(StateFilter(Report.photos, Report.category), F.photo)
async def photo_in_flow(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    draft = await _draft(state)
    file_id = _best_photo(message)
    dropped = draft.add_photos([file_id] if file_id else [])
    draft.photos_done = True
    lead = _caption_into(draft, message.caption)
    await _ask(message, state, draft, reporting, member, lead=_with_lead(_photos_lead(draft, dropped), lead).strip())


@router.callback_query(Report.photos, ReportCb.filter(F.action == "nophoto"))
async def no_photo(query: CallbackQuery, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    draft = await _draft(state)
    draft.photos_done = True
    await query.answer()
    if isinstance(query.message, Message):
        await _done_with(query.message, _("No photo."))
        await _ask(query.message, state, draft, reporting, member)


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
    await message.answer(_with_lead(lead, _photos_question()), reply_markup=photos_kb())


@router.message(Report.photos, ~F.text.startswith("/"))
async def wrong_photo(message: Message) -> None:
    await message.answer(
        _with_lead(_("Please send a photo, or tap «No photo»."), _photos_question()), reply_markup=photos_kb()
    )


# ---------------------------------------------------------------------------------- category


@router.callback_query(Report.category, ReportCb.filter(F.action == "catpage"))
async def category_page(
    query: CallbackQuery, callback_data: ReportCb, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    community = await reporting.community_for(member, await _draft(state))
    page = int(callback_data.arg) if callback_data.arg.isdigit() else 0
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=categories_kb(categories(community), page))
    await query.answer()


@router.callback_query(Report.category, ReportCb.filter(F.action == "cat"))
async def category_chosen(
    query: CallbackQuery, callback_data: ReportCb, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    draft = await _draft(state)
    community = await reporting.community_for(member, draft)
    keys = {c.key for c in categories(community)}
    if callback_data.arg not in keys:
        await query.answer(_("Please choose one of the buttons."), show_alert=True)
        return
    if draft.category != callback_data.arg:
        draft.duplicates_done = False
    draft.category = callback_data.arg
    await query.answer()
    if isinstance(query.message, Message):
        await _done_with(query.message, category(community, draft.category).button())
        await _ask(query.message, state, draft, reporting, member)


@router.message(Report.category, ~F.text.startswith("/"))
async def wrong_category(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    draft = await _draft(state)
    await _ask(message, state, draft, reporting, member, lead=_("Please choose the kind of problem with a button."))


# ---------------------------------------------------------------------------------- place


@router.message(Report.place, F.location)
async def place_location(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    draft = await _draft(state)
    assert message.location is not None
    lat, lon = message.location.latitude, message.location.longitude
    community = await reporting.community_for(member, draft)
    if community is None:
        await state.clear()
        await message.answer(_no_community_text(), reply_markup=ReplyKeyboardRemove())
        return
    try:
        building = await reporting.locate(community.id, lat, lon)
    except TooFar as exc:
        far = _(
            "This location is {km} km from {community}. Please send a location in the community, or choose "
            "the building."
        ).format(km=f"{exc.distance / 1000:.0f}" if exc.distance < 1e8 else "?", community=esc(community.name))
        await _ask(message, state, draft, reporting, member, lead=far)
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
    await _ask(message, state, draft, reporting, member)


@router.callback_query(Report.place, ReportCb.filter(F.action == "bldpage"))
async def place_page(
    query: CallbackQuery, callback_data: ReportCb, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    community = await reporting.community_for(member, await _draft(state))
    if community is not None and isinstance(query.message, Message):
        own, others = await reporting.place_choices(member, community.id)
        page = int(callback_data.arg) if callback_data.arg.isdigit() else 0
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=buildings_kb(own, others, show_others=True, page=page))
    await query.answer()


@router.callback_query(Report.place, ReportCb.filter(F.action == "bld"))
async def place_building(
    query: CallbackQuery, callback_data: ReportCb, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    draft = await _draft(state)
    community = await reporting.community_for(member, draft)
    if community is None or not callback_data.arg.isdigit():
        await query.answer(_("Please choose one of the buttons."), show_alert=True)
        return
    building = await reporting.building(int(callback_data.arg), community.id)  # LookupError → polite answer
    draft.building_id, draft.lat, draft.lon = building.id, None, None
    draft.place_done = True
    draft.duplicates_done = False
    await query.answer()
    if isinstance(query.message, Message):
        await _done_with(query.message, f"📍 {esc(building.name)}")
        # The location keyboard has done its job: remove it before the next question.
        await query.message.answer(f"📍 {esc(building.name)}", reply_markup=ReplyKeyboardRemove())
        await _ask(query.message, state, draft, reporting, member)


@router.message(Report.place, F.text.in_({"✖️ Cancel", "✖️ 取消"}))
@router.message(StateFilter(None), F.text.in_({"✖️ Cancel", "✖️ 取消"}))
async def cancel_from_reply_keyboard(message: Message, state: FSMContext, actor: Actor) -> None:
    had = await state.get_state()
    await state.clear()
    text = _("Cancelled. Nothing was sent.") if had else _("There is nothing to cancel.")
    await message.answer(text, reply_markup=ReplyKeyboardRemove())


@router.message(Report.place, ~F.text.startswith("/"))
async def wrong_place(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    await _ask(
        message,
        state,
        await _draft(state),
        reporting,
        member,
        lead=_("Please send a location pin or choose the building with a button."),
    )


@router.message(StateFilter(None), F.location)
async def stray_location(message: Message) -> None:
    await message.answer(
        _("Thanks — to report a problem there, send /report first."), reply_markup=ReplyKeyboardRemove()
    )


# ---------------------------------------------------------------------------------- description


def _too_long(n: int) -> str:
    return _("That is {n} characters — please shorten it to 1000 or fewer.").format(n=n)


@router.message(Report.description, F.text, ~F.text.startswith("/"))
async def description_text(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    draft = await _draft(state)
    text = (message.text or "").strip()
    if len(text) > MAX_DESCRIPTION:
        await _ask(message, state, draft, reporting, member, lead=_too_long(len(text)))
        return
    draft.description, draft.description_done = text or None, True
    await _ask(message, state, draft, reporting, member)


@router.callback_query(Report.description, ReportCb.filter(F.action == "skip"))
async def description_skip(
    query: CallbackQuery, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    draft = await _draft(state)
    draft.description, draft.description_done = None, True
    await query.answer()
    if isinstance(query.message, Message):
        await _done_with(query.message, _("No description."))
        await _ask(query.message, state, draft, reporting, member)


@router.message(Report.description, ~F.text.startswith("/"))
async def wrong_description(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    await _ask(
        message,
        state,
        await _draft(state),
        reporting,
        member,
        lead=_("Please type the description as text, or tap Skip."),
    )


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
    offered = (await _draft(state)).offered
    issue, _newly = await reporting.follow(member, actor, int(callback_data.arg or 0), offered=offered)
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await _done_with(query.message, _("Same as {ref}.").format(ref=issue.hashtag))
        await query.message.answer(
            _("Thank you! You now follow {ref}; I'll tell you when it changes. Nothing new was filed.").format(
                ref=issue.hashtag
            ),
            reply_markup=main_menu(actor.top_level),
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
    draft = await _draft(state)
    issue, _changed = await reporting.reopen_rebound(
        member, actor, int(callback_data.arg or 0), offered=draft.offered, photos=draft.photos, note=draft.description
    )
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await _done_with(query.message, _("It came back: {ref}.").format(ref=issue.hashtag))
        await query.message.answer(
            _(
                "Thank you! {ref} is reopened and back with the captains; I'll tell you when someone takes it on."
            ).format(ref=issue.hashtag),
            reply_markup=main_menu(actor.top_level),
        )


@router.callback_query(Report.duplicates, ReportCb.filter(F.action == "new"))
async def duplicate_new(query: CallbackQuery, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    draft = await _draft(state)
    draft.duplicates_done = True
    await query.answer()
    if isinstance(query.message, Message):
        await _done_with(query.message, _("A new problem."))
        await _ask(query.message, state, draft, reporting, member)


@router.message(Report.duplicates, ~F.text.startswith("/"))
async def wrong_duplicate(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    draft = await _draft(state)
    draft.duplicates_done = False
    await _ask(message, state, draft, reporting, member, lead=_("Please answer with one of the buttons."))


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
    draft = await _draft(state)
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
        await _done_with(query.message, None)
        await query.message.answer(_("What do you want to change?"), reply_markup=edit_kb())


@router.callback_query(Report.edit, ReportCb.filter(F.action == "editf"))
async def edit_field(
    query: CallbackQuery, callback_data: ReportCb, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    draft = await _draft(state)
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
    await query.answer()
    if isinstance(query.message, Message):
        await _done_with(query.message, None)
        await _ask(query.message, state, draft, reporting, member)


@router.callback_query(Report.edit, ReportCb.filter(F.action == "back"))
async def edit_back(query: CallbackQuery, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _done_with(query.message, None)
        await _ask(query.message, state, await _draft(state), reporting, member)


@router.message(StateFilter(Report.preview, Report.edit), ~F.text.startswith("/"))
async def wrong_preview(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    if await state.get_state() == Report.edit.state:
        await message.answer(
            _with_lead(_("Please choose with a button."), _("What do you want to change?")), reply_markup=edit_kb()
        )
        return
    await _ask(
        message, state, await _draft(state), reporting, member, lead=_("Please tap ✅ Send, ✏️ Edit or ✖️ Cancel.")
    )


@router.callback_query(ReportCb.filter(F.action == "cancel"))
async def cancel(query: CallbackQuery, state: FSMContext) -> None:
    had = await state.get_state()
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await _done_with(query.message, None)
        remove = ReplyKeyboardRemove() if had == Report.place.state else None
        await query.message.answer(
            _("Cancelled. Nothing was sent.") if had else _("There is nothing to cancel."), reply_markup=remove
        )


@router.callback_query(ReportCb.filter())
async def stale_step(query: CallbackQuery) -> None:
    await query.answer(_("This step is over. Send /report to start again."), show_alert=True)


async def _done_with(message: Message, summary: str | None) -> None:
    """Close a question once answered: drop its buttons (so an old button cannot be pressed twice)
    and append what was chosen."""
    with contextlib.suppress(TelegramBadRequest):
        if summary and message.text is not None:
            await message.edit_text(f"{message.html_text}\n\n✓ {summary}", reply_markup=None)
        else:
            await message.edit_reply_markup(reply_markup=None)


# ---------------------------------------------------------------------------------- albums


@dataclass
class _Pending:
    message: Message
    bot: Bot
    dispatcher: Dispatcher
    key: StorageKey
    bumped: asyncio.Event = field(default_factory=asyncio.Event)
    flush: bool = False
    task: asyncio.Task[None] | None = None


class AlbumCollector:
    """Debounce per (chat, media_group_id): answer once, ALBUM_DELAY after the album's last item."""

    def __init__(self) -> None:
        self.pending: dict[tuple[int, str], _Pending] = {}

    def schedule(self, dispatcher: Dispatcher, bot: Bot, key: StorageKey, album: str, message: Message) -> None:
        k = (key.chat_id, album)
        pending = self.pending.get(k)
        if pending is not None:
            pending.message = message
            pending.bumped.set()
            return
        pending = _Pending(message, bot, dispatcher, key)
        self.pending[k] = pending
        pending.task = asyncio.create_task(self._wait_then_answer(k, pending), name=f"album-{album}")

    async def _wait_then_answer(self, k: tuple[int, str], pending: _Pending) -> None:
        try:
            while not pending.flush:
                pending.bumped.clear()
                try:
                    await asyncio.wait_for(pending.bumped.wait(), ALBUM_DELAY)
                except TimeoutError:
                    break
            await _album_complete(pending, k[1])
        except Exception:
            log.exception("album %s could not be answered", k[1])
        finally:
            self.pending.pop(k, None)

    async def settle(self) -> None:
        """Answer every album now (tests, shutdown): no waiting for the debounce."""
        while self.pending:
            for pending in list(self.pending.values()):
                pending.flush = True
                pending.bumped.set()
            await asyncio.gather(*(p.task for p in list(self.pending.values()) if p.task), return_exceptions=True)


albums = AlbumCollector()


async def settle_albums() -> None:
    await albums.settle()


async def _album_complete(pending: _Pending, album: str) -> None:
    """Ask the next question once for a whole album, in a session of its own (the updates that
    brought the photos are long committed), under the same per-user lock as an update."""
    from bot.services import build_services

    dp = pending.dispatcher
    mw = dp["db_middleware"]
    async with dp.fsm.events_isolation.lock(pending.key), mw.sessions() as session:
        token = current_session.set(session)
        try:
            services = build_services(session, mw.clock, mw.settings)
            state = FSMContext(storage=dp.fsm.storage, key=pending.key)
            data = await state.get_data()
            draft = Draft.from_dict(data)
            if draft.album != album or await state.get_state() not in (Report.photos.state, Report.category.state):
                return
            member = await services.members.by_telegram_id(pending.key.user_id)
            if member is None:
                return
            communities = await services.members.member_communities(member)
            locale = services.members.locale_for(
                member, communities[0] if communities else None, mw.settings.default_locale
            )
            draft.album = None
            lead = str(data.get("album_lead") or "")
            await state.update_data({"album_lead": None})
            with use_locale(locale):
                await _ask(
                    pending.message.as_(pending.bot),
                    state,
                    draft,
                    services.reporting,
                    member,
                    lead=_with_lead(_photos_lead(draft), lead).strip(),
                )
            await session.commit()
        finally:
            current_session.reset(token)


# ---------------------------------------------------------------------------------- viewing issues


async def show_issue(
    message: Message,
    issue: Issue,
    *,
    member: Member,
    actor: Actor,
    locale: str,
    reporting: ReportingService,
    cards: CardService,
    bot: Bot | None = None,
    chat_id: int | None = None,
) -> None:
    """A person's own view: the photos, then the detail with the timeline and their buttons."""
    may_see = reporting.may_see_reporter(actor, issue)
    private = chat_id is not None or message.chat.type == "private"
    detail = await cards.detail_text(issue, locale, may_see, private=private)
    photos = await reporting.photos(issue)
    kb = issue_view_kb(
        issue,
        is_reporter=issue.reporter_id == member.id,
        is_follower=await reporting.is_follower(member, issue),
        may_triage=can(actor, "triage", issue_place(issue)),
    )
    target_bot = bot or message.bot
    assert target_bot is not None
    chat = chat_id if chat_id is not None else message.chat.id
    if len(photos) == 1:
        await target_bot.send_photo(chat, photos[0], caption=issue.hashtag)
    elif photos:
        await target_bot.send_media_group(
            chat,
            [InputMediaPhoto(media=p, caption=issue.hashtag if i == 0 else None) for i, p in enumerate(photos[:10])],
        )
    await target_bot.send_message(chat, detail, reply_markup=kb)


@router.message(Command("issue"))
async def cmd_issue(
    message: Message,
    command: CommandObject,
    member: Member,
    actor: Actor,
    locale: str,
    reporting: ReportingService,
    cards: CardService,
) -> None:
    ref = (command.args or "").strip()
    if not ref:
        await message.answer(_("Send the reference after the command, for example: /issue NC0042"))
        return
    await _show_reference(message, ref, member, actor, locale, reporting, cards)


@router.message(StateFilter(None), F.text.regexp(r"^\s*#?[A-Za-z]{2,4}\d{4,7}\s*$"))
async def reference_text(
    message: Message, member: Member, actor: Actor, locale: str, reporting: ReportingService, cards: CardService
) -> None:
    await _show_reference(message, message.text or "", member, actor, locale, reporting, cards)


async def _show_reference(
    message: Message,
    ref: str,
    member: Member,
    actor: Actor,
    locale: str,
    reporting: ReportingService,
    cards: CardService,
) -> None:
    issue = await reporting.by_reference(ref) if parse_reference(ref) else None
    # An issue someone may not see answers exactly like a missing one: references are guessable.
    if issue is None or not await reporting.can_view(actor, member, issue):
        await message.answer(
            _(
                "I can't find an issue {ref} that you may see. Check the reference, e.g. /issue NC0042, or open /my."
            ).format(ref=esc(ref.strip()[:20]))
        )
        return
    await show_issue(message, issue, member=member, actor=actor, locale=locale, reporting=reporting, cards=cards)


@router.callback_query(IssueCb.filter(F.action.in_({"view", "details"})))
async def view_issue(
    query: CallbackQuery,
    callback_data: IssueCb,
    member: Member,
    actor: Actor,
    locale: str,
    reporting: ReportingService,
    cards: CardService,
    bot: Bot,
) -> None:
    issue = await reporting.viewable(actor, member, callback_data.id)
    message = query.message
    private = isinstance(message, Message) and message.chat.type == "private"
    if not private:
        # From a group card: the detail goes to the presser's private chat, never into the group, and
        # speaks the presser's language rather than the group's.
        own = reporting.members.locale_for(member, await reporting.community_of(issue))
        try:
            with use_locale(own):
                await show_issue(
                    message,
                    issue,
                    member=member,
                    actor=actor,
                    locale=own,  # type: ignore[arg-type]
                    reporting=reporting,
                    cards=cards,
                    bot=bot,
                    chat_id=query.from_user.id,
                )
        except (TelegramForbiddenError, TelegramBadRequest):
            me = await bot.me()
            await query.answer(
                _("Please open a private chat with me first: @{bot}").format(bot=me.username), show_alert=True
            )
            return
        await query.answer(_("I sent you the details in a private chat."))
        return
    await query.answer()
    assert isinstance(message, Message)
    await show_issue(message, issue, member=member, actor=actor, locale=locale, reporting=reporting, cards=cards)


@router.callback_query(IssueCb.filter(F.action == "follow"))
async def follow(
    query: CallbackQuery, callback_data: IssueCb, member: Member, actor: Actor, reporting: ReportingService
) -> None:
    issue, newly = await reporting.follow(member, actor, callback_data.id)
    text = _("You now follow {ref}. I'll tell you when it changes.") if newly else _("You already follow {ref}.")
    await query.answer(text.format(ref=issue.hashtag))
    if isinstance(query.message, Message) and query.message.chat.type == "private":
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(
                reply_markup=issue_view_kb(
                    issue,
                    is_reporter=issue.reporter_id == member.id,
                    is_follower=True,
                    may_triage=can(actor, "triage", issue_place(issue)),
                )
            )


@router.callback_query(IssueCb.filter(F.action == "withdraw"))
async def withdraw(query: CallbackQuery, callback_data: IssueCb, member: Member, reporting: ReportingService) -> None:
    issue = await reporting.get(callback_data.id)
    if issue.reporter_id != member.id:
        await query.answer(_("Only the person who reported it can withdraw it."), show_alert=True)
        return
    if not isinstance(query.message, Message):
        await query.answer()
        return
    if callback_data.arg != "yes":
        if not allows(IssueAction.WITHDRAW, issue):
            await query.answer(
                _("{ref} is already being handled, so it can't be withdrawn.").format(ref=issue.hashtag),
                show_alert=True,
            )
            return
        await query.answer()
        await query.message.answer(
            _("Withdraw {ref}? The captains will not handle it.").format(ref=issue.hashtag),
            reply_markup=withdraw_confirm_kb(issue.id),
        )
        return
    issue, changed = await reporting.withdraw(member, issue.id)
    await query.answer()
    if changed:
        text = _("↩️ {ref} is withdrawn. Thank you for letting us know.")
    elif issue.status == "withdrawn":
        text = _("{ref} was already withdrawn.")
    else:
        text = _("{ref} is already being handled, so it can't be withdrawn.")
    with contextlib.suppress(TelegramBadRequest):
        await query.message.edit_text(text.format(ref=issue.hashtag), reply_markup=None)


@router.callback_query(IssueCb.filter(F.action == "edit"))
async def edit_issue(
    query: CallbackQuery, callback_data: IssueCb, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    issue = await reporting.get(callback_data.id)
    if issue.reporter_id != member.id:
        await query.answer(_("Only the person who reported it can change it."), show_alert=True)
        return
    if issue.status != "new":
        await query.answer(
            _("{ref} is already being handled, so it can't be changed any more.").format(ref=issue.hashtag),
            show_alert=True,
        )
        return
    await state.set_state(IssueEdit.description)
    await state.update_data({"edit_issue": issue.id})
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(_edit_question(issue), reply_markup=_cancel_only())


def _edit_question(issue: Issue) -> str:
    return _("Send the new description for {ref} (up to 1000 characters).").format(ref=issue.hashtag)


def _cancel_only() -> object:
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=ReportCb(action="cancel").pack())]]
    )


@router.message(IssueEdit.description, F.text, ~F.text.startswith("/"))
async def edit_issue_text(
    message: Message,
    state: FSMContext,
    member: Member,
    actor: Actor,
    locale: str,
    reporting: ReportingService,
    cards: CardService,
) -> None:
    issue = await reporting.get(int((await state.get_data()).get("edit_issue") or 0))
    text = (message.text or "").strip()
    if len(text) > MAX_DESCRIPTION:
        await message.answer(_with_lead(_too_long(len(text)), _edit_question(issue)), reply_markup=_cancel_only())  # type: ignore[arg-type]
        return
    await state.clear()
    issue, changed = await reporting.edit_description(member, issue.id, text)
    if not changed and issue.status != "new":
        await message.answer(
            _("{ref} is already being handled, so it can't be changed any more.").format(ref=issue.hashtag)
        )
        return
    await message.answer(_("✅ The description of {ref} is updated.").format(ref=issue.hashtag))
    await show_issue(message, issue, member=member, actor=actor, locale=locale, reporting=reporting, cards=cards)


@router.message(IssueEdit.description, ~F.text.startswith("/"))
async def wrong_edit_issue(message: Message, state: FSMContext, reporting: ReportingService) -> None:
    issue = await reporting.get(int((await state.get_data()).get("edit_issue") or 0))
    await message.answer(
        _with_lead(_("Please send the description as text."), _edit_question(issue)), reply_markup=_cancel_only()
    )  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- /my


async def _my_page(member: Member, reporting: ReportingService, page: int) -> tuple[str, object]:
    result = await reporting.my_issues(member, page)
    if not result.total:
        return _("You have no reports yet. Send /report to report a problem."), None
    community_cache: dict[int, object] = {}
    rows, labels = [], []
    for issue in result.items:
        if issue.community_id not in community_cache:
            from models import Community

            community_cache[issue.community_id] = await reporting.session.get(Community, issue.community_id)
        community = community_cache[issue.community_id]
        cat = category(community, issue.category)  # type: ignore[arg-type]
        tz = getattr(community, "timezone", "UTC")
        rows.append(
            {
                "emoji": cat.emoji,
                "ref": issue.hashtag,
                "label": cat.label(),
                "status": status_label(issue.status),
                "date": fmt_date(issue.created_at, tz),
                "mine": issue.reporter_id == member.id,
            }
        )
        labels.append(f"{issue.hashtag} {cat.emoji} {status_label(issue.status)}")
    text = render("reporting_my.html.j2", rows=rows, page=result.page + 1, pages=result.pages)
    return text, my_kb(result.items, labels, result.page, result.pages)


@router.message(Command("my"))
async def cmd_my(message: Message, member: Member, reporting: ReportingService) -> None:
    text, kb = await _my_page(member, reporting, 0)
    await message.answer(text, reply_markup=kb)  # type: ignore[arg-type]


@router.callback_query(MenuCb.filter(F.action == "my"))
async def menu_my(query: CallbackQuery, member: Member, reporting: ReportingService) -> None:
    text, kb = await _my_page(member, reporting, 0)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=kb)  # type: ignore[arg-type]


@router.callback_query(MyCb.filter())
async def my_page(query: CallbackQuery, callback_data: MyCb, member: Member, reporting: ReportingService) -> None:
    text, kb = await _my_page(member, reporting, callback_data.page)
    await query.answer()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_text(text, reply_markup=kb)  # type: ignore[arg-type]


__all__ = ["FLOW", "IssueEdit", "Report", "albums", "begin_report", "router", "settle_albums", "show_issue"]
