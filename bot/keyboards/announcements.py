"""Announcements: callback data and keyboards of the /announce conversation."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _
from bot.keyboards.common import CancelCb
from bot.services.announcements import AudienceOption


class AnnCb(CallbackData, prefix="an"):
    """step: aud (audience toggled/chosen) | next | urg | when | send"""

    step: str
    v: str = ""


def _cancel(kb: InlineKeyboardBuilder) -> None:
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())


def audience_kb(options: Sequence[AudienceOption], chosen: Sequence[int]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for o in options:
        if o.kind == "building":
            mark = "✅ " if o.id in chosen else ""
            kb.button(text=f"{mark}{o.name}"[:60], callback_data=AnnCb(step="aud", v=f"b{o.id}"))
    for o in options:
        if o.kind == "area":
            kb.button(text=_("🏘 All of {area}").format(area=o.name)[:60], callback_data=AnnCb(step="aud", v=f"a{o.id}"))
        elif o.kind == "area_captains":
            kb.button(text=_("🏠 Captains of {area}").format(area=o.name)[:60],
                      callback_data=AnnCb(step="aud", v=f"h{o.id}"))
        elif o.kind == "community":
            kb.button(text=_("🏙 The whole community"), callback_data=AnnCb(step="aud", v=f"c{o.id}"))
        elif o.kind == "volunteers":
            kb.button(text=_("🦺 All volunteers"), callback_data=AnnCb(step="aud", v=f"v{o.id}"))
        elif o.kind == "captains":
            kb.button(text=_("🏠 All building captains"), callback_data=AnnCb(step="aud", v=f"k{o.id}"))
    if chosen:
        kb.button(text=_("➡️ Next"), callback_data=AnnCb(step="next"))
    _cancel(kb)
    kb.adjust(2)
    return kb.as_markup()


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
