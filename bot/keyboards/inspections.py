"""/inspect's buttons: the callback data of every inspection screen, and the location request."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import KeyboardButton, ReplyKeyboardMarkup

from bot.i18n import _


class InspCb(CallbackData, prefix="in"):
    """a: b building (i) · c checklist n for building i · p pass / f fail / x next / fin finish / q cancel
    (inspection i, item n) · sp spot checks of community i · dr draw n · as spot i: who · ai give spot i to
    member n · cl checklists of community i · ce edit the n-th · ca add an item · cc category n · cr remove
    item n · cn new checklist · cd delete · ex export."""

    a: str
    i: int
    n: int = 0


def location_kb() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text=_("📍 Send my location"), request_location=True)]],
                               resize_keyboard=True, one_time_keyboard=True)
