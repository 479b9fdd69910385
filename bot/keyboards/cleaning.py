"""Cleaning days: callback data (short prefixes, well under 64 bytes) and keyboard builders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _
from bot.keyboards.common import add_cancel, wizard_step
from bot.keyboards.places import buildings_first, picker_kb
from bot.notices.recurrence import date_label, nth_label, weekday_short
from bot.services.cleaning import DayView, PlaceOption
from bot.services.recurrence import fmt_hhmm
from models import Member


class RsvpCb(CallbackData, prefix="cr"):
    day: int
    yes: bool


class DayCb(CallbackData, prefix="cd"):
    """action: view | skip | skip_yes | cancel | cancel_yes | edit | record | report | list | new"""

    action: str
    day: int = 0


class NewCb(CallbackData, prefix="cn"):
    """One step of the /cleanday conversation: step names what is chosen, v its value."""

    step: str  # place | next | freq | nth | wd | mday | date | time | dur | add | create
    v: str = ""


class EditCb(CallbackData, prefix="ce"):
    series: int
    field: str  # time | dur | point | tasks | photo | rem


class RecCb(CallbackData, prefix="rc"):
    action: str  # who | next | others | bags | skip | done | post
    v: int = 0



def places_kb(options: Sequence[PlaceOption], chosen: Sequence[int]) -> InlineKeyboardMarkup:
    """Buildings toggle (several may be chosen); an area or the community is chosen in one tap."""
    return picker_kb(buildings_first(options, chosen), lambda v: NewCb(step="place", v=v),
                     NewCb(step="next") if chosen else None)


def freq_kb() -> InlineKeyboardMarkup:
    return wizard_step([
        (_("Every week"), NewCb(step="freq", v="w1")),
        (_("Every 2 weeks"), NewCb(step="freq", v="w2")),
        (_("Monthly: e.g. 2nd Saturday"), NewCb(step="freq", v="mn")),
        (_("Monthly: on a date"), NewCb(step="freq", v="md")),
        (_("Just once"), NewCb(step="freq", v="once")),
    ], 2, 2, 1, 1)


def nth_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for n in (1, 2, 3, 4, -1):
        kb.button(text=nth_label(n), callback_data=NewCb(step="nth", v=str(n)))
    add_cancel(kb)
    kb.adjust(5, 1)
    return kb.as_markup()


def weekday_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for wd in range(7):
        kb.button(text=weekday_short(wd), callback_data=NewCb(step="wd", v=str(wd)))
    add_cancel(kb)
    kb.adjust(7, 1)
    return kb.as_markup()


def month_day_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for d in range(1, 32):
        kb.button(text=str(d), callback_data=NewCb(step="mday", v=str(d)))
    add_cancel(kb)
    kb.adjust(7, 7, 7, 7, 3, 1)
    return kb.as_markup()


def dates_kb(today: date, days: int = 14) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for i in range(days):
        d = today + timedelta(days=i)
        kb.button(text=date_label(d), callback_data=NewCb(step="date", v=d.isoformat()))
    add_cancel(kb)
    kb.adjust(3)
    return kb.as_markup()


def choose_date_kb(choices: Sequence[date]) -> InlineKeyboardMarkup:
    """The readings of a typed day that reads two ways, to tap one."""
    return wizard_step([(date_label(d), NewCb(step="date", v=d.isoformat())) for d in choices], 2)


def time_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for minutes in (8 * 60, 9 * 60, 10 * 60, 15 * 60, 16 * 60, 19 * 60):
        kb.button(text=fmt_hhmm(minutes), callback_data=NewCb(step="time", v=str(minutes)))
    add_cancel(kb)
    kb.adjust(3, 3, 1)
    return kb.as_markup()


def duration_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for minutes, label in ((60, _("1 h")), (90, _("1½ h")), (120, _("2 h")), (180, _("3 h"))):
        kb.button(text=label, callback_data=NewCb(step="dur", v=str(minutes)))
    add_cancel(kb)
    kb.adjust(4, 1)
    return kb.as_markup()


def preview_kb(has_point: bool, has_tasks: bool, has_photo: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=(_("📍 Change meeting point") if has_point else _("📍 Meeting point")),
              callback_data=NewCb(step="add", v="point"))
    kb.button(text=(_("🧤 Change what to bring") if has_tasks else _("🧤 What to bring")),
              callback_data=NewCb(step="add", v="tasks"))
    kb.button(text=(_("📷 Change photo") if has_photo else _("📷 Photo")), callback_data=NewCb(step="add", v="photo"))
    kb.button(text=_("⏰ Reminders"), callback_data=NewCb(step="add", v="rem"))
    kb.button(text=_("✅ Create"), callback_data=NewCb(step="create"))
    add_cancel(kb)
    kb.adjust(2, 2, 1, 1)
    return kb.as_markup()


def skip_kb(step: str = "skip") -> InlineKeyboardMarkup:
    return wizard_step([(_("⏭ Skip"), NewCb(step=step))], 2)


def manager_list_kb(days: Sequence[DayView], unrecorded: Sequence[DayView]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for v in unrecorded[:5]:
        kb.button(text=_("📝 Record {date}").format(date=date_label(v.day.local_date)),
                  callback_data=DayCb(action="record", day=v.day.id))
    for v in days[:12]:
        mark = "⏭ " if v.day.status == "skipped" else "📋 "
        kb.button(text=f"{mark}{date_label(v.day.local_date)} · {v.place_name}"[:60],
                  callback_data=DayCb(action="view", day=v.day.id))
    kb.button(text=_("➕ New cleaning day"), callback_data=DayCb(action="new"))
    kb.adjust(1)
    return kb.as_markup()


def resident_list_kb(days: Sequence[DayView]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for v in days[:5]:
        label = date_label(v.day.local_date)
        yes = ("✅ " if v.my_answer is True else "🙋 ") + label
        no = ("✅ " if v.my_answer is False else "🙅 ") + label
        kb.button(text=yes, callback_data=RsvpCb(day=v.day.id, yes=True))
        kb.button(text=no, callback_data=RsvpCb(day=v.day.id, yes=False))
    kb.adjust(2)
    return kb.as_markup()


def rsvp_markup(day_id: int, answer: bool | None) -> InlineKeyboardMarkup:
    """The reminder's buttons in a private chat, with the person's answer ticked."""
    kb = InlineKeyboardBuilder()
    kb.button(text=("✅ " if answer is True else "🙋 ") + _("I'll join"), callback_data=RsvpCb(day=day_id, yes=True))
    kb.button(text=("✅ " if answer is False else "") + _("Not this time"), callback_data=RsvpCb(day=day_id, yes=False))
    kb.adjust(2)
    return kb.as_markup()


def day_kb(view: DayView, started: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    d = view.day.id
    if view.can_manage:
        if started:
            kb.button(text=_("📝 Record attendance"), callback_data=DayCb(action="record", day=d))
        elif view.day.status == "scheduled":
            kb.button(text=_("⏭ Skip this day"), callback_data=DayCb(action="skip", day=d))
        if view.series.status == "active":
            kb.button(text=_("✏️ Edit series"), callback_data=DayCb(action="edit", day=d))
            kb.button(text=_("🗑 Cancel series"), callback_data=DayCb(action="cancel", day=d))
    if started:
        kb.button(text=_("📷 Report a problem found"), callback_data=DayCb(action="report", day=d))
    kb.button(text=_("⬅️ Back"), callback_data=DayCb(action="list"))
    kb.adjust(1)
    return kb.as_markup()


def confirm_kb(action: str, day_id: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("Yes"), callback_data=DayCb(action=f"{action}_yes", day=day_id))
    kb.button(text=_("No, keep it"), callback_data=DayCb(action="view", day=day_id))
    kb.adjust(2)
    return kb.as_markup()


def edit_kb(series_id: int, day_id: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for field, label in (("time", _("🕘 Time")), ("dur", _("⏱ Duration")), ("point", _("📍 Meeting point")),
                         ("tasks", _("🧤 What to bring")), ("photo", _("📷 Photo")), ("rem", _("⏰ Reminders"))):
        kb.button(text=label, callback_data=EditCb(series=series_id, field=field))
    kb.button(text=_("⬅️ Back"), callback_data=DayCb(action="view", day=day_id))
    kb.adjust(2, 2, 2, 1)
    return kb.as_markup()


def attendance_kb(people: Sequence[Member], ticked: Sequence[int]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for m in people[:40]:
        mark = "✅" if m.id in ticked else "▫️"
        kb.button(text=f"{mark} {m.display_name}"[:60], callback_data=RecCb(action="who", v=m.id))
    kb.button(text=_("➡️ Next"), callback_data=RecCb(action="next"))
    add_cancel(kb)
    kb.adjust(2)
    return kb.as_markup()


def numbers_kb(action: str, values: Sequence[int], skip: bool = False) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for n in values:
        kb.button(text=str(n), callback_data=RecCb(action=action, v=n))
    if skip:
        kb.button(text=_("⏭ Skip"), callback_data=RecCb(action="skip"))
    add_cancel(kb)
    kb.adjust(len(values), 2)
    return kb.as_markup()


def rec_skip_kb() -> InlineKeyboardMarkup:
    return wizard_step([(_("⏭ Skip"), RecCb(action="skip"))], 2)


def photos_kb(n: int) -> InlineKeyboardMarkup:
    return wizard_step([(_("✅ Done") if n else _("No photos"), RecCb(action="done"))], 2)


def post_kb(has_chat: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("📣 Post to the residents' chat") if has_chat else _("💾 Save"),
              callback_data=RecCb(action="post"))
    add_cancel(kb)
    kb.adjust(1)
    return kb.as_markup()


def cancel_only_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    add_cancel(kb)
    return kb.as_markup()
