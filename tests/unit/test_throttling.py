"""The per-person throttle: in one process its buckets live in memory; with REDIS_URL every worker
shares them through Redis (tested only when TEST_REDIS_URL is set), and a Redis hiccup falls back to
the worker's own bucket."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiogram.types import User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.middlewares.throttling import ThrottlingMiddleware

REDIS_URL = os.environ.get("TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL is not set")
BOT = SimpleNamespace(id=42)

# These tests measure the bucket on real time (tiny rates), not on the test-speed clock of conftest.
pytestmark = pytest.mark.real_throttle_time


async def _press(mw: ThrottlingMiddleware, user_id: int, handled: list[int]) -> None:
    async def handler(_event: Any, _data: dict[str, Any]) -> None:
        handled.append(user_id)

    user = User(id=user_id, is_bot=False, first_name="X")
    await mw(handler, object(), {"event_from_user": user, "bot": BOT})  # type: ignore[arg-type]


async def test_in_process_buckets_without_redis() -> None:
    """One process: a burst passes, the rest is dropped, another person is not affected; and two
    processes without Redis each keep their own buckets (why workers need REDIS_URL)."""
    a, b = ThrottlingMiddleware(rate=0.001, burst=3), ThrottlingMiddleware(rate=0.001, burst=3)
    assert a.redis is None
    handled: list[int] = []
    for _ in range(5):
        await _press(a, 1, handled)
    await _press(a, 2, handled)
    assert handled == [1, 1, 1, 2]
    for _ in range(5):
        await _press(b, 1, handled)
    assert handled.count(1) == 6  # the second process let three more through


async def test_redis_hiccup_falls_back_to_the_workers_own_bucket() -> None:
    class BrokenRedis:
        def register_script(self, _lua: str) -> Any:
            async def run(**_kw: Any) -> Any:
                raise ConnectionError("redis away")

            return run

    mw = ThrottlingMiddleware(rate=0.001, burst=2, redis=BrokenRedis())
    handled: list[int] = []
    for _ in range(4):
        await _press(mw, 7, handled)
    assert handled == [7, 7]


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[Any, str]]:
    from redis.asyncio import Redis

    assert REDIS_URL
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(REDIS_URL)
    yield client, prefix
    async for name in client.scan_iter(f"{prefix}:*"):  # leave the shared Redis as it was
        await client.delete(name)
    await client.aclose()


@needs_redis
async def test_workers_share_one_bucket_through_redis(redis_prefix: tuple[Any, str]) -> None:
    from redis.asyncio import Redis

    client, prefix = redis_prefix
    assert REDIS_URL
    other = Redis.from_url(REDIS_URL)  # a second worker: its own connection, the same Redis
    try:
        w1 = ThrottlingMiddleware(rate=1.0, burst=4, redis=client, prefix=prefix)
        w2 = ThrottlingMiddleware(rate=1.0, burst=4, redis=other, prefix=prefix)
        now = 1_000_000.0
        results = [await (w1 if i % 2 else w2).allow_shared(BOT.id, 9, now=now) for i in range(6)]
        assert [ok for ok, _warn in results] == [True] * 4 + [False] * 2  # 4 in all, not 4 each
        assert [warn for _ok, warn in results] == [False] * 4 + [True, False]  # one notice per 10 s
        assert await w1.allow_shared(BOT.id, 10, now=now) == (True, False)  # someone else is not slowed
        assert await w2.allow_shared(BOT.id, 9, now=now + 1.0) == (True, False)  # a second refills one
        assert await w1.allow_shared(BOT.id, 9, now=now + 1.0) == (False, False)
        assert not w1.buckets and not w2.buckets  # nothing decided in memory
        ttl = await client.ttl(f"{prefix}:throttle:{BOT.id}:9")
        assert 0 < ttl <= 64  # an idle person's bucket expires
        # Through the middleware: the handler runs for the shared bucket's tokens only.
        handled: list[int] = []
        for mw in (w1, w2, w1, w2, w1, w2):
            await _press(mw, 11, handled)
        assert handled == [11] * 4
    finally:
        await other.aclose()


@needs_redis
async def test_the_bot_shares_its_throttle_when_redis_url_is_set(
        sessions: async_sessionmaker[AsyncSession], redis_prefix: tuple[Any, str]) -> None:
    from bot.app import create_storage, create_throttle

    _client, prefix = redis_prefix
    settings = Settings(bot_token="1:a", redis_url=REDIS_URL, redis_prefix=prefix,
                        _env_file=None)  # type: ignore[call-arg]
    storage, _isolation = create_storage(settings, sessions)
    try:
        mw = create_throttle(settings, storage)
        assert mw.redis is not None and mw.redis is storage.redis  # type: ignore[attr-defined]
        assert await mw.allow_shared(BOT.id, 12) == (True, False)
        assert await storage.redis.exists(f"{prefix}:throttle:{BOT.id}:12")  # type: ignore[attr-defined]
    finally:
        await storage.close()


async def test_the_bot_keeps_its_throttle_in_process_without_redis(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    from bot.app import create_storage, create_throttle

    settings = Settings(bot_token="1:a", _env_file=None)  # type: ignore[call-arg]
    storage, _isolation = create_storage(settings, sessions)
    mw = create_throttle(settings, storage)
    assert mw.redis is None
    handled: list[int] = []
    for _ in range(12):
        await _press(mw, 13, handled)
    assert handled == [13] * 10  # the default burst, decided in memory
    await storage.close()
