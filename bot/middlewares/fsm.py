"""aiogram's FSM middleware split in two around the database session.

aiogram loads a chat's state in the same middleware that takes the chat's lock, before any of ours run,
so on our own storage every update paid for a separate transaction just to read its state. The lock
stays outermost (a chat's updates are handled one at a time, across workers with Redis, and never
while holding the database); the state is read inside the update's own transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import TelegramObject


class ChatOrderMiddleware(BaseMiddleware):
    """Holds the chat's lock for the whole update and puts its FSM context in place (state not read yet)."""

    def __init__(self, fsm: FSMContextMiddleware) -> None:
        self.fsm = fsm  # the dispatcher's own: tests and restarts swap its storage

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        data["fsm_storage"] = self.fsm.storage
        context = self.fsm.resolve_event_context(data["bot"], data)
        if context is None:
            return await handler(event, data)
        async with self.fsm.events_isolation.lock(key=context.key):
            data["state"] = context
            return await handler(event, data)


class StateMiddleware(BaseMiddleware):
    """Reads the state for state filters, inside the update's transaction."""

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        context = data.get("state")
        preloaded = data.get("update_context")
        if preloaded is not None and preloaded.fsm_loaded:
            data["raw_state"] = preloaded.fsm_state  # read with the member (DbMiddleware), same transaction
        elif context is not None:
            data["raw_state"] = await context.get_state()
        return await handler(event, data)
