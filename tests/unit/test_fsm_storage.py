"""A half-finished conversation survives a restart: FSM state and data written by one process are read
back by a fresh storage on the same database (or Redis, when TEST_REDIS_URL is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_storage
from bot.config import Settings
from bot.db import create_engine, current_session, session_factory
from bot.fsm_storage import SqlStorage
from models import FsmRecord

REDIS_URL = os.environ.get("TEST_REDIS_URL")
KINDS = ["sql"] + (["redis"] if REDIS_URL else [])


class Report(StatesGroup):
    photos = State()
    category = State()


# A storage "process": make() opens one on the shared backend, close() ends it like a shutdown does.
Factory = Callable[[], Awaitable[BaseStorage]]


def url_of(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(params=KINDS)
async def open_storage(request: pytest.FixtureRequest, engine: AsyncEngine) -> AsyncIterator[Factory]:
    opened: list[tuple[BaseStorage, AsyncEngine | None]] = []
    prefix = f"test-{uuid.uuid4().hex[:8]}"

    async def make() -> BaseStorage:
        if request.param == "redis":
            # Exactly the storage the bot builds when REDIS_URL is set.
            assert REDIS_URL
            settings = Settings(bot_token="1:a", redis_url=REDIS_URL, redis_prefix=prefix,
                                _env_file=None)  # type: ignore[call-arg]
            storage, _isolation = create_storage(settings, session_factory(engine))
            opened.append((storage, None))
            return storage
        # A separate engine on the same database: nothing shared in memory with the first "process".
        own = create_engine(url_of(engine))
        storage = SqlStorage(session_factory(own))
        opened.append((storage, own))
        return storage

    yield make
    for storage, own in opened:
        redis = getattr(storage, "redis", None)
        if redis is not None:  # leave the shared Redis as it was
            async for name in redis.scan_iter(f"{prefix}:*"):
                await redis.delete(name)
        await storage.close()
        if own is not None:
            await own.dispose()


def key(user: int, chat: int | None = None, **kw: Any) -> StorageKey:
    return StorageKey(bot_id=123456, chat_id=chat if chat is not None else user, user_id=user, **kw)


async def test_state_and_data_survive_a_restart(open_storage: Factory) -> None:
    first = await open_storage()
    ctx = FSMContext(first, key(5001))
    await ctx.set_state(Report.category)
    await ctx.update_data(photos=["AgAD1", "AgAD2"], note="楼道堆物 <b>", draft={"n": 1})
    await first.close()

    second = await open_storage()  # a new process on the same database
    again = FSMContext(second, key(5001))
    assert await again.get_state() == Report.category.state
    assert await again.get_data() == {"photos": ["AgAD1", "AgAD2"], "note": "楼道堆物 <b>", "draft": {"n": 1}}
    await again.clear()

    third = await open_storage()
    assert await third.get_state(key(5001)) is None
    assert await third.get_data(key(5001)) == {}


async def test_keys_are_separate(open_storage: Factory) -> None:
    storage = await open_storage()
    await storage.set_state(key(5002), Report.photos)
    await storage.set_state(key(5002, chat=-100777), Report.category)  # same person, a group
    await storage.set_state(key(5002, chat=-100777, thread_id=9), "x:topic")
    await storage.set_data(key(5003), {"other": True})
    await storage.set_state(key(5002, destiny="album"), "x:album")
    fresh = await open_storage()
    assert await fresh.get_state(key(5002)) == Report.photos.state
    assert await fresh.get_state(key(5002, chat=-100777)) == Report.category.state
    assert await fresh.get_state(key(5002, chat=-100777, thread_id=9)) == "x:topic"
    assert await fresh.get_state(key(5002, destiny="album")) == "x:album"
    assert await fresh.get_data(key(5002)) == {}
    assert await fresh.get_data(key(5003)) == {"other": True}


async def test_data_without_state_and_clearing(open_storage: Factory) -> None:
    storage = await open_storage()
    await storage.set_data(key(5004), {"lang": "zh_Hans"})
    assert await storage.get_state(key(5004)) is None
    await storage.set_state(key(5004), Report.photos)
    await storage.set_state(key(5004), None)
    assert await (await open_storage()).get_data(key(5004)) == {"lang": "zh_Hans"}


async def test_sql_rows_are_removed_when_empty(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    storage = SqlStorage(sessions)
    await storage.set_state(key(5005), Report.photos)
    await storage.set_data(key(5005), {"a": 1})
    await storage.set_state(key(5005), None)
    await storage.set_data(key(5005), {})
    async with sessions() as s:
        assert (await s.execute(select(FsmRecord))).first() is None


async def test_state_joins_the_update_transaction(engine: AsyncEngine) -> None:
    """Inside a handler the state change is part of the update's transaction: if the handler fails and
    the update rolls back, the conversation does not move on without its data."""
    sessions = session_factory(engine)
    storage = SqlStorage(sessions)
    await storage.set_state(key(5006), Report.photos)
    async with sessions() as update_session:
        token = current_session.set(update_session)
        try:
            await storage.set_state(key(5006), Report.category)
            assert await storage.get_state(key(5006)) == Report.category.state  # visible inside
        finally:
            current_session.reset(token)
        await update_session.rollback()
    assert await SqlStorage(sessions).get_state(key(5006)) == Report.photos.state


async def test_clear_then_set_in_one_update_keeps_the_new_state(engine: AsyncEngine) -> None:
    """A handler that ends one conversation and starts the next in the same update (state.clear() then
    set_state) must leave the new state behind: the cleared row is deleted before the new one is read."""
    sessions = session_factory(engine)
    storage = SqlStorage(sessions)
    await storage.set_state(key(5007), Report.photos)
    await storage.set_data(key(5007), {"draft": 1})
    async with sessions() as update_session:
        token = current_session.set(update_session)
        try:
            context = FSMContext(storage=storage, key=key(5007))
            await context.clear()
            await context.set_state(Report.category)
            await context.update_data(step=2)
        finally:
            current_session.reset(token)
        await update_session.commit()
    fresh = SqlStorage(sessions)
    assert await fresh.get_state(key(5007)) == Report.category.state
    assert await fresh.get_data(key(5007)) == {"step": 2}
