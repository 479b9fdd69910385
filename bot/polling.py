"""Long polling that confirms updates to Telegram only after they were handled.

aiogram's own polling hands each update to a background task and asks for the next batch at once, and
asking for the next batch (getUpdates with a higher offset) is what tells Telegram the previous one is
done: a crash then lost every update still being handled. Here a batch is handled in full (its updates
concurrently, each chat's in order under the chat lock) before the next request confirms it. After a
crash Telegram delivers the unconfirmed batch again; updates that were already committed are skipped
by the processed-update record (bot/middlewares/db.py), the others are handled as if for the first time.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError
from aiogram.types import Update

log = logging.getLogger(__name__)

POLL_TIMEOUT = 25  # seconds Telegram holds a getUpdates open when there is nothing new
BATCH = 100


class Poller:
    def __init__(self, bot: Bot, dp: Dispatcher) -> None:
        self.bot = bot
        self.dp = dp
        self.offset: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        allowed = self.dp.resolve_used_update_types()
        backoff = 1.0
        while not stop.is_set():
            fetch = asyncio.ensure_future(self.bot.get_updates(
                offset=self.offset, limit=BATCH, timeout=POLL_TIMEOUT, allowed_updates=allowed,
                request_timeout=POLL_TIMEOUT + 15))
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not fetch.done():
                # Stopping while Telegram holds the request open: whatever it would return is not
                # confirmed, so it comes again after the restart.
                fetch.cancel()
                with suppress(BaseException):
                    await fetch
                return
            try:
                updates = fetch.result()
            except TelegramUnauthorizedError:
                raise  # a revoked token: nothing to retry
            except (TelegramNetworkError, TelegramAPIError) as exc:
                log.warning("getUpdates failed (%s); retrying in %.0fs", exc, backoff)
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            if updates:
                await self.handle(updates)
                self.offset = updates[-1].update_id + 1

    async def handle(self, updates: list[Update]) -> None:
        results = await asyncio.gather(*(self.dp.feed_update(self.bot, update) for update in updates),
                                       return_exceptions=True)
        for update, result in zip(updates, results, strict=True):
            if isinstance(result, BaseException):
                # The errors router answers the person; this is only what escaped it.
                log.error("update %s failed", update.update_id, exc_info=result)
