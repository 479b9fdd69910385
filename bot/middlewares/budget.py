"""Every update has a time budget (UPDATE_TIME_BUDGET, 30 s by default), in polling and webhook mode.

A handler that runs over it is cancelled: the poller confirms a batch only after handling all of it,
and the webhook answers Telegram only after the update, so one stuck handler would hold everyone else
back (and make Telegram send the update again and again). The handler's uncommitted work is rolled
back, the update is marked processed (a redelivery does not run it a second time), the person gets a
polite "that took too long, please try again", and the log names the handler. Work that may honestly
take long (exports, digests on demand) runs as a background job (bot/services/background.py) instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.types import TelegramObject, Update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import _

log = logging.getLogger(__name__)

# The handler chosen for the current update, written by HandlerName (an inner middleware, which sees it)
# for TimeBudget (an outer one, which does not).
_current_handler: ContextVar[list[str] | None] = ContextVar("current_handler", default=None)


def handler_name(handler: HandlerObject | None) -> str:
    callback = getattr(handler, "callback", None)
    if callback is None:
        return "?"
    return f"{getattr(callback, '__module__', '?')}.{getattr(callback, '__qualname__', repr(callback))}"


class HandlerName(BaseMiddleware):
    """Inner middleware on every event type: remembers which handler runs, for the budget's log line."""

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        holder = _current_handler.get()
        if holder is not None:
            holder.append(handler_name(data.get("handler")))
        return await handler(event, data)


class TimeBudget(BaseMiddleware):
    """Outer middleware inside the update's session (after DbMiddleware and MemberMiddleware, so the
    session, the bot and the person's language are known when the budget runs out)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        if not self.seconds or self.seconds <= 0:
            return await handler(event, data)
        holder: list[str] = []
        token = _current_handler.set(holder)
        try:
            async with asyncio.timeout(self.seconds):
                return await handler(event, data)
        except TimeoutError:
            name = holder[-1] if holder else "?"
            update_id = event.update_id if isinstance(event, Update) else None
            log.warning("update %s: handler %s took longer than %.1fs and was cancelled", update_id, name,
                        self.seconds)
            await self._give_up(event, data)
            return None
        finally:
            _current_handler.reset(token)

    async def _give_up(self, event: TelegramObject, data: dict[str, Any]) -> None:
        session: AsyncSession | None = data.get("session")
        if session is not None:
            # Drop what the handler left half done, but keep the update marked processed: run again on a
            # redelivery it would most likely run over the budget again.
            from bot.middlewares.db import mark_processed

            try:
                await session.rollback()
                if isinstance(event, Update):
                    await mark_processed(session, event.update_id, data["clock"]())
                await session.commit()
            except Exception:
                log.exception("could not mark a timed-out update as processed")
        bot: Bot | None = data.get("bot")
        if bot is None or not isinstance(event, Update):
            return
        text = _("Sorry, that took too long and I had to stop. Please try again.")
        try:
            if event.callback_query is not None:
                await bot.answer_callback_query(event.callback_query.id, text=text[:200], show_alert=True)
            elif event.message is not None:
                await bot.send_message(event.message.chat.id, text)
        except Exception:  # the callback query may be too old by now, the chat gone: nothing more to do
            log.debug("could not tell the person that the update timed out", exc_info=True)
