"""Announcements: callback data and keyboards of the /announce conversation."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup

from bot.i18n import _
from bot.keyboards.common import cancel_kb as cancel_kb  # the steps' lone ✖️ Cancel
from bot.keyboards.common import wizard_step
from bot.keyboards.places import buildings_first, picker_kb
from bot.services.announcements import AudienceOption


class AnnCb(CallbackData, prefix="an"):
    """step: aud (audience toggled/chosen) | next | urg | when | send"""

    step: str
    v: str = ""



def audience_kb(options: Sequence[AudienceOption], chosen: Sequence[int]) -> InlineKeyboardMarkup:
    return picker_kb(buildings_first(options, chosen), lambda v: AnnCb(step="aud", v=v),
                     AnnCb(step="next") if chosen else None)


def urgency_kb() -> InlineKeyboardMarkup:
    return wizard_step([(_("📢 Normal"), AnnCb(step="urg", v="0")), (_("🚨 Urgent"), AnnCb(step="urg", v="1"))], 2, 1)


def when_kb() -> InlineKeyboardMarkup:
    return wizard_step([
        (_("▶️ Send now"), AnnCb(step="when", v="now")),
        (_("In 1 hour"), AnnCb(step="when", v="1h")),
        (_("Tomorrow 09:00"), AnnCb(step="when", v="tm9")),
    ], 1, 2, 1)


def confirm_kb() -> InlineKeyboardMarkup:
    return wizard_step([(_("✅ Send"), AnnCb(step="send"))], 2)
