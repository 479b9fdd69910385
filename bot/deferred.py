"""Work for one person that finishes after the update that started it. Telegram sends each photo of an
album as its own update; the debounce (handlers/reporting/albums.py) answers once, when the updates
that brought the photos are long committed. That answer runs here as an update would: under the same
per-person lock, in a session of its own with the services built on it, replies committing first
(bot.db.current_session), and committed at the end.

The session factory, clock and settings come from the dispatcher's `db_middleware` (workflow data),
so a test that points the dispatcher at another database points this at it too. The work itself is a
callback from the handler: it gets the services and the person's conversation state, never a session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiogram import Dispatcher
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey

from bot.config import Settings
from bot.db import current_session
from bot.middlewares.db import DbMiddleware
from bot.services import Services, build_services


@dataclass(frozen=True)
class Deferred:
    """What deferred work for one person gets: the services, their conversation state, the settings."""

    services: Services
    state: FSMContext
    settings: Settings


async def run_deferred(dispatcher: Dispatcher, key: StorageKey, work: Callable[[Deferred], Awaitable[None]]) -> None:
    """Run `work` for the person and chat of `key` like an update: locked, in one transaction."""
    middleware: DbMiddleware = dispatcher["db_middleware"]
    async with dispatcher.fsm.events_isolation.lock(key), middleware.sessions() as session:
        token = current_session.set(session)
        try:
            services = build_services(session, middleware.clock, middleware.settings)
            await work(Deferred(services, FSMContext(storage=dispatcher.fsm.storage, key=key), middleware.settings))
            await session.commit()
        finally:
            current_session.reset(token)
