"""A city deployment at 08:00 (issue 17): several instances share the digests job without doubling a digest.
On PostgreSQL every instance runs it (each community under an advisory lock, committed on its own); on
SQLite only the holder of the tick lease does."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import jobs as jobs_module
from bot.capabilities import load_all
from bot.clock import FrozenClock
from bot.jobs import JobContext, Ticker
from bot.services.digests import DigestService
from models import Base, DigestRun, OutboxItem
from tests.benchmarks import bench_city

N = 3


@pytest.fixture
async def city(engine: AsyncEngine) -> FrozenClock:
    async with engine.begin() as conn:
        for table, rows in bench_city.city(N, 0.2):
            if rows:
                await conn.execute(insert(Base.metadata.tables[table]), rows)
        await bench_city.seed_runs(conn, N)
    return FrozenClock(bench_city.T0 + timedelta(minutes=1))


async def digests(sessions: async_sessionmaker[AsyncSession]) -> Counter[int]:
    """Outbox rows of today's daily digests per chat (text parts and chart)."""
    async with sessions() as s:
        rows = (await s.execute(select(OutboxItem.chat_id).where(OutboxItem.kind == "digest_daily"))).scalars()
        return Counter(rows)


async def test_two_instances_running_the_digests_at_once_decide_each_community_once(
        city: FrozenClock, sessions: async_sessionmaker[AsyncSession]) -> None:
    async def one() -> int:
        async with sessions() as s:
            decided = await DigestService(s, city).run_due(commit_each=True)
            await s.commit()
            return decided

    first, second = await asyncio.gather(one(), one())
    assert first + second == N  # today's daily digest of each community, decided by one instance only
    per_chat = await digests(sessions)
    # Every office chat and every staff member got one digest: the same number of parts each, and a
    # second run (the next tick) adds nothing.
    assert len(per_chat) == 2 * N and len(set(per_chat.values())) == 1
    assert await one() == 0 and await digests(sessions) == per_chat
    async with sessions() as s:
        runs = (await s.execute(select(func.count()).select_from(DigestRun).where(
            DigestRun.period == bench_city.DAY.isoformat(), DigestRun.recipient != "*"))).scalar_one()
    assert runs == 2 * N


async def test_the_digests_job_is_shared_by_instances_on_postgresql_only(
        city: FrozenClock, sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    load_all()
    ran: list[tuple[str, str]] = []
    real = jobs_module.JOBS["digests"]

    def spy(name: str, fn: Any) -> Any:
        async def run(session: AsyncSession, ctx: JobContext) -> None:
            ran.append((name, ctx.settings.name))
            if fn is not None:
                await fn(session, ctx)
        return run

    monkeypatch.setattr(jobs_module, "JOBS", {"prune": spy("prune", None), "digests": spy("digests", real)})

    def ticker(instance: str) -> Ticker:
        settings = SimpleNamespace(tick_seconds=30, name=instance)
        return Ticker(JobContext(sessions, city, settings, None), instance=instance)  # type: ignore[arg-type]

    await asyncio.gather(ticker("a").tick(), ticker("b").tick())
    postgres = engine.dialect.name == "postgresql"
    # The lease holder runs every job; the other instance only the shared digests job, and only on PostgreSQL.
    assert sorted(n for n, _i in ran) == (["digests", "digests", "prune"] if postgres else ["digests", "prune"])
    per_chat = await digests(sessions)
    assert len(per_chat) == 2 * N and len(set(per_chat.values())) == 1
