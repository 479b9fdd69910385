"""One database session per update, with the services built on it; commits when the handler
succeeds, rolls back when it fails, and skips updates already processed (Telegram or a webhook
retry may deliver one twice)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.db import current_session
from bot.fsm_storage import SqlStorage, storage_key
from bot.services import build_services, update_context
from bot.services.update_context import UpdateContext
from models import ProcessedUpdate

log = logging.getLogger(__name__)


class DbMiddleware(BaseMiddleware):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock,
                 on_commit: Callable[[], None] | None = None) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.on_commit = on_commit

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.sessions() as session:
            if isinstance(event, Update) and not await self._first_time(session, event.update_id):
                log.info("update %s already processed; skipped", event.update_id)
                return None
            context = await self._context(session, data) if isinstance(event, Update) else None
            data["update_context"] = context
            if isinstance(event, Update) and data.get("event_chat") is not None and (
                    context is None or context.chat_unreachable) and (
                    event.message or event.callback_query or (event.my_chat_member and event.my_chat_member
                                                              .new_chat_member.status in ("member", "administrator"))):
                from bot.services.outbox import chat_alive

                await chat_alive(session, data["event_chat"].id)  # it talks to us again: deliveries resume
            data["session"] = session
            data["clock"] = self.clock
            data["settings"] = self.settings
            data.update(build_services(session, self.clock, self.settings).as_data())
            token = current_session.set(session)
            try:
                result = await handler(event, data)
            except BaseException:
                await session.rollback()
                raise
            finally:
                current_session.reset(token)
            await session.commit()
            if self.on_commit is not None:
                self.on_commit()
            return result

    async def _first_time(self, session: AsyncSession, update_id: int) -> bool:
        return await mark_processed(session, update_id, self.clock())

    @staticmethod
    async def _context(session: AsyncSession, data: dict[str, Any]) -> UpdateContext | None:
        """The person's member row, roles, conversation state and the chat's marks in one statement
        (bot/services/update_context.py); None when no person sent it (a bot, a channel post)."""
        user = data.get("event_from_user")
        if user is None or user.is_bot:
            return None
        chat = data.get("event_chat")
        state = data.get("state")
        # Only our own storage keeps the state in this database; with Redis it is read the usual way.
        fsm_key = storage_key(state.key) if state is not None and isinstance(data.get("fsm_storage"), SqlStorage) \
            else None
        return await update_context.load(session, telegram_id=user.id, chat_id=chat.id if chat else None,
                                         fsm_key=fsm_key)


# Built once per dialect: the statement runs for every update, and building it cost more than running it.
_MARK: dict[str, Any] = {
    name: dialect.insert(ProcessedUpdate).values(update_id=bindparam("update_id"), at=bindparam("at"))
    .on_conflict_do_nothing(index_elements=["update_id"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}


async def mark_processed(session: AsyncSession, update_id: int, now: Any) -> bool:
    """Record the update as processed; False when it already was."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    # Through the session's connection (same transaction): Session.execute with a parameter dict would take
    # the ORM's bulk-insert path, whose result has no rowcount to tell a duplicate apart.
    connection = await session.connection()
    result = await connection.execute(_MARK["postgresql" if dialect == "postgresql" else "sqlite"],
                                      {"update_id": update_id, "at": now})
    return result.rowcount > 0
