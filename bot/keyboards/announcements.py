"""Announcements: callback data and keyboards of the /announce conversation."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _
from bot.keyboards.common import CancelCb
from bot.keyboards.places import buildings_first, picker_kb
from bot.services.announcements import AudienceOption


class AnnCb(CallbackData, prefix="an"):
    """step: aud (audience toggled/chosen) | next | urg | when | send"""

    step: str
    v: str = ""


def _cancel(kb: InlineKeyboardBuilder) -> None:
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())


def audience_kb(options: Sequence[AudienceOption], chosen: Sequence[int]) -> InlineKeyboardMarkup:
    return picker_kb(buildings_first(options, chosen), lambda v: AnnCb(step="aud", v=v),
                     AnnCb(step="next") if chosen else None)


def urgency_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("📢 Normal"), callback_data=AnnCb(step="urg", v="0"))
    kb.button(text=_("🚨 Urgent"), callback_data=AnnCb(step="urg", v="1"))
    _cancel(kb)
    kb.adjust(2, 1)
    return kb.as_markup()


def when_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("▶️ Send now"), callback_data=AnnCb(step="when", v="now"))
    kb.button(text=_("In 1 hour"), callback_data=AnnCb(step="when", v="1h"))
    kb.button(text=_("Tomorrow 09:00"), callback_data=AnnCb(step="when", v="tm9"))
    _cancel(kb)
    kb.adjust(1, 2, 1)
    return kb.as_markup()


def confirm_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("✅ Send"), callback_data=AnnCb(step="send"))
    _cancel(kb)
    kb.adjust(2)
    return kb.as_markup()


def cancel_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    _cancel(kb)
    return kb.as_markup()
