"""Per-user throttling: someone sending dozens of messages a second is slowed down, others are not.

One token bucket per person. With REDIS_URL the bucket lives in Redis (one atomic script per update),
so several workers share it: a person whose updates are spread over four workers still gets `rate`
a second in all, not four times that. Without Redis (one process) it lives in this process's memory.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User

from bot.i18n import _

log = logging.getLogger(__name__)

WARN_EVERY = 10.0  # seconds between two "please wait" notices to one person

# KEYS[1] the person's bucket; ARGV rate, burst, now (seconds), warn_every, ttl. Returns {allowed, warn}.
# The same arithmetic as ThrottlingMiddleware.allow. A `now` behind the stored stamp (another worker's
# clock a little ahead) refills nothing rather than going negative.
_BUCKET_LUA = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local warn_every, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 't', 's', 'w')
local tokens = tonumber(v[1]) or burst
local stamp = tonumber(v[2]) or now
local warned = tonumber(v[3]) or 0
if now > stamp then
  tokens = math.min(burst, tokens + (now - stamp) * rate)
  stamp = now
end
local allowed, warn = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
elseif now - warned > warn_every then
  warn = 1
  warned = now
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 's', tostring(stamp), 'w', tostring(warned))
redis.call('EXPIRE', KEYS[1], ttl)
return {allowed, warn}
"""


class ThrottlingMiddleware(BaseMiddleware):
    """Token bucket per user: `rate` events a second with a burst of `burst`. Excess events get one
    polite notice per cooldown and are otherwise dropped, so a flood costs the bot almost nothing.

    `redis` (the FSM storage's client when REDIS_URL is set) shares the buckets between workers; if
    Redis fails for a moment, this worker's own bucket decides meanwhile (never a dropped update for
    an infrastructure hiccup, never an unthrottled flood)."""

    def __init__(self, rate: float = 3.0, burst: int = 10, redis: Any = None, prefix: str = "fsm") -> None:
        self.rate = rate
        self.burst = burst
        self.buckets: dict[int, tuple[float, float, float]] = {}  # user -> (tokens, stamp, warned_at)
        self.redis = redis
        self.prefix = f"{prefix}:throttle"
        self._script = redis.register_script(_BUCKET_LUA) if redis is not None else None

    def allow(self, user_id: int, now: float | None = None) -> tuple[bool, bool]:
        """This process's bucket. Returns (allowed, warn)."""
        now = time.monotonic() if now is None else now
        tokens, stamp, warned = self.buckets.get(user_id, (float(self.burst), now, 0.0))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        if tokens >= 1:
            self.buckets[user_id] = (tokens - 1, now, warned)
            if len(self.buckets) > 50_000:
                self._prune(now)
            return True, False
        warn = now - warned > WARN_EVERY
        self.buckets[user_id] = (tokens, now, now if warn else warned)
        return False, warn

    async def allow_shared(self, bot_id: int, user_id: int, now: float | None = None) -> tuple[bool, bool]:
        """The bucket in Redis, shared by every worker of this bot. Returns (allowed, warn).

        Wall-clock time, not monotonic: the workers' clocks must agree with each other."""
        assert self._script is not None
        now = time.time() if now is None else now
        # Kept a little longer than a full refill takes; an idle person's bucket then simply vanishes.
        ttl = math.ceil(self.burst / self.rate) + 60 if self.rate > 0 else 3600
        try:
            allowed, warn = await self._script(keys=[f"{self.prefix}:{bot_id}:{user_id}"],
                                               args=[self.rate, self.burst, now, WARN_EVERY, ttl])
        except Exception:  # Redis away for a moment: this worker's own bucket decides meanwhile
            log.warning("shared throttle unavailable; using this worker's own", exc_info=True)
            return self.allow(user_id)
        return bool(allowed), bool(warn)

    def _prune(self, now: float) -> None:
        for uid, (_t, stamp, _w) in list(self.buckets.items()):
            if now - stamp > 60:
                del self.buckets[uid]

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        bot = data.get("bot")
        if self._script is not None and bot is not None:
            allowed, warn = await self.allow_shared(bot.id, user.id)
        else:
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
