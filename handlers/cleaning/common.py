"""What the cleaning conversations share: their states, replies, the draft in the FSM data, and saving a
change to a series (from the edit menu or from a /cleanday step reused for editing)."""

from __future__ import annotations

from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.i18n import _, ngettext
from bot.notices.cleaning import closed_text, series_text
from bot.notices.recurrence import join_list, offset_label
from bot.services.access import Actor
from bot.services.cleaning import CleaningService, DayClosed, DayView, Draft
from handlers.steps import reply
from models import Member


class NewDay(StatesGroup):
    place = State()
    freq = State()
    nth = State()
    weekday = State()
    month_day = State()
    date = State()
    time = State()
    duration = State()
    preview = State()
    point = State()
    tasks = State()
    photo = State()
    reminders = State()


class Record(StatesGroup):
    who = State()
    others = State()
    bags = State()
    summary = State()
    photos = State()
    confirm = State()


class EditSeries(StatesGroup):
    time = State()


ADD_STATES = {"point": NewDay.point, "tasks": NewDay.tasks, "photo": NewDay.photo, "rem": NewDay.reminders}


def _int(value: str, lo: int, hi: int) -> int | None:
    """A number from callback data (untrusted: a client can send anything), or None."""
    try:
        n = int(value)
    except ValueError:
        return None
    return n if lo <= n <= hi else None


async def _stale(query: CallbackQuery) -> None:
    await query.answer(_("This button is no longer active."), show_alert=False)


async def _not_manager(query: CallbackQuery) -> None:
    await query.answer(_("Only the building's captains (or the area head and office) can do this."),
                       show_alert=True)


_answer = reply  # a new message in the same chat (handlers/steps.py)


async def _managed(query: CallbackQuery, cleaning: CleaningService, actor: Actor, member: Member,
                   day_id: int) -> DayView | None:
    """The day for a captain's button, or None (and the press told) when the presser does not manage it."""
    view = await cleaning.day_view(actor, member, day_id)
    if not view.can_manage:
        await _not_manager(query)
        return None
    return view


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)
    await query.answer()


async def _draft(state: FSMContext) -> Draft:
    data = await state.get_data()
    if "draft" not in data:
        raise LookupError("draft")
    return Draft.from_dict(data["draft"])


def _add_question(what: str, current: list[str] | None = None) -> str:
    if what == "point":
        return _("Where do people meet? e.g. “Building 1 yard, by the bike shed”.")
    if what == "tasks":
        return _("What should people bring, and what will you clean? One or two lines.")
    if what == "photo":
        return _("Send a photo to go with the reminders (a poster, the meeting point).")
    now = join_list([offset_label(o) for o in current or []]) or "—"
    return _("When should I remind residents? Now: {now}.\nSend the reminders separated by commas: "
             "<code>3d</code> = 3 days before at the start time, <code>1d 19:00</code> = the evening before, "
             "<code>0d 08:00</code> = the morning of the day, <code>2h</code> = 2 hours before.").format(now=now)


async def _save_edit(event: Message | CallbackQuery, state: FSMContext, actor: Actor, cleaning: CleaningService,
                     series_id: int, field: str, value: Any) -> None:
    try:
        series, told = await cleaning.edit(actor, series_id, field, value)
    except DayClosed as exc:
        await state.clear()
        await _answer(event, closed_text(exc.reason))
        return
    await state.clear()
    text = await series_text(cleaning, series) + "\n\n" + _("✅ Saved.")
    if told:
        text += " " + ngettext("I told %(num)d person who had answered.", "I told %(num)d people who had answered.",
                               told)
    await _answer(event, text)
