"""What the patrol handlers share: the conversation states, the middleware that words a rule's refusal,
and small helpers to show a screen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.notices.patrols import day_label, error_text
from bot.services.patrols import PatrolError, PatrolService, ShiftView


class RouteForm(StatesGroup):
    place = State()
    name = State()
    description = State()
    checkpoints = State()


class TemplateForm(StatesGroup):
    days = State()
    start = State()
    end = State()
    people = State()


class OneOffForm(StatesGroup):
    day = State()
    start = State()
    end = State()
    people = State()


class EditForm(StatesGroup):
    name = State()
    description = State()
    checkpoints = State()


class DutyForm(StatesGroup):
    check_in = State()
    check_out = State()


class PatrolRefusals(BaseMiddleware):
    """A rule that says no (full, too late, already taken ...) becomes a friendly answer. Done here
    rather than with an error handler because handlers/errors.py catches everything first; the
    session is rolled back so nothing half-done is committed."""

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        except PatrolError as exc:
            session = data.get("session")
            if session is not None:
                await session.rollback()
            text = error_text(exc.reason)
            if isinstance(event, CallbackQuery):
                await event.answer(text[:200], show_alert=True)
            elif isinstance(event, Message):
                await event.answer(text)
            return None



def _msg(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


async def _show(event: Message | CallbackQuery, text: str, markup: Any = None, *, edit: bool = True) -> None:
    """Edit the pressed message in place when possible, otherwise answer with a new one."""
    if isinstance(event, CallbackQuery):
        message = _msg(event)
        if message is not None and edit and message.text is not None:
            await message.edit_text(text, reply_markup=markup)
        elif message is not None:
            await message.answer(text, reply_markup=markup)
        return
    await event.answer(text, reply_markup=markup)


async def _labels(patrols: PatrolService, views: list[ShiftView]) -> dict[int, str]:
    out = {}
    for v in views:
        today = await patrols.today(v.shift.community_id)
        out[v.id] = f"{day_label(v.local_start.date(), today)} {v.local_start.strftime('%H:%M')}"
    return out
