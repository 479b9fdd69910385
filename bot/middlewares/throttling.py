"""Per-user throttling: someone sending dozens of messages a second is slowed down, others are not."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User

from bot.i18n import _


class ThrottlingMiddleware(BaseMiddleware):
    """Token bucket per user: `rate` events a second with a burst of `burst`. Excess events get one
    polite notice per cooldown and are otherwise dropped, so a flood costs the bot almost nothing."""

    def __init__(self, rate: float = 3.0, burst: int = 10) -> None:
        self.rate = rate
        self.burst = burst
        self.buckets: dict[int, tuple[float, float, float]] = {}  # user -> (tokens, stamp, warned_at)

    def allow(self, user_id: int, now: float | None = None) -> tuple[bool, bool]:
        """Returns (allowed, warn)."""
        now = time.monotonic() if now is None else now
        tokens, stamp, warned = self.buckets.get(user_id, (float(self.burst), now, 0.0))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        if tokens >= 1:
            self.buckets[user_id] = (tokens - 1, now, warned)
            if len(self.buckets) > 50_000:
                self._prune(now)
            return True, False
        warn = now - warned > 10
        self.buckets[user_id] = (tokens, now, now if warn else warned)
        return False, warn

    def _prune(self, now: float) -> None:
        for uid, (_t, stamp, _w) in list(self.buckets.items()):
            if now - stamp > 60:
                del self.buckets[uid]

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        allowed, warn = self.allow(user.id)
        if allowed:
            return await handler(event, data)
        if warn and isinstance(event, Update):
            inner = event.message or event.callback_query
            if isinstance(inner, Message) and inner.chat.type == "private":
                await inner.answer(_("You are sending messages very fast. Please wait a moment."))
            elif isinstance(inner, CallbackQuery):
                await inner.answer(_("Please wait a moment."))
        return None
