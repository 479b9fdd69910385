"""Structured logs: every record made while an update is handled carries its update id, user and chat.

`LOG_JSON=true` writes one JSON object per line (time, level, logger, message, update_id, user_id,
chat_id, and the traceback as `exc`) for a log collector; otherwise lines are plain text with
`[u=<update> user=<id> chat=<id>]` when there is an update. The ids come from a context variable set
by `UpdateContextMiddleware`, the outermost update middleware, so handlers, services, the database
layer and aiogram itself all log with them without passing anything around.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from aiogram import BaseMiddleware
from aiogram.types import Chat, TelegramObject, Update, User


@dataclass(frozen=True)
class UpdateContext:
    update_id: int | None = None
    user_id: int | None = None
    chat_id: int | None = None


update_context: ContextVar[UpdateContext | None] = ContextVar("update_context", default=None)


class UpdateContextMiddleware(BaseMiddleware):
    """Outer update middleware: remember which update is being handled, for the log records."""

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        token = update_context.set(UpdateContext(
            update_id=event.update_id if isinstance(event, Update) else None,
            user_id=user.id if user is not None else None,
            chat_id=chat.id if chat is not None else None))
        try:
            return await handler(event, data)
        finally:
            update_context.reset(token)


class ContextFilter(logging.Filter):
    """Adds update_id, user_id and chat_id (None outside an update) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = update_context.get()
        record.update_id = ctx.update_id if ctx else None
        record.user_id = ctx.user_id if ctx else None
        record.chat_id = ctx.chat_id if ctx else None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "update_id": getattr(record, "update_id", None),
            "user_id": getattr(record, "user_id", None),
            "chat_id": getattr(record, "chat_id", None),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        update_id = getattr(record, "update_id", None)
        if update_id is None:
            return line
        head, _sep, rest = line.partition("\n")
        where = f" [u={update_id} user={getattr(record, 'user_id', None)} chat={getattr(record, 'chat_id', None)}]"
        return head + where + (f"\n{rest}" if rest else "")


def setup_logging(level: str = "INFO", *, json_lines: bool = False, stream: TextIO | None = None) -> None:
    """Configure the root logger once (idempotent: a second call replaces our handler)."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_bot_handler", False):
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._bot_handler = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Alembic logs its plugin set-up at INFO on every start; bot.migrate says what matters.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # aiohttp's access log would be one line per webhook POST; the update's own records suffice.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
