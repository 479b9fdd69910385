"""The report conversation's questions: its states, the draft kept in the FSM data, and `ask`, which
asks for the first thing the draft still lacks. The step handlers (flow.py), the album debounce
(albums.py) and the start (begin.py) all go through here."""

from __future__ import annotations

import contextlib
from datetime import datetime

from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove

from bot.i18n import _, current_locale, ngettext
from bot.keyboards.reporting import (
    buildings_kb,
    categories_kb,
    description_kb,
    duplicate_kb,
    location_reply_kb,
    photos_kb,
    preview_kb,
)
from bot.notices.cards import status_label
from bot.rendering import esc, render
from bot.services.reporting import MAX_DESCRIPTION, MAX_PHOTOS, Draft, ReportingService, categories, category
from models import Community, Issue, Member


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


async def load_draft(state: FSMContext) -> Draft:
    return Draft.from_dict(await state.get_data())


async def save_draft(state: FSMContext, draft: Draft) -> None:
    await state.update_data(draft.to_dict())


def no_community_text() -> str:
    return _("To report a problem, first join your building: send /start.")


def with_lead(lead: str, question: str) -> str:
    return f"{lead}\n\n{question}" if lead else question


async def ask(
    msg: Message, state: FSMContext, draft: Draft, reporting: ReportingService, member: Member, *, lead: str = ""
) -> None:
    """Ask for the first thing the draft is missing (or show the duplicate check / the preview)."""
    community = await reporting.community_for(member, draft)
    if community is None:
        await state.clear()
        await msg.answer(no_community_text())
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
            await save_draft(state, draft)
            await msg.answer(
                with_lead(
                    lead, _duplicate_text(dups[0].issue, dups[0].building_name, dups[0].is_open, community, reporting)
                ),
                reply_markup=duplicate_kb(dups[0].issue.id, dups[0].is_open),
            )
            return
    await state.set_state(getattr(Report, step))
    await save_draft(state, draft)
    if step == "photos":
        await msg.answer(with_lead(lead, photos_question()), reply_markup=photos_kb())
    elif step == "category":
        await msg.answer(
            with_lead(lead, _("What kind of problem is it?")), reply_markup=categories_kb(categories(community))
        )
    elif step == "place":
        own, others = await reporting.place_choices(member, community.id)
        await msg.answer(
            with_lead(lead, _("📍 Where is it? Tap «📍 Send my location» below, or send a location pin.")),
            reply_markup=location_reply_kb(),
        )
        await msg.answer(_("…or choose the building:"), reply_markup=buildings_kb(own, others, show_others=False))
    elif step == "description":
        await msg.answer(
            with_lead(lead, _("📝 Anything to add? Where exactly, since when (up to 1000 characters) — or tap Skip.")),
            reply_markup=description_kb(),
        )
    else:
        await msg.answer(
            with_lead(lead, await _preview_text(draft, reporting, community)), reply_markup=preview_kb(draft.token)
        )


def photos_question() -> str:
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
    issue: Issue, building: str | None, is_open: bool, community: Community, reporting: ReportingService
) -> str:
    cat = category(community, issue.category)
    place = esc(building) if building else ""
    now = reporting.clock()
    if is_open:
        return _("Someone reported something similar {ago}: {ref} {label}{place}, {status}. Is it the same?").format(
            ago=_days_ago(issue.created_at, now),
            ref=issue.hashtag,
            label=esc(cat.label(current_locale())),
            place=f", {place}" if place else "",
            status=status_label(issue.status),
        )
    return _("Something similar was fixed {ago}: {ref} {label}{place}. Has it come back?").format(
        ago=_days_ago(issue.closed_at or issue.resolved_at, now),
        ref=issue.hashtag,
        label=esc(cat.label(current_locale())),
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


async def _preview_text(draft: Draft, reporting: ReportingService, community: Community) -> str:
    cat = category(community, draft.category or "other")
    return render(
        "reporting_preview.html.j2",
        emoji=cat.emoji,
        label=cat.label(current_locale()),
        urgent=cat.urgent,
        place=await _place_text(draft, reporting),
        description=draft.description or "",
        photos=len(draft.photos),
    )


def photos_lead(draft: Draft, dropped: int = 0) -> str:
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


def take_photo(draft: Draft, message: Message) -> tuple[int, str]:
    """Add the message's photo to the draft (its caption becomes the description). Returns how many
    photos were over the limit and a lead line for the next question."""
    file_id = message.photo[-1].file_id if message.photo else None
    dropped = draft.add_photos([file_id] if file_id else [])
    draft.photos_done = True
    return dropped, _caption_into(draft, message.caption)


def too_long(n: int) -> str:
    return _("That is {n} characters — please shorten it to 1000 or fewer.").format(n=n)


async def done_with(message: Message, summary: str | None) -> None:
    """Close a question once answered: drop its buttons (so an old button cannot be pressed twice)
    and append what was chosen."""
    with contextlib.suppress(TelegramBadRequest):
        if summary and message.text is not None:
            await message.edit_text(f"{message.html_text}\n\n✓ {summary}", reply_markup=None)
        else:
            await message.edit_reply_markup(reply_markup=None)


async def next_question(
    query: CallbackQuery,
    state: FSMContext,
    draft: Draft,
    reporting: ReportingService,
    member: Member,
    summary: str | None,
    *,
    note: str | None = None,
) -> None:
    """A button answered the current question: acknowledge the press, close the question (`summary`
    appended) and ask for what the draft still lacks. `note` goes first, with the reply keyboard
    removed (the location keyboard has done its job)."""
    await query.answer()
    if isinstance(query.message, Message):
        await done_with(query.message, summary)
        if note is not None:
            await query.message.answer(note, reply_markup=ReplyKeyboardRemove())
        await ask(query.message, state, draft, reporting, member)
