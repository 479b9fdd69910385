"""Keyboards shared by several capabilities: the main menu and cancel."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _
from bot.services.access import Level


class MenuCb(CallbackData, prefix="menu"):
    action: str  # report | my | board | settings | patrols | cleaning | help | queue


class CancelCb(CallbackData, prefix="cancel"):
    pass


def main_menu(level: Level = Level.RESIDENT) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("📷 Report a problem"), callback_data=MenuCb(action="report"))
    kb.button(text=_("📋 My reports"), callback_data=MenuCb(action="my"))
    kb.button(text=_("📌 Building board"), callback_data=MenuCb(action="board"))
    if level >= Level.VOLUNTEER:
        kb.button(text=_("🚶 Patrols"), callback_data=MenuCb(action="patrols"))
    if level >= Level.CAPTAIN:
        kb.button(text=_("📥 Queue"), callback_data=MenuCb(action="queue"))
    kb.button(text=_("🧹 Cleaning days"), callback_data=MenuCb(action="cleaning"))
    kb.button(text=_("⚙️ Settings"), callback_data=MenuCb(action="settings"))
    kb.adjust(2)
    return kb.as_markup()


def cancel_kb() -> InlineKeyboardMarkup:
    return wizard_step([])


def add_cancel(kb: InlineKeyboardBuilder) -> None:
    """The ✖️ Cancel button every conversation step ends with."""
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())


def wizard_step(buttons: Sequence[tuple[str, CallbackData]], *adjust: int) -> InlineKeyboardMarkup:
    """A wizard step's buttons, then ✖️ Cancel, laid out row by row as `adjust` says (InlineKeyboardBuilder's
    sizes; the last size repeats) — the one shape of every step of /campaign, /consult and /announce."""
    kb = InlineKeyboardBuilder()
    for text, data in buttons:
        kb.button(text=text, callback_data=data)
    add_cancel(kb)
    if adjust:
        kb.adjust(*adjust)
    return kb.as_markup()


async def edit_or_keep(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Edit the message a button sits on. A second press that would show the same thing makes
    Telegram answer "message is not modified": nothing to do then."""
    if not isinstance(query.message, Message):
        return
    try:
        await query.message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "not modified" not in str(exc):
            raise
