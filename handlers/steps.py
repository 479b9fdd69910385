"""Steps the conversations share: replying to a command or a press, and the place picker's steps used by
/announce, /cleanday and /campaign (the buttons are bot/keyboards/places.py): a toggled place shows the new
choice in place; Next needs one building."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.i18n import _


async def reply(event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Reply to a command or a button press with a new message in the same chat."""
    message = event if isinstance(event, Message) else event.message
    if isinstance(message, Message):
        await message.answer(text, reply_markup=markup)
    if isinstance(event, CallbackQuery):
        await event.answer()


async def show_choice(query: CallbackQuery, markup: InlineKeyboardMarkup) -> None:
    """A place was toggled: the same message shows the new ticks."""
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=markup)
    await query.answer()


async def need_a_building(query: CallbackQuery, chosen: Sequence[int]) -> bool:
    """Next with no building ticked: say so (and stay). True when something is chosen."""
    if not chosen:
        await query.answer(_("Tap at least one building."), show_alert=True)
        return False
    return True
